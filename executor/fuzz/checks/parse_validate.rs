//! Fuzzes the whole load path: YAML parsing (aliases, merges, nesting), validation, rendering
//! of diagnostics, and planning. Any panic, or a run that does not finish, is a bug.
//!
//! Shared by the cargo-fuzz target (`fuzz_targets/parse_validate.rs`) and the stable replay of
//! the committed corpus (`executor/tests/no_panic.rs`).

use executor::workflow::{load_str, EnvFn, LoadOptions};

/// Checks one input; panics on a bug.
pub fn run(data: &[u8]) {
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
            assert!(
                diagnostics.has_errors(),
                "rejected without an error:\n{}",
                diagnostics.render()
            );
            let _ = diagnostics.render();
        }
    }
}
