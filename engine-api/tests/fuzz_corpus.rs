//! The fuzz targets' checks (`fuzz/checks/`) on the stable toolchain: every committed corpus
//! input (`fuzz/corpus/<target>/`), whole, cut short and with single bytes flipped, goes through
//! the same code the cargo-fuzz targets run. `scripts/fuzz` falls back to this when there is no
//! nightly toolchain or cargo-fuzz; with them it fuzzes for real.

use std::path::{Path, PathBuf};

#[path = "../fuzz/checks/chunked_body.rs"]
mod chunked_body;
#[path = "../fuzz/checks/demux.rs"]
mod demux;
#[path = "../fuzz/checks/json_lines.rs"]
mod json_lines;
#[path = "../fuzz/checks/lines.rs"]
mod lines;

/// The corpus of `target`, sorted by name.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

/// The input itself, then up to 64 prefixes and up to 64 copies with one byte inverted.
fn variants(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("whole".to_string(), data.to_vec())];
    let step = (data.len() / 64).max(1);
    for cut in (0..data.len()).step_by(step) {
        out.push((format!("first {cut} bytes"), data[..cut].to_vec()));
    }
    for at in (0..data.len()).step_by(step) {
        let mut flipped = data.to_vec();
        flipped[at] ^= 0xff;
        out.push((format!("byte {at} inverted"), flipped));
    }
    out
}

/// Runs `check` on every variant of every corpus input of `target`; a failure names the file
/// and the variant.
fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in corpus(target) {
        for (what, input) in variants(&data) {
            if let Err(panic) = std::panic::catch_unwind(|| check(&input)) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                panic!("{target}: {} ({what}): {message}", path.display());
            }
        }
    }
}

#[test]
fn demux_corpus() {
    replay("demux", demux::run);
}

#[test]
fn json_lines_corpus() {
    replay("json_lines", json_lines::run);
}

#[test]
fn lines_corpus() {
    replay("lines", lines::run);
}

#[test]
fn chunked_body_corpus() {
    replay("chunked_body", chunked_body::run);
}
