//! The JSON-lines decoder for pull, push, build, import and events streams.
//!
//! These endpoints answer `200` and then write one JSON object per line (`\r\n` from Docker's
//! progress streams, `\n` from Podman and from events; RFC 7464 `json-seq` records, which start
//! with `0x1E`, are accepted too). [`JsonLines`] decodes such a stream from arbitrary pieces:
//!
//! * objects split across pieces, several objects per piece, blank lines;
//! * linear in the input: each byte is searched for `\n` once; an object lying whole inside one
//!   piece is parsed in place, only an object split across pieces is gathered first;
//! * a line longer than the limit is an [`Error::Protocol`] rather than unbounded memory;
//! * a line that cannot be decoded is an [`Error::Decode`] carrying a snippet of it;
//! * a progress message carrying `error` or `errorDetail` is an [`Error::Stream`] with the
//!   engine's message: a pull that fails (unauthorized, not found, disk full) still answers 200.
//!
//! The error check is generic: it looks only at the top-level `error`/`errorDetail` keys, so it
//! works whatever type `T` the caller decodes into. [`stream_error`] exposes it for code that
//! handles lines itself. It costs nothing on ordinary lines: a line is probed only if it contains
//! the bytes `"error`, which any object with either key must (keys are not escaped by engines).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::search::{contains, find_byte};
use crate::error::{Error, Result};

/// The default longest line, 16 MiB (build output can put a large blob on one line).
pub const DEFAULT_MAX_JSON_LINE: usize = 16 * 1024 * 1024;

/// How much of an undecodable line an [`Error::Decode`] keeps.
const SNIPPET_LEN: usize = 200;

/// Incremental JSON-lines decoder. See the [module docs](self).
pub struct JsonLines<T> {
    what: Cow<'static, str>,
    max_line: usize,
    check_errors: bool,
    input: VecDeque<Bytes>,
    /// The start of a line that began in an earlier piece.
    pending: BytesMut,
    /// Discarding the rest of an over-long line.
    skipping: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for JsonLines<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("what", &self.what)
            .field("max_line", &self.max_line)
            .field("check_errors", &self.check_errors)
            .field("queued", &self.input.iter().map(Bytes::len).sum::<usize>())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<T: DeserializeOwned> JsonLines<T> {
    /// A decoder for a stream answering `what` (`"the image pull"`, `"the events stream"`; it
    /// names the request in decode errors). Errors reported in the stream are checked.
    pub fn new(what: impl Into<Cow<'static, str>>) -> JsonLines<T> {
        JsonLines {
            what: what.into(),
            max_line: DEFAULT_MAX_JSON_LINE,
            check_errors: true,
            input: VecDeque::new(),
            pending: BytesMut::new(),
            skipping: false,
            _item: PhantomData,
        }
    }

    /// Sets the longest accepted line (default [`DEFAULT_MAX_JSON_LINE`]).
    pub fn max_line(mut self, max_line: usize) -> JsonLines<T> {
        self.max_line = max_line.max(1);
        self
    }

    /// Whether a line carrying a top-level `error` or `errorDetail` becomes [`Error::Stream`]
    /// (default: yes). Turn it off for streams whose objects may legitimately have such keys.
    pub fn check_errors(mut self, check: bool) -> JsonLines<T> {
        self.check_errors = check;
        self
    }

    /// Queues a piece of the stream. Items come out of [`next_item`](Self::next_item).
    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.input.push_back(data);
        }
    }

    /// The next item from the queued input; `Ok(None)` when it holds no more complete lines.
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] for a progress message reporting an error, [`Error::Decode`] for a line
    /// that is not a `T`, [`Error::Protocol`] for a line over the limit. The decoder stays usable
    /// after an error: the offending line has been consumed.
    pub fn next_item(&mut self) -> Result<Option<T>> {
        while let Some(data) = self.input.front_mut() {
            let found = find_byte(b'\n', data);
            if self.skipping {
                // The rest of an over-long line that was already reported.
                match found {
                    Some(i) => {
                        data.advance(i + 1);
                        self.skipping = false;
                    }
                    None => {
                        self.input.pop_front();
                    }
                }
                continue;
            }
            let Some(i) = found else {
                if self.pending.len() + data.len() > self.max_line {
                    self.input.pop_front();
                    self.pending.clear();
                    self.skipping = true;
                    return Err(self.too_long());
                }
                self.pending.extend_from_slice(data);
                self.input.pop_front();
                continue;
            };
            if self.pending.is_empty() {
                let line = data.split_to(i);
                data.advance(1);
                if line.len() > self.max_line {
                    return Err(self.too_long());
                }
                match decode_line(&line, self.check_errors, &self.what) {
                    Some(item) => return item.map(Some),
                    None => continue,
                }
            }
            if self.pending.len() + i > self.max_line {
                data.advance(i + 1);
                self.pending.clear();
                return Err(self.too_long());
            }
            self.pending.extend_from_slice(&data[..i]);
            data.advance(i + 1);
            let item = decode_line(&self.pending, self.check_errors, &self.what);
            self.pending.clear();
            if let Some(item) = item {
                return item.map(Some);
            }
        }
        Ok(None)
    }

    /// At the end of the stream, once [`next_item`](Self::next_item) has returned `Ok(None)`:
    /// the final line if it was not terminated by `\n`.
    pub fn finish(&mut self) -> Result<Option<T>> {
        if let Some(item) = self.next_item()? {
            return Ok(Some(item));
        }
        if self.pending.is_empty() || self.skipping {
            return Ok(None);
        }
        let item = decode_line(&self.pending, self.check_errors, &self.what);
        self.pending.clear();
        item.transpose()
    }

    fn too_long(&self) -> Error {
        Error::protocol(format!(
            "a line of {} is longer than {} bytes",
            self.what, self.max_line
        ))
    }
}

/// Decodes one line; `None` for a blank line.
fn decode_line<T: DeserializeOwned>(
    line: &[u8],
    check_errors: bool,
    what: &str,
) -> Option<Result<T>> {
    let line = trim_line(line);
    if line.is_empty() {
        return None;
    }
    if check_errors {
        if let Some(message) = stream_error(line) {
            return Some(Err(Error::Stream { message }));
        }
    }
    Some(
        serde_json::from_slice(line).map_err(|source| Error::Decode {
            what: what.to_owned(),
            snippet: snippet(line),
            source,
        }),
    )
}

/// Strips surrounding whitespace and a json-seq record separator.
fn trim_line(mut line: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = line {
        if first.is_ascii_whitespace() || *first == 0x1e {
            line = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = line {
        if last.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    line
}

fn snippet(line: &[u8]) -> String {
    let end = line.len().min(SNIPPET_LEN);
    let mut s = String::from_utf8_lossy(&line[..end]).into_owned();
    if end < line.len() {
        s.push('…');
    }
    s
}

#[derive(Deserialize)]
struct ErrorProbe {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetailProbe>,
}

#[derive(Deserialize)]
struct ErrorDetailProbe {
    #[serde(default)]
    message: Option<String>,
}

/// The engine's error message if this JSON line is a progress message reporting an error
/// (a top-level `errorDetail.message`, else `error`), as the docker CLI reads it.
///
/// Image pull, push, build and import code that handles lines itself can call this; the
/// [`JsonLines`] decoder calls it on every line by default.
pub fn stream_error(line: &[u8]) -> Option<String> {
    if !contains(line, b"\"error") {
        return None;
    }
    let probe: ErrorProbe = serde_json::from_slice(trim_line(line)).ok()?;
    let detail = probe
        .error_detail
        .and_then(|d| d.message)
        .filter(|m| !m.is_empty());
    let plain = probe.error.and_then(|v| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    });
    detail.or(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Progress {
        status: String,
        #[serde(default)]
        id: Option<String>,
    }

    fn all(decoder: &mut JsonLines<Progress>, pieces: &[&[u8]]) -> Result<Vec<Progress>> {
        let mut out = Vec::new();
        for p in pieces {
            decoder.push(Bytes::copy_from_slice(p));
            while let Some(item) = decoder.next_item()? {
                out.push(item);
            }
        }
        while let Some(item) = decoder.finish()? {
            out.push(item);
        }
        Ok(out)
    }

    #[test]
    fn every_split_point_decodes_the_same() {
        let text = b"{\"status\":\"Pulling fs layer\",\"id\":\"a1\"}\r\n\r\n\n  \x1e{\"status\":\"Done\"}\n{\"status\":\"x\"}";
        let expected = vec![
            Progress {
                status: "Pulling fs layer".into(),
                id: Some("a1".into()),
            },
            Progress {
                status: "Done".into(),
                id: None,
            },
            Progress {
                status: "x".into(),
                id: None,
            },
        ];
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let mut d = JsonLines::new("the test stream");
                let got = all(&mut d, &[&text[..a], &text[a..b], &text[b..]]).unwrap();
                assert_eq!(got, expected, "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn error_details_become_stream_errors() {
        let mut d = JsonLines::<Progress>::new("the image pull");
        let e = all(
            &mut d,
            &[b"{\"status\":\"ok\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"legacy\"}\r\n"],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Stream { message } if message == "manifest unknown"),
            "{e}"
        );

        assert_eq!(
            stream_error(br#"{"error":"denied"}"#).as_deref(),
            Some("denied")
        );
        assert_eq!(stream_error(br#"{"status":"error pulling"}"#), None);
        assert_eq!(stream_error(br#"{"status":"x","error":""}"#), None);
        assert_eq!(
            stream_error(br#"{"Actor":{"Attributes":{"error":"label"}}}"#),
            None
        );
    }

    #[test]
    fn decode_errors_keep_a_snippet_and_decoding_goes_on() {
        let mut d = JsonLines::<Progress>::new("the image pull");
        d.push(Bytes::from_static(
            b"{\"status\": 5}\n{\"status\":\"next\"}\n",
        ));
        let e = d.next_item().unwrap_err();
        match &e {
            Error::Decode { what, snippet, .. } => {
                assert_eq!(what, "the image pull");
                assert_eq!(snippet, "{\"status\": 5}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.next_item().unwrap().unwrap().status, "next");
    }

    #[test]
    fn long_lines_are_rejected_and_skipped() {
        let mut d = JsonLines::<Progress>::new("s").max_line(20);
        d.push(Bytes::from_static(b"{\"status\":\"aaaaaaaaaaaaaaaa"));
        assert!(d.next_item().unwrap_err().is_protocol());
        d.push(Bytes::from_static(b"aaaa"));
        assert!(d.next_item().unwrap().is_none());
        d.push(Bytes::from_static(b"aaaa\"}\n{\"status\":\"b\"}\n"));
        assert_eq!(d.next_item().unwrap().unwrap().status, "b");
    }
}
