//! Variable expansion: `${VAR}`, `$VAR`, `${params.NAME}`, `${ITEM}`, `${ITEM.field}`.
//!
//! A [`Scope`] holds the variables visible to a step: the workflow's `env` (evaluated in order),
//! its `params` (command-line overrides applied), the `output` variables of steps that already
//! ran, the step's own `env`, and inside a `parallel` run the current `ITEM`. Validation builds
//! the static part of the scope once; the runner extends it with outputs and items at run time
//! and calls the same [`expand`] function, so load time and run time can never disagree.
//!
//! Rules, following Dagu:
//! - A name that is not in scope is left as written (`${X}` stays `${X}`), so a shell in the
//!   container can still see it; validation warns about it.
//! - `\$` is a literal `$` in commands that do not go through a shell and in `with` fields;
//!   when a `shell` is configured, `\$` is left for that shell ([`Escapes::Shell`]).
//! - `${NAME.a.b}` reads a field of a JSON value (objects in `parallel.items`, JSON outputs).
//! - Anything after `$` that is not a name (`$1`, `${X:-d}`, `$(…)`) is left alone for the shell.
//! - The process environment is never consulted, except where a caller passes a fallback:
//!   top-level `env` values (so `HOST_HOME: ${HOME}` can import an OS value) and volume sources.

use std::collections::HashMap;

/// How `\$` is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Escapes {
    /// `\$` becomes `$` (no shell will see the text).
    Literal,
    /// `\$` stays `\$` for the shell that will run the text.
    Shell,
}

/// One `$` reference found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The variable name: `HOME`, `params`, `ITEM`, an output name.
    pub name: String,
    /// Field path after the name: `["field"]` for `${ITEM.field}`, `["NAME"]` for
    /// `${params.NAME}`.
    pub fields: Vec<String>,
    /// Byte range of the whole reference in the text.
    pub range: std::ops::Range<usize>,
}

impl Reference {
    /// The reference as written without braces, e.g. `ITEM.field`.
    pub fn display(&self) -> String {
        let mut s = self.name.clone();
        for f in &self.fields {
            s.push('.');
            s.push_str(f);
        }
        s
    }
}

/// Lexed piece of a text.
enum Piece<'a> {
    Text(&'a str),
    /// `\$`
    EscapedDollar,
    Var(Reference),
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn lex(text: &str) -> Vec<Piece<'_>> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'$') => {
                if start < i {
                    pieces.push(Piece::Text(&text[start..i]));
                }
                pieces.push(Piece::EscapedDollar);
                i += 2;
                start = i;
            }
            b'$' => {
                if let Some((reference, end)) = reference_at(text, i) {
                    if start < i {
                        pieces.push(Piece::Text(&text[start..i]));
                    }
                    pieces.push(Piece::Var(reference));
                    i = end;
                    start = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        pieces.push(Piece::Text(&text[start..]));
    }
    pieces
}

/// Reads a reference starting at the `$` at byte `at`; returns it and the byte after it.
fn reference_at(text: &str, at: usize) -> Option<(Reference, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at + 1) == Some(&b'{') {
        let close = text[at + 2..].find('}')? + at + 2;
        let inner = &text[at + 2..close];
        let mut parts = inner.split('.');
        let name = parts.next()?;
        if !valid_name(name) {
            return None;
        }
        let fields: Vec<String> = parts.map(str::to_string).collect();
        if fields
            .iter()
            .any(|f| f.is_empty() || !f.bytes().all(|b| is_name_char(b) || b == b'-'))
        {
            return None;
        }
        Some((
            Reference {
                name: name.to_string(),
                fields,
                range: at..close + 1,
            },
            close + 1,
        ))
    } else {
        let mut end = at + 1;
        if !bytes.get(end).copied().is_some_and(is_name_start) {
            return None;
        }
        while bytes.get(end).copied().is_some_and(is_name_char) {
            end += 1;
        }
        Some((
            Reference {
                name: text[at + 1..end].to_string(),
                fields: Vec::new(),
                range: at..end,
            },
            end,
        ))
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && b.iter().all(|&c| is_name_char(c))
}

/// Every variable reference in `text`, in order (escaped `\$` excluded).
pub fn references(text: &str) -> Vec<Reference> {
    lex(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// True when `text` holds no reference and no escape: it means the same at any time.
pub fn is_static(text: &str) -> bool {
    !text.contains('$')
}

/// The variables visible at one point of a run. `Debug` hides values named like secrets.
#[derive(Clone, Default, PartialEq)]
pub struct Scope {
    vars: HashMap<String, String>,
    params: HashMap<String, String>,
    item: Option<serde_json::Value>,
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Self {
        Scope::default()
    }

    /// Sets a variable (an `env` entry, an output); a later set of the same name wins.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// Sets a parameter, visible as `${NAME}` and `${params.NAME}`.
    pub fn set_param(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        self.vars.insert(name.clone(), value.clone());
        self.params.insert(name, value);
    }

    /// Sets the current `parallel` item, visible as `${ITEM}` and `${ITEM.field}`.
    pub fn set_item(&mut self, item: serde_json::Value) {
        self.item = Some(item);
    }

    /// A copy of this scope with step outputs added (name → captured stdout).
    pub fn with_outputs<'a, I>(&self, outputs: I) -> Scope
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut s = self.clone();
        for (k, v) in outputs {
            s.set(k, v);
        }
        s
    }

    /// The value of a plain variable.
    ///
    /// `ITEM` is the current `parallel` item where there is one; elsewhere it is an ordinary
    /// variable (a child workflow's parameter named `ITEM`, say).
    pub fn get(&self, name: &str) -> Option<&str> {
        if name == "ITEM" {
            if let Some(item) = &self.item {
                return match item {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                };
            }
        }
        self.vars.get(name).map(String::as_str)
    }

    /// True when `name` is defined here.
    pub fn contains(&self, name: &str) -> bool {
        (name == "ITEM" && self.item.is_some()) || self.vars.contains_key(name)
    }

    /// Names of all plain variables (for "did you mean").
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    fn resolve(&self, r: &Reference) -> Option<String> {
        if r.name == "params" && r.fields.len() == 1 {
            return self.params.get(&r.fields[0]).cloned();
        }
        let json;
        let value: &serde_json::Value = if let (true, Some(item)) = (r.name == "ITEM", &self.item) {
            item
        } else {
            let text = self.vars.get(&r.name)?;
            if r.fields.is_empty() {
                return Some(text.clone());
            }
            json = serde_json::from_str::<serde_json::Value>(text).ok()?;
            &json
        };
        let mut v = value;
        for f in &r.fields {
            v = v.get(f.as_str())?;
        }
        Some(match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// A lookup for names the scope lacks (the process environment, where the rules allow it).
pub type Fallback<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The result of expanding a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expanded {
    /// The text with every known reference replaced.
    pub text: String,
    /// References that were in neither the scope nor the fallback (left as written).
    pub unresolved: Vec<Reference>,
}

/// Expands `text` with `scope`; `fallback` is asked for names the scope lacks (the process
/// environment, where the rules allow it).
pub fn expand(
    text: &str,
    scope: &Scope,
    fallback: Option<Fallback<'_>>,
    escapes: Escapes,
) -> Expanded {
    let mut out = String::with_capacity(text.len());
    let mut unresolved = Vec::new();
    for piece in lex(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::EscapedDollar => out.push_str(match escapes {
                Escapes::Literal => "$",
                Escapes::Shell => "\\$",
            }),
            Piece::Var(r) => {
                let value = scope.resolve(&r).or_else(|| {
                    if r.fields.is_empty() {
                        fallback.and_then(|f| f(&r.name))
                    } else {
                        None
                    }
                });
                match value {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str(&text[r.range.clone()]);
                        unresolved.push(r);
                    }
                }
            }
        }
    }
    Expanded {
        text: out,
        unresolved,
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |m: &HashMap<String, String>| -> std::collections::BTreeMap<String, String> {
            m.iter()
                .map(|(k, v)| (k.clone(), crate::redact::value(k, v).to_string()))
                .collect()
        };
        f.debug_struct("Scope")
            .field("vars", &hide(&self.vars))
            .field("params", &hide(&self.params))
            .field("item", &self.item)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::new();
        s.set("TAG", "3.18");
        s.set_param("IMAGE", "alpine");
        s.set("OUT", r#"{"a":{"b":1},"s":"x"}"#);
        s
    }

    #[test]
    fn expands_braced_and_bare_names() {
        let e = expand(
            "alpine:${TAG} $TAG-$IMAGE",
            &scope(),
            None,
            Escapes::Literal,
        );
        assert_eq!(e.text, "alpine:3.18 3.18-alpine");
        assert!(e.unresolved.is_empty());
    }

    #[test]
    fn params_and_json_fields() {
        let e = expand(
            "${params.IMAGE} ${OUT.a.b} ${OUT.s}",
            &scope(),
            None,
            Escapes::Literal,
        );
        assert_eq!(e.text, "alpine 1 x");
    }

    #[test]
    fn items() {
        let mut s = scope();
        s.set_item(serde_json::json!({"image": "golang:1.22", "n": 2}));
        let e = expand("${ITEM.image}/${ITEM.n}", &s, None, Escapes::Literal);
        assert_eq!(e.text, "golang:1.22/2");
        s.set_item(serde_json::json!("python:3.10"));
        assert_eq!(
            expand("${ITEM}", &s, None, Escapes::Literal).text,
            "python:3.10"
        );
    }

    #[test]
    fn item_outside_a_fan_out_is_an_ordinary_variable() {
        // A child workflow's parameter named ITEM (its parent passed `ITEM: ${ITEM}`).
        let mut s = scope();
        s.set_param("ITEM", r#"{"os":"linux"}"#);
        assert_eq!(
            expand("${ITEM} ${ITEM.os} $ITEM", &s, None, Escapes::Literal).text,
            r#"{"os":"linux"} linux {"os":"linux"}"#
        );
        assert_eq!(s.get("ITEM"), Some(r#"{"os":"linux"}"#));
        // Inside a fan-out the item wins.
        s.set_item(serde_json::json!(7));
        assert_eq!(expand("${ITEM}", &s, None, Escapes::Literal).text, "7");
    }

    #[test]
    fn unknown_names_stay_and_are_reported() {
        let e = expand("a ${NOPE} $ALSO b", &scope(), None, Escapes::Literal);
        assert_eq!(e.text, "a ${NOPE} $ALSO b");
        let names: Vec<_> = e.unresolved.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["NOPE", "ALSO"]);
    }

    #[test]
    fn escapes_depend_on_the_shell() {
        assert_eq!(
            expand(r"cost \$TAG", &scope(), None, Escapes::Literal).text,
            "cost $TAG"
        );
        assert_eq!(
            expand(r"cost \$TAG", &scope(), None, Escapes::Shell).text,
            r"cost \$TAG"
        );
    }

    #[test]
    fn shell_syntax_is_left_alone() {
        let text = "echo $1 ${X:-d} $(date) $$ 5$";
        assert_eq!(expand(text, &scope(), None, Escapes::Literal).text, text);
    }

    #[test]
    fn fallback_is_used_for_missing_names_only() {
        let env = |n: &str| (n == "HOME").then(|| "/home/u".to_string());
        let e = expand("${HOME}:${TAG}", &scope(), Some(&env), Escapes::Literal);
        assert_eq!(e.text, "/home/u:3.18");
    }
}
