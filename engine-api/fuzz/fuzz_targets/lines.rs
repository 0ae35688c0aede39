//! cargo-fuzz target for the line framer; the checks are in `../checks/lines.rs`.
#![no_main]

#[path = "../checks/lines.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
