//! Shared helpers for the integration tests: which engines to test against, the test images,
//! and cleanup.
//!
//! Tests that need an engine are marked `#[ignore = "needs engines: run scripts/test"]`, so a
//! plain `cargo test` lists them as ignored (it says so, rather than passing silently), and
//! `scripts/test` runs them with `--include-ignored` after provisioning Docker, Podman and the
//! registry. When such a test runs and its engine does not answer, it fails.

use engine_api::{Client, Endpoint, Runtime};

/// An environment variable set by `scripts/engines`, or its default.
pub fn rig_var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The rig's directory (certificates, configs).
pub fn rig_dir() -> String {
    rig_var("TUG_TEST_RIG_DIR", "/var/lib/tug-rig")
}

/// The local test image present in both engines.
pub fn test_image() -> String {
    rig_var("TUG_TEST_IMAGE", "tug-busybox:latest")
}

/// The test image in the local registry (needs auth).
pub fn registry_image() -> String {
    rig_var(
        "TUG_TEST_REGISTRY_IMAGE",
        "127.0.0.1:5000/tug/busybox:latest",
    )
}

/// Registry host, user and password.
pub fn registry() -> (String, String, String) {
    (
        rig_var("TUG_TEST_REGISTRY", "127.0.0.1:5000"),
        rig_var("TUG_TEST_REGISTRY_USER", "tug"),
        rig_var("TUG_TEST_REGISTRY_PASSWORD", "tug-registry-pass"),
    )
}

/// The engines every behaviour test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker Engine on its unix socket.
    Docker,
    /// Podman's Docker-compatible service.
    Podman,
}

impl Engine {
    /// The endpoint URL the rig provides for this engine.
    pub fn url(self) -> String {
        match self {
            Engine::Docker => rig_var("TUG_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"),
            Engine::Podman => rig_var("TUG_TEST_PODMAN_HOST", "unix:///run/podman/podman.sock"),
        }
    }

    /// The runtime name.
    pub fn runtime(self) -> Runtime {
        match self {
            Engine::Docker => Runtime::Docker,
            Engine::Podman => Runtime::Podman,
        }
    }

    /// Environment variables that select this engine for a `tug` process.
    pub fn env(self) -> Vec<(&'static str, String)> {
        match self {
            Engine::Docker => vec![
                ("DAGU_CONTAINER_RUNTIME", "docker".into()),
                ("DOCKER_HOST", self.url()),
            ],
            Engine::Podman => vec![
                ("DAGU_CONTAINER_RUNTIME", "podman".into()),
                ("DAGU_PODMAN_HOST", self.url()),
            ],
        }
    }

    /// A client for this engine. Panics with the rig's instructions if the endpoint is
    /// malformed; connection failures surface on first use.
    pub fn client(self) -> Client {
        let endpoint = Endpoint::parse(&self.url(), None)
            .expect("rig endpoint parses")
            .with_runtime(self.runtime());
        Client::new(endpoint).expect("client builds")
    }

    /// A client that has reached the engine, or a panic explaining how to start it.
    pub async fn connected(self) -> Client {
        let client = self.client();
        if let Err(e) = client.ping().await {
            panic!(
                "the {self:?} engine at {} does not answer ({e}); run scripts/engines (or scripts/test) first",
                self.url()
            );
        }
        client
    }
}

/// Defines one async test per engine from one body: `engine_test!(name, |engine, client| …)`
/// produces `name::docker` and `name::podman`.
#[macro_export]
macro_rules! engine_test {
    ($name:ident, |$engine:ident, $client:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($engine: $crate::Engine, $client: engine_api::Client) {
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs engines: run scripts/test"]
            async fn docker() {
                let e = $crate::Engine::Docker;
                body(e, e.connected().await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs engines: run scripts/test"]
            async fn podman() {
                let e = $crate::Engine::Podman;
                body(e, e.connected().await).await
            }
        }
    };
}

/// A name unique to this test process, for containers, networks and volumes.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a test created, removed at the end of the test — by [`Cleanup::run`] on success, or
/// from `Drop` (on a thread of its own, with its own runtime) when the test panicked first.
#[derive(Debug)]
pub struct Cleanup {
    client: Client,
    items: std::sync::Mutex<Vec<Item>>,
}

#[derive(Debug, Clone)]
enum Item {
    Container(String),
    Network(String),
    Volume(String),
    Image(String),
}

impl Cleanup {
    /// Tracks resources on `client`'s engine.
    pub fn new(client: &Client) -> Cleanup {
        Cleanup {
            client: client.clone(),
            items: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn push(&self, item: Item) {
        self.items.lock().unwrap().push(item);
    }

    /// Removes this container (forced) at the end.
    pub fn container(&self, id: &str) {
        self.push(Item::Container(id.to_string()));
    }

    /// Removes this network at the end.
    pub fn network(&self, id: &str) {
        self.push(Item::Network(id.to_string()));
    }

    /// Removes this volume at the end.
    pub fn volume(&self, name: &str) {
        self.push(Item::Volume(name.to_string()));
    }

    /// Removes this image reference at the end.
    pub fn image(&self, reference: &str) {
        self.push(Item::Image(reference.to_string()));
    }

    /// Removes everything tracked, newest first (containers before their networks).
    pub async fn run(&self) {
        let items: Vec<Item> = std::mem::take(&mut *self.items.lock().unwrap());
        remove_all(&self.client, items).await;
    }
}

async fn remove_all(client: &Client, items: Vec<Item>) {
    for item in items.into_iter().rev() {
        let result = match &item {
            Item::Container(id) => {
                client
                    .remove_container(id, engine_api::containers::RemoveOptions::force())
                    .await
            }
            Item::Network(id) => client.remove_network(id).await,
            Item::Volume(name) => client.remove_volume(name, true).await,
            Item::Image(reference) => remove_image(client, reference).await,
        };
        if let Err(e) = result {
            assert!(e.is_not_found(), "cleanup of {item:?} failed: {e}");
        }
    }
}

async fn remove_image(client: &Client, reference: &str) -> engine_api::Result<()> {
    client
        .remove_image(reference, engine_api::images::RemoveImageOptions::force())
        .await
        .map(drop)
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let items: Vec<Item> = std::mem::take(&mut *self.items.lock().unwrap());
        if items.is_empty() {
            return;
        }
        let client = self.client.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(remove_all(&client, items));
            }
        })
        .join();
    }
}

/// A ustar archive of regular files `(path, content, mode)`, built in memory (small test data
/// only), with directory entries for their parents.
pub fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _, _) in files {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            acc.push_str(part);
            acc.push('/');
            dirs.insert(acc.clone());
        }
    }
    for dir in &dirs {
        tar_entry(&mut out, dir, b"", 0o755, b'5');
    }
    for (path, content, mode) in files {
        tar_entry(&mut out, path, content, *mode, b'0');
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn tar_entry(out: &mut Vec<u8>, path: &str, content: &[u8], mode: u32, kind: u8) {
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let s = format!("{:0width$o}\0", value, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], content.len() as u64);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(content);
    let pad = (512 - content.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

// ---------------------------------------------------------------------------------------------
// `tug start`: the binary, a workflow directory per test, a run and its record.
// ---------------------------------------------------------------------------------------------

/// The `tug` binary of this workspace (`<workspace>/target/debug/tug`); panics with how to build
/// it when it is absent.
pub fn tug_bin() -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map(|t| {
            if t.is_relative() {
                workspace.join(t)
            } else {
                t
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("debug").join("tug");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p tug` (scripts/test does)",
        bin.display()
    );
    bin
}

/// A file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A workflow fixture copied into a fresh directory of its own, so that its relative volume
/// sources (`./data`) land there and the Docker and Podman variants of a test do not share them.
#[derive(Debug)]
pub struct WorkflowDir {
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

impl WorkflowDir {
    /// Copies `tests/fixtures/<rel>` into a new directory, keeping its file name (so the
    /// workflow's default name, the file stem, stays the same).
    pub fn new(rel: &str) -> WorkflowDir {
        let source = fixture(rel);
        let dir = tempfile::Builder::new()
            .prefix("tug-wf-")
            .tempdir()
            .expect("temp dir");
        let file = dir
            .path()
            .join(source.file_name().expect("fixture file name"));
        std::fs::copy(&source, &file).unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        WorkflowDir { dir, file }
    }

    /// The directory holding the workflow.
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The workflow file.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// A directory under this one (created with its parents), open to every user so that a
    /// container running as a non-root user can write into a bind mount of it.
    pub fn dir(&self, rel: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(&path).expect("create dir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        path
    }

    /// Writes a file under this directory (parents created).
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Reads a file under this directory, or `None` when it does not exist.
    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(rel)).ok()
    }
}

/// Longest a `tug start` may take before the helpers kill it and fail the test.
pub const TUG_RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// One invocation of `tug start FILE --run-id ID [-- NAME=VALUE …]` against one engine, with a
/// data directory (`TUG_DATA_DIR`) and `HOME` of its own and an environment holding only what
/// the test gives it (so the host's variables and credentials do not leak in).
#[derive(Debug)]
pub struct TugStart {
    engine: Engine,
    file: std::path::PathBuf,
    run_id: String,
    subcommand: &'static str,
    params: Vec<String>,
    env: Vec<(String, String)>,
    discard_stdout: bool,
    data_dir: tempfile::TempDir,
}

impl TugStart {
    /// `tug start FILE` on `engine`, with a fresh run id.
    pub fn new(engine: Engine, file: &std::path::Path) -> TugStart {
        TugStart {
            engine,
            file: file.to_path_buf(),
            run_id: unique("tug-run"),
            subcommand: "start",
            params: Vec::new(),
            env: Vec::new(),
            discard_stdout: false,
            data_dir: tempfile::Builder::new()
                .prefix("tug-data-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// Adds a `NAME=VALUE` parameter after `--`.
    pub fn param(mut self, name: &str, value: impl AsRef<str>) -> TugStart {
        self.params.push(format!("{name}={}", value.as_ref()));
        self
    }

    /// Sets an environment variable of the `tug` process.
    pub fn env(mut self, name: &str, value: impl AsRef<str>) -> TugStart {
        self.env
            .push((name.to_string(), value.as_ref().to_string()));
        self
    }

    /// Uses the `tug run` alias instead of `tug start`.
    pub fn via_run_alias(mut self) -> TugStart {
        self.subcommand = "run";
        self
    }

    /// Sends tug's own stdout to `/dev/null` (for runs that print hundreds of MiB).
    pub fn discard_stdout(mut self) -> TugStart {
        self.discard_stdout = true;
        self
    }

    /// The run id passed with `--run-id`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The workflow's name as tug records it: the file stem (fixtures do not set `name:`).
    fn workflow_name(&self) -> String {
        self.file
            .file_stem()
            .expect("workflow file stem")
            .to_string_lossy()
            .into_owned()
    }

    /// Starts `tug`; the caller observes it while it runs and then calls [`TugProcess::finish`].
    pub fn spawn(self) -> TugProcess {
        use std::process::Stdio;
        use tokio::io::AsyncReadExt;

        let home = self.data_dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let mut cmd = tokio::process::Command::new(tug_bin());
        cmd.arg(self.subcommand)
            .arg("--run-id")
            .arg(&self.run_id)
            .arg(&self.file);
        if !self.params.is_empty() {
            cmd.arg("--").args(&self.params);
        }
        cmd.env_clear();
        for keep in ["PATH", "RUST_BACKTRACE", "RUST_LOG", "LANG"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("HOME", &home)
            .env("TUG_DATA_DIR", self.data_dir.path())
            .envs(self.engine.env())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.file.parent().expect("workflow dir"))
            .stdin(Stdio::null())
            .stdout(if self.discard_stdout {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tug_bin().display()));
        let pid = child.id().expect("tug pid");
        let collect = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf).await;
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let stdout = collect(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        );
        let stderr = collect(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        );
        let run_dir = self
            .data_dir
            .path()
            .join("runs")
            .join(self.workflow_name())
            .join(&self.run_id);
        TugProcess {
            child,
            pid,
            stdout,
            stderr,
            run_dir,
            start: self,
        }
    }

    /// Runs `tug` to the end (killing it and failing after [`TUG_RUN_LIMIT`]).
    pub async fn run(self) -> TugRun {
        self.spawn().finish(TUG_RUN_LIMIT).await
    }
}

/// A `tug start` process still running.
#[derive(Debug)]
pub struct TugProcess {
    child: tokio::process::Child,
    pid: u32,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
    run_dir: std::path::PathBuf,
    start: TugStart,
}

impl TugProcess {
    /// tug's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.start.run_id
    }

    /// `$TUG_DATA_DIR/runs/<workflow>/<run-id>`.
    pub fn run_dir(&self) -> &std::path::Path {
        &self.run_dir
    }

    /// `status.json` as it is now, if it exists and parses (a half-written file reads as `None`).
    pub fn status_now(&self) -> Option<serde_json::Value> {
        read_status(&self.run_dir)
    }

    /// True while tug has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) to tug.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid);
    }

    /// Polls `ready` every 50 ms until it holds; panics (after killing tug and removing the
    /// run's containers) when tug exits first or `limit` passes.
    pub async fn wait_until<F, Fut>(&mut self, what: &str, limit: std::time::Duration, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if ready().await {
                return;
            }
            if !self.is_running() {
                panic!(
                    "tug exited before {what}: {}",
                    self.abandon().await.context()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "no {what} within {limit:?}: {}",
                    self.abandon().await.context()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 60 s) until one of the run's containers is running on `client`.
    pub async fn wait_for_a_running_container(&mut self, client: &Client) {
        let run_id = self.start.run_id.clone();
        self.wait_until(
            "the step's container running",
            std::time::Duration::from_secs(60),
            || {
                let (client, run_id) = (client.clone(), run_id.clone());
                async move {
                    run_containers(&client, &run_id)
                        .await
                        .iter()
                        .any(|c| c.state == engine_api::containers::ContainerStatus::Running)
                }
            },
        )
        .await;
    }

    /// Kills tug at once, removes what its run left behind, and returns what it recorded.
    async fn abandon(&mut self) -> TugRun {
        let _ = self.child.start_kill();
        let code = self.child.wait().await.ok().and_then(|s| s.code());
        remove_run_containers(&self.start.engine.client(), &self.start.run_id).await;
        TugRun {
            engine: self.start.engine,
            run_id: self.start.run_id.clone(),
            code,
            stdout: String::new(),
            stderr: String::new(),
            run_dir: self.run_dir.clone(),
            _data_dir: None,
        }
    }

    /// Waits for tug to exit; after `limit` kills it, removes its run's containers and fails.
    pub async fn finish(mut self, limit: std::time::Duration) -> TugRun {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait for tug"),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                remove_run_containers(&self.start.engine.client(), &self.start.run_id).await;
                let stdout = self.stdout.await.unwrap_or_default();
                let stderr = self.stderr.await.unwrap_or_default();
                panic!(
                    "tug did not finish within {limit:?} (killed; containers of run {} removed)\n\
                     --- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}",
                    self.start.run_id,
                    tail(&stderr, 4000),
                    tail(&stdout, 4000)
                );
            }
        };
        TugRun {
            engine: self.start.engine,
            run_id: self.start.run_id.clone(),
            code: status.code(),
            stdout: self.stdout.await.unwrap_or_default(),
            stderr: self.stderr.await.unwrap_or_default(),
            run_dir: self.run_dir,
            _data_dir: Some(self.start.data_dir),
        }
    }
}

/// The last `max` bytes of `s` (on a character boundary).
pub fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// A finished `tug start`: its exit code, output and run record.
#[derive(Debug)]
pub struct TugRun {
    /// The engine it ran on.
    pub engine: Engine,
    /// Its run id.
    pub run_id: String,
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// tug's stdout.
    pub stdout: String,
    /// tug's stderr.
    pub stderr: String,
    /// `$TUG_DATA_DIR/runs/<workflow>/<run-id>`.
    pub run_dir: std::path::PathBuf,
    _data_dir: Option<tempfile::TempDir>,
}

impl TugRun {
    /// What to print when an assertion about this run fails: exit code, stderr, stdout and the
    /// run record, each cut to its tail.
    pub fn context(&self) -> String {
        let status = std::fs::read_to_string(self.run_dir.join("status.json"))
            .unwrap_or_else(|e| format!("<no status.json: {e}>"));
        format!(
            "\n[{:?}] run {} exited with {:?}\n--- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}\n\
             --- {}/status.json ---\n{}\n",
            self.engine,
            self.run_id,
            self.code,
            tail(&self.stderr, 4000),
            tail(&self.stdout, 4000),
            self.run_dir.display(),
            tail(&status, 6000)
        )
    }

    /// Asserts the exit code.
    pub fn assert_code(&self, expected: i32) {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code{}",
            self.context()
        );
    }

    /// Asserts exit code 0 and run status `succeeded`.
    pub fn assert_succeeded(&self) {
        self.assert_code(0);
        assert_eq!(self.run_status(), "succeeded", "{}", self.context());
    }

    /// `status.json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let path = self.run_dir.join("status.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}{}", path.display(), self.context()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}{}", path.display(), self.context()))
    }

    /// The run's `status`.
    pub fn run_status(&self) -> String {
        self.status()["status"]
            .as_str()
            .unwrap_or_else(|| panic!("status.json has no string `status`{}", self.context()))
            .to_string()
    }

    /// The record of step `id`.
    pub fn step(&self, id: &str) -> serde_json::Value {
        let status = self.status();
        status["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("status.json has no step `{id}`{}", self.context()))
    }

    /// The ids of the steps, in the order status.json lists them.
    pub fn step_ids(&self) -> Vec<String> {
        self.status()["steps"]
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `status` of step `id`.
    pub fn step_status(&self, id: &str) -> String {
        self.step(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// The step's stdout log (`<id>.out`); empty when absent.
    pub fn out(&self, id: &str) -> String {
        std::fs::read_to_string(self.run_dir.join(format!("{id}.out"))).unwrap_or_default()
    }

    /// The step's stderr log (`<id>.err`); empty when absent.
    pub fn err(&self, id: &str) -> String {
        std::fs::read_to_string(self.run_dir.join(format!("{id}.err"))).unwrap_or_default()
    }

    /// A path under the run's `artifacts/` directory.
    pub fn artifact(&self, rel: &str) -> std::path::PathBuf {
        self.run_dir.join("artifacts").join(rel)
    }

    /// Asserts that step `id` succeeded and that its stdout log is exactly `expected`.
    pub fn assert_step_out(&self, id: &str, expected: &str) {
        assert_eq!(
            self.step_status(id),
            "succeeded",
            "step {id}{}",
            self.context()
        );
        assert_eq!(
            self.out(id),
            expected,
            "stdout of step {id}{}",
            self.context()
        );
    }
}

/// The containers (running or not) labelled with `tug.run=<run_id>`.
pub async fn run_containers(
    client: &Client,
    run_id: &str,
) -> Vec<engine_api::containers::ContainerSummary> {
    client
        .list_containers(&engine_api::containers::ListContainers::all(
            engine_api::Filters::new().label(format!("tug.run={run_id}")),
        ))
        .await
        .expect("list containers")
}

/// Asserts that no container of run `run_id` is left (allowing a removal already under way a
/// moment to finish); removes any it finds so that the failure leaves the engine clean.
pub async fn assert_no_run_containers(client: &Client, run_id: &str) {
    let mut left = run_containers(client, run_id).await;
    for _ in 0..20 {
        if left.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = run_containers(client, run_id).await;
    }
    let names: Vec<String> = left
        .iter()
        .map(|c| format!("{} {:?} ({:?}) {:?}", c.id, c.names, c.state, c.labels))
        .collect();
    remove_run_containers(client, run_id).await;
    panic!("containers of run {run_id} left behind: {names:#?}");
}

/// Removes (forced) every container labelled with run `run_id`.
pub async fn remove_run_containers(client: &Client, run_id: &str) {
    for c in run_containers(client, run_id).await {
        let _ = client
            .remove_container(&c.id, engine_api::containers::RemoveOptions::force())
            .await;
    }
}

/// `status.json` under `run_dir` as it is now, if it exists and parses.
pub fn read_status(run_dir: &std::path::Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir.join("status.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Creates a container named `name` from the test image running `sleep 600` (labelled
/// `tug.test`, removed by `cleanup`), adjusted by `configure`, and starts it when `start`:
/// the "already running" container of exec-mode workflows, or a name that is taken.
pub async fn service_container(
    client: &Client,
    cleanup: &Cleanup,
    name: &str,
    start: bool,
    configure: impl FnOnce(&mut engine_api::containers::ContainerCreate),
) -> String {
    let mut c = engine_api::containers::ContainerCreate::new(test_image());
    c.name = Some(name.to_string());
    c.config.cmd = Some(vec!["sleep".into(), "600".into()]);
    c.config
        .labels
        .insert("tug.test".into(), std::process::id().to_string());
    configure(&mut c);
    let id = client
        .create_container(&c)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
        .id;
    cleanup.container(&id);
    if start {
        client
            .start_container(&id)
            .await
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
    }
    id
}

// ---------------------------------------------------------------------------------------------
// Reliability tests: other `tug` commands, peak memory, a run's leftovers (children included),
// stopping and restoring a daemon, a seeded random source.
// ---------------------------------------------------------------------------------------------

/// `VmHWM` (peak resident set) of process `pid` in KiB, while it lives.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What one `tug` invocation (any subcommand) did.
#[derive(Debug)]
pub struct TugOutput {
    /// The arguments, for messages.
    pub args: Vec<String>,
    /// Exit code (`None` when killed by a signal, or by the helper after its limit).
    pub code: Option<i32>,
    /// stdout, as bytes.
    pub stdout: Vec<u8>,
    /// stderr, as bytes.
    pub stderr: Vec<u8>,
    /// Wall time until it exited.
    pub elapsed: std::time::Duration,
    /// Highest `VmHWM` seen while it ran (sampled every 10 ms; 0 when it ended first).
    pub peak_rss_kib: u64,
    /// True when the helper killed it at its limit.
    pub timed_out: bool,
}

impl TugOutput {
    /// stdout, lossily decoded.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr, lossily decoded.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// What to print when an assertion about this invocation fails.
    pub fn context(&self) -> String {
        format!(
            "\n$ tug {}\n[exit {:?} after {:?}{}]\n--- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}\n",
            self.args.join(" "),
            self.code,
            self.elapsed,
            if self.timed_out { ", killed at the limit" } else { "" },
            tail(&self.stderr_text(), 4000),
            tail(&self.stdout_text(), 4000)
        )
    }
}

/// Runs `tug ARGS` to the end (synchronously) in `cwd`, with an environment holding only
/// `PATH`, `HOME=<data_dir>/home`, `TUG_DATA_DIR=<data_dir>`, the variables selecting `engine`
/// (if any) and `env`; kills it after `limit`. Samples its peak RSS while it runs.
pub fn tug_command(
    args: &[&str],
    cwd: &std::path::Path,
    data_dir: &std::path::Path,
    engine: Option<Engine>,
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> TugOutput {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let home = data_dir.join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    let mut cmd = Command::new(tug_bin());
    cmd.args(args).env_clear();
    for keep in ["PATH", "RUST_BACKTRACE", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.env("HOME", &home).env("TUG_DATA_DIR", data_dir);
    if let Some(e) = engine {
        cmd.envs(e.env());
    }
    cmd.envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", tug_bin().display()));
    let pid = child.id();
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut peak = 0;
    let mut timed_out = false;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        match child.try_wait().expect("wait for tug") {
            Some(status) => break status,
            None if started.elapsed() >= limit => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for killed tug");
            }
            None => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    };
    let elapsed = started.elapsed();
    TugOutput {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: if timed_out { None } else { status.code() },
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed,
        peak_rss_kib: peak,
        timed_out,
    }
}

/// Containers (running or not) of run `run_id` and of its child runs (`dag.run` and
/// `parallel` children have run ids `<run_id>.<step>[.<n>]`).
pub async fn run_family_containers(
    client: &Client,
    run_id: &str,
) -> Vec<engine_api::containers::ContainerSummary> {
    let children = format!("{run_id}.");
    client
        .list_containers(&engine_api::containers::ListContainers::all(
            engine_api::Filters::new().label("tug.run"),
        ))
        .await
        .expect("list containers")
        .into_iter()
        .filter(|c| {
            c.labels
                .get("tug.run")
                .is_some_and(|r| r == run_id || r.starts_with(&children))
        })
        .collect()
}

/// Names of the networks labelled with run `run_id` or one of its child runs.
pub async fn run_family_networks(client: &Client, run_id: &str) -> Vec<String> {
    let children = format!("{run_id}.");
    client
        .list_networks(&engine_api::Filters::new().label("tug.run"))
        .await
        .expect("list networks")
        .into_iter()
        .filter(|n| {
            n.labels
                .as_ref()
                .and_then(|l| l.get("tug.run"))
                .is_some_and(|r| r == run_id || r.starts_with(&children))
        })
        .map(|n| n.name)
        .collect()
}

/// Removes (forced) the containers of run `run_id` and its child runs.
pub async fn remove_run_family(client: &Client, run_id: &str) {
    for c in run_family_containers(client, run_id).await {
        let _ = client
            .remove_container(&c.id, engine_api::containers::RemoveOptions::force())
            .await;
    }
}

/// `scripts/engines` of this workspace.
pub fn rig_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("scripts")
        .join("engines")
}

/// Runs `scripts/engines ARGS`; returns whether it succeeded and its combined output.
pub fn rig(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(rig_script())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/engines {args:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Brings the rig back (`scripts/engines up`) when dropped — on success and while a failed
/// test unwinds — after a test stopped one of its daemons.
#[derive(Debug)]
pub struct RestoreRig {
    what: &'static str,
}

impl RestoreRig {
    /// A guard for a test that stops `what` (`docker`, `podman`, `registry`).
    pub fn new(what: &'static str) -> RestoreRig {
        RestoreRig { what }
    }

    /// `scripts/engines up`, tried a few times: a daemon killed with SIGKILL stays a zombie
    /// until its parent reaps it, and while its pid lives dockerd refuses to start again
    /// ("pid file found").
    fn up() -> (bool, String) {
        let mut last = (false, String::new());
        for _ in 0..5 {
            last = rig(&["up"]);
            if last.0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        last
    }

    /// Restarts now (the guard restarts again on drop, which is then a no-op); panics when the
    /// rig does not come back.
    pub fn restore(&self) {
        let (ok, text) = RestoreRig::up();
        assert!(
            ok,
            "scripts/engines up failed after stopping {}:\n{text}",
            self.what
        );
    }
}

impl Drop for RestoreRig {
    fn drop(&mut self) {
        let (ok, text) = RestoreRig::up();
        if !ok {
            // Never panic in drop (it may run during unwinding): say it loudly instead.
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "RestoreRig: scripts/engines up failed after stopping {}:\n{text}",
                    self.what
                );
            }
        }
    }
}

/// A small seeded random source (xorshift64*), so a failing random test can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source from `seed` (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The seed in `env_var` when it is set, else one from the clock.
    pub fn seed_from_env(env_var: &str) -> u64 {
        std::env::var(env_var)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()))
                    .unwrap_or(1)
            })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Every regular file under `dir`, recursively (symlinks are not followed).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// The rig's registry over plain HTTP (to delete what tests push there)

/// Standard base64 (with padding), for `auth` fields written the way `docker login` does.
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One request to the rig's registry (with its credentials); returns the status and the raw head.
pub fn registry_request(method: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let (host, user, password) = registry();
    let mut s = std::net::TcpStream::connect(&host)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let accept = "application/vnd.docker.distribution.manifest.v2+json, \
                  application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json, \
                  application/vnd.oci.image.index.v1+json";
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
        base64(format!("{user}:{password}").as_bytes())
    )?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

/// Deletes `repo:tag` (`tug/x`, `t1`) from the registry; a missing one is fine.
pub fn registry_delete(repo: &str, tag: &str) -> std::io::Result<()> {
    let (status, head) = registry_request("HEAD", &format!("/v2/{repo}/manifests/{tag}"))?;
    if status == 404 {
        return Ok(());
    }
    let digest = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_string())
        })
        .ok_or_else(|| std::io::Error::other(format!("no digest for {repo}:{tag}: {head}")))?;
    let (status, head) = registry_request("DELETE", &format!("/v2/{repo}/manifests/{digest}"))?;
    if status != 202 && status != 404 {
        return Err(std::io::Error::other(format!("DELETE answered {head}")));
    }
    Ok(())
}
