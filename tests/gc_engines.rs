//! `tug gc` over several engines at once (`--engine`), and the `tug.host` label: containers left
//! by a dead tug process on this machine are removed from every named engine; those that tug on
//! another machine created are left alone, whatever their `tug.pid`.

#![allow(clippy::print_stderr)]

use std::time::Duration;

use engine_api::containers::{ContainerCreate, ListContainers};
use engine_api::{Client, Filters};
use tug_tests::{test_image, unique, Cleanup, Engine};

/// The host name tug labels its containers with (`tug.host`).
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

/// What tug writes in `tug.machine` for this test process: the machine id and the PID namespace.
fn this_machine() -> String {
    let id = std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("{id}:{ns}")
}

/// A pid no process has now: a child that has ended and been reaped.
fn dead_pid() -> String {
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id();
    child.wait().expect("wait");
    pid.to_string()
}

/// A stopped container labelled as tug labels a run's containers.
async fn orphan(
    client: &Client,
    cleanup: &Cleanup,
    run: &str,
    host: &str,
    machine: Option<&str>,
    pid: &str,
) -> String {
    let mut c = ContainerCreate::new(test_image());
    c.config.cmd = Some(vec!["true".into()]);
    for (k, v) in [
        ("tug.run", run),
        ("tug.workflow", "gc_engines"),
        ("tug.step", "s"),
        ("tug.pid", pid),
        ("tug.host", host),
    ] {
        c.config.labels.insert(k.into(), v.into());
    }
    if let Some(m) = machine {
        c.config.labels.insert("tug.machine".into(), m.into());
    }
    let id = client.create_container(&c).await.expect("create").id;
    cleanup.container(&id);
    id
}

async fn containers_of(client: &Client, run: &str) -> usize {
    client
        .list_containers(&ListContainers::all(
            Filters::new().label(format!("tug.run={run}")),
        ))
        .await
        .expect("list")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn gc_sweeps_every_named_engine_and_leaves_other_hosts_alone() {
    let docker = Engine::Docker.connected().await;
    let podman = Engine::Podman.connected().await;
    let (clean_d, clean_p) = (Cleanup::new(&docker), Cleanup::new(&podman));
    let here = this_host();
    let pid = dead_pid();
    let mine = unique("gc-mine");
    let theirs = unique("gc-theirs");
    let machine = this_machine();
    for (client, cleanup) in [(&docker, &clean_d), (&podman, &clean_p)] {
        // This machine's dead tug: labelled by machine, and (as before tug.machine) by host only.
        orphan(client, cleanup, &mine, &here, Some(&machine), &pid).await;
        orphan(client, cleanup, &mine, &here, None, &pid).await;
        // Another machine's tug: its pid means nothing here, even one that is alive here (1) —
        // told apart by host name, and by machine id when both machines share a host name.
        orphan(client, cleanup, &theirs, "some-other-machine", None, "1").await;
        orphan(client, cleanup, &theirs, &here, Some("0123:pid:[1]"), "1").await;
    }
    let data = tempfile::tempdir().unwrap();
    let docker_flag = format!("d={}", Engine::Docker.url());
    let podman_flag = format!("p=podman:{}", Engine::Podman.url());
    let gc = tug_tests::tug_command(
        &["gc", "--engine", &docker_flag, "--engine", &podman_flag],
        data.path(),
        data.path(),
        None,
        &[],
        Duration::from_secs(60),
    );
    eprintln!("tug gc over both engines:\n{}", gc.stdout_text());
    assert_eq!(gc.code, Some(0), "{}", gc.context());
    for (engine, client) in [("Docker", &docker), ("Podman", &podman)] {
        assert_eq!(
            containers_of(client, &mine).await,
            0,
            "{engine}: the dead run's container is still there{}",
            gc.context()
        );
        assert_eq!(
            containers_of(client, &theirs).await,
            2,
            "{engine}: gc removed a container another machine's tug created{}",
            gc.context()
        );
    }
    let out = gc.stdout_text();
    for url in [Engine::Docker.url(), Engine::Podman.url()] {
        assert!(
            out.contains(&format!("removed 2 container(s) of ended runs on {url}")),
            "gc does not report {url}{}",
            gc.context()
        );
    }
    assert!(
        out.contains("2 created by tug on other machines or in other PID namespaces left alone"),
        "{}",
        gc.context()
    );
    clean_d.run().await;
    clean_p.run().await;
}

#[test]
fn gc_with_a_bad_engine_value_is_a_usage_error() {
    let data = tempfile::tempdir().unwrap();
    let gc = tug_tests::tug_command(
        &["gc", "--engine", "=unix:///x"],
        data.path(),
        data.path(),
        None,
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(gc.code, Some(2), "{}", gc.context());
    assert!(gc.stderr_text().contains("--engine"), "{}", gc.context());
}
