//! Step controls: `parallel`, `retry_policy`, `preconditions`, `continue_on`,
//! `signal_on_stop`, `stdout`.

use std::path::{Component, PathBuf};
use std::time::Duration;

use super::super::diagnostic::Diagnostic;
use super::super::model::{
    ContinueOn, Expected, Parallel, ParallelItems, Precondition, RetryPolicy, Text,
    DEFAULT_MAX_CONCURRENT, MAX_PARALLEL_ITEMS,
};
use super::super::suggest;
use super::super::yaml::{Node, Value};
use super::checker::{describe, index, join, Checker, RefKind};

const SIGNALS: &[&str] = &[
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

impl Checker<'_> {
    /// `parallel:` as a mapping, a list of items, or a `${VAR}` holding a JSON array.
    pub(crate) fn parallel(&mut self, node: &Node, path: &str) -> Option<Parallel> {
        let (items_node, items_path, max) = match &node.value {
            Value::Map(entries) => {
                self.keys(
                    entries,
                    path,
                    "`parallel`",
                    &["items", "max_concurrent"],
                    |k| {
                        (k == "maxConcurrent" || k == "concurrency")
                            .then_some("the limit is `max_concurrent`")
                    },
                );
                let max = node
                    .get("max_concurrent")
                    .and_then(|n| {
                        self.int(
                            n,
                            &join(path, "max_concurrent"),
                            "`max_concurrent`",
                            1,
                            MAX_PARALLEL_ITEMS as i64,
                        )
                    })
                    .map(|n| n as u32);
                match node.get("items") {
                    Some(items) => (items, join(path, "items"), max),
                    None => {
                        self.push(
                            Diagnostic::error("`parallel` needs `items`", path, node.span)
                                .with_help("a list of strings, numbers or mappings, or a `${VAR}` holding a JSON array"),
                        );
                        return None;
                    }
                }
            }
            _ => (node, path.to_string(), None),
        };
        let items = match &items_node.value {
            Value::Seq(list) => {
                if list.is_empty() {
                    self.push(
                        Diagnostic::error(
                            "`parallel.items` is empty",
                            &items_path,
                            items_node.span,
                        )
                        .with_help("give at least one item"),
                    );
                    return None;
                }
                if list.len() > MAX_PARALLEL_ITEMS {
                    self.push(
                        Diagnostic::error(
                            format!("`parallel.items` has {} items; at most {MAX_PARALLEL_ITEMS} are allowed", list.len()),
                            &items_path,
                            items_node.span,
                        )
                        .with_help("split the work into several steps, or batch items together"),
                    );
                    return None;
                }
                let mut values = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    if item.is_null() {
                        self.push(Diagnostic::error(
                            "a parallel item cannot be empty",
                            index(&items_path, i),
                            item.span,
                        ));
                        continue;
                    }
                    if item.as_seq().is_some() {
                        self.push(Diagnostic::error(
                            "a parallel item must be a string, number or mapping, found a list",
                            index(&items_path, i),
                            item.span,
                        ));
                        continue;
                    }
                    values.push(item.to_json());
                }
                ParallelItems::List(values)
            }
            Value::Scalar(s) if !s.is_null() => {
                let t = Text::new(s.text.clone(), items_node.span);
                if super::super::expand::references(&t.raw).is_empty() {
                    self.push(
                        Diagnostic::error(format!("`parallel.items` must be a list or a `${{VAR}}` holding a JSON array, found {}", describe(items_node)), &items_path, items_node.span),
                    );
                    return None;
                }
                self.defer(&t, &items_path, RefKind::Plain);
                ParallelItems::Variable(t)
            }
            _ => {
                self.push(Diagnostic::error(
                    format!("`parallel.items` must be a list or a `${{VAR}}` holding a JSON array, found {}", items_node.kind()),
                    &items_path,
                    items_node.span,
                ));
                return None;
            }
        };
        Some(Parallel {
            items,
            max_concurrent: max.unwrap_or(DEFAULT_MAX_CONCURRENT),
        })
    }

    /// `retry_policy:`.
    pub(crate) fn retry_policy(&mut self, node: &Node, path: &str) -> Option<RetryPolicy> {
        let entries = self.map(node, path, "`retry_policy`")?;
        const FIELDS: &[&str] = &[
            "limit",
            "interval_sec",
            "exit_code",
            "backoff",
            "max_interval_sec",
        ];
        self.keys(entries, path, "`retry_policy`", FIELDS, |k| match k {
            "exit_codes" | "exitCode" => Some("the field is `exit_code` (a number or a list)"),
            "interval" => Some("the field is `interval_sec`, in seconds"),
            _ => None,
        });
        let limit = match node.get("limit") {
            Some(n) => self.int(n, &join(path, "limit"), "`limit`", 0, 1_000_000)? as u32,
            None => {
                self.push(Diagnostic::error(
                    "`retry_policy` needs `limit`: how many times to retry",
                    path,
                    node.span,
                ));
                return None;
            }
        };
        let secs = |c: &mut Self, key: &str| {
            node.get(key)
                .and_then(|n| c.int(n, &join(path, key), &format!("`{key}`"), 0, 31_536_000))
                .map(|s| Duration::from_secs(s as u64))
        };
        let interval = secs(self, "interval_sec").unwrap_or(Duration::ZERO);
        let max_interval = secs(self, "max_interval_sec");
        let exit_codes = node
            .get("exit_code")
            .map(|n| self.exit_codes(n, &join(path, "exit_code")))
            .unwrap_or_default();
        let backoff = node.get("backoff").and_then(|n| {
            let field = join(path, "backoff");
            if let Some(b) = n.scalar().and_then(|s| s.as_bool()) {
                return b.then_some(2.0);
            }
            match n.scalar().and_then(|s| s.as_f64()) {
                Some(f) if f > 1.0 && f.is_finite() => Some(f),
                Some(f) => {
                    self.push(
                        Diagnostic::error(format!("`backoff` must be greater than 1.0, found {f}"), field, n.span)
                            .with_allowed("`true` (doubles the interval), or a multiplier above 1.0 such as `1.5`"),
                    );
                    None
                }
                None => {
                    self.push(
                        Diagnostic::error(format!("`backoff` must be a boolean or a number, found {}", describe(n)), field, n.span)
                            .with_allowed("`true` (doubles the interval), or a multiplier above 1.0 such as `1.5`"),
                    );
                    None
                }
            }
        });
        if let (Some(max), Some(n)) = (max_interval, node.get("max_interval_sec")) {
            if backoff.is_none() {
                self.push(Diagnostic::warning(
                    "`max_interval_sec` has no effect without `backoff`",
                    join(path, "max_interval_sec"),
                    n.span,
                ));
            } else if max < interval {
                self.push(Diagnostic::error(
                    "`max_interval_sec` is smaller than `interval_sec`",
                    join(path, "max_interval_sec"),
                    n.span,
                ));
            }
        }
        Some(RetryPolicy {
            limit,
            interval,
            exit_codes,
            backoff,
            max_interval,
        })
    }

    /// An exit code or a list of them.
    fn exit_codes(&mut self, node: &Node, path: &str) -> Vec<i32> {
        let items: Vec<(&Node, String)> = match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, index(path, i)))
                .collect(),
            _ => vec![(node, path.to_string())],
        };
        items
            .into_iter()
            .filter_map(|(n, p)| self.int(n, &p, "an exit code", 0, 255).map(|v| v as i32))
            .collect()
    }

    /// A value to compare against: text, or `re:pattern`.
    fn expected(&mut self, node: &Node, path: &str) -> Option<Expected> {
        let t = self.text(node, path, "an expected value")?;
        match t.raw.strip_prefix("re:") {
            Some(pattern) => {
                self.regex(pattern, node, path, "the `re:` pattern")?;
                Some(Expected::Regex(pattern.to_string()))
            }
            None => Some(Expected::Literal(t.raw)),
        }
    }

    /// `preconditions:`: one entry or a list; each a command or `{condition, expected, negate}`.
    pub(crate) fn preconditions(&mut self, node: &Node, path: &str) -> Vec<Precondition> {
        let items: Vec<(&Node, String)> = match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, index(path, i)))
                .collect(),
            _ => vec![(node, path.to_string())],
        };
        let mut out = Vec::new();
        for (n, p) in items {
            match &n.value {
                Value::Scalar(_) => {
                    if let Some(t) = self.nonempty(n, &p, "a precondition") {
                        self.defer(&t, &p, RefKind::Command);
                        out.push(Precondition::Command {
                            command: t,
                            negate: false,
                        });
                    }
                }
                Value::Map(entries) => {
                    self.keys(entries, &p, "a precondition", &["condition", "expected", "negate"], |k| {
                        (k == "command").then_some("write the command as `condition:` (without `expected`), or as a plain string")
                    });
                    let negate = n
                        .get("negate")
                        .and_then(|v| self.bool(v, &join(&p, "negate"), "`negate`"))
                        .unwrap_or(false);
                    let Some(cond_node) = n.get("condition") else {
                        self.push(
                            Diagnostic::error("a precondition needs `condition`", &p, n.span)
                                .with_help("e.g. `condition: \"${ENV}\"` with `expected: production`, or a command"),
                        );
                        continue;
                    };
                    let Some(condition) =
                        self.nonempty(cond_node, &join(&p, "condition"), "`condition`")
                    else {
                        continue;
                    };
                    self.defer(&condition, &join(&p, "condition"), RefKind::Command);
                    match n.get("expected") {
                        Some(e) => {
                            if let Some(expected) = self.expected(e, &join(&p, "expected")) {
                                out.push(Precondition::Compare {
                                    condition,
                                    expected,
                                    negate,
                                });
                            }
                        }
                        None => out.push(Precondition::Command {
                            command: condition,
                            negate,
                        }),
                    }
                }
                Value::Seq(_) => self.push(Diagnostic::error(
                    "a precondition must be a command or a mapping, found a list",
                    &p,
                    n.span,
                )),
            }
        }
        out
    }

    /// `continue_on:` as a mapping, or the words `failed` / `skipped`.
    pub(crate) fn continue_on(&mut self, node: &Node, path: &str) -> ContinueOn {
        let mut c = ContinueOn::default();
        const FIELDS: &[&str] = &["failed", "skipped", "exit_code", "output", "mark_success"];
        match &node.value {
            Value::Scalar(s) if !s.is_null() => match s.text.as_str() {
                "failed" | "failure" => c.failed = true,
                "skipped" => c.skipped = true,
                other => self.push(
                    Diagnostic::error(format!("invalid `continue_on` value `{other}`"), path, node.span)
                        .with_allowed("`failed`, `skipped`, or a mapping of `failed`, `skipped`, `exit_code`, `output`, `mark_success`")
                        .with_suggestion(suggest::nearest(other, ["failed", "skipped"])),
                ),
            },
            Value::Map(entries) => {
                self.keys(entries, path, "`continue_on`", FIELDS, |k| {
                    (k == "failure").then_some("the field is `failed`")
                });
                let flag = |c: &mut Self, key: &str| node.get(key).and_then(|n| c.bool(n, &join(path, key), &format!("`{key}`"))).unwrap_or(false);
                c.failed = flag(self, "failed");
                c.skipped = flag(self, "skipped");
                c.mark_success = flag(self, "mark_success");
                if let Some(n) = node.get("exit_code") {
                    c.exit_codes = self.exit_codes(n, &join(path, "exit_code"));
                }
                if let Some(n) = node.get("output") {
                    let p = join(path, "output");
                    let items: Vec<(&Node, String)> = match &n.value {
                        Value::Seq(items) => items.iter().enumerate().map(|(i, x)| (x, index(&p, i))).collect(),
                        _ => vec![(n, p.clone())],
                    };
                    for (x, xp) in items {
                        if let Some(e) = self.expected(x, &xp) {
                            c.output.push(e);
                        }
                    }
                }
            }
            _ => self.push(Diagnostic::error(
                format!("`continue_on` must be a mapping, `failed` or `skipped`, found {}", node.kind()),
                path,
                node.span,
            )),
        }
        c
    }

    /// `signal_on_stop:` normalised to `SIGNAME`.
    pub(crate) fn signal(&mut self, node: &Node, path: &str) -> Option<String> {
        let t = self.nonempty(node, path, "`signal_on_stop`")?;
        let upper = t.raw.to_ascii_uppercase();
        let name = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        if SIGNALS.contains(&name.as_str()) {
            return Some(name);
        }
        if let Ok(n) = t.raw.parse::<u32>() {
            if (1..=64).contains(&n) {
                return Some(n.to_string());
            }
        }
        self.push(
            Diagnostic::error(format!("unknown signal `{}`", t.raw), path, node.span)
                .with_allowed("a signal name such as `SIGTERM`, `SIGINT`, `SIGQUIT`, `SIGHUP`, `SIGUSR1`, or a number from 1 to 64")
                .with_suggestion(suggest::nearest(&name, SIGNALS.iter().copied())),
        );
        None
    }

    /// `stdout: {artifact: path}`.
    pub(crate) fn stdout(&mut self, node: &Node, path: &str) -> Option<PathBuf> {
        let help = "write `stdout: {artifact: reports/out.txt}`: the file goes under the run's artifact directory";
        let Some(entries) = node.as_map() else {
            self.push(
                Diagnostic::error(
                    format!(
                        "`stdout` must be a mapping with `artifact`, found {}",
                        node.kind()
                    ),
                    path,
                    node.span,
                )
                .with_help(help),
            );
            return None;
        };
        self.keys(entries, path, "`stdout`", &["artifact"], |_| None);
        let Some(a) = node.get("artifact") else {
            self.push(
                Diagnostic::error("`stdout` needs `artifact`", path, node.span).with_help(help),
            );
            return None;
        };
        let field = join(path, "artifact");
        let t = self.nonempty(a, &field, "`artifact`")?;
        let p = PathBuf::from(&t.raw);
        let escapes = p.components().any(|c| matches!(c, Component::ParentDir));
        if p.is_absolute() || escapes {
            self.push(
                Diagnostic::error(
                    format!(
                        "the artifact path `{}` must stay inside the artifact directory",
                        t.raw
                    ),
                    field,
                    a.span,
                )
                .with_allowed("a relative path without `..`, e.g. `reports/archive-listing.txt`"),
            );
            return None;
        }
        Some(p)
    }
}
