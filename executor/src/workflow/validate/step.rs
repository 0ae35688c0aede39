//! One entry of `steps:`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::diagnostic::Diagnostic;
use super::super::model::{Action, Container, HarnessDef, Run, Step, Text};
use super::super::span::Span;
use super::super::suggest;
use super::super::yaml::{Node, Value};
use super::actions::{HarnessDefaults, ACTIONS};
use super::checker::{index, is_identifier, join, list, Checker, RefKind};
use super::container::Level;

pub(crate) const STEP_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "run",
    "depends",
    "container",
    "action",
    "with",
    "output",
    "stdout",
    "env",
    "working_dir",
    "shell",
    "parallel",
    "retry_policy",
    "preconditions",
    "continue_on",
    "timeout_sec",
    "signal_on_stop",
];

fn step_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "command" | "script" => "Dagu's `command`/`script` are written `run:` here (a string, a list, or a multi-line script)",
        "executor" | "uses" => "choose what a step does with `action:` (docker.run, harness.run, dag.run) and configure it under `with:`",
        "dir" | "workingDir" => "the field is `working_dir`",
        "precondition" => "the field is `preconditions` (one entry or a list)",
        "depend" | "depends_on" | "dependsOn" | "needs" => "the field is `depends` (a step id or a list of them)",
        "call" => "run a sub-workflow with `action: dag.run` and `with: {dag: NAME}`",
        "repeat_policy" | "mail_on_error" | "stderr" | "log_output" | "approval" | "router" => {
            "this Dagu step field is not supported by tug"
        }
        _ => return None,
    })
}

/// A step as read, before `depends` are resolved.
pub(crate) struct StepDraft {
    pub(crate) step: Step,
    /// `depends` entries as written.
    pub(crate) depends: Vec<(String, Span, String)>,
    /// Position of `id:` / `name:` values, for duplicate reports.
    pub(crate) id_span: Option<Span>,
    pub(crate) name_span: Option<Span>,
    /// Position of the `depends:` value.
    pub(crate) depends_span: Option<Span>,
}

impl Checker<'_> {
    /// Reads the step at `steps[i]`.
    pub(crate) fn step(
        &mut self,
        node: &Node,
        i: usize,
        dag_container: Option<&Container>,
        defaults: &HarnessDefaults,
        customs: &BTreeMap<String, HarnessDef>,
    ) -> Option<StepDraft> {
        let path = index("steps", i);
        let entries = self.map(node, &path, "a step")?;
        self.keys(entries, &path, "a step", STEP_FIELDS, step_hint);
        self.current_step = Some(i);
        let id = node.get("id").and_then(|n| {
            let t = self.nonempty(n, &join(&path, "id"), "a step `id`")?;
            let ok = t.raw.as_bytes()[0].is_ascii_alphabetic()
                && t.raw
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                self.push(
                    Diagnostic::error(
                        format!("`{}` is not a valid step id", t.raw),
                        join(&path, "id"),
                        n.span,
                    )
                    .with_allowed("a letter, then letters, digits, `_` and `-`"),
                );
                return None;
            }
            Some((t.raw, n.span))
        });
        let name = node.get("name").and_then(|n| {
            self.nonempty(n, &join(&path, "name"), "a step `name`")
                .map(|t| (t.raw, n.span))
        });
        let description = node.get("description").and_then(|n| {
            self.text(n, &join(&path, "description"), "`description`")
                .map(|t| t.raw)
        });

        // Step env first: its names are visible to the step's own fields.
        let env = node
            .get("env")
            .map(|n| self.env(n, &join(&path, "env")))
            .unwrap_or_default();
        self.step_env = Vec::new();
        for (k, e) in env.iter().enumerate() {
            let field = if node.get("env").is_some_and(|n| n.as_seq().is_some()) {
                index(&join(&path, "env"), k)
            } else {
                join(&join(&path, "env"), &e.name)
            };
            self.defer(&e.value, &field, RefKind::Plain);
            self.step_env.push(e.name.clone());
        }

        let action_name = node.get("action").and_then(|n| {
            let field = join(&path, "action");
            let t = self.nonempty(n, &field, "`action`")?;
            if ACTIONS.contains(&t.raw.as_str()) {
                Some(t.raw)
            } else {
                let hint = match t.raw.as_str() {
                    "docker" | "container" => Some("docker.run"),
                    "harness" => Some("harness.run"),
                    "dag" | "subworkflow" | "call" => Some("dag.run"),
                    other => suggest::nearest(other, ACTIONS.iter().copied()),
                };
                self.push(
                    Diagnostic::error(format!("unknown action `{}`", t.raw), field, n.span)
                        .with_allowed(list(ACTIONS))
                        .with_suggestion(hint),
                );
                None
            }
        });
        let action_given = node.get("action").is_some();
        let with = node.get("with");
        if with.is_some() && !action_given {
            let span = entries
                .iter()
                .find(|e| e.key.as_text() == Some("with"))
                .map(|e| e.key.span)
                .unwrap_or(node.span);
            self.push(
                Diagnostic::error("`with` needs an `action`", join(&path, "with"), span)
                    .with_allowed(format!("`action:` {}", list(ACTIONS))),
            );
        }

        let container = node
            .get("container")
            .and_then(|n| self.container(n, &join(&path, "container"), Level::Step));
        let key_span = |k: &str| {
            entries
                .iter()
                .find(|e| e.key.as_text() == Some(k))
                .map(|e| e.key.span)
                .unwrap_or(node.span)
        };
        let run = node
            .get("run")
            .map(|n| self.run(n, &join(&path, "run")))
            .unwrap_or(Run::None);

        // Does this step run in a container, and which shell applies?
        let is_docker_run = matches!(action_name.as_deref(), Some("docker.run" | "container.run"));
        let in_dag_container = node.get("container").is_none()
            && dag_container.is_some()
            && matches!(action_name.as_deref(), None | Some("harness.run"));
        let in_container = node.get("container").is_some() || is_docker_run || in_dag_container;

        let action = match action_name.as_deref() {
            None => {
                if run == Run::None && !action_given {
                    let image_cmd = matches!(container, Some(Container::Image(_)));
                    let unknown_key = entries
                        .iter()
                        .any(|e| e.key.as_text().is_some_and(|k| !STEP_FIELDS.contains(&k)));
                    if !image_cmd && node.get("container").is_none() && !unknown_key {
                        self.push(
                            Diagnostic::error("the step has nothing to run", &path, node.span)
                                .with_help("add `run:` with a command, or an `action:`"),
                        );
                    }
                }
                Action::Command
            }
            Some("docker.run" | "container.run") => {
                if node.get("container").is_some() {
                    self.push(
                        Diagnostic::error("`action: docker.run` takes its container from `with:`, not `container:`", join(&path, "container"), key_span("container"))
                            .with_help("remove `action: docker.run` to use `container:`, or move the settings under `with:`"),
                    );
                }
                let dr = self.docker_run(with, &path, node.span);
                if let (Some(d), Some(r)) = (&dr, node.get("run")) {
                    if d.command.is_some() {
                        self.push(
                            Diagnostic::error(
                                "the command is given twice: `run` and `with.command`",
                                join(&path, "run"),
                                r.span,
                            )
                            .with_help("keep one of them"),
                        );
                    }
                }
                dr.map(|d| Action::DockerRun(Box::new(d)))
                    .unwrap_or(Action::Command)
            }
            Some("harness.run") => {
                if let Some(r) = node.get("run") {
                    self.push(
                        Diagnostic::error("a harness step takes no `run`", join(&path, "run"), r.span)
                            .with_help("the provider's command line is built from `with.provider` and `with.prompt`"),
                    );
                }
                let harness_in_container =
                    node.get("container").is_some() || dag_container.is_some();
                if let Some(Container::Image(img)) = &container {
                    if let Some(n) = &img.name {
                        self.push(
                            Diagnostic::error("a harness step's container cannot have a `name`", join(&path, "container.name"), n.span)
                                .with_help("each attempt (and each fallback provider) gets a fresh container; remove `name`"),
                        );
                    }
                }
                self.harness_run(
                    with,
                    &path,
                    node.span,
                    defaults,
                    customs,
                    harness_in_container,
                )
                .map(|h| Action::HarnessRun(Box::new(h)))
                .unwrap_or(Action::Command)
            }
            Some("dag.run") => {
                for k in ["run", "container"] {
                    if node.get(k).is_some() {
                        self.push(
                            Diagnostic::error(
                                format!("a `dag.run` step takes no `{k}`"),
                                join(&path, k),
                                key_span(k),
                            )
                            .with_help("the sub-workflow's own steps say what runs, and where"),
                        );
                    }
                }
                let parallel = node.get("parallel").is_some();
                self.dag_run(with, &path, node.span, parallel)
                    .map(Action::DagRun)
                    .unwrap_or(Action::Command)
            }
            Some(_) => Action::Command,
        };

        if in_container {
            if let Run::Script(t) = &run {
                self.push(
                    Diagnostic::error("a multi-line `run` cannot run inside a container", join(&path, "run"), t.span)
                        .with_help("give the commands as a list (`run: [cmd1, cmd2]`, run in order in the same container), or put the script in a file and run that file")
                        .with_note("in Dagu: action \"docker\" does not support script field", None),
                );
            }
        }

        let parallel = node.get("parallel").and_then(|n| {
            if action_name.as_deref() != Some("dag.run") {
                self.push(
                    Diagnostic::error("`parallel` is only supported with `action: dag.run`", join(&path, "parallel"), key_span("parallel"))
                        .with_help("fan out by running a sub-workflow per item: `action: dag.run`, `with: {dag: NAME, params: {X: ${ITEM}}}`"),
                );
                return None;
            }
            self.parallel(n, &join(&path, "parallel"))
        });
        let output = node.get("output").and_then(|n| {
            let field = join(&path, "output");
            let t = self.nonempty(n, &field, "`output`")?;
            let name = t.raw.strip_prefix('$').unwrap_or(&t.raw);
            if !is_identifier(name) {
                self.push(
                    Diagnostic::error(
                        format!("`{}` is not a valid output variable name", t.raw),
                        field,
                        n.span,
                    )
                    .with_allowed(
                        "letters, digits and `_`, not starting with a digit, e.g. `ALPINE_VERSION`",
                    ),
                );
                return None;
            }
            Some(name.to_string())
        });
        let stdout_artifact = node
            .get("stdout")
            .and_then(|n| self.stdout(n, &join(&path, "stdout")));
        let working_dir = self.opt_text(node, &path, "working_dir");
        let shell = node
            .get("shell")
            .and_then(|n| self.shell(n, &join(&path, "shell")));
        if let (Some(_), Some(n)) = (&shell, node.get("shell")) {
            // As Dagu, a container step's command goes through `container.shell` (or runs
            // directly); the step's own `shell` is for the host. Say so instead of dropping it.
            if in_container && !matches!(action_name.as_deref(), Some("harness.run")) {
                let help = if is_docker_run {
                    "use `with.shell:` for `action: docker.run`"
                } else if node.get("container").is_some() {
                    "use `container.shell:` of this step's container (e.g. `shell: sh -x`)"
                } else {
                    "use `shell:` of the DAG-level `container:` (it applies to every step in it)"
                };
                self.push(
                    Diagnostic::warning(
                        "a step's `shell` is not used in a container: its command runs through the container's `shell`, or directly",
                        join(&path, "shell"),
                        n.span,
                    )
                    .with_help(help),
                );
            }
        }
        let retry_policy = node
            .get("retry_policy")
            .and_then(|n| self.retry_policy(n, &join(&path, "retry_policy")));
        let preconditions = node
            .get("preconditions")
            .map(|n| self.preconditions(n, &join(&path, "preconditions")))
            .unwrap_or_default();
        let continue_on = node
            .get("continue_on")
            .map(|n| self.continue_on(n, &join(&path, "continue_on")))
            .unwrap_or_default();
        let timeout = node
            .get("timeout_sec")
            .and_then(|n| self.int(n, &join(&path, "timeout_sec"), "`timeout_sec`", 0, i64::MAX))
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64));
        let signal_on_stop = node
            .get("signal_on_stop")
            .and_then(|n| self.signal(n, &join(&path, "signal_on_stop")));

        let mut depends = Vec::new();
        let depends_span = node.get("depends").map(|n| n.span);
        if let Some(n) = node.get("depends") {
            let field = join(&path, "depends");
            match &n.value {
                Value::Seq(items) => {
                    for (k, item) in items.iter().enumerate() {
                        if let Some(t) = self.nonempty(item, &index(&field, k), "a `depends` entry")
                        {
                            depends.push((t.raw, item.span, index(&field, k)));
                        }
                    }
                }
                _ if n.is_null() => {}
                _ => {
                    if let Some(t) = self.nonempty(n, &field, "`depends`") {
                        depends.push((t.raw, n.span, field));
                    }
                }
            }
        }

        let kind = match action_name.as_deref() {
            Some("docker.run" | "container.run") => "docker",
            Some("harness.run") => "harness",
            Some("dag.run") => "dag",
            _ => "cmd",
        };
        let (step_id, id_span) = match (&id, &name) {
            (Some((id, s)), _) => (id.clone(), Some(*s)),
            (None, Some((name, _))) => (name.clone(), None),
            (None, None) => (format!("{kind}_{}", i + 1), None),
        };
        let step_name = name
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| step_id.clone());
        self.current_step = None;
        self.step_env.clear();
        Some(StepDraft {
            step: Step {
                id: step_id,
                name: step_name,
                description,
                span: node.span,
                run,
                depends: Vec::new(),
                container,
                action,
                output,
                stdout_artifact,
                env,
                working_dir,
                shell,
                parallel,
                retry_policy,
                preconditions,
                continue_on,
                timeout,
                signal_on_stop,
            },
            depends,
            id_span,
            name_span: name.map(|(_, s)| s),
            depends_span,
        })
    }

    /// `run:` as one command, a list of commands, or a multi-line script.
    fn run(&mut self, node: &Node, path: &str) -> Run {
        match &node.value {
            Value::Seq(items) => {
                if items.is_empty() {
                    self.push(
                        Diagnostic::error("`run` is an empty list", path, node.span)
                            .with_help("give at least one command"),
                    );
                    return Run::None;
                }
                let mut out = Vec::new();
                for (k, item) in items.iter().enumerate() {
                    let p = index(path, k);
                    let Some(t) = self.nonempty(item, &p, "a command") else {
                        continue;
                    };
                    if t.raw.trim_end().contains('\n') {
                        self.push(
                            Diagnostic::error(
                                "each command of a `run` list must be one line",
                                &p,
                                item.span,
                            )
                            .with_help("split it into several list items"),
                        );
                        continue;
                    }
                    self.check_words(&t, &p);
                    self.defer(&t, &p, RefKind::Command);
                    out.push(t);
                }
                Run::Commands(out)
            }
            _ => {
                let Some(t) = self.nonempty(node, path, "`run`") else {
                    return Run::None;
                };
                self.defer(&t, path, RefKind::Command);
                if t.raw.trim_end().contains('\n') {
                    Run::Script(Text::new(t.raw, t.span))
                } else {
                    self.check_words(&t, path);
                    Run::Command(t)
                }
            }
        }
    }

    fn check_words(&mut self, t: &Text, path: &str) {
        if let Err(e) = super::super::shell_words::split(&t.raw) {
            self.push(
                Diagnostic::error(
                    format!("cannot split the command into words: {}", e.describe()),
                    path,
                    t.span,
                )
                .with_help("close the quote, or escape it with `\\`"),
            );
        }
    }
}
