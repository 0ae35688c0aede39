//! cargo-fuzz target for the JSON-lines decoder; the checks are in `../checks/json_lines.rs`.
#![no_main]

#[path = "../checks/json_lines.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
