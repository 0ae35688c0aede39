//! The keep-alive helper of a DAG-level container started with `startup: keepalive`.
//!
//! The container must stay up without relying on anything in the image: an image holding one
//! static binary must work, so neither `sh` nor `sleep` may be assumed. tug therefore carries a
//! tiny static ELF program per architecture that waits forever (`pause` on x86-64, `ppoll` with
//! no descriptors on arm64) and copies it into the container through the archive API before
//! starting it — never by bind-mounting a host path, which would break when tug itself runs in
//! a container with only the engine socket mounted.
//!
//! The container runs with `Init: true`, so an init process is PID 1 and forwards the stop
//! signal; the helper has no handler and ends at once.
//!
//! For architectures without a helper, the fallback is the shell loop Dagu uses.

/// Where the helper is copied in the container.
pub const HELPER_DIR: &str = "/.tug";
/// The helper's path in the container.
pub const HELPER_PATH: &str = "/.tug/keepalive";

/// The fallback command for images of other architectures (needs a shell in the image).
pub fn shell_fallback() -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        "while true; do sleep 86400; done".into(),
    ]
}

/// The helper program for an image architecture as the engine names it (`amd64`, `arm64`,
/// also `x86_64`/`aarch64`), or `None` when tug carries none.
pub fn helper_for(arch: &str) -> Option<Vec<u8>> {
    match arch {
        "amd64" | "x86_64" | "x86-64" => Some(elf(0x3e, &X86_64_CODE)),
        "arm64" | "aarch64" | "arm64/v8" => Some(elf(0xb7, &aarch64_code())),
        _ => None,
    }
}

/// x86-64: `loop: mov eax, 34 (pause); syscall; jmp loop`.
const X86_64_CODE: [u8; 9] = [0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7];

/// arm64: `loop: x0..x3 = 0; x8 = 73 (ppoll); svc #0; b loop`.
fn aarch64_code() -> Vec<u8> {
    let words: [u32; 7] = [
        0xd280_0000, // mov x0, #0
        0xd280_0001, // mov x1, #0
        0xd280_0002, // mov x2, #0
        0xd280_0003, // mov x3, #0
        0xd280_0928, // mov x8, #73
        0xd400_0001, // svc #0
        0x17ff_fffa, // b loop (-6 instructions)
    ];
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A minimal static ELF64 executable: one header, one read+execute `PT_LOAD` segment mapping
/// the whole file at 0x400000, entry right after the headers.
fn elf(machine: u16, code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const EHSIZE: u64 = 64;
    const PHSIZE: u64 = 56;
    let entry = BASE + EHSIZE + PHSIZE;
    let total = EHSIZE + PHSIZE + code.len() as u64;
    let mut f = Vec::with_capacity(total as usize);
    // e_ident: magic, 64-bit, little-endian, version 1, System V ABI.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
    f.extend_from_slice(&machine.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&entry.to_le_bytes());
    f.extend_from_slice(&EHSIZE.to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&(EHSIZE as u16).to_le_bytes());
    f.extend_from_slice(&(PHSIZE as u16).to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
                                              // Program header: PT_LOAD, R+X, whole file at BASE.
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&5u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    f.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    f.extend_from_slice(&total.to_le_bytes()); // p_filesz
    f.extend_from_slice(&total.to_le_bytes()); // p_memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    f.extend_from_slice(code);
    f
}

/// A tar archive holding the helper at `.tug/keepalive` (mode 0755), for
/// `PUT /containers/{id}/archive?path=/`.
pub fn helper_tar(program: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048 + program.len());
    tar_header(&mut out, ".tug/", 0, 0o755, b'5');
    tar_header(&mut out, ".tug/keepalive", program.len(), 0o755, b'0');
    out.extend_from_slice(program);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn tar_header(out: &mut Vec<u8>, name: &str, size: usize, mode: u32, kind: u8) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut octal = |range: std::ops::Range<usize>, value: u64| {
        let width = range.len() - 1;
        let s = format!("{value:0width$o}\0");
        h[range].copy_from_slice(s.as_bytes());
    };
    octal(100..108, u64::from(mode));
    octal(108..116, 0);
    octal(116..124, 0);
    octal(124..136, size as u64);
    octal(136..148, 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_exist_for_the_common_architectures() {
        for arch in ["amd64", "x86_64", "arm64", "aarch64"] {
            let elf = helper_for(arch).unwrap();
            assert_eq!(&elf[..4], b"\x7fELF");
            assert!(elf.len() < 200, "{arch}: {} bytes", elf.len());
        }
        assert!(helper_for("s390x").is_none());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_amd64_helper_runs_and_waits_here() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalive");
        std::fs::write(&path, helper_for("amd64").unwrap()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&path).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "it must keep running");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }

    #[test]
    fn tar_is_block_aligned() {
        let tar = helper_tar(&helper_for("amd64").unwrap());
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(&tar[257..262], b"ustar");
    }
}
