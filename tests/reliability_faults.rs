//! Faults below tug, without stopping a daemon (those tests have binaries of their own:
//! `reliability_faults_docker`, `reliability_faults_podman`).
//!
//! Through engine-api's public [`Client`] against a tiny fake engine on a unix socket:
//! * the socket closes mid-stream — in a chunked log stream, in a chunked pull progress
//!   stream, and in a `Content-Length` body — and the caller gets a typed
//!   `is_connection_lost()` error after what did arrive, never a clean end of stream that a
//!   caller could take for success;
//! * a stream stalls and the configured idle timeout (`Timeouts::stream_idle`) fires, typed
//!   `is_timeout()`, close to the configured duration.
//!
//! On the real engines, a pull of a tag the rig's registry does not have fails with an error
//! that names the image and keeps the registry's own message — from engine-api, and from
//! `tug start` (the step's error in the run record). And `tug gc` run with another data
//! directory (another user, project or CI job on the same engine) leaves a live run alone.
//! And a step whose container is stopped by a signal tug did not send, once the engine no
//! longer accepts connections (a daemon shutting down), fails as "engine unavailable" rather
//! than with a bare exit status 143.

#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine_api::auth::RegistryAuth;
use engine_api::containers_io::LogsOptions;
use engine_api::images::PullOptions;
use engine_api::{Client, Endpoint, Error, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tug_tests::{engine_test, registry, registry_image, TugStart, WorkflowDir};

// ---------------------------------------------------------------------------------------------
// A fake engine: answers `/_ping`, then serves one scripted reply to every other request.
// ---------------------------------------------------------------------------------------------

/// What the fake engine does with a request that is not `/_ping`.
#[derive(Debug, Clone)]
enum Reply {
    /// Write these bytes, then close the connection.
    WriteThenClose(Vec<u8>),
    /// Write these bytes, then keep the connection open (silent) for this long.
    WriteThenStall(Vec<u8>, Duration),
}

struct FakeEngine {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeEngine {
    fn start(reply: Reply) -> FakeEngine {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&socket).expect("bind fake engine");
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let reply = reply.clone();
                tokio::spawn(serve(conn, reply));
            }
        });
        FakeEngine {
            _dir: dir,
            socket,
            task,
        }
    }

    fn client(&self, timeouts: Timeouts) -> Client {
        let endpoint =
            Endpoint::parse(&format!("unix://{}", self.socket.display()), None).expect("endpoint");
        Client::with_timeouts(endpoint, timeouts).expect("client")
    }
}

/// Reads one request head (requests here carry no body); `None` at end of input.
async fn read_head(conn: &mut UnixStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

async fn serve(mut conn: UnixStream, reply: Reply) {
    while let Some(head) = read_head(&mut conn).await {
        let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
        if target == "/_ping" {
            let pong =
                "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nServer: Docker/20.10.24 (linux)\r\n\
                        Ostype: linux\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
            if conn.write_all(pong.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        match &reply {
            Reply::WriteThenClose(bytes) => {
                let _ = conn.write_all(bytes).await;
                let _ = conn.shutdown().await;
                return;
            }
            Reply::WriteThenStall(bytes, how_long) => {
                let _ = conn.write_all(bytes).await;
                tokio::time::sleep(*how_long).await;
                return;
            }
        }
    }
}

/// An HTTP chunk holding `data`.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// A multiplexed-stream frame.
fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn head(extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n{extra}\r\n").into_bytes()
}

fn default_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        response: Duration::from_secs(5),
        stream_idle: None,
    }
}

/// Bounds every fake-engine test: a hang is a failure, not a stuck CI job.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 10 s (hang)"))
}

/// Drains a log stream: the payload received and how it ended.
async fn drain_logs(client: &Client) -> (Vec<u8>, Result<(), Error>) {
    let opts = LogsOptions {
        tty: Some(false),
        ..LogsOptions::default()
    };
    let mut logs = match client.container_logs("c1", &opts).await {
        Ok(l) => l,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut got = Vec::new();
    loop {
        match logs.next_chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c.data),
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e)),
        }
    }
}

#[tokio::test]
async fn socket_closed_mid_log_stream_is_a_typed_error_after_the_complete_frames() {
    // One whole chunk with a whole frame, then half of the next chunk (its frame cut too).
    let second = frame(1, b"second line that never arrives whole\n");
    let mut body = head(
        "Content-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n",
    );
    body.extend(chunk(&frame(1, b"first line\n")));
    let half = chunk(&second);
    body.extend_from_slice(&half[..half.len() / 2]);
    let engine = FakeEngine::start(Reply::WriteThenClose(body));
    let client = engine.client(default_timeouts());

    let (got, end) = within("logs", drain_logs(&client)).await;
    // Payload is streamed as it arrives (a frame may be 100 MiB), so the start of the cut
    // frame may come through — but only as a prefix of what was sent, and followed by the
    // error, never by a clean end.
    let sent = b"first line\nsecond line that never arrives whole\n";
    assert!(
        got.len() >= b"first line\n".len() && sent.starts_with(&got),
        "delivered {:?}",
        String::from_utf8_lossy(&got)
    );
    let e = end.expect_err("a cut stream must not end like a finished one");
    assert!(
        e.is_connection_lost(),
        "typed connection-lost error expected, got {e:?} ({e})"
    );
    eprintln!(
        "socket closed mid log stream -> {} of {} payload bytes, then: {e}",
        got.len(),
        sent.len()
    );
}

#[tokio::test]
async fn socket_closed_between_chunks_of_a_log_stream_is_not_a_clean_end() {
    // Whole chunks only, but no terminating zero-length chunk: the body is incomplete.
    let mut body = head(
        "Content-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n",
    );
    body.extend(chunk(&frame(1, b"complete\n")));
    let engine = FakeEngine::start(Reply::WriteThenClose(body));
    let client = engine.client(default_timeouts());

    let (got, end) = within("logs", drain_logs(&client)).await;
    assert_eq!(got, b"complete\n");
    let e = end.expect_err("a body without its last chunk must not end like a finished one");
    assert!(e.is_connection_lost(), "got {e:?} ({e})");
}

#[tokio::test]
async fn socket_closed_mid_pull_progress_is_a_typed_error_not_a_finished_pull() {
    let lines = [
        r#"{"status":"Pulling from tug/busybox","id":"latest"}"#,
        r#"{"status":"Downloading","progressDetail":{"current":1024,"total":4096},"id":"abc"}"#,
    ];
    let mut body = head("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n");
    body.extend(chunk(format!("{}\r\n", lines[0]).as_bytes()));
    let cut = chunk(format!("{}\r\n", lines[1]).as_bytes());
    body.extend_from_slice(&cut[..cut.len() / 2]);
    let engine = FakeEngine::start(Reply::WriteThenClose(body));
    let client = engine.client(default_timeouts());

    let (items, e) = within("pull", async {
        let mut stream = match client
            .pull_image(&PullOptions::new("example.test/tug/busybox:latest").unwrap())
            .await
        {
            Ok(s) => s,
            Err(e) => return (0, e),
        };
        let mut items = 0;
        loop {
            match stream.next_item().await {
                Ok(Some(_)) => items += 1,
                Ok(None) => panic!("a pull cut halfway ended as finished after {items} item(s)"),
                Err(e) => return (items, e),
            }
        }
    })
    .await;
    assert!(items <= 1, "{items} items delivered from one complete line");
    assert!(e.is_connection_lost(), "got {e:?} ({e})");
    eprintln!("socket closed mid pull -> after {items} item(s): {e}");
}

#[tokio::test]
async fn socket_closed_inside_a_content_length_body_is_a_typed_error_not_a_decode_error() {
    let json = br#"{"Id":"c1","Name":"/c1","State":{"Status":"running","Running":true}"#;
    let mut body = head(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        json.len() + 200
    ));
    body.extend_from_slice(json);
    let engine = FakeEngine::start(Reply::WriteThenClose(body));
    let client = engine.client(default_timeouts());

    let e = within("inspect", client.inspect_container("c1"))
        .await
        .expect_err("a truncated body must fail");
    assert!(
        e.is_connection_lost(),
        "a body cut short is a lost connection, got {e:?} ({e})"
    );
}

#[tokio::test]
async fn stalled_log_stream_fails_with_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let mut body = head(
        "Content-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n",
    );
    body.extend(chunk(&frame(1, b"before the stall\n")));
    let engine = FakeEngine::start(Reply::WriteThenStall(body, Duration::from_secs(30)));
    let client = engine.client(Timeouts {
        stream_idle: Some(idle),
        ..default_timeouts()
    });

    let started = Instant::now();
    let (got, end) = within("stalled logs", drain_logs(&client)).await;
    let elapsed = started.elapsed();
    assert_eq!(got, b"before the stall\n");
    let e = end.expect_err("a stalled stream must fail once the idle timeout passes");
    assert!(e.is_timeout(), "typed timeout expected, got {e:?} ({e})");
    assert!(
        elapsed >= idle && elapsed < idle * 10,
        "the idle timeout of {idle:?} fired after {elapsed:?}"
    );
    eprintln!("stalled stream, stream_idle {idle:?} -> failed after {elapsed:?}: {e}");
}

#[tokio::test]
async fn stalled_pull_fails_with_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let mut body = head("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n");
    body.extend(chunk(b"{\"status\":\"Pulling from tug/busybox\"}\r\n"));
    let engine = FakeEngine::start(Reply::WriteThenStall(body, Duration::from_secs(30)));
    let client = engine.client(Timeouts {
        stream_idle: Some(idle),
        ..default_timeouts()
    });

    let started = Instant::now();
    let result = within("stalled pull", async {
        let stream = client
            .pull_image(&PullOptions::new("example.test/tug/busybox:latest").unwrap())
            .await?;
        stream.collect_all().await
    })
    .await;
    let elapsed = started.elapsed();
    let e = result.expect_err("a stalled pull must fail");
    assert!(e.is_timeout(), "typed timeout expected, got {e:?} ({e})");
    assert!(elapsed < idle * 10, "fired after {elapsed:?}");
    eprintln!("stalled pull, stream_idle {idle:?} -> failed after {elapsed:?}: {e}");
}

// ---------------------------------------------------------------------------------------------
// A tag the registry does not have.
// ---------------------------------------------------------------------------------------------

/// `127.0.0.1:5000/tug/busybox:<tag>` with a tag no one pushed.
fn missing_tag_image() -> String {
    let base = registry_image();
    let repo = base.rsplit_once(':').map(|(r, _)| r).unwrap_or(&base);
    format!("{repo}:no-such-tag-{}", std::process::id())
}

/// Registries answer a missing manifest with `manifest unknown` (Docker says `not found`,
/// Podman `manifest unknown`): some form of the registry's own words must be kept.
fn keeps_registry_message(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("manifest unknown") || t.contains("not found")
}

engine_test!(
    pull_of_a_missing_tag_names_the_image_and_the_registrys_message,
    |engine, client| {
        let image = missing_tag_image();
        let (_, user, password) = registry();
        let opts = PullOptions::new(&image)
            .unwrap()
            .auth(Some(RegistryAuth::basic(user, password)));
        let result = async { client.pull_image(&opts).await?.collect_all().await }.await;
        let e = result.expect_err("pulling a tag that does not exist must fail");
        let text = format!("{e}");
        eprintln!("[{engine:?}] engine-api: pull {image} -> {text}");
        assert!(
            text.contains("no-such-tag"),
            "the error does not name the tag: {text:?} ({e:?})"
        );
        assert!(
            keeps_registry_message(&text),
            "the registry's message is lost: {text:?} ({e:?})"
        );
    }
);

engine_test!(
    tug_start_pull_of_a_missing_tag_names_the_image_and_the_registrys_message,
    |engine, client| {
        let wf = WorkflowDir::new("reliability/missing_tag.yaml");
        let image = missing_tag_image();
        let (_, user, password) = registry();
        let run = TugStart::new(engine, wf.file())
            .param("IMAGE", &image)
            .param("REGISTRY_USER", user)
            .param("REGISTRY_PASSWORD", password)
            .run()
            .await;
        run.assert_code(1);
        assert_eq!(run.run_status(), "failed", "{}", run.context());
        let step = run.step("pull");
        let error = step["error"].as_str().unwrap_or_default().to_string();
        eprintln!("[{engine:?}] tug start: step error: {error}");
        assert!(
            error.contains(&image),
            "the step's error does not name {image}: {error:?}{}",
            run.context()
        );
        assert!(
            keeps_registry_message(&error),
            "the registry's message is lost: {error:?}{}",
            run.context()
        );
        assert!(
            run.stdout.contains(&image) || run.stderr.contains(&image),
            "tug's own output does not name the image{}",
            run.context()
        );
        tug_tests::assert_no_run_containers(&client, &run.run_id).await;
    }
);

// ---------------------------------------------------------------------------------------------
// `tug gc` beside a live run.
// ---------------------------------------------------------------------------------------------

/// Body of `gc_leaves_live_runs_of_other_data_dirs_alone`.
async fn gc_beside_a_live_run(engine: tug_tests::Engine, client: Client) {
    let wf = WorkflowDir::new("reliability/gc_live.yaml");
    let mut tug = TugStart::new(engine, wf.file()).spawn();
    let run_id = tug.run_id().to_string();
    tug.wait_for_a_running_container(&client).await;
    // Another user, another project, or CI: the same engine, another data directory.
    let other_data = tempfile::tempdir().unwrap();
    let gc = tug_tests::tug_command(
        &["gc"],
        wf.path(),
        other_data.path(),
        Some(engine),
        &[],
        Duration::from_secs(60),
    );
    let still_there = tug_tests::run_containers(&client, &run_id).await.len();
    eprintln!(
        "[{engine:?}] tug gc from another data dir while run {run_id} (pid {}) is live: {}; its containers left: {still_there}",
        tug.pid(),
        gc.stdout_text().trim().replace('\n', " / ")
    );
    tug.signal("INT");
    let run = tug.finish(Duration::from_secs(30)).await;
    assert_eq!(gc.code, Some(0), "{}", gc.context());
    assert_eq!(
        still_there,
        1,
        "tug gc removed the container of a live run (its tug process is alive){}",
        gc.context()
    );
    tug_tests::assert_no_run_containers(&client, &run.run_id).await;
}

mod gc_leaves_live_runs_of_other_data_dirs_alone {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs engines: run scripts/test"]
    async fn docker() {
        let e = tug_tests::Engine::Docker;
        gc_beside_a_live_run(e, e.connected().await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs engines: run scripts/test"]
    async fn podman() {
        let e = tug_tests::Engine::Podman;
        gc_beside_a_live_run(e, e.connected().await).await
    }
}

// ---------------------------------------------------------------------------------------------
// A step stopped by someone else while the engine stops accepting connections.
// ---------------------------------------------------------------------------------------------

/// A unix-socket proxy to the engine whose listener can be closed while the connections it
/// already forwards go on: what tug sees of a daemon that is shutting down.
struct ClosingProxy {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    accept: tokio::task::JoinHandle<()>,
}

impl ClosingProxy {
    fn start(engine_socket: PathBuf) -> ClosingProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("proxy.sock");
        let listener = UnixListener::bind(&socket).expect("bind proxy");
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let engine_socket = engine_socket.clone();
                tokio::spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect(&engine_socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
            }
        });
        ClosingProxy {
            _dir: dir,
            socket,
            accept,
        }
    }

    /// Closes the listener; new connections are refused from now on.
    fn close_listener(&self) {
        self.accept.abort();
    }
}

engine_test!(
    a_step_stopped_while_the_engine_stops_accepting_connections_is_engine_lost,
    |engine, client| {
        let engine_socket = PathBuf::from(engine.url().trim_start_matches("unix://"));
        let proxy = ClosingProxy::start(engine_socket);
        let wf = WorkflowDir::new("reliability/listener_closed.yaml");
        let host_var = match engine {
            tug_tests::Engine::Docker => "DOCKER_HOST",
            tug_tests::Engine::Podman => "DAGU_PODMAN_HOST",
        };
        let mut tug = TugStart::new(engine, wf.file())
            .env(host_var, format!("unix://{}", proxy.socket.display()))
            .spawn();
        let run_id = tug.run_id().to_string();
        tug.wait_for_a_running_container(&client).await;
        proxy.close_listener();
        // Give the runner's attach and wait time to be under way on their open connections.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for c in tug_tests::run_containers(&client, &run_id).await {
            client
                .kill_container(&c.id, Some("SIGTERM"))
                .await
                .expect("SIGTERM to the step's container");
        }
        let run = tug.finish(Duration::from_secs(30)).await;
        // What the run could not remove through the closed proxy.
        for c in tug_tests::run_containers(&client, &run_id).await {
            let _ = client
                .remove_container(&c.id, engine_api::containers::RemoveOptions::force())
                .await;
        }
        let error = run.step("stopped")["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        eprintln!(
            "[{engine:?}] container stopped by SIGTERM after the engine closed its listener: \
             tug exit {:?}, step error: {error}",
            run.code
        );
        assert_eq!(run.step_status("stopped"), "failed", "{}", run.context());
        assert!(
            error.starts_with("engine unavailable: ")
                && error.contains("exit status 143")
                && error.contains("no longer accepts connections"),
            "the step's error does not say the engine went away: {error:?}{}",
            run.context()
        );
        assert_eq!(run.code, Some(3), "{}", run.context());
    }
);
