//! An in-process fake engine on a unix socket for the wire tests.
//!
//! Each accepted connection runs one [`Script`]: the server reads the request (head and body,
//! kept verbatim for the test to assert on), then performs the script's actions — writing
//! exactly the bytes the test chose (a malformed body, a hijacked stream, …), reading what the
//! client sends on a hijacked connection, holding the connection open, or closing it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use engine_api::transport::Conn;

/// One thing the fake engine does after reading the request.
#[derive(Debug, Clone)]
pub enum Act {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Wait.
    Pause(Duration),
    /// Read exactly this many bytes from the client and record them.
    Read(usize),
    /// Read until the client half-closes (or closes) and record what came.
    ReadToEof,
    /// Half-close the server's write side.
    ShutdownWrite,
    /// Read and discard up to this many bytes of an unread request body, then close (what Go's
    /// server does after answering early).
    DiscardThenClose(usize),
    /// Keep writing this block until the client goes away; record how many blocks were written.
    WriteUntilClosed(Vec<u8>),
    /// Keep the connection open until the client closes it.
    HoldUntilClosed,
}

/// What one connection received.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// The request head, verbatim.
    pub head: Vec<u8>,
    /// The request body as sent on the wire (chunked framing included).
    pub body: Vec<u8>,
    /// Bytes read by `Read`/`ReadToEof` acts.
    pub after: Vec<u8>,
    /// Blocks written by `WriteUntilClosed` before the client went away.
    pub blocks_written: usize,
}

impl Received {
    /// The head as text.
    pub fn head_text(&self) -> String {
        String::from_utf8(self.head.clone()).unwrap()
    }

    /// The body with chunked framing removed.
    pub fn dechunked_body(&self) -> Vec<u8> {
        dechunk(&self.body)
    }
}

/// A fake engine serving one script per connection, in order.
pub struct FakeEngine {
    _dir: tempfile::TempDir,
    path: PathBuf,
    task: JoinHandle<Vec<Received>>,
}

impl FakeEngine {
    /// Starts serving `scripts`, one per accepted connection.
    pub fn start(scripts: Vec<Vec<Act>>) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            let mut all = Vec::new();
            for script in scripts {
                let (stream, _) = listener.accept().await.unwrap();
                all.push(serve(stream, script).await);
            }
            all
        });
        FakeEngine {
            _dir: dir,
            path,
            task,
        }
    }

    /// Starts a fake engine that answers one connection with `response` and closes.
    pub fn answer(response: Vec<u8>) -> FakeEngine {
        FakeEngine::start(vec![vec![Act::Write(response)]])
    }

    /// A new connection to the fake engine.
    pub async fn connect(&self) -> Conn {
        Conn::Unix(UnixStream::connect(&self.path).await.unwrap())
    }

    /// Waits for every script to finish; what each connection received.
    pub async fn finish(self) -> Vec<Received> {
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("fake engine finished")
            .unwrap()
    }
}

async fn serve(mut stream: UnixStream, script: Vec<Act>) -> Received {
    let mut got = Received::default();
    let mut buf = Vec::new();
    // The request head.
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut tmp = [0u8; 4096];
        let n = stream.read(&mut tmp).await.unwrap();
        if n == 0 {
            return got;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    got.head = buf[..head_end].to_vec();
    let mut rest = buf[head_end..].to_vec();
    let head = String::from_utf8_lossy(&got.head).to_ascii_lowercase();
    let discard_early = script.iter().any(|a| matches!(a, Act::DiscardThenClose(_)));
    if !discard_early {
        if let Some(len) = header(&head, "content-length") {
            let len: usize = len.parse().unwrap();
            while rest.len() < len {
                read_some(&mut stream, &mut rest).await;
            }
            got.body = rest.drain(..len).collect();
        } else if header(&head, "transfer-encoding").as_deref() == Some("chunked") {
            loop {
                if let Some(end) = chunked_end(&rest) {
                    got.body = rest.drain(..end).collect();
                    break;
                }
                if !read_some(&mut stream, &mut rest).await {
                    break;
                }
            }
        }
    }
    got.after = rest;
    for act in script {
        match act {
            Act::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    break;
                }
                let _ = stream.flush().await;
            }
            Act::Pause(d) => tokio::time::sleep(d).await,
            Act::Read(n) => {
                while got.after.len() < n {
                    if !read_some(&mut stream, &mut got.after).await {
                        break;
                    }
                }
            }
            Act::ReadToEof => while read_some(&mut stream, &mut got.after).await {},
            Act::ShutdownWrite => {
                let _ = stream.shutdown().await;
            }
            Act::DiscardThenClose(limit) => {
                let mut discarded = 0;
                let mut tmp = vec![0u8; 64 * 1024];
                while discarded < limit {
                    match stream.read(&mut tmp).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => discarded += n,
                    }
                }
                return got;
            }
            Act::WriteUntilClosed(block) => loop {
                if stream.write_all(&block).await.is_err() {
                    break;
                }
                got.blocks_written += 1;
                if got.blocks_written > 1_000_000 {
                    break;
                }
            },
            Act::HoldUntilClosed => {
                let mut sink = Vec::new();
                while read_some(&mut stream, &mut sink).await {}
            }
        }
    }
    got
}

async fn read_some(stream: &mut UnixStream, into: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 64 * 1024];
    match stream.read(&mut tmp).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            into.extend_from_slice(&tmp[..n]);
            true
        }
    }
}

fn header(head_lower: &str, name: &str) -> Option<String> {
    head_lower.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        (n.trim() == name).then(|| v.trim().to_owned())
    })
}

/// The length of a complete chunked body at the start of `b` (no trailers), if complete.
fn chunked_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let nl = b[i..].windows(2).position(|w| w == b"\r\n")? + i;
        let size = usize::from_str_radix(std::str::from_utf8(&b[i..nl]).ok()?.trim(), 16).ok()?;
        i = nl + 2;
        if size == 0 {
            return (b.len() >= i + 2).then_some(i + 2);
        }
        i += size + 2;
        if i > b.len() {
            return None;
        }
    }
}

/// Removes chunked framing (no extensions, no trailers).
pub fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let nl = b[i..].windows(2).position(|w| w == b"\r\n").unwrap() + i;
        let size = usize::from_str_radix(std::str::from_utf8(&b[i..nl]).unwrap(), 16).unwrap();
        i = nl + 2;
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[i..i + size]);
        i += size + 2;
    }
}

/// Encodes `pieces` as a chunked body (empty pieces are skipped), with the final chunk.
pub fn chunked(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces.iter().filter(|p| !p.is_empty()) {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A `200` response head with the given extra header lines.
pub fn head_200(extra: &[&str]) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
    for h in extra {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Encodes multiplexed frames.
pub fn frames(list: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, p) in list {
        engine_api::stream::demux::encode_frame(*t, p, &mut out);
    }
    out
}
