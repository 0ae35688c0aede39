//! One YAML document → one [`Workflow`]: the top-level fields, then the steps, then the
//! dependency graph and the late variable checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::super::diagnostic::{Diagnostic, Severity};
use super::super::expand::{self, Escapes};
use super::super::model::{
    DagType, Param, RegistryAuth, RegistryAuths, Text, Workflow, DEFAULT_MAX_OUTPUT_SIZE,
};
use super::super::span::Span;
use super::super::suggest;
use super::super::volume;
use super::super::yaml::{Node, Value};
use super::checker::{index, join, Checker, RefKind};
use super::container::Level;

pub(crate) const TOP_FIELDS: &[&str] = &[
    "name",
    "description",
    "type",
    "params",
    "env",
    "working_dir",
    "container",
    "registry_auths",
    "harnesses",
    "harness",
    "max_output_size",
    "timeout_sec",
    "steps",
];

fn top_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "schedule" | "skip_if_successful" | "restart_wait_sec" | "catchup" => {
            "tug runs workflows when asked; it has no scheduler, so Dagu's scheduling fields are not supported"
        }
        "handler_on" | "mail_on" | "smtp" | "error_mail" | "info_mail" => {
            "Dagu's lifecycle handlers and mail notifications are not supported by tug"
        }
        "group" | "tags" | "log_dir" | "hist_retention_days" | "max_active_runs" | "max_active_steps" | "queue"
        | "otel" | "dotenv" | "secrets" | "preconditions" | "delay_sec" | "max_clean_up_time_sec" | "shell" | "dir"
        | "resources" => "this Dagu field is not supported by tug",
        "workingDir" => "the field is `working_dir`",
        "registryAuths" | "registry_auth" => "the field is `registry_auths`",
        "harness_providers" | "providers" => "custom providers are defined under `harnesses:`",
        _ => return None,
    })
}

/// Options that apply to the first document only.
pub(crate) struct DocOptions<'o> {
    pub(crate) file_stem: &'o str,
    pub(crate) params: &'o [(String, String)],
    /// A later document: `name` is required.
    pub(crate) is_sub: bool,
}

impl Checker<'_> {
    /// Validates one document.
    pub(crate) fn document(
        &mut self,
        doc: &Node,
        opts: &DocOptions<'_>,
        file: &str,
        source: &Arc<str>,
    ) -> Option<Workflow> {
        if doc.is_null() {
            self.push(
                Diagnostic::error("the workflow is empty", "", doc.span)
                    .with_help("a workflow needs at least `steps:` with one step"),
            );
            return None;
        }
        let what = if opts.is_sub {
            "a sub-workflow document"
        } else {
            "a workflow"
        };
        let entries = self.map(doc, "", what)?;
        self.keys(entries, "", what, TOP_FIELDS, top_hint);

        let name = match doc.get("name") {
            Some(n) => self.nonempty(n, "name", "`name`").map(|t| {
                let ok = t
                    .raw
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b' '));
                if !ok {
                    self.push(
                        Diagnostic::error(
                            format!("`{}` is not a valid workflow name", t.raw),
                            "name",
                            n.span,
                        )
                        .with_allowed("letters, digits, spaces, `_`, `.` and `-`"),
                    );
                }
                t.raw
            }),
            None => {
                if opts.is_sub {
                    self.push(
                        Diagnostic::error("a sub-workflow document needs a `name`", "", doc.span)
                            .with_help(
                                "`dag.run` finds the documents after `---` by their `name:`",
                            ),
                    );
                }
                None
            }
        };
        let description = doc
            .get("description")
            .and_then(|n| self.text(n, "description", "`description`"))
            .map(|t| t.raw);
        let (dag_type, type_span) = match doc.get("type") {
            Some(n) => (
                self.choice(
                    n,
                    "type",
                    "`type`",
                    &[("graph", DagType::Graph), ("chain", DagType::Chain)],
                )
                .unwrap_or_default(),
                Some(n.span),
            ),
            None => (DagType::Graph, None),
        };

        // Scope: params (with overrides), then env in order; params win over env.
        let params = doc
            .get("params")
            .map(|n| self.params(n, "params"))
            .unwrap_or_default();
        let mut params = params;
        for (k, v) in opts.params {
            match params.iter_mut().find(|p| &p.name == k) {
                Some(p) => p.value = v.clone(),
                None => {
                    let near = suggest::nearest(k, params.iter().map(|p| p.name.as_str()));
                    self.push(
                        Diagnostic::general(Severity::Warning, format!("parameter `{k}` given on the command line is not declared in `params`"))
                            .with_suggestion(near),
                    );
                    params.push(Param {
                        name: k.clone(),
                        default: None,
                        value: v.clone(),
                    });
                }
            }
        }
        for p in &params {
            self.scope.set_param(&p.name, &p.value);
        }
        if opts.is_sub {
            self.dynamic = params.iter().map(|p| p.name.clone()).collect();
        }
        let env = doc
            .get("env")
            .map(|n| self.env(n, "env"))
            .unwrap_or_default();
        let host = self.host;
        let os = move |n: &str| host.var(n);
        for e in &env {
            let x = expand::expand(&e.value.raw, &self.scope, Some(&os), Escapes::Literal);
            for r in &x.unresolved {
                self.push(
                    Diagnostic::warning(
                        format!("`${{{}}}` is set neither in the workflow nor in tug's environment; `{}` keeps it as written", r.display(), e.name),
                        "env",
                        e.value.span,
                    ),
                );
            }
            self.scope.set(&e.name, x.text);
        }
        for p in &params {
            self.scope.set_param(&p.name, &p.value);
        }

        if let Some(n) = doc.get("working_dir") {
            if let Some(t) = self.nonempty(n, "working_dir", "`working_dir`") {
                let x = expand::expand(&t.raw, &self.scope, Some(&os), Escapes::Literal);
                let home = self.host.var("HOME");
                let raw = match (x.text.strip_prefix('~'), &home) {
                    (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
                        format!("{h}{rest}")
                    }
                    _ => x.text.clone(),
                };
                let p = PathBuf::from(raw);
                let p = if p.is_absolute() {
                    p
                } else {
                    self.file_dir.join(p)
                };
                self.working_dir = volume::normalize(&p);
            }
        }

        let container = doc
            .get("container")
            .and_then(|n| self.container(n, "container", Level::Dag));
        let registry_auths = doc
            .get("registry_auths")
            .and_then(|n| self.registry_auths(n, "registry_auths"));
        let harnesses = doc
            .get("harnesses")
            .map(|n| self.harnesses(n, "harnesses"))
            .unwrap_or_default();
        let defaults = doc
            .get("harness")
            .map(|n| self.harness_defaults(n, "harness"))
            .unwrap_or_default();
        let max_output_size = doc
            .get("max_output_size")
            .and_then(|n| {
                self.int(
                    n,
                    "max_output_size",
                    "`max_output_size` (bytes)",
                    1,
                    i64::MAX,
                )
            })
            .map(|n| n as u64)
            .unwrap_or(DEFAULT_MAX_OUTPUT_SIZE);
        let timeout = doc
            .get("timeout_sec")
            .and_then(|n| self.int(n, "timeout_sec", "`timeout_sec`", 0, i64::MAX))
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64));

        let mut drafts = Vec::new();
        match doc.get("steps") {
            None if entries
                .iter()
                .any(|e| e.key.as_text().is_some_and(|k| !TOP_FIELDS.contains(&k))) => {}
            None => self.push(
                Diagnostic::error("the workflow has no `steps`", "", doc.span).with_help(
                    "add `steps:` with at least one step, e.g. `- id: hello` / `run: echo hello`",
                ),
            ),
            Some(n) => match &n.value {
                Value::Seq(items) if items.is_empty() => self.push(Diagnostic::error(
                    "at least one step is required",
                    "steps",
                    n.span,
                )),
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(d) =
                            self.step(item, i, container.as_ref(), &defaults, &harnesses)
                        {
                            drafts.push(d);
                        } else {
                            // Keep indexes aligned with the file: a placeholder nobody depends on.
                            drafts.push(super::step::StepDraft {
                                step: placeholder(i, item.span),
                                depends: Vec::new(),
                                id_span: None,
                                name_span: None,
                                depends_span: None,
                            });
                        }
                    }
                }
                Value::Map(_) => self.push(
                    Diagnostic::error("`steps` must be a list, found a mapping", "steps", n.span)
                        .with_help("start each step with `- `, e.g. `- id: build`"),
                ),
                _ => self.push(Diagnostic::error(
                    format!("`steps` must be a list, found {}", n.kind()),
                    "steps",
                    n.span,
                )),
            },
        }
        let order = self.graph(&mut drafts, dag_type, type_span);
        let steps: Vec<_> = drafts.into_iter().map(|d| d.step).collect();
        let param_names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
        self.check_references(&steps, &param_names);

        Some(Workflow {
            name: name.unwrap_or_else(|| opts.file_stem.to_string()),
            description,
            dag_type,
            params,
            env,
            working_dir: self.working_dir.clone(),
            container,
            registry_auths,
            harnesses,
            max_output_size,
            timeout,
            order: order.unwrap_or_default(),
            steps,
            sub_workflows: BTreeMap::new(),
            scope: self.scope.clone(),
            file: file.to_string(),
            source: source.clone(),
        })
    }

    /// `params:` as a mapping, a list (`NAME=default`, `NAME: default`, or positional values),
    /// or one string of words.
    fn params(&mut self, node: &Node, path: &str) -> Vec<Param> {
        let mut out: Vec<Param> = Vec::new();
        let mut add =
            |c: &mut Self, name: String, default: Option<Text>, span: Span, field: String| {
                if out.iter().any(|p| p.name == name) {
                    c.push(Diagnostic::error(
                        format!("parameter `{name}` is declared twice"),
                        field,
                        span,
                    ));
                    return;
                }
                let value = default.as_ref().map(|d| d.raw.clone()).unwrap_or_default();
                out.push(Param {
                    name,
                    default,
                    value,
                });
            };
        let host = self.host;
        let os = move |n: &str| host.var(n);
        let mut positional = 0;
        match &node.value {
            Value::Map(entries) => {
                for e in entries {
                    let Some(k) = e.key.as_text() else { continue };
                    let field = join(path, k);
                    let d = if e.value.is_null() {
                        None
                    } else {
                        self.text(&e.value, &field, "a parameter default")
                    };
                    add(self, k.to_string(), d, e.key.span, field);
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = index(path, i);
                    match &item.value {
                        Value::Map(entries) if entries.len() == 1 => {
                            let e = &entries[0];
                            let Some(k) = e.key.as_text() else { continue };
                            let d = if e.value.is_null() { None } else { self.text(&e.value, &field, "a parameter default") };
                            add(self, k.to_string(), d, e.key.span, field);
                        }
                        Value::Scalar(s) if !s.is_null() => match s.text.split_once('=') {
                            Some((k, v)) if super::checker::is_identifier(k) => {
                                add(self, k.to_string(), Some(Text::new(v, item.span)), item.span, field)
                            }
                            _ => {
                                positional += 1;
                                add(self, positional.to_string(), Some(Text::new(s.text.clone(), item.span)), item.span, field);
                            }
                        },
                        _ => self.push(Diagnostic::error(
                            format!("a parameter must be `NAME: default`, `NAME=default` or a value, found {}", item.kind()),
                            field,
                            item.span,
                        )),
                    }
                }
            }
            Value::Scalar(s) if !s.is_null() => match super::super::shell_words::split(&s.text) {
                Ok(words) => {
                    for w in words {
                        match w.split_once('=') {
                            Some((k, v)) if super::checker::is_identifier(k) => add(
                                self,
                                k.to_string(),
                                Some(Text::new(v, node.span)),
                                node.span,
                                path.to_string(),
                            ),
                            _ => {
                                positional += 1;
                                add(
                                    self,
                                    positional.to_string(),
                                    Some(Text::new(w, node.span)),
                                    node.span,
                                    path.to_string(),
                                );
                            }
                        }
                    }
                }
                Err(e) => self.push(Diagnostic::error(
                    format!("cannot split `params`: {}", e.describe()),
                    path,
                    node.span,
                )),
            },
            _ => {}
        }
        for p in &mut out {
            if let Some(d) = &p.default {
                p.value = expand::expand(&d.raw, &self.scope, Some(&os), Escapes::Literal).text;
            }
        }
        out
    }

    fn registry_auths(&mut self, node: &Node, path: &str) -> Option<RegistryAuths> {
        match &node.value {
            Value::Scalar(_) => {
                let t = self.nonempty(node, path, "`registry_auths`")?;
                if t.is_static() {
                    let ok = serde_json::from_str::<serde_json::Value>(&t.raw)
                        .ok()
                        .is_some_and(|v| v.get("auths").is_some_and(|a| a.is_object()));
                    if !ok {
                        self.push(
                            Diagnostic::error("`registry_auths` as a string must hold a JSON document with an `auths` object", path, node.span)
                                .with_help("as in ~/.docker/config.json: {\"auths\": {\"ghcr.io\": {\"auth\": \"…\"}}}; or write a mapping of registry hosts"),
                        );
                    }
                } else {
                    self.defer(&t, path, RefKind::Plain);
                }
                Some(RegistryAuths::Json(t))
            }
            Value::Map(entries) => {
                let mut hosts = BTreeMap::new();
                for e in entries {
                    let Some(host) = e.key.as_text() else {
                        continue;
                    };
                    let field = join(path, host);
                    match &e.value.value {
                        Value::Scalar(_) => {
                            if let Some(t) = self.nonempty(&e.value, &field, "encoded credentials") {
                                self.check_encoded(&t, &field);
                                hosts.insert(host.to_string(), RegistryAuth::Encoded(t));
                            }
                        }
                        Value::Map(fields) => {
                            self.keys(fields, &field, "registry credentials", &["username", "password", "auth"], |k| {
                                (k == "user" || k == "token").then_some("the fields are `username` and `password`, or `auth`")
                            });
                            let get = |c: &mut Self, k: &str| {
                                e.value.get(k).and_then(|n| c.nonempty(n, &join(&field, k), &format!("`{k}`")))
                            };
                            let (u, p, a) = (get(self, "username"), get(self, "password"), get(self, "auth"));
                            match (u, p, a) {
                                (None, None, Some(a)) => {
                                    self.check_encoded(&a, &join(&field, "auth"));
                                    hosts.insert(host.to_string(), RegistryAuth::Encoded(a));
                                }
                                (Some(u), Some(p), None) => {
                                    self.defer(&u, &join(&field, "username"), RefKind::Plain);
                                    self.defer(&p, &join(&field, "password"), RefKind::Plain);
                                    hosts.insert(host.to_string(), RegistryAuth::Basic { username: u, password: p });
                                }
                                (_, _, Some(_)) => self.push(
                                    Diagnostic::error("give either `auth` or `username` and `password`, not both", &field, e.value.span),
                                ),
                                (u, _, None) => {
                                    let missing = if u.is_none() { "username" } else { "password" };
                                    self.push(
                                        Diagnostic::error(format!("registry credentials for `{host}` lack `{missing}`"), &field, e.value.span)
                                            .with_allowed("`username` and `password`, or `auth` (base64 of `username:password`)"),
                                    );
                                }
                            }
                        }
                        Value::Seq(_) => self.push(
                            Diagnostic::error("registry credentials must be a mapping or a base64 string, found a list", &field, e.value.span),
                        ),
                    }
                }
                Some(RegistryAuths::Hosts(hosts))
            }
            Value::Seq(_) => {
                self.push(
                    Diagnostic::error("`registry_auths` must be a mapping of registry hosts, or one JSON string, found a list", path, node.span),
                );
                None
            }
        }
    }

    fn check_encoded(&mut self, t: &Text, path: &str) {
        if !t.is_static() {
            self.defer(t, path, RefKind::Plain);
            return;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(t.raw.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if !decoded.is_some_and(|s| s.contains(':')) {
            self.push(
                Diagnostic::error(
                    "the encoded credentials are not base64 of `username:password`",
                    path,
                    t.span,
                )
                .with_help("encode with: printf '%s' 'user:password' | base64"),
            );
        }
    }
}

fn placeholder(i: usize, span: Span) -> super::super::model::Step {
    super::super::model::Step {
        id: format!("\u{0}invalid_{i}"),
        name: format!("\u{0}invalid_{i}"),
        description: None,
        span,
        run: super::super::model::Run::None,
        depends: Vec::new(),
        container: None,
        action: super::super::model::Action::Command,
        output: None,
        stdout_artifact: None,
        env: Vec::new(),
        working_dir: None,
        shell: None,
        parallel: None,
        retry_policy: None,
        preconditions: Vec::new(),
        continue_on: Default::default(),
        timeout: None,
        signal_on_stop: None,
    }
}

/// The directory of a workflow file, for relative paths.
/// Made absolute against the current directory: bind-mount sources resolved against it must be
/// absolute for the engine.
pub(crate) fn file_dir(path: Option<&Path>, fallback: &Path) -> PathBuf {
    let dir = match path.and_then(Path::parent) {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => fallback.to_path_buf(),
    };
    if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()
            .map(|cwd| crate::workflow::volume::normalize(&cwd.join(&dir)))
            .unwrap_or(dir)
    }
}
