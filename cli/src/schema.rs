//! `tug schema [PATH]`: the fields a workflow file accepts, as `dagu schema dag [PATH]` shows
//! them — from one table ([`ROOT`] and the nodes it links), which a test keeps equal to the
//! validator's lists of accepted keys (`executor/src/workflow/validate/*`).
//!
//! A path is dot-separated field names (`steps.container.healthcheck`); `container` alone is
//! the DAG-level container. Action names keep their dot: `steps.with.docker.run`. `--json`
//! prints a JSON Schema (draft 2020-12) of the node, usable by editors.

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::exit;
use crate::style::{Paint, Stream};

/// A JSON type a field accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A number.
    Num,
    /// true or false.
    Bool,
    /// A list.
    List,
    /// A mapping.
    Map,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int => "integer",
            Kind::Num => "number",
            Kind::Bool => "boolean",
            Kind::List => "list",
            Kind::Map => "mapping",
        }
    }

    fn json(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int => "integer",
            Kind::Num => "number",
            Kind::Bool => "boolean",
            Kind::List => "array",
            Kind::Map => "object",
        }
    }
}

/// One accepted key.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The key.
    pub name: &'static str,
    /// The types it accepts.
    pub kinds: &'static [Kind],
    /// What it does.
    pub doc: &'static str,
    /// Its default, as written in YAML.
    pub default: Option<&'static str>,
    /// The words it accepts, when it is a choice.
    pub allowed: &'static [&'static str],
    /// Required in its mapping.
    pub required: bool,
    /// The node describing its value (a mapping, or the items of a list).
    pub child: Option<&'static Node>,
    /// Only on the DAG-level container.
    pub dag_only: bool,
    /// Also accepted in exec mode (`container: {exec: …}`).
    pub with_exec: bool,
}

const fn f(name: &'static str, kinds: &'static [Kind], doc: &'static str) -> Field {
    Field {
        name,
        kinds,
        doc,
        default: None,
        allowed: &[],
        required: false,
        child: None,
        dag_only: false,
        with_exec: false,
    }
}

impl Field {
    const fn default(mut self, d: &'static str) -> Field {
        self.default = Some(d);
        self
    }
    const fn allowed(mut self, a: &'static [&'static str]) -> Field {
        self.allowed = a;
        self
    }
    const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    const fn child(mut self, n: &'static Node) -> Field {
        self.child = Some(n);
        self
    }
    const fn dag_only(mut self) -> Field {
        self.dag_only = true;
        self
    }
    const fn with_exec(mut self) -> Field {
        self.with_exec = true;
        self
    }
}

/// A mapping (or list item) and the keys it accepts.
#[derive(Debug)]
pub struct Node {
    /// What it is.
    pub doc: &'static str,
    /// The other forms it may take besides a mapping, if any.
    pub forms: &'static str,
    /// Its keys.
    pub fields: &'static [Field],
    /// Keys of any name map to this node (`harnesses: {NAME: …}`).
    pub each: Option<&'static Node>,
    /// Keys not listed are accepted too (with what they mean).
    pub open: Option<&'static str>,
}

use Kind::*;

const STR: &[Kind] = &[Str];
const INT: &[Kind] = &[Int];
const BOOL: &[Kind] = &[Bool];
const MAP: &[Kind] = &[Map];
const STR_LIST: &[Kind] = &[Str, List];
const MAP_LIST: &[Kind] = &[Map, List];
const LIST: &[Kind] = &[List];
const STR_MAP: &[Kind] = &[Str, Map];

/// The top level of a workflow document.
pub static ROOT: Node = Node {
    doc: "a workflow: one YAML document (later documents after `---` are sub-workflows for `dag.run`, found by their `name`)",
    forms: "",
    fields: &[
        f("name", STR, "The workflow's name: letters, digits, spaces, `_`, `.`, `-`. Required in a sub-workflow document.").default("the file name without .yaml"),
        f("description", STR, "What the workflow is for."),
        f("type", STR, "How steps are ordered: `graph` runs steps as their `depends` allow (steps without dependencies at once); `chain` runs each step after the one before it (`depends` not allowed).").default("graph").allowed(&["graph", "chain"]),
        f("params", &[Map, List, Str], "Parameters, overridable on the command line (`tug start f.yaml -- NAME=value`) and used as `${NAME}`: a mapping `NAME: default`, a list of `NAME=default` / `NAME: default` / positional values (`${1}`), or one string of words."),
        f("env", MAP_LIST, "Environment variables, in order (later ones may use earlier ones): a mapping, or a list of `KEY=VALUE` strings and single-key mappings. Exported to host steps; substituted into every field."),
        f("working_dir", STR, "The directory relative host paths (volume sources, host steps) start from.").default("the workflow file's directory"),
        f("container", STR_MAP, "The DAG-level container: one container shared by every step that has no container of its own (steps run in it by exec); or the name of a running container to exec into.").child(&CONTAINER),
        f("registry_auths", STR_MAP, "Registry credentials for pulls: a mapping of registry host to credentials, or one JSON string `{\"auths\": …}` (e.g. `${DOCKER_AUTH_CONFIG}`). Then DOCKER_AUTH_CONFIG, then ~/.docker/config.json and its credential helpers are consulted.").child(&REGISTRY_AUTHS),
        f("harnesses", MAP, "Custom coding-agent harnesses for `action: harness.run`, by name (a name shadows the built-in of the same name).").child(&HARNESSES),
        f("harness", MAP, "Defaults for every `harness.run` step: `provider`, `fallback`, and option flags.").child(&HARNESS_DEFAULTS),
        f("max_output_size", INT, "Most bytes a step's `output:` variable may capture; more is an error.").default("1048576 (1 MiB)"),
        f("timeout_sec", INT, "Seconds the whole run may take; then it is stopped like a Ctrl-C. 0: no limit.").default("0"),
        f("steps", LIST, "The steps (at least one).").required().child(&STEP),
    ],
    each: None,
    open: None,
};

/// One entry of `steps:`.
pub static STEP: Node = Node {
    doc: "a step: what runs (`run:` or `action:`), where (`container:`, the DAG-level container, or the host), and when (`depends:`)",
    forms: "",
    fields: &[
        f("id", STR, "The step's id, for `depends` and step outputs: a letter, then letters, digits, `_`, `-`.").default("`name`, else <kind>_<position>"),
        f("name", STR, "A display name (also accepted in `depends`).").default("the id"),
        f("description", STR, "What the step does."),
        f("run", STR_LIST, "The command: one line (split into words like a shell would, or passed to `shell`), a list of lines run in order in the same place (stopping at the first failure), or a multi-line script (host steps only). Without `run`, a step-level image container runs the image's own command."),
        f("depends", STR_LIST, "The step ids (or names) this step waits for."),
        f("container", STR_MAP, "Where this step runs instead of the DAG-level container: a fresh container from `image:` (removed afterwards), or a running container (`exec:`, or just its name).").child(&CONTAINER),
        f("action", STR, "A built-in action instead of a plain command, configured by `with:`.").allowed(&["docker.run", "container.run", "harness.run", "dag.run"]),
        f("with", MAP, "The settings of `action:` (see each action).").child(&WITH),
        f("output", STR, "A variable that receives the step's stdout, trimmed, for later steps as `${NAME}` (limit: max_output_size)."),
        f("stdout", MAP, "Send stdout to a file under the run's artifact directory instead of the log (any size, bounded memory).").child(&STDOUT),
        f("env", MAP_LIST, "Environment of this step (merged under `container.env`, which wins on clashes)."),
        f("working_dir", STR, "The working directory of a host step."),
        f("shell", STR_LIST, "The shell a host step's command runs in (`-c` is added when missing), e.g. `bash -e`. In containers use `container.shell`."),
        f("parallel", &[List, Str, Map], "Fan out: run the `dag.run` sub-workflow once per item (`${ITEM}`, `${ITEM.field}`). A list, a `${VAR}` holding a JSON array, or a mapping with `items` and `max_concurrent`.").child(&PARALLEL),
        f("retry_policy", MAP, "Retry the step when it fails.").child(&RETRY_POLICY),
        f("preconditions", &[Str, Map, List], "Conditions that must all hold or the step is skipped: a command that must exit 0, or `condition`/`expected`; one or a list.").child(&PRECONDITION),
        f("continue_on", STR_MAP, "Let dependents run after this step fails or is skipped: `failed`, `skipped`, or a mapping.").child(&CONTINUE_ON),
        f("timeout_sec", INT, "Seconds the step may run; then it is stopped (stop signal, grace period, SIGKILL) and fails. 0: no limit.").default("0"),
        f("signal_on_stop", STR, "The signal that stops the step (on timeout or Ctrl-C), e.g. `SIGINT`, or a number 1-64.").default("SIGTERM"),
    ],
    each: None,
    open: None,
};

/// `container:` at the top level or in a step.
pub static CONTAINER: Node = Node {
    doc: "a container: a new one from `image:`, or a running one to exec into (`exec:`)",
    forms: "a string: the name of a running container (exec mode), as `{exec: NAME}`",
    fields: &[
        f("exec", STR, "The name or id of a running container to run in (exec mode); tug waits up to 120 s for it to be running and never stops or removes it. Excludes `image`.").with_exec(),
        f("image", STR, "The image to create the container from. Required unless `exec`."),
        f("name", STR, "The name of the container to create; an existing container of that name is an error."),
        f("pull_policy", &[Str, Bool], "When to pull the image: `always` (or true), `missing`, `never` (or false; a missing image is an error), `fallback` (try to pull, use the local image if that fails).").default("missing").allowed(&["always", "missing", "never", "fallback"]),
        f("working_dir", STR, "The working directory inside the container.").with_exec(),
        f("user", STR, "The user inside the container: `uid`, `uid:gid` or a name.").with_exec(),
        f("platform", STR, "The image platform, `os/arch[/variant]`, e.g. `linux/arm64`.").default("the engine's"),
        f("env", MAP_LIST, "Environment inside the container (wins over the step's `env`).").with_exec(),
        f("volumes", LIST, "Mounts, `source:target[:ro|rw]`: a host path (absolute, or starting with `.`, `~` or containing `/`; relative to working_dir) is a bind mount, anything else a named volume."),
        f("ports", LIST, "Published ports: `cport`, `hport:cport` or `ip:hport:cport`, optionally `/tcp|udp|sctp`; IPv6 as `[::1]:8080:80`."),
        f("network", STR, "`bridge`, `host`, `none`, `container:<name|id>`, or the name of a custom network to attach."),
        f("keep_container", BOOL, "Leave the DAG-level container after the run (stopped, not removed).").default("false").dag_only(),
        f("startup", STR, "How the DAG-level container stays up: `keepalive` (a helper tug copies in; works with any image), `entrypoint` (the image's own), `command` (runs `command`).").default("keepalive").allowed(&["keepalive", "entrypoint", "command"]).dag_only(),
        f("command", STR_LIST, "A command for the container: the DAG-level container's with `startup: command` (unused with `keepalive` and `entrypoint`); a step container's when the step has no `run`."),
        f("wait_for", STR, "When the DAG-level container counts as ready: `running`, or `healthy` (its health check passes; tug drives the check on Podman).").default("running").allowed(&["running", "healthy"]).dag_only(),
        f("log_pattern", STR, "A regular expression (RE2) a log line of the DAG-level container must match before steps start.").dag_only(),
        f("restart_policy", STR, "The DAG-level container's restart policy.").allowed(&["no", "always", "unless-stopped"]).dag_only(),
        f("healthcheck", MAP, "A health check (overrides the image's).").child(&HEALTHCHECK),
        f("shell", STR_LIST, "Run each command as one string through this shell inside the container (`-c` added when missing), e.g. `sh`, `bash -e`.").with_exec(),
    ],
    each: None,
    open: None,
};

/// `container.healthcheck`.
pub static HEALTHCHECK: Node = Node {
    doc: "a health check, as in a Dockerfile's HEALTHCHECK",
    forms: "",
    fields: &[
        f(
            "test",
            LIST,
            "`[\"CMD\", prog, args…]`, `[\"CMD-SHELL\", \"command\"]` or `[\"NONE\"]`.",
        )
        .required(),
        f("interval", STR, "Time between checks, e.g. `5s`, `1m30s`."),
        f("timeout", STR, "Time one check may take."),
        f(
            "start_period",
            STR,
            "Grace period after start during which failures do not count.",
        ),
        f(
            "retries",
            INT,
            "Consecutive failures before the container is unhealthy.",
        ),
    ],
    each: None,
    open: None,
};

/// `registry_auths:`.
pub static REGISTRY_AUTHS: Node = Node {
    doc: "registry credentials by registry host (`docker.io`, `ghcr.io`, `127.0.0.1:5000`)",
    forms: "a string: a whole `{\"auths\": {…}}` JSON document, as in ~/.docker/config.json",
    fields: &[],
    each: Some(&REGISTRY_CREDENTIALS),
    open: None,
};

/// One registry's credentials.
pub static REGISTRY_CREDENTIALS: Node = Node {
    doc: "credentials for one registry: `username` and `password`, or `auth`",
    forms: "a string: base64 of `username:password`",
    fields: &[
        f("username", STR, "The user name."),
        f(
            "password",
            STR,
            "The password or token (use `${VAR}` rather than writing it down).",
        ),
        f(
            "auth",
            STR,
            "base64 of `username:password`, instead of the two above.",
        ),
    ],
    each: None,
    open: None,
};

/// `harnesses:`.
pub static HARNESSES: Node = Node {
    doc: "custom harnesses by name (letters, digits, `_`, `-`)",
    forms: "",
    fields: &[],
    each: Some(&HARNESS_DEF),
    open: None,
};

/// One custom harness.
pub static HARNESS_DEF: Node = Node {
    doc: "a custom harness: how to call a coding agent's command line",
    forms: "",
    fields: &[
        f("binary", STR, "The program to run.").required(),
        f("prefix_args", LIST, "Arguments placed before everything else."),
        f("prompt_mode", STR, "How the prompt is passed: as an argument, after `prompt_flag`, or on stdin (host steps only).").default("arg").allowed(&["arg", "flag", "stdin"]),
        f("prompt_flag", STR, "The flag before the prompt, with `prompt_mode: flag`, e.g. `--prompt`."),
        f("prompt_position", STR, "Whether the prompt goes before or after the option flags.").default("before_flags").allowed(&["before_flags", "after_flags"]),
        f("flag_style", STR, "How option keys become flags: `--key` or `-key`.").default("gnu_long").allowed(&["gnu_long", "single_dash"]),
        f("option_flags", MAP, "Option key → the flag to use for it instead of the generated one."),
    ],
    each: None,
    open: None,
};

/// `harness:`.
pub static HARNESS_DEFAULTS: Node = Node {
    doc: "defaults for every `harness.run` step",
    forms: "",
    fields: &[
        f(
            "provider",
            STR,
            "The provider: claude, codex, copilot, opencode, pi, or a name from `harnesses:`.",
        ),
        f(
            "fallback",
            LIST,
            "Providers tried in order when the first fails (`[]`: none).",
        ),
    ],
    each: None,
    open: Some(
        "any other key: an option flag for every provider (`model: sonnet` gives `--model sonnet`)",
    ),
};

/// `with:`, by action.
pub static WITH: Node = Node {
    doc: "the settings of a step's `action:`; which keys apply depends on the action",
    forms: "",
    fields: &[
        f("docker.run", MAP, "`with:` of `action: docker.run` (alias `container.run`): a container from raw Engine API settings.").child(&DOCKER_RUN),
        f("container.run", MAP, "Alias of `docker.run`.").child(&DOCKER_RUN),
        f("harness.run", MAP, "`with:` of `action: harness.run`: run a coding agent's CLI.").child(&HARNESS_RUN),
        f("dag.run", MAP, "`with:` of `action: dag.run`: run a sub-workflow.").child(&DAG_RUN),
    ],
    each: None,
    open: None,
};

/// `with:` of `docker.run`.
pub static DOCKER_RUN: Node = Node {
    doc: "`with:` of `action: docker.run`: a fresh container (`image`), or an exec into a running one (`container_name` alone)",
    forms: "",
    fields: &[
        f("image", STR, "The image to create the container from."),
        f("container_name", STR, "The container's name; without `image`, the running container to exec into."),
        f("command", STR_LIST, "The command (else the step's `run`)."),
        f("working_dir", STR, "The working directory inside the container."),
        f("volumes", LIST, "Bind mounts / volumes, `source:target[:ro|rw]`."),
        f("auto_remove", BOOL, "Remove the container when the step ends.").default("false"),
        f("platform", STR, "The image platform, `os/arch[/variant]`."),
        f("pull", &[Str, Bool], "When to pull the image.").default("missing").allowed(&["always", "missing", "never", "fallback"]),
        f("shell", STR_LIST, "Run the command as one string through this shell."),
        f("container", MAP, "Extra Engine API `Config` fields (`Env`, `User`, `Labels`, `Entrypoint`, …), keys matched case-insensitively."),
        f("host", MAP, "Extra Engine API `HostConfig` fields (`Memory`, `CpuShares`, `Privileged`, `CapAdd`, …)."),
        f("network", MAP, "Engine API `NetworkingConfig` (`EndpointsConfig`)."),
        f("exec", MAP, "Engine API exec options (`User`, `Env`, `WorkingDir`, …) for exec into `container_name`."),
    ],
    each: None,
    open: None,
};

/// `with:` of `harness.run`.
pub static HARNESS_RUN: Node = Node {
    doc: "`with:` of `action: harness.run`",
    forms: "",
    fields: &[
        f("provider", STR, "claude, codex, copilot, opencode, pi, or a name from `harnesses:`.").default("harness.provider"),
        f("prompt", STR, "The instructions for the agent.").required(),
        f("fallback", LIST, "Providers tried in order when the first fails."),
        f("stdin", STR, "Text for the provider's standard input (host steps only)."),
    ],
    each: None,
    open: Some("any other key: an option flag (`model: sonnet` → `--model sonnet`; true → `--key`; a list repeats the flag)"),
};

/// `with:` of `dag.run`.
pub static DAG_RUN: Node = Node {
    doc: "`with:` of `action: dag.run`",
    forms: "",
    fields: &[
        f("dag", STR, "The sub-workflow: the `name` of a later `---` document of this file, or a file (`other.yaml`).").required(),
        f("params", &[Map, Str], "Its parameters: a mapping, or `KEY=VALUE` words (`${ITEM}` inside `parallel`)."),
    ],
    each: None,
    open: None,
};

/// `stdout:`.
pub static STDOUT: Node = Node {
    doc: "where the step's stdout goes",
    forms: "",
    fields: &[f(
        "artifact",
        STR,
        "A relative path (no `..`) under the run's `artifacts/` directory.",
    )
    .required()],
    each: None,
    open: None,
};

/// `parallel:`.
pub static PARALLEL: Node = Node {
    doc: "a fan-out over items (only with `action: dag.run`)",
    forms: "a list of items, or a `${VAR}` holding a JSON array",
    fields: &[
        f("items", &[List, Str], "The items (at most 1000): strings, numbers or mappings, or a `${VAR}` holding a JSON array.").required(),
        f("max_concurrent", INT, "Most children running at once.").default("10"),
    ],
    each: None,
    open: None,
};

/// `retry_policy:`.
pub static RETRY_POLICY: Node = Node {
    doc: "how a failed step is retried",
    forms: "",
    fields: &[
        f("limit", INT, "Retries after the first attempt.").required(),
        f("interval_sec", INT, "Seconds before a retry.").default("0"),
        f("exit_code", &[Int, List], "Retry only on these exit codes.").default("any failure"),
        f(
            "backoff",
            &[Bool, Num],
            "Multiply the interval after each retry: true doubles it, or a factor above 1.0.",
        ),
        f(
            "max_interval_sec",
            INT,
            "Cap on the interval when backing off.",
        ),
    ],
    each: None,
    open: None,
};

/// One entry of `preconditions:`.
pub static PRECONDITION: Node = Node {
    doc: "a precondition: a command that must exit 0, or `condition` compared with `expected`",
    forms: "a string: a command that must exit 0",
    fields: &[
        f("condition", STR, "The value to test (`${VAR}`, `` `command` ``), or a command when there is no `expected`.").required(),
        f("expected", STR, "What it must equal; `re:PATTERN` for a regular expression."),
        f("negate", BOOL, "Invert the result.").default("false"),
    ],
    each: None,
    open: None,
};

/// `continue_on:`.
pub static CONTINUE_ON: Node = Node {
    doc: "when dependents may run although this step did not succeed",
    forms: "a string: `failed` or `skipped`",
    fields: &[
        f("failed", BOOL, "Continue when the step failed.").default("false"),
        f("skipped", BOOL, "Continue when the step was skipped.").default("false"),
        f("exit_code", &[Int, List], "Continue on these exit codes."),
        f(
            "output",
            STR_LIST,
            "Continue when the output matches (`re:` for a regular expression).",
        ),
        f(
            "mark_success",
            BOOL,
            "Record the step as succeeded when continuing.",
        )
        .default("false"),
    ],
    each: None,
    open: None,
};

/// What a path names: a mapping, or a field with a plain value.
#[derive(Debug, Clone, Copy)]
pub enum Found {
    /// A mapping and its fields.
    Node(&'static Node),
    /// A field whose value has no fields of its own.
    Leaf(&'static Field),
}

/// Finds what `path` names, or says where the path went wrong.
pub fn find(path: &str) -> Result<Found, String> {
    match lookup(path) {
        Ok(n) => Ok(Found::Node(n)),
        Err(e) => {
            // A leaf: the last segment is a field of the node before it.
            let trimmed = path.trim().trim_matches('.');
            let parent_len = (0..trimmed.len())
                .rev()
                .filter(|&i| trimmed.as_bytes()[i] == b'.')
                .find(|&i| {
                    lookup(&trimmed[..i])
                        .ok()
                        .is_some_and(|n| n.fields.iter().any(|f| f.name == &trimmed[i + 1..]))
                });
            let (parent, name) = match parent_len {
                Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
                None => ("", trimmed),
            };
            match lookup(parent)
                .ok()
                .and_then(|n| n.fields.iter().find(|f| f.name == name))
            {
                Some(f) if f.child.is_none() => Ok(Found::Leaf(f)),
                _ => Err(e),
            }
        }
    }
}

/// Finds the node at `path`, or says where the path went wrong.
pub fn lookup(path: &str) -> Result<&'static Node, String> {
    let mut node: &'static Node = &ROOT;
    let mut rest = path.trim().trim_matches('.');
    let mut walked = String::new();
    while !rest.is_empty() {
        // The longest field name that `rest` starts with (names may contain dots).
        let field = node
            .fields
            .iter()
            .filter(|f| rest == f.name || rest.starts_with(&format!("{}.", f.name)))
            .max_by_key(|f| f.name.len());
        let (next, consumed) = match (field, node.each) {
            (Some(f), _) => match f.child {
                Some(c) => (c, f.name.len()),
                None => {
                    return Err(format!(
                        "`{}{}` has no fields of its own: it is {}",
                        walked,
                        f.name,
                        kinds_text(f.kinds)
                    ))
                }
            },
            (None, Some(each)) => (each, rest.split('.').next().unwrap_or(rest).len()),
            (None, None) => {
                let seg = rest.split('.').next().unwrap_or(rest);
                let names: Vec<&str> = node.fields.iter().map(|f| f.name).collect();
                let near = nearest(seg, &names);
                let at = if walked.is_empty() {
                    "a workflow".to_string()
                } else {
                    format!("`{}`", walked.trim_end_matches('.'))
                };
                let mut msg = format!("{at} has no field `{seg}`");
                if let Some(n) = near {
                    msg.push_str(&format!(": did you mean `{n}`?"));
                }
                msg.push_str(&format!(" (fields: {})", names.join(", ")));
                return Err(msg);
            }
        };
        walked.push_str(&rest[..consumed]);
        walked.push('.');
        node = next;
        rest = rest[consumed..].trim_start_matches('.');
    }
    Ok(node)
}

fn nearest<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (strsim(word, n), *n))
        .filter(|(d, n)| *d <= (n.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn kinds_text(kinds: &[Kind]) -> String {
    kinds
        .iter()
        .map(|k| k.word())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `tug schema [PATH] [--json]`.
pub fn run(path: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let path = path.unwrap_or("");
    let node = match find(path) {
        Ok(Found::Node(n)) => n,
        Ok(Found::Leaf(f)) => {
            if json {
                outln!("{}", serde_json::to_string_pretty(&field_schema(f))?);
            } else {
                out!(
                    "{}",
                    render_field(path, f, Paint::for_stream(Stream::Stdout))
                );
            }
            return Ok(exit::SUCCESS);
        }
        Err(e) => {
            crate::report::message(&e);
            return Ok(exit::USAGE);
        }
    };
    if json {
        let mut doc = node_schema(node);
        if let Value::Object(o) = &mut doc {
            o.insert(
                "$schema".into(),
                json!("https://json-schema.org/draft/2020-12/schema"),
            );
            let title = if path.is_empty() {
                "tug workflow".to_string()
            } else {
                format!("tug workflow: {path}")
            };
            o.insert("title".into(), json!(title));
        }
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!(
            "{}",
            render(
                path,
                node,
                Paint::for_stream(Stream::Stdout),
                crate::human::text_width()
            )
        );
    }
    Ok(exit::SUCCESS)
}

/// The text of one field with a plain value.
pub fn render_field(path: &str, f: &Field, p: Paint) -> String {
    let mut s = format!("{}: {}\n", p.bold(path), kinds_text(f.kinds));
    for line in crate::human::wrap(f.doc, crate::human::text_width().saturating_sub(2)) {
        s.push_str(&format!("  {line}\n"));
    }
    if f.required {
        s.push_str("  Required.\n");
    }
    if !f.allowed.is_empty() {
        s.push_str(&format!("  One of: {}.\n", f.allowed.join(", ")));
    }
    if let Some(d) = f.default {
        s.push_str(&format!("  Default: {d}.\n"));
    }
    if f.dag_only {
        s.push_str("  DAG-level container only.\n");
    }
    s
}

/// The text of one node.
pub fn render(path: &str, node: &Node, p: Paint, width: usize) -> String {
    let mut s = String::new();
    let title = if path.is_empty() { "workflow" } else { path };
    let _ = writeln!(s, "{}: {}", p.bold(title), node.doc);
    if !node.forms.is_empty() {
        let _ = writeln!(s, "Also accepted: {}.", node.forms);
    }
    if let Some(each) = node.each {
        let _ = writeln!(
            s,
            "Each key is a name of your choice; its value is {} (tug schema {}.NAME).",
            each.doc,
            if path.is_empty() { "" } else { path }
        );
    }
    if !node.fields.is_empty() {
        let name_w = node
            .fields
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let type_w = node
            .fields
            .iter()
            .map(|f| kinds_text(f.kinds).len())
            .max()
            .unwrap_or(0)
            .max(4);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{}",
            p.bold(&format!(
                "{:<name_w$}  {:<type_w$}  DESCRIPTION",
                "FIELD", "TYPE"
            ))
        );
        for fd in node.fields {
            let mut doc = fd.doc.to_string();
            if fd.required {
                doc.push_str(" Required.");
            }
            if !fd.allowed.is_empty() {
                doc.push_str(&format!(" One of: {}.", fd.allowed.join(", ")));
            }
            if let Some(d) = fd.default {
                doc.push_str(&format!(" Default: {d}."));
            }
            if fd.dag_only {
                doc.push_str(" DAG-level container only.");
            }
            if fd.child.is_some() {
                let sub = if path.is_empty() {
                    fd.name.to_string()
                } else {
                    format!("{path}.{}", fd.name)
                };
                doc.push_str(&format!(" See: tug schema {sub}"));
            }
            let doc_w = width.saturating_sub(name_w + type_w + 4).max(30);
            for (n, line) in crate::human::wrap(&doc, doc_w).iter().enumerate() {
                let (name, kinds) = if n == 0 {
                    (fd.name.to_string(), kinds_text(fd.kinds))
                } else {
                    (String::new(), String::new())
                };
                let _ = writeln!(s, "{name:<name_w$}  {kinds:<type_w$}  {line}");
            }
        }
    }
    if let Some(open) = node.open {
        let _ = writeln!(s, "\nAlso: {open}.");
    }
    s
}

/// A JSON Schema of `node`.
fn node_schema(node: &Node) -> Value {
    let mut o = Map::new();
    o.insert("description".into(), json!(node.doc));
    o.insert("type".into(), json!("object"));
    if !node.fields.is_empty() {
        let props: Map<String, Value> = node
            .fields
            .iter()
            .map(|f| (f.name.to_string(), field_schema(f)))
            .collect();
        o.insert("properties".into(), Value::Object(props));
        let required: Vec<&str> = node
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        if !required.is_empty() {
            o.insert("required".into(), json!(required));
        }
    }
    match (node.each, node.open) {
        (Some(each), _) => {
            o.insert("additionalProperties".into(), node_schema(each));
        }
        (None, Some(_)) => {}
        (None, None) => {
            o.insert("additionalProperties".into(), json!(false));
        }
    }
    Value::Object(o)
}

fn field_schema(f: &Field) -> Value {
    let mut o = Map::new();
    let mut doc = f.doc.to_string();
    if let Some(d) = f.default {
        doc.push_str(&format!(" Default: {d}."));
    }
    o.insert("description".into(), json!(doc));
    let types: Vec<&str> = f.kinds.iter().map(|k| k.json()).collect();
    match f.child {
        Some(child) => {
            let object = node_schema(child);
            let mut any_of = Vec::new();
            for k in f.kinds {
                any_of.push(match k {
                    Kind::Map => object.clone(),
                    Kind::List => json!({"type": "array", "items": if f.name == "steps" || f.name == "preconditions" { object.clone() } else { json!({}) }}),
                    other => json!({"type": other.json()}),
                });
            }
            if any_of.len() == 1 {
                if let Some(Value::Object(only)) = any_of.pop() {
                    for (k, v) in only {
                        if k != "description" {
                            o.insert(k, v);
                        }
                    }
                }
            } else {
                o.insert("anyOf".into(), Value::Array(any_of));
            }
        }
        None => {
            if types.len() == 1 {
                o.insert("type".into(), json!(types[0]));
            } else {
                o.insert("type".into(), json!(types));
            }
            if !f.allowed.is_empty() {
                let mut values: Vec<Value> = f.allowed.iter().map(|a| json!(a)).collect();
                if f.kinds.contains(&Kind::Bool) {
                    values.push(json!(true));
                    values.push(json!(false));
                }
                o.insert("enum".into(), Value::Array(values));
            }
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve() {
        assert!(std::ptr::eq(lookup("").unwrap(), &ROOT));
        assert!(std::ptr::eq(lookup("steps").unwrap(), &STEP));
        assert!(std::ptr::eq(lookup("steps.container").unwrap(), &CONTAINER));
        assert!(std::ptr::eq(lookup("container").unwrap(), &CONTAINER));
        assert!(std::ptr::eq(
            lookup("container.healthcheck").unwrap(),
            &HEALTHCHECK
        ));
        assert!(std::ptr::eq(
            lookup("steps.with.docker.run").unwrap(),
            &DOCKER_RUN
        ));
        assert!(std::ptr::eq(
            lookup("harnesses.my-agent").unwrap(),
            &HARNESS_DEF
        ));
        let e = lookup("steps.contianer").unwrap_err();
        assert!(e.contains("did you mean `container`"), "{e}");
        let e = lookup("steps.id").unwrap_err();
        assert!(e.contains("no fields of its own"), "{e}");
        assert!(matches!(find("steps.id"), Ok(Found::Leaf(f)) if f.name == "id"));
        assert!(matches!(
            find("steps.container.pull_policy"),
            Ok(Found::Leaf(f)) if f.name == "pull_policy"
        ));
        assert!(
            matches!(find("steps.with.docker.run.pull"), Ok(Found::Leaf(f)) if f.name == "pull")
        );
        assert!(find("steps.nope").is_err());
    }

    fn names(node: &Node) -> Vec<&'static str> {
        node.fields.iter().map(|f| f.name).collect()
    }

    /// The quoted strings of `const NAME: &[&str] = &[…];` in `src`.
    fn const_list(src: &str, name: &str) -> Vec<String> {
        let start = src
            .find(&format!("const {name}: &[&str] = &["))
            .unwrap_or_else(|| panic!("the validator has no `const {name}` any more"));
        let body = &src[start..];
        let body = &body[body.find("= &[").unwrap() + 4..body.find("];").unwrap()];
        body.split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn source(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../executor/src/workflow/validate")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    fn table(node: &Node) -> Vec<String> {
        sorted(names(node).into_iter().map(String::from).collect())
    }

    fn squash(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// An inline key list, e.g. `&["items", "max_concurrent"]`, is in `src`.
    fn has_inline(src: &str, node: &Node) -> bool {
        let list: Vec<String> = names(node).iter().map(|n| format!("\"{n}\"")).collect();
        squash(src).contains(&format!("&[{}]", list.join(",")))
    }

    #[test]
    fn the_table_matches_the_validator() {
        let document = source("document.rs");
        let step = source("step.rs");
        let container = source("container.rs");
        let actions = source("actions.rs");
        let controls = source("controls.rs");
        assert_eq!(table(&ROOT), sorted(const_list(&document, "TOP_FIELDS")));
        assert_eq!(table(&STEP), sorted(const_list(&step, "STEP_FIELDS")));
        assert_eq!(
            table(&CONTAINER),
            sorted(const_list(&container, "CONTAINER_FIELDS"))
        );
        let exec: Vec<String> = CONTAINER
            .fields
            .iter()
            .filter(|f| f.with_exec)
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(sorted(exec), sorted(const_list(&container, "EXEC_FIELDS")));
        let dag_only: Vec<String> = CONTAINER
            .fields
            .iter()
            .filter(|f| f.dag_only)
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(sorted(dag_only), sorted(const_list(&container, "DAG_ONLY")));
        assert_eq!(
            table(&HEALTHCHECK),
            sorted(const_list(&container, "FIELDS"))
        );
        assert_eq!(
            table(&DOCKER_RUN),
            sorted(const_list(&actions, "DOCKER_RUN_FIELDS"))
        );
        assert_eq!(
            table(&HARNESS_DEF),
            sorted(const_list(&actions, "HARNESS_DEF_FIELDS"))
        );
        assert_eq!(table(&WITH), sorted(const_list(&actions, "ACTIONS")));
        assert_eq!(
            table(&RETRY_POLICY),
            sorted(const_list(&controls, "FIELDS"))
        );
        let continue_on = &controls[controls.find("fn continue_on").unwrap()..];
        assert_eq!(
            table(&CONTINUE_ON),
            sorted(const_list(continue_on, "FIELDS"))
        );
        assert!(has_inline(&actions, &DAG_RUN), "dag.run keys changed");
        assert!(has_inline(&controls, &PARALLEL), "parallel keys changed");
        assert!(
            has_inline(&controls, &PRECONDITION),
            "precondition keys changed"
        );
        assert!(has_inline(&controls, &STDOUT), "stdout keys changed");
        assert!(
            has_inline(&document, &REGISTRY_CREDENTIALS),
            "registry credential keys changed"
        );
        // harness.run's `with` takes provider, prompt, fallback, stdin by name.
        for key in names(&HARNESS_RUN) {
            assert!(
                actions.contains(&format!("\"{key}\" =>")),
                "harness.run key {key}"
            );
        }
    }

    #[test]
    fn json_schema_is_an_object_with_properties() {
        let s = node_schema(&ROOT);
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
        assert!(s["properties"]["steps"]["items"]["properties"]["container"].is_object());
    }
}
