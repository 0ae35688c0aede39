//! A hand-written HTTP/1.1 client path for the streaming endpoints.
//!
//! Docker and Podman send a log stream as one HTTP chunk per line. Read through hyper's body
//! API every chunk is a task handoff through a one-slot channel (≈ 240 ns each, measured), which
//! caps a log read far below the socket's speed. This module speaks just enough HTTP/1.1 to do
//! without: it writes a request, parses the response head, and decodes the body **linearly from
//! one large read buffer** — a chunk that lies whole in the buffer is a hex size parse and a
//! zero-copy [`Bytes`] slice, with no per-chunk task switch and no per-chunk allocation.
//!
//! * [`send`] writes a [`RawRequest`] on a dedicated connection and reads the response head
//!   into a [`RawResponse`]. Request bodies ([`RawBody`]) are empty, in-memory bytes
//!   (`Content-Length`), or streamed with chunked transfer-encoding from an `AsyncRead` or a
//!   `Stream` of [`Bytes`] — a large tar is never held whole in memory.
//! * [`BodyReader`] yields the body's data: chunked (sizes with extensions, trailers), with
//!   `Content-Length`, or until the connection closes. It has an optional idle timeout
//!   ([`Error::Timeout`]). A body cut short — EOF inside a chunk, before the last chunk, or
//!   before `Content-Length` bytes — is [`Error::ConnectionLost`], never a quiet end.
//! * [`Upgraded`] is a hijacked connection (attach, exec start): Docker answers
//!   `101 UPGRADED`, or `200` and then raw bytes. It hands back the bytes already buffered past
//!   the head plus the connection, as a duplex or split into an output [`BodyReader`] and a
//!   write half for stdin (half-closed with `shutdown()`).
//! * [`RawResponse::stream_media_type`] exposes the declared media type so callers choose the
//!   output decoder from it (see [`Framing::choose`]); nothing here guesses from the bytes.
//!
//! Reading is pull-driven: the socket is read only when the consumer asks for data, so a slow
//! consumer slows the engine (backpressure), and dropping the reader closes the connection.
//!
//! Everything is generic over the connection type (default [`Conn`]) so tests and fuzzers can
//! drive it over in-memory streams.
//!
//! # Example
//!
//! Following a container's logs on a dedicated connection:
//!
//! ```no_run
//! use engine_api::transport::raw::{self, RawOptions, RawRequest};
//! use engine_api::transport::Conn;
//!
//! # async fn run() -> engine_api::Result<()> {
//! let socket = tokio::net::UnixStream::connect("/var/run/docker.sock")
//!     .await
//!     .expect("docker socket");
//! let options = RawOptions::new("unix:///var/run/docker.sock")
//!     .idle_timeout(Some(std::time::Duration::from_secs(300)));
//! let request = RawRequest::get("/v1.41/containers/web/logs?follow=1&stdout=1&stderr=1");
//! let response = raw::send(Conn::Unix(socket), request, &options)
//!     .await?
//!     .error_for_status()
//!     .await?;
//! // `tty` is the container's Config.Tty; a multiplexed-stream media type overrides it.
//! let mut logs = response.into_log_stream(false);
//! while let Some(chunk) = logs.next_chunk_ref().await? {
//!     // chunk.stream is Stdout or Stderr; chunk.data borrows the read buffer.
//!     let _ = (chunk.stream, chunk.data.len());
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::io::{
    AsyncBufRead, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf,
};
use tokio::time::{Instant, Sleep};

use super::connect::Conn;
use crate::error::{Error, Result};
use crate::stream::framing::{Framing, StreamMediaType};
use crate::stream::json_lines::JsonLines;
use crate::stream::json_stream::JsonStream;
use crate::stream::log_stream::LogStream;
use crate::stream::search::find_byte;

/// The default read buffer, 128 KiB: one read syscall carries ~1800 log-line chunks.
pub const DEFAULT_BUFFER_SIZE: usize = 128 * 1024;
/// The default limit on a response head (status line and headers).
pub const DEFAULT_MAX_HEAD_SIZE: usize = 64 * 1024;
/// The largest error body read to build an [`Error::Engine`] message (as the docker CLI).
const MAX_ERROR_BODY: usize = 1024 * 1024;
/// Reads smaller than this are not worth a syscall: the buffer is compacted or renewed first.
const MIN_READ: usize = 8 * 1024;
/// The longest chunk-size line (size plus extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// The most trailer bytes accepted.
const MAX_TRAILERS: usize = 64 * 1024;
/// How much of a streamed request body is sent per chunk.
const REQUEST_CHUNK: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Options

/// Settings of the raw path: buffer size, limits and timeouts.
#[derive(Debug, Clone)]
pub struct RawOptions {
    endpoint: Arc<str>,
    head_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    buffer_size: usize,
    max_head_size: usize,
}

impl Default for RawOptions {
    fn default() -> Self {
        RawOptions::new("the engine")
    }
}

impl RawOptions {
    /// Defaults, naming `endpoint` (as the user wrote it) in connection errors.
    pub fn new(endpoint: impl Into<Arc<str>>) -> RawOptions {
        RawOptions {
            endpoint: endpoint.into(),
            head_timeout: None,
            idle_timeout: None,
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_head_size: DEFAULT_MAX_HEAD_SIZE,
        }
    }

    /// How long to wait for the response head after the request is sent (default: no limit).
    pub fn head_timeout(mut self, timeout: Option<Duration>) -> RawOptions {
        self.head_timeout = timeout;
        self
    }

    /// How long a body read may wait for the next bytes before [`Error::Timeout`] (default: no
    /// limit). It measures silence, not total duration: a `follow` stream may run for days.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> RawOptions {
        self.idle_timeout = timeout;
        self
    }

    /// The read buffer size (clamped to 16 KiB ..= 16 MiB; default [`DEFAULT_BUFFER_SIZE`]).
    pub fn buffer_size(mut self, size: usize) -> RawOptions {
        self.buffer_size = size.clamp(16 * 1024, 16 * 1024 * 1024);
        self
    }

    /// The largest response head accepted (default [`DEFAULT_MAX_HEAD_SIZE`]).
    pub fn max_head_size(mut self, size: usize) -> RawOptions {
        self.max_head_size = size.max(256);
        self
    }

    /// The endpoint named in errors.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn lost(&self, during: &'static str, source: Option<io::Error>) -> Error {
        lost(&self.endpoint, during, source)
    }
}

fn lost(endpoint: &Arc<str>, during: &'static str, source: Option<io::Error>) -> Error {
    Error::ConnectionLost {
        endpoint: endpoint.to_string(),
        during,
        source: source.map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// A request body for the raw path.
pub struct RawBody(BodyKind);

enum BodyKind {
    Empty,
    Full(Bytes),
    Reader {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        len: Option<u64>,
    },
    Stream(Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>),
}

impl fmt::Debug for RawBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            BodyKind::Empty => f.write_str("RawBody::Empty"),
            BodyKind::Full(b) => write!(f, "RawBody::Bytes({} bytes)", b.len()),
            BodyKind::Reader { len: Some(n), .. } => write!(f, "RawBody::Reader({n} bytes)"),
            BodyKind::Reader { len: None, .. } => f.write_str("RawBody::Reader(chunked)"),
            BodyKind::Stream(_) => f.write_str("RawBody::Stream(chunked)"),
        }
    }
}

impl Default for RawBody {
    fn default() -> Self {
        RawBody::empty()
    }
}

impl RawBody {
    /// No body.
    pub fn empty() -> RawBody {
        RawBody(BodyKind::Empty)
    }

    /// In-memory bytes, sent with `Content-Length`.
    pub fn bytes(data: impl Into<Bytes>) -> RawBody {
        RawBody(BodyKind::Full(data.into()))
    }

    /// Streamed from `reader` with chunked transfer-encoding, 64 KiB at a time.
    pub fn reader(reader: impl AsyncRead + Send + 'static) -> RawBody {
        RawBody(BodyKind::Reader {
            reader: Box::pin(reader),
            len: None,
        })
    }

    /// Streamed from `reader` with `Content-Length: len` (a file of known size). A reader that
    /// ends early fails the request; bytes past `len` are not read.
    pub fn sized_reader(reader: impl AsyncRead + Send + 'static, len: u64) -> RawBody {
        RawBody(BodyKind::Reader {
            reader: Box::pin(reader),
            len: Some(len),
        })
    }

    /// Streamed from `stream` with chunked transfer-encoding, one HTTP chunk per item (empty
    /// items are skipped: an empty chunk would end the body).
    pub fn stream(stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> RawBody {
        RawBody(BodyKind::Stream(Box::pin(stream)))
    }

    /// Whether there is no body.
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, BodyKind::Empty)
    }
}

/// A request for the raw path: method, target (path and query), `Host`, extra headers, body.
///
/// The framing headers are the raw path's business: `Content-Length` and `Transfer-Encoding`
/// set here are ignored and derived from the body.
#[derive(Debug)]
pub struct RawRequest {
    method: Method,
    target: String,
    host: String,
    headers: HeaderMap,
    body: RawBody,
    upgrade: bool,
}

impl RawRequest {
    /// A request for `target`, the path and query (`/v1.41/containers/x/logs?follow=1`), with
    /// `Host: docker` (what the docker CLI sends over a unix socket).
    pub fn new(method: Method, target: impl Into<String>) -> RawRequest {
        RawRequest {
            method,
            target: target.into(),
            host: "docker".to_owned(),
            headers: HeaderMap::new(),
            body: RawBody::empty(),
            upgrade: false,
        }
    }

    /// A `GET` request.
    pub fn get(target: impl Into<String>) -> RawRequest {
        RawRequest::new(Method::GET, target)
    }

    /// A `POST` request.
    pub fn post(target: impl Into<String>) -> RawRequest {
        RawRequest::new(Method::POST, target)
    }

    /// Sets the `Host` header (the TCP host and port for TCP endpoints).
    pub fn host(mut self, host: impl Into<String>) -> RawRequest {
        self.host = host.into();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> RawRequest {
        self.headers.append(name, value);
        self
    }

    /// The extra headers, to add several.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Sets the body.
    pub fn body(mut self, body: RawBody) -> RawRequest {
        self.body = body;
        self
    }

    /// Asks for the connection to be hijacked for attach or exec start: `Connection: Upgrade`
    /// (exactly that value: Podman answers a raw 200 to anything else) and `Upgrade: tcp`.
    pub fn upgrade(mut self) -> RawRequest {
        self.upgrade = true;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The target (path and query).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Encodes the request head.
    fn encode_head(&self) -> Result<Vec<u8>> {
        if self.target.is_empty()
            || !self.target.starts_with('/')
            || self.target.bytes().any(|b| b <= b' ' || b == 0x7f)
        {
            return Err(Error::config(format!(
                "invalid request target {:?}: it must start with `/` and hold no spaces or \
                 control characters (percent-encode them)",
                self.target
            )));
        }
        if self.host.bytes().any(|b| b < b' ' || b == 0x7f) {
            return Err(Error::config(format!(
                "invalid Host header value {:?}",
                self.host
            )));
        }
        let mut head = Vec::with_capacity(256 + self.target.len());
        head.extend_from_slice(self.method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(self.target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        head.extend_from_slice(self.host.as_bytes());
        head.extend_from_slice(b"\r\n");
        if self.upgrade {
            head.extend_from_slice(b"Connection: Upgrade\r\nUpgrade: tcp\r\n");
        }
        for (name, value) in &self.headers {
            if name == http::header::CONTENT_LENGTH
                || name == http::header::TRANSFER_ENCODING
                || name == http::header::HOST
                || (self.upgrade
                    && (name == http::header::CONNECTION || name == http::header::UPGRADE))
            {
                continue;
            }
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        match &self.body.0 {
            BodyKind::Empty => {
                if self.method == Method::POST || self.method == Method::PUT {
                    head.extend_from_slice(b"Content-Length: 0\r\n");
                }
            }
            BodyKind::Full(b) => {
                head.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes())
            }
            BodyKind::Reader { len: Some(n), .. } => {
                head.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
            }
            BodyKind::Reader { len: None, .. } | BodyKind::Stream(_) => {
                head.extend_from_slice(b"Transfer-Encoding: chunked\r\n")
            }
        }
        head.extend_from_slice(b"\r\n");
        Ok(head)
    }
}

/// Sends `request` on `io` (a fresh connection: the raw path does not pool) and reads the
/// response head.
///
/// If sending the body fails because the engine answered early and closed (a `404` for a tar
/// upload to a missing container), the engine's response is returned rather than the broken
/// pipe.
///
/// # Errors
///
/// [`Error::ConnectionLost`] if the connection breaks before a response head arrives;
/// [`Error::Timeout`] if the head does not arrive within the head timeout;
/// [`Error::Protocol`] for a malformed or oversized head; [`Error::Io`] if a streamed request
/// body fails to read. An HTTP error status is *not* an error here: see
/// [`RawResponse::error_for_status`].
pub async fn send<S>(mut io: S, request: RawRequest, options: &RawOptions) -> Result<RawResponse<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = request.encode_head()?;
    let is_head = request.method == Method::HEAD;
    let written = write_request(&mut io, head, request.body, options).await;
    let mut buf = BytesMut::with_capacity(options.buffer_size);
    let response = match options.head_timeout {
        None => read_head(&mut io, &mut buf, options, is_head).await,
        Some(after) => {
            match tokio::time::timeout(after, read_head(&mut io, &mut buf, options, is_head)).await
            {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout {
                    after,
                    during: "waiting for the engine's response headers",
                }),
            }
        }
    };
    let (status, headers, framing) = match (written, response) {
        (Ok(()), Ok(head)) => head,
        // A broken pipe while sending, but the engine answered: its answer says why.
        (Err(Error::ConnectionLost { .. }), Ok(head)) => head,
        (Err(e), _) => return Err(e),
        (Ok(()), Err(e)) => return Err(e),
    };
    Ok(RawResponse {
        status,
        headers,
        framing,
        io,
        buf,
        options: options.clone(),
    })
}

async fn write_request<S>(
    io: &mut S,
    mut head: Vec<u8>,
    body: RawBody,
    options: &RawOptions,
) -> Result<()>
where
    S: AsyncWrite + Unpin,
{
    let broken = |e: io::Error| options.lost("while sending the request", Some(e));
    match body.0 {
        BodyKind::Empty => io.write_all(&head).await.map_err(broken)?,
        BodyKind::Full(data) if data.len() <= 64 * 1024 => {
            head.extend_from_slice(&data);
            io.write_all(&head).await.map_err(broken)?;
        }
        BodyKind::Full(data) => {
            io.write_all(&head).await.map_err(broken)?;
            io.write_all(&data).await.map_err(broken)?;
        }
        BodyKind::Reader {
            mut reader,
            len: Some(len),
        } => {
            io.write_all(&head).await.map_err(broken)?;
            let mut left = len;
            let mut buf = vec![0u8; REQUEST_CHUNK];
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = reader
                    .read(&mut buf[..want])
                    .await
                    .map_err(|e| Error::io("read the request body", e))?;
                if n == 0 {
                    return Err(Error::io(
                        "read the request body",
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("it ended after {} of {len} bytes", len - left),
                        ),
                    ));
                }
                io.write_all(&buf[..n]).await.map_err(broken)?;
                left -= n as u64;
            }
        }
        BodyKind::Reader {
            mut reader,
            len: None,
        } => {
            io.write_all(&head).await.map_err(broken)?;
            // [size line, right-aligned in 10 bytes][data][\r\n]: one write per chunk.
            const PREFIX: usize = 10;
            let mut buf = vec![0u8; PREFIX + REQUEST_CHUNK + 2];
            loop {
                let n = reader
                    .read(&mut buf[PREFIX..PREFIX + REQUEST_CHUNK])
                    .await
                    .map_err(|e| Error::io("read the request body", e))?;
                if n == 0 {
                    break;
                }
                let size = format!("{n:x}\r\n");
                let start = PREFIX - size.len();
                buf[start..PREFIX].copy_from_slice(size.as_bytes());
                buf[PREFIX + n..PREFIX + n + 2].copy_from_slice(b"\r\n");
                io.write_all(&buf[start..PREFIX + n + 2])
                    .await
                    .map_err(broken)?;
            }
            io.write_all(b"0\r\n\r\n").await.map_err(broken)?;
        }
        BodyKind::Stream(mut stream) => {
            io.write_all(&head).await.map_err(broken)?;
            let mut scratch = Vec::with_capacity(16 * 1024 + 16);
            while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                let data = item.map_err(|e| Error::io("read the request body", e))?;
                if data.is_empty() {
                    continue;
                }
                let size = format!("{:x}\r\n", data.len());
                if data.len() <= 16 * 1024 {
                    scratch.clear();
                    scratch.extend_from_slice(size.as_bytes());
                    scratch.extend_from_slice(&data);
                    scratch.extend_from_slice(b"\r\n");
                    io.write_all(&scratch).await.map_err(broken)?;
                } else {
                    io.write_all(size.as_bytes()).await.map_err(broken)?;
                    io.write_all(&data).await.map_err(broken)?;
                    io.write_all(b"\r\n").await.map_err(broken)?;
                }
            }
            io.write_all(b"0\r\n\r\n").await.map_err(broken)?;
        }
    }
    io.flush().await.map_err(broken)
}

// ---------------------------------------------------------------------------------------------
// Response head

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFraming {
    /// No body (`204`, `304`, a `HEAD` response, `Content-Length: 0`).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the engine closes the connection (a hijacked `200` stream, or no
    /// length given).
    UntilClose,
    /// `101 Switching Protocols`: no HTTP body; the connection is a raw duplex.
    Upgraded,
}

type Head = (StatusCode, HeaderMap, BodyFraming);

/// Reads and parses the response head into `buf`, leaving the bytes after it in `buf`.
async fn read_head<S>(
    io: &mut S,
    buf: &mut BytesMut,
    options: &RawOptions,
    is_head: bool,
) -> Result<Head>
where
    S: AsyncRead + Unpin,
{
    loop {
        let mut scanned = 0;
        let end = loop {
            if let Some(end) = find_head_end(buf, scanned) {
                break end;
            }
            if buf.len() >= options.max_head_size {
                return Err(Error::protocol(format!(
                    "the response head is longer than {} bytes",
                    options.max_head_size
                )));
            }
            scanned = buf.len().saturating_sub(3);
            if buf.capacity() - buf.len() < MIN_READ {
                buf.reserve(options.buffer_size);
            }
            let n = io
                .read_buf(buf)
                .await
                .map_err(|e| options.lost("while reading the response headers", Some(e)))?;
            if n == 0 {
                return Err(options.lost(
                    if buf.is_empty() {
                        "before it sent a response"
                    } else {
                        "in the middle of the response headers"
                    },
                    None,
                ));
            }
        };
        let head = buf.split_to(end);
        let (status, headers) = parse_head(&head)?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            // 100 Continue and friends: a final response follows.
            continue;
        }
        let framing = body_framing(status, &headers, is_head)?;
        return Ok((status, headers, framing));
    }
}

/// The end of the head (just past the empty line), searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = find_byte(b'\n', &buf[i..]) {
        let nl = i + off;
        // The line before this `\n` is empty if the previous line ended right before it.
        if nl >= 1 && buf[nl - 1] == b'\n' {
            return Some(nl + 1);
        }
        if nl >= 2 && buf[nl - 1] == b'\r' && buf[nl - 2] == b'\n' {
            return Some(nl + 1);
        }
        i = nl + 1;
    }
    None
}

fn parse_head(head: &[u8]) -> Result<(StatusCode, HeaderMap)> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let bad_status = || {
        Error::protocol(format!(
            "malformed response status line {:?}",
            String::from_utf8_lossy(&status_line[..status_line.len().min(100)])
        ))
    };
    let rest = status_line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix(b"HTTP/1.0 "))
        .ok_or_else(bad_status)?;
    let code = rest.get(..3).ok_or_else(bad_status)?;
    if rest.len() > 3 && rest[3] != b' ' {
        return Err(bad_status());
    }
    let status = StatusCode::from_bytes(code).map_err(|_| bad_status())?;
    let mut headers = HeaderMap::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = parse_header_line(line, "response header")?;
        headers.append(name, value);
    }
    Ok((status, headers))
}

/// Parses `name: value` (a header or trailer line without its line ending).
fn parse_header_line(line: &[u8], what: &str) -> Result<(HeaderName, HeaderValue)> {
    let bad = || {
        Error::protocol(format!(
            "malformed {what} line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(100)])
        ))
    };
    let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| bad())?;
    let value = HeaderValue::from_bytes(trim_ows(&line[colon + 1..])).map_err(|_| bad())?;
    Ok((name, value))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn body_framing(status: StatusCode, headers: &HeaderMap, is_head: bool) -> Result<BodyFraming> {
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(BodyFraming::Upgraded);
    }
    if is_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(BodyFraming::Empty);
    }
    let mut te_seen = false;
    let mut chunked_last = false;
    for value in headers.get_all(http::header::TRANSFER_ENCODING) {
        for coding in value.as_bytes().split(|&b| b == b',') {
            let coding = trim_ows(coding);
            if coding.is_empty() {
                continue;
            }
            te_seen = true;
            chunked_last = coding.eq_ignore_ascii_case(b"chunked");
        }
    }
    if te_seen {
        // RFC 9112 §6.3: chunked last => chunked; any other coding => read until close.
        return Ok(if chunked_last {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        });
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = trim_ows(part);
            let n = std::str::from_utf8(part)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::protocol(format!(
                        "invalid Content-Length {:?}",
                        String::from_utf8_lossy(value.as_bytes())
                    ))
                })?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::protocol("conflicting Content-Length headers"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => BodyFraming::Empty,
        Some(n) => BodyFraming::Length(n),
        None => BodyFraming::UntilClose,
    })
}

// ---------------------------------------------------------------------------------------------
// Response

/// A response read by the raw path: status and headers parsed, body not yet read.
pub struct RawResponse<S = Conn> {
    status: StatusCode,
    headers: HeaderMap,
    framing: BodyFraming,
    io: S,
    buf: BytesMut,
    options: RawOptions,
}

impl<S> fmt::Debug for RawResponse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("framing", &self.framing)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<S> RawResponse<S> {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers (lookups are case-insensitive).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value by name, case-insensitively; `None` if absent or not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// The declared output media type (multiplexed or raw stream), if the engine sent one.
    /// Feed it to [`Framing::choose`] together with the container's or exec's `Tty` setting.
    pub fn stream_media_type(&self) -> Option<StreamMediaType> {
        self.content_type()
            .and_then(StreamMediaType::from_content_type)
    }

    /// How the body is delimited.
    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the engine switched protocols (`101`).
    pub fn is_upgraded(&self) -> bool {
        self.status == StatusCode::SWITCHING_PROTOCOLS
    }

    /// The body, read incrementally.
    pub fn into_body(self) -> BodyReader<S> {
        let framing = match self.framing {
            BodyFraming::Upgraded => BodyFraming::UntilClose,
            other => other,
        };
        BodyReader::with_buffer(self.io, self.buf, framing, &self.options)
    }

    /// The hijacked connection of an attach or exec start: after `101`, or after a `200` whose
    /// body runs until the connection closes (Docker without `Upgrade`, Podman).
    ///
    /// Check the status first ([`error_for_status`](Self::error_for_status)).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] if the response is not a hijacked stream (an error status, or a
    /// body with a length or chunked framing).
    pub fn into_upgraded(self) -> Result<Upgraded<S>> {
        let hijacked = self.framing == BodyFraming::Upgraded
            || (self.status.is_success() && self.framing == BodyFraming::UntilClose);
        if !hijacked {
            return Err(Error::protocol(format!(
                "the engine did not hijack the connection (status {}, body {:?})",
                self.status, self.framing
            )));
        }
        Ok(Upgraded {
            io: self.io,
            leftover: self.buf.freeze(),
            options: self.options,
        })
    }

    /// The output of a logs, attach or exec response as a [`LogStream`], framed according to
    /// the declared media type and `tty` (see [`Framing::choose`]).
    pub fn into_log_stream(self, tty: bool) -> LogStream<S>
    where
        S: AsyncRead + Unpin,
    {
        let framing = Framing::choose(self.stream_media_type(), tty);
        LogStream::new(self.into_body(), framing)
    }

    /// The body as a stream of JSON lines decoded into `T` (pull, push, build, events);
    /// `what` names the request in decode errors.
    pub fn into_json_stream<T: DeserializeOwned>(
        self,
        what: impl Into<std::borrow::Cow<'static, str>>,
    ) -> JsonStream<T, S>
    where
        S: AsyncRead + Unpin,
    {
        JsonStream::new(self.into_body(), JsonLines::new(what))
    }
}

impl<S: AsyncRead + Unpin> RawResponse<S> {
    /// Passes a success (`1xx`, `2xx`) through; turns any other status into
    /// [`Error::Engine`] with the engine's message, read from the body (at most 1 MiB; Docker's
    /// and Podman's JSON `message`, else the text).
    ///
    /// # Errors
    ///
    /// The [`Error::Engine`] built from the response, or the error met reading its body.
    pub async fn error_for_status(self) -> Result<RawResponse<S>> {
        if self.status.is_success() || self.status.is_informational() {
            return Ok(self);
        }
        let status = self.status.as_u16();
        let headers = self.headers.clone();
        let body = self.into_body().collect(MAX_ERROR_BODY).await?;
        // One mapping for both request paths: the pooled client's.
        Err(crate::client::engine_error(status, &headers, &body))
    }
}

// ---------------------------------------------------------------------------------------------
// Body decoding (sans I/O)

/// Where the body decoder stands. In the data states the reader's position is at body data:
/// framing (chunk-size lines, CRLFs) has already been skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// `Content-Length` body, this many bytes left.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside a chunk's data, this many bytes left.
    ChunkData(u64),
    /// Expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// Reading trailer lines, this many bytes of them so far.
    Trailers(usize),
    /// Everything until the connection closes.
    UntilClose,
    /// The body is complete.
    Done,
}

/// What [`BodyDecoder::prepare`] found at the reader's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prepared {
    /// This many bytes of body data (at least one) start at the position.
    Data(usize),
    /// More bytes are needed.
    NeedMore,
    /// The body is complete.
    End,
}

/// The HTTP/1.1 body framing decoder: it never copies data, it only finds where it is.
#[derive(Debug)]
struct BodyDecoder {
    state: BodyState,
    trailers: Option<HeaderMap>,
}

#[inline]
fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Parses a chunk-size line at the start of `buf`: `Ok(Some((size, line length)))`, or
/// `Ok(None)` if the line is not complete yet.
#[inline]
fn parse_chunk_size(buf: &[u8]) -> Result<Option<(u64, usize)>> {
    let mut size: u64 = 0;
    let mut i = 0;
    while let Some(&b) = buf.get(i) {
        let Some(d) = hex_value(b) else { break };
        if i == 16 {
            return Err(Error::protocol("chunk size does not fit in 64 bits"));
        }
        size = (size << 4) | d;
        i += 1;
    }
    if i == buf.len() {
        return Ok(None);
    }
    if i == 0 {
        return Err(Error::protocol(format!(
            "invalid chunk size line starting {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(20)])
        )));
    }
    // The common case: digits then CRLF.
    match &buf[i..] {
        [b'\r', b'\n', ..] => return Ok(Some((size, i + 2))),
        [b'\n', ..] => return Ok(Some((size, i + 1))),
        [b'\r'] => return Ok(None),
        _ => {}
    }
    // Chunk extensions (`;name=value`, ignored), possibly after whitespace.
    let Some(nl) = find_byte(b'\n', &buf[i..]) else {
        if buf.len() > MAX_CHUNK_LINE {
            return Err(Error::protocol("chunk size line too long"));
        }
        return Ok(None);
    };
    let rest = &buf[i..i + nl];
    let rest = trim_ows(rest.strip_suffix(b"\r").unwrap_or(rest));
    if (!rest.is_empty() && rest[0] != b';') || rest.iter().any(|&b| b < b' ' && b != b'\t') {
        return Err(Error::protocol(format!(
            "invalid chunk size line {:?}",
            String::from_utf8_lossy(&buf[..(i + nl).min(60)])
        )));
    }
    if i + nl + 1 > MAX_CHUNK_LINE {
        return Err(Error::protocol("chunk size line too long"));
    }
    Ok(Some((size, i + nl + 1)))
}

impl BodyDecoder {
    fn new(framing: BodyFraming) -> BodyDecoder {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::ChunkSize,
            BodyFraming::UntilClose | BodyFraming::Upgraded => BodyState::UntilClose,
        };
        BodyDecoder {
            state,
            trailers: None,
        }
    }

    /// Skips framing at `buf[*pos..]` (advancing `pos`) up to body data, the need for more
    /// bytes, or the end of the body.
    ///
    /// This is the whole per-chunk cost of a chunked body: for a chunk that lies whole in the
    /// buffer it parses the hex size and the CRLFs around the data; the data itself is neither
    /// copied nor scanned.
    #[inline]
    fn prepare(&mut self, buf: &[u8], pos: &mut usize) -> Result<Prepared> {
        loop {
            let rest = &buf[*pos..];
            match self.state {
                BodyState::Length(left) | BodyState::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok(Prepared::NeedMore);
                    }
                    let n = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
                    return Ok(Prepared::Data(n));
                }
                BodyState::ChunkSize => match parse_chunk_size(rest)? {
                    None => return Ok(Prepared::NeedMore),
                    Some((0, line)) => {
                        *pos += line;
                        self.state = BodyState::Trailers(0);
                    }
                    Some((size, line)) => {
                        *pos += line;
                        self.state = BodyState::ChunkData(size);
                    }
                },
                BodyState::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        *pos += 2;
                        self.state = BodyState::ChunkSize;
                    }
                    [b'\n', ..] => {
                        *pos += 1;
                        self.state = BodyState::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(Prepared::NeedMore),
                    other => {
                        return Err(Error::protocol(format!(
                            "chunk data not followed by CRLF (found {:?})",
                            String::from_utf8_lossy(&other[..other.len().min(16)])
                        )))
                    }
                },
                BodyState::Trailers(seen) => {
                    let Some(nl) = find_byte(b'\n', rest) else {
                        if seen + rest.len() > MAX_TRAILERS {
                            return Err(Error::protocol("response trailers too long"));
                        }
                        return Ok(Prepared::NeedMore);
                    };
                    let line = &rest[..nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    *pos += nl + 1;
                    if line.is_empty() {
                        self.state = BodyState::Done;
                        return Ok(Prepared::End);
                    }
                    if seen + nl + 1 > MAX_TRAILERS {
                        return Err(Error::protocol("response trailers too long"));
                    }
                    let (name, value) = parse_header_line(line, "trailer")?;
                    self.trailers
                        .get_or_insert_with(HeaderMap::new)
                        .append(name, value);
                    self.state = BodyState::Trailers(seen + nl + 1);
                }
                BodyState::UntilClose => {
                    return Ok(if rest.is_empty() {
                        Prepared::NeedMore
                    } else {
                        Prepared::Data(rest.len())
                    });
                }
                BodyState::Done => return Ok(Prepared::End),
            }
        }
    }

    /// Records that `n` bytes of the data found by [`prepare`](Self::prepare) were used.
    #[inline]
    fn consume(&mut self, n: usize) {
        match &mut self.state {
            BodyState::Length(left) => {
                *left -= n as u64;
                if *left == 0 {
                    self.state = BodyState::Done;
                }
            }
            BodyState::ChunkData(left) => {
                *left -= n as u64;
                if *left == 0 {
                    self.state = BodyState::ChunkEnd;
                }
            }
            _ => {}
        }
    }

    /// Where the body stands when the connection ends: `None` if that is its proper end.
    fn cut_short(&self) -> Option<&'static str> {
        match self.state {
            BodyState::Done | BodyState::UntilClose => None,
            BodyState::Length(_) => Some("before the end of the response body"),
            BodyState::ChunkData(_) => Some("in the middle of a chunk"),
            _ => Some("before the last chunk of the response body"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Body reader

/// Reads a response body incrementally: chunked, length-delimited or until close.
/// See the [module docs](self).
///
/// Two ways to read:
///
/// * owned: [`next_data`](Self::next_data) (or the [`Stream`] implementation) yields each
///   piece as a [`Bytes`] sliced out of the read buffer — no copy, one reference count;
/// * borrowed: [`fill_buf`](Self::fill_buf) and [`consume`](Self::consume) (also through
///   tokio's [`AsyncBufRead`](tokio::io::AsyncBufRead) and [`AsyncRead`]) look at the data in
///   place — no copy, no reference count.
pub struct BodyReader<R = Conn> {
    io: R,
    /// Read buffer; `buf[pos..]` has not been consumed yet.
    buf: BytesMut,
    pos: usize,
    decoder: BodyDecoder,
    /// The connection reached EOF.
    eof: bool,
    /// The body ended or failed; nothing more is read.
    finished: bool,
    buffer_size: usize,
    idle_timeout: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    sleep_armed: bool,
    endpoint: Arc<str>,
}

impl<R> fmt::Debug for BodyReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("state", &self.decoder.state)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("eof", &self.eof)
            .field("finished", &self.finished)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<R> BodyReader<R> {
    /// A reader of a body delimited by `framing` on `io`, whose first bytes (already read past
    /// the head) are `leftover`.
    pub fn new(
        io: R,
        leftover: Bytes,
        framing: BodyFraming,
        options: &RawOptions,
    ) -> BodyReader<R> {
        let mut buf = BytesMut::with_capacity(options.buffer_size.max(leftover.len()));
        buf.extend_from_slice(&leftover);
        BodyReader::with_buffer(io, buf, framing, options)
    }

    fn with_buffer(
        io: R,
        buf: BytesMut,
        framing: BodyFraming,
        options: &RawOptions,
    ) -> BodyReader<R> {
        BodyReader {
            io,
            buf,
            pos: 0,
            decoder: BodyDecoder::new(framing),
            eof: false,
            finished: false,
            buffer_size: options.buffer_size,
            idle_timeout: options.idle_timeout,
            sleep: None,
            sleep_armed: false,
            endpoint: options.endpoint.clone(),
        }
    }

    /// Sets or clears the idle timeout: the longest wait for the next bytes.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle_timeout = timeout;
        self.sleep_armed = false;
    }

    /// The trailers of a chunked body, once it has ended (if it had any).
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.decoder.trailers.as_ref()
    }

    /// Whether the body has ended (or failed).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The connection.
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// The connection, mutably (writing to a hijacked connection's stdin, say). Reading from
    /// it directly would take bytes from under the decoder.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// Marks `n` bytes of the data returned by [`fill_buf`](Self::fill_buf) as used.
    ///
    /// # Panics
    ///
    /// If `n` is more than `fill_buf` returned.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        assert!(
            self.pos + n <= self.buf.len(),
            "consumed more than was read"
        );
        self.pos += n;
        self.decoder.consume(n);
    }

    /// The `n` bytes of body data at the front (after [`poll_available`](Self::poll_available)).
    #[inline]
    pub(crate) fn front(&self, n: usize) -> &[u8] {
        &self.buf[self.pos..self.pos + n]
    }

    /// Takes the `n` bytes of body data at the front as [`Bytes`] (zero-copy).
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        if self.pos > 0 {
            self.buf.advance(self.pos);
            self.pos = 0;
        }
        self.decoder.consume(n);
        self.buf.split_to(n).freeze()
    }
}

impl<R: AsyncRead + Unpin> BodyReader<R> {
    /// The next piece of body data; `Ok(None)` at the end of the body.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionLost`] if the connection fails or ends before the body does,
    /// [`Error::Protocol`] for malformed chunked encoding, [`Error::Timeout`] when the idle
    /// timeout passes without data. After an error the reader returns `Ok(None)`.
    pub async fn next_data(&mut self) -> Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_next_data(cx)).await
    }

    /// Poll form of [`next_data`](Self::next_data).
    pub fn poll_next_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        Poll::Ready(match ready!(self.poll_available(cx)) {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(self.take(n))),
            Err(e) => Err(e),
        })
    }

    /// The body data available now (empty at the end of the body), borrowed from the read
    /// buffer; mark what was used with [`consume`](Self::consume).
    ///
    /// # Errors
    ///
    /// As [`next_data`](Self::next_data).
    pub async fn fill_buf(&mut self) -> Result<&[u8]> {
        let n = poll_fn(|cx| self.poll_available(cx)).await?;
        Ok(self.front(n))
    }

    /// Poll form of [`fill_buf`](Self::fill_buf).
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<Result<&[u8]>> {
        match ready!(self.poll_available(cx)) {
            Ok(n) => Poll::Ready(Ok(self.front(n))),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// The body data already buffered at the front, without reading: `Ok(None)` if none is
    /// (more must be read, or the body ended).
    #[inline]
    pub(crate) fn buffered_data(&mut self) -> Result<Option<usize>> {
        if self.finished {
            return Ok(None);
        }
        match self.decoder.prepare(&self.buf, &mut self.pos)? {
            Prepared::Data(n) => Ok(Some(n)),
            Prepared::NeedMore | Prepared::End => Ok(None),
        }
    }

    /// Makes body data available at the front; `Ok(0)` at the end of the body.
    #[inline]
    pub(crate) fn poll_available(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        loop {
            if self.finished {
                return Poll::Ready(Ok(0));
            }
            match self.decoder.prepare(&self.buf, &mut self.pos) {
                Ok(Prepared::Data(n)) => return Poll::Ready(Ok(n)),
                Ok(Prepared::End) => {
                    self.finished = true;
                    return Poll::Ready(Ok(0));
                }
                Ok(Prepared::NeedMore) => {}
                Err(e) => {
                    self.finished = true;
                    return Poll::Ready(Err(e));
                }
            }
            if self.eof {
                self.finished = true;
                return Poll::Ready(match self.decoder.cut_short() {
                    None => Ok(0),
                    Some(during) => Err(lost(&self.endpoint, during, None)),
                });
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => {
                    self.finished = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        if self.pos > 0 {
            self.buf.advance(self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            // Asking for exactly what brings the buffer back to its size lets `BytesMut` reuse
            // the allocation in place (moving the few unconsumed bytes to its start) when every
            // piece handed out has been dropped.
            let want = self
                .buffer_size
                .saturating_sub(self.buf.len())
                .max(MIN_READ);
            self.buf.reserve(want);
        }
        let read = {
            let fut = self.io.read_buf(&mut self.buf);
            let mut fut = std::pin::pin!(fut);
            fut.as_mut().poll(cx)
        };
        match read {
            Poll::Ready(Ok(n)) => {
                self.sleep_armed = false;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(lost(
                &self.endpoint,
                "while reading the response body",
                Some(e),
            ))),
            Poll::Pending => {
                let Some(after) = self.idle_timeout else {
                    return Poll::Pending;
                };
                // The timer is armed only when a read has to wait, and re-armed after data.
                if !self.sleep_armed {
                    let deadline = Instant::now() + after;
                    match &mut self.sleep {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    self.sleep_armed = true;
                }
                if let Some(sleep) = self.sleep.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        self.sleep_armed = false;
                        return Poll::Ready(Err(Error::Timeout {
                            after,
                            during: "waiting for more of the engine's stream",
                        }));
                    }
                }
                Poll::Pending
            }
        }
    }

    /// Reads the whole body into memory, failing with [`Error::Protocol`] past `limit` bytes.
    ///
    /// # Errors
    ///
    /// As [`next_data`](Self::next_data), plus the limit.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes> {
        let mut out = BytesMut::new();
        while let Some(data) = self.next_data().await? {
            if out.len() + data.len() > limit {
                return Err(Error::protocol(format!(
                    "the response body is larger than {limit} bytes"
                )));
            }
            out.extend_from_slice(&data);
        }
        Ok(out.freeze())
    }
}

impl<R: AsyncRead + Unpin> Stream for BodyReader<R> {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_data(cx).map(Result::transpose)
    }
}

fn to_io_error(e: Error) -> io::Error {
    let kind = match &e {
        Error::Timeout { .. } => io::ErrorKind::TimedOut,
        Error::ConnectionLost { .. } => io::ErrorKind::UnexpectedEof,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

/// The body's data as bytes (errors become `io::Error`s wrapping [`Error`]), for
/// `tokio::io::copy` into a file and the like.
impl<R: AsyncRead + Unpin> AsyncBufRead for BodyReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        match ready!(this.poll_available(cx)) {
            Ok(n) => Poll::Ready(Ok(this.front(n))),
            Err(e) => Poll::Ready(Err(to_io_error(e))),
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        BodyReader::consume(self.get_mut(), amt);
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BodyReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match ready!(this.poll_available(cx)) {
            Ok(n) => {
                let n = n.min(out.remaining());
                out.put_slice(this.front(n));
                this.consume(n);
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(to_io_error(e))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Upgraded connections

/// A hijacked connection (attach, exec start): a raw duplex to the container's stdio.
///
/// Reading yields the bytes buffered past the response head first, then the connection's.
/// Writing goes to the container's stdin; `shutdown()` half-closes it (the container sees EOF
/// on stdin while its output keeps coming).
pub struct Upgraded<S = Conn> {
    io: S,
    leftover: Bytes,
    options: RawOptions,
}

impl<S> fmt::Debug for Upgraded<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("leftover", &self.leftover.len())
            .finish_non_exhaustive()
    }
}

impl<S> Upgraded<S> {
    /// The output bytes that arrived with the response head.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }

    /// The connection and the leftover bytes.
    pub fn into_parts(self) -> (S, Bytes) {
        (self.io, self.leftover)
    }

    /// The output side only, as a [`BodyReader`] reading until the engine closes (the
    /// connection stays reachable through [`BodyReader::get_mut`]).
    pub fn into_output(self) -> BodyReader<S> {
        BodyReader::new(
            self.io,
            self.leftover,
            BodyFraming::UntilClose,
            &self.options,
        )
    }

    /// Splits into the output (a [`BodyReader`] for [`LogStream`]) and the stdin write half.
    pub fn split(self) -> (BodyReader<ReadHalf<S>>, WriteHalf<S>)
    where
        S: AsyncRead + AsyncWrite,
    {
        let (read, write) = tokio::io::split(self.io);
        let output = BodyReader::new(read, self.leftover, BodyFraming::UntilClose, &self.options);
        (output, write)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Upgraded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.leftover.is_empty() {
            let n = this.leftover.len().min(buf.remaining());
            buf.put_slice(&this.leftover[..n]);
            this.leftover.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Upgraded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        wire: &[u8],
        framing: BodyFraming,
        step: usize,
    ) -> (Result<Vec<u8>>, Option<HeaderMap>) {
        let mut decoder = BodyDecoder::new(framing);
        let mut buf = Vec::new();
        let mut pos = 0;
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.prepare(&buf, &mut pos) {
                Ok(Prepared::Data(n)) => {
                    assert!(n > 0);
                    out.extend_from_slice(&buf[pos..pos + n]);
                    pos += n;
                    decoder.consume(n);
                }
                Ok(Prepared::End) => return (Ok(out), decoder.trailers),
                Ok(Prepared::NeedMore) => {
                    if fed == wire.len() {
                        return match decoder.cut_short() {
                            None => (Ok(out), decoder.trailers),
                            Some(d) => (Err(Error::protocol(d)), decoder.trailers),
                        };
                    }
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
                Err(e) => return (Err(e), decoder.trailers),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_at_every_feed_size() {
        let wire =
            b"5\r\nhello\r\n6;ext=1;x\r\n world\r\n1\n!\n00000\r\nX-Trailer: yes\r\n\r\nNEXT";
        for step in 1..wire.len() + 1 {
            let (out, trailers) = decode_all(wire, BodyFraming::Chunked, step);
            assert_eq!(out.unwrap(), b"hello world!", "step {step}");
            assert_eq!(trailers.unwrap()["x-trailer"], "yes");
        }
    }

    #[test]
    fn malformed_chunks_are_protocol_errors() {
        for wire in [
            &b"zz\r\n"[..],
            b"5\r\nhelloXY",
            b"5 garbage\r\nhello\r\n",
            b"11111111111111111\r\n",
        ] {
            let (out, _) = decode_all(wire, BodyFraming::Chunked, 64);
            assert!(out.unwrap_err().is_protocol());
        }
    }

    #[test]
    fn cut_bodies_are_reported() {
        let (out, _) = decode_all(b"5\r\nhel", BodyFraming::Chunked, 3);
        assert_eq!(
            out.unwrap_err().to_string(),
            "malformed stream from the engine: in the middle of a chunk"
        );
        let (out, _) = decode_all(b"5\r\nhello\r\n", BodyFraming::Chunked, 3);
        assert!(out
            .unwrap_err()
            .to_string()
            .contains("before the last chunk"));
        let (out, _) = decode_all(b"abc", BodyFraming::Length(4), 1);
        assert!(out.is_err());
        let (out, _) = decode_all(b"abcdef", BodyFraming::Length(4), 5);
        assert_eq!(out.unwrap(), b"abcd");
        let (out, _) = decode_all(b"abcdef", BodyFraming::UntilClose, 5);
        assert_eq!(out.unwrap(), b"abcdef");
    }

    #[test]
    fn whole_chunks_are_zero_copy_slices() {
        let wire = b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        let mut body = BodyReader::new(
            &wire[..],
            Bytes::new(),
            BodyFraming::Chunked,
            &RawOptions::default(),
        );
        let waker = futures_util::task::noop_waker_ref();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(Ok(Some(first))) = body.poll_next_data(&mut cx) else {
            panic!()
        };
        assert_eq!(&first[..], b"abc");
        let Poll::Ready(Ok(second)) = body.poll_fill_buf(&mut cx) else {
            panic!()
        };
        // The second chunk is looked at in place, in the same buffer.
        assert_eq!(second, b"def");
        assert_eq!(second.as_ptr(), first.as_ptr().wrapping_add(8));
        body.consume(3);
        assert!(matches!(
            body.poll_next_data(&mut cx),
            Poll::Ready(Ok(None))
        ));
    }

    #[test]
    fn heads_parse() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nTRANSFER-encoding: chunked\r\nX-Empty:\r\n\r\n";
        let (status, headers) = parse_head(head).unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers["transfer-encoding"], "chunked");
        assert_eq!(headers["x-empty"], "");
        assert_eq!(
            body_framing(status, &headers, false).unwrap(),
            BodyFraming::Chunked
        );
        assert_eq!(find_head_end(head, 0), Some(head.len()));
        assert_eq!(find_head_end(b"HTTP/1.1 101 UPGRADED\n\nrest", 0), Some(23));
        assert!(parse_head(b"HTTP/2 200\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        let (s, h) = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 5, 5\r\n\r\n").unwrap();
        assert_eq!(body_framing(s, &h, false).unwrap(), BodyFraming::Length(5));
        let (s, h) =
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
                .unwrap();
        assert!(body_framing(s, &h, false).is_err());
    }

    #[test]
    fn request_heads_are_exact() {
        let r = RawRequest::post("/v1.41/exec/abc/start")
            .header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .header(
                http::header::CONTENT_LENGTH,
                HeaderValue::from_static("999"),
            )
            .body(RawBody::bytes(&b"{}"[..]))
            .upgrade();
        assert_eq!(
            String::from_utf8(r.encode_head().unwrap()).unwrap(),
            "POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
             content-type: application/json\r\nContent-Length: 2\r\n\r\n"
        );
        assert!(RawRequest::get("/a b").encode_head().is_err());
        assert!(RawRequest::get("nope").encode_head().is_err());
    }
}
