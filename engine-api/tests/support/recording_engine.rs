//! A routed, recording fake engine for request-level wire tests.
//!
//! Unlike the per-connection scripts of `support/mod.rs` (which drive the raw streaming path
//! with exact response bytes), this fake speaks enough HTTP/1.1 to serve the real `Client`: it
//! keeps connections alive across requests (the pooled hyper path reuses them), serves several
//! connections at once (the raw path opens one per stream), decodes `Content-Length` and
//! chunked request bodies, and records every request — method, target, headers in order, body
//! and the sizes of its chunks — for the test to assert on.
//!
//! Each request is answered by a handler the test gives, which picks a [`Reply`]: a canned
//! response, a chunked one, a hijacked connection that then writes and reads raw bytes (attach,
//! exec start), or no answer at all (a `wait` that never returns).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use engine_api::stream::demux::encode_frame;
use engine_api::{Client, Endpoint};

/// One request as the fake engine received it.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target exactly as sent (path and query, still percent-encoded).
    pub target: String,
    /// The HTTP version token (`HTTP/1.1`).
    pub version: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
    /// For a chunked body, the size of every data chunk in order.
    pub chunk_sizes: Option<Vec<usize>>,
    /// Which connection (in accept order) carried the request.
    pub conn: usize,
    /// On a hijacked connection, the bytes the client sent after the request (its stdin).
    pub after: Vec<u8>,
}

impl Recorded {
    /// `METHOD target`, the shape the tests compare sequences of requests in.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The raw query string, if there is a `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of header `name`; panics if it is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.header_all(name);
        assert!(all.len() <= 1, "header {name} sent {} times", all.len());
        all.first().copied()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                self.line(),
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A step on a hijacked connection, after the response head.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Read until the client half-closes its side (its stdin EOF); the bytes go to
    /// [`Recorded::after`].
    ReadToEof,
    /// Write everything read so far back as one multiplexed frame of this stream type.
    EchoFrame(u8),
    /// Write everything read so far back as it came (a TTY echoes).
    Echo,
}

/// How the fake engine answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response with a `Content-Length` body (none for 1xx, 204 and 304).
    Full {
        /// Status code.
        status: u16,
        /// Extra header lines.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
    },
    /// A `Transfer-Encoding: chunked` response, one HTTP chunk per piece.
    Chunked {
        /// Status code.
        status: u16,
        /// Extra header lines.
        headers: Vec<(String, String)>,
        /// The chunks (empty ones are skipped).
        chunks: Vec<Vec<u8>>,
    },
    /// The connection is hijacked: write `head` verbatim, run `steps`, then close.
    Hijack {
        /// The response head (status line, headers, blank line) and any bytes after it.
        head: Vec<u8>,
        /// What follows.
        steps: Vec<Step>,
    },
    /// Never answer; keep the connection until the client drops it.
    Hold,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    /// A JSON answer from text (for bodies `json!` cannot express, like a trailing newline).
    pub fn json_text(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A status with no body.
    pub fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain` answer.
    pub fn text(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header line (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        match &mut self {
            Reply::Full { headers, .. } | Reply::Chunked { headers, .. } => {
                headers.push((name.into(), value.into()))
            }
            Reply::Hijack { .. } | Reply::Hold => panic!("no headers on {self:?}"),
        }
        self
    }
}

/// Encodes multiplexed frames.
pub fn frames(list: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, p) in list {
        encode_frame(*t, p, &mut out);
    }
    out
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A fake engine on a unix socket in a temporary directory.
pub struct FakeEngine {
    _dir: tempfile::TempDir,
    path: PathBuf,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEngine")
            .field("path", &self.path)
            .finish()
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeEngine {
    /// Serves every request with `handler`, `GET /_ping` included.
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, n, handler.clone(), log.clone()));
                    n += 1;
                }
            })
        };
        FakeEngine {
            _dir: dir,
            path,
            log,
            task,
        }
    }

    /// A Docker engine whose `_ping` declares `api` (and `Server: Docker/24.0.7 (linux)`);
    /// everything else goes to `handler`.
    pub fn docker(
        api: &str,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> FakeEngine {
        let ping = Reply::text(200, "OK")
            .with_header("Api-Version", api)
            .with_header("Server", "Docker/24.0.7 (linux)")
            .with_header("Ostype", "linux")
            .with_header("Docker-Experimental", "false");
        FakeEngine::with_ping(ping, handler)
    }

    /// An engine whose `_ping` is answered with `ping`; everything else goes to `handler`.
    pub fn with_ping(
        ping: Reply,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> FakeEngine {
        FakeEngine::start(move |r| {
            if r.method == "GET" && r.target == "/_ping" {
                ping.clone()
            } else {
                handler(r)
            }
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The endpoint of this engine.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::unix(&self.path)
    }

    /// A client of this engine with default settings.
    pub fn client(&self) -> Client {
        Client::new(self.endpoint()).unwrap()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Every request but `GET /_ping`.
    pub fn calls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !(r.method == "GET" && r.target == "/_ping"))
            .collect()
    }

    /// `METHOD target` of every request but `GET /_ping`.
    pub fn lines(&self) -> Vec<String> {
        self.calls().iter().map(Recorded::line).collect()
    }
}

/// A connection's read side: what was read but not consumed yet.
struct Wire {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Wire {
    /// Reads more; false at EOF or on an error.
    async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    /// One CRLF-terminated line without its CRLF.
    async fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Some(line);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Reads one request; `None` when the client closed the connection between requests.
    async fn request(&mut self, conn: usize) -> Option<Recorded> {
        let request_line = loop {
            let line = self.line().await?;
            if !line.is_empty() {
                break String::from_utf8(line).expect("request line is text");
            }
        };
        let mut parts = request_line.splitn(3, ' ');
        let mut r = Recorded {
            method: parts.next().unwrap_or_default().to_owned(),
            target: parts.next().unwrap_or_default().to_owned(),
            version: parts.next().unwrap_or_default().to_owned(),
            conn,
            ..Recorded::default()
        };
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8(line).expect("header line is text");
            let (name, value) = line.split_once(':').expect("header line has a colon");
            r.headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let chunked = r
            .header_all("transfer-encoding")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            let mut sizes = Vec::new();
            loop {
                let line = String::from_utf8(self.line().await?).unwrap();
                let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                    .expect("chunk size");
                if size == 0 {
                    // Trailers, then the blank line.
                    while !self.line().await?.is_empty() {}
                    break;
                }
                r.body.extend(self.exact(size).await?);
                assert!(self.line().await?.is_empty(), "CRLF after chunk data");
                sizes.push(size);
            }
            r.chunk_sizes = Some(sizes);
        } else if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().expect("Content-Length is a number");
            r.body = self.exact(len).await?;
        }
        Some(r)
    }
}

async fn serve(
    stream: UnixStream,
    conn: usize,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut wire = Wire {
        stream,
        buf: Vec::new(),
    };
    while let Some(request) = wire.request(conn).await {
        let reply = handler(&request);
        let index = {
            let mut log = log.lock().unwrap();
            log.push(request);
            log.len() - 1
        };
        match reply {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut out = head(status, &headers);
                let bodiless = status < 200 || status == 204 || status == 304;
                if !bodiless
                    && !headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                if !bodiless {
                    out.extend_from_slice(&body);
                }
                if wire.stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            Reply::Chunked {
                status,
                headers,
                chunks,
            } => {
                let mut out = head(status, &headers);
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                if wire.stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            Reply::Hijack { head, steps } => {
                let mut after = std::mem::take(&mut wire.buf);
                if wire.stream.write_all(&head).await.is_err() {
                    return;
                }
                for step in steps {
                    match step {
                        Step::Write(bytes) => {
                            if wire.stream.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                        Step::ReadToEof => {
                            while wire.fill().await {}
                            after.extend(std::mem::take(&mut wire.buf));
                            // Record stdin before the client can see the end of the output.
                            log.lock().unwrap()[index].after = after.clone();
                        }
                        Step::EchoFrame(t) => {
                            let mut out = Vec::new();
                            encode_frame(t, &after, &mut out);
                            if wire.stream.write_all(&out).await.is_err() {
                                return;
                            }
                        }
                        Step::Echo => {
                            if wire.stream.write_all(&after).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = wire.stream.shutdown().await;
                return;
            }
            Reply::Hold => {
                while wire.fill().await {}
                return;
            }
        }
    }
}

fn head(status: u16, headers: &[(String, String)]) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Whatever");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out
}
