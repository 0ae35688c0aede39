//! Fuzzes the whole load path: YAML parsing (aliases, merges, nesting), validation, rendering
//! of diagnostics, and planning. Any panic, or a run that does not finish, is a bug.
//!
//! cargo +nightly fuzz run parse_validate executor/fuzz/corpus/parse_validate

#![no_main]

use executor::workflow::{load_str, EnvFn, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let host = EnvFn(|name: &str| match name {
        "HOME" => Some("/home/fuzz".to_string()),
        "CACHE_VOLUME" => Some("cache".to_string()),
        _ => None,
    });
    let options = LoadOptions {
        host: &host,
        params: vec![("IMAGE".to_string(), "alpine:3".to_string())],
        base_dir: Some("/fuzz".into()),
    };
    match load_str(text, "fuzz.yaml", &options) {
        Ok(loaded) => {
            let _ = loaded.warnings.render();
            let _ = loaded.workflow.plan().to_string();
        }
        Err(diagnostics) => {
            let _ = diagnostics.render();
        }
    }
});
