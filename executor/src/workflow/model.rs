//! The validated workflow: every name resolved, every value typed, every string that may hold
//! variables kept with its position so the runner can expand it and still point at the file.
//!
//! Values that can only be known at run time (a field that names a step output or `ITEM`) are
//! kept as [`Text`] and resolved by the runner through [`ImageContainer::resolve`] and friends,
//! which apply exactly the checks validation applied to the static values.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::expand::{self, Escapes, Scope};
use super::network::Network;
use super::platform::Platform;
use super::port::PortBinding;
use super::span::Span;
use super::volume::Mount;

/// Default limit of a step's captured `output`: 1 MiB.
pub const DEFAULT_MAX_OUTPUT_SIZE: u64 = 1024 * 1024;

/// Default `parallel.max_concurrent`.
pub const DEFAULT_MAX_CONCURRENT: u32 = 10;

/// Most items one `parallel` step may fan out to.
pub const MAX_PARALLEL_ITEMS: usize = 1000;

/// A string from the workflow file that may hold `${VAR}` references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// The text as written (after YAML unquoting).
    pub raw: String,
    /// Where it is in the file.
    pub span: Span,
}

impl Text {
    pub(crate) fn new(raw: impl Into<String>, span: Span) -> Self {
        Text {
            raw: raw.into(),
            span,
        }
    }

    /// Expands the text in `scope`; unknown names stay as written.
    pub fn expand(&self, scope: &Scope, escapes: Escapes) -> String {
        expand::expand(&self.raw, scope, None, escapes).text
    }

    /// True when the text has no `$` at all.
    pub fn is_static(&self) -> bool {
        expand::is_static(&self.raw)
    }
}

/// `type:` of a workflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DagType {
    /// Steps run as their `depends` allow; without `depends` they may run concurrently.
    #[default]
    Graph,
    /// Each step depends on the one before it.
    Chain,
}

/// One declared parameter. `Debug` hides values named like secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Param {
    /// `NAME` (positional parameters are named `1`, `2`, …).
    pub name: String,
    /// The default from the file, if any.
    pub default: Option<Text>,
    /// The value in force: the command-line override, else the expanded default, else empty.
    pub value: String,
}

/// One `env` entry, in file order. `Debug` hides values named like secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Value, possibly referring to earlier entries.
    pub value: Text,
}

/// A complete workflow, ready to plan.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// `name:`, else the file stem.
    pub name: String,
    /// `description:`.
    pub description: Option<String>,
    /// `type:`.
    pub dag_type: DagType,
    /// `params:`, in order.
    pub params: Vec<Param>,
    /// `env:`, in order.
    pub env: Vec<EnvVar>,
    /// The directory relative host paths are resolved against: `working_dir:`, else the
    /// directory of the file.
    pub working_dir: PathBuf,
    /// The DAG-level container all steps share unless they name their own.
    pub container: Option<Container>,
    /// `registry_auths:`.
    pub registry_auths: Option<RegistryAuths>,
    /// Custom harness providers from `harnesses:`, by name.
    pub harnesses: BTreeMap<String, HarnessDef>,
    /// `max_output_size:` in bytes (default 1 MiB).
    pub max_output_size: u64,
    /// `timeout_sec:` for the whole run.
    pub timeout: Option<Duration>,
    /// Steps in file order; [`Step::depends`] indexes into this.
    pub steps: Vec<Step>,
    /// Later `---` documents of the same file, by `name`.
    pub sub_workflows: BTreeMap<String, Arc<Workflow>>,
    /// `env` and `params` evaluated: the static part of every step's scope.
    pub scope: Scope,
    /// Steps in an order that respects `depends` (indexes into `steps`).
    pub(crate) order: Vec<usize>,
    /// The file, for rendering diagnostics found later (at run time).
    pub(crate) file: String,
    pub(crate) source: Arc<str>,
}

impl Workflow {
    /// The step with id (or name) `key`.
    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.id == key)
            .or_else(|| self.steps.iter().find(|s| s.name == key))
    }

    /// Wraps diagnostics found later (at run time, by `resolve`) so they render against this
    /// workflow's file.
    pub fn diagnostics(&self, items: Vec<Diagnostic>) -> Diagnostics {
        let mut d = Diagnostics::new(self.file.clone(), self.source.clone());
        d.extend(items);
        d
    }

    /// The name the file was loaded under.
    pub fn file(&self) -> &str {
        &self.file
    }
}

/// One step.
#[derive(Clone, Debug)]
pub struct Step {
    /// `id:`, else `name:`, else a generated `<kind>_<n>` (1-based position).
    pub id: String,
    /// `name:`, else the id.
    pub name: String,
    /// `description:`.
    pub description: Option<String>,
    /// The step's mapping in the file.
    pub span: Span,
    /// What to run.
    pub run: Run,
    /// Indexes of the steps this one waits for.
    pub depends: Vec<usize>,
    /// The step's own `container:`, which replaces the DAG-level one.
    pub container: Option<Container>,
    /// `action:` and its `with:`.
    pub action: Action,
    /// `output:` variable that receives trimmed stdout.
    pub output: Option<String>,
    /// `stdout: {artifact: path}`: path under the run's artifact directory.
    pub stdout_artifact: Option<PathBuf>,
    /// Step `env:`, in order (merged under `container.env` inside containers).
    pub env: Vec<EnvVar>,
    /// Step `working_dir:` (host steps).
    pub working_dir: Option<Text>,
    /// Step `shell:` (host steps; containers use `container.shell`).
    pub shell: Option<Shell>,
    /// `parallel:` fan-out (only with `dag.run`).
    pub parallel: Option<Parallel>,
    /// `retry_policy:`.
    pub retry_policy: Option<RetryPolicy>,
    /// `preconditions:`; all must hold or the step is skipped.
    pub preconditions: Vec<Precondition>,
    /// `continue_on:`.
    pub continue_on: ContinueOn,
    /// `timeout_sec:`.
    pub timeout: Option<Duration>,
    /// `signal_on_stop:`, e.g. `SIGINT` (default SIGTERM).
    pub signal_on_stop: Option<String>,
}

/// The `run:` field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Run {
    /// No `run` (an action, or the image's own command).
    None,
    /// One command line, split shell-words style at run time.
    Command(Text),
    /// Several command lines run in order in the same place, stopping at the first failure.
    Commands(Vec<Text>),
    /// A multi-line script (host steps only).
    Script(Text),
}

/// A `shell:` value: program and its arguments (`-c` is added when missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shell {
    /// Program and arguments as written.
    pub argv: Vec<Text>,
}

/// What kind of step it is.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// A plain command (`run:`), in whatever container applies, or on the host.
    Command,
    /// `action: docker.run` (or `container.run`).
    DockerRun(Box<DockerRun>),
    /// `action: harness.run`.
    HarnessRun(Box<HarnessRun>),
    /// `action: dag.run`.
    DagRun(DagRun),
}

/// Where a container comes from.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Container {
    /// Exec into a container that already runs.
    Exec(Box<ExecContainer>),
    /// Create a container from an image.
    Image(Box<ImageContainer>),
}

impl Container {
    /// Position of the `container:` value.
    pub fn span(&self) -> Span {
        match self {
            Container::Exec(e) => e.span,
            Container::Image(i) => i.span,
        }
    }

    /// The configured shell, if any.
    pub fn shell(&self) -> Option<&Shell> {
        match self {
            Container::Exec(e) => e.shell.as_ref(),
            Container::Image(i) => i.shell.as_ref(),
        }
    }
}

/// `container: NAME` or `container: {exec: NAME, …}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecContainer {
    /// Name or id of the running container.
    pub container: Text,
    /// `user:` override.
    pub user: Option<Text>,
    /// `working_dir:` override.
    pub working_dir: Option<Text>,
    /// Extra `env:`.
    pub env: Vec<EnvVar>,
    /// `shell:`.
    pub shell: Option<Shell>,
    /// Position of the `container:` value.
    pub span: Span,
}

/// `pull_policy:` (or `pull:` of docker.run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullPolicy {
    /// Pull every time (`always` or `true`).
    Always,
    /// Pull when not present locally (the default).
    #[default]
    Missing,
    /// Never pull (`never` or `false`); a missing image is an error.
    Never,
    /// Try to pull, use the local image if that fails (Dagu's `fallback`).
    Fallback,
}

/// `startup:` of a DAG-level container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Startup {
    /// Keep the container alive with a helper; steps exec into it.
    #[default]
    Keepalive,
    /// Run the image's entrypoint.
    Entrypoint,
    /// Run `command`.
    Command,
}

/// `wait_for:` of a DAG-level container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitFor {
    /// The container is running.
    #[default]
    Running,
    /// Its health check reports healthy.
    Healthy,
}

/// `restart_policy:` of a DAG-level container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartPolicy {
    /// `no`.
    No,
    /// `always`.
    Always,
    /// `unless-stopped`.
    UnlessStopped,
}

impl RestartPolicy {
    /// The Engine API `RestartPolicy.Name`.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}

/// `healthcheck:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks.
    pub interval: Option<Duration>,
    /// Time one check may take.
    pub timeout: Option<Duration>,
    /// Grace period after start.
    pub start_period: Option<Duration>,
    /// Failures before unhealthy.
    pub retries: Option<u32>,
}

/// A command given as one string (split shell-words style) or as a list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandSpec {
    /// `command: "sh -c 'x'"`.
    Line(Text),
    /// `command: ["sh", "-c", "x"]`.
    Argv(Vec<Text>),
}

/// `container: {image: …}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageContainer {
    /// `image:`.
    pub image: Text,
    /// `name:` of the container to create.
    pub name: Option<Text>,
    /// `pull_policy:`.
    pub pull_policy: PullPolicy,
    /// `working_dir:`.
    pub working_dir: Option<Text>,
    /// `user:`.
    pub user: Option<Text>,
    /// `platform:`.
    pub platform: Option<Text>,
    /// `env:`.
    pub env: Vec<EnvVar>,
    /// `volumes:` as written.
    pub volumes: Vec<Text>,
    /// `ports:` as written.
    pub ports: Vec<Text>,
    /// `network:`.
    pub network: Option<Text>,
    /// `keep_container:` (DAG level only).
    pub keep_container: bool,
    /// `startup:` (DAG level only).
    pub startup: Startup,
    /// `command:`.
    pub command: Option<CommandSpec>,
    /// `wait_for:` (DAG level only).
    pub wait_for: WaitFor,
    /// `log_pattern:` (DAG level only), already checked to compile.
    pub log_pattern: Option<String>,
    /// `restart_policy:` (DAG level only).
    pub restart_policy: Option<RestartPolicy>,
    /// `healthcheck:`.
    pub healthcheck: Option<Healthcheck>,
    /// `shell:`.
    pub shell: Option<Shell>,
    /// Position of the `container:` value.
    pub span: Span,
}

/// An image container with every variable expanded and every spec parsed. `Debug` hides env
/// values named like secrets.
#[derive(Clone, PartialEq)]
pub struct ResolvedImage {
    /// Image reference.
    pub image: String,
    /// Container name.
    pub name: Option<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Platform.
    pub platform: Option<Platform>,
    /// `KEY=VALUE` environment, container entries winning over the step's.
    pub env: Vec<(String, String)>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Ports.
    pub ports: Vec<PortBinding>,
    /// Network.
    pub network: Option<Network>,
    /// `command` as argv.
    pub command: Option<Vec<String>>,
    /// Shell argv (with `-c`).
    pub shell: Option<Vec<String>>,
}

/// `registry_auths:`. `Debug` never shows credentials.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryAuths {
    /// One string holding a whole `{"auths": …}` document (possibly `${DOCKER_AUTH_CONFIG}`).
    Json(Text),
    /// Registry host → credentials.
    Hosts(BTreeMap<String, RegistryAuth>),
}

/// Credentials for one registry host. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryAuth {
    /// `{username, password}`.
    Basic {
        /// User name.
        username: Text,
        /// Password or token.
        password: Text,
    },
    /// `{auth}` or a bare string: base64 of `username:password`.
    Encoded(Text),
}

/// `action: docker.run` with its `with:` block.
#[derive(Clone, Debug, PartialEq)]
pub struct DockerRun {
    /// `image:`; without it, `container_name` names a running container to exec into.
    pub image: Option<Text>,
    /// `container_name:`.
    pub container_name: Option<Text>,
    /// `command:` (else the step's `run`).
    pub command: Option<CommandSpec>,
    /// `working_dir:`.
    pub working_dir: Option<Text>,
    /// `volumes:` as written.
    pub volumes: Vec<Text>,
    /// `auto_remove:` (default false for docker.run, as in Dagu).
    pub auto_remove: bool,
    /// `platform:`.
    pub platform: Option<Text>,
    /// `pull:`.
    pub pull: PullPolicy,
    /// `shell:`.
    pub shell: Option<Shell>,
    /// Pass-through `Config` fields, keys in the Engine API's spelling.
    pub container: serde_json::Map<String, serde_json::Value>,
    /// Pass-through `HostConfig` fields.
    pub host: serde_json::Map<String, serde_json::Value>,
    /// Pass-through `NetworkingConfig` fields.
    pub network: serde_json::Map<String, serde_json::Value>,
    /// Pass-through exec options (exec-in-existing mode).
    pub exec: serde_json::Map<String, serde_json::Value>,
    /// Position of `with:`.
    pub span: Span,
}

/// A built-in harness provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuiltinProvider {
    /// `claude -p "<prompt>"`.
    Claude,
    /// `codex exec "<prompt>"`.
    Codex,
    /// `copilot -p "<prompt>"`.
    Copilot,
    /// `opencode run "<prompt>"`.
    Opencode,
    /// `pi -p "<prompt>"`.
    Pi,
}

impl BuiltinProvider {
    /// All built-ins with their names.
    pub const ALL: [(&'static str, BuiltinProvider); 5] = [
        ("claude", BuiltinProvider::Claude),
        ("codex", BuiltinProvider::Codex),
        ("copilot", BuiltinProvider::Copilot),
        ("opencode", BuiltinProvider::Opencode),
        ("pi", BuiltinProvider::Pi),
    ];

    /// The provider's name (and binary).
    pub fn name(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| p == self)
            .map(|(n, _)| *n)
            .unwrap_or("claude")
    }
}

/// A provider as resolved: a custom definition shadows a built-in of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// Built in.
    Builtin(BuiltinProvider),
    /// From `harnesses:` (the key).
    Custom(String),
    /// Neither (validation warned); fails when the step runs.
    Unknown(String),
}

/// How a custom harness receives its prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptMode {
    /// As a positional argument (default).
    Arg,
    /// After a flag, e.g. `--prompt`.
    Flag(String),
    /// On standard input (not inside containers).
    Stdin,
}

/// Where the prompt goes relative to option flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptPosition {
    /// Prompt, then flags (default, as in Dagu).
    #[default]
    BeforeFlags,
    /// Flags, then prompt.
    AfterFlags,
}

/// How option keys become flags for a custom harness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagStyle {
    /// `--key` (default).
    #[default]
    GnuLong,
    /// `-key`.
    SingleDash,
}

/// A custom provider from top-level `harnesses:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HarnessDef {
    /// `binary:` (required).
    pub binary: String,
    /// `prefix_args:`, placed before everything else.
    pub prefix_args: Vec<String>,
    /// `prompt_mode:` and `prompt_flag:`.
    pub prompt_mode: PromptMode,
    /// `prompt_position:`.
    pub prompt_position: PromptPosition,
    /// `flag_style:`.
    pub flag_style: FlagStyle,
    /// `option_flags:`: option key → flag to use instead of the generated one.
    pub option_flags: BTreeMap<String, String>,
    /// Position of the definition.
    pub span: Span,
}

/// One extra `with` key of a harness step, turned into a flag when the step runs.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum HarnessOption {
    /// `--key value`.
    Text(Text),
    /// `--key` when true, omitted when false.
    Flag(bool),
    /// `--key N`.
    Number(String),
    /// The flag repeated per item.
    List(Vec<Text>),
}

/// `action: harness.run`, with the top-level `harness:` defaults merged in.
#[derive(Clone, Debug, PartialEq)]
pub struct HarnessRun {
    /// The provider to try first.
    pub provider: Provider,
    /// `prompt:`.
    pub prompt: Text,
    /// Providers tried in order when the first fails.
    pub fallback: Vec<Provider>,
    /// Remaining keys, sorted: the flags.
    pub options: BTreeMap<String, HarnessOption>,
    /// `stdin:` text for the provider (host steps only).
    pub stdin: Option<Text>,
    /// Position of `with:`.
    pub span: Span,
}

/// Where a `dag.run` child comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubWorkflowRef {
    /// A later `---` document of the same file.
    Local(String),
    /// Another file.
    File(PathBuf),
    /// Named by a variable; looked up at run time.
    Deferred(Text),
}

/// `action: dag.run`.
#[derive(Clone, Debug, PartialEq)]
pub struct DagRun {
    /// `with.dag` as written.
    pub dag: Text,
    /// What it names.
    pub target: SubWorkflowRef,
    /// `with.params`, in order.
    pub params: Vec<(String, Text)>,
}

/// `parallel:`.
#[derive(Clone, Debug, PartialEq)]
pub struct Parallel {
    /// The items.
    pub items: ParallelItems,
    /// `max_concurrent` (default 10).
    pub max_concurrent: u32,
}

/// `parallel.items`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ParallelItems {
    /// Items written in the file.
    List(Vec<serde_json::Value>),
    /// `${VAR}` that holds a JSON array at run time.
    Variable(Text),
}

/// `retry_policy:`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub limit: u32,
    /// Wait before a retry.
    pub interval: Duration,
    /// Only retry on these exit codes (empty: any failure).
    pub exit_codes: Vec<i32>,
    /// Multiplier applied to the interval after each retry.
    pub backoff: Option<f64>,
    /// Cap on the interval when backing off.
    pub max_interval: Option<Duration>,
}

/// A value a precondition or `continue_on.output` compares against.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// Exact text.
    Literal(String),
    /// `re:` pattern, already checked to compile.
    Regex(String),
}

/// One `preconditions:` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// A command that must exit 0.
    Command {
        /// The command line.
        command: Text,
        /// Invert the result.
        negate: bool,
    },
    /// `condition` (expanded) must equal (or match) `expected`.
    Compare {
        /// The value to test, usually `${VAR}` or a `` `command` ``.
        condition: Text,
        /// What it must be.
        expected: Expected,
        /// Invert the result.
        negate: bool,
    },
}

/// `continue_on:`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContinueOn {
    /// Continue when the step failed.
    pub failed: bool,
    /// Continue when the step was skipped.
    pub skipped: bool,
    /// Continue on these exit codes.
    pub exit_codes: Vec<i32>,
    /// Continue when the output matches one of these.
    pub output: Vec<Expected>,
    /// Mark the step succeeded when continuing.
    pub mark_success: bool,
}

impl std::fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvVar")
            .field("name", &self.name)
            .field("value", &crate::redact::value(&self.name, &self.value.raw))
            .finish()
    }
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Param")
            .field("name", &self.name)
            .field(
                "default",
                &self
                    .default
                    .as_ref()
                    .map(|d| crate::redact::value(&self.name, &d.raw)),
            )
            .field("value", &crate::redact::value(&self.name, &self.value))
            .finish()
    }
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", &username.raw)
                .field("password", &crate::redact::REDACTED)
                .finish(),
            RegistryAuth::Encoded(_) => f
                .debug_tuple("Encoded")
                .field(&crate::redact::REDACTED)
                .finish(),
        }
    }
}

impl std::fmt::Debug for RegistryAuths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAuths::Json(_) => f
                .debug_tuple("Json")
                .field(&crate::redact::REDACTED)
                .finish(),
            RegistryAuths::Hosts(h) => f.debug_tuple("Hosts").field(h).finish(),
        }
    }
}

impl std::fmt::Debug for ResolvedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), crate::redact::value(k, v)))
            .collect();
        f.debug_struct("ResolvedImage")
            .field("image", &self.image)
            .field("name", &self.name)
            .field("working_dir", &self.working_dir)
            .field("user", &self.user)
            .field("platform", &self.platform)
            .field("env", &env)
            .field("mounts", &self.mounts)
            .field("ports", &self.ports)
            .field("network", &self.network)
            .field("command", &self.command)
            .field("shell", &self.shell)
            .finish()
    }
}
