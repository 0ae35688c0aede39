//! A stable-toolchain stand-in for the fuzzer (`executor/fuzz`): every fixture and corpus file,
//! cut at every length and with bytes flipped, must load or fail with diagnostics — never panic,
//! and every diagnostic must render. Every corpus file (fuzzer-found ones have no `.yaml`) also
//! goes through the fuzz target's own check, `fuzz/checks/parse_validate.rs`; `scripts/fuzz`
//! runs that replay when there is no nightly toolchain or cargo-fuzz.

use std::path::Path;

use executor::workflow::{load_str, EnvFn, LoadOptions};

#[path = "../fuzz/checks/parse_validate.rs"]
mod parse_validate;

fn inputs() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "tests/fixtures/seeds",
        "tests/fixtures/invalid",
        "fuzz/corpus/parse_validate",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            out.push(std::fs::read_to_string(f).unwrap());
        }
    }
    out
}

fn load(text: &str) {
    let host = EnvFn(|n: &str| (n == "HOME").then(|| "/home/t".to_string()));
    let options = LoadOptions {
        host: &host,
        params: Vec::new(),
        base_dir: Some("/t".into()),
    };
    match load_str(text, "t.yaml", &options) {
        Ok(l) => {
            let _ = l.warnings.render();
            let _ = l.workflow.plan().to_string();
        }
        Err(d) => {
            assert!(d.has_errors(), "rejected without an error:\n{}", d.render());
            let _ = d.render();
        }
    }
}

#[test]
fn truncated_inputs_never_panic() {
    for text in inputs() {
        // Every char boundary, stepping so the test stays quick in debug builds.
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let step = (bounds.len() / 60).max(1);
        for &b in bounds.iter().step_by(step) {
            load(&text[..b]);
        }
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let specials = [
        b':', b'-', b'[', b'{', b'&', b'*', b'\n', b' ', b'$', b'"', b'\'', b'|', b'#',
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for text in inputs() {
        for _ in 0..40 {
            let mut bytes = text.clone().into_bytes();
            for _ in 0..3 {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                bytes[at] = specials[(next() as usize) % specials.len()];
            }
            if let Ok(s) = String::from_utf8(bytes) {
                load(&s);
            }
        }
    }
}

#[test]
fn corpus_replays_through_the_fuzz_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_validate");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if std::panic::catch_unwind(|| parse_validate::run(&data)).is_err() {
            panic!("{}: the fuzz check failed (message above)", f.display());
        }
    }
}
