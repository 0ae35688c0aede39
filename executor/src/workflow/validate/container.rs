//! The `container:` field at DAG and step level, in all its forms, and the specs it shares
//! with `docker.run` (image, volumes, ports, platform, network, pull policy).

use super::super::diagnostic::Diagnostic;
use super::super::expand;
use super::super::model::{
    CommandSpec, Container, ExecContainer, Healthcheck, ImageContainer, PullPolicy, RestartPolicy,
    Startup, Text, WaitFor,
};
use super::super::yaml::{Node, Value};
use super::super::{duration, image_ref, network, platform, port, shell_words, suggest, volume};
use super::checker::{index, join, list, Checker, RefKind};

/// Where a `container:` appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Dag,
    Step,
}

pub(crate) const CONTAINER_FIELDS: &[&str] = &[
    "exec",
    "image",
    "name",
    "pull_policy",
    "working_dir",
    "user",
    "platform",
    "env",
    "volumes",
    "ports",
    "network",
    "keep_container",
    "startup",
    "command",
    "wait_for",
    "log_pattern",
    "restart_policy",
    "healthcheck",
    "shell",
];

/// Fields exec mode accepts.
const EXEC_FIELDS: &[&str] = &["exec", "user", "working_dir", "env", "shell"];

/// Fields that only make sense on the one container a whole run shares.
const DAG_ONLY: &[&str] = &[
    "keep_container",
    "startup",
    "wait_for",
    "log_pattern",
    "restart_policy",
];

fn container_hint(key: &str) -> Option<&'static str> {
    match key {
        "runtime" => Some(
            "there is no `container.runtime`: the engine (Docker or Podman) is chosen by the \
             environment tug runs in, not by the workflow",
        ),
        "entrypoint" => Some("use `startup: entrypoint` (DAG level) or `command:`"),
        "auto_remove" => Some(
            "`auto_remove` belongs to `action: docker.run`; step containers are always removed, \
             DAG-level ones unless `keep_container: true`",
        ),
        "container_name" => Some("in `container:` the container's name is `name:`"),
        _ => None,
    }
}

impl Checker<'_> {
    /// Reads a `container:` value.
    pub(crate) fn container(&mut self, node: &Node, path: &str, level: Level) -> Option<Container> {
        match &node.value {
            Value::Scalar(s) if !s.is_null() && node.kind() != "a string" => {
                self.push(
                    Diagnostic::error(
                        format!("container must be a string or object, got {}", node.kind()),
                        path,
                        node.span,
                    )
                    .with_help("write the name of a running container (quote it if it looks like a number), or a mapping with `image:`"),
                );
                None
            }
            Value::Scalar(s) if !s.is_null() => {
                let t = Text::new(s.text.clone(), node.span);
                if t.raw.trim().is_empty() {
                    self.push(
                        Diagnostic::error("container name cannot be empty", path, node.span)
                            .with_help(
                                "write the name of a running container, or a mapping with `image:`",
                            ),
                    );
                    return None;
                }
                self.defer(&t, path, RefKind::Plain);
                Some(Container::Exec(Box::new(ExecContainer {
                    container: t,
                    user: None,
                    working_dir: None,
                    env: Vec::new(),
                    shell: None,
                    span: node.span,
                })))
            }
            Value::Map(entries) => {
                self.keys(
                    entries,
                    path,
                    "a container",
                    CONTAINER_FIELDS,
                    container_hint,
                );
                let exec = node.get("exec");
                let image = node.get("image");
                match (exec, image) {
                    (Some(_), Some(img)) => {
                        let exec_key = entries
                            .iter()
                            .find(|e| e.key.as_text() == Some("exec"))
                            .map(|e| e.key.span);
                        let key = entries
                            .iter()
                            .find(|e| e.key.as_text() == Some("image"))
                            .map(|e| e.key.span)
                            .unwrap_or(img.span);
                        self.push(
                            Diagnostic::error(
                                "`exec` and `image` are mutually exclusive",
                                join(path, "image"),
                                key,
                            )
                            .with_help(
                                "`exec` runs in a container that is already running; `image` \
                                 creates a new one: keep one of them",
                            )
                            .with_note("`exec` is set here", exec_key),
                        );
                        None
                    }
                    (None, None)
                        if entries.iter().any(|e| {
                            e.key.as_text().is_some_and(|k| {
                                !CONTAINER_FIELDS.contains(&k)
                                    && suggest::nearest(k, ["exec", "image"]).is_some()
                            })
                        }) =>
                    {
                        // A misspelt `image`/`exec` was already reported with a suggestion.
                        None
                    }
                    (None, None) => {
                        self.push(
                            Diagnostic::error(
                                "either `exec` or `image` must be specified",
                                path,
                                node.span,
                            )
                            .with_help(
                                "add `image: NAME` to create a container, or `exec: NAME` to run \
                                 in one that is already running",
                            ),
                        );
                        None
                    }
                    (Some(exec), None) => self.exec_container(node, exec, path),
                    (None, Some(image)) => self.image_container(node, image, path, level),
                }
            }
            _ => {
                self.push(
                    Diagnostic::error(
                        format!(
                            "container must be a string or a mapping, found {}",
                            node.kind()
                        ),
                        path,
                        node.span,
                    )
                    .with_allowed(
                        "a container name (exec mode), or a mapping with `image:` or `exec:`",
                    ),
                );
                None
            }
        }
    }

    fn exec_container(&mut self, node: &Node, exec: &Node, path: &str) -> Option<Container> {
        let entries = node.as_map().unwrap_or_default();
        let mut ok = true;
        for e in entries {
            let Some(k) = e.key.as_text() else { continue };
            if CONTAINER_FIELDS.contains(&k) && !EXEC_FIELDS.contains(&k) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        format!("`{k}` cannot be used with `exec`"),
                        join(path, k),
                        e.key.span,
                    )
                    .with_allowed(format!("with `exec`: {}", list(EXEC_FIELDS)))
                    .with_help(
                        "`exec` runs in an existing container, whose image, mounts, ports and \
                         network are already set; to configure them, create a container with \
                         `image:` instead",
                    ),
                );
            }
        }
        let name = self.nonempty(exec, &join(path, "exec"), "`exec`");
        if let Some(n) = &name {
            self.defer(n, &join(path, "exec"), RefKind::Plain);
        }
        let user = self.opt_text(node, path, "user");
        let working_dir = self.opt_text(node, path, "working_dir");
        let env = match node.get("env") {
            Some(n) => self.container_env(n, &join(path, "env")),
            None => Vec::new(),
        };
        let shell = node
            .get("shell")
            .and_then(|n| self.shell(n, &join(path, "shell")));
        if !ok {
            return None;
        }
        Some(Container::Exec(Box::new(ExecContainer {
            container: name?,
            user,
            working_dir,
            env,
            shell,
            span: node.span,
        })))
    }

    /// An optional expandable string field.
    pub(crate) fn opt_text(&mut self, node: &Node, path: &str, key: &str) -> Option<Text> {
        let v = node.get(key)?;
        let field = join(path, key);
        let t = self.nonempty(v, &field, &format!("`{key}`"))?;
        self.defer(&t, &field, RefKind::Plain);
        Some(t)
    }

    fn container_env(&mut self, node: &Node, path: &str) -> Vec<super::super::model::EnvVar> {
        let env = self.env(node, path);
        let saved = self.step_env.len();
        for (i, e) in env.iter().enumerate() {
            let field = if node.as_seq().is_some() {
                index(path, i)
            } else {
                join(path, &e.name)
            };
            self.defer(&e.value, &field, RefKind::Plain);
            // Later entries may use earlier ones.
            self.step_env.push(e.name.clone());
        }
        self.step_env.truncate(saved);
        env
    }

    fn image_container(
        &mut self,
        node: &Node,
        image: &Node,
        path: &str,
        level: Level,
    ) -> Option<Container> {
        let entries = node.as_map().unwrap_or_default();
        if level == Level::Step {
            for e in entries {
                let Some(k) = e.key.as_text() else { continue };
                if DAG_ONLY.contains(&k) {
                    self.push(
                        Diagnostic::error(
                            format!("`{k}` is only allowed on the DAG-level container"),
                            join(path, k),
                            e.key.span,
                        )
                        .with_help(
                            "a step-level container lives only as long as its step; move the \
                             container to the top level of the workflow to use this",
                        ),
                    );
                }
            }
        }
        let image = self.image(image, &join(path, "image"));
        let name = self.opt_text(node, path, "name");
        if let Some(n) = &name {
            if let Some(v) = self.static_value(n, &join(path, "name"), RefKind::Plain) {
                check_container_name(self, &v, n, &join(path, "name"));
            }
        }
        let pull_policy = match node.get("pull_policy") {
            Some(n) => self
                .pull_policy(n, &join(path, "pull_policy"))
                .unwrap_or_default(),
            None => PullPolicy::Missing,
        };
        let working_dir = self.opt_text(node, path, "working_dir");
        let user = self.opt_text(node, path, "user");
        let platform = node
            .get("platform")
            .and_then(|n| self.platform(n, &join(path, "platform")));
        let env = match node.get("env") {
            Some(n) => self.container_env(n, &join(path, "env")),
            None => Vec::new(),
        };
        let volumes = node
            .get("volumes")
            .map(|n| self.volumes(n, &join(path, "volumes")))
            .unwrap_or_default();
        let ports = node
            .get("ports")
            .map(|n| self.ports(n, &join(path, "ports")))
            .unwrap_or_default();
        let network = node
            .get("network")
            .and_then(|n| self.network(n, &join(path, "network")));
        let keep_container = node
            .get("keep_container")
            .and_then(|n| self.bool(n, &join(path, "keep_container"), "`keep_container`"))
            .unwrap_or(false);
        let startup = match node.get("startup") {
            Some(n) => self
                .choice(
                    n,
                    &join(path, "startup"),
                    "`startup`",
                    &[
                        ("keepalive", Startup::Keepalive),
                        ("entrypoint", Startup::Entrypoint),
                        ("command", Startup::Command),
                    ],
                )
                .unwrap_or_default(),
            None => Startup::Keepalive,
        };
        let command = node
            .get("command")
            .and_then(|n| self.command(n, &join(path, "command")));
        if startup == Startup::Command && level == Level::Dag {
            let empty = match &command {
                None => true,
                Some(CommandSpec::Argv(a)) => a.is_empty(),
                Some(CommandSpec::Line(l)) => l.raw.trim().is_empty(),
            };
            if empty {
                let span = node.get("startup").map(|n| n.span).unwrap_or(node.span);
                self.push(
                    Diagnostic::error(
                        "`startup: command` requires a non-empty `command`",
                        join(path, "startup"),
                        span,
                    )
                    .with_help(
                        "add e.g. `command: [\"sh\", \"-c\", \"while true; do sleep 3600; done\"]`",
                    ),
                );
            }
        } else if level == Level::Dag && startup != Startup::Command {
            if let Some(n) = node.get("command") {
                self.push(
                    Diagnostic::warning(
                        "`command` of the DAG-level container is used only with `startup: command`",
                        join(path, "command"),
                        n.span,
                    )
                    .with_help("add `startup: command`, or remove `command`"),
                );
            }
        }
        let wait_for = match node.get("wait_for") {
            Some(n) => self
                .choice(
                    n,
                    &join(path, "wait_for"),
                    "`wait_for`",
                    &[("running", WaitFor::Running), ("healthy", WaitFor::Healthy)],
                )
                .unwrap_or_default(),
            None => WaitFor::Running,
        };
        let log_pattern = node.get("log_pattern").and_then(|n| {
            let field = join(path, "log_pattern");
            let t = self.nonempty(n, &field, "`log_pattern`")?;
            self.regex(&t.raw, n, &field, "`log_pattern`")?;
            Some(t.raw)
        });
        let restart_policy = node.get("restart_policy").and_then(|n| {
            self.choice(
                n,
                &join(path, "restart_policy"),
                "`restart_policy`",
                &[
                    ("no", RestartPolicy::No),
                    ("always", RestartPolicy::Always),
                    ("unless-stopped", RestartPolicy::UnlessStopped),
                ],
            )
        });
        let healthcheck = node
            .get("healthcheck")
            .and_then(|n| self.healthcheck(n, &join(path, "healthcheck")));
        let shell = node
            .get("shell")
            .and_then(|n| self.shell(n, &join(path, "shell")));
        Some(Container::Image(Box::new(ImageContainer {
            image: image?,
            name,
            pull_policy,
            working_dir,
            user,
            platform,
            env,
            volumes,
            ports,
            network,
            keep_container,
            startup,
            command,
            wait_for,
            log_pattern,
            restart_policy,
            healthcheck,
            shell,
            span: node.span,
        })))
    }

    /// One of a fixed set of words; booleans read as written (`no` is a string in YAML 1.2).
    pub(crate) fn choice<T: Copy>(
        &mut self,
        node: &Node,
        path: &str,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        if let Some(t) = node.as_text().filter(|_| node.as_map().is_none()) {
            if let Some((_, v)) = options.iter().find(|(n, _)| *n == t) {
                return Some(*v);
            }
            self.push(
                Diagnostic::error(format!("invalid {what} `{t}`"), path, node.span)
                    .with_allowed(list(&names))
                    .with_suggestion(suggest::nearest(t, names.iter().copied())),
            );
            return None;
        }
        self.push(
            Diagnostic::error(
                format!(
                    "{what} must be one of the words below, found {}",
                    node.kind()
                ),
                path,
                node.span,
            )
            .with_allowed(list(&names)),
        );
        None
    }

    /// `pull_policy` (and docker.run `pull`): a word or a boolean.
    pub(crate) fn pull_policy(&mut self, node: &Node, path: &str) -> Option<PullPolicy> {
        if let Some(b) = node.scalar().and_then(|s| s.as_bool()) {
            return Some(if b {
                PullPolicy::Always
            } else {
                PullPolicy::Never
            });
        }
        let options = [
            ("always", PullPolicy::Always),
            ("missing", PullPolicy::Missing),
            ("never", PullPolicy::Never),
            ("fallback", PullPolicy::Fallback),
        ];
        if let Some(t) = node.as_text() {
            if let Some((_, v)) = options.iter().find(|(n, _)| *n == t) {
                return Some(*v);
            }
            let near = suggest::nearest(&t.to_ascii_lowercase(), options.iter().map(|(n, _)| *n));
            self.push(
                Diagnostic::error(format!("invalid pull policy `{t}`"), path, node.span)
                    .with_allowed("`always`, `missing` (default), `never`, `fallback`, or `true` (= always) / `false` (= never)")
                    .with_suggestion(near),
            );
            return None;
        }
        self.push(
            Diagnostic::error(
                format!(
                    "the pull policy must be a word or a boolean, found {}",
                    node.kind()
                ),
                path,
                node.span,
            )
            .with_allowed("`always`, `missing` (default), `never`, `fallback`, `true`, `false`"),
        );
        None
    }

    /// An image reference, checked when it is known at load time.
    pub(crate) fn image(&mut self, node: &Node, path: &str) -> Option<Text> {
        let t = self.nonempty(node, path, "`image`")?;
        if let Some(v) = self.static_value(&t, path, RefKind::Plain) {
            if let Err(e) = image_ref::check(&v) {
                let mut d = Diagnostic::error(e, path, node.span);
                if v.is_empty() {
                    d = d.with_note(format!("`{}` expands to an empty string", t.raw), None);
                } else if v != t.raw {
                    d = d.with_note(format!("`{}` expands to `{v}`", t.raw), None);
                }
                self.push(d);
            }
        }
        Some(t)
    }

    pub(crate) fn platform(&mut self, node: &Node, path: &str) -> Option<Text> {
        let t = self.nonempty(node, path, "`platform`")?;
        if let Some(v) = self.static_value(&t, path, RefKind::Plain) {
            if let Err((msg, near)) = platform::parse(&v) {
                self.push(
                    Diagnostic::error(msg, path, node.span)
                        .with_allowed("`os/arch` or `os/arch/variant`, e.g. `linux/amd64`, `linux/arm64`, `linux/arm/v7`")
                        .with_suggestion(near),
                );
            }
        }
        Some(t)
    }

    pub(crate) fn network(&mut self, node: &Node, path: &str) -> Option<Text> {
        let t = self.nonempty(node, path, "`network`")?;
        if let Some(v) = self.static_value(&t, path, RefKind::Plain) {
            match network::parse(&v) {
                Err(e) => self.push(
                    Diagnostic::error(e, path, node.span)
                        .with_allowed("`bridge`, `host`, `none`, `container:<name|id>`, or the name of a custom network"),
                ),
                Ok(network::Network::Custom(name)) => {
                    if let Some(near) = suggest::nearest(&name, ["bridge", "host", "none"]) {
                        self.push(
                            Diagnostic::warning(
                                format!("`{name}` is taken as the name of a custom network"),
                                path,
                                node.span,
                            )
                            .with_help(format!("did you mean the built-in network `{near}`?")),
                        );
                    }
                }
                Ok(_) => {}
            }
        }
        Some(t)
    }

    /// `volumes:`: each `source:target[:ro|rw]`.
    pub(crate) fn volumes(&mut self, node: &Node, path: &str) -> Vec<Text> {
        let Some(items) = self.seq(node, path, "`volumes`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = index(path, i);
            let Some(t) = self.nonempty(item, &field, "a volume") else {
                continue;
            };
            match volume::split(&t.raw) {
                Err(e) => {
                    self.push(
                        Diagnostic::error(e, &field, item.span)
                            .with_allowed("`source:target`, `source:target:ro` or `source:target:rw`; `source` is a host path or a volume name, `target` an absolute path in the container"),
                    );
                    continue;
                }
                Ok(parts) => {
                    if parts.target.contains('$') {
                        self.push(
                            Diagnostic::warning(
                                format!("the container path `{}` is not expanded", parts.target),
                                &field,
                                item.span,
                            )
                            .with_help("only the source side of a volume expands variables; the target is taken literally"),
                        );
                    }
                    let source = Text::new(parts.source, t.span);
                    if source.is_static() {
                        if let Err(e) = volume::resolve_source(
                            parts.source,
                            &self.working_dir,
                            self.host.var("HOME").as_deref(),
                        ) {
                            self.push(Diagnostic::error(e, &field, item.span));
                        }
                    } else {
                        // Workflow scope first, then the process environment; names only known
                        // at run time (outputs) are checked after all steps are read.
                        let host = self.host;
                        let env = move |n: &str| host.var(n);
                        let e = expand::expand(
                            parts.source,
                            &self.scope,
                            Some(&env),
                            expand::Escapes::Literal,
                        );
                        if e.unresolved.is_empty() && !self.is_dynamic(parts.source) {
                            if let Err(err) = volume::resolve_source(
                                &e.text,
                                &self.working_dir,
                                self.host.var("HOME").as_deref(),
                            ) {
                                self.push(Diagnostic::error(err, &field, item.span).with_note(
                                    format!("`{}` expands to `{}`", parts.source, e.text),
                                    None,
                                ));
                            }
                        } else if !self.is_dynamic(parts.source) {
                            self.defer(&source, &field, RefKind::VolumeSource);
                        }
                    }
                }
            }
            out.push(t);
        }
        out
    }

    /// `ports:`.
    pub(crate) fn ports(&mut self, node: &Node, path: &str) -> Vec<Text> {
        let Some(items) = self.seq(node, path, "`ports`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = index(path, i);
            let Some(t) = self.nonempty(item, &field, "a port") else {
                continue;
            };
            if let Some(v) = self.static_value(&t, &field, RefKind::Plain) {
                if let Err(e) = port::parse(&v) {
                    self.push(
                        Diagnostic::error(e, &field, item.span).with_allowed(port::PORT_FORMS),
                    );
                    continue;
                }
                if item.scalar().is_some_and(|s| s.plain) && v.matches(':').count() == 1 {
                    if let Some(n) = sexagesimal_trap(&v) {
                        self.push(
                            Diagnostic::warning(
                                format!(
                                    "unquoted `{v}` is read as the number {n} by YAML 1.1 parsers"
                                ),
                                &field,
                                item.span,
                            )
                            .with_help(format!("quote it for portability: \"{v}\"")),
                        );
                    }
                }
            }
            out.push(t);
        }
        out
    }

    /// `command:` as a string or a list.
    pub(crate) fn command(&mut self, node: &Node, path: &str) -> Option<CommandSpec> {
        match &node.value {
            Value::Seq(_) => {
                let argv = self.text_list(node, path, "a command argument")?;
                for (i, a) in argv.iter().enumerate() {
                    self.defer(a, &index(path, i), RefKind::Command);
                }
                Some(CommandSpec::Argv(argv))
            }
            _ => {
                let t = self.nonempty(node, path, "`command`")?;
                if let Err(e) = shell_words::split(&t.raw) {
                    self.push(
                        Diagnostic::error(
                            format!("cannot split `command` into words: {}", e.describe()),
                            path,
                            node.span,
                        )
                        .with_help(
                            "or give the command as a list: `command: [\"sh\", \"-c\", \"…\"]`",
                        ),
                    );
                    return None;
                }
                self.defer(&t, path, RefKind::Command);
                Some(CommandSpec::Line(t))
            }
        }
    }

    /// Compiles `pattern`; a bad pattern is an error with the regex engine's reason.
    pub(crate) fn regex(
        &mut self,
        pattern: &str,
        node: &Node,
        path: &str,
        what: &str,
    ) -> Option<()> {
        match regex::Regex::new(pattern) {
            Ok(_) => Some(()),
            Err(e) => {
                let reason = match &e {
                    regex::Error::Syntax(s) => {
                        let last = s.lines().last().unwrap_or(s).trim();
                        last.strip_prefix("error: ").unwrap_or(last).to_string()
                    }
                    other => other.to_string(),
                };
                self.push(
                    Diagnostic::error(
                        format!("{what} is not a valid regular expression: {reason}"),
                        path,
                        node.span,
                    )
                    .with_help("the syntax is RE2 (as in Go): no look-around or back-references"),
                );
                None
            }
        }
    }

    fn healthcheck(&mut self, node: &Node, path: &str) -> Option<Healthcheck> {
        let entries = self.map(node, path, "`healthcheck`")?;
        const FIELDS: &[&str] = &["test", "interval", "timeout", "start_period", "retries"];
        self.keys(entries, path, "a healthcheck", FIELDS, |_| None);
        let test = match node.get("test") {
            None => {
                self.push(
                    Diagnostic::error("healthcheck `test` is required", path, node.span)
                        .with_help("e.g. `test: [\"CMD\", \"pg_isready\"]` or `test: [\"CMD-SHELL\", \"curl -f localhost || exit 1\"]`"),
                );
                None
            }
            Some(t) => self.health_test(t, &join(path, "test")),
        };
        let dur = |c: &mut Self, key: &str| {
            let n = node.get(key)?;
            let field = join(path, key);
            let t = c.nonempty(n, &field, &format!("`{key}`"))?;
            match duration::parse(&t.raw) {
                Ok(d) => Some(d),
                Err(e) => {
                    c.push(
                        Diagnostic::error(format!("invalid {key} `{}`: {e}", t.raw), field, n.span)
                            .with_allowed("a duration such as `30s`, `1m30s`, `500ms`"),
                    );
                    None
                }
            }
        };
        let interval = dur(self, "interval");
        let timeout = dur(self, "timeout");
        let start_period = dur(self, "start_period");
        let retries = node.get("retries").and_then(|n| {
            if n.scalar().and_then(|s| s.as_i64()).is_some_and(|v| v < 0) {
                self.push(Diagnostic::error(
                    "healthcheck `retries` must be non-negative",
                    join(path, "retries"),
                    n.span,
                ));
                return None;
            }
            self.int(
                n,
                &join(path, "retries"),
                "`retries`",
                0,
                i64::from(u32::MAX),
            )
            .map(|v| v as u32)
        });
        Some(Healthcheck {
            test: test?,
            interval,
            timeout,
            start_period,
            retries,
        })
    }

    fn health_test(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let test: Vec<String> = match &node.value {
            // A string is the compose shorthand for CMD-SHELL.
            Value::Scalar(_) => {
                let t = self.nonempty(node, path, "healthcheck `test`")?;
                return Some(vec!["CMD-SHELL".into(), t.raw]);
            }
            _ => self
                .text_list(node, path, "a healthcheck argument")?
                .into_iter()
                .map(|t| t.raw)
                .collect(),
        };
        let allowed = "`[\"NONE\"]`, `[\"CMD\", program, args…]` or `[\"CMD-SHELL\", command]`";
        match test.first().map(String::as_str) {
            None => {
                self.push(
                    Diagnostic::error("healthcheck `test` is required", path, node.span)
                        .with_allowed(allowed),
                );
                None
            }
            Some("NONE") if test.len() > 1 => {
                self.push(
                    Diagnostic::error(
                        "a NONE healthcheck should not have additional arguments",
                        path,
                        node.span,
                    )
                    .with_allowed(allowed),
                );
                None
            }
            Some("CMD") | Some("CMD-SHELL") if test.len() < 2 => {
                self.push(
                    Diagnostic::error(
                        format!("a {} healthcheck requires a command", test[0]),
                        path,
                        node.span,
                    )
                    .with_allowed(allowed),
                );
                None
            }
            Some("NONE") | Some("CMD") | Some("CMD-SHELL") => Some(test),
            Some(other) => {
                self.push(
                    Diagnostic::error(format!("healthcheck test must start with NONE, CMD, or CMD-SHELL, got `{other}`"), path, node.span)
                        .with_allowed(allowed)
                        .with_suggestion(suggest::nearest(other, ["NONE", "CMD", "CMD-SHELL"])),
                );
                None
            }
        }
    }
}

/// Docker container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn check_container_name(c: &mut Checker<'_>, name: &str, text: &Text, path: &str) {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
    if !ok {
        c.push(
            Diagnostic::error(format!("`{name}` is not a valid container name"), path, text.span)
                .with_allowed("at least two characters: letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
        );
    }
}

/// `"22:80"`-like values that YAML 1.1 reads as base-60 numbers.
fn sexagesimal_trap(v: &str) -> Option<u64> {
    let (a, b) = v.split_once(':')?;
    if a.is_empty()
        || b.len() != 2
        || !a.bytes().all(|x| x.is_ascii_digit())
        || !b.bytes().all(|x| x.is_ascii_digit())
    {
        return None;
    }
    let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    (b < 60).then_some(a * 60 + b)
}
