//! A pull that fails halfway, on the real engines.
//!
//! Each test pushes an image of its own (one layer of 4 MiB of random bytes, so no engine has
//! it and gzip cannot shrink it) to the rig's registry, removes it from the engine, and pulls
//! it again through a proxy that the test runs on a fixed loopback port (the rig declares
//! `TUG_TEST_FAULT_PROXY_PORTS` insecure for Podman; Docker trusts 127.0.0.0/8). The proxy
//! forwards the registry's HTTP, but for the layer's blob it either
//! * cuts the body after half of its `Content-Length`, on every attempt (Docker retries an
//!   interrupted download, six attempts in all, 75 s; Podman 4.3 does not), or
//! * answers with the registry's own error document, `BLOB_UNKNOWN`.
//!
//! Through engine-api the pull stream ends with a typed error (`Error::Transfer`), never a
//! clean end, naming the image and keeping what the engine reported; and `tug start` of a step
//! on that image fails the step with an error that names the image, the registry and what the
//! engine reported, exits 1, and leaves no container. The messages and durations are printed
//! (`--nocapture`) for RELIABILITY.md.

#![allow(clippy::print_stderr)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_api::auth::RegistryAuth;
use engine_api::images::{ImportOptions, PullOptions, PushOptions, RemoveImageOptions};
use engine_api::{Client, Error};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tug_tests::{engine_test, registry, registry_delete, tar_of, unique, Engine, Rng, TugStart};

/// Size of the test image's only layer.
const LAYER_BYTES: usize = 4 << 20;

/// A blob response at least this long is the layer (the image's config blob is a few hundred
/// bytes).
const LAYER_AT_LEAST: u64 = 1 << 20;

/// Longest a failing pull may take: Docker pauses 5 + 10 + 15 + 20 + 25 s between its six
/// attempts at a cut layer.
const PULL_LIMIT: Duration = Duration::from_secs(150);

// ---------------------------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------------------------

/// What the proxy does to the layer's blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Sends the head and half of the body, then closes the connection.
    CutHalfway,
    /// Answers `404` with the registry's `BLOB_UNKNOWN` error document.
    BlobUnknown,
}

/// The registry's own words for a missing blob, as the proxy sends them (neither engine passes
/// them on: see `assert_reports_the_refused_blob`).
const BLOB_UNKNOWN_MESSAGE: &str = "blob unknown to registry";

/// A proxy in front of the rig's registry on one of the rig's fault ports; stops when dropped.
struct FaultProxy {
    host: String,
    faults: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on the first free port of `TUG_TEST_FAULT_PROXY_PORTS`.
    async fn start(fault: Fault) -> FaultProxy {
        let ports = tug_tests::rig_var("TUG_TEST_FAULT_PROXY_PORTS", "5001,5002,5003,5004");
        let mut listener = None;
        for port in ports
            .split(',')
            .filter_map(|p| p.trim().parse::<u16>().ok())
        {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
                listener = Some(l);
                break;
            }
        }
        let listener = listener.unwrap_or_else(|| {
            panic!(
                "no free fault-proxy port among {ports} (scripts/engines declares them insecure \
                 registries for Podman; another test process may hold them)"
            )
        });
        let host = listener.local_addr().expect("proxy address").to_string();
        let faults = Arc::new(AtomicUsize::new(0));
        let counter = faults.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = forward_one(conn, fault, &counter).await;
                });
            }
        });
        FaultProxy { host, faults, task }
    }

    /// How many blob responses the proxy has cut or replaced so far.
    fn faults(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }
}

/// Reads an HTTP head (through the blank line); at most 64 KiB.
async fn read_head(conn: &mut (impl AsyncRead + Unpin)) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await? == 0 || head.len() > 64 << 10 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// A header's value (first match, case-insensitive name).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `head` with its connection headers replaced by `Connection: close`: one request per
/// connection, so that the proxy never has to find where a response ends.
fn closing(head: &str) -> String {
    let mut out = String::new();
    for line in head.trim_end().lines() {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

/// Forwards one request to the registry and its response back, applying `fault` to the layer.
async fn forward_one(
    mut conn: TcpStream,
    fault: Fault,
    faults: &AtomicUsize,
) -> std::io::Result<()> {
    // Engines try TLS first on an insecure registry. Refuse it at once, as the registry does,
    // or the engine waits out its TLS handshake timeout (10 s) before falling back to HTTP.
    let mut first = [0u8; 1];
    if conn.peek(&mut first).await? == 0 || first[0] == 0x16 {
        return Ok(());
    }
    let head = read_head(&mut conn).await?;
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let body_len: u64 = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (registry_host, _, _) = registry();
    let mut upstream = TcpStream::connect(&registry_host).await?;
    upstream.write_all(closing(&head).as_bytes()).await?;
    tokio::io::copy(&mut (&mut conn).take(body_len), &mut upstream).await?;

    let reply = read_head(&mut upstream).await?;
    let status = reply.split_whitespace().nth(1).unwrap_or("");
    let length: u64 = header(&reply, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // A resumed download asks for a range (206): cut that too, whatever its length.
    let layer = method == "GET"
        && target.contains("/blobs/sha256:")
        && (status == "206" || (status == "200" && length >= LAYER_AT_LEAST));
    if !layer {
        conn.write_all(closing(&reply).as_bytes()).await?;
        tokio::io::copy(&mut upstream, &mut conn).await?;
        return conn.shutdown().await;
    }
    faults.fetch_add(1, Ordering::SeqCst);
    match fault {
        Fault::CutHalfway => {
            conn.write_all(closing(&reply).as_bytes()).await?;
            tokio::io::copy(&mut (&mut upstream).take(length / 2), &mut conn).await?;
        }
        Fault::BlobUnknown => {
            let digest = target.rsplit('/').next().unwrap_or("");
            let body = format!(
                r#"{{"errors":[{{"code":"BLOB_UNKNOWN","message":"{BLOB_UNKNOWN_MESSAGE}","detail":"{digest}"}}]}}"#
            );
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\n\
                 Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).await?;
        }
    }
    conn.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// The test image
// ---------------------------------------------------------------------------------------------

/// An image of this test alone in the rig's registry: `tug/<name>:t1`, reachable through a
/// proxy as `<proxy>/tug/<name>:t1`. Its manifest is deleted from the registry at the end
/// (the registry keeps the blobs until its garbage collection).
struct PushedImage {
    repo: String,
}

impl Drop for PushedImage {
    fn drop(&mut self) {
        if let Err(e) = registry_delete(&self.repo, "t1") {
            eprintln!("cannot delete {}:t1 from the registry: {e}", self.repo);
        }
    }
}

impl PushedImage {
    /// The image's name through `proxy`.
    fn via(&self, proxy: &FaultProxy) -> String {
        format!("{}/{}:t1", proxy.host, self.repo)
    }
}

fn auth() -> RegistryAuth {
    let (_, user, password) = registry();
    RegistryAuth::basic(user, password)
}

/// Imports a one-layer image of random bytes into `engine`, pushes it to the rig's registry,
/// and removes it from the engine again (its layer with it, which no other image shares).
async fn push_fresh_image(engine: Engine, client: &Client) -> PushedImage {
    let name = unique(&format!("pull-fault-{engine:?}").to_lowercase());
    // Two tests on one engine at once must not share a layer: mix the unique name in.
    let salt = name
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    let mut rng = Rng::new(Rng::seed_from_env("TUG_TEST_SEED") ^ salt);
    let mut data = Vec::with_capacity(LAYER_BYTES);
    while data.len() < LAYER_BYTES {
        data.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    let tar = tar_of(&[("random.bin", &data, 0o644)]);
    let local = format!("{name}:t1");
    let id = client
        .import_image(std::io::Cursor::new(tar), &ImportOptions::named(&local))
        .await
        .expect("import the test image")
        .image_id()
        .await
        .expect("import progress")
        .expect("the import reports the image ID");
    let image = PushedImage {
        repo: format!("tug/{name}"),
    };
    let (registry_host, _, _) = registry();
    let target = format!("{registry_host}/{}:t1", image.repo);
    client.tag_image(&id, &target).await.expect("tag for push");
    client
        .push_image(&target, &PushOptions::new().auth(Some(auth())))
        .await
        .expect("push the test image")
        .digest()
        .await
        .expect("push progress");
    client
        .remove_image(&id, RemoveImageOptions::force())
        .await
        .expect("remove the pushed image from the engine");
    image
}

/// Sets up an image and a proxy, and checks the engine does not have the image.
async fn fault_setup(engine: Engine, client: &Client, fault: Fault) -> (PushedImage, FaultProxy) {
    let image = push_fresh_image(engine, client).await;
    let proxy = FaultProxy::start(fault).await;
    let reference = image.via(&proxy);
    assert!(
        !client.image_exists(&reference).await.expect("inspect"),
        "{reference} is already present in the {engine:?} engine"
    );
    (image, proxy)
}

// ---------------------------------------------------------------------------------------------
// engine-api
// ---------------------------------------------------------------------------------------------

/// Pulls through the proxy with engine-api and returns the error's text.
async fn engine_api_pull_fails(engine: Engine, client: Client, fault: Fault) -> String {
    let (image, proxy) = fault_setup(engine, &client, fault).await;
    let reference = image.via(&proxy);
    let cleanup = tug_tests::Cleanup::new(&client);
    cleanup.image(&reference);
    let opts = PullOptions::new(&reference).unwrap().auth(Some(auth()));
    let started = Instant::now();
    let result = tokio::time::timeout(PULL_LIMIT, async {
        client.pull_image(&opts).await?.collect_all().await
    })
    .await
    .unwrap_or_else(|_| panic!("the pull of {reference} did not end within {PULL_LIMIT:?}"));
    let took = started.elapsed();
    let e = match result {
        Ok(progress) => panic!(
            "the pull of {reference} ended cleanly although the proxy {fault:?} {} time(s); \
             last messages: {:?}",
            proxy.faults(),
            progress.iter().rev().take(3).collect::<Vec<_>>()
        ),
        Err(e) => e,
    };
    let text = e.to_string();
    eprintln!(
        "[{engine:?}] engine-api: pull {reference} ({fault:?}, {} blob response(s) cut/replaced, {:.2} s) -> {text}",
        proxy.faults(),
        took.as_secs_f64()
    );
    assert!(proxy.faults() >= 1, "the proxy never saw the layer's blob");
    assert!(
        matches!(&e, Error::Transfer { registry, .. } if *registry == proxy.host),
        "not a transfer error from {}: {e:?}",
        proxy.host
    );
    assert!(
        !e.is_connect(),
        "the engine's failure reads as a lost engine connection: {e:?}"
    );
    assert!(
        text.contains(&image.repo),
        "the error does not name the image {reference}: {text:?} ({e:?})"
    );
    cleanup.run().await;
    text
}

engine_test!(
    engine_api_pull_cut_halfway_ends_with_an_error,
    |engine, client| {
        let text = engine_api_pull_fails(engine, client, Fault::CutHalfway).await;
        let t = text.to_lowercase();
        assert!(
            t.contains("eof") || t.contains("short read") || t.contains("unexpected end"),
            "the engine's report of the cut is lost: {text:?}"
        );
    }
);

engine_test!(
    engine_api_pull_of_a_blob_the_registry_refuses_keeps_the_engines_report,
    |engine, client| {
        let text = engine_api_pull_fails(engine, client, Fault::BlobUnknown).await;
        assert_reports_the_refused_blob(engine, &text);
    }
);

/// Neither engine passes the registry's JSON message for a blob on: Docker turns a 404 into
/// its own `unknown blob`, Podman (containers/image) reports the status only. What each
/// engine says must be kept.
fn assert_reports_the_refused_blob(engine: Engine, text: &str) {
    let expected: &[&str] = match engine {
        Engine::Docker => &["unknown blob"],
        Engine::Podman => &["reading blob sha256:", "404 (Not Found)"],
    };
    assert!(
        expected.iter().all(|e| text.contains(e)),
        "the {engine:?} engine's report ({expected:?}) is lost: {text:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// tug start
// ---------------------------------------------------------------------------------------------

// `tug start` is run with the registry's error only: a cut on every attempt keeps Docker
// retrying for 75 s (six attempts, 5 + 10 + 15 + 20 + 25 s apart), and the cut itself is
// covered through engine-api above, whose error tug's step error is made from.

/// Runs the fixture's step on an image behind a faulty proxy; returns the step's error.
async fn tug_start_pull_fails(engine: Engine, client: Client, fault: Fault) -> String {
    let (image, proxy) = fault_setup(engine, &client, fault).await;
    let reference = image.via(&proxy);
    let cleanup = tug_tests::Cleanup::new(&client);
    cleanup.image(&reference);
    let wf = tug_tests::WorkflowDir::new("reliability/pull_fault.yaml");
    let (_, user, password) = registry();
    let started = Instant::now();
    let run = TugStart::new(engine, wf.file())
        .param("IMAGE", &reference)
        .param("REGISTRY_USER", user)
        .param("REGISTRY_PASSWORD", password)
        .run()
        .await;
    let took = started.elapsed();
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    assert_eq!(run.step_status("pull"), "failed", "{}", run.context());
    let error = run.step("pull")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!(
        "[{engine:?}] tug start ({fault:?}, {} blob response(s) cut/replaced, {:.2} s): step error: {error}",
        proxy.faults(),
        took.as_secs_f64()
    );
    assert!(proxy.faults() >= 1, "the proxy never saw the layer's blob");
    assert!(
        error.contains(&reference) && error.contains(&format!("from {}", proxy.host)),
        "the step's error does not name {reference} and its registry: {error:?}{}",
        run.context()
    );
    assert!(
        run.stdout.contains(&reference) || run.stderr.contains(&reference),
        "tug's own output does not name the image{}",
        run.context()
    );
    tug_tests::assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
    error
}

engine_test!(
    tug_start_pull_of_a_blob_the_registry_refuses_fails_the_step,
    |engine, client| {
        let error = tug_start_pull_fails(engine, client, Fault::BlobUnknown).await;
        assert_reports_the_refused_blob(engine, &error);
    }
);
