//! Log-read throughput against an in-process fake engine, beside curl on the same socket.
//!
//! The fake engine (`tug_benches::fake_engine`) serves 256 MiB of payload in pre-generated
//! 64-byte frames from memory over a unix socket, (i) chunked one frame per chunk (how Docker
//! and Podman send logs) and (ii) as one `Content-Length` body. Each round reads it with
//! `curl --unix-socket … -o /dev/null` and with engine-api's raw path + demuxer
//! (`RawResponse::into_log_stream`) on a current-thread runtime, on a default multi-thread
//! runtime (`block_on`), and on a multi-thread runtime with the reading task spawned on a
//! worker; each through the borrowed API (`LogStream::next_chunk_ref`) and the owned one
//! (`LogStream::next_chunk`, one `Bytes` per chunk).
//!
//! Figures are MB/s of payload (10^6 bytes per second), median of the rounds, timed in-process
//! from connect to the last frame; curl's from its own `time_total` (connect to last byte).
//! Target (issue 9): ≥ 1.5× curl on chunked one-frame-per-chunk, on current-thread and
//! multi-thread runtimes alike. Run with `cargo bench -p tug-benches --bench fake_engine`;
//! `TUG_BENCH_ROUNDS` sets the number of rounds (default 5).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_api::transport::raw::{self, RawOptions, RawRequest};
use engine_api::transport::Conn;
use tug_benches::data::{chunked_one_frame_per_chunk, frames};
use tug_benches::fake_engine::{response, BodyMode, FakeEngine};
use tug_benches::figures::{heading, median, row, verdict};

const MIB: usize = 1024 * 1024;

/// How the benchmark consumes the log stream.
#[derive(Debug, Clone, Copy)]
enum Api {
    /// `LogStream::next_chunk_ref`: chunks borrowed from the read buffer.
    Borrowed,
    /// `LogStream::next_chunk`: owned `Bytes` chunks.
    Owned,
}

/// Reads the logs through engine-api's raw path; returns the payload bytes and the time.
async fn read_with_engine_api(path: &Path, api: Api) -> (usize, Duration) {
    let start = Instant::now();
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .expect("connect to the fake engine");
    let response = raw::send(
        Conn::Unix(stream),
        RawRequest::get("/v1.41/containers/bench/logs?stdout=1&stderr=1"),
        &RawOptions::new(format!("unix://{}", path.display())),
    )
    .await
    .expect("response head");
    let mut logs = response.into_log_stream(false);
    let mut payload = 0;
    match api {
        Api::Borrowed => {
            while let Some(chunk) = logs.next_chunk_ref().await.expect("valid stream") {
                payload += chunk.data.len();
            }
        }
        Api::Owned => {
            while let Some(chunk) = logs.next_chunk().await.expect("valid stream") {
                payload += chunk.data.len();
            }
        }
    }
    (payload, start.elapsed())
}

/// Reads the same URL with curl; returns the body bytes and curl's own transfer time.
fn read_with_curl(path: &Path) -> Option<(usize, Duration)> {
    let out = Command::new("curl")
        .args(["-s", "--fail", "--unix-socket"])
        .arg(path)
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
            "http://localhost/v1.41/containers/bench/logs?stdout=1&stderr=1",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let size: usize = parts.next()?.parse().ok()?;
    let secs: f64 = parts.next()?.parse().ok()?;
    Some((size, Duration::from_secs_f64(secs)))
}

#[derive(Debug, Clone, Copy)]
enum Runtime {
    CurrentThread,
    MultiBlockOn,
    MultiSpawned,
}

const READERS: [(Runtime, Api, &str); 6] = [
    (
        Runtime::CurrentThread,
        Api::Borrowed,
        "current-thread, next_chunk_ref (borrowed)",
    ),
    (
        Runtime::CurrentThread,
        Api::Owned,
        "current-thread, next_chunk (owned)",
    ),
    (
        Runtime::MultiBlockOn,
        Api::Borrowed,
        "multi-thread block_on, next_chunk_ref",
    ),
    (
        Runtime::MultiBlockOn,
        Api::Owned,
        "multi-thread block_on, next_chunk",
    ),
    (
        Runtime::MultiSpawned,
        Api::Borrowed,
        "multi-thread spawned task, next_chunk_ref",
    ),
    (
        Runtime::MultiSpawned,
        Api::Owned,
        "multi-thread spawned task, next_chunk",
    ),
];

fn run_mode(
    name: &str,
    engine: &FakeEngine,
    payload: usize,
    body_len: usize,
    rounds: usize,
    has_target: bool,
) {
    let path = engine.path().to_path_buf();
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut curl = Vec::new();
    let mut ours: Vec<Vec<Duration>> = vec![Vec::new(); READERS.len()];
    // Warm-up (page cache, code, allocator).
    let _ = ct.block_on(read_with_engine_api(&path, Api::Borrowed));
    for _ in 0..rounds {
        if let Some((n, d)) = read_with_curl(&path) {
            // curl counts decoded body bytes (the frames' wire size).
            assert!(
                n >= payload && n <= body_len,
                "curl read the whole body ({n} bytes)"
            );
            curl.push(d);
        }
        for (i, &(runtime, api, _)) in READERS.iter().enumerate() {
            let (n, d) = match runtime {
                Runtime::CurrentThread => ct.block_on(read_with_engine_api(&path, api)),
                Runtime::MultiBlockOn => mt.block_on(read_with_engine_api(&path, api)),
                Runtime::MultiSpawned => {
                    let p = path.clone();
                    mt.block_on(async move {
                        tokio::spawn(async move { read_with_engine_api(&p, api).await }).await
                    })
                    .expect("reading task")
                }
            };
            assert_eq!(n, payload, "engine-api read every payload byte");
            ours[i].push(d);
        }
    }
    let mbs = |d: Duration| payload as f64 / d.as_secs_f64() / 1e6;
    heading(name);
    let curl = if curl.is_empty() {
        row(
            "curl --unix-socket … -o /dev/null",
            "unavailable",
            "(curl not found or failed)",
        );
        None
    } else {
        let c = mbs(median(curl));
        row(
            "curl --unix-socket … -o /dev/null",
            &format!("{c:.0} MB/s"),
            "(the reference)",
        );
        Some(c)
    };
    for (i, &(_, _, what)) in READERS.iter().enumerate() {
        let m = mbs(median(ours[i].clone()));
        let bound = match curl {
            Some(c) if has_target => format!(
                "{:.2}× curl; target ≥ 1.5×: {}",
                m / c,
                verdict(m / c >= 1.5)
            ),
            Some(c) => format!(
                "{:.2}× curl (curl copies bytes, it does not demux; no target)",
                m / c
            ),
            None => "no curl figure".to_owned(),
        };
        row(
            &format!("engine-api, {what}"),
            &format!("{m:.0} MB/s"),
            &bound,
        );
    }
}

fn main() {
    let rounds: usize = std::env::var("TUG_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let f = frames(256 * MIB, &[64], 7);
    let payload = f.payload;

    let chunked = chunked_one_frame_per_chunk(&f);
    let chunked_len = chunked.len();
    let engine = FakeEngine::start(Arc::new(response(&chunked, BodyMode::Chunked)));
    drop(chunked);
    run_mode(
        &format!(
            "fake engine, {} MiB of payload in {} 64-byte frames, chunked one frame per chunk \
             ({rounds} rounds, medians)",
            payload / MIB,
            f.spans.len()
        ),
        &engine,
        payload,
        chunked_len,
        rounds,
        true,
    );
    drop(engine);

    let engine = FakeEngine::start(Arc::new(response(&f.wire, BodyMode::ContentLength)));
    run_mode(
        &format!(
            "fake engine, the same frames as one Content-Length body ({} MiB on the wire)",
            f.wire.len() / MIB
        ),
        &engine,
        payload,
        f.wire.len(),
        rounds,
        false,
    );
}
