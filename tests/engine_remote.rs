//! Remote engines against the rig: `ssh://` endpoints (the rig's sshd on 127.0.0.1:2222 in
//! front of its dockerd, this machine playing the remote host) and Docker contexts (pointing at
//! the rig's TLS endpoint tcp://127.0.0.1:2376, at ssh, or at nothing).
//!
//! ssh reaches the rig through the rig's own ssh_config (`TUG_TEST_SSH_CONFIG`, passed to tug as
//! `TUG_SSH_CONFIG`), which pins the rig's host key and identity; `~/.ssh` is not involved.
//! Contexts live in temporary `DOCKER_CONFIG` directories laid out as `docker context create`
//! lays them out (the rig's CA and client certificates copied into `contexts/tls`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine_api::containers::{ContainerCreate, ListContainers, WaitCondition};
use engine_api::containers_io::LogsOptions;
use engine_api::context::context_id;
use engine_api::error::ConnectFailure;
use engine_api::exec::ExecCreate;
use engine_api::stream::StreamKind;
use engine_api::{Client, Endpoint, Error};
use tug_tests::{
    assert_no_run_containers, rig_dir, rig_var, test_image, tug_command, unique, Cleanup, Engine,
    TugStart, WorkflowDir,
};

/// `ssh://root@127.0.0.1:2222`, the rig's sshd.
fn ssh_url() -> String {
    rig_var("TUG_TEST_SSH_HOST", "ssh://root@127.0.0.1:2222")
}

/// The rig's ssh_config (identity, pinned known_hosts, BatchMode).
fn ssh_config() -> String {
    let path = rig_var("TUG_TEST_SSH_CONFIG", &format!("{}/ssh/config", rig_dir()));
    assert!(
        Path::new(&path).is_file(),
        "the rig's ssh config {path} is missing; run scripts/engines (or scripts/test) first"
    );
    path
}

fn ssh_endpoint(url: &str) -> Endpoint {
    Endpoint::parse(url, None)
        .expect("ssh URL parses")
        .with_ssh_config(ssh_config())
}

/// A client over ssh that has reached the engine, or a panic saying how to start the rig.
async fn ssh_client() -> Client {
    let client = Client::new(ssh_endpoint(&ssh_url())).expect("client builds");
    if let Err(e) = client.ping().await {
        panic!(
            "the rig's dockerd does not answer over {} ({}); run scripts/engines (or scripts/test) first",
            ssh_url(),
            chain(&e)
        );
    }
    client
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(" | ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s
}

fn busybox(cmd: &[&str]) -> ContainerCreate {
    let mut c = ContainerCreate::new(test_image());
    c.config.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
    c.config
        .labels
        .insert("tug.test".into(), std::process::id().to_string());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn ping_version_and_list_over_ssh() {
    let client = ssh_client().await;
    let ping = client.ping().await.expect("ping over ssh");
    assert!(!ping.podman);
    let identity = client.identity().await.expect("identity").clone();
    assert!(!identity.podman);
    assert!(identity.api_version >= engine_api::MIN_API_VERSION);
    let version = client.version().await.expect("version over ssh");
    assert_eq!(version.os.as_deref(), Some("linux"));
    // The same daemon as the rig's unix socket.
    let local = Engine::Docker.connected().await;
    let local_info = local.info().await.expect("local info");
    let info = client.info().await.expect("info over ssh");
    assert_eq!(info.id, local_info.id, "ssh reaches the rig's dockerd");
    client
        .list_containers(&ListContainers {
            all: true,
            ..Default::default()
        })
        .await
        .expect("list over ssh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn container_create_run_logs_exec_remove_over_ssh() {
    let client = ssh_client().await;
    let cleanup = Cleanup::new(&client);
    let created = client
        .create_container(&busybox(&[
            "sh",
            "-c",
            "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo bye >&2; sleep 300",
        ]))
        .await
        .expect("create over ssh");
    cleanup.container(&created.id);
    let id = created.id;
    client.start_container(&id).await.expect("start over ssh");

    // A followed log stream goes through the raw path on an ssh connection of its own.
    let mut logs = client
        .container_logs(&id, &LogsOptions::follow())
        .await
        .expect("logs over ssh");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while err != b"bye\n" {
        let chunk = tokio::time::timeout(Duration::from_secs(30), logs.next_chunk())
            .await
            .expect("log lines within 30 s")
            .expect("log stream")
            .expect("the stream goes on while the container runs");
        match chunk.stream {
            StreamKind::Stdout => out.extend_from_slice(&chunk.data),
            _ => err.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(String::from_utf8_lossy(&out), "line1\nline2\nline3\n");
    drop(logs);

    // A hijacked exec with stdin: closing stdin is ssh's stdin closing, which dial-stdio turns
    // into a half-close; the output still arrives.
    let exec = client
        .create_exec(
            &id,
            &ExecCreate::new(["sh", "-c", "cat; echo done >&2"]).with_stdin(),
        )
        .await
        .expect("exec create over ssh");
    let mut attached = client.start_exec(&exec, false).await.expect("exec start");
    attached.write_stdin(b"through ssh stdin\n").await.unwrap();
    attached.close_stdin().await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), attached.next_chunk())
        .await
        .expect("exec output within 30 s")
        .expect("exec output")
    {
        match chunk.stream {
            StreamKind::Stdout => out.extend_from_slice(&chunk.data),
            _ => err.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(out, b"through ssh stdin\n");
    assert_eq!(err, b"done\n");

    client
        .kill_container(&id, Some("KILL"))
        .await
        .expect("kill over ssh");
    let exit = client
        .wait_container(&id, WaitCondition::NotRunning)
        .await
        .expect("wait over ssh");
    assert_eq!(exit.status_code, 137);
    cleanup.run().await;
    let err = client.inspect_container(&id).await.expect_err("removed");
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs engines: run scripts/test"]
async fn sixteen_requests_at_once_over_ssh() {
    let client = ssh_client().await;
    let cleanup = Cleanup::new(&client);
    let created = client
        .create_container(&busybox(&["sh", "-c", "echo ready; sleep 300"]))
        .await
        .expect("create");
    cleanup.container(&created.id);
    client.start_container(&created.id).await.unwrap();

    // Sixteen at once, each holding its connection: JSON requests on the pooled path and log
    // reads on the raw path, so every one needs an ssh process of its own.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = client.clone();
        let id = created.id.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let v = client.version().await?;
                let list = client
                    .list_containers(&ListContainers {
                        all: true,
                        ..Default::default()
                    })
                    .await?;
                assert!(list.iter().any(|c| c.id == id));
                Ok::<String, Error>(v.version.unwrap_or_default())
            } else {
                let mut logs = client.container_logs(&id, &LogsOptions::default()).await?;
                let mut out = Vec::new();
                while let Some(chunk) = logs.next_chunk().await? {
                    out.extend_from_slice(&chunk.data);
                }
                Ok(String::from_utf8_lossy(&out).into_owned())
            }
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(90), task)
            .await
            .unwrap_or_else(|_| panic!("request {i} did not finish within 90 s"))
            .expect("task")
            .unwrap_or_else(|e| panic!("request {i} failed: {}", chain(&e)));
        if i % 2 == 0 {
            assert!(!got.is_empty(), "request {i}: engine version");
        } else {
            assert_eq!(got, "ready\n", "request {i}: logs");
        }
    }
    cleanup.run().await;
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn ssh_to_a_closed_port_is_a_connect_error_with_ssh_stderr() {
    ssh_client().await; // the rig is up: the failure below is the port's, not the rig's
    let client = Client::new(ssh_endpoint("ssh://root@127.0.0.1:1")).unwrap();
    let err = client
        .version()
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.is_connect(), "{err:?}");
    assert!(
        matches!(
            err,
            Error::Connect {
                failure: ConnectFailure::Ssh,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot connect to the docker engine at ssh://root@127.0.0.1:1: "),
        "{msg}"
    );
    assert!(msg.contains("exited with status 255"), "{msg}");
    assert!(
        msg.contains("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
        "ssh's stderr is in the error: {msg}"
    );
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn a_refused_key_is_a_connect_error_with_ssh_stderr() {
    ssh_client().await;
    // The rig's host key, but no usable identity: sshd refuses the login.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  IdentityFile {}/none\n  IdentitiesOnly yes\n  UserKnownHostsFile {}/ssh/known_hosts\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
            dir.path().display(),
            rig_dir()
        ),
    )
    .unwrap();
    let endpoint = Endpoint::parse(&ssh_url(), None)
        .unwrap()
        .with_ssh_config(&config);
    let err = Client::new(endpoint)
        .unwrap()
        .ping()
        .await
        .expect_err("no key, no login");
    let msg = err.to_string();
    assert!(err.is_connect(), "{msg}");
    assert!(msg.contains("Permission denied (publickey)"), "{msg}");
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn a_socket_path_in_the_url_reaches_that_socket_on_the_remote_host() {
    ssh_client().await;
    let url = format!("{}/var/run/docker.sock", ssh_url());
    let client = Client::new(ssh_endpoint(&url)).unwrap();
    client
        .version()
        .await
        .expect("version through the named socket");
    // A socket that does not exist there: docker's own message, from the remote host.
    let url = format!("{}/run/no-such-docker.sock", ssh_url());
    let err = Client::new(ssh_endpoint(&url))
        .unwrap()
        .version()
        .await
        .expect_err("no daemon at that path");
    let msg = err.to_string();
    assert!(err.is_connect(), "{msg}");
    assert!(msg.contains("/run/no-such-docker.sock"), "{msg}");
    assert!(msg.contains("no such file or directory"), "{msg}");
}

/// Pids of processes whose command line contains `needle` (the ssh processes of one client,
/// told apart by the unique path of their ssh config).
fn pids_with_arg(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.first().is_some_and(|a| a.ends_with(b"ssh")) && args.contains(&needle.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn a_killed_ssh_mid_stream_is_a_lost_connection_naming_ssh() {
    ssh_client().await;
    // A copy of the rig's config under a unique path marks this client's ssh processes.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ssh_config");
    std::fs::copy(ssh_config(), &config).unwrap();
    let config_arg = config.display().to_string();
    let endpoint = Endpoint::parse(&ssh_url(), None)
        .unwrap()
        .with_ssh_config(&config);
    let client = Client::new(endpoint).unwrap();
    let cleanup = Cleanup::new(&Engine::Docker.connected().await);
    let created = client
        .create_container(&busybox(&[
            "sh",
            "-c",
            "while true; do echo tick; sleep 0.1; done",
        ]))
        .await
        .expect("create");
    cleanup.container(&created.id);
    client.start_container(&created.id).await.unwrap();
    let mut logs = client
        .container_logs(&created.id, &LogsOptions::follow())
        .await
        .expect("logs");
    logs.next_chunk()
        .await
        .expect("first line")
        .expect("a line");

    let pids = pids_with_arg(&config_arg);
    assert!(!pids.is_empty(), "no ssh process of this client found");
    for pid in &pids {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {pid}");
    }
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(30), logs.next_chunk())
            .await
            .expect("the stream ends within 30 s of ssh's death")
        {
            Ok(Some(_)) => continue, // lines already buffered
            Ok(None) => panic!("a killed ssh ended the stream quietly"),
            Err(e) => break e,
        }
    };
    assert!(err.is_connection_lost(), "{err:?}");
    let full = chain(&err);
    assert!(full.contains("ssh to root@127.0.0.1:2222"), "{full}");
    assert!(full.contains("killed by signal 9"), "{full}");
    cleanup.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn tug_start_over_ssh() {
    let local = Engine::Docker.connected().await;
    ssh_client().await;
    for fixture in ["remote/ssh_dag.yaml", "remote/ssh_step.yaml"] {
        let wf = WorkflowDir::new(fixture);
        let run = TugStart::new(Engine::Docker, wf.file())
            .env("DOCKER_HOST", ssh_url())
            .env("TUG_SSH_CONFIG", ssh_config())
            .run()
            .await;
        run.assert_code(0);
        if fixture.ends_with("ssh_dag.yaml") {
            run.assert_step_out("write", "written\n");
            run.assert_step_out("read", "remote-state\n");
            assert_eq!(run.err("read"), "to-stderr\n", "{}", run.context());
        } else {
            run.assert_step_out("hello", "hello over ssh\n");
        }
        assert_no_run_containers(&local, &run.run_id).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Docker contexts

/// A `DOCKER_CONFIG` directory holding contexts, laid out as `docker context create` does.
struct ContextStore {
    dir: tempfile::TempDir,
}

impl ContextStore {
    fn new() -> ContextStore {
        ContextStore {
            dir: tempfile::Builder::new()
                .prefix("tug-docker-config-")
                .tempdir()
                .unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds context `name` for `host`, with TLS files copied from `certs` (`ca.pem`,
    /// `cert.pem`, `key.pem`, whichever are listed).
    fn add(&self, name: &str, host: &str, skip_tls_verify: bool, certs: Option<(&str, &[&str])>) {
        let id = context_id(name);
        let meta = self.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        let doc = serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
        });
        std::fs::write(meta.join("meta.json"), doc.to_string()).unwrap();
        if let Some((from, files)) = certs {
            let tls = self.path().join("contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&tls).unwrap();
            for f in files {
                std::fs::copy(Path::new(from).join(f), tls.join(f))
                    .unwrap_or_else(|e| panic!("copy {from}/{f}: {e}"));
            }
        }
    }

    fn set_current(&self, name: &str) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::json!({ "currentContext": name }).to_string(),
        )
        .unwrap();
    }

    /// The endpoint tug would pick with these variables (and nothing else) set.
    fn resolve(&self, vars: &[(&str, &str)]) -> engine_api::Result<Endpoint> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("DOCKER_CONFIG".into(), self.path().to_str().unwrap().into());
        Endpoint::from_lookup(|k| map.get(k).cloned())
    }
}

fn tls_url() -> String {
    rig_var("TUG_TEST_DOCKER_TLS_HOST", "tcp://127.0.0.1:2376")
}

fn client_certs() -> String {
    rig_var(
        "TUG_TEST_DOCKER_CERT_PATH",
        &format!("{}/certs/client", rig_dir()),
    )
}

fn wrong_ca_certs() -> String {
    rig_var(
        "TUG_TEST_WRONG_CA_CERT_PATH",
        &format!("{}/certs/client-wrong-ca", rig_dir()),
    )
}

const ALL_TLS: &[&str] = &["ca.pem", "cert.pem", "key.pem"];

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn a_context_reaches_the_tls_endpoint_with_its_own_certificates() {
    let store = ContextStore::new();
    let certs = client_certs();
    store.add("rig-tls", &tls_url(), false, Some((&certs, ALL_TLS)));
    for (how, vars) in [
        ("DOCKER_CONTEXT", vec![("DOCKER_CONTEXT", "rig-tls")]),
        ("currentContext", vec![]),
    ] {
        if how == "currentContext" {
            store.set_current("rig-tls");
        }
        let endpoint = store.resolve(&vars).expect("the context resolves");
        let tls = endpoint.tls.clone().expect("the context's TLS");
        assert!(tls.verify, "{how}");
        assert!(tls.ca_file.starts_with(store.path()), "{how}: {tls:?}");
        assert_eq!(endpoint.context.as_ref().unwrap().name, "rig-tls");
        let client = Client::new(endpoint).expect("TLS material loads");
        let version = client
            .version()
            .await
            .unwrap_or_else(|e| panic!("{how}: version over the context's TLS: {}", chain(&e)));
        assert!(version.api_version.is_some());
    }
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn skip_tls_verify_connects_without_the_ca_and_verification_rejects_the_wrong_ca() {
    let store = ContextStore::new();
    // The client certificate only (the daemon insists on one), no CA, SkipTLSVerify.
    store.add(
        "rig-skip",
        &tls_url(),
        true,
        Some((&client_certs(), &["cert.pem", "key.pem"])),
    );
    let endpoint = store.resolve(&[("DOCKER_CONTEXT", "rig-skip")]).unwrap();
    assert!(!endpoint.tls.as_ref().unwrap().verify);
    Client::new(endpoint)
        .unwrap()
        .version()
        .await
        .expect("SkipTLSVerify accepts the daemon's certificate");

    // The same daemon with an unrelated CA and verification on: a TLS error naming the CA file
    // in the context's store.
    store.add(
        "rig-wrong-ca",
        &tls_url(),
        false,
        Some((&wrong_ca_certs(), ALL_TLS)),
    );
    let endpoint = store
        .resolve(&[("DOCKER_CONTEXT", "rig-wrong-ca")])
        .unwrap();
    let err = Client::new(endpoint)
        .unwrap()
        .version()
        .await
        .expect_err("wrong CA");
    assert!(err.is_tls(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&context_id("rig-wrong-ca")), "{msg}");
    assert!(msg.contains("ca.pem"), "{msg}");
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn docker_host_wins_over_a_context() {
    let store = ContextStore::new();
    // A context pointing at nothing: if it were used, the ping would fail.
    store.add("nowhere", "tcp://127.0.0.1:1", false, None);
    store.set_current("nowhere");
    let local = Engine::Docker.url();
    let endpoint = store
        .resolve(&[("DOCKER_CONTEXT", "nowhere"), ("DOCKER_HOST", &local)])
        .unwrap();
    assert_eq!(endpoint.url, local);
    assert!(endpoint.context.is_none());
    Client::new(endpoint)
        .unwrap()
        .ping()
        .await
        .expect("DOCKER_HOST's engine");
    // Without DOCKER_HOST the context applies, and fails to connect.
    let endpoint = store.resolve(&[]).unwrap();
    assert_eq!(endpoint.url, "tcp://127.0.0.1:1");
    let err = Client::new(endpoint).unwrap().ping().await.unwrap_err();
    assert!(err.is_connect(), "{err}");
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn an_ssh_context_uses_the_ssh_transport() {
    ssh_client().await;
    let store = ContextStore::new();
    store.add("rig-ssh", &ssh_url(), false, None);
    let cfg = ssh_config();
    let endpoint = store
        .resolve(&[("DOCKER_CONTEXT", "rig-ssh"), ("TUG_SSH_CONFIG", &cfg)])
        .unwrap();
    assert!(matches!(
        endpoint.address,
        engine_api::endpoint::Address::Ssh(_)
    ));
    assert_eq!(endpoint.ssh_config, Some(PathBuf::from(&cfg)));
    Client::new(endpoint)
        .unwrap()
        .version()
        .await
        .expect("version through an ssh context");
}

// ---------------------------------------------------------------------------------------------
// `tug engine info`

fn engine_info(store: &ContextStore, json: bool, env: &[(&str, &str)]) -> tug_tests::TugOutput {
    let mut args = vec!["engine", "info"];
    if json {
        args.push("--json");
    }
    tug_with_contexts(store, &args, env)
}

/// `tug ARGS` with `store` as its `DOCKER_CONFIG` and `env` set.
fn tug_with_contexts(
    store: &ContextStore,
    args: &[&str],
    env: &[(&str, &str)],
) -> tug_tests::TugOutput {
    let data = tempfile::tempdir().unwrap();
    let mut vars = vec![("DOCKER_CONFIG", store.path().to_str().unwrap())];
    vars.extend_from_slice(env);
    tug_command(
        args,
        data.path(),
        data.path(),
        None,
        &vars,
        Duration::from_secs(60),
    )
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn engine_info_names_the_context_and_why() {
    let store = ContextStore::new();
    store.add(
        "rig-tls",
        &tls_url(),
        false,
        Some((&client_certs(), ALL_TLS)),
    );
    let meta = store
        .path()
        .join("contexts/meta")
        .join(context_id("rig-tls"))
        .join("meta.json");

    let out = engine_info(&store, false, &[("DOCKER_CONTEXT", "rig-tls")]);
    assert_eq!(out.code, Some(0), "{}", out.context());
    let text = out.stdout_text();
    assert!(
        text.contains(&format!(
            "Context:      rig-tls (from DOCKER_CONTEXT; {})\n",
            meta.display()
        )),
        "{}",
        out.context()
    );
    assert!(
        text.contains(&format!(
            "Endpoint:     {} (context `rig-tls` from DOCKER_CONTEXT)\n",
            tls_url()
        )),
        "{}",
        out.context()
    );
    assert!(
        text.contains("TLS:          verified ("),
        "{}",
        out.context()
    );

    store.set_current("rig-tls");
    let out = engine_info(&store, true, &[]);
    assert_eq!(out.code, Some(0), "{}", out.context());
    let v: serde_json::Value = serde_json::from_str(&out.stdout_text()).expect("JSON");
    let config_json = store.path().join("config.json").display().to_string();
    assert_eq!(v["context"]["name"], "rig-tls");
    assert_eq!(
        v["context"]["chosen_by"],
        format!("currentContext in {config_json}")
    );
    assert_eq!(v["context"]["meta_file"], meta.display().to_string());
    assert_eq!(
        v["endpoint_source"],
        format!("context `rig-tls` from currentContext in {config_json}")
    );
    assert_eq!(v["endpoint"], tls_url());
    assert_eq!(v["transport"], "tls");
    assert_eq!(v["tls"]["verify"], true);

    // DOCKER_HOST set: no context, and the output says it won.
    let local = Engine::Docker.url();
    let out = engine_info(
        &store,
        false,
        &[("DOCKER_CONTEXT", "rig-tls"), ("DOCKER_HOST", &local)],
    );
    assert_eq!(out.code, Some(0), "{}", out.context());
    let text = out.stdout_text();
    assert!(!text.contains("Context:"), "{}", out.context());
    assert!(
        text.contains(&format!(
            "Endpoint:     {local} (from DOCKER_HOST (which wins over DOCKER_CONTEXT=\"rig-tls\"))\n"
        )),
        "{}",
        out.context()
    );

    // No context, no DOCKER_HOST: the default socket.
    let empty = ContextStore::new();
    let out = engine_info(&empty, false, &[]);
    assert_eq!(out.code, Some(0), "{}", out.context());
    assert!(
        out.stdout_text()
            .contains("Endpoint:     unix:///var/run/docker.sock (default Docker socket)\n"),
        "{}",
        out.context()
    );
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn engine_info_over_ssh_and_a_missing_context() {
    ssh_client().await;
    let store = ContextStore::new();
    let cfg = ssh_config();
    let url = ssh_url();
    let out = engine_info(
        &store,
        true,
        &[("DOCKER_HOST", &url), ("TUG_SSH_CONFIG", &cfg)],
    );
    assert_eq!(out.code, Some(0), "{}", out.context());
    let v: serde_json::Value = serde_json::from_str(&out.stdout_text()).expect("JSON");
    assert_eq!(v["endpoint"], url);
    assert_eq!(v["endpoint_source"], "DOCKER_HOST");
    assert_eq!(v["transport"], "ssh");
    assert_eq!(v["ssh_config"], cfg);
    assert_eq!(v["engine"], "Docker Engine");

    let out = engine_info(
        &store,
        false,
        &[("DOCKER_HOST", &url), ("TUG_SSH_CONFIG", &cfg)],
    );
    assert!(
        out.stdout_text()
            .contains(&format!("Endpoint:     {url} (from DOCKER_HOST)\n")),
        "{}",
        out.context()
    );

    // A context that does not exist: an error naming it, its source and the file looked for.
    let name = unique("ghost");
    let out = engine_info(&store, false, &[("DOCKER_CONTEXT", &name)]);
    assert_ne!(out.code, Some(0), "{}", out.context());
    let stderr = out.stderr_text();
    assert!(stderr.contains(&format!("\"{name}\"")), "{}", out.context());
    assert!(stderr.contains("from DOCKER_CONTEXT"), "{}", out.context());
    let looked = store
        .path()
        .join("contexts/meta")
        .join(context_id(&name))
        .join("meta.json");
    assert!(
        stderr.contains(&looked.display().to_string()),
        "{}",
        out.context()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn ctrl_c_to_the_process_group_over_ssh_cleans_up() {
    let local = Engine::Docker.connected().await;
    ssh_client().await;
    let wf = WorkflowDir::new("remote/ssh_sleep.yaml");
    let data = tempfile::tempdir().unwrap();
    let home = data.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let run_id = unique("tug-run");
    // tug leads a process group of its own, as a shell's foreground job: Ctrl-C at a terminal
    // signals the whole group. tug's ssh processes are in groups of their own, so the
    // connections in use survive the signal; either way the cleanup that follows must reach
    // the engine (over ssh) and remove the run's container.
    let mut cmd = tokio::process::Command::new(tug_tests::tug_bin());
    cmd.args(["start", "--run-id", &run_id])
        .arg(wf.file())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("TUG_DATA_DIR", data.path())
        .env("DOCKER_HOST", ssh_url())
        .env("TUG_SSH_CONFIG", ssh_config())
        .env("TUG_STOP_GRACE_SEC", "1")
        .current_dir(wf.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().expect("start tug");
    let pgid = child.id().expect("tug pid");

    let mut running = false;
    for _ in 0..600 {
        let containers = tug_tests::run_containers(&local, &run_id).await;
        if containers
            .iter()
            .any(|c| c.state == engine_api::containers::ContainerStatus::Running)
        {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !running {
        tug_tests::remove_run_containers(&local, &run_id).await;
        panic!("the step container of run {run_id} did not start within 60 s");
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -INT -{pgid}");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tug stops within 60 s of Ctrl-C")
        .expect("tug's output");
    let context = format!(
        "\n--- stderr ---\n{}\n--- stdout ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(130), "{context}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("ssh to"),
        "an ssh process died with the signal: {context}"
    );
    assert_no_run_containers(&local, &run_id).await;
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn the_context_flag_wins_over_docker_host_and_docker_context() {
    let store = ContextStore::new();
    store.add(
        "rig-tls",
        &tls_url(),
        false,
        Some((&client_certs(), ALL_TLS)),
    );
    store.add("nowhere", "unix:///nonexistent/tug-test.sock", false, None);
    // Both of these point at nothing; --context must win over them, as `docker --context`.
    let env = [
        ("DOCKER_HOST", "unix:///nonexistent/docker-host.sock"),
        ("DOCKER_CONTEXT", "nowhere"),
    ];
    let out = tug_with_contexts(&store, &["--context", "rig-tls", "engine", "info"], &env);
    assert_eq!(out.code, Some(0), "{}", out.context());
    let text = out.stdout_text();
    assert!(
        text.contains(&format!(
            "Endpoint:     {} (context `rig-tls` from --context)\n",
            tls_url()
        )),
        "{}",
        out.context()
    );
    assert!(
        text.contains("Context:      rig-tls (from --context;"),
        "{}",
        out.context()
    );

    // After the subcommand too (a global flag), and in `tug gc --engine NAME=context:CTX`.
    let out = tug_with_contexts(&store, &["engine", "info", "--context", "rig-tls"], &env);
    assert_eq!(out.code, Some(0), "{}", out.context());
    let out = tug_with_contexts(
        &store,
        &["gc", "--dry-run", "--engine", "r=context:rig-tls"],
        &env,
    );
    assert_eq!(out.code, Some(0), "{}", out.context());

    // A context that does not exist: a usage error naming it and the flag, nothing else tried.
    let out = tug_with_contexts(&store, &["--context", "ghost", "engine", "info"], &env);
    assert_eq!(out.code, Some(2), "{}", out.context());
    let err = out.stderr_text();
    assert!(err.contains("\"ghost\""), "{}", out.context());
    assert!(err.contains("from --context"), "{}", out.context());
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn a_context_without_ca_pem_verifies_against_the_system_trust_store() {
    // The daemon's certificate is signed by the rig's CA, which is in no system store: with
    // SSL_CERT_FILE naming the rig's CA the system store holds it and the connection verifies;
    // naming an unrelated CA, verification fails (it is never skipped for want of a ca.pem).
    let store = ContextStore::new();
    store.add(
        "rig-noca",
        &tls_url(),
        false,
        Some((&client_certs(), &["cert.pem", "key.pem"])),
    );
    let rig_ca = format!("{}/ca.pem", client_certs());
    let wrong_ca = format!("{}/ca.pem", wrong_ca_certs());
    let no_ca = store
        .path()
        .join("contexts/tls")
        .join(context_id("rig-noca"))
        .join("docker/ca.pem");

    let out = engine_info(
        &store,
        true,
        &[("DOCKER_CONTEXT", "rig-noca"), ("SSL_CERT_FILE", &rig_ca)],
    );
    assert_eq!(out.code, Some(0), "{}", out.context());
    let v: serde_json::Value = serde_json::from_str(&out.stdout_text()).expect("JSON");
    assert_eq!(v["tls"]["verify"], true);
    assert_eq!(v["tls"]["trust"], "system");
    assert_eq!(v["tls"]["ca_file"], no_ca.display().to_string());
    let out = engine_info(
        &store,
        false,
        &[("DOCKER_CONTEXT", "rig-noca"), ("SSL_CERT_FILE", &rig_ca)],
    );
    assert!(
        out.stdout_text().contains(&format!(
            "TLS:          verified (the system trust store: there is no {})\n",
            no_ca.display()
        )),
        "{}",
        out.context()
    );

    let out = engine_info(
        &store,
        false,
        &[("DOCKER_CONTEXT", "rig-noca"), ("SSL_CERT_FILE", &wrong_ca)],
    );
    assert_ne!(out.code, Some(0), "{}", out.context());
    let err = out.stderr_text();
    assert!(err.contains("TLS verification failed"), "{}", out.context());
    assert!(err.contains("system's trust store"), "{}", out.context());
    assert!(
        err.contains(&no_ca.display().to_string()),
        "{}",
        out.context()
    );

    // The same through DOCKER_CERT_PATH without a ca.pem (the default context).
    let certs = tempfile::tempdir().unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(Path::new(&client_certs()).join(f), certs.path().join(f)).unwrap();
    }
    let host = tls_url();
    let cert_path = certs.path().to_str().unwrap();
    for (ca, ok) in [(&rig_ca, true), (&wrong_ca, false)] {
        let out = engine_info(
            &store,
            false,
            &[
                ("DOCKER_HOST", &host),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", cert_path),
                ("SSL_CERT_FILE", ca),
            ],
        );
        assert_eq!(out.code == Some(0), ok, "{ca}: {}", out.context());
    }
}

#[tokio::test]
#[ignore = "needs engines: run scripts/test"]
async fn custom_headers_reach_a_real_engine_and_only_their_names_are_shown() {
    // The daemon ignores headers it does not know; requests carrying them must still work
    // (over TLS too), and `tug engine info` names them without their values.
    let store = ContextStore::new();
    store.add(
        "rig-tls",
        &tls_url(),
        false,
        Some((&client_certs(), ALL_TLS)),
    );
    let env = [
        ("DOCKER_CONTEXT", "rig-tls"),
        (
            "DOCKER_CUSTOM_HEADERS",
            "X-Proxy-Token=tok-4f1c9e,\"X-Team=ci,nightly\"",
        ),
    ];
    let out = engine_info(&store, false, &env);
    assert_eq!(out.code, Some(0), "{}", out.context());
    let text = out.stdout_text();
    assert!(
        text.contains("Headers:      X-Proxy-Token, X-Team (from DOCKER_CUSTOM_HEADERS)\n"),
        "{}",
        out.context()
    );
    assert!(!out.context().contains("tok-4f1c9e"), "{}", out.context());
    let out = engine_info(
        &store,
        false,
        &[("DOCKER_CUSTOM_HEADERS", "X-Token:tok-4f1c9e")],
    );
    assert_eq!(out.code, Some(2), "{}", out.context());
    assert!(!out.context().contains("tok-4f1c9e"), "{}", out.context());
}
