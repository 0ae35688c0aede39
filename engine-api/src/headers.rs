//! Custom HTTP headers sent with every request, as the docker CLI sends them: from
//! `DOCKER_CUSTOM_HEADERS` (comma-separated `name=value` pairs, CSV quoting for values holding
//! commas), else from `HttpHeaders` in `config.json`. They are for what sits between the client
//! and the daemon — an authenticating proxy in front of a remote engine, say; the daemon itself
//! ignores them.
//!
//! As in the docker CLI, the environment variable replaces the file's headers rather than adding
//! to them, a later pair overrides an earlier one with the same name (names are
//! case-insensitive), a pair with an empty value is left out, and a pair without `=` or with an
//! empty name is an error. Custom headers never replace a header the client sets itself (`Host`,
//! `User-Agent`, `Content-Type`, `Connection`, `Upgrade`, `X-Registry-Auth`, …).
//!
//! Values often carry tokens: `Debug` shows the names only.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// The environment variable the docker CLI reads (27.1 and later, experimental there).
pub const ENV: &str = "DOCKER_CUSTOM_HEADERS";

/// Headers the client sets itself; a custom header of one of these names is not sent.
const RESERVED: &[&str] = &[
    "host",
    "user-agent",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "x-registry-auth",
    "x-registry-config",
];

/// Extra headers for every request of a client, with where they came from.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CustomHeaders {
    entries: Vec<(String, String)>,
    source: Option<String>,
}

impl fmt::Debug for CustomHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomHeaders")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

impl CustomHeaders {
    /// No headers.
    pub fn new() -> CustomHeaders {
        CustomHeaders::default()
    }

    /// Adds `name: value`, replacing a header of the same name (any case); an empty value
    /// removes it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a name or value that cannot be sent in an HTTP header.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        let name = name.trim();
        http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::config(format!("{name:?} is not a valid HTTP header name")))?;
        http::HeaderValue::from_str(value).map_err(|_| {
            Error::config(format!(
                "the value of header {name:?} cannot be sent in HTTP (control characters or non-ASCII)"
            ))
        })?;
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if !value.is_empty() {
            self.entries.push((name.to_string(), value.to_string()));
        }
        Ok(self)
    }

    /// The header names, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// Name and value pairs to send: every header but those the client sets itself.
    pub fn to_send(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter(|(n, _)| !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(n)))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Where the headers came from (`DOCKER_CUSTOM_HEADERS`, or `HttpHeaders in …/config.json`);
    /// `None` when they were set in code or there are none.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses a `DOCKER_CUSTOM_HEADERS` value.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the variable for bad quoting, a pair without `=`, an empty name
    /// or a name or value HTTP cannot carry. Messages never quote a value.
    pub fn from_env_value(value: &str) -> Result<CustomHeaders> {
        let bad = |why: String| Error::config(format!("{ENV}: {why}"));
        let fields = split_csv_record(value).map_err(|why| {
            bad(format!(
                "{why}; write comma-separated name=value pairs, quoting a pair that holds a comma (\"name=a,b\")"
            ))
        })?;
        let mut headers = CustomHeaders {
            entries: Vec::new(),
            source: Some(ENV.to_string()),
        };
        for (n, field) in fields.iter().enumerate() {
            // The entry is not quoted back: it may be a token written with `:` for `=`.
            let Some((name, value)) = field.split_once('=') else {
                return Err(bad(format!(
                    "entry {} has no `=`: each entry is name=value",
                    n + 1
                )));
            };
            if name.trim().is_empty() {
                return Err(bad("an entry has an empty header name".to_string()));
            }
            headers.insert(name, value).map_err(|e| match e {
                Error::Config { message } => bad(message),
                other => other,
            })?;
        }
        Ok(headers)
    }

    /// Reads `HttpHeaders` from the docker CLI's `config.json` in `config_dir`. A missing or
    /// unusable file, or one without the field, gives no headers (the docker CLI warns and goes
    /// on); a field of the wrong shape is an error naming the file.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `HttpHeaders` is not an object of strings or holds a header HTTP
    /// cannot carry.
    pub fn from_config_dir(config_dir: &Path) -> Result<CustomHeaders> {
        let path = config_dir.join("config.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(CustomHeaders::new());
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Ok(CustomHeaders::new());
        };
        let source = format!("HttpHeaders in {}", path.display());
        let mut headers = CustomHeaders {
            entries: Vec::new(),
            source: Some(source.clone()),
        };
        match doc.get("HttpHeaders") {
            None | Some(serde_json::Value::Null) => return Ok(CustomHeaders::new()),
            Some(serde_json::Value::Object(map)) => {
                for (name, value) in map {
                    let Some(value) = value.as_str() else {
                        return Err(Error::config(format!(
                            "{source}: the value of {name:?} must be a string"
                        )));
                    };
                    headers.insert(name, value).map_err(|e| match e {
                        Error::Config { message } => Error::config(format!("{source}: {message}")),
                        other => other,
                    })?;
                }
            }
            Some(_) => {
                return Err(Error::config(format!(
                    "{source} must be an object of header names to values"
                )))
            }
        }
        Ok(headers)
    }
}

/// Splits one CSV record (RFC 4180 quoting: a field in double quotes may hold commas, and `""`
/// inside it is one quote). Whitespace is kept as written.
fn split_csv_record(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted entry has no closing quote".to_string()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => {
                    return Err("a closing quote is followed by more than a comma".to_string())
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err("a quote inside an unquoted entry".to_string());
                    }
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(h: &CustomHeaders) -> Vec<(String, String)> {
        h.to_send()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn csv_pairs_quotes_overrides_and_empty_values() {
        let h = CustomHeaders::from_env_value(
            r#"one=one-value,"two=two,value","three= a value with whitespace  ",four=,five=five=one,five=five-two"#,
        )
        .unwrap();
        assert_eq!(
            pairs(&h),
            [
                ("one".to_string(), "one-value".to_string()),
                ("two".to_string(), "two,value".to_string()),
                (
                    "three".to_string(),
                    " a value with whitespace  ".to_string()
                ),
                ("five".to_string(), "five-two".to_string()),
            ]
        );
        assert_eq!(h.source(), Some(ENV));
        let h = CustomHeaders::from_env_value(r#""x-a=say ""hi""",X-A=again"#).unwrap();
        assert_eq!(pairs(&h), [("X-A".to_string(), "again".to_string())]);
    }

    #[test]
    fn bad_values_are_errors_that_never_quote_a_value() {
        for (value, why) in [
            ("X-Token:secret-token", "entry 1 has no `=`"),
            ("=secret-token", "empty header name"),
            ("\"a=unterminated", "no closing quote"),
            ("a=b\"c", "quote inside an unquoted entry"),
            ("\"a=b\"x", "followed by more than a comma"),
            ("bad name=secret-token", "not a valid HTTP header name"),
            ("x=secret\u{1}token", "cannot be sent in HTTP"),
        ] {
            let msg = CustomHeaders::from_env_value(value)
                .unwrap_err()
                .to_string();
            assert!(msg.contains(ENV), "{value}: {msg}");
            assert!(msg.contains(why), "{value}: {msg}");
            assert!(
                !msg.contains("secret-token") && !msg.contains("secret\u{1}"),
                "{msg}"
            );
        }
    }

    #[test]
    fn headers_the_client_sets_are_not_sent_and_debug_hides_values() {
        let mut h = CustomHeaders::new();
        h.insert("Host", "evil").unwrap();
        h.insert("user-agent", "x").unwrap();
        h.insert("X-Registry-Auth", "x").unwrap();
        h.insert("Authorization", "Bearer token-value").unwrap();
        assert_eq!(
            pairs(&h),
            [(
                "Authorization".to_string(),
                "Bearer token-value".to_string()
            )]
        );
        let shown = format!("{h:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(!shown.contains("token-value"), "{shown}");
    }

    #[test]
    fn config_json_http_headers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(CustomHeaders::from_config_dir(dir.path())
            .unwrap()
            .is_empty());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"HttpHeaders":{"X-Proxy-Token":"abc","X-Empty":""}}"#,
        )
        .unwrap();
        let h = CustomHeaders::from_config_dir(dir.path()).unwrap();
        assert_eq!(
            pairs(&h),
            [("X-Proxy-Token".to_string(), "abc".to_string())]
        );
        assert!(h.source().unwrap().starts_with("HttpHeaders in "));
        std::fs::write(dir.path().join("config.json"), r#"{"HttpHeaders":["x"]}"#).unwrap();
        let msg = CustomHeaders::from_config_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("must be an object"), "{msg}");
        std::fs::write(dir.path().join("config.json"), "not json").unwrap();
        assert!(CustomHeaders::from_config_dir(dir.path())
            .unwrap()
            .is_empty());
    }
}
