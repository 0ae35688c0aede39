//! The engine's daemon stops while a run's steps are running — shared by the
//! `reliability_faults_docker` and `reliability_faults_podman` binaries (each includes this
//! file with `#[path]` and holds this one test, since it stops a daemon that any other test of
//! the same binary, running in a parallel thread, would be using).
//!
//! `fixtures/reliability/engine_lost.yaml` runs one step by exec in the DAG-level container and
//! one in a container of its own. Once both run, the daemon goes away, twice:
//!
//! 1. `scripts/engines stop <engine>` (SIGTERM: an orderly shutdown). Docker stops the
//!    containers first (SIGTERM, then SIGKILL) and keeps answering meanwhile, so tug may well
//!    see the steps end with exit status 143/137 rather than lose the engine; either is
//!    accepted here, and the test prints which it was.
//! 2. SIGKILL to the daemon the rig started (its pid file): the engine dies without a word.
//!    Each running step must fail with an error saying the engine was lost.
//!
//! Both times: tug ends within seconds (no hang), exit code 3 (engine unreachable) or 1, the run
//! recorded as `failed`, the dependent step never run. The daemon is then restarted
//! (`scripts/engines up`, also from a guard's `Drop` if the test fails first), and `tug gc`
//! removes whatever containers of the run are left.

#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use engine_api::containers::ContainerStatus;

use tug_tests::{
    read_status, rig, rig_dir, run_containers, tug_command, Engine, RestoreRig, TugStart,
    WorkflowDir,
};

/// Longest tug may take to exit once the daemon is stopped before the test fails.
const EXIT_LIMIT: Duration = Duration::from_secs(60);

/// How the daemon goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `scripts/engines stop <engine>`.
    Stop,
    /// SIGKILL to the rig's daemon.
    Kill,
}

/// Both faults, one after the other, on `engine` (`rig_name`: `docker` or `podman`).
pub async fn engine_goes_away_mid_run(engine: Engine, rig_name: &'static str) {
    engine_dies_mid_run(engine, rig_name, Fault::Stop).await;
    engine_dies_mid_run(engine, rig_name, Fault::Kill).await;
}

/// SIGKILL to the daemon `scripts/engines` started (`$TUG_TEST_RIG_DIR/run/<name>.pid`); returns
/// once it is gone.
fn kill_daemon(rig_name: &str) -> (bool, String) {
    let pid_file = std::path::Path::new(&rig_dir())
        .join("run")
        .join(format!("{rig_name}.pid"));
    let pid = match std::fs::read_to_string(&pid_file) {
        Ok(p) => p.trim().to_string(),
        Err(e) => return (false, format!("{}: {e}", pid_file.display())),
    };
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .is_ok_and(|s| s.success());
    // Gone, or a zombie waiting for its parent: either way it no longer answers.
    for _ in 0..100 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = state.rsplit(") ").next().unwrap_or("").chars().next();
        if matches!(state, None | Some('Z')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (killed, format!("kill -KILL {pid}"))
}

/// One fault on `engine`.
pub async fn engine_dies_mid_run(engine: Engine, rig_name: &'static str, fault: Fault) {
    let client = engine.connected().await;
    // From here on, whatever happens, the daemon is brought back.
    let guard = RestoreRig::new(rig_name);
    let wf = WorkflowDir::new("reliability/engine_lost.yaml");
    let mut tug = TugStart::new(engine, wf.file())
        .env("TUG_STOP_GRACE_SEC", "2")
        .spawn();
    let run_id = tug.run_id().to_string();
    let run_dir = tug.run_dir().to_path_buf();
    // Both steps running, both containers up; then a moment for the processes to print (the
    // step logs on disk are buffered, so they cannot tell).
    tug.wait_until(
        "both steps running in two running containers",
        Duration::from_secs(60),
        || {
            let (client, run_id, run_dir) = (client.clone(), run_id.clone(), run_dir.clone());
            async move {
                let steps_running = read_status(&run_dir).is_some_and(|s| {
                    s["steps"].as_array().is_some_and(|steps| {
                        steps.iter().filter(|st| st["status"] == "running").count() == 2
                    })
                });
                steps_running
                    && run_containers(&client, &run_id)
                        .await
                        .iter()
                        .filter(|c| c.state == ContainerStatus::Running)
                        .count()
                        == 2
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = run_containers(&client, &run_id).await.len();
    drop(client);

    let stopped_at = Instant::now();
    let stopper = tokio::task::spawn_blocking(move || {
        let r = match fault {
            Fault::Stop => rig(&["stop", rig_name]),
            Fault::Kill => kill_daemon(rig_name),
        };
        (r, stopped_at.elapsed())
    });
    let finished = tokio::time::timeout(EXIT_LIMIT, async {
        while tug.is_running() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let tug_exit = stopped_at.elapsed();
    assert!(
        finished.is_ok(),
        "[{engine:?}] {fault:?}: tug still runs {EXIT_LIMIT:?} after the daemon was stopped (hang)"
    );
    let ((stop_ok, stop_text), stop_took) = stopper.await.expect("stopper");
    assert!(stop_ok, "{fault:?} of {rig_name} failed:\n{stop_text}");
    let run = tug.finish(Duration::from_secs(5)).await;
    eprintln!(
        "[{engine:?}] {fault:?}: the daemon was gone after {:.2}s; tug exited {:.2}s after the fault began, code {:?}",
        stop_took.as_secs_f64(),
        tug_exit.as_secs_f64(),
        run.code
    );

    assert!(
        matches!(run.code, Some(1) | Some(3)),
        "exit code 1 or 3 expected{}",
        run.context()
    );
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    for id in ["in_dag_container", "in_own_container"] {
        let step = run.step(id);
        let error = step["error"].as_str().unwrap_or_default().to_string();
        eprintln!(
            "[{engine:?}] {fault:?}: step {id}: {} — {error}",
            step["status"]
        );
        assert_eq!(step["status"], "failed", "step {id}{}", run.context());
        let e = error.to_lowercase();
        let engine_lost = e.contains("engine") && (e.contains("lost") || e.contains("connect"));
        // An orderly stop may end the step's processes with the daemon's stop signal first.
        let stopped_by_daemon =
            fault == Fault::Stop && matches!(step["exit_code"].as_i64(), Some(137) | Some(143));
        assert!(
            engine_lost || stopped_by_daemon,
            "step {id}'s error does not say the engine was lost: {error:?}{}",
            run.context()
        );
    }
    let after = run.step_status("after");
    assert!(
        matches!(after.as_str(), "skipped" | "cancelled" | "pending"),
        "step after is {after:?}{}",
        run.context()
    );
    eprintln!(
        "[{engine:?}] {fault:?}: the end of tug's output:\n{}\n{}",
        tug_tests::tail(run.stdout.trim(), 700),
        tug_tests::tail(run.stderr.trim(), 300)
    );

    // Back up; what the run could not remove is still there, and `tug gc` removes it.
    guard.restore();
    let client = engine.connected().await;
    let left = run_containers(&client, &run_id).await;
    eprintln!(
        "[{engine:?}] {fault:?}: containers of the run: {before} while it ran, {} after the daemon came back",
        left.len()
    );
    let data_dir = run
        .run_dir
        .ancestors()
        .nth(3)
        .expect("data dir")
        .to_path_buf();
    let gc = tug_command(
        &["gc"],
        wf.path(),
        &data_dir,
        Some(engine),
        &[],
        Duration::from_secs(60),
    );
    eprintln!(
        "[{engine:?}] {fault:?}: tug gc: {}",
        gc.stdout_text().trim()
    );
    assert_eq!(gc.code, Some(0), "tug gc failed{}", gc.context());
    let mut remaining = run_containers(&client, &run_id).await;
    for _ in 0..20 {
        if remaining.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        remaining = run_containers(&client, &run_id).await;
    }
    assert!(
        remaining.is_empty(),
        "tug gc left containers of run {run_id}: {:?}",
        remaining
            .iter()
            .map(|c| (&c.id, &c.state))
            .collect::<Vec<_>>()
    );
    let record = read_status(&run.run_dir).expect("status.json after gc");
    assert_eq!(record["status"], "failed", "record after gc: {record}");
}
