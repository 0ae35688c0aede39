//! SIGINT and SIGTERM sent to `tug start` at random points, many times, on Docker and Podman:
//! whatever the moment, tug removes every container of the run and of its child runs before
//! it exits.
//!
//! The workflow (`fixtures/reliability/interrupts.yaml`) goes through a pull from the rig's
//! htpasswd registry (`pull_policy: always`, `registry_auths`), the creation of the DAG-level
//! container, a readiness wait on its health check (healthy after ~0.5 s), an exec, a
//! step-level container, and a `parallel` + `dag.run` fan-out of three children, two at a time.
//! Alone it takes about two seconds; with the ten tug processes this test runs at once (five per
//! engine, both engines together, on two cores) about five. So the signals land uniformly in
//! the first [`WINDOW_MS`] = 6 s rather than 3 s — otherwise the fan-out and the end of the run
//! would never be hit — and the test prints which phase each signal landed in. Each of [`RUNS`]
//! runs per engine gets one signal (SIGINT or SIGTERM), and one run in four a second one (the
//! "kill now" path) 50–500 ms later.
//!
//! After each run exits the test counts the containers and networks labelled with the run's id
//! or a child run's id (`<run>.<step>.<n>`), checks the exit code against the record (130 and
//! `cancelled`, or 0 and `succeeded` when the run ended first, or death by the signal before any
//! record exists) and that no child record still says `running`. At the end it prints, per
//! engine: the seed, the phases hit, exit codes, stop times and the leftover counts, which must
//! be zero. Replay a sequence with `TUG_RELIABILITY_SEED=<seed>`; change the number of runs with
//! `TUG_RELIABILITY_RUNS`. Run with `--nocapture` to see the figures.
//!
//! Three focused tests follow: a signal in the first milliseconds (before tug's handlers exist),
//! stopping a host step, and a second Ctrl-C during teardown.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_api::Client;
use tug_tests::{
    engine_test, fixture, read_status, remove_run_family, run_family_containers,
    run_family_networks, Engine, Rng, TugStart,
};

/// Interrupted runs per engine.
const RUNS: usize = 50;
/// tug processes running at once per engine.
const CONCURRENCY: usize = 5;
/// Signals land uniformly in `0..WINDOW_MS` ms after tug starts.
const WINDOW_MS: u64 = 6000;
/// Longest tug may take to exit after the first signal.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Grace period between a step's stop signal and SIGKILL (tug's default is 10 s).
const GRACE_SEC: &str = "2";

/// What one run is told to do, drawn from the seeded source before any run starts.
#[derive(Debug, Clone)]
struct Plan {
    index: usize,
    at: Duration,
    first: &'static str,
    second: Option<(Duration, &'static str)>,
}

/// What one run did.
#[derive(Debug)]
struct Outcome {
    plan: Plan,
    phase: &'static str,
    code: Option<i32>,
    status: Option<String>,
    stop: Option<Duration>,
    containers_left: Vec<String>,
    networks_left: Vec<String>,
    problems: Vec<String>,
}

fn plans(seed: u64) -> Vec<Plan> {
    let mut rng = Rng::new(seed);
    let runs = std::env::var("TUG_RELIABILITY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    let signal = |rng: &mut Rng| if rng.below(2) == 0 { "INT" } else { "TERM" };
    (0..runs)
        .map(|index| {
            let at = Duration::from_millis(rng.below(WINDOW_MS));
            let first = signal(&mut rng);
            let second = (rng.below(4) == 0)
                .then(|| (Duration::from_millis(50 + rng.below(450)), signal(&mut rng)));
            Plan {
                index,
                at,
                first,
                second,
            }
        })
        .collect()
}

/// Where the run is, from its record and its containers: `startup` (no record yet), `pull`
/// (no container yet), `ready-wait` (the DAG-level container exists, no step started), the
/// running step's id, or `finishing` (every step done).
async fn phase(client: &Client, run_id: &str, run_dir: &std::path::Path) -> &'static str {
    let Some(status) = read_status(run_dir) else {
        return "startup";
    };
    let steps = status["steps"].as_array().cloned().unwrap_or_default();
    for (id, name) in [("prepare", "prepare"), ("work", "work"), ("fan", "fan")] {
        if steps
            .iter()
            .any(|s| s["id"] == id && s["status"] == "running")
        {
            return name;
        }
    }
    if steps.iter().all(|s| s["status"] == "pending") {
        return if run_family_containers(client, run_id).await.is_empty() {
            "pull"
        } else {
            "ready-wait"
        };
    }
    "finishing"
}

fn kill(pid: u32, signal: &str) -> bool {
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

async fn one_run(engine: Engine, client: Client, plan: Plan) -> Outcome {
    let mut tug = TugStart::new(engine, &fixture("reliability/interrupts.yaml"))
        .env("TUG_STOP_GRACE_SEC", GRACE_SEC)
        .spawn();
    let run_id = tug.run_id().to_string();
    let run_dir = tug.run_dir().to_path_buf();
    tokio::time::sleep(plan.at).await;
    let mut problems = Vec::new();
    let (phase, signalled) = if tug.is_running() {
        let phase = phase(&client, &run_id, &run_dir).await;
        (phase, kill(tug.pid(), plan.first))
    } else {
        ("ended before the signal", false)
    };
    let signalled_at = Instant::now();
    if let (true, Some((after, second))) = (signalled, plan.second) {
        tokio::time::sleep(after).await;
        if tug.is_running() {
            kill(tug.pid(), second);
        }
    }
    let run = tug.finish(STOP_LIMIT).await;
    let stop = signalled.then(|| signalled_at.elapsed());

    // Count what is left the moment tug has exited: teardown happens before the exit.
    let containers: Vec<String> = run_family_containers(&client, &run_id)
        .await
        .iter()
        .map(|c| {
            format!(
                "{} {:?} state={:?} labels={:?}",
                &c.id[..12.min(c.id.len())],
                c.names,
                c.state,
                c.labels
            )
        })
        .collect();
    let networks = run_family_networks(&client, &run_id).await;
    if !containers.is_empty() {
        remove_run_family(&client, &run_id).await;
        // What tug said about its cleanup, for the report.
        let said: Vec<&str> = run
            .stdout
            .lines()
            .chain(run.stderr.lines())
            .filter(|l| l.contains("cannot remove") || l.contains("cleanup"))
            .collect();
        if !said.is_empty() {
            problems.push(format!("tug said: {}", said.join(" / ")));
        }
    }

    let status = read_status(&run.run_dir).and_then(|s| s["status"].as_str().map(str::to_string));
    // Child runs keep records of their own (`runs/rel_child/<run>.fan.<n>`): none may still say
    // `running` once tug has exited.
    let data_dir = run
        .run_dir
        .ancestors()
        .nth(3)
        .expect("data dir")
        .to_path_buf();
    let children = data_dir.join("runs").join("rel_child");
    for entry in std::fs::read_dir(&children).into_iter().flatten().flatten() {
        let child =
            read_status(&entry.path()).and_then(|s| s["status"].as_str().map(str::to_string));
        if child.as_deref() == Some("running") {
            problems.push(format!(
                "child run record {} still says `running` after tug exited",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    match (run.code, status.as_deref()) {
        (Some(130), Some("cancelled")) | (Some(0), Some("succeeded")) => {}
        // Killed by the signal itself: it came before tug installed its handler, which it does
        // before the run starts, so no record exists yet.
        (None, None) => {}
        (code, status) => problems.push(format!(
            "exit code {code:?} with run status {status:?}{}",
            run.context()
        )),
    }
    Outcome {
        plan,
        phase,
        code: run.code,
        status,
        stop,
        containers_left: containers,
        networks_left: networks,
        problems,
    }
}

fn count<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut map: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *map.entry(i).or_default() += 1;
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The test body for one engine.
async fn random_interrupts(engine: Engine, client: Client) {
    let seed = Rng::seed_from_env("TUG_RELIABILITY_SEED");
    // Different sequences per engine from one printed seed.
    let engine_seed = match engine {
        Engine::Docker => seed,
        Engine::Podman => seed ^ 0x5EED_0F9D_u64,
    };
    let plans = plans(engine_seed);
    eprintln!(
        "[{engine:?}] seed {seed} (replay with TUG_RELIABILITY_SEED={seed}): {} runs, {CONCURRENCY} at once",
        plans.len()
    );
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(plans.clone().into_iter()));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (queue, client) = (queue.clone(), client.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some(plan) = next else { break };
                    out.push(one_run(engine, client.clone(), plan).await);
                }
                out
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.expect("worker"));
    }
    outcomes.sort_by_key(|o| o.plan.index);
    let wall = started.elapsed();

    let containers_left: usize = outcomes.iter().map(|o| o.containers_left.len()).sum();
    let networks_left: usize = outcomes.iter().map(|o| o.networks_left.len()).sum();
    let signals = count(outcomes.iter().map(|o| o.plan.first));
    let doubles = outcomes.iter().filter(|o| o.plan.second.is_some()).count();
    let phases = count(outcomes.iter().map(|o| o.phase));
    let codes: Vec<String> = outcomes
        .iter()
        .map(|o| match o.code {
            Some(c) => format!("{c} ({})", o.status.as_deref().unwrap_or("no record")),
            None => "killed by the signal".to_string(),
        })
        .collect();
    let codes = count(codes.iter().map(String::as_str));
    let mut stops: Vec<Duration> = outcomes.iter().filter_map(|o| o.stop).collect();
    stops.sort();
    let median = stops.get(stops.len() / 2).copied().unwrap_or_default();
    let max = stops.last().copied().unwrap_or_default();
    eprintln!(
        "[{engine:?}] {} runs in {:.1}s: signals {signals} (+ a second signal in {doubles}); \
         phase at the signal: {phases}; exit: {codes}; stop after the signal: median {:.2}s, \
         max {:.2}s",
        outcomes.len(),
        wall.as_secs_f64(),
        median.as_secs_f64(),
        max.as_secs_f64()
    );
    eprintln!(
        "[{engine:?}] LEFT BEHIND: {containers_left} container(s), {networks_left} network(s) \
         over {} runs",
        outcomes.len()
    );

    let mut failures = Vec::new();
    for o in &outcomes {
        let what = format!(
            "run {} ({} at {:?}{}, phase {})",
            o.plan.index,
            o.plan.first,
            o.plan.at,
            o.plan
                .second
                .map(|(d, s)| format!(", then {s} after {d:?}"))
                .unwrap_or_default(),
            o.phase
        );
        for c in &o.containers_left {
            failures.push(format!("{what}: container left: {c}"));
        }
        for n in &o.networks_left {
            failures.push(format!("{what}: network left: {n}"));
        }
        for p in &o.problems {
            failures.push(format!("{what}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "[{engine:?}] seed {seed}: {} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(containers_left + networks_left, 0);
}

engine_test!(random_interrupts_leave_nothing, |engine, client| {
    random_interrupts(engine, client).await
});

// ---------------------------------------------------------------------------------------------
// Signals while tug starts up.
// ---------------------------------------------------------------------------------------------

/// Runs of [`signal_during_startup_never_leaves_a_live_record`].
const STARTUP_RUNS: u64 = 100;

/// SIGTERM in the first 15 ms of `tug start` (a host step, no engine): tug either dies before
/// it has written anything (the signal's default action, before its handler exists) or handles
/// the signal (exit 130). It must never die by the signal once the run has started: that
/// leaves a record saying `running` for a dead process and the step's process orphaned.
#[test]
fn signal_during_startup_never_leaves_a_live_record() {
    let seed = Rng::seed_from_env("TUG_RELIABILITY_SEED");
    eprintln!("seed {seed} (replay with TUG_RELIABILITY_SEED={seed})");
    let mut rng = Rng::new(seed);
    let delays: Vec<u64> = (0..STARTUP_RUNS).map(|_| rng.below(15)).collect();
    let workflow = fixture("reliability/host_wait.yaml");
    let data = tempfile::tempdir().expect("temp dir");
    let results: Vec<(u64, Option<i32>, Option<String>)> = std::thread::scope(|s| {
        let chunks: Vec<Vec<(usize, u64)>> = (0..4)
            .map(|w| {
                delays
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(i, _)| i % 4 == w)
                    .collect()
            })
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (workflow, data) = (&workflow, data.path());
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, delay)| {
                            let run_id = format!("startup-{i}");
                            let mut child = std::process::Command::new(tug_tests::tug_bin())
                                .args(["start", "--run-id", &run_id])
                                .arg(workflow)
                                .env_clear()
                                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                                .env("HOME", data)
                                .env("TUG_DATA_DIR", data)
                                .env("TUG_STOP_GRACE_SEC", "0.2")
                                .stdout(std::process::Stdio::null())
                                .stderr(std::process::Stdio::null())
                                .spawn()
                                .expect("start tug");
                            std::thread::sleep(Duration::from_millis(delay));
                            kill(child.id(), "TERM");
                            let status = child.wait().expect("wait for tug");
                            let record =
                                read_status(&data.join("runs").join("host_wait").join(&run_id))
                                    .and_then(|s| s["status"].as_str().map(str::to_string));
                            (delay, status.code(), record)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    let by_signal = results.iter().filter(|(_, code, _)| code.is_none()).count();
    let handled = results
        .iter()
        .filter(|(_, code, _)| *code == Some(130))
        .count();
    let stale: Vec<String> = results
        .iter()
        .filter(|(_, code, record)| code.is_none() && record.as_deref() == Some("running"))
        .map(|(delay, _, _)| format!("SIGTERM at {delay} ms"))
        .collect();
    eprintln!(
        "{} runs, SIGTERM at 0-15 ms: killed before the run began {}, handled (exit 130) {handled}, \
         killed after the run began (record left `running`) {}",
        results.len(),
        by_signal - stale.len(),
        stale.len()
    );
    assert!(
        stale.is_empty(),
        "tug died by the signal after writing a `running` record: {}",
        stale.join(", ")
    );
}

/// Ctrl-C during a host step whose process ends at once on SIGTERM (`sleep`): tug exits 130
/// well within the default 10 s grace period, which is only for processes that do not stop.
#[test]
fn host_step_stops_without_waiting_out_the_grace_period() {
    let data = tempfile::tempdir().expect("temp dir");
    let run_id = "host-grace";
    let mut child = std::process::Command::new(tug_tests::tug_bin())
        .args(["start", "--run-id", run_id])
        .arg(fixture("reliability/host_wait.yaml"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", data.path())
        .env("TUG_DATA_DIR", data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tug");
    let run_dir = data.path().join("runs").join("host_wait").join(run_id);
    let started = Instant::now();
    let mut step_started = false;
    while started.elapsed() < Duration::from_secs(20) {
        if read_status(&run_dir).is_some_and(|s| s["steps"][0]["status"] == "running") {
            step_started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    let mut exited = false;
    if step_started {
        std::thread::sleep(Duration::from_millis(300));
        kill(child.id(), "INT");
        while signalled.elapsed() < Duration::from_secs(30) {
            if child.try_wait().expect("wait").is_some() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let took = signalled.elapsed();
    // Reaps it in every case (kill is a no-op once it has exited).
    let _ = child.kill();
    let status = child.wait().expect("wait for tug");
    assert!(step_started, "the step never started");
    let waited = exited.then_some(status);
    eprintln!(
        "host step `sleep 30`, SIGINT: tug exited {:?} after {:.2}s (grace period 10 s)",
        waited.and_then(|s| s.code()),
        took.as_secs_f64()
    );
    assert_eq!(waited.and_then(|s| s.code()), Some(130));
    assert!(
        took < Duration::from_secs(3),
        "stopping took {took:?} although the process ended at once"
    );
}

/// A second Ctrl-C while tug tears down (stopping a DAG-level container that ignores SIGTERM,
/// with a 20 s grace period): tug says "killing … now" and must then remove it at once.
async fn second_interrupt_during_teardown(engine: Engine, client: Client) {
    let wf = tug_tests::WorkflowDir::new("reliability/slow_teardown.yaml");
    let mut tug = TugStart::new(engine, wf.file())
        .env("TUG_STOP_GRACE_SEC", "20")
        .spawn();
    let run_dir = tug.run_dir().to_path_buf();
    let step_is = |status: &'static str| {
        let run_dir = run_dir.clone();
        move || {
            let ok = read_status(&run_dir).is_some_and(|s| s["steps"][0]["status"] == status);
            async move { ok }
        }
    };
    tug.wait_until(
        "the step running",
        Duration::from_secs(60),
        step_is("running"),
    )
    .await;
    tug.signal("INT");
    // The step is cancelled, so teardown (the 20 s stop of the DAG-level container) is under way.
    tug.wait_until(
        "the step cancelled",
        Duration::from_secs(20),
        step_is("cancelled"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = Instant::now();
    tug.signal("INT");
    let run = tug.finish(Duration::from_secs(40)).await;
    let took = second.elapsed();
    eprintln!(
        "[{engine:?}] second SIGINT during teardown (grace 20 s): tug exited {:?} {:.2}s later",
        run.code,
        took.as_secs_f64()
    );
    run.assert_code(130);
    tug_tests::assert_no_run_containers(&client, &run.run_id).await;
    assert!(
        took < Duration::from_secs(5),
        "tug waited {took:?} after the second Ctrl-C{}",
        run.context()
    );
}

mod second_interrupt_during_teardown_kills_at_once {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs engines: run scripts/test"]
    async fn docker() {
        let e = Engine::Docker;
        second_interrupt_during_teardown(e, e.connected().await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs engines: run scripts/test"]
    async fn podman() {
        let e = Engine::Podman;
        second_interrupt_during_teardown(e, e.connected().await).await
    }
}
