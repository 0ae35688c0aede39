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
