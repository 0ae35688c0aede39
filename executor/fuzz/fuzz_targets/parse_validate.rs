//! cargo-fuzz target for the workflow parser and validator; the checks are in
//! `../checks/parse_validate.rs`.
//!
//! cargo +nightly fuzz run parse_validate (from executor/), or scripts/fuzz
#![no_main]

#[path = "../checks/parse_validate.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
