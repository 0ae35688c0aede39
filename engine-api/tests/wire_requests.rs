//! Wire tests of every `Client` call against an in-process fake engine.
//!
//! The fake engine (`support/recording_engine.rs`) is a small HTTP/1.1 server on a unix socket
//! that records each request exactly as it arrived. Each test drives the real `Client` — the
//! pooled hyper path for ordinary calls, the raw path for streams — and asserts the exact
//! method, target (version prefix, percent-encoded path segments and query), the headers that
//! matter and the JSON body, then how the client reads the engine's answer: Docker's and
//! Podman's error bodies, version negotiation, hijacked connections, chunked uploads, log
//! framing and event streams.

#[path = "support/recording_engine.rs"]
mod recording_engine;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use engine_api::auth::{RegistryAuth, EMPTY_AUTH};
use engine_api::containers::{
    ContainerCreate, HealthConfig, HealthStatus, ListContainers, Mount, PortBinding, RemoveOptions,
    RestartPolicy, StopOptions, Ulimit, WaitCondition,
};
use engine_api::containers_io::{AttachOptions, Attached, LogsOptions};
use engine_api::exec::ExecCreate;
use engine_api::images::{
    BuildOptions, ImportOptions, ListImagesOptions, PullOptions, PushOptions, RemoveImageOptions,
};
use engine_api::networks::NetworkCreate;
use engine_api::stream::{Framing, LogStream, StreamKind};
use engine_api::system::EventsOptions;
use engine_api::volumes::VolumeCreate;
use engine_api::{
    ApiVersion, Client, Error, ErrorKind, Filters, Runtime, MAX_API_VERSION, MIN_API_VERSION,
};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};

use recording_engine::{frames, FakeEngine, Recorded, Reply, Step};

const UA: &str = concat!("tug-engine-api/", env!("CARGO_PKG_VERSION"));
const MUX: &str = "application/vnd.docker.multiplexed-stream";
const RAW: &str = "application/vnd.docker.raw-stream";

/// Output that is not valid multiplexed framing: decoded as frames it is an error, so a test
/// can tell which framing the client chose from the bytes it gets.
const TTY_BYTES: &[u8] = b"\x01\x02\x00raw-no-newline";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Fails the test instead of hanging it.
async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the test finished in time")
}

/// What every request carries: HTTP/1.1, one `Host: localhost` (a unix socket), our
/// `User-Agent`.
fn assert_common(r: &Recorded) {
    assert_eq!(r.version, "HTTP/1.1", "{}", r.line());
    assert_eq!(r.header("host"), Some("localhost"), "{}", r.line());
    assert_eq!(r.header("user-agent"), Some(UA), "{}", r.line());
}

/// A request with no body: no `Content-Type`, no chunking, nothing after the head.
fn assert_no_body(r: &Recorded) {
    assert_common(r);
    assert_eq!(r.header("content-type"), None, "{}", r.line());
    assert_eq!(r.header("transfer-encoding"), None, "{}", r.line());
    assert!(
        matches!(r.header("content-length"), None | Some("0")),
        "{}: {:?}",
        r.line(),
        r.header("content-length")
    );
    assert!(r.body.is_empty(), "{}", r.line());
}

/// A request with a JSON body equal to `expected`, sent with `Content-Length`.
fn assert_json_body(r: &Recorded, expected: Value) {
    assert_common(r);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.line()
    );
    assert_eq!(r.header("transfer-encoding"), None, "{}", r.line());
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str()),
        "{}",
        r.line()
    );
    assert_eq!(r.json(), expected, "{}", r.line());
}

/// The hijack request headers of attach and exec start.
fn assert_upgrade(r: &Recorded) {
    assert_common(r);
    assert_eq!(r.header("connection"), Some("Upgrade"), "{}", r.line());
    assert_eq!(r.header("upgrade"), Some("tcp"), "{}", r.line());
}

fn assert_not_upgrade(r: &Recorded) {
    assert_eq!(r.header("connection"), None, "{}", r.line());
    assert_eq!(r.header("upgrade"), None, "{}", r.line());
}

/// The `?key=value` pairs of a query, percent-decoded.
fn query_pairs(r: &Recorded) -> Vec<(String, String)> {
    r.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// Drains an output stream into (stdout, stderr) and the error that ended it, if any.
async fn drain<R: AsyncRead + Unpin>(mut logs: LogStream<R>) -> (Vec<u8>, Vec<u8>, Option<Error>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        match logs.next_chunk().await {
            Ok(Some(chunk)) => match chunk.stream {
                StreamKind::Stderr => err.extend_from_slice(&chunk.data),
                _ => out.extend_from_slice(&chunk.data),
            },
            Ok(None) => return (out, err, None),
            Err(e) => return (out, err, Some(e)),
        }
    }
}

/// Drains a hijacked connection's output.
async fn drain_attached(attached: &mut Attached) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = attached.next_chunk().await.expect("output") {
        match chunk.stream {
            StreamKind::Stderr => err.extend_from_slice(&chunk.data),
            _ => out.extend_from_slice(&chunk.data),
        }
    }
    (out, err)
}

fn engine_error(e: &Error) -> (ErrorKind, u16, &str) {
    match e {
        Error::Engine {
            kind,
            status,
            message,
            ..
        } => (*kind, *status, message.as_str()),
        other => panic!("expected an engine error, got {other:?}"),
    }
}

/// A hijacked `101` answer with `content_type`, then `first` output bytes in the same write.
fn upgraded(content_type: &str, first: &[u8], steps: Vec<Step>) -> Reply {
    let mut head = format!(
        "HTTP/1.1 101 UPGRADED\r\nContent-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    .into_bytes();
    head.extend_from_slice(first);
    Reply::Hijack { head, steps }
}

fn inspect_with_tty(tty: bool) -> Reply {
    Reply::json(
        200,
        json!({"Id": "web", "Name": "/web", "State": {"Status": "exited"},
               "Config": {"Image": "busybox", "Tty": tty}}),
    )
}

/// An `AsyncRead` that hands out at most `step` bytes per read, yielding between reads.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    ready: bool,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Every other poll is pending, as a file or pipe would sometimes be.
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        let n = self
            .step
            .min(buf.remaining())
            .min(self.data.len() - self.pos);
        let pos = self.pos;
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// A ustar archive of regular files (the idea of `tests/support::tar_of`).
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, content) in files {
        let mut h = [0u8; 512];
        h[..path.len()].copy_from_slice(path.as_bytes());
        let octal = |field: &mut [u8], value: u64| {
            let s = format!("{:0width$o}\0", value, width = field.len() - 1);
            field.copy_from_slice(s.as_bytes());
        };
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], content.len() as u64);
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Deterministic bytes that do not compress into a pattern a bug could hide in.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// System: negotiation, identity, ping, version, info

#[tokio::test]
async fn negotiation_prefixes_every_request_with_the_engines_version() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/version" => Reply::json(
            200,
            json!({"Version": "24.0.7", "ApiVersion": "1.43", "MinAPIVersion": "1.12",
                   "Os": "linux", "Arch": "amd64",
                   "Components": [{"Name": "Engine", "Version": "24.0.7"}]}),
        ),
        "/v1.41/info" => Reply::json(
            200,
            json!({"ID": "X7", "NCPU": 4, "OSType": "linux", "CgroupVersion": "2",
                   "SecurityOptions": ["name=seccomp,profile=builtin"], "Unknown": {"a": 1}}),
        ),
        _ => Reply::status(500),
    });
    let client = engine.client();
    let version = within(client.version()).await.unwrap();
    assert_eq!(version.version.as_deref(), Some("24.0.7"));
    assert_eq!(version.api_version.as_deref(), Some("1.43"));
    let info = within(client.info()).await.unwrap();
    assert_eq!(info.ncpu, Some(4));
    assert_eq!(info.cgroup_version.as_deref(), Some("2"));

    let identity = within(client.identity()).await.unwrap().clone();
    assert_eq!(identity.api_version, ApiVersion::new(1, 41));
    assert!(!identity.pinned);
    assert_eq!(identity.engine_api_version, Some(ApiVersion::new(1, 41)));
    assert!(!identity.podman);
    assert_eq!(identity.runtime(), Runtime::Docker);
    assert_eq!(identity.server.as_deref(), Some("Docker/24.0.7 (linux)"));
    assert_eq!(identity.os_type.as_deref(), Some("linux"));

    // One ping, unversioned, before the first versioned request; never again.
    let all: Vec<String> = engine.requests().iter().map(Recorded::line).collect();
    assert_eq!(all, ["GET /_ping", "GET /v1.41/version", "GET /v1.41/info"]);
    for r in engine.requests() {
        assert_no_body(&r);
        assert_not_upgrade(&r);
        // Ordinary requests share one kept-alive connection.
        assert_eq!(r.conn, 0, "{}", r.line());
    }
}

#[tokio::test]
async fn negotiation_caps_at_the_clients_maximum_and_follows_older_engines() {
    let cases: [(Option<&str>, ApiVersion); 4] = [
        (Some("1.99"), MAX_API_VERSION),
        (Some("1.30"), ApiVersion::new(1, 30)),
        (Some("1.45"), ApiVersion::new(1, 45)),
        (None, MIN_API_VERSION),
    ];
    for (says, expect) in cases {
        let mut ping = Reply::text(200, "OK");
        if let Some(v) = says {
            ping = ping.with_header("Api-Version", v);
        }
        let engine = FakeEngine::with_ping(ping, |_| Reply::json(200, json!({})));
        let client = engine.client();
        within(client.info()).await.unwrap();
        assert_eq!(
            engine.lines(),
            [format!("GET /v{expect}/info")],
            "engine says {says:?}"
        );
        let identity = within(client.identity()).await.unwrap();
        assert_eq!(identity.api_version, expect, "engine says {says:?}");
        assert_eq!(
            identity.engine_api_version,
            says.map(|s| s.parse().unwrap())
        );
    }
    assert_eq!(MAX_API_VERSION.to_string(), "1.56");
}

#[tokio::test]
async fn a_pinned_version_is_used_whatever_the_engine_says() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.43/containers/web/stop" => Reply::status(204),
        _ => Reply::json(200, json!({})),
    });
    let client = Client::new(engine.endpoint().with_api_version(ApiVersion::new(1, 43))).unwrap();
    within(client.info()).await.unwrap();
    // Pinned at 1.43, the client uses stop's `signal` parameter (1.42+) directly.
    let stop = StopOptions {
        timeout: Some(Duration::from_secs(3)),
        signal: Some("SIGUSR1".into()),
    };
    within(client.stop_container("web", &stop)).await.unwrap();
    assert_eq!(
        engine.lines(),
        [
            "GET /v1.43/info",
            "POST /v1.43/containers/web/stop?t=3&signal=SIGUSR1"
        ]
    );
    let identity = within(client.identity()).await.unwrap();
    assert!(identity.pinned);
    assert_eq!(identity.api_version, ApiVersion::new(1, 43));
    assert_eq!(identity.engine_api_version, Some(ApiVersion::new(1, 41)));
}

#[tokio::test]
async fn podman_is_recognised_from_its_ping_headers() {
    let cases = [
        // Podman's compat service: both headers.
        (
            vec![
                ("Api-Version", "1.41"),
                ("Libpod-Api-Version", "4.9.3"),
                ("Server", "Libpod/4.9.3 (linux)"),
            ],
            true,
        ),
        // The libpod header alone.
        (
            vec![("Api-Version", "1.41"), ("Libpod-Api-Version", "4.3.1")],
            true,
        ),
        // The Server header alone.
        (
            vec![("Api-Version", "1.40"), ("Server", "Libpod/3.4.4")],
            true,
        ),
        (
            vec![("Api-Version", "1.43"), ("Server", "Docker/24.0.7 (linux)")],
            false,
        ),
    ];
    for (headers, podman) in cases {
        let mut ping = Reply::text(200, "OK");
        for (n, v) in &headers {
            ping = ping.with_header(n, v);
        }
        let engine = FakeEngine::with_ping(ping, |_| Reply::status(500));
        let client = engine.client();
        assert_eq!(
            within(client.is_podman()).await.unwrap(),
            podman,
            "{headers:?}"
        );
        let runtime = within(client.identity()).await.unwrap().runtime();
        assert_eq!(
            runtime,
            if podman {
                Runtime::Podman
            } else {
                Runtime::Docker
            }
        );
        let ping = within(client.ping()).await.unwrap();
        assert_eq!(ping.podman, podman, "{headers:?}");
        // `is_podman` pinged once (and kept it); `ping` always pings.
        let all: Vec<String> = engine.requests().iter().map(Recorded::line).collect();
        assert_eq!(all, ["GET /_ping", "GET /_ping"]);
    }
}

#[tokio::test]
async fn ping_reaches_the_engine_every_time_without_a_version() {
    let engine = FakeEngine::docker("1.41", |_| Reply::status(500));
    let client = engine.client();
    let first = within(client.ping()).await.unwrap();
    let second = within(client.ping()).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.api_version, Some(ApiVersion::new(1, 41)));
    assert_eq!(first.os_type.as_deref(), Some("linux"));
    assert_eq!(first.server.as_deref(), Some("Docker/24.0.7 (linux)"));
    assert!(!first.podman);
    let requests = engine.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.line(), "GET /_ping");
        assert_no_body(r);
    }
}

// ---------------------------------------------------------------------------------------------
// Containers

#[tokio::test]
async fn create_container_sends_the_typed_body_with_pass_through_maps_merged() {
    let engine = FakeEngine::docker("1.41", |_| {
        Reply::json(201, json!({"Id": "c0ffee", "Warnings": null}))
    });
    let mut c = ContainerCreate::new("registry:5000/tug/busybox:1.36");
    c.name = Some("step one&force=1 #x/y".into());
    c.platform = Some("linux/arm64".into());
    c.config.cmd = Some(vec!["sh".into(), "-c".into(), "echo hi".into()]);
    c.config.entrypoint = Some(vec![]);
    c.config.env = vec!["A=1".into(), "B=x y".into()];
    c.config.working_dir = Some("/work".into());
    c.config.user = Some("1000:1000".into());
    c.config.labels = BTreeMap::from([
        ("tug.run".to_string(), "r1".to_string()),
        ("tug.step".to_string(), "a&b=c".to_string()),
    ]);
    c.config.tty = true;
    c.config.open_stdin = true;
    c.config.stdin_once = true;
    c.config.attach_stdin = true;
    c.config.attach_stdout = true;
    c.config.attach_stderr = true;
    c.config.exposed_ports = BTreeMap::from([("80/tcp".to_string(), Default::default())]);
    c.config.healthcheck = Some(
        HealthConfig::shell("wget -q -O- localhost")
            .interval(Duration::from_secs(1))
            .retries(3),
    );
    c.config.stop_signal = Some("SIGINT".into());
    c.config.stop_timeout = Some(5);
    c.config.hostname = Some("typed".into());
    c.host_config.binds = vec!["/host:/ctr:ro".into()];
    c.host_config.mounts = vec![
        Mount::volume("cache", "/cache", false),
        Mount::bind("/src", "/src", true),
    ];
    c.host_config.port_bindings = BTreeMap::from([(
        "80/tcp".to_string(),
        vec![PortBinding::new("127.0.0.1", "8080")],
    )]);
    c.host_config.network_mode = Some("tug-net".into());
    let mut restart = RestartPolicy::named("on-failure");
    restart.maximum_retry_count = Some(2);
    c.host_config.restart_policy = Some(restart);
    c.host_config.auto_remove = true;
    c.host_config.init = Some(true);
    c.host_config.memory = Some(1);
    c.host_config.nano_cpus = Some(500_000_000);
    c.host_config.cpu_shares = Some(256);
    c.host_config.privileged = true;
    c.host_config.cap_add = vec!["NET_ADMIN".into()];
    c.host_config.cap_drop = vec!["MKNOD".into()];
    c.host_config.extra_hosts = vec!["db:10.0.0.2".into()];
    c.host_config.ulimits = vec![Ulimit::new("nofile", 1024, 2048)];
    c.endpoints = BTreeMap::from([("tug-net".to_string(), json!({"Aliases": ["step-one"]}))]);
    // The workflow's `container:` and `host:` pass-throughs: same key in another case
    // replaces the typed value under the typed spelling; unknown keys are added as given.
    c.extra_config.insert("hostname".into(), json!("box"));
    c.extra_config
        .insert("Domainname".into(), json!("example.org"));
    c.extra_host_config
        .insert("memory".into(), json!(536_870_912));
    c.extra_host_config.insert("CPUShares".into(), json!(512));
    c.extra_host_config
        .insert("ShmSize".into(), json!(67_108_864));
    c.extra_host_config.insert(
        "LogConfig".into(),
        json!({"Type": "json-file", "Config": {"max-size": "1m"}}),
    );

    let client = engine.client();
    let created = within(client.create_container(&c)).await.unwrap();
    assert_eq!(created.id, "c0ffee");
    assert!(created.warnings.is_empty());

    let calls = engine.calls();
    assert_eq!(calls.len(), 1);
    let r = &calls[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/v1.41/containers/create");
    assert_eq!(
        r.query(),
        Some("name=step%20one%26force%3D1%20%23x%2Fy&platform=linux%2Farm64")
    );
    assert_eq!(
        query_pairs(r),
        [
            ("name".to_string(), "step one&force=1 #x/y".to_string()),
            ("platform".to_string(), "linux/arm64".to_string())
        ]
    );
    assert_not_upgrade(r);
    assert_json_body(
        r,
        json!({
            "Image": "registry:5000/tug/busybox:1.36",
            "Cmd": ["sh", "-c", "echo hi"],
            "Entrypoint": [],
            "Env": ["A=1", "B=x y"],
            "WorkingDir": "/work",
            "User": "1000:1000",
            "Labels": {"tug.run": "r1", "tug.step": "a&b=c"},
            "Tty": true,
            "OpenStdin": true,
            "StdinOnce": true,
            "AttachStdin": true,
            "AttachStdout": true,
            "AttachStderr": true,
            "ExposedPorts": {"80/tcp": {}},
            "Healthcheck": {
                "Test": ["CMD-SHELL", "wget -q -O- localhost"],
                "Interval": 1_000_000_000u64,
                "Retries": 3
            },
            "StopSignal": "SIGINT",
            "StopTimeout": 5,
            "Hostname": "box",
            "Domainname": "example.org",
            "HostConfig": {
                "Binds": ["/host:/ctr:ro"],
                "Mounts": [
                    {"Type": "volume", "Source": "cache", "Target": "/cache"},
                    {"Type": "bind", "Source": "/src", "Target": "/src", "ReadOnly": true}
                ],
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "NetworkMode": "tug-net",
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
                "AutoRemove": true,
                "Init": true,
                "Memory": 536_870_912,
                "NanoCpus": 500_000_000,
                "CpuShares": 512,
                "Privileged": true,
                "CapAdd": ["NET_ADMIN"],
                "CapDrop": ["MKNOD"],
                "ExtraHosts": ["db:10.0.0.2"],
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "ShmSize": 67_108_864,
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}
            },
            "NetworkingConfig": {
                "EndpointsConfig": {"tug-net": {"Aliases": ["step-one"]}}
            }
        }),
    );
}

#[tokio::test]
async fn a_minimal_create_has_no_query_and_an_empty_host_config() {
    let engine = FakeEngine::docker("1.41", |_| {
        Reply::json(201, json!({"Id": "abc", "Warnings": ["memory limited"]}))
    });
    let client = engine.client();
    let created = within(client.create_container(&ContainerCreate::new("busybox")))
        .await
        .unwrap();
    assert_eq!(created.warnings, ["memory limited"]);
    let calls = engine.calls();
    assert_eq!(calls[0].line(), "POST /v1.41/containers/create");
    assert_json_body(&calls[0], json!({"Image": "busybox", "HostConfig": {}}));
}

#[tokio::test]
async fn container_ids_stay_one_percent_encoded_path_segment() {
    // `/`, `?`, `#`, `&`, `=`, space and `..` must not add segments or parameters.
    let id = "a/../b?c=d&e f#g";
    let enc = "a%2F..%2Fb%3Fc%3Dd%26e%20f%23g";
    let engine = FakeEngine::docker("1.41", move |r| {
        let p = r.path().to_string();
        if p.ends_with("/json") {
            Reply::json(
                200,
                json!({"Id": "full-id", "Name": "/web", "State": {"Status": "running",
                       "Running": true, "Pid": 42},
                       "Config": {"Image": "busybox", "Tty": false, "Entrypoint": "/bin/sh"},
                       "HostConfig": {"Memory": 0}}),
            )
        } else if p.ends_with("/wait") {
            Reply::json(200, json!({"StatusCode": 0}))
        } else if p.ends_with("/exec") {
            Reply::json(201, json!({"Id": "e1"}))
        } else if p.ends_with("/healthcheck") {
            Reply::json(
                200,
                json!({"Status": "starting", "FailingStreak": 0, "Log": null}),
            )
        } else {
            Reply::status(204)
        }
    });
    let client = engine.client();
    let inspect = within(client.inspect_container(id)).await.unwrap();
    assert_eq!(inspect.short_name(), "web");
    assert_eq!(inspect.state.pid, 42);
    assert_eq!(inspect.config.entrypoint, ["/bin/sh"]);
    within(client.start_container(id)).await.unwrap();
    within(client.stop_container(id, &StopOptions::default()))
        .await
        .unwrap();
    within(client.kill_container(id, None)).await.unwrap();
    within(client.wait_container(id, WaitCondition::NotRunning))
        .await
        .unwrap();
    within(client.remove_container(id, RemoveOptions::default()))
        .await
        .unwrap();
    within(client.create_exec(id, &ExecCreate::new(["true"])))
        .await
        .unwrap();
    assert_eq!(
        within(client.run_healthcheck(id)).await.unwrap(),
        HealthStatus::Starting
    );
    assert_eq!(
        engine.lines(),
        [
            format!("GET /v1.41/containers/{enc}/json"),
            format!("POST /v1.41/containers/{enc}/start"),
            format!("POST /v1.41/containers/{enc}/stop"),
            format!("POST /v1.41/containers/{enc}/kill"),
            format!("POST /v1.41/containers/{enc}/wait?condition=not-running"),
            format!("DELETE /v1.41/containers/{enc}"),
            format!("POST /v1.41/containers/{enc}/exec"),
            format!("GET /v1.41/libpod/containers/{enc}/healthcheck"),
        ]
    );
    for r in engine.calls() {
        assert_not_upgrade(&r);
        if r.path().ends_with("/exec") {
            assert_common(&r);
        } else {
            assert_no_body(&r);
        }
    }
}

#[tokio::test]
async fn list_containers_sends_filters_as_one_encoded_json_parameter() {
    let engine = FakeEngine::docker("1.41", |_| {
        // Podman's shapes: nulls where Docker sends empty lists and maps.
        Reply::json(
            200,
            json!([{"Id": "a1", "Names": null, "Image": "busybox", "State": "running",
                    "Status": "Up 2 seconds", "Labels": null, "Created": 1_700_000_000},
                   {"Id": "b2", "Names": ["/web"], "Image": "busybox", "State": "paused-ish",
                    "Labels": {"tug.run": "r1"}}]),
        )
    });
    let client = engine.client();
    let filters = Filters::new()
        .label("tug.run=a&b c#d/e")
        .label("tug.step")
        .with("status", "running")
        .with("name", "é");
    let list = within(client.list_containers(&ListContainers::all(filters)))
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0].names.is_empty());
    assert_eq!(list[1].names, ["/web"]);
    assert_eq!(list[1].state.as_str(), "paused-ish");
    within(client.list_containers(&ListContainers::default()))
        .await
        .unwrap();

    let calls = engine.calls();
    assert_eq!(
        calls[0].line(),
        "GET /v1.41/containers/json?all=1&filters=\
         %7B%22label%22%3A%5B%22tug.run%3Da%26b%20c%23d%2Fe%22%2C%22tug.step%22%5D%2C\
         %22name%22%3A%5B%22%C3%A9%22%5D%2C%22status%22%3A%5B%22running%22%5D%7D"
    );
    let pairs = query_pairs(&calls[0]);
    assert_eq!(pairs.len(), 2, "{pairs:?}");
    assert_eq!(pairs[0], ("all".to_string(), "1".to_string()));
    assert_eq!(pairs[1].0, "filters");
    assert_eq!(
        serde_json::from_str::<Value>(&pairs[1].1).unwrap(),
        json!({"label": ["tug.run=a&b c#d/e", "tug.step"], "name": ["é"],
               "status": ["running"]})
    );
    assert_eq!(calls[1].line(), "GET /v1.41/containers/json");
    for r in &calls {
        assert_no_body(r);
    }
}

#[tokio::test]
async fn start_and_stop_of_a_container_already_in_that_state_succeed() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/running/start" | "/v1.41/containers/stopped/stop" => Reply::status(304),
        "/v1.41/containers/gone/start" | "/v1.41/containers/gone/stop" => {
            Reply::json(404, json!({"message": "No such container: gone"}))
        }
        _ => Reply::status(204),
    });
    let client = engine.client();
    within(client.start_container("running")).await.unwrap();
    within(client.start_container("fresh")).await.unwrap();
    within(client.stop_container("stopped", &StopOptions::default()))
        .await
        .unwrap();
    let e = within(client.start_container("gone")).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(e.to_string(), "No such container: gone");
    let e = within(client.stop_container("gone", &StopOptions::default()))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(
        engine.lines(),
        [
            "POST /v1.41/containers/running/start",
            "POST /v1.41/containers/fresh/start",
            "POST /v1.41/containers/stopped/stop",
            "POST /v1.41/containers/gone/start",
            "POST /v1.41/containers/gone/stop",
        ]
    );
}

#[tokio::test]
async fn stop_sends_the_signal_as_a_parameter_from_api_1_42() {
    let engine = FakeEngine::docker("1.43", |_| Reply::status(204));
    let client = engine.client();
    let opts = StopOptions {
        timeout: Some(Duration::from_secs(5)),
        signal: Some("SIGINT".into()),
    };
    within(client.stop_container("web", &opts)).await.unwrap();
    within(client.stop_container("web", &StopOptions::default()))
        .await
        .unwrap();
    let only_signal = StopOptions {
        timeout: None,
        signal: Some("SIG RT+1&t=0".into()),
    };
    within(client.stop_container("web", &only_signal))
        .await
        .unwrap();
    assert_eq!(
        engine.lines(),
        [
            "POST /v1.43/containers/web/stop?t=5&signal=SIGINT",
            "POST /v1.43/containers/web/stop",
            "POST /v1.43/containers/web/stop?signal=SIG%20RT%2B1%26t%3D0",
        ]
    );
    for r in engine.calls() {
        assert_no_body(&r);
    }
}

#[tokio::test]
async fn stop_without_a_signal_on_api_1_41_is_one_stop_request() {
    let engine = FakeEngine::docker("1.41", |_| Reply::status(204));
    let client = engine.client();
    let opts = StopOptions {
        timeout: Some(Duration::from_secs(7)),
        signal: None,
    };
    within(client.stop_container("web", &opts)).await.unwrap();
    assert_eq!(engine.lines(), ["POST /v1.41/containers/web/stop?t=7"]);
}

#[tokio::test]
async fn stop_with_a_signal_on_api_1_41_is_kill_then_wait() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/web/wait" => Reply::json(200, json!({"StatusCode": 130})),
        _ => Reply::status(204),
    });
    let client = engine.client();
    let opts = StopOptions {
        timeout: Some(Duration::from_secs(5)),
        signal: Some("SIGINT".into()),
    };
    within(client.stop_container("web", &opts)).await.unwrap();
    assert_eq!(
        engine.lines(),
        [
            "POST /v1.41/containers/web/kill?signal=SIGINT",
            "POST /v1.41/containers/web/wait?condition=not-running",
        ]
    );
}

#[tokio::test]
async fn stop_with_a_signal_on_api_1_41_kills_after_the_grace_period() {
    // The container ignores the signal: wait never answers, so SIGKILL follows the grace.
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/web/wait" => Reply::Hold,
        _ => Reply::status(204),
    });
    let client = engine.client();
    let opts = StopOptions {
        timeout: Some(Duration::from_millis(300)),
        signal: Some("SIGTERM".into()),
    };
    within(client.stop_container("web", &opts)).await.unwrap();
    assert_eq!(
        engine.lines(),
        [
            "POST /v1.41/containers/web/kill?signal=SIGTERM",
            "POST /v1.41/containers/web/wait?condition=not-running",
            "POST /v1.41/containers/web/kill?signal=SIGKILL",
        ]
    );
}

#[tokio::test]
async fn stop_with_a_signal_on_api_1_41_of_a_stopped_container_succeeds() {
    let engine = FakeEngine::docker("1.41", |_| {
        Reply::json(
            409,
            json!({"message": "Cannot kill container: web: Container 7f is not running"}),
        )
    });
    let client = engine.client();
    let opts = StopOptions {
        timeout: None,
        signal: Some("SIGINT".into()),
    };
    within(client.stop_container("web", &opts)).await.unwrap();
    assert_eq!(
        engine.lines(),
        ["POST /v1.41/containers/web/kill?signal=SIGINT"]
    );
}

#[tokio::test]
async fn kill_sends_a_signal_only_when_given() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/stopped/kill" => Reply::json(
            409,
            json!({"message": "Cannot kill container: stopped: Container stopped is not running"}),
        ),
        _ => Reply::status(204),
    });
    let client = engine.client();
    within(client.kill_container("web", Some("SIGHUP")))
        .await
        .unwrap();
    within(client.kill_container("web", None)).await.unwrap();
    let e = within(client.kill_container("stopped", Some("SIGKILL")))
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    assert_eq!(
        engine.lines(),
        [
            "POST /v1.41/containers/web/kill?signal=SIGHUP",
            "POST /v1.41/containers/web/kill",
            "POST /v1.41/containers/stopped/kill?signal=SIGKILL",
        ]
    );
    for r in engine.calls() {
        assert_no_body(&r);
    }
}

#[tokio::test]
async fn wait_returns_the_exit_code_and_an_error_reported_inside_a_200() {
    let engine = FakeEngine::docker("1.41", |r| match (r.path(), r.query()) {
        (_, Some("condition=not-running")) => {
            Reply::json(200, json!({"StatusCode": 3, "Error": null}))
        }
        (_, Some("condition=next-exit")) => {
            Reply::json(200, json!({"Error": {"Message": ""}, "StatusCode": 0}))
        }
        // Podman's compat wait sends the 200 head before waiting; a failure while waiting
        // comes as StatusCode -1 with the message in the body.
        (_, Some("condition=removed")) => Reply::json_text(
            200,
            "{\"StatusCode\":-1,\"Error\":{\"Message\":\"container has already been removed\"}}\n",
        ),
        _ => Reply::status(500),
    });
    let client = engine.client();
    let exit = within(client.wait_container("web", WaitCondition::NotRunning))
        .await
        .unwrap();
    assert_eq!((exit.status_code, exit.error), (3, None));
    let exit = within(client.wait_container("web", WaitCondition::NextExit))
        .await
        .unwrap();
    assert_eq!((exit.status_code, exit.error), (0, None));
    let exit = within(client.wait_container("web", WaitCondition::Removed))
        .await
        .unwrap();
    assert_eq!(exit.status_code, -1);
    assert_eq!(
        exit.error.as_deref(),
        Some("container has already been removed")
    );
    assert_eq!(
        engine.lines(),
        [
            "POST /v1.41/containers/web/wait?condition=not-running",
            "POST /v1.41/containers/web/wait?condition=next-exit",
            "POST /v1.41/containers/web/wait?condition=removed",
        ]
    );
    for r in engine.calls() {
        assert_no_body(&r);
    }
}

#[tokio::test]
async fn wait_for_a_missing_container_is_not_found() {
    let engine = FakeEngine::docker("1.41", |_| {
        Reply::json(
            404,
            json!({"cause": "no such container",
                   "message": "no container with name or ID \"gone\" found: no such container",
                   "response": 404}),
        )
    });
    let client = engine.client();
    let e = within(client.wait_container("gone", WaitCondition::NotRunning))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(
        e.engine_message(),
        Some("no container with name or ID \"gone\" found: no such container")
    );
}

#[tokio::test]
async fn remove_container_sends_force_and_volumes_flags() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/busy" => Reply::json(
            409,
            json!({"message": "You cannot remove a running container busy. Stop the container before attempting removal or force remove"}),
        ),
        "/v1.41/containers/gone" => Reply::json(404, json!({"message": "No such container: gone"})),
        _ => Reply::status(204),
    });
    let client = engine.client();
    within(client.remove_container("web", RemoveOptions::force()))
        .await
        .unwrap();
    within(client.remove_container("web", RemoveOptions::default()))
        .await
        .unwrap();
    let only_volumes = RemoveOptions {
        force: false,
        volumes: true,
    };
    within(client.remove_container("web", only_volumes))
        .await
        .unwrap();
    let e = within(client.remove_container("busy", RemoveOptions::default()))
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    let e = within(client.remove_container("gone", RemoveOptions::force()))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(
        engine.lines(),
        [
            "DELETE /v1.41/containers/web?force=1&v=1",
            "DELETE /v1.41/containers/web",
            "DELETE /v1.41/containers/web?v=1",
            "DELETE /v1.41/containers/busy",
            "DELETE /v1.41/containers/gone?force=1&v=1",
        ]
    );
    for r in engine.calls() {
        assert_no_body(&r);
    }
}

#[tokio::test]
async fn run_healthcheck_calls_podmans_libpod_endpoint() {
    let engine = FakeEngine::with_ping(
        Reply::text(200, "OK")
            .with_header("Api-Version", "1.41")
            .with_header("Libpod-Api-Version", "4.9.3"),
        |_| {
            Reply::json(
                200,
                json!({"Status": "healthy", "FailingStreak": 0,
                       "Log": [{"Start": "x", "End": "y", "ExitCode": 0, "Output": ""}]}),
            )
        },
    );
    let client = engine.client();
    assert_eq!(
        within(client.run_healthcheck("web")).await.unwrap(),
        HealthStatus::Healthy
    );
    assert_eq!(
        engine.lines(),
        ["GET /v1.41/libpod/containers/web/healthcheck"]
    );
}

// ---------------------------------------------------------------------------------------------
// Error answers

#[tokio::test]
async fn docker_and_podman_error_bodies_keep_the_engines_message() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/docker404/json" => {
            Reply::json(404, json!({"message": "No such container: docker404"}))
        }
        "/v1.41/containers/podman404/json" => Reply::json(
            404,
            json!({"cause": "no such container",
                   "message": "no container with name or ID \"podman404\" found: no such container",
                   "response": 404}),
        ),
        "/v1.41/containers/causeonly/json" => Reply::json(
            500,
            json!({"cause": "something broke", "message": "", "response": 500}),
        ),
        // Podman reports a missing container with a 500 in some handlers.
        "/v1.41/containers/podman500/json" => Reply::json(
            500,
            json!({"cause": "no such container",
                   "message": "no such container: podman500",
                   "response": 500}),
        ),
        "/v1.41/containers/text/json" => Reply::text(500, "page not found\n"),
        "/v1.41/containers/empty/json" => Reply::status(500),
        "/v1.41/containers/bad/json" => {
            Reply::json(400, json!({"message": "invalid reference format"}))
        }
        _ => Reply::status(418),
    });
    let client = engine.client();
    let fail = |id: &'static str| {
        let client = client.clone();
        async move { within(client.inspect_container(id)).await.unwrap_err() }
    };

    let e = fail("docker404").await;
    assert_eq!(
        engine_error(&e),
        (ErrorKind::NotFound, 404, "No such container: docker404")
    );
    assert!(e.is_not_found());
    assert_eq!(e.to_string(), "No such container: docker404");

    let e = fail("podman404").await;
    assert!(e.is_not_found());
    assert_eq!(
        e.engine_message(),
        Some("no container with name or ID \"podman404\" found: no such container")
    );

    let e = fail("causeonly").await;
    assert_eq!(
        engine_error(&e),
        (ErrorKind::Server, 500, "something broke")
    );

    let e = fail("podman500").await;
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(e.status(), Some(500));

    let e = fail("text").await;
    assert_eq!(engine_error(&e), (ErrorKind::Server, 500, "page not found"));

    let e = fail("empty").await;
    assert_eq!(
        engine_error(&e),
        (ErrorKind::Server, 500, "500 internal server error")
    );

    let e = fail("bad").await;
    assert!(e.is_bad_request());
    assert_eq!(e.to_string(), "invalid reference format");

    let e = fail("teapot").await;
    assert_eq!(e.kind(), Some(ErrorKind::Other));
    assert_eq!(e.status(), Some(418));
}

#[tokio::test]
async fn podman_500_name_already_in_use_is_a_conflict() {
    let message = "creating container storage: the container name \"web\" is already in use by 3f2a9c. You have to remove that container to be able to reuse that name: that name is already in use";
    let engine = FakeEngine::with_ping(
        Reply::text(200, "OK")
            .with_header("Api-Version", "1.41")
            .with_header("Libpod-Api-Version", "4.9.3"),
        move |_| {
            Reply::json(
                500,
                json!({"cause": "that name is already in use", "message": message,
                       "response": 500}),
            )
        },
    );
    let client = engine.client();
    let mut c = ContainerCreate::new("busybox");
    c.name = Some("web".into());
    let e = within(client.create_container(&c)).await.unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    assert_eq!(engine_error(&e), (ErrorKind::Conflict, 500, message));
    assert_eq!(engine.lines(), ["POST /v1.41/containers/create?name=web"]);
}

#[tokio::test]
async fn docker_409_name_conflict_is_a_conflict() {
    let message = "Conflict. The container name \"/web\" is already in use by container \"3f2a\". You have to remove (or rename) that container to be able to reuse that name.";
    let engine = FakeEngine::docker("1.41", move |_| {
        Reply::json(409, json!({"message": message}))
    });
    let client = engine.client();
    let mut c = ContainerCreate::new("busybox");
    c.name = Some("web".into());
    let e = within(client.create_container(&c)).await.unwrap_err();
    assert_eq!(engine_error(&e), (ErrorKind::Conflict, 409, message));
}

#[tokio::test]
async fn errors_on_the_streaming_path_are_mapped_the_same_way() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/gone/logs" => Reply::json(
            404,
            json!({"cause": "no such container",
                   "message": "no container with name or ID \"gone\" found: no such container",
                   "response": 404}),
        ),
        "/v1.41/containers/gone/attach" => {
            Reply::json(404, json!({"message": "No such container: gone"}))
        }
        "/v1.41/exec/gone/start" => {
            Reply::json(404, json!({"message": "No such exec instance: gone"}))
        }
        "/v1.41/events" => Reply::text(500, "events are broken\n"),
        _ => Reply::status(500),
    });
    let client = engine.client();
    let opts = LogsOptions {
        tty: Some(false),
        ..LogsOptions::default()
    };
    let e = within(client.container_logs("gone", &opts))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(
        e.engine_message(),
        Some("no container with name or ID \"gone\" found: no such container")
    );
    let attach = AttachOptions {
        tty: Some(false),
        ..AttachOptions::default()
    };
    let e = within(client.attach_container("gone", &attach))
        .await
        .unwrap_err();
    assert_eq!(
        engine_error(&e),
        (ErrorKind::NotFound, 404, "No such container: gone")
    );
    let e = within(client.start_exec("gone", false)).await.unwrap_err();
    assert_eq!(
        engine_error(&e),
        (ErrorKind::NotFound, 404, "No such exec instance: gone")
    );
    let e = within(client.events(&EventsOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(
        engine_error(&e),
        (ErrorKind::Server, 500, "events are broken")
    );
}

// ---------------------------------------------------------------------------------------------
// Exec

#[tokio::test]
async fn exec_create_inspect_resize_and_detached_start() {
    let engine = FakeEngine::docker("1.41", |r| match (r.method.as_str(), r.path()) {
        ("POST", "/v1.41/containers/web/exec") => Reply::json(201, json!({"Id": "e1"})),
        ("POST", "/v1.41/exec/e1/start") => Reply::status(200),
        ("GET", "/v1.41/exec/e1/json") => Reply::json(
            200,
            json!({"ID": "e1", "Running": false, "ExitCode": 7, "Pid": 0,
                   "ContainerID": "c1", "ProcessConfig": {"tty": false}}),
        ),
        ("GET", "/v1.41/exec/running/json") => Reply::json(
            200,
            json!({"ID": "running", "Running": true, "ExitCode": null, "Pid": 4242,
                   "ContainerID": "c1"}),
        ),
        ("POST", "/v1.41/exec/e1/resize") => Reply::status(201),
        _ => Reply::json(404, json!({"message": "No such exec instance: x"})),
    });
    let client = engine.client();
    let mut body = ExecCreate::new(["sh", "-c", "cat"]).with_stdin();
    body.env = vec!["X=1".into()];
    body.working_dir = Some("/w".into());
    body.user = Some("1000".into());
    assert_eq!(
        within(client.create_exec("web", &body)).await.unwrap(),
        "e1"
    );
    within(client.start_exec_detached("e1")).await.unwrap();
    let inspect = within(client.inspect_exec("e1")).await.unwrap();
    assert_eq!(inspect.exit_code, Some(7));
    assert!(!inspect.running);
    assert_eq!(inspect.container_id, "c1");
    let running = within(client.inspect_exec("running")).await.unwrap();
    assert!(running.running);
    assert_eq!((running.exit_code, running.pid), (None, 4242));
    within(client.resize_exec("e1", 40, 120)).await.unwrap();
    let e = within(client.inspect_exec("nope")).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");

    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "POST /v1.41/containers/web/exec",
            "POST /v1.41/exec/e1/start",
            "GET /v1.41/exec/e1/json",
            "GET /v1.41/exec/running/json",
            "POST /v1.41/exec/e1/resize?h=40&w=120",
            "GET /v1.41/exec/nope/json",
        ]
    );
    assert_json_body(
        &calls[0],
        json!({"Cmd": ["sh", "-c", "cat"], "Env": ["X=1"], "WorkingDir": "/w",
               "User": "1000", "Tty": false, "AttachStdin": true, "AttachStdout": true,
               "AttachStderr": true}),
    );
    assert_json_body(&calls[1], json!({"Detach": true, "Tty": false}));
    assert_not_upgrade(&calls[1]);
    for r in &calls[2..] {
        assert_no_body(r);
    }
}

#[tokio::test]
async fn exec_start_is_hijacked_and_carries_stdin_both_ways() {
    let stdin: &[u8] = b"hello\x00\x01\x02 world\n";
    let engine = FakeEngine::docker("1.43", |_| {
        upgraded(
            MUX,
            // Output already in the same write as the head: it must not be lost.
            &frames(&[(1, b"ready\n")]),
            vec![
                Step::ReadToEof,
                Step::EchoFrame(1),
                Step::Write(frames(&[(2, b"done\n")])),
            ],
        )
    });
    let client = engine.client();
    let mut attached = within(client.start_exec("e1", false)).await.unwrap();
    assert_eq!(attached.output.framing(), Framing::Multiplexed);
    let first = within(attached.next_chunk()).await.unwrap().unwrap();
    assert_eq!(
        (first.stream, &first.data[..]),
        (StreamKind::Stdout, &b"ready\n"[..])
    );
    within(attached.write_stdin(stdin)).await.unwrap();
    within(attached.close_stdin()).await.unwrap();
    let (out, err) = within(drain_attached(&mut attached)).await;
    assert_eq!(out, stdin);
    assert_eq!(err, b"done\n");

    let calls = engine.calls();
    assert_eq!(calls.len(), 1);
    let r = &calls[0];
    assert_eq!(r.line(), "POST /v1.43/exec/e1/start");
    assert_upgrade(r);
    assert_json_body(r, json!({"Detach": false, "Tty": false}));
    assert_eq!(r.after, stdin, "the engine received stdin");
}

#[tokio::test]
async fn exec_start_with_a_tty_is_raw_both_ways() {
    let engine = FakeEngine::docker("1.43", |_| {
        upgraded(RAW, b"\x01\x00$ ", vec![Step::ReadToEof, Step::Echo])
    });
    let client = engine.client();
    let mut attached = within(client.start_exec("e1", true)).await.unwrap();
    assert_eq!(attached.output.framing(), Framing::Raw);
    within(attached.write_stdin(b"\x02ls\r")).await.unwrap();
    within(attached.close_stdin()).await.unwrap();
    let (out, err) = within(drain_attached(&mut attached)).await;
    assert_eq!(out, b"\x01\x00$ \x02ls\r");
    assert!(err.is_empty());
    let calls = engine.calls();
    assert_json_body(&calls[0], json!({"Detach": false, "Tty": true}));
    assert_upgrade(&calls[0]);
    assert_eq!(calls[0].after, b"\x02ls\r");
}

#[tokio::test]
async fn exec_start_answered_200_with_a_raw_stream_label_follows_the_tty_setting() {
    // Podman (and Docker without an Upgrade header) answer 200 and stream until close,
    // labelled raw-stream even when the output is multiplexed.
    let engine = FakeEngine::with_ping(
        Reply::text(200, "OK")
            .with_header("Api-Version", "1.41")
            .with_header("Libpod-Api-Version", "4.9.3"),
        |_| {
            let mut head = format!("HTTP/1.1 200 OK\r\nContent-Type: {RAW}\r\n\r\n").into_bytes();
            head.extend(frames(&[(1, b"out\n"), (2, b"err\n")]));
            Reply::Hijack {
                head,
                steps: vec![Step::ReadToEof, Step::EchoFrame(2)],
            }
        },
    );
    let client = engine.client();
    let mut attached = within(client.start_exec("e1", false)).await.unwrap();
    assert_eq!(attached.output.framing(), Framing::Multiplexed);
    within(attached.write_stdin(b"to stdin")).await.unwrap();
    within(attached.close_stdin()).await.unwrap();
    let (out, err) = within(drain_attached(&mut attached)).await;
    assert_eq!(out, b"out\n");
    assert_eq!(err, b"err\nto stdin");
    assert_eq!(engine.calls()[0].after, b"to stdin");
}

// ---------------------------------------------------------------------------------------------
// Attach

#[tokio::test]
async fn attach_inspects_for_the_tty_when_not_told_then_hijacks() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/web/json" => inspect_with_tty(true),
        _ => upgraded(RAW, TTY_BYTES, vec![]),
    });
    let client = engine.client();
    let attached = within(client.attach_container("web", &AttachOptions::default()))
        .await
        .unwrap();
    assert_eq!(attached.output.framing(), Framing::Raw);
    let (out, err, e) = within(drain(attached.output)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, TTY_BYTES);
    assert!(err.is_empty());
    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "GET /v1.41/containers/web/json",
            "POST /v1.41/containers/web/attach?stream=1&stdout=1&stderr=1",
        ]
    );
    assert_upgrade(&calls[1]);
    assert_no_body(&calls[1]);
}

#[tokio::test]
async fn attach_with_stdin_and_known_tty_carries_stdin_without_inspecting() {
    let engine = FakeEngine::docker("1.43", |_| {
        upgraded(
            MUX,
            &[],
            vec![
                Step::ReadToEof,
                Step::EchoFrame(1),
                Step::Write(frames(&[(2, b"e")])),
            ],
        )
    });
    let client = engine.client();
    let opts = AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        logs: true,
        tty: Some(false),
    };
    let mut attached = within(client.attach_container("web", &opts)).await.unwrap();
    within(attached.write_stdin(b"line 1\nline 2\n"))
        .await
        .unwrap();
    within(attached.close_stdin()).await.unwrap();
    let (out, err) = within(drain_attached(&mut attached)).await;
    assert_eq!(out, b"line 1\nline 2\n");
    assert_eq!(err, b"e");
    let calls = engine.calls();
    assert_eq!(calls.len(), 1, "no inspect when the tty is known");
    assert_eq!(
        calls[0].line(),
        "POST /v1.43/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=1"
    );
    assert_upgrade(&calls[0]);
    assert_eq!(calls[0].after, b"line 1\nline 2\n");
}

// ---------------------------------------------------------------------------------------------
// Logs

fn mux_logs(chunks: Vec<Vec<u8>>) -> Reply {
    Reply::Chunked {
        status: 200,
        headers: vec![("Content-Type".into(), MUX.into())],
        chunks,
    }
}

/// A Podman engine (`Libpod-Api-Version` on `_ping`) answering with `handler`.
fn podman(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeEngine {
    FakeEngine::with_ping(
        Reply::text(200, "OK")
            .with_header("Api-Version", "1.41")
            .with_header("Libpod-Api-Version", "4.3.1")
            .with_header("Server", "Libpod/4.3.1 (linux)"),
        handler,
    )
}

/// Podman's answer to an inspect: `status`, with or without a TTY.
fn podman_inspect(status: &str, tty: bool) -> Reply {
    Reply::json(
        200,
        json!({"Id": "web", "Name": "web",
               "State": {"Status": status, "Running": status == "running"},
               "Config": {"Image": "busybox", "Tty": tty}}),
    )
}

/// Frames as Podman sends them with `timestamps=1`: the time, a space, the entry.
fn stamped(list: &[(u8, &str, &str)]) -> Vec<u8> {
    let with: Vec<(u8, Vec<u8>)> = list
        .iter()
        .map(|(t, time, text)| (*t, format!("{time} {text}").into_bytes()))
        .collect();
    let refs: Vec<(u8, &[u8])> = with.iter().map(|(t, p)| (*t, p.as_slice())).collect();
    frames(&refs)
}

/// A log as Podman keeps it: (stream type, Unix second, entry), in the order written.
type PodmanLog = Vec<(u8, i64, String)>;

/// Podman's answer to a logs read of `log` without `follow`, as the query asks: `tail=K` (the
/// last K entries), `since=S` (entries of second S and later), `timestamps=1`. Like Podman
/// 4.3 it sends all of stdout, then all of stderr. A short log goes one HTTP chunk per byte
/// (frames and timestamps split everywhere), a long one a chunk per frame.
fn podman_logs_answer(log: &PodmanLog, r: &Recorded) -> Reply {
    let query = r.query().unwrap_or("");
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    assert_eq!(
        param("follow"),
        None,
        "no follow=1: Podman's own follow loses data"
    );
    let mut entries: Vec<&(u8, i64, String)> = log.iter().collect();
    if let Some(k) = param("tail").filter(|t| t != "all") {
        let k: usize = k.parse().unwrap();
        entries = entries[entries.len().saturating_sub(k)..].to_vec();
    }
    if let Some(since) = param("since") {
        let since: i64 = since.parse().unwrap();
        entries.retain(|e| e.1 >= since);
    }
    let stamps = param("timestamps").is_some();
    let mut list: Vec<(u8, Vec<u8>)> = Vec::new();
    for stream in [1, 2] {
        for (t, second, text) in entries.iter().filter(|e| e.0 == stream) {
            let mut payload = Vec::new();
            if stamps {
                let time = time_of(*second);
                payload.extend_from_slice(format!("{time} ").as_bytes());
            }
            payload.extend_from_slice(text.as_bytes());
            list.push((*t, payload));
        }
    }
    let chunks = if log.len() < 100 {
        let refs: Vec<(u8, &[u8])> = list.iter().map(|(t, p)| (*t, p.as_slice())).collect();
        frames(&refs).chunks(1).map(<[u8]>::to_vec).collect()
    } else {
        list.iter()
            .map(|(t, p)| frames(&[(*t, p.as_slice())]))
            .collect()
    };
    Reply::Chunked {
        status: 200,
        headers: vec![],
        chunks,
    }
}

/// RFC 3339 of a second in 2026-11-24 (1 795 478 400 is its midnight, UTC).
fn time_of(second: i64) -> String {
    let s = second - 1_795_478_400;
    format!(
        "2026-11-24T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A fake Podman whose container runs while `inspects` < `running_for`, and whose log is
/// `states[n]` at its n-th inspect (the last state from then on).
fn podman_growing_log(states: Vec<PodmanLog>, running_for: usize, tty: bool) -> FakeEngine {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let inspects = AtomicUsize::new(0);
    podman(move |r| {
        if r.path() == "/v1.41/containers/web/json" {
            let n = inspects.fetch_add(1, Ordering::SeqCst) + 1;
            return podman_inspect(if n < running_for { "running" } else { "exited" }, tty);
        }
        let n = inspects.load(Ordering::SeqCst).clamp(1, states.len());
        podman_logs_answer(&states[n - 1], r)
    })
}

#[tokio::test]
async fn podman_follow_polls_complete_reads_and_drops_repeats_per_stream() {
    const T0: i64 = 1_795_539_310;
    let (t1, t2) = (T0 + 1, T0 + 2);
    let e = |t: u8, s: i64, text: &str| (t, s, text.to_string());
    let first = vec![
        e(1, T0, "o0\n"),
        e(2, T0, "e0\n"),
        e(1, t1, "o1\n"),
        e(1, t1, "o2 part"),
    ];
    let mut second = first.clone();
    second.extend([e(1, t1, "ial\n"), e(2, t1, "e1\n"), e(1, t2, "o3\n")]);
    let mut third = second.clone();
    third.push(e(2, t2, "e2\n"));
    // Running at the first two inspects, exited at the third.
    let engine = podman_growing_log(vec![first, second, third], 3, false);
    let client = engine.client();
    let logs = within(client.container_logs("web", &LogsOptions::follow()))
        .await
        .unwrap();
    let (out, err, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(String::from_utf8_lossy(&out), "o0\no1\no2 partial\no3\n");
    assert_eq!(String::from_utf8_lossy(&err), "e0\ne1\ne2\n");
    assert_eq!(
        engine.lines(),
        [
            "GET /v1.41/containers/web/json",
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=all",
            "GET /v1.41/containers/web/json",
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&since=1795539311&timestamps=1&tail=all",
            "GET /v1.41/containers/web/json",
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&since=1795539312&timestamps=1&tail=all",
        ],
        "a log smaller than the smallest window is read from the newest second delivered"
    );
}

#[tokio::test]
async fn podman_follow_asks_again_for_a_window_that_starts_too_late() {
    const T0: i64 = 1_795_539_310;
    let t1 = T0 + 1;
    let line =
        |t: u8, s: i64, n: usize| (t, s, format!("{}{n:05}\n", if t == 1 { 'o' } else { 'e' }));
    // 10 000 lines in one second, 10 in the next; then 2000 more in that second: a window of
    // 1024 lines starts inside it, one of 8192 before it.
    let mut first: PodmanLog = (0..10_000).map(|n| line(1, T0, n)).collect();
    first.extend((10_000..10_010).map(|n| line(1, t1, n)));
    let mut second = first.clone();
    second.extend((10_010..12_010).map(|n| line(1, t1, n)));
    second.push(line(2, t1, 0));
    let engine = podman_growing_log(vec![first, second], 2, false);
    let client = engine.client();
    let logs = within(client.container_logs("web", &LogsOptions::follow()))
        .await
        .unwrap();
    let (out, err, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    let want: String = (0..12_010).map(|n| format!("o{n:05}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out), want);
    assert_eq!(err, b"e00000\n");
    let reads: Vec<String> = engine
        .lines()
        .into_iter()
        .filter(|l| l.contains("/logs"))
        .collect();
    assert_eq!(
        reads,
        [
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=all",
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=1024",
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=8192",
        ],
        "the window that began inside the newest second was dropped and asked for again, larger"
    );
}

#[tokio::test]
async fn podman_follow_of_a_tty_container_replays_and_drops_what_was_delivered() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let inspects = AtomicUsize::new(0);
    let reads = AtomicUsize::new(0);
    let engine = podman(move |r| {
        if r.path() == "/v1.41/containers/web/json" {
            let n = inspects.fetch_add(1, Ordering::SeqCst);
            return podman_inspect(if n < 2 { "running" } else { "exited" }, true);
        }
        let body: &[u8] = match reads.fetch_add(1, Ordering::SeqCst) {
            0 => b"one\ntw",
            1 => b"one\ntwo\nthr",
            _ => b"one\ntwo\nthree\n",
        };
        Reply::Chunked {
            status: 200,
            headers: vec![],
            chunks: vec![body.to_vec()],
        }
    });
    let client = engine.client();
    let logs = within(client.container_logs("web", &LogsOptions::follow()))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Raw);
    let (out, _, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(String::from_utf8_lossy(&out), "one\ntwo\nthree\n");
    let reads: Vec<String> = engine
        .lines()
        .into_iter()
        .filter(|l| l.contains("/logs"))
        .collect();
    assert_eq!(
        reads, ["GET /v1.41/containers/web/logs?stdout=1&stderr=1&tail=all"; 3],
        "every read from the start, without timestamps"
    );
}

#[tokio::test]
async fn podman_follow_of_a_stopped_container_is_one_read() {
    let engine = podman(|r| {
        if r.path() == "/v1.41/containers/web/json" {
            return podman_inspect("exited", false);
        }
        mux_logs(vec![stamped(&[(
            1,
            "2026-11-24T16:55:10.5+01:00",
            "done\n",
        )])])
    });
    let client = engine.client();
    let logs = within(client.container_logs("web", &LogsOptions::follow()))
        .await
        .unwrap();
    let (out, _, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, b"done\n");
    assert_eq!(
        engine.lines(),
        [
            "GET /v1.41/containers/web/json",
            "GET /v1.41/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=all",
        ]
    );
}

#[tokio::test]
async fn logs_send_every_option_as_a_query_parameter() {
    let engine = FakeEngine::docker("1.43", |_| {
        mux_logs(vec![frames(&[(1, b"o\n"), (2, b"e\n")])])
    });
    let client = engine.client();
    let all = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since: Some(10),
        until: Some(20),
        timestamps: true,
        tail: Some(5),
        tty: Some(false),
    };
    let stderr_only = LogsOptions {
        stdout: false,
        tail: Some(0),
        ..LogsOptions::default()
    };
    for opts in [all, LogsOptions::default(), stderr_only] {
        let logs = within(client.container_logs("web", &opts)).await.unwrap();
        let (out, err, e) = within(drain(logs)).await;
        assert!(e.is_none(), "{e:?}");
        assert_eq!((out, err), (b"o\n".to_vec(), b"e\n".to_vec()));
    }
    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "GET /v1.43/containers/web/logs?follow=1&stdout=1&stderr=1&since=10&until=20&timestamps=1&tail=5",
            "GET /v1.43/containers/web/logs?stdout=1&stderr=1&tail=all",
            "GET /v1.43/containers/web/logs?stderr=1&tail=0",
        ]
    );
    for r in &calls {
        assert_no_body(r);
        assert_not_upgrade(r);
    }
    // Each stream has a connection of its own, apart from the pooled one the ping used.
    let mut conns: Vec<usize> = calls.iter().map(|r| r.conn).collect();
    conns.push(engine.requests()[0].conn);
    conns.sort_unstable();
    conns.dedup();
    assert_eq!(conns.len(), 4, "{calls:?}");
}

#[tokio::test]
async fn logs_labelled_multiplexed_are_demultiplexed_whatever_the_tty_hint() {
    let engine = FakeEngine::docker("1.43", |_| {
        let wire = frames(&[(1, b"out 1\n"), (2, b"err 1\n"), (1, b"\x00\x01")]);
        // One HTTP chunk per byte: frames split at every offset.
        mux_logs(wire.chunks(1).map(<[u8]>::to_vec).collect())
    });
    let client = engine.client();
    let opts = LogsOptions {
        tty: Some(true),
        ..LogsOptions::default()
    };
    let logs = within(client.container_logs("web", &opts)).await.unwrap();
    assert_eq!(logs.framing(), Framing::Multiplexed);
    let (out, err, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, b"out 1\n\x00\x01");
    assert_eq!(err, b"err 1\n");
    assert_eq!(
        engine.lines(),
        ["GET /v1.43/containers/web/logs?stdout=1&stderr=1&tail=all"],
        "the label decides: no inspect"
    );
}

#[tokio::test]
async fn logs_without_a_label_follow_the_callers_tty_or_inspect() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/tty/json" => inspect_with_tty(true),
        "/v1.41/containers/plain/json" => inspect_with_tty(false),
        "/v1.41/containers/tty/logs" | "/v1.41/containers/hinted/logs" => Reply::Full {
            status: 200,
            headers: vec![],
            body: TTY_BYTES.to_vec(),
        },
        _ => Reply::Full {
            status: 200,
            headers: vec![],
            body: frames(&[(1, b"o"), (2, b"e")]),
        },
    });
    let client = engine.client();

    let logs = within(client.container_logs("tty", &LogsOptions::default()))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Raw);
    let (out, _, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, TTY_BYTES);

    let logs = within(client.container_logs("plain", &LogsOptions::default()))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Multiplexed);
    let (out, err, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!((out, err), (b"o".to_vec(), b"e".to_vec()));

    let hinted = LogsOptions {
        tty: Some(true),
        ..LogsOptions::default()
    };
    let logs = within(client.container_logs("hinted", &hinted))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Raw);

    assert_eq!(
        engine.lines(),
        [
            "GET /v1.41/containers/tty/logs?stdout=1&stderr=1&tail=all",
            "GET /v1.41/containers/tty/json",
            "GET /v1.41/containers/plain/logs?stdout=1&stderr=1&tail=all",
            "GET /v1.41/containers/plain/json",
            "GET /v1.41/containers/hinted/logs?stdout=1&stderr=1&tail=all",
        ]
    );
}

#[tokio::test]
async fn logs_labelled_raw_stream_follow_the_containers_tty() {
    let engine = FakeEngine::docker("1.43", |r| match r.path() {
        "/v1.43/containers/tty/json" => inspect_with_tty(true),
        "/v1.43/containers/podman/json" => inspect_with_tty(false),
        "/v1.43/containers/podman/logs" => Reply::Chunked {
            status: 200,
            headers: vec![("Content-Type".into(), RAW.into())],
            chunks: vec![frames(&[(1, b"o"), (2, b"e")])],
        },
        _ => Reply::Chunked {
            status: 200,
            headers: vec![("Content-Type".into(), RAW.into())],
            chunks: vec![TTY_BYTES.to_vec()],
        },
    });
    let client = engine.client();

    // Docker, TTY container, the caller knows: raw.
    let hinted = LogsOptions {
        tty: Some(true),
        ..LogsOptions::default()
    };
    let logs = within(client.container_logs("hinted", &hinted))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Raw);
    let (out, _, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, TTY_BYTES);

    // Docker, TTY container, found out by inspecting: raw.
    let logs = within(client.container_logs("tty", &LogsOptions::default()))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Raw);
    let (out, _, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, TTY_BYTES);

    // Podman labels multiplexed output raw-stream too: inspect says no TTY.
    let logs = within(client.container_logs("podman", &LogsOptions::default()))
        .await
        .unwrap();
    assert_eq!(logs.framing(), Framing::Multiplexed);

    assert_eq!(
        engine.lines(),
        [
            "GET /v1.43/containers/hinted/logs?stdout=1&stderr=1&tail=all",
            "GET /v1.43/containers/tty/logs?stdout=1&stderr=1&tail=all",
            "GET /v1.43/containers/tty/json",
            "GET /v1.43/containers/podman/logs?stdout=1&stderr=1&tail=all",
            "GET /v1.43/containers/podman/json",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Archive upload

#[tokio::test]
async fn upload_archive_streams_the_tar_in_chunks() {
    let big = noise(300_000);
    let tar = tar_of(&[("dir/big.bin", &big), ("dir/small.txt", b"hello\n")]);
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/gone/archive" => {
            Reply::json(404, json!({"message": "No such container: gone"}))
        }
        _ => Reply::status(200),
    });
    let client = engine.client();
    let reader = Trickle {
        data: tar.clone(),
        pos: 0,
        step: 10_000,
        ready: false,
    };
    within(client.upload_archive("web", "/dst dir/a&b#c", reader))
        .await
        .unwrap();
    let e = within(client.upload_archive("gone", "/", &b"not read"[..]))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");

    let calls = engine.calls();
    let r = &calls[0];
    assert_eq!(
        r.line(),
        "PUT /v1.41/containers/web/archive?path=%2Fdst%20dir%2Fa%26b%23c"
    );
    assert_common(r);
    assert_not_upgrade(r);
    assert_eq!(r.header("content-type"), Some("application/x-tar"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body.len(), tar.len());
    assert!(r.body == tar, "the engine received the tar byte for byte");
    let sizes = r.chunk_sizes.as_ref().expect("chunked");
    assert!(sizes.len() >= tar.len() / 65_536, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 64 * 1024), "{sizes:?}");
    assert_eq!(
        calls[1].line(),
        "PUT /v1.41/containers/gone/archive?path=%2F"
    );
    assert_eq!(calls[1].body, b"not read");
}

// ---------------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn events_send_filters_and_decode_json_lines_split_across_chunks() {
    let body = concat!(
        r#"{"status":"start","id":"c1","from":"busybox","Type":"container","Action":"start","#,
        r#""Actor":{"ID":"c1","Attributes":{"image":"busybox","name":"web","tug.run":"r 1"}},"#,
        r#""scope":"local","time":1700000001,"timeNano":1700000001000000001}"#,
        "\n",
        r#"{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"container":"c1"}},"#,
        r#""scope":"local","time":1700000002,"timeNano":1700000002000000002}"#,
        "\r\n",
        r#"{"Type":"container","Action":"health_status: healthy","Actor":{"ID":"c1"},"#,
        r#""time":1700000003,"timeNano":1700000003000000003}"#,
        "\n"
    )
    .as_bytes()
    .to_vec();
    let engine = FakeEngine::docker("1.41", move |_| Reply::Chunked {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        // Split mid-object, mid-string, and across the CRLF.
        chunks: vec![
            body[..17].to_vec(),
            body[17..200].to_vec(),
            body[200..201].to_vec(),
            body[201..].to_vec(),
        ],
    });
    let client = engine.client();
    let opts = EventsOptions {
        since: Some(1_700_000_000),
        until: Some(1_700_000_100),
        filters: Filters::new()
            .with("type", "container")
            .label("tug.run=r 1&x"),
    };
    let mut events = within(client.events(&opts)).await.unwrap();
    let mut got = Vec::new();
    while let Some(event) = within(events.next_item()).await.unwrap() {
        got.push(event);
    }
    assert_eq!(got.len(), 3);
    assert_eq!(
        (got[0].kind.as_str(), got[0].action.as_str()),
        ("container", "start")
    );
    assert_eq!(got[0].actor.id, "c1");
    assert_eq!(got[0].actor.attributes["name"], "web");
    assert_eq!(got[0].actor.attributes["tug.run"], "r 1");
    assert_eq!(got[0].scope.as_deref(), Some("local"));
    assert_eq!(got[0].time, 1_700_000_001);
    assert_eq!(got[0].time_nano, 1_700_000_001_000_000_001);
    assert_eq!(
        (got[1].kind.as_str(), got[1].action.as_str()),
        ("network", "connect")
    );
    assert_eq!(got[2].action, "health_status: healthy");
    assert!(got[2].actor.attributes.is_empty());
    assert_eq!(got[2].scope, None);

    let calls = engine.calls();
    assert_eq!(
        calls[0].line(),
        "GET /v1.41/events?since=1700000000&until=1700000100&filters=\
         %7B%22label%22%3A%5B%22tug.run%3Dr%201%26x%22%5D%2C%22type%22%3A%5B%22container%22%5D%7D"
    );
    assert_no_body(&calls[0]);
    assert_not_upgrade(&calls[0]);

    // No options, no query.
    let engine = FakeEngine::docker("1.41", |_| Reply::Chunked {
        status: 200,
        headers: vec![],
        chunks: vec![],
    });
    let mut events = within(engine.client().events(&EventsOptions::default()))
        .await
        .unwrap();
    assert!(within(events.next_item()).await.unwrap().is_none());
    assert_eq!(engine.lines(), ["GET /v1.41/events"]);
}

// ---------------------------------------------------------------------------------------------
// Networks

#[tokio::test]
async fn network_calls() {
    let engine = FakeEngine::docker("1.41", |r| match (r.method.as_str(), r.path()) {
        ("POST", "/v1.41/networks/create") => Reply::json(201, json!({"Id": "n1", "Warning": ""})),
        ("GET", "/v1.41/networks/tug%20net%26x%2Fy") => Reply::json(
            200,
            json!({"Name": "tug net&x/y", "Id": "n1", "Driver": "bridge", "Scope": "local",
                   "Internal": true, "Labels": {"tug.run": "r1"},
                   "Containers": {"c1": {"Name": "web", "IPv4Address": "172.18.0.2/16"}}}),
        ),
        ("GET", "/v1.41/networks") => Reply::json(
            200,
            json!([{"Name": "bridge", "Id": "b", "Driver": "bridge", "Labels": null,
                    "Containers": null}]),
        ),
        ("DELETE", "/v1.41/networks/gone") => {
            Reply::json(404, json!({"message": "network gone not found"}))
        }
        _ => Reply::status(200),
    });
    let client = engine.client();
    let mut create = NetworkCreate::new("tug net&x/y").label("tug.run", "r1");
    create.driver = Some("bridge".into());
    create.internal = Some(true);
    create
        .options
        .insert("com.docker.network.bridge.name".into(), "tug0".into());
    let created = within(client.create_network(&create)).await.unwrap();
    assert_eq!(created.id, "n1");
    let net = within(client.inspect_network("tug net&x/y")).await.unwrap();
    assert_eq!(net.id, "n1");
    assert_eq!(
        net.containers.unwrap()["c1"].ipv4_address.as_deref(),
        Some("172.18.0.2/16")
    );
    let list = within(client.list_networks(&Filters::new().label("tug.run=r1")))
        .await
        .unwrap();
    assert_eq!(list[0].name, "bridge");
    within(client.list_networks(&Filters::new())).await.unwrap();
    within(client.connect_network("n1", "web")).await.unwrap();
    within(client.disconnect_network("n1", "web", true))
        .await
        .unwrap();
    within(client.remove_network("n1")).await.unwrap();
    let e = within(client.remove_network("gone")).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");

    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "POST /v1.41/networks/create",
            "GET /v1.41/networks/tug%20net%26x%2Fy",
            "GET /v1.41/networks?filters=%7B%22label%22%3A%5B%22tug.run%3Dr1%22%5D%7D",
            "GET /v1.41/networks",
            "POST /v1.41/networks/n1/connect",
            "POST /v1.41/networks/n1/disconnect",
            "DELETE /v1.41/networks/n1",
            "DELETE /v1.41/networks/gone",
        ]
    );
    assert_json_body(
        &calls[0],
        json!({"Name": "tug net&x/y", "CheckDuplicate": true, "Driver": "bridge",
               "Internal": true, "Labels": {"tug.run": "r1"},
               "Options": {"com.docker.network.bridge.name": "tug0"}}),
    );
    assert_json_body(&calls[4], json!({"Container": "web"}));
    assert_json_body(&calls[5], json!({"Container": "web", "Force": true}));
    for i in [1, 2, 3, 6, 7] {
        assert_no_body(&calls[i]);
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes

#[tokio::test]
async fn volume_calls() {
    let engine = FakeEngine::docker("1.41", |r| match (r.method.as_str(), r.path()) {
        ("POST", "/v1.41/volumes/create") => Reply::json(
            201,
            json!({"Name": "tug-cache", "Driver": "local",
                   "Mountpoint": "/var/lib/docker/volumes/tug-cache/_data",
                   "Labels": {"tug.run": "r1"}, "Scope": "local",
                   "CreatedAt": "2024-01-01T00:00:00Z", "Options": {"type": "tmpfs"}}),
        ),
        ("GET", "/v1.41/volumes/a%20b%2Fc%3Fd") => Reply::json(
            200,
            json!({"Name": "a b/c?d", "Driver": "local", "Labels": null}),
        ),
        ("GET", "/v1.41/volumes") if r.query().is_some() => Reply::json(
            200,
            json!({"Volumes": [{"Name": "tug-cache", "Driver": "local"}], "Warnings": null}),
        ),
        ("GET", "/v1.41/volumes") => Reply::json(200, json!({"Volumes": null, "Warnings": null})),
        ("DELETE", "/v1.41/volumes/busy") => Reply::json(
            409,
            json!({"message": "remove busy: volume is in use - [c1]"}),
        ),
        _ => Reply::status(204),
    });
    let client = engine.client();
    let mut create = VolumeCreate::new("tug-cache").label("tug.run", "r1");
    create.driver = Some("local".into());
    create.driver_opts.insert("type".into(), "tmpfs".into());
    let v = within(client.create_volume(&create)).await.unwrap();
    assert_eq!(
        v.mountpoint.as_deref(),
        Some("/var/lib/docker/volumes/tug-cache/_data")
    );
    let v = within(client.inspect_volume("a b/c?d")).await.unwrap();
    assert_eq!(v.name, "a b/c?d");
    let list = within(client.list_volumes(&Filters::new().with("dangling", "true")))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert!(within(client.list_volumes(&Filters::new()))
        .await
        .unwrap()
        .is_empty());
    within(client.remove_volume("tug-cache", true))
        .await
        .unwrap();
    within(client.remove_volume("tug-cache", false))
        .await
        .unwrap();
    let e = within(client.remove_volume("busy", false))
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    within(client.create_volume(&VolumeCreate::default()))
        .await
        .unwrap();

    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "POST /v1.41/volumes/create",
            "GET /v1.41/volumes/a%20b%2Fc%3Fd",
            "GET /v1.41/volumes?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
            "GET /v1.41/volumes",
            "DELETE /v1.41/volumes/tug-cache?force=1",
            "DELETE /v1.41/volumes/tug-cache",
            "DELETE /v1.41/volumes/busy",
            "POST /v1.41/volumes/create",
        ]
    );
    assert_json_body(
        &calls[0],
        json!({"Name": "tug-cache", "Driver": "local", "DriverOpts": {"type": "tmpfs"},
               "Labels": {"tug.run": "r1"}}),
    );
    // An anonymous volume: the engine picks the name.
    assert_json_body(&calls[7], json!({}));
    for r in &calls[1..7] {
        assert_no_body(r);
    }
}

// ---------------------------------------------------------------------------------------------
// Images

/// A password whose auth JSON has both `+` and `/` in standard base64: sent with the wrong
/// alphabet, Docker silently pulls anonymously.
const PASSWORD: &str = "p>>>??~~";
/// `{"username":"tug","password":"p>>>??~~","serveraddress":"r:5000"}` in base64url with
/// padding, as the docker CLI encodes it.
const AUTH_HEADER: &str =
    "eyJ1c2VybmFtZSI6InR1ZyIsInBhc3N3b3JkIjoicD4-Pj8_fn4iLCJzZXJ2ZXJhZGRyZXNzIjoicjo1MDAwIn0=";

fn registry_auth() -> RegistryAuth {
    RegistryAuth::basic("tug", PASSWORD).with_server_address("r:5000")
}

fn json_lines(lines: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend(serde_json::to_vec(l).unwrap());
        out.push(b'\n');
    }
    out
}

fn progress(lines: &[Value]) -> Reply {
    let body = json_lines(lines);
    let mid = body.len() / 2;
    Reply::Chunked {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        chunks: vec![body[..mid].to_vec(), body[mid..].to_vec()],
    }
}

#[tokio::test]
async fn pull_sends_repository_tag_platform_and_base64url_registry_auth() {
    use base64::Engine as _;
    let engine = FakeEngine::docker("1.41", |_| {
        progress(&[
            json!({"status": "Pulling from tug/busybox", "id": "1.36"}),
            json!({"status": "Downloading", "id": "a1",
                   "progressDetail": {"current": 5, "total": 10}, "progress": "[=> ]"}),
            json!({"status": "Status: Downloaded newer image for r:5000/tug/busybox:1.36"}),
        ])
    });
    let client = engine.client();
    let opts = PullOptions::new("r:5000/tug/busybox:1.36")
        .unwrap()
        .platform("linux/arm64")
        .auth(Some(registry_auth()));
    let all = within(
        within(client.pull_image(&opts))
            .await
            .unwrap()
            .collect_all(),
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].progress_detail.unwrap().total, Some(10));
    // Docker Hub short names are normalised; no credentials, no header.
    let hub = PullOptions::new("alpine").unwrap();
    within(within(client.pull_image(&hub)).await.unwrap().finish())
        .await
        .unwrap();

    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "POST /v1.41/images/create?fromImage=r%3A5000%2Ftug%2Fbusybox&tag=1.36&platform=linux%2Farm64",
            "POST /v1.41/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=latest",
        ]
    );
    for r in &calls {
        assert_no_body(r);
        assert_not_upgrade(r);
    }
    let header = calls[0].header("x-registry-auth").expect("X-Registry-Auth");
    assert_eq!(header, AUTH_HEADER);
    let decoded = base64::engine::general_purpose::URL_SAFE
        .decode(header)
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).unwrap(),
        json!({"username": "tug", "password": PASSWORD, "serveraddress": "r:5000"})
    );
    let standard = base64::engine::general_purpose::STANDARD.encode(&decoded);
    assert!(
        standard.contains('+') && standard.contains('/'),
        "the alphabet matters for this password"
    );
    assert_eq!(calls[1].header("x-registry-auth"), None);
}

#[tokio::test]
async fn pull_failures_are_typed_and_never_show_the_secret() {
    let engine = FakeEngine::docker("1.41", |r| match r.query() {
        // Docker fails a pull without credentials before streaming.
        Some(q) if q.contains("private") => Reply::json(
            500,
            json!({"message": "Head \"https://r:5000/v2/tug/private/manifests/1\": no basic auth credentials"}),
        ),
        // Podman reports a missing image inside its 200 stream.
        _ => progress(&[
            json!({"status": "Trying to pull r:5000/tug/nope:1..."}),
            json!({"error": "initializing source docker://r:5000/tug/nope:1: reading manifest 1 in r:5000/tug/nope: manifest unknown",
                   "errorDetail": {"message": "initializing source docker://r:5000/tug/nope:1: reading manifest 1 in r:5000/tug/nope: manifest unknown"}}),
        ]),
    });
    let client = engine.client();
    let opts = PullOptions::new("r:5000/tug/private:1")
        .unwrap()
        .auth(Some(registry_auth()));
    let e = within(client.pull_image(&opts)).await.unwrap_err();
    assert!(e.is_unauthorized(), "{e:?}");
    assert!(
        matches!(&e, Error::Auth { registry, .. } if registry == "r:5000"),
        "{e:?}"
    );
    assert!(!e.to_string().contains(PASSWORD) && !format!("{e:?}").contains(PASSWORD));

    let opts = PullOptions::new("r:5000/tug/nope:1").unwrap();
    let mut pull = within(client.pull_image(&opts)).await.unwrap();
    let first = within(pull.next_item()).await.unwrap().unwrap();
    assert!(first.status.starts_with("Trying to pull"));
    let e = within(pull.next_item()).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(e.to_string().contains("manifest unknown"), "{e}");
    assert!(within(pull.next_item()).await.unwrap().is_none());
}

#[tokio::test]
async fn push_sends_the_tag_apart_and_always_an_auth_header() {
    let engine = FakeEngine::docker("1.41", |_| {
        progress(&[
            json!({"status": "The push refers to repository [r:5000/tug/x]"}),
            json!({"status": "t1: digest: sha256:abc size: 527"}),
            json!({"progressDetail": {}, "aux": {"Tag": "t1", "Digest": "sha256:abc", "Size": 527}}),
        ])
    });
    let client = engine.client();
    let digest = within(
        within(client.push_image("r:5000/tug/x:t1", &PushOptions::new()))
            .await
            .unwrap()
            .digest(),
    )
    .await
    .unwrap();
    assert_eq!(digest.as_deref(), Some("sha256:abc"));
    let opts = PushOptions::new().tag("t2").auth(Some(registry_auth()));
    within(
        within(client.push_image("r:5000/tug/x:t1", &opts))
            .await
            .unwrap()
            .finish(),
    )
    .await
    .unwrap();
    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "POST /v1.41/images/r:5000%2Ftug%2Fx/push?tag=t1",
            "POST /v1.41/images/r:5000%2Ftug%2Fx/push?tag=t2",
        ]
    );
    assert_eq!(calls[0].header("x-registry-auth"), Some(EMPTY_AUTH));
    assert_eq!(calls[1].header("x-registry-auth"), Some(AUTH_HEADER));
    for r in &calls {
        assert_no_body(r);
    }
}

#[tokio::test]
async fn image_inspect_list_tag_remove_and_export() {
    let engine = FakeEngine::docker("1.41", |r| match (r.method.as_str(), r.path()) {
        ("GET", "/v1.41/images/sha256:8f3e/json") => Reply::json(
            200,
            json!({"Id": "sha256:8f3e", "RepoTags": ["tug/x:1"], "Os": "linux",
                   "Architecture": "amd64", "Size": 3,
                   "Config": {"Entrypoint": "/bin/sh", "Cmd": null, "Labels": null}}),
        ),
        ("GET", "/v1.41/images/json") => Reply::json(
            200,
            json!([{"Id": "sha256:8f3e", "RepoTags": null, "Labels": null, "Created": 1,
                    "Size": 3, "Containers": -1}]),
        ),
        ("DELETE", _) => Reply::json(
            200,
            json!([{"Untagged": "r:5000/tug/x:t1"}, {"Deleted": "sha256:8f3e"}]),
        ),
        ("POST", _) => Reply::status(201),
        ("GET", "/v1.41/images/r:5000%2Ftug%2Fx:t1/get") => Reply::Chunked {
            status: 200,
            headers: vec![("Content-Type".into(), "application/x-tar".into())],
            chunks: vec![b"tar ".to_vec(), b"bytes".to_vec()],
        },
        _ => Reply::json(404, json!({"message": "No such image: missing:latest"})),
    });
    let client = engine.client();
    let image = within(client.inspect_image("sha256:8f3e")).await.unwrap();
    assert_eq!(image.repo_tags, ["tug/x:1"]);
    assert_eq!(image.config.entrypoint, ["/bin/sh"]);
    assert!(!within(client.image_exists("missing")).await.unwrap());
    let e = within(client.inspect_image("missing")).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let list = within(client.list_images(&ListImagesOptions::new().reference("tug/*").all(true)))
        .await
        .unwrap();
    assert!(list[0].repo_tags.is_empty());
    within(client.list_images(&ListImagesOptions::new()))
        .await
        .unwrap();
    within(client.tag_image("sha256:8f3e", "r:5000/tug/x:t1"))
        .await
        .unwrap();
    within(client.tag_image("sha256:8f3e", "tug/x"))
        .await
        .unwrap();
    let deleted =
        within(client.remove_image("r:5000/tug/x:t1", RemoveImageOptions::force().noprune(true)))
            .await
            .unwrap();
    assert_eq!(deleted[1].deleted.as_deref(), Some("sha256:8f3e"));
    within(client.remove_image("tug/x", RemoveImageOptions::new()))
        .await
        .unwrap();
    let tar = within(
        within(client.export_image("r:5000/tug/x:t1"))
            .await
            .unwrap()
            .collect(1 << 20),
    )
    .await
    .unwrap();
    assert_eq!(&tar[..], b"tar bytes");

    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "GET /v1.41/images/sha256:8f3e/json",
            "GET /v1.41/images/missing/json",
            "GET /v1.41/images/missing/json",
            "GET /v1.41/images/json?all=1&filters=%7B%22reference%22%3A%5B%22tug%2F%2A%22%5D%7D",
            "GET /v1.41/images/json",
            "POST /v1.41/images/sha256:8f3e/tag?repo=r%3A5000%2Ftug%2Fx&tag=t1",
            "POST /v1.41/images/sha256:8f3e/tag?repo=tug%2Fx&tag=latest",
            "DELETE /v1.41/images/r:5000%2Ftug%2Fx:t1?force=1&noprune=1",
            "DELETE /v1.41/images/tug%2Fx",
            "GET /v1.41/images/r:5000%2Ftug%2Fx:t1/get",
        ]
    );
    for r in &calls {
        assert_no_body(r);
        assert_eq!(r.header("x-registry-auth"), None, "{}", r.line());
    }
}

#[tokio::test]
async fn import_build_and_load_stream_their_tar_bodies() {
    use base64::Engine as _;
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/images/create" => progress(&[json!({"status": "sha256:4c8a"})]),
        "/v1.41/build" if r.query().is_some_and(|q| q.contains("fails")) => progress(&[
            json!({"stream": "Step 1/2 : FROM scratch\n"}),
            json!({"errorDetail": {"message": "COPY failed: file not found"},
                   "error": "COPY failed: file not found"}),
        ]),
        "/v1.41/build" => progress(&[
            json!({"stream": "Step 1/1 : FROM scratch\n"}),
            json!({"aux": {"ID": "sha256:90fd"}}),
            json!({"stream": "Successfully built 90fd\n"}),
        ]),
        _ => progress(&[json!({"stream": "Loaded image: tug/x:1\n"})]),
    });
    let client = engine.client();
    let rootfs = tar_of(&[("bin/sh", &noise(150_000))]);
    let trickle = |data: &Vec<u8>| Trickle {
        data: data.clone(),
        pos: 0,
        step: 30_000,
        ready: false,
    };
    let import = ImportOptions::named("tug/imported:1")
        .change("ENTRYPOINT [\"/bin/sh\"]")
        .change("ENV A=b c")
        .message("from tug");
    let id = within(
        within(client.import_image(trickle(&rootfs), &import))
            .await
            .unwrap()
            .image_id(),
    )
    .await
    .unwrap();
    assert_eq!(id.as_deref(), Some("sha256:4c8a"));

    let context = tar_of(&[("Dockerfile", b"FROM scratch\n")]);
    let mut build = BuildOptions::tagged("app:1")
        .build_arg("A", "b c")
        .label("tug.run", "r1");
    build.tags.push("app:latest".into());
    build.dockerfile = Some("sub/Dockerfile".into());
    build.no_cache = true;
    build.pull = true;
    build
        .registry_auths
        .insert("docker.io".into(), RegistryAuth::basic("hub", "pw"));
    build
        .registry_auths
        .insert("r:5000".into(), registry_auth());
    let id = within(
        within(client.build_image(trickle(&context), &build))
            .await
            .unwrap()
            .image_id(),
    )
    .await
    .unwrap();
    assert_eq!(id.as_deref(), Some("sha256:90fd"));
    let failing = BuildOptions::tagged("fails");
    let mut stream = within(client.build_image(trickle(&context), &failing))
        .await
        .unwrap();
    within(stream.next_item()).await.unwrap();
    let e = within(stream.next_item()).await.unwrap_err();
    assert!(
        matches!(&e, Error::Stream { message } if message == "COPY failed: file not found"),
        "{e:?}"
    );

    let loaded = within(
        within(client.load_image(trickle(&rootfs)))
            .await
            .unwrap()
            .image_id(),
    )
    .await
    .unwrap();
    assert_eq!(loaded.as_deref(), Some("tug/x:1"));

    let calls = engine.calls();
    assert_eq!(
        calls.iter().map(Recorded::line).collect::<Vec<_>>(),
        [
            "POST /v1.41/images/create?fromSrc=-&repo=tug%2Fimported%3A1&message=from%20tug\
             &changes=ENTRYPOINT%20%5B%22%2Fbin%2Fsh%22%5D&changes=ENV%20A%3Db%20c",
            "POST /v1.41/build?t=app%3A1&t=app%3Alatest&dockerfile=sub%2FDockerfile&nocache=1\
             &rm=1&pull=1&buildargs=%7B%22A%22%3A%22b%20c%22%7D\
             &labels=%7B%22tug.run%22%3A%22r1%22%7D",
            "POST /v1.41/build?t=fails&rm=1",
            "POST /v1.41/images/load?quiet=0",
        ]
    );
    for (r, body) in calls.iter().zip([&rootfs, &context, &context, &rootfs]) {
        assert_common(r);
        assert_eq!(r.header("content-type"), Some("application/x-tar"));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.header("content-length"), None);
        assert!(&r.body == body, "{}: the tar arrives intact", r.line());
        assert!(r.chunk_sizes.as_ref().is_some_and(|c| !c.is_empty()));
    }
    assert!(calls[0].chunk_sizes.as_ref().unwrap().len() > 1);
    // X-Registry-Config: registry → auth config, Docker Hub under its legacy key.
    let config = calls[1]
        .header("x-registry-config")
        .expect("X-Registry-Config");
    let decoded = base64::engine::general_purpose::URL_SAFE
        .decode(config)
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).unwrap(),
        json!({"https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
               "r:5000": {"username": "tug", "password": PASSWORD, "serveraddress": "r:5000"}})
    );
    assert_eq!(calls[2].header("x-registry-config"), None);
    assert_eq!(calls[0].header("x-registry-auth"), None);
}

#[tokio::test]
async fn custom_headers_go_with_every_request_on_both_paths_but_never_replace_the_clients() {
    let engine = FakeEngine::docker("1.41", |r| match r.path() {
        "/v1.41/containers/plain/json" => inspect_with_tty(false),
        "/v1.41/containers/plain/logs" => Reply::Full {
            status: 200,
            headers: vec![],
            body: frames(&[(1, b"o")]),
        },
        _ => Reply::json(200, json!({})),
    });
    let mut endpoint = engine.endpoint();
    endpoint.headers = engine_api::headers::CustomHeaders::from_env_value(
        r#"X-Proxy-Token=t0k3n,"X-List=a,b",Host=elsewhere,User-Agent=other"#,
    )
    .unwrap();
    let client = Client::new(endpoint).unwrap();
    within(client.info()).await.unwrap();
    let logs = within(client.container_logs("plain", &LogsOptions::default()))
        .await
        .unwrap();
    let (out, _, e) = within(drain(logs)).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, b"o");
    let requests = engine.requests();
    // The ping, /info (hyper path), the inspect and the logs stream (raw path).
    assert!(requests.len() >= 3, "{:?}", engine.lines());
    for r in &requests {
        assert_eq!(r.header("x-proxy-token"), Some("t0k3n"), "{}", r.line());
        assert_eq!(r.header("x-list"), Some("a,b"), "{}", r.line());
        // The client's own headers win: one Host, one User-Agent, both the client's.
        assert_common(r);
        assert_eq!(r.header_all("host").len(), 1, "{}", r.line());
        assert_eq!(r.header_all("user-agent").len(), 1, "{}", r.line());
    }
    assert!(
        requests
            .iter()
            .any(|r| r.path() == "/v1.41/containers/plain/logs"),
        "{:?}",
        engine.lines()
    );
}
