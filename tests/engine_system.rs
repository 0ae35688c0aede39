//! The transport and system endpoints against real engines: unix sockets, TCP+TLS, Podman,
//! and the errors a user sees when something is wrong.

use engine_api::endpoint::TlsSettings;
use engine_api::{Client, Endpoint, Runtime};
use tug_tests::{engine_test, rig_dir, rig_var, Engine};

engine_test!(ping_version_info, |engine, client| {
    let ping = client.ping().await.expect("ping");
    assert_eq!(ping.podman, engine == Engine::Podman, "podman detection");
    let identity = client.identity().await.expect("identity").clone();
    assert_eq!(identity.podman, engine == Engine::Podman);
    assert!(identity.api_version >= engine_api::MIN_API_VERSION);
    assert!(identity.api_version <= engine_api::MAX_API_VERSION);
    assert!(!identity.pinned);
    let version = client.version().await.expect("version");
    assert!(version.version.as_deref().is_some_and(|v| !v.is_empty()));
    assert_eq!(version.os.as_deref(), Some("linux"));
    let info = client.info().await.expect("info");
    assert!(info.ncpu.unwrap_or(0) >= 1, "{info:?}");
});

engine_test!(pinned_api_version_is_used, |engine, _client| {
    let endpoint = Endpoint::parse(&engine.url(), None)
        .unwrap()
        .with_runtime(engine.runtime())
        .with_api_version(engine_api::ApiVersion::new(1, 40));
    let client = Client::new(endpoint).unwrap();
    let identity = client.identity().await.unwrap();
    assert_eq!(identity.api_version.to_string(), "1.40");
    assert!(identity.pinned);
    client
        .version()
        .await
        .expect("versioned request with a pinned version");
});

fn tls_endpoint(cert_dir: &str) -> Endpoint {
    let url = rig_var("TUG_TEST_DOCKER_TLS_HOST", "tcp://127.0.0.1:2376");
    let settings = TlsSettings::from_dir(std::path::Path::new(cert_dir), true);
    Endpoint::parse(&url, Some(settings)).unwrap()
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn docker_over_tcp_with_tls() {
    let dir = rig_var(
        "TUG_TEST_DOCKER_CERT_PATH",
        &format!("{}/certs/client", rig_dir()),
    );
    let client = Client::new(tls_endpoint(&dir)).expect("TLS material loads");
    let version = client.version().await.expect("version over TLS");
    assert!(version.api_version.is_some());
    // Keep-alive: a second request reuses the pool (and must work).
    client.info().await.expect("info over TLS");
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn tls_with_the_wrong_ca_is_a_clear_tls_error() {
    let dir = rig_var(
        "TUG_TEST_WRONG_CA_CERT_PATH",
        &format!("{}/certs/client-wrong-ca", rig_dir()),
    );
    let client = Client::new(tls_endpoint(&dir)).unwrap();
    let err = client.version().await.expect_err("wrong CA must fail");
    assert!(err.is_tls(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("TLS verification failed"), "{msg}");
    assert!(msg.contains("ca.pem"), "{msg}");
    assert!(msg.contains("127.0.0.1:2376"), "{msg}");
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn plain_http_to_the_tls_port_says_tls_is_needed() {
    let url = rig_var("TUG_TEST_DOCKER_TLS_HOST", "tcp://127.0.0.1:2376");
    let client = Client::new(Endpoint::parse(&url, None).unwrap()).unwrap();
    let err = client
        .version()
        .await
        .expect_err("plain HTTP to TLS must fail");
    assert!(err.is_tls(), "{err:?}");
    assert!(err.to_string().contains("DOCKER_TLS_VERIFY"), "{err}");
}

#[tokio::test]
async fn an_absent_socket_asks_whether_the_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let client = Client::new(Endpoint::unix(&path)).unwrap();
    let err = client.version().await.expect_err("no socket");
    assert!(err.is_connect(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("is the Docker daemon running"), "{msg}");

    let endpoint = Endpoint::unix(&path).with_runtime(Runtime::Podman);
    let err = Client::new(endpoint).unwrap().ping().await.unwrap_err();
    assert!(err.to_string().contains("podman system service"), "{err}");
}

#[tokio::test]
async fn a_socket_nobody_listens_on_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let err = Client::new(Endpoint::unix(&path))
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(err.to_string().contains("nothing listens"), "{err}");
}
