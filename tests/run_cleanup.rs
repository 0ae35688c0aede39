//! Interrupting `tug start` and streaming a large artifact, on Docker and on Podman.
//!
//! SIGINT sent while a step-level container runs, while an exec runs in the DAG-level
//! container, and while tug waits for the DAG-level container to become healthy: tug exits 130,
//! records the run as `cancelled`, and leaves no container of the run behind. The containers
//! seen while the run is under way carry the run's labels. A second SIGINT stops at once; step
//! and workflow timeouts stop and remove what the run created.
//!
//! A 200 MiB stdout artifact is written exactly; tug's peak resident memory while writing it is
//! printed (benches hold the bound, tests do not time or weigh things).

#![allow(clippy::print_stderr)]

use std::io::Read;
use std::time::Duration;

use engine_api::containers::{ContainerStatus, ContainerSummary};
use engine_api::Client;
use tug_tests::{
    assert_no_run_containers, engine_test, read_status, run_containers, TugProcess, TugStart,
    WorkflowDir, TUG_RUN_LIMIT,
};

/// Longest tug may take to stop after SIGINT before the test fails.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// Waits until the run has a running container (and, when `step` is given, status.json says that
/// step is running); returns that container's summary.
async fn wait_for_running(
    tug: &mut TugProcess,
    client: &Client,
    step: Option<&str>,
) -> ContainerSummary {
    let run_id = tug.run_id().to_string();
    let run_dir = tug.run_dir().to_path_buf();
    let found = std::sync::Arc::new(std::sync::Mutex::new(None));
    tug.wait_until(
        "a running container of the run",
        Duration::from_secs(60),
        || {
            let (client, run_id, run_dir, found) = (
                client.clone(),
                run_id.clone(),
                run_dir.clone(),
                found.clone(),
            );
            async move {
                let step_running = match step {
                    None => true,
                    Some(id) => read_status(&run_dir).is_some_and(|s| {
                        s["steps"].as_array().is_some_and(|steps| {
                            steps
                                .iter()
                                .any(|st| st["id"] == id && st["status"] == "running")
                        })
                    }),
                };
                if !step_running {
                    return false;
                }
                let running = run_containers(&client, &run_id)
                    .await
                    .into_iter()
                    .find(|c| c.state == ContainerStatus::Running);
                let ok = running.is_some();
                *found.lock().unwrap() = running;
                ok
            }
        },
    )
    .await;
    let summary = found.lock().unwrap().take().expect("found");
    summary
}

/// Sends SIGINT and checks the outcome: exit 130, run `cancelled`, no container left.
async fn interrupt_and_check(tug: TugProcess, client: &Client) -> tug_tests::TugRun {
    tug.signal("INT");
    let run = tug.finish(STOP_LIMIT).await;
    run.assert_code(130);
    assert_eq!(run.run_status(), "cancelled", "{}", run.context());
    assert_no_run_containers(client, &run.run_id).await;
    run
}

/// A step that never ran.
fn assert_not_run(run: &tug_tests::TugRun, id: &str) {
    let status = run.step_status(id);
    assert!(
        matches!(status.as_str(), "skipped" | "cancelled" | "pending"),
        "step {id} is {status:?}{}",
        run.context()
    );
    assert_eq!(run.out(id), "", "{}", run.context());
}

engine_test!(interrupt_during_a_step_container, |engine, client| {
    let wf = WorkflowDir::new("run/interrupt_step.yaml");
    let mut tug = TugStart::new(engine, wf.file()).spawn();
    let container = wait_for_running(&mut tug, &client, Some("sleeper")).await;
    let labels = &container.labels;
    assert_eq!(
        labels.get("tug.run").map(String::as_str),
        Some(tug.run_id())
    );
    assert_eq!(
        labels.get("tug.workflow").map(String::as_str),
        Some("interrupt_step")
    );
    assert_eq!(labels.get("tug.step").map(String::as_str), Some("sleeper"));
    let status = tug.status_now().expect("status.json while running");
    assert_eq!(status["status"], "running", "{status}");

    let run = interrupt_and_check(tug, &client).await;
    assert_eq!(run.step_status("sleeper"), "cancelled", "{}", run.context());
    assert_not_run(&run, "after");
});

engine_test!(
    interrupt_during_an_exec_in_the_dag_container,
    |engine, client| {
        let wf = WorkflowDir::new("run/interrupt_exec.yaml");
        let mut tug = TugStart::new(engine, wf.file()).spawn();
        let container = wait_for_running(&mut tug, &client, Some("sleeper")).await;
        let labels = &container.labels;
        assert_eq!(
            labels.get("tug.run").map(String::as_str),
            Some(tug.run_id())
        );
        assert_eq!(
            labels.get("tug.workflow").map(String::as_str),
            Some("interrupt_exec")
        );
        assert!(
            labels
                .get("tug.step")
                .map(String::as_str)
                .unwrap_or("")
                .is_empty(),
            "the DAG-level container has no step label: {labels:?}"
        );
        let run = interrupt_and_check(tug, &client).await;
        assert_eq!(run.step_status("sleeper"), "cancelled", "{}", run.context());
        assert_not_run(&run, "after");
    }
);

engine_test!(interrupt_during_the_readiness_wait, |engine, client| {
    let wf = WorkflowDir::new("run/interrupt_readiness.yaml");
    let mut tug = TugStart::new(engine, wf.file()).spawn();
    wait_for_running(&mut tug, &client, None).await;
    // Still waiting: the health check never passes.
    assert!(
        tug.is_running(),
        "tug stopped waiting for a health check that never passes"
    );
    let run = interrupt_and_check(tug, &client).await;
    assert_not_run(&run, "never_runs");
});

engine_test!(second_interrupt_kills_at_once, |engine, client| {
    let wf = WorkflowDir::new("run/interrupt_step.yaml");
    // A long grace period: only the second SIGINT can make tug finish quickly.
    let mut tug = TugStart::new(engine, wf.file())
        .env("TUG_STOP_GRACE_SEC", "60")
        .spawn();
    wait_for_running(&mut tug, &client, Some("sleeper")).await;
    tug.signal("INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    tug.signal("INT");
    let run = tug.finish(STOP_LIMIT).await;
    run.assert_code(130);
    assert_eq!(run.run_status(), "cancelled", "{}", run.context());
    assert_eq!(run.step_status("sleeper"), "cancelled", "{}", run.context());
    assert_not_run(&run, "after");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(step_timeouts_stop_and_remove, |engine, client| {
    let wf = WorkflowDir::new("run/timeout_steps.yaml");
    let run = TugStart::new(engine, wf.file())
        .spawn()
        .finish(Duration::from_secs(25))
        .await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    for id in ["slow_exec", "slow_container"] {
        let step = run.step(id);
        assert_eq!(step["status"], "failed", "{id}{}", run.context());
        let error = step["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            error.contains("timed out") || error.contains("timeout"),
            "{id}: {error:?}{}",
            run.context()
        );
    }
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(workflow_timeout_stops_and_removes, |engine, client| {
    let wf = WorkflowDir::new("run/timeout_workflow.yaml");
    let run = TugStart::new(engine, wf.file())
        .spawn()
        .finish(Duration::from_secs(25))
        .await;
    assert!(
        matches!(run.code, Some(c) if c != 0),
        "a timed-out workflow fails{}",
        run.context()
    );
    let status = run.run_status();
    assert!(
        matches!(status.as_str(), "failed" | "cancelled"),
        "run status {status:?}{}",
        run.context()
    );
    assert_ne!(run.step_status("sleeper"), "succeeded", "{}", run.context());
    assert_not_run(&run, "after");
    assert_no_run_containers(&client, &run.run_id).await;
});

/// `VmHWM` (peak resident set) of process `pid` in KiB, while it lives.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

const BIG: u64 = 200 * 1024 * 1024;

engine_test!(artifact_of_200_mib, |engine, client| {
    let wf = WorkflowDir::new("run/big_artifact.yaml");
    let mut tug = TugStart::new(engine, wf.file()).discard_stdout().spawn();
    let pid = tug.pid();
    let deadline = tokio::time::Instant::now() + TUG_RUN_LIMIT;
    let mut peak = 0;
    while tug.is_running() && tokio::time::Instant::now() < deadline {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = tug.finish(Duration::from_secs(5)).await;
    eprintln!(
        "[{engine:?}] tug peak RSS (VmHWM) while writing a 200 MiB artifact: {peak} KiB ({:.1} MiB)",
        peak as f64 / 1024.0
    );
    run.assert_succeeded();

    let path = run.artifact("big.txt");
    let size = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("artifact {}: {e}{}", path.display(), run.context()))
        .len();
    assert_eq!(size, BIG, "artifact size{}", run.context());
    // Exact content, read in chunks: 1023 '0' and a newline, repeated.
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            let at = offset + i as u64;
            let want = if at % 1024 == 1023 { b'\n' } else { b'0' };
            assert_eq!(*b, want, "artifact content differs at byte {at}");
        }
        offset += n as u64;
    }
    assert_eq!(offset, BIG);
    assert_no_run_containers(&client, &run.run_id).await;
});
