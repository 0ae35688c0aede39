//! A YAML tree that remembers where every node came from.
//!
//! `serde_yaml` does not expose node positions, so the loader drives `saphyr-parser`'s event
//! stream and builds its own small tree of [`Node`]s, each with its [`Span`]. This is the "raw"
//! stage of the model: nothing is interpreted yet except YAML itself (anchors, aliases and `<<`
//! merge keys are resolved here).
//!
//! The builder is iterative (an explicit stack, never recursion over the input) and bounded in
//! two ways, because workflow files may come from anywhere and a later issue fuzzes this code:
//! nesting deeper than [`MAX_DEPTH`] and alias expansion beyond [`MAX_NODES`] nodes are errors,
//! so a "billion laughs" file costs milliseconds, not gigabytes.

// `YamlError` is returned by value: one per file at most, never on a hot path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use super::span::{Pos, Span};

/// Deepest nesting of lists and mappings accepted. Real workflows stay under 12.
pub(crate) const MAX_DEPTH: usize = 64;

/// Most nodes a file may expand to, counting every node an alias copies.
pub(crate) const MAX_NODES: usize = 500_000;

/// One YAML node and its position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) span: Span,
    pub(crate) value: Value,
}

/// The shape of a node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar exactly as written: its text and whether it was quoted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scalar {
    pub(crate) text: String,
    /// Plain scalars may be null, booleans or numbers; quoted and block scalars are strings.
    pub(crate) plain: bool,
    /// A multi-line block scalar (`|` or `>`).
    pub(crate) block: bool,
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: Node,
    pub(crate) value: Node,
}

/// A YAML-level failure: bad syntax, a bomb, or a duplicate key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct YamlError {
    pub(crate) span: Span,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
    /// A second position worth showing (the first of two duplicate keys).
    pub(crate) previous: Option<Span>,
}

impl Node {
    /// The node's scalar, if it is one.
    pub(crate) fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// `null`, `~`, or nothing at all.
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.is_null())
    }

    /// The text of a non-null scalar of any type (numbers and booleans read as written).
    pub(crate) fn as_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) if !s.is_null() => Some(&s.text),
            _ => None,
        }
    }

    /// The mapping entries, if this is a mapping.
    pub(crate) fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub(crate) fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key.as_text() == Some(key))
            .map(|e| &e.value)
    }

    /// What this node is, for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar(s) if s.is_null() => "nothing (null)",
            Value::Scalar(s) if s.as_bool().is_some() => "a boolean",
            Value::Scalar(s) if s.as_i64().is_some() || s.as_f64().is_some() => "a number",
            Value::Scalar(_) => "a string",
        }
    }

    /// The text of a scalar as a JSON value (for pass-through maps and parallel items).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar(s) => s.to_json(),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => {
                let mut map = serde_json::Map::new();
                for e in entries {
                    let key = e.key.as_text().unwrap_or_default().to_string();
                    map.insert(key, e.value.to_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }

    fn count(&self) -> usize {
        match &self.value {
            Value::Scalar(_) => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|e| e.key.count() + e.value.count())
                    .sum::<usize>()
            }
        }
    }
}

impl Scalar {
    /// YAML 1.2 core schema null.
    pub(crate) fn is_null(&self) -> bool {
        self.plain && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// YAML 1.2 core schema boolean.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        if !self.plain {
            return None;
        }
        match self.text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    /// YAML 1.2 core schema integer (decimal, `0x`, `0o`).
    pub(crate) fn as_i64(&self) -> Option<i64> {
        if !self.plain {
            return None;
        }
        let t = self.text.as_str();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()?
        } else if let Some(oct) = digits.strip_prefix("0o") {
            i64::from_str_radix(oct, 8).ok()?
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<i64>().ok()?
        } else {
            return None;
        };
        Some(if neg { -magnitude } else { magnitude })
    }

    /// YAML 1.2 core schema float (integers included).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        if !self.plain {
            return None;
        }
        if let Some(i) = self.as_i64() {
            return Some(i as f64);
        }
        let t = self.text.as_str();
        let looks_numeric = t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
            && t.bytes().any(|b| b.is_ascii_digit());
        if looks_numeric {
            t.parse::<f64>().ok()
        } else {
            None
        }
    }

    fn to_json(&self) -> serde_json::Value {
        if self.is_null() {
            serde_json::Value::Null
        } else if let Some(b) = self.as_bool() {
            serde_json::Value::Bool(b)
        } else if let Some(i) = self.as_i64() {
            serde_json::Value::from(i)
        } else if let Some(f) = self.as_f64().and_then(serde_json::Number::from_f64) {
            serde_json::Value::Number(f)
        } else {
            serde_json::Value::String(self.text.clone())
        }
    }
}

/// Parses every document of `source`. An empty file yields one null document.
pub(crate) fn parse_documents(source: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        nodes: 0,
    };
    let mut parser = Parser::new_from_str(source);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(scan_error)?;
        let span = convert(span);
        if builder.event(event, span)? {
            break;
        }
    }
    if builder.docs.is_empty() {
        builder.docs.push(Node {
            span: Span::default(),
            value: Value::Scalar(Scalar {
                text: String::new(),
                plain: true,
                block: false,
            }),
        });
    }
    Ok(builder.docs)
}

fn convert(span: saphyr_parser::Span) -> Span {
    let pos = |m: saphyr_parser::Marker| Pos {
        index: m.index(),
        line: m.line().max(1),
        col: m.col(),
    };
    Span::new(pos(span.start), pos(span.end))
}

fn scan_error(e: ScanError) -> YamlError {
    let m = e.marker();
    let pos = Pos {
        index: m.index(),
        line: m.line().max(1),
        col: m.col(),
    };
    YamlError {
        span: Span::new(pos, pos),
        message: format!("invalid YAML: {}", e.info()),
        help: Some(if e.info().contains("tab") {
            "YAML indents with spaces only: replace the tabs at the start of this line".into()
        } else if e.info().contains("anchor") {
            "an alias `*name` needs an anchor `&name` earlier in the same document".into()
        } else {
            "YAML is indentation-sensitive: compare this line's indentation with the lines \
             above it, and quote values that contain `: ` or ` #`, or start with `{`, `[`, `*`, \
             `&`, `!`, `%`, `@` or a backtick"
                .into()
        }),
        previous: None,
    }
}

/// A collection being built: its start, its anchor, and what it holds so far.
struct Open {
    span: Span,
    anchor: usize,
    kind: OpenKind,
}

enum OpenKind {
    Seq(Vec<Node>),
    /// Entries, and a key waiting for its value.
    /// Entries, a key waiting for its value, and entries from `<<` merges (which explicit
    /// keys override, wherever they appear).
    Map(Vec<Entry>, Option<Node>, Vec<Entry>),
}

struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    nodes: usize,
}

impl Builder {
    /// Feeds one event; returns true at the end of the stream.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool, YamlError> {
        match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
            Event::DocumentEnd => self.anchors.clear(),
            Event::StreamEnd => return Ok(true),
            Event::Scalar(text, style, anchor, tag) => {
                // `!!str 123` is the string "123"; other tags are accepted and ignored.
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let node = Node {
                    span,
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain && !forced_string,
                        block: matches!(style, ScalarStyle::Literal | ScalarStyle::Folded),
                    }),
                };
                self.count(1, span)?;
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(span, anchor, OpenKind::Seq(Vec::new()))?
            }
            Event::MappingStart(anchor, _) => {
                self.open(span, anchor, OpenKind::Map(Vec::new(), None, Vec::new()))?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(false);
                };
                let value = match open.kind {
                    OpenKind::Seq(items) => Value::Seq(items),
                    OpenKind::Map(mut entries, _, merged) => {
                        for e in merged {
                            let present = entries.iter().any(|have| {
                                have.key.as_text().is_some()
                                    && have.key.as_text() == e.key.as_text()
                            });
                            if !present {
                                entries.push(e);
                            }
                        }
                        Value::Map(entries)
                    }
                };
                let mut node = Node {
                    span: open.span,
                    value,
                };
                node.span = node_span(&node, span);
                if open.anchor != 0 {
                    self.anchors.insert(open.anchor, node.clone());
                }
                self.push(node)?;
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(YamlError {
                        span,
                        message: "invalid YAML: alias to an unknown anchor".into(),
                        help: None,
                        previous: None,
                    });
                };
                let size = target.count();
                let mut copy = target.clone();
                self.count(size, span)?;
                // Keep the copy's contents pointing at the anchor, but the node itself at the
                // alias, so that errors about the node as a whole point at the use.
                copy.span = span;
                self.push(copy)?;
            }
        }
        Ok(false)
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                span,
                message: format!("YAML aliases expand this file to more than {MAX_NODES} nodes"),
                help: Some(
                    "an alias copies its anchor's whole subtree; aliases of aliases grow \
                     exponentially (a \"billion laughs\" file)"
                        .into(),
                ),
                previous: None,
            });
        }
        Ok(())
    }

    fn open(&mut self, span: Span, anchor: usize, kind: OpenKind) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError {
                span,
                message: format!("YAML nesting is deeper than {MAX_DEPTH} levels"),
                help: Some("a workflow needs only a few levels of lists and mappings".into()),
                previous: None,
            });
        }
        self.count(1, span)?;
        self.stack.push(Open { span, anchor, kind });
        Ok(())
    }

    /// Adds a finished node to the collection being built, or ends a document.
    fn push(&mut self, node: Node) -> Result<(), YamlError> {
        let Some(top) = self.stack.last_mut() else {
            self.docs.push(node);
            return Ok(());
        };
        match &mut top.kind {
            OpenKind::Seq(items) => items.push(node),
            OpenKind::Map(entries, pending, merged) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if key.as_text() == Some("<<") && key.scalar().is_some_and(|s| s.plain) {
                        merge(merged, node)?;
                    } else {
                        if let Some(text) = key.as_text() {
                            if let Some(first) =
                                entries.iter().find(|e| e.key.as_text() == Some(text))
                            {
                                return Err(YamlError {
                                    span: key.span,
                                    message: format!("duplicate key `{text}`"),
                                    help: Some(
                                        "a key may appear once per mapping; remove one".into(),
                                    ),
                                    previous: Some(first.key.span),
                                });
                            }
                        }
                        let mut node = node;
                        // A block collection under a key starts on a later line; let it start at
                        // its key, so that a diagnostic about the whole value points at
                        // `container:` rather than at its first field.
                        if matches!(node.value, Value::Map(_) | Value::Seq(_))
                            && node.span.start.line > key.span.start.line
                        {
                            node.span.start = key.span.start;
                        }
                        entries.push(Entry { key, value: node });
                    }
                }
            },
        }
        Ok(())
    }
}

/// Widens a collection's span to its last child (the end event of a block collection is empty).
fn node_span(node: &Node, end: Span) -> Span {
    let last = match &node.value {
        Value::Seq(items) => items.last().map(|n| n.span),
        Value::Map(entries) => entries.last().map(|e| e.value.span),
        Value::Scalar(_) => None,
    };
    let mut span = node.span;
    if let Some(last) = last {
        span = span.join(last);
    }
    if end.end.index > span.end.index && end.start.index != end.end.index {
        span.end = end.end;
    }
    span
}

/// Applies a YAML merge key (`<<: *base` or `<<: [*a, *b]`): keys already present win.
fn merge(entries: &mut Vec<Entry>, value: Node) -> Result<(), YamlError> {
    let sources: Vec<Node> = match value.value {
        Value::Map(_) => vec![value],
        Value::Seq(items) => items,
        Value::Scalar(_) => {
            return Err(YamlError {
                span: value.span,
                message: "a `<<` merge key needs a mapping or a list of mappings".into(),
                help: Some("write `<<: *anchor` where `&anchor` names a mapping".into()),
                previous: None,
            })
        }
    };
    for source in sources {
        let span = source.span;
        let Value::Map(more) = source.value else {
            return Err(YamlError {
                span,
                message: "a `<<` merge key needs a mapping or a list of mappings".into(),
                help: None,
                previous: None,
            });
        };
        for e in more {
            let present = entries
                .iter()
                .any(|have| have.key.as_text().is_some() && have.key.as_text() == e.key.as_text());
            if !present {
                entries.push(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let mut docs = parse_documents(src).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn keeps_positions() {
        let doc = one("a: 1\nsteps:\n  - id: x\n    run: echo hi\n");
        let steps = doc.get("steps").unwrap().as_seq().unwrap();
        let run = steps[0].get("run").unwrap();
        assert_eq!(run.as_text(), Some("echo hi"));
        assert_eq!((run.span.line(), run.span.column()), (4, 10));
        let key = &doc.as_map().unwrap()[1].key;
        assert_eq!((key.span.line(), key.span.column()), (2, 1));
    }

    #[test]
    fn scalar_types() {
        let doc = one("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 0x10\n");
        let s = |k: &str| doc.get(k).unwrap().scalar().unwrap().clone();
        assert_eq!(s("a").as_i64(), Some(1));
        assert_eq!(s("b").as_i64(), None);
        assert_eq!(s("c").as_bool(), Some(true));
        assert!(s("d").is_null());
        assert_eq!(s("e").as_f64(), Some(1.5));
        assert_eq!(s("f").as_i64(), Some(16));
    }

    #[test]
    fn several_documents() {
        let docs = parse_documents("a: 1\n---\nname: b\n---\nname: c\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[2].get("name").unwrap().as_text(), Some("c"));
    }

    #[test]
    fn merge_keys_and_aliases() {
        let doc = one("base: &b {image: alpine, user: root}\nc:\n  <<: *b\n  user: app\n");
        let c = doc.get("c").unwrap();
        assert_eq!(c.get("image").unwrap().as_text(), Some("alpine"));
        assert_eq!(c.get("user").unwrap().as_text(), Some("app"));
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let e = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.message, "duplicate key `a`");
        assert_eq!(e.span.line(), 3);
        assert_eq!(e.previous.unwrap().line(), 1);
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse_documents(&src).unwrap_err();
        assert!(e.message.contains("more than"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let src = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_documents(&src).is_err());
        let src = (0..200).fold(String::new(), |mut s, i| {
            s.push_str(&" ".repeat(i * 2));
            s.push_str("- \n");
            s
        });
        let e = parse_documents(&src);
        assert!(e.is_err() || e.is_ok());
    }

    #[test]
    fn empty_file_is_one_null_document() {
        let docs = parse_documents("").unwrap();
        assert!(docs[0].is_null());
    }
}
