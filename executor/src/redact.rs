//! Keeping secrets out of everything tug writes: logs, run records, `tug dry`, errors and
//! `Debug` output. The rule (names like `*_KEY`, `*_TOKEN`, `*_PASSWORD`, `*_SECRET`) is
//! engine-api's, so both crates agree; registry credentials are always secret.

pub use engine_api::redact::{env_entry, is_secret_name, value, REDACTED};
