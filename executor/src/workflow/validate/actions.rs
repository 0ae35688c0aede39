//! `action:` values and their `with:` blocks: `docker.run` (alias `container.run`),
//! `harness.run` and `dag.run`; and the top-level `harnesses:` and `harness:` blocks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::super::diagnostic::Diagnostic;
use super::super::engine_fields;
use super::super::model::{
    BuiltinProvider, DagRun, DockerRun, FlagStyle, HarnessDef, HarnessOption, HarnessRun,
    PromptMode, PromptPosition, Provider, PullPolicy, SubWorkflowRef, Text,
};
use super::super::span::Span;
use super::super::suggest;
use super::super::yaml::{Node, Value};
use super::checker::{index, join, list, Checker, RefKind};

pub(crate) const ACTIONS: &[&str] = &["docker.run", "container.run", "harness.run", "dag.run"];

const DOCKER_RUN_FIELDS: &[&str] = &[
    "image",
    "container_name",
    "command",
    "working_dir",
    "volumes",
    "auto_remove",
    "platform",
    "pull",
    "shell",
    "container",
    "host",
    "network",
    "exec",
];

const HARNESS_DEF_FIELDS: &[&str] = &[
    "binary",
    "prefix_args",
    "prompt_mode",
    "prompt_flag",
    "prompt_position",
    "flag_style",
    "option_flags",
];

/// Harness settings after the top-level `harness:` defaults.
#[derive(Clone, Debug, Default)]
pub(crate) struct HarnessDefaults {
    pub(crate) provider: Option<(String, Span)>,
    pub(crate) fallback: Option<Vec<(String, Span)>>,
    pub(crate) options: BTreeMap<String, HarnessOption>,
}

fn docker_hint(key: &str) -> Option<&'static str> {
    match key {
        "name" => Some("in `docker.run` the container's name is `container_name:`"),
        "pull_policy" => Some("in `docker.run` the pull policy is `pull:`"),
        "env" | "user" | "ports" => Some(
            "pass it through `with.container` (e.g. `container: {Env: [\"A=1\"], User: \"1000\"}`), \
             or use a step-level `container:` instead of `docker.run`",
        ),
        _ => None,
    }
}

/// Well-known fields of each pass-through map, for help texts.
fn examples(key: &str) -> &'static str {
    match key {
        "host" => "`Memory`, `CpuShares`, `NanoCpus`, `Privileged`, `CapAdd`, `ShmSize`",
        "container" => "`Env`, `User`, `Labels`, `Entrypoint`, `Hostname`, `StopSignal`",
        "network" => "`EndpointsConfig`",
        _ => "`User`, `Env`, `WorkingDir`, `Privileged`, `Tty`",
    }
}

impl Checker<'_> {
    /// `action: docker.run` / `container.run`.
    pub(crate) fn docker_run(
        &mut self,
        with: Option<&Node>,
        path: &str,
        step_span: Span,
    ) -> Option<DockerRun> {
        let Some(with) = with else {
            self.push(
                Diagnostic::error(
                    "`action: docker.run` needs a `with:` block",
                    path,
                    step_span,
                )
                .with_help("e.g. `with: {image: alpine:3, command: echo hi}`"),
            );
            return None;
        };
        let wpath = join(path, "with");
        let entries = self.map(with, &wpath, "`with` of docker.run")?;
        self.keys(
            entries,
            &wpath,
            "`with` of docker.run",
            DOCKER_RUN_FIELDS,
            docker_hint,
        );
        let image = with
            .get("image")
            .and_then(|n| self.image(n, &join(&wpath, "image")));
        let container_name = self.opt_text(with, &wpath, "container_name");
        let command = with
            .get("command")
            .and_then(|n| self.command(n, &join(&wpath, "command")));
        let working_dir = self.opt_text(with, &wpath, "working_dir");
        let volumes = with
            .get("volumes")
            .map(|n| self.volumes(n, &join(&wpath, "volumes")))
            .unwrap_or_default();
        let auto_remove = with
            .get("auto_remove")
            .and_then(|n| self.bool(n, &join(&wpath, "auto_remove"), "`auto_remove`"))
            .unwrap_or(false);
        let platform = with
            .get("platform")
            .and_then(|n| self.platform(n, &join(&wpath, "platform")));
        let pull = match with.get("pull") {
            Some(n) => self
                .pull_policy(n, &join(&wpath, "pull"))
                .unwrap_or_default(),
            None => PullPolicy::Missing,
        };
        let shell = with
            .get("shell")
            .and_then(|n| self.shell(n, &join(&wpath, "shell")));
        let container = self.passthrough(
            with,
            &wpath,
            "container",
            engine_fields::CONTAINER,
            "Config",
        );
        let mut host = self.passthrough(with, &wpath, "host", engine_fields::HOST, "HostConfig");
        let network = self.passthrough(
            with,
            &wpath,
            "network",
            engine_fields::NETWORK,
            "NetworkingConfig",
        );
        let exec = self.passthrough(with, &wpath, "exec", engine_fields::EXEC, "exec options");
        if let Some(node) = with.get("exec") {
            self.exec_option_values(node, &join(&wpath, "exec"));
        }
        if host.contains_key("AutoRemove") {
            let span = with.get("host").map(|n| n.span).unwrap_or(with.span);
            self.push(
                Diagnostic::warning("`host.AutoRemove` is managed by tug", join(&wpath, "host.AutoRemove"), span)
                    .with_help("use `auto_remove: true`; tug removes the container itself so that it can read its exit code and logs first"),
            );
            host.remove("AutoRemove");
        }
        if image.is_none() && container_name.is_none() && with.get("image").is_none() {
            self.push(
                Diagnostic::error("container_name or image must be specified", &wpath, with.span)
                    .with_help("`image:` creates a new container; `container_name:` alone runs in an existing one"),
            );
        }
        if !exec.is_empty() {
            let span = with.get("exec").map(|n| n.span).unwrap_or(with.span);
            if container_name.is_none() {
                self.push(
                    Diagnostic::error(
                        "`exec` options require `container_name` (exec-in-existing mode)",
                        join(&wpath, "exec"),
                        span,
                    )
                    .with_help("add `container_name:` naming the running container"),
                );
            } else if image.is_some() {
                self.push(
                    Diagnostic::error("`exec` options apply only when running in an existing container", join(&wpath, "exec"), span)
                        .with_help("remove `image:` to exec into `container_name`, or remove `exec:` to create a new container"),
                );
            }
        }
        Some(DockerRun {
            image,
            container_name,
            command,
            working_dir,
            volumes,
            auto_remove,
            platform,
            pull,
            shell,
            container,
            host,
            network,
            exec,
            span: with.span,
        })
    }

    /// The values of `with.exec`, checked against what `POST /containers/{id}/exec` takes, so a
    /// wrong type is an error here rather than an engine's 400 mid-run.
    fn exec_option_values(&mut self, node: &Node, path: &str) {
        let Some(entries) = self.map(node, path, "`exec`") else {
            return;
        };
        for e in entries {
            let Some(k) = e.key.as_text() else { continue };
            let Some(canon) = engine_fields::canonical(engine_fields::EXEC, k) else {
                continue; // reported by `passthrough`
            };
            let v = e.value.to_json();
            let at = join(path, k);
            let expected = match canon {
                "Cmd" => {
                    self.push(
                        Diagnostic::error(
                            "`exec.Cmd` cannot be given: the step's command is the exec's",
                            &at,
                            e.key.span,
                        )
                        .with_help("put the command in `command:` (or the step's `run:`)"),
                    );
                    continue;
                }
                "AttachStdin" => {
                    if v == serde_json::Value::Bool(true) {
                        self.push(Diagnostic::warning(
                            "`exec.AttachStdin` is ignored: a step has no stdin",
                            &at,
                            e.value.span,
                        ));
                    } else if !v.is_boolean() {
                        self.push(Diagnostic::error(
                            format!("`{k}` must be true or false"),
                            &at,
                            e.value.span,
                        ));
                    }
                    continue;
                }
                "AttachStdout" | "AttachStderr" | "Privileged" | "Tty" => {
                    if v.is_boolean() {
                        continue;
                    }
                    "true or false"
                }
                "User" | "WorkingDir" | "DetachKeys" => {
                    if v.is_string() {
                        continue;
                    }
                    "a string"
                }
                "Env" => {
                    let ok = v
                        .as_array()
                        .is_some_and(|a| a.iter().all(serde_json::Value::is_string));
                    if ok {
                        continue;
                    }
                    "a list of KEY=VALUE strings"
                }
                "ConsoleSize" => {
                    let ok = v
                        .as_array()
                        .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x.as_u64().is_some()));
                    if ok {
                        continue;
                    }
                    "[height, width], two non-negative integers"
                }
                _ => continue,
            };
            self.push(Diagnostic::error(
                format!("`{k}` must be {expected}"),
                &at,
                e.value.span,
            ));
        }
    }

    /// A pass-through map: keys matched case-insensitively to Engine API names.
    fn passthrough(
        &mut self,
        with: &Node,
        wpath: &str,
        key: &str,
        fields: &'static [&'static str],
        what: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        let Some(node) = with.get(key) else {
            return out;
        };
        let path = join(wpath, key);
        let Some(entries) = self.map(node, &path, &format!("`{key}`")) else {
            return out;
        };
        for e in entries {
            let Some(k) = e.key.as_text() else { continue };
            match engine_fields::canonical(fields, k) {
                Some(canon) => {
                    if out.contains_key(canon) {
                        self.push(Diagnostic::error(
                            format!(
                                "`{k}` is given twice (keys are matched without regard to case)"
                            ),
                            join(&path, k),
                            e.key.span,
                        ));
                    }
                    out.insert(canon.to_string(), e.value.to_json());
                }
                None => {
                    let lower: Vec<String> =
                        fields.iter().map(|f| f.to_ascii_lowercase()).collect();
                    let near =
                        suggest::nearest(&k.to_ascii_lowercase(), lower.iter().map(String::as_str))
                            .and_then(|l| {
                                fields.iter().find(|f| f.eq_ignore_ascii_case(l)).copied()
                            });
                    self.push(
                        Diagnostic::error(format!("`{k}` is not a field of the Engine API's {what}"), join(&path, k), e.key.span)
                            .with_suggestion(near)
                            .with_help(format!("`{key}` is passed to the engine as its {what}; keys are Engine API field names such as {}", examples(key))),
                    );
                }
            }
        }
        out
    }

    /// Top-level `harnesses:`.
    pub(crate) fn harnesses(&mut self, node: &Node, path: &str) -> BTreeMap<String, HarnessDef> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.map(node, path, "`harnesses`") else {
            return out;
        };
        for e in entries {
            let Some(name) = e.key.as_text() else {
                continue;
            };
            let dpath = join(path, name);
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                || name.is_empty()
            {
                self.push(
                    Diagnostic::error(
                        format!("`{name}` is not a valid harness name"),
                        &dpath,
                        e.key.span,
                    )
                    .with_allowed("letters, digits, `_` and `-`"),
                );
                continue;
            }
            // `name: null` removes an inherited definition: nothing to define here.
            if e.value.is_null() {
                continue;
            }
            // An invalid definition still declares the name, so steps using it do not get a
            // second, misleading "unknown provider".
            let def = self.harness_def(&e.value, &dpath).unwrap_or(HarnessDef {
                binary: String::new(),
                prefix_args: Vec::new(),
                prompt_mode: PromptMode::Arg,
                prompt_position: PromptPosition::default(),
                flag_style: FlagStyle::default(),
                option_flags: BTreeMap::new(),
                span: e.value.span,
            });
            out.insert(name.to_string(), def);
        }
        out
    }

    fn harness_def(&mut self, node: &Node, path: &str) -> Option<HarnessDef> {
        let entries = self.map(node, path, "a harness definition")?;
        self.keys(
            entries,
            path,
            "a harness definition",
            HARNESS_DEF_FIELDS,
            |_| None,
        );
        let binary = match node.get("binary") {
            Some(n) => self.nonempty(n, &join(path, "binary"), "`binary`"),
            None => {
                self.push(
                    Diagnostic::error("binary is required", path, node.span)
                        .with_help("name the program to run, e.g. `binary: sh`"),
                );
                None
            }
        };
        let prefix_args = node
            .get("prefix_args")
            .and_then(|n| {
                self.seq(n, &join(path, "prefix_args"), "`prefix_args`")?;
                self.text_list(n, &join(path, "prefix_args"), "a prefix argument")
            })
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.raw)
            .collect();
        #[derive(Clone, Copy)]
        enum Mode {
            Arg,
            Flag,
            Stdin,
        }
        let mode = match node.get("prompt_mode") {
            Some(n) => self.choice(
                n,
                &join(path, "prompt_mode"),
                "`prompt_mode`",
                &[
                    ("arg", Mode::Arg),
                    ("flag", Mode::Flag),
                    ("stdin", Mode::Stdin),
                ],
            ),
            None => Some(Mode::Arg),
        };
        let prompt_flag = node
            .get("prompt_flag")
            .and_then(|n| self.nonempty(n, &join(path, "prompt_flag"), "`prompt_flag`"));
        let prompt_mode = match mode {
            Some(Mode::Arg) => PromptMode::Arg,
            Some(Mode::Stdin) => PromptMode::Stdin,
            Some(Mode::Flag) => match prompt_flag {
                Some(f) => PromptMode::Flag(f.raw),
                None => {
                    let span = node.get("prompt_mode").map(|n| n.span).unwrap_or(node.span);
                    self.push(
                        Diagnostic::error(
                            "`prompt_mode: flag` requires `prompt_flag`",
                            join(path, "prompt_mode"),
                            span,
                        )
                        .with_help("e.g. `prompt_flag: --prompt`"),
                    );
                    PromptMode::Arg
                }
            },
            None => PromptMode::Arg,
        };
        let prompt_position = node
            .get("prompt_position")
            .and_then(|n| {
                self.choice(
                    n,
                    &join(path, "prompt_position"),
                    "`prompt_position`",
                    &[
                        ("before_flags", PromptPosition::BeforeFlags),
                        ("after_flags", PromptPosition::AfterFlags),
                    ],
                )
            })
            .unwrap_or_default();
        let flag_style = node
            .get("flag_style")
            .and_then(|n| {
                self.choice(
                    n,
                    &join(path, "flag_style"),
                    "`flag_style`",
                    &[
                        ("gnu_long", FlagStyle::GnuLong),
                        ("single_dash", FlagStyle::SingleDash),
                    ],
                )
            })
            .unwrap_or_default();
        let mut option_flags = BTreeMap::new();
        if let Some(n) = node.get("option_flags") {
            let fpath = join(path, "option_flags");
            if let Some(entries) = self.map(n, &fpath, "`option_flags`") {
                for e in entries {
                    let Some(k) = e.key.as_text() else { continue };
                    if let Some(v) = self.nonempty(&e.value, &join(&fpath, k), "a flag") {
                        option_flags.insert(k.to_string(), v.raw);
                    }
                }
            }
        }
        Some(HarnessDef {
            binary: binary?.raw,
            prefix_args,
            prompt_mode,
            prompt_position,
            flag_style,
            option_flags,
            span: node.span,
        })
    }

    /// Top-level `harness:` defaults.
    pub(crate) fn harness_defaults(&mut self, node: &Node, path: &str) -> HarnessDefaults {
        let mut d = HarnessDefaults::default();
        let Some(entries) = self.map(node, path, "`harness`") else {
            return d;
        };
        for e in entries {
            let Some(k) = e.key.as_text() else { continue };
            let field = join(path, k);
            match k {
                "provider" => {
                    if let Some(t) = self.nonempty(&e.value, &field, "`provider`") {
                        d.provider = Some((t.raw, e.value.span));
                    }
                }
                "fallback" => d.fallback = self.fallback(&e.value, &field),
                "prompt" | "stdin" | "managed" => self.push(
                    Diagnostic::error(
                        format!("`{k}` cannot be a default for every harness step"),
                        field,
                        e.key.span,
                    )
                    .with_help(format!("set `{k}` in each step's `with:`")),
                ),
                _ => {
                    // `key: null` sets no default (Dagu drops a null option rather than
                    // passing `--key null`).
                    if e.value.is_null() {
                        d.options.remove(k);
                    } else if let Some(o) = self.harness_option(&e.value, &field) {
                        d.options.insert(k.to_string(), o);
                    }
                }
            }
        }
        d
    }

    fn fallback(&mut self, node: &Node, path: &str) -> Option<Vec<(String, Span)>> {
        let items = self.seq(node, path, "`fallback`")?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(t) = self.nonempty(item, &index(path, i), "a fallback provider") {
                out.push((t.raw, item.span));
            }
        }
        Some(out)
    }

    fn harness_option(&mut self, node: &Node, path: &str) -> Option<HarnessOption> {
        match &node.value {
            Value::Scalar(s) => {
                if let Some(b) = s.as_bool() {
                    Some(HarnessOption::Flag(b))
                } else if s.plain && s.as_f64().is_some() {
                    Some(HarnessOption::Number(s.text.clone()))
                } else {
                    let t = Text::new(s.text.clone(), node.span);
                    self.defer(&t, path, RefKind::Plain);
                    Some(HarnessOption::Text(t))
                }
            }
            Value::Seq(_) => {
                let items = self.text_list(node, path, "a list item of a harness option")?;
                Some(HarnessOption::List(items))
            }
            Value::Map(_) => {
                self.push(
                    Diagnostic::error("a harness option must be a string, number, boolean or list", path, node.span)
                        .with_help("each `with` key becomes a command-line flag: `model: sonnet` gives `--model sonnet`"),
                );
                None
            }
        }
    }

    /// Resolves a provider name; a near miss of a known name is an error, anything else a
    /// warning (the name may be a placeholder; the step fails when it runs).
    fn provider(
        &mut self,
        name: &str,
        span: Span,
        path: &str,
        customs: &BTreeMap<String, HarnessDef>,
    ) -> Provider {
        if customs.contains_key(name) {
            return Provider::Custom(name.to_string());
        }
        if let Some((_, b)) = BuiltinProvider::ALL.iter().find(|(n, _)| *n == name) {
            return Provider::Builtin(*b);
        }
        let known: Vec<&str> = BuiltinProvider::ALL
            .iter()
            .map(|(n, _)| *n)
            .chain(customs.keys().map(String::as_str))
            .collect();
        let near = suggest::nearest(name, known.iter().copied());
        let msg = format!("unknown harness provider `{name}`");
        let d = if near.is_some() {
            Diagnostic::error(msg, path, span)
        } else {
            Diagnostic::warning(msg, path, span)
                .with_help("define it under top-level `harnesses:` with its `binary:`, or the step fails when it runs")
        };
        self.push(
            d.with_allowed(format!(
                "built-in {}, or a name defined under `harnesses:`",
                list(
                    &BuiltinProvider::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                )
            ))
            .with_suggestion(near),
        );
        Provider::Unknown(name.to_string())
    }

    /// `action: harness.run`.
    pub(crate) fn harness_run(
        &mut self,
        with: Option<&Node>,
        path: &str,
        step_span: Span,
        defaults: &HarnessDefaults,
        customs: &BTreeMap<String, HarnessDef>,
        in_container: bool,
    ) -> Option<HarnessRun> {
        let wpath = join(path, "with");
        let Some(with) = with else {
            self.push(
                Diagnostic::error(
                    "`action: harness.run` needs a `with:` block with a `prompt`",
                    path,
                    step_span,
                )
                .with_help("e.g. `with: {provider: claude, prompt: \"Review this repository.\"}`"),
            );
            return None;
        };
        let entries = self.map(with, &wpath, "`with` of harness.run")?;
        let mut provider = defaults.provider.clone();
        let mut fallback = defaults.fallback.clone();
        let mut options = defaults.options.clone();
        let mut prompt = None;
        let mut stdin = None;
        for e in entries {
            let Some(k) = e.key.as_text() else { continue };
            let field = join(&wpath, k);
            match k {
                "provider" => {
                    provider = self
                        .nonempty(&e.value, &field, "`provider`")
                        .map(|t| (t.raw, e.value.span))
                }
                "prompt" => {
                    prompt = self.nonempty(&e.value, &field, "`prompt`");
                    if let Some(p) = &prompt {
                        self.defer(p, &field, RefKind::Command);
                    }
                }
                "fallback" => fallback = self.fallback(&e.value, &field),
                "stdin" => {
                    if in_container {
                        self.push(
                            Diagnostic::error("`stdin` is not supported for harness steps that run in a container", field, e.key.span)
                                .with_help("put the text in `prompt`, or run the step on the host"),
                        );
                    } else {
                        stdin = self.text(&e.value, &field, "`stdin`");
                    }
                }
                "managed" => self.push(Diagnostic::error(
                    "`managed` harness runs are not supported by tug",
                    field,
                    e.key.span,
                )),
                _ => {
                    if e.value.is_null() {
                        // `key: null` deletes a default inherited from `harness:`.
                        options.remove(k);
                    } else if let Some(o) = self.harness_option(&e.value, &field) {
                        options.insert(k.to_string(), o);
                    }
                }
            }
        }
        let provider = match provider {
            Some((name, span)) => self.provider(&name, span, &join(&wpath, "provider"), customs),
            None => {
                self.push(
                    Diagnostic::error("harness step has no `provider`", &wpath, with.span)
                        .with_help(
                            "set `with.provider`, or a default in the top-level `harness:` block",
                        )
                        .with_allowed(format!(
                            "built-in {}, or a name defined under `harnesses:`",
                            list(
                                &BuiltinProvider::ALL
                                    .iter()
                                    .map(|(n, _)| *n)
                                    .collect::<Vec<_>>()
                            )
                        )),
                );
                return None;
            }
        };
        if in_container {
            if let Provider::Custom(name) = &provider {
                if customs
                    .get(name)
                    .is_some_and(|d| d.prompt_mode == PromptMode::Stdin)
                {
                    let span = with.get("provider").map(|n| n.span).unwrap_or(with.span);
                    self.push(
                        Diagnostic::error(format!("harness `{name}` takes its prompt on stdin, which is not supported in a container"), join(&wpath, "provider"), span)
                            .with_help("use `prompt_mode: arg` or `flag` for this harness, or run the step on the host"),
                    );
                }
            }
        }
        let fallback = fallback
            .unwrap_or_default()
            .into_iter()
            .map(|(n, s)| self.provider(&n, s, &join(&wpath, "fallback"), customs))
            .collect();
        let Some(prompt) = prompt else {
            self.push(
                Diagnostic::error("harness step has no `prompt`", &wpath, with.span)
                    .with_help("add `prompt:` with the instructions for the agent"),
            );
            return None;
        };
        Some(HarnessRun {
            provider,
            prompt,
            fallback,
            options,
            stdin,
            span: with.span,
        })
    }

    /// `action: dag.run`.
    pub(crate) fn dag_run(
        &mut self,
        with: Option<&Node>,
        path: &str,
        step_span: Span,
        item_allowed: bool,
    ) -> Option<DagRun> {
        let wpath = join(path, "with");
        let Some(with) = with else {
            self.push(
                Diagnostic::error("`action: dag.run` needs `with.dag`", path, step_span)
                    .with_help("e.g. `with: {dag: run-tests, params: {IMAGE: alpine}}`"),
            );
            return None;
        };
        let entries = self.map(with, &wpath, "`with` of dag.run")?;
        self.keys(
            entries,
            &wpath,
            "`with` of dag.run",
            &["dag", "params"],
            |_| None,
        );
        let dag = match with.get("dag") {
            Some(n) => self.nonempty(n, &join(&wpath, "dag"), "`dag`"),
            None => {
                self.push(Diagnostic::error(
                    "`with.dag` is required: the sub-workflow to run",
                    &wpath,
                    with.span,
                ));
                None
            }
        };
        let params = match with.get("params") {
            Some(n) => self.dag_params(n, &join(&wpath, "params"), item_allowed),
            None => Vec::new(),
        };
        let dag = dag?;
        let target = if dag.is_static() {
            self.sub_workflow_target(&dag, &join(&wpath, "dag"))?
        } else {
            self.defer_with(&dag, &join(&wpath, "dag"), RefKind::Plain, item_allowed);
            SubWorkflowRef::Deferred(dag.clone())
        };
        Some(DagRun {
            dag,
            target,
            params,
        })
    }

    fn dag_params(&mut self, node: &Node, path: &str, item_allowed: bool) -> Vec<(String, Text)> {
        let mut out = Vec::new();
        match &node.value {
            Value::Map(entries) => {
                for e in entries {
                    let Some(k) = e.key.as_text() else { continue };
                    let field = join(path, k);
                    let v = if e.value.is_null() {
                        Some(Text::new("", e.value.span))
                    } else {
                        self.text(&e.value, &field, "a parameter value")
                    };
                    if let Some(v) = v {
                        self.defer_with(&v, &field, RefKind::Plain, item_allowed);
                        out.push((k.to_string(), v));
                    }
                }
            }
            Value::Scalar(_) => {
                let Some(t) = self.text(node, path, "`params`") else {
                    return out;
                };
                match super::super::shell_words::split(&t.raw) {
                    Ok(words) => {
                        for w in words {
                            match w.split_once('=') {
                                Some((k, v)) => out.push((k.to_string(), Text::new(v, t.span))),
                                None => self.push(
                                    Diagnostic::error(
                                        format!("parameter `{w}` has no `=`"),
                                        path,
                                        node.span,
                                    )
                                    .with_allowed("`KEY=VALUE` words, or a mapping"),
                                ),
                            }
                        }
                        for (_, v) in &out {
                            self.defer_with(v, path, RefKind::Plain, item_allowed);
                        }
                    }
                    Err(e) => self.push(Diagnostic::error(
                        format!("cannot split `params`: {}", e.describe()),
                        path,
                        node.span,
                    )),
                }
            }
            Value::Seq(_) => {
                for v in self.env(node, path) {
                    self.defer_with(&v.value, path, RefKind::Plain, item_allowed);
                    out.push((v.name, v.value));
                }
            }
        }
        out
    }

    fn sub_workflow_target(&mut self, dag: &Text, path: &str) -> Option<SubWorkflowRef> {
        let name = dag.raw.as_str();
        if self.local_workflows.iter().any(|n| n == name) {
            return Some(SubWorkflowRef::Local(name.to_string()));
        }
        let mut tried: Vec<PathBuf> = Vec::new();
        let base = PathBuf::from(name);
        let base = if base.is_absolute() {
            base
        } else {
            self.file_dir.join(base)
        };
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            tried.push(base);
        } else {
            tried.push(base.with_file_name(format!(
                "{}.yaml",
                base.file_name().and_then(|s| s.to_str()).unwrap_or(name)
            )));
            tried.push(base.with_file_name(format!(
                "{}.yml",
                base.file_name().and_then(|s| s.to_str()).unwrap_or(name)
            )));
        }
        if let Some(found) = tried.iter().find(|p| self.host.is_file(p)) {
            return Some(SubWorkflowRef::File(super::super::volume::normalize(found)));
        }
        let near = suggest::nearest(name, self.local_workflows.iter().map(String::as_str));
        let have = if self.local_workflows.is_empty() {
            "this file has no sub-workflows (later `---` documents with a `name:`)".to_string()
        } else {
            format!(
                "sub-workflows in this file: {}",
                list(
                    &self
                        .local_workflows
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                )
            )
        };
        let looked: Vec<String> = tried
            .iter()
            .map(|p| format!("`{}`", super::super::volume::normalize(p).display()))
            .collect();
        self.push(
            Diagnostic::error(
                format!("sub-workflow `{name}` does not exist"),
                path,
                dag.span,
            )
            .with_suggestion(near)
            .with_note(have, None)
            .with_note(format!("no file {} either", looked.join(" or ")), None),
        );
        None
    }
}
