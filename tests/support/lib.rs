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
