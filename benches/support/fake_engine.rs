//! An in-process fake engine serving a pre-generated response from memory over a unix socket.
//!
//! It isolates the client's cost: the server does nothing per request but write one prepared
//! buffer (head and body) with large blocking writes from its own thread, so whatever limits a
//! reader is the reader (or the socket). curl and engine-api read the same socket in the same
//! run. End-to-end benchmarks can reuse it with any prepared response.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A fake engine listening on a unix socket in a private temporary directory.
#[derive(Debug)]
pub struct FakeEngine {
    dir: PathBuf,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// How the body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// `Transfer-Encoding: chunked` (the body must already be chunk-encoded).
    Chunked,
    /// One `Content-Length` body.
    ContentLength,
}

/// A full HTTP/1.1 response: a `200` head with the multiplexed-stream media type, then `body`.
pub fn response(body: &[u8], mode: BodyMode) -> Vec<u8> {
    let framing = match mode {
        BodyMode::Chunked => "Transfer-Encoding: chunked".to_owned(),
        BodyMode::ContentLength => format!("Content-Length: {}", body.len()),
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: \
         application/vnd.docker.multiplexed-stream\r\nServer: fake-engine\r\n{framing}\r\n\r\n"
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

impl FakeEngine {
    /// Starts serving `response` (head and body, verbatim) to every connection.
    ///
    /// # Panics
    ///
    /// If the socket cannot be created (a benchmark cannot go on without it).
    pub fn start(response: Arc<Vec<u8>>) -> FakeEngine {
        let dir = std::env::temp_dir().join(format!(
            "tug-fake-engine-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the socket directory");
        let path = dir.join("engine.sock");
        let listener = UnixListener::bind(&path).expect("bind the fake engine socket");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let response = response.clone();
                std::thread::spawn(move || serve(conn, &response));
            }
        });
        FakeEngine {
            dir,
            path,
            stop,
            accept: Some(accept),
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn serve(mut conn: UnixStream, response: &[u8]) {
    // Read the request head; its content does not matter.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    // Large blocking writes: the kernel moves the data as fast as the reader drains it.
    for block in response.chunks(1 << 20) {
        if conn.write_all(block).is_err() {
            return;
        }
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
