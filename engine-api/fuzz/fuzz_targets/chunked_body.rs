//! cargo-fuzz target for the raw path's body reader; the checks are in `../checks/chunked_body.rs`.
#![no_main]

#[path = "../checks/chunked_body.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
