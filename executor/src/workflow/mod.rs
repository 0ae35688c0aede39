//! The workflow model: parse, validate, expand, plan.
//!
//! Stages, each a type of its own (pure and synchronous; no engine needed):
//!
//! 1. **Raw**: the file's YAML as a tree that remembers the line and column of every node
//!    (`yaml`). Several documents separated by `---`: the first is the workflow, the later ones
//!    are sub-workflows keyed by their `name`.
//! 2. **Validated**: [`Workflow`], every field typed, every name resolved, with all errors of
//!    the file collected as [`Diagnostics`] (`validate`).
//! 3. **Plan**: [`Plan`], the steps in dependency order with where each runs and the Engine API
//!    calls it will make (`plan`).
//!
//! Values that can only be known at run time (step outputs, `ITEM`) stay [`Text`]; the runner
//! expands them with [`expand()`] and a [`Scope`], and parses them with the functions of
//! `resolve`, which apply the checks validation applied to static values.
//!
//! ```
//! use executor::workflow::{load_str, LoadOptions};
//! let src = "steps:\n  - id: hello\n    container:\n      image: alpine:3\n    run: echo hi\n";
//! let loaded = load_str(src, "hello.yaml", &LoadOptions::default()).unwrap();
//! let plan = loaded.workflow.plan();
//! assert_eq!(plan.steps[0].id, "hello");
//! ```

mod diagnostic;
mod duration;
mod engine_fields;
mod expand;
mod host;
mod image_ref;
mod load;
mod model;
mod network;
mod plan;
mod platform;
mod port;
mod resolve;
mod shell_words;

/// Splits `line` into words as a POSIX shell would (quotes and backslashes), or `None` when its
/// quoting is unbalanced.
pub fn shell_split(line: &str) -> Option<Vec<String>> {
    shell_words::split(line).ok()
}
mod span;
mod suggest;
mod validate;
mod volume;
mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use expand::{expand, is_static, references, Escapes, Expanded, Reference, Scope};
pub use host::{EnvFn, Host, ProcessHost};
pub use load::{load_file, load_str, LoadError, LoadOptions, Loaded, MAX_FILE_SIZE};
pub use model::*;
pub use network::Network;
pub use plan::{EngineCall, Plan, PlannedStep, Target};
pub use platform::Platform;
pub use port::{PortBinding, Protocol};
pub use resolve::{
    command_argv, expand_env, merge_env, resolve_network, resolve_platform, resolve_port,
    resolve_volume, split_line,
};
pub use span::{Pos, Span};
pub use volume::{Mount, MountSource};
