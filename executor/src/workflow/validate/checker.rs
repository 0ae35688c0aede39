//! The state shared while validating one document, and the small typed readers every part
//! of the validator uses (`string`, `bool`, `keys`, …). Each reader records an error and returns
//! `None` on a wrong value, so validation goes on and every error of the file is collected.

use std::path::PathBuf;

use super::super::diagnostic::Diagnostic;
use super::super::expand::{self, Escapes, Scope};
use super::super::host::Host;
use super::super::model::{EnvVar, Shell, Text};
use super::super::span::Span;
use super::super::suggest;
use super::super::yaml::{Entry, Node, Value};

/// How a text whose variables are not all known at load time is checked later, once the
/// outputs of every step are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefKind {
    /// Unknown names are warned about.
    Plain,
    /// A command line: unknown names are left for the shell, silently.
    Command,
    /// Volume source: unknown names must come from the process environment, else error.
    VolumeSource,
}

/// A text to check once all steps are known.
#[derive(Clone, Debug)]
pub(crate) struct Deferred {
    pub(crate) text: Text,
    pub(crate) path: String,
    /// The step the text belongs to (None: DAG level).
    pub(crate) step: Option<usize>,
    pub(crate) kind: RefKind,
    /// Names defined by the step itself (its `env`), visible to its own fields.
    pub(crate) local: Vec<String>,
    /// `ITEM` is set here (params of a parallel `dag.run`).
    pub(crate) item_allowed: bool,
}

/// Validation state of one document.
pub(crate) struct Checker<'a> {
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) host: &'a dyn Host,
    /// `env` and `params` evaluated.
    pub(crate) scope: Scope,
    /// Directory of the workflow file (for `dag.run` files).
    pub(crate) file_dir: PathBuf,
    /// Where relative host paths point.
    pub(crate) working_dir: PathBuf,
    /// Texts to check after all steps are read.
    pub(crate) deferred: Vec<Deferred>,
    /// Names of the file's sub-workflows (later documents).
    pub(crate) local_workflows: Vec<String>,
    /// The step being read, for deferred checks.
    pub(crate) current_step: Option<usize>,
    /// Names of the current step's `env`.
    pub(crate) step_env: Vec<String>,
    /// Names whose value is not final at load time (a sub-workflow's params, set by the
    /// caller): fields using them are checked at run time only.
    pub(crate) dynamic: Vec<String>,
}

/// `a.b`, or `b` when `a` is empty.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `a[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// `a, b, c` in backticks.
pub(crate) fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A variable or output name: letters, digits and `_`, not starting with a digit.
pub(crate) fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

impl<'a> Checker<'a> {
    pub(crate) fn new(host: &'a dyn Host, file_dir: PathBuf) -> Self {
        Checker {
            diags: Vec::new(),
            host,
            scope: Scope::new(),
            working_dir: file_dir.clone(),
            file_dir,
            deferred: Vec::new(),
            local_workflows: Vec::new(),
            current_step: None,
            step_env: Vec::new(),
            dynamic: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Checks the keys of a mapping: strings, and all in `allowed`. `hint` may explain a
    /// known key from Dagu that tug spells differently or does not support.
    pub(crate) fn keys(
        &mut self,
        entries: &[Entry],
        path: &str,
        what: &str,
        allowed: &[&str],
        hint: fn(&str) -> Option<&'static str>,
    ) {
        for e in entries {
            let Some(key) = e.key.as_text() else {
                self.push(
                    Diagnostic::error(
                        format!("keys of {what} must be strings, found {}", e.key.kind()),
                        path,
                        e.key.span,
                    )
                    .with_allowed(list(allowed)),
                );
                continue;
            };
            if allowed.contains(&key) {
                continue;
            }
            let field = join(path, key);
            let mut d = Diagnostic::error(
                format!("unknown field `{key}` in {what}"),
                field,
                e.key.span,
            );
            if let Some(h) = hint(key) {
                d = d.with_help(h);
            } else {
                d = d.with_suggestion(suggest::nearest(key, allowed.iter().copied()));
            }
            self.push(d.with_allowed(list(allowed)));
        }
    }

    /// The node as a mapping, or an error naming what was found.
    pub(crate) fn map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
    ) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(m) => Some(m),
            _ => {
                self.push(Diagnostic::error(
                    format!("{what} must be a mapping of fields, found {}", node.kind()),
                    path,
                    node.span,
                ));
                None
            }
        }
    }

    /// A scalar as text (numbers and booleans as written). Null and collections are errors.
    pub(crate) fn text(&mut self, node: &Node, path: &str, what: &str) -> Option<Text> {
        match node.as_text() {
            Some(t) => Some(Text::new(t, node.span)),
            None => {
                self.push(Diagnostic::error(
                    format!("{what} must be a string, found {}", node.kind()),
                    path,
                    node.span,
                ));
                None
            }
        }
    }

    /// Like [`Checker::text`], and the text must not be empty.
    pub(crate) fn nonempty(&mut self, node: &Node, path: &str, what: &str) -> Option<Text> {
        let t = self.text(node, path, what)?;
        if t.raw.trim().is_empty() {
            self.push(Diagnostic::error(
                format!("{what} cannot be empty"),
                path,
                node.span,
            ));
            return None;
        }
        Some(t)
    }

    /// A YAML boolean.
    pub(crate) fn bool(&mut self, node: &Node, path: &str, what: &str) -> Option<bool> {
        match node.scalar().and_then(|s| s.as_bool()) {
            Some(b) => Some(b),
            None => {
                self.push(
                    Diagnostic::error(
                        format!("{what} must be true or false, found {}", describe(node)),
                        path,
                        node.span,
                    )
                    .with_allowed("`true`, `false`"),
                );
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub(crate) fn int(
        &mut self,
        node: &Node,
        path: &str,
        what: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match node.scalar().and_then(|s| s.as_i64()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.push(
                    Diagnostic::error(format!("{what} is out of range: {n}"), path, node.span)
                        .with_allowed(range_text(min, max)),
                );
                None
            }
            None => {
                self.push(
                    Diagnostic::error(
                        format!("{what} must be a whole number, found {}", describe(node)),
                        path,
                        node.span,
                    )
                    .with_allowed(range_text(min, max)),
                );
                None
            }
        }
    }

    /// A string or a list of strings.
    pub(crate) fn text_list(&mut self, node: &Node, path: &str, what: &str) -> Option<Vec<Text>> {
        match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(t) = self.text(item, &index(path, i), what) {
                        out.push(t);
                    }
                }
                Some(out)
            }
            Value::Scalar(_) if !node.is_null() => Some(vec![Text::new(
                node.as_text().unwrap_or_default(),
                node.span,
            )]),
            _ => {
                self.push(Diagnostic::error(
                    format!(
                        "{what} must be a string or a list of strings, found {}",
                        node.kind()
                    ),
                    path,
                    node.span,
                ));
                None
            }
        }
    }

    /// A list (a single item is not accepted).
    pub(crate) fn seq<'n>(&mut self, node: &'n Node, path: &str, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.push(Diagnostic::error(
                    format!("{what} must be a list, found {}", node.kind()),
                    path,
                    node.span,
                ));
                None
            }
        }
    }

    /// `env:` as a mapping, or a list of `KEY=VALUE` strings and single-key mappings.
    pub(crate) fn env(&mut self, node: &Node, path: &str) -> Vec<EnvVar> {
        let mut out = Vec::new();
        let mut add =
            |c: &mut Self, key: &str, key_span: Span, value: Option<Text>, field: String| {
                if !is_identifier(key) {
                    c.push(
                        Diagnostic::error(
                            format!("`{key}` is not a valid variable name"),
                            field,
                            key_span,
                        )
                        .with_allowed("letters, digits and `_`, not starting with a digit"),
                    );
                    return;
                }
                if let Some(v) = value {
                    out.push(EnvVar {
                        name: key.to_string(),
                        value: v,
                    });
                }
            };
        match &node.value {
            Value::Map(entries) => {
                for e in entries {
                    let Some(k) = e.key.as_text() else { continue };
                    let field = join(path, k);
                    let v = self.env_value(&e.value, &field);
                    add(self, k, e.key.span, v, field);
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = index(path, i);
                    match &item.value {
                        Value::Map(entries) if entries.len() == 1 => {
                            let e = &entries[0];
                            let Some(k) = e.key.as_text() else { continue };
                            let v = self.env_value(&e.value, &field);
                            add(self, k, e.key.span, v, field);
                        }
                        Value::Scalar(s) if !s.is_null() => match s.text.split_once('=') {
                            Some((k, v)) => {
                                let value = Text::new(v, item.span);
                                add(self, k, item.span, Some(value), field);
                            }
                            None => self.push(
                                Diagnostic::error(
                                    format!("env entry `{}` has no `=`", s.text),
                                    field,
                                    item.span,
                                )
                                .with_allowed("`KEY=VALUE` or `KEY: VALUE`"),
                            ),
                        },
                        _ => self.push(
                            Diagnostic::error(
                                format!("an env entry must be `KEY=VALUE` or a single `KEY: VALUE`, found {}", item.kind()),
                                field,
                                item.span,
                            ),
                        ),
                    }
                }
            }
            _ if node.is_null() => {}
            _ => self.push(Diagnostic::error(
                format!(
                    "env must be a mapping or a list of `KEY=VALUE`, found {}",
                    node.kind()
                ),
                path,
                node.span,
            )),
        }
        out
    }

    fn env_value(&mut self, node: &Node, path: &str) -> Option<Text> {
        if node.is_null() {
            return Some(Text::new("", node.span));
        }
        self.text(node, path, "an env value")
    }

    /// `shell:` as a string (split into words) or a list.
    pub(crate) fn shell(&mut self, node: &Node, path: &str) -> Option<Shell> {
        let argv = match &node.value {
            Value::Seq(_) => self.text_list(node, path, "a shell argument")?,
            _ => {
                let t = self.nonempty(node, path, "`shell`")?;
                match super::super::shell_words::split(&t.raw) {
                    Ok(words) => words.into_iter().map(|w| Text::new(w, t.span)).collect(),
                    Err(e) => {
                        self.push(Diagnostic::error(
                            format!("cannot split `shell`: {}", e.describe()),
                            path,
                            node.span,
                        ));
                        return None;
                    }
                }
            }
        };
        if argv.is_empty() {
            self.push(Diagnostic::error(
                "`shell` cannot be empty",
                path,
                node.span,
            ));
            return None;
        }
        Some(Shell { argv })
    }

    /// Expands `text` in the static scope when every reference is known now; otherwise
    /// records it for the late check and returns `None`.
    pub(crate) fn static_value(
        &mut self,
        text: &Text,
        path: &str,
        kind: RefKind,
    ) -> Option<String> {
        if text.is_static() {
            return Some(text.raw.replace("\\$", "$"));
        }
        let e = expand::expand(&text.raw, &self.scope, None, Escapes::Literal);
        let all_known = e.unresolved.is_empty() && !self.is_dynamic(&text.raw);
        self.defer(text, path, kind);
        all_known.then_some(e.text)
    }

    /// True when `raw` uses a name whose value is set only at run time by a caller.
    pub(crate) fn is_dynamic(&self, raw: &str) -> bool {
        expand::references(raw).iter().any(|r| {
            self.dynamic.contains(&r.name)
                || (r.name == "params"
                    && r.fields.len() == 1
                    && self.dynamic.contains(&r.fields[0]))
        })
    }

    /// Records a text whose references are checked once all steps are known.
    pub(crate) fn defer(&mut self, text: &Text, path: &str, kind: RefKind) {
        self.defer_with(text, path, kind, false);
    }

    /// Like [`Checker::defer`], where `ITEM` may be set.
    pub(crate) fn defer_with(
        &mut self,
        text: &Text,
        path: &str,
        kind: RefKind,
        item_allowed: bool,
    ) {
        if text.is_static() {
            return;
        }
        self.deferred.push(Deferred {
            text: text.clone(),
            path: path.to_string(),
            step: self.current_step,
            kind,
            local: self.step_env.clone(),
            item_allowed,
        });
    }
}

fn range_text(min: i64, max: i64) -> String {
    if max == i64::MAX {
        format!("a whole number, at least {min}")
    } else {
        format!("a whole number from {min} to {max}")
    }
}

/// "a string (`x`)" for messages about a wrong value.
pub(crate) fn describe(node: &Node) -> String {
    match node.as_text() {
        Some(t) if node.kind() == "a string" => format!("`{t}`"),
        Some(t) => format!("{} (`{t}`)", node.kind()),
        None => node.kind().to_string(),
    }
}
