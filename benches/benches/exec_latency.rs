//! (e) Exec latency: `true` run by exec in a running container, on each engine — engine-api in
//! this process (create, start attached, read the output to its end, inspect the exit code:
//! what tug's runner does for a step in a shared container) against `docker exec ID true` and
//! `podman --remote --url … exec ID true`, interleaved run by run.
//!
//! A third reader, raw, makes the same four requests over bare unix sockets (one kept-alive
//! connection for create and inspect, one for the hijacked start, as engine-api does) with no
//! parsing beyond the status line, the body length and the two JSON fields needed: the floor
//! any client of the Engine API can reach, so what is left above it is the engine's.
//!
//! Figures are medians of `TUG_BENCH_RUNS` runs (default 20) with quartiles, the three readers
//! interleaved run by run. Target (issue 9): engine-api ≤ 0.8× the CLI's. Run with
//! `cargo bench -p tug-benches --bench exec_latency`.

use std::time::{Duration, Instant};

use engine_api::containers::{ContainerCreate, RemoveOptions};
use engine_api::exec::ExecCreate;
use engine_api::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tug_benches::engines::{env_count, image, load_average, ms, run_child, Engine, Output};
use tug_benches::figures::{heading, row, verdict};

/// One exec of `true`: create, start attached, drain, inspect until it has exited.
async fn exec_true(client: &Client, container: &str) -> i64 {
    let id = client
        .create_exec(container, &ExecCreate::new(["true"]))
        .await
        .unwrap();
    let mut attached = client.start_exec(&id, false).await.unwrap();
    while attached.output.next_chunk_ref().await.unwrap().is_some() {}
    loop {
        let i = client.inspect_exec(&id).await.unwrap();
        if !i.running {
            return i.exit_code.unwrap_or(-1);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Sends one request on `conn` and returns the response's status and body (Content-Length or
/// chunked; the chunked body is returned with its framing, which the JSON fields survive).
async fn raw_request(conn: &mut UnixStream, method: &str, path: &str, body: &str) -> (u16, String) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the engine closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status: u16 = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    loop {
        let have = buf.len() - end;
        let done = match length {
            Some(n) => have >= n,
            None if status == 204 || status == 304 => true,
            None => buf.ends_with(b"0\r\n\r\n"),
        };
        if done {
            return (status, String::from_utf8_lossy(&buf[end..]).into_owned());
        }
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the engine closed the connection mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The value of `"key":` in a JSON text, up to the next `,` or `}` (enough for ids, numbers
/// and booleans).
fn json_field<'a>(text: &'a str, key: &str) -> &'a str {
    let at = text
        .find(&format!("\"{key}\":"))
        .expect("the field is present")
        + key.len()
        + 3;
    let rest = &text[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().trim_matches('"')
}

/// The same exec over bare sockets: `keep` is the kept-alive connection for create and
/// inspect.
async fn raw_exec_true(socket: &str, keep: &mut UnixStream, container: &str) -> i64 {
    let body = r#"{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}"#;
    let (status, text) =
        raw_request(keep, "POST", &format!("/containers/{container}/exec"), body).await;
    assert_eq!(status, 201, "exec create: {text}");
    let id = json_field(&text, "Id").to_string();
    let mut hijack = UnixStream::connect(socket).await.unwrap();
    let body = r#"{"Detach":false,"Tty":false}"#;
    let head = format!(
        "POST /exec/{id}/start HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    hijack.write_all(head.as_bytes()).await.unwrap();
    let mut sink = [0u8; 16384];
    while hijack.read(&mut sink).await.unwrap() > 0 {}
    loop {
        let (status, text) = raw_request(keep, "GET", &format!("/exec/{id}/json"), "").await;
        assert_eq!(status, 200, "exec inspect: {text}");
        if json_field(&text, "Running") == "false" {
            return json_field(&text, "ExitCode").parse().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn quartiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n / 2], v[n / 4], v[(3 * n) / 4])
}

fn main() {
    let runs = env_count("TUG_BENCH_RUNS", 20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for engine in Engine::selected() {
        let client = engine.client();
        let mut c = ContainerCreate::new(image());
        c.config.cmd = Some(vec!["sleep".into(), "2147483647".into()]);
        c.config.labels.insert("tug.bench".into(), "exec".into());
        let id = runtime.block_on(async {
            let id = client.create_container(&c).await.unwrap().id;
            client.start_container(&id).await.unwrap();
            id
        });
        let url = engine.url();
        let socket = url
            .strip_prefix("unix://")
            .expect("the rig's engines are on unix sockets");
        let mut keep = runtime.block_on(UnixStream::connect(socket)).unwrap();
        runtime.block_on(exec_true(&client, &id));
        runtime.block_on(raw_exec_true(socket, &mut keep, &id));
        let load = load_average();
        let (mut ours, mut raw, mut cli) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            assert_eq!(runtime.block_on(exec_true(&client, &id)), 0);
            ours.push(t0.elapsed());
            let t0 = Instant::now();
            assert_eq!(runtime.block_on(raw_exec_true(socket, &mut keep, &id)), 0);
            raw.push(t0.elapsed());
            let mut cmd = engine.cli();
            cmd.args(["exec", &id, "true"]);
            let r = run_child(cmd, Output::Discard);
            assert!(r.status.success(), "{} exec failed", engine.cli_name());
            cli.push(r.wall);
        }
        runtime.block_on(async {
            let _ = client.remove_container(&id, RemoveOptions::force()).await;
        });
        heading(&format!(
            "(e) exec latency of `true` on {}: medians of n={runs} interleaved runs [quartiles]; \
             load average {load:.2} before, {:.2} after",
            engine.name(),
            load_average()
        ));
        let (cm, cq1, cq3) = quartiles(cli);
        let (m, q1, q3) = quartiles(ours);
        let (rm, rq1, rq3) = quartiles(raw);
        let ratio = m.as_secs_f64() / cm.as_secs_f64();
        row(
            "engine-api create/start/EOF/inspect",
            &format!("{:.1} ms [{:.1}–{:.1}]", ms(m), ms(q1), ms(q3)),
            &format!(
                "{ratio:.2}× the CLI; target ≤ 0.8×: {}",
                verdict(ratio <= 0.8)
            ),
        );
        row(
            "raw sockets, the same four requests (the floor)",
            &format!("{:.1} ms [{:.1}–{:.1}]", ms(rm), ms(rq1), ms(rq3)),
            &format!(
                "{:.2}× the CLI; engine-api is {:.2}× the floor",
                rm.as_secs_f64() / cm.as_secs_f64(),
                m.as_secs_f64() / rm.as_secs_f64()
            ),
        );
        row(
            &format!("{} exec ID true (whole process)", engine.cli_name()),
            &format!("{:.1} ms [{:.1}–{:.1}]", ms(cm), ms(cq1), ms(cq3)),
            "(the reference)",
        );
    }
}
