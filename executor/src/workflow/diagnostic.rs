//! Errors and warnings about a workflow file, and their rendering.
//!
//! A [`Diagnostic`] keeps the position of the YAML node it is about, the field path that leads
//! to it (`steps[2].container.volumes[0]`), what is allowed there and, for near-miss names, the
//! nearest valid one. [`Diagnostics`] holds every diagnostic of one file together with the file's
//! text, and [`Diagnostics::render`] turns them into the text a person reads:
//!
//! ```text
//! error: unknown field `imgae` in a container
//!  --> deploy.yaml:4:5
//!   |
//! 4 |     imgae: alpine:3
//!   |     ^^^^^
//!   |
//!   = field: steps[0].container.imgae
//!   = help: did you mean `image`?
//! ```
//!
//! Nothing here prints; the CLI decides where the text goes.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use super::span::Span;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The workflow runs, but probably not as meant.
    Warning,
    /// The workflow cannot run.
    Error,
}

/// One problem found in a workflow file.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    // Boxed: a diagnostic travels in the `Err` of many small functions.
    inner: Box<Inner>,
}

#[derive(Clone, Debug, PartialEq)]
struct Inner {
    severity: Severity,
    message: String,
    field: String,
    span: Option<Span>,
    allowed: Option<String>,
    help: Vec<String>,
    notes: Vec<(String, Option<Span>)>,
}

impl Diagnostic {
    fn new(severity: Severity, message: String, field: String, span: Option<Span>) -> Self {
        Diagnostic {
            inner: Box::new(Inner {
                severity,
                message,
                field,
                span,
                allowed: None,
                help: Vec::new(),
                notes: Vec::new(),
            }),
        }
    }

    /// An error about the node at `span`, reached through `field`.
    pub(crate) fn error(message: impl Into<String>, field: impl Into<String>, span: Span) -> Self {
        Diagnostic::new(Severity::Error, message.into(), field.into(), Some(span))
    }

    /// A warning about the node at `span`.
    pub(crate) fn warning(
        message: impl Into<String>,
        field: impl Into<String>,
        span: Span,
    ) -> Self {
        Diagnostic::new(Severity::Warning, message.into(), field.into(), Some(span))
    }

    /// A diagnostic with no place in the file (for example about a command-line parameter).
    pub(crate) fn general(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic::new(severity, message.into(), String::new(), None)
    }

    /// What the field accepts.
    pub(crate) fn with_allowed(mut self, allowed: impl Into<String>) -> Self {
        self.inner.allowed = Some(allowed.into());
        self
    }

    /// A hint on how to fix it.
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.inner.help.push(help.into());
        self
    }

    /// "did you mean `x`?" when there is a near match.
    pub(crate) fn with_suggestion(mut self, suggestion: Option<&str>) -> Self {
        if let Some(s) = suggestion {
            self.inner.help.push(format!("did you mean `{s}`?"));
        }
        self
    }

    /// A related fact, optionally about another position.
    pub(crate) fn with_note(mut self, note: impl Into<String>, span: Option<Span>) -> Self {
        self.inner.notes.push((note.into(), span));
        self
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.inner.severity
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.inner.severity == Severity::Error
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The field path, e.g. `steps[2].container.volumes[0]`; empty for the whole document.
    pub fn field(&self) -> &str {
        &self.inner.field
    }

    /// Where in the file, if anywhere.
    pub fn span(&self) -> Option<Span> {
        self.inner.span
    }

    /// 1-based line, if the diagnostic has a position.
    pub fn line(&self) -> Option<usize> {
        self.inner.span.map(|s| s.line())
    }

    /// 1-based column, if the diagnostic has a position.
    pub fn column(&self) -> Option<usize> {
        self.inner.span.map(|s| s.column())
    }

    /// What the field accepts, when that can be said briefly.
    pub fn allowed(&self) -> Option<&str> {
        self.inner.allowed.as_deref()
    }

    /// Hints, "did you mean" included.
    pub fn help(&self) -> &[String] {
        &self.inner.help
    }

    /// Related facts, each with the position it is about, if any.
    pub fn notes(&self) -> impl Iterator<Item = (&str, Option<Span>)> {
        self.inner.notes.iter().map(|(n, s)| (n.as_str(), *s))
    }
}

/// All diagnostics of one workflow file, with the file's name and text for rendering.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    file: String,
    source: Arc<str>,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(file: impl Into<String>, source: Arc<str>) -> Self {
        Diagnostics {
            file: file.into(),
            source,
            items: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub(crate) fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(ds);
    }

    /// Orders by position so that output reads top to bottom; stable for equal positions.
    pub(crate) fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            d.inner
                .span
                .map(|s| (s.start.index, s.end.index))
                .unwrap_or((0, 0))
        });
        self.items.dedup();
    }

    /// The file name used in `file:line:col`.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every diagnostic, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True when at least one is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// The whole human text: each diagnostic with its position, source line and caret, then a
    /// one-line summary. Empty when there is nothing to say.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            self.render_one(&mut out, d);
            out.push('\n');
        }
        let (errors, warnings) = (self.error_count(), self.warning_count());
        if errors > 0 {
            let _ = writeln!(
                out,
                "error: `{}` is not a valid workflow: {}{}",
                self.file,
                plural(errors, "error"),
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            );
        } else if warnings > 0 {
            let _ = writeln!(
                out,
                "warning: `{}` is valid, with {}",
                self.file,
                plural(warnings, "warning")
            );
        }
        out
    }

    fn render_one(&self, out: &mut String, d: &Diagnostic) {
        let d = &*d.inner;
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}: {}", d.message);
        let gutter_width = d
            .span
            .iter()
            .chain(d.notes.iter().filter_map(|(_, s)| s.as_ref()))
            .map(|s| s.line().to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(gutter_width);
        if let Some(span) = d.span {
            self.snippet(out, &pad, span);
        }
        let mut tail = Vec::new();
        if !d.field.is_empty() {
            tail.push(format!("field: {}", d.field));
        }
        if let Some(a) = &d.allowed {
            tail.push(format!("allowed: {a}"));
        }
        for h in &d.help {
            tail.push(format!("help: {h}"));
        }
        for (note, span) in &d.notes {
            match span {
                Some(s) => tail.push(format!(
                    "note: {note} (at {}:{}:{})",
                    self.file,
                    s.line(),
                    s.column()
                )),
                None => tail.push(format!("note: {note}")),
            }
        }
        if !tail.is_empty() {
            if d.span.is_some() {
                let _ = writeln!(out, "{pad} |");
            }
            for t in tail {
                let _ = writeln!(out, "{pad} = {t}");
            }
        }
    }

    fn snippet(&self, out: &mut String, pad: &str, span: Span) {
        let _ = writeln!(
            out,
            "{pad}--> {}:{}:{}",
            self.file,
            span.line(),
            span.column()
        );
        let Some(text) = self.source.lines().nth(span.line() - 1) else {
            return;
        };
        let text = text.trim_end_matches('\r');
        // Very long lines (a generated list on one line) are cut so the output stays readable.
        const MAX_SHOWN: usize = 120;
        let cut: String;
        let text = if text.chars().count() > MAX_SHOWN {
            let keep = span
                .start
                .col
                .saturating_add(40)
                .clamp(MAX_SHOWN, text.chars().count());
            cut = text.chars().take(keep).collect::<String>() + " …";
            cut.as_str()
        } else {
            text
        };
        let line_no = span.line().to_string();
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{line_no:>w$} | {text}", w = pad.len());
        // The caret line copies tabs so it lines up under tab-indented text.
        let mut caret = String::new();
        for c in text.chars().take(span.start.col) {
            caret.push(if c == '\t' { '\t' } else { ' ' });
        }
        let line_chars = text.trim_end_matches(" …").chars().count();
        let width = if span.end.line == span.start.line {
            span.end.col.saturating_sub(span.start.col)
        } else {
            line_chars.saturating_sub(span.start.col)
        };
        let width = width.min(line_chars.saturating_sub(span.start.col)).max(1);
        caret.push_str(&"^".repeat(width));
        let _ = writeln!(out, "{pad} | {caret}");
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::super::span::Pos;
    use super::*;

    fn span(line: usize, col: usize, len: usize, index: usize) -> Span {
        Span::new(
            Pos { index, line, col },
            Pos {
                index: index + len,
                line,
                col: col + len,
            },
        )
    }

    #[test]
    fn renders_caret_under_the_node() {
        let src: Arc<str> = Arc::from("steps:\n  - id: a\n    imgae: x\n");
        let mut ds = Diagnostics::new("wf.yaml", src);
        ds.push(
            Diagnostic::error(
                "unknown field `imgae` in a step",
                "steps[0].imgae",
                span(3, 4, 5, 20),
            )
            .with_suggestion(Some("image")),
        );
        let text = ds.render();
        assert_eq!(
            text,
            "error: unknown field `imgae` in a step\n \
             --> wf.yaml:3:5\n  |\n3 |     imgae: x\n  |     ^^^^^\n  |\n  \
             = field: steps[0].imgae\n  = help: did you mean `image`?\n\n\
             error: `wf.yaml` is not a valid workflow: 1 error\n"
        );
    }
}
