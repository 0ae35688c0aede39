//! (h) Why tug does not follow Podman's logs through an attach: a probe of the two ways an
//! attach could stand in for Podman 4.3's `follow=1` (which truncates: see
//! `engine_api::containers_io`), measured on each engine of the rig.
//!
//! 1. **Replay and stream in one attach** (`POST /containers/{id}/attach?stream=1&logs=1`)
//!    to a container writing the numbers 1..N at full speed, attached 300 ms after its start:
//!    how many lines arrive, how many twice, how many never, and the replay's framing.
//!    Podman opens the container's attach socket first and then replays the log file to its
//!    end, so whatever the container writes in between arrives twice (in the replay and on the
//!    socket); the stream carries no marker of where that overlap starts, and the replayed
//!    frames' length fields leave out each line's newline (the `\n` follows the frame).
//! 2. **Attach to a container that has just exited** (the race every attach-based follow of
//!    a running container has): the container's status before and after, and whether the
//!    attach ends. Podman 4.3 re-initialises an exited container "for Docker compatibility"
//!    and the attach waits for a start that never comes.
//!
//! Nothing here is a target; the figures explain the Podman-follow row of the results
//! (`benches/RESULTS.md`). Run with `cargo bench -p tug-benches --bench podman_follow_probe`;
//! `TUG_BENCH_ENGINES` chooses the engines, `TUG_BENCH_LINES` N (default 3 000 000).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use engine_api::containers::{ContainerCreate, RemoveOptions, WaitCondition};
use engine_api::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tug_benches::engines::{env_count, image, load_average, Engine};
use tug_benches::figures::{heading, row};

/// Sends a hijacking attach request and returns the connection after the response head,
/// with the body bytes that came with the head.
async fn attach(socket: &str, id: &str, query: &str) -> (UnixStream, Vec<u8>) {
    let mut conn = UnixStream::connect(socket).await.unwrap();
    let head = format!(
        "POST /containers/{id}/attach?{query} HTTP/1.1\r\nHost: localhost\r\n\
         Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the engine closed the attach before its response head"
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = String::from_utf8_lossy(&buf[..p.min(40)]).into_owned();
            assert!(
                status.contains(" 101 ") || status.contains(" 200 "),
                "attach answered {status}"
            );
            return (conn, buf.split_off(p + 4));
        }
    }
}

/// What a multiplexed attach stream held.
#[derive(Debug, Default)]
struct Demuxed {
    stdout: Vec<u8>,
    frames: u64,
    /// `\n` bytes found where a frame header was due (Podman's replay framing).
    stray_newlines: u64,
}

/// Demultiplexes `raw`, taking a `\n` where a header is due as the previous frame's newline.
fn demux(raw: &[u8]) -> Demuxed {
    let mut d = Demuxed::default();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\n' {
            d.stdout.push(b'\n');
            d.stray_newlines += 1;
            i += 1;
            continue;
        }
        if i + 8 > raw.len() {
            break;
        }
        let n = u32::from_be_bytes([raw[i + 4], raw[i + 5], raw[i + 6], raw[i + 7]]) as usize;
        let end = (i + 8 + n).min(raw.len());
        if raw[i] == 1 {
            d.stdout.extend_from_slice(&raw[i + 8..end]);
        }
        d.frames += 1;
        i = end;
    }
    d
}

async fn replay_probe(client: &Client, socket: &str, lines: usize) {
    let mut c = ContainerCreate::new(image());
    c.config.cmd = Some(vec!["seq".into(), "1".into(), lines.to_string()]);
    c.config.labels.insert("tug.bench".into(), "probe".into());
    let id = client.create_container(&c).await.unwrap().id;
    client.start_container(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let (mut conn, mut raw) = attach(socket, &id, "stream=1&logs=1&stdout=1&stderr=1").await;
    let read = tokio::time::timeout(Duration::from_secs(300), conn.read_to_end(&mut raw)).await;
    let elapsed = start.elapsed();
    let _ = client.remove_container(&id, RemoveOptions::force()).await;
    if read.is_err() {
        row("attach with logs=1", "timed out", "after 300 s");
        return;
    }
    let d = demux(&raw);
    let mut seen: HashMap<u64, u32> = HashMap::with_capacity(lines);
    let mut first_back = None;
    let mut prev = 0u64;
    for (k, line) in d.stdout.split(|&b| b == b'\n').enumerate() {
        let Ok(n) = std::str::from_utf8(line).unwrap_or("").parse::<u64>() else {
            continue;
        };
        if n <= prev && first_back.is_none() {
            first_back = Some((k, prev, n));
        }
        prev = n;
        *seen.entry(n).or_default() += 1;
    }
    let twice = seen.values().filter(|&&c| c > 1).count();
    let missing = (1..=lines as u64).filter(|n| !seen.contains_key(n)).count();
    row(
        "lines delivered (N written)",
        &format!("{}", seen.values().map(|&c| c as u64).sum::<u64>()),
        &format!("N = {lines}"),
    );
    row("lines delivered twice", &twice.to_string(), "exact: 0");
    row("lines never delivered", &missing.to_string(), "exact: 0");
    if let Some((k, before, after)) = first_back {
        row(
            "where the stream goes back",
            &format!("line {k}"),
            &format!("{before} is followed by {after}"),
        );
    }
    row(
        "frames; newlines outside any frame",
        &format!("{}; {}", d.frames, d.stray_newlines),
        "Docker framing: 0 outside",
    );
    row(
        "throughput of the whole attach",
        &format!(
            "{:.1} MB/s",
            d.stdout.len() as f64 / elapsed.as_secs_f64() / 1e6
        ),
        "",
    );
}

async fn exited_probe(client: &Client, socket: &str) {
    let mut c = ContainerCreate::new(image());
    c.config.cmd = Some(vec!["true".into()]);
    c.config.labels.insert("tug.bench".into(), "probe".into());
    let id = client.create_container(&c).await.unwrap().id;
    client.start_container(&id).await.unwrap();
    let _ = client.wait_container(&id, WaitCondition::NotRunning).await;
    let before = client.inspect_container(&id).await.unwrap().state.status;
    let (mut conn, mut rest) = attach(socket, &id, "stream=1&stdout=1&stderr=1").await;
    let ended = tokio::time::timeout(Duration::from_secs(3), conn.read_to_end(&mut rest))
        .await
        .is_ok();
    drop(conn);
    let after = client.inspect_container(&id).await.unwrap().state.status;
    let _ = client.remove_container(&id, RemoveOptions::force()).await;
    row(
        "status before → after an attach to an exited container",
        &format!("{before} → {after}"),
        "harmless: unchanged",
    );
    row(
        "that attach ended within 3 s",
        if ended { "yes" } else { "no" },
        "harmless: yes",
    );
}

fn main() {
    let lines = env_count("TUG_BENCH_LINES", 3_000_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for engine in Engine::selected() {
        let client = engine.client();
        let url = engine.url();
        let socket = url
            .strip_prefix("unix://")
            .expect("the rig's engines are on unix sockets");
        heading(&format!(
            "(h) attach instead of follow on {}: replay + stream of `seq 1 {lines}` attached \
             300 ms after start; load average {:.2}",
            engine.name(),
            load_average()
        ));
        runtime.block_on(replay_probe(&client, socket, lines));
        runtime.block_on(exited_probe(&client, socket));
    }
}
