//! cargo-fuzz target for the multiplexed-frame demuxer; the checks are in `../checks/demux.rs`.
#![no_main]

#[path = "../checks/demux.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data));
