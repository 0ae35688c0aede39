//! Process exit codes, shared by every command.

/// Everything succeeded.
pub const SUCCESS: u8 = 0;
/// A step (or the command) failed.
pub const FAILURE: u8 = 1;
/// The workflow or the command line is invalid.
pub const USAGE: u8 = 2;
/// The container engine could not be reached.
pub const ENGINE_UNREACHABLE: u8 = 3;
/// Interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The exit code for an error that ended a command.
pub fn code_for(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(api) = cause.downcast_ref::<engine_api::Error>() {
            if api.is_connect() {
                return ENGINE_UNREACHABLE;
            }
            if matches!(api, engine_api::Error::Config { .. }) {
                return USAGE;
            }
        }
    }
    FAILURE
}
