//! Several engines in one run: `tug start --engine NAME=ADDRESS …` with the children of a
//! `parallel` step spread over Docker and Podman at once.
//!
//! The distribution is checked through each engine, not only through tug's records: a probe
//! lists, every 50 ms on both engines, the containers labelled with a child of the run, and each
//! item prints from inside its container which engine it is on (Podman puts
//! `/run/.containerenv` in every container, Docker does not). Both must agree with the records.
//!
//! * round-robin: 8 items over `p` (Podman, named first) and `d` (Docker) are 4 and 4, the
//!   even items on `p`; the parent's own step and a `dag.run` child without `parallel` run on
//!   `p`, the first engine.
//! * least-busy (the default), with the engines from tug's engines file (`--engine d --engine
//!   p`): with 4 at a time over 2 engines, neither engine ever has more than 2 children at once,
//!   and both take items.
//! * An engine that never answers among the named ones: the children dealt to it run again on
//!   Docker, and the run succeeds with every record naming Docker.
//! * Ctrl-C while children run on both engines: the run and its children end cancelled and no
//!   container is left on either engine.
//! * Invalid `--engine` and `--spread` values: exit 2 and a message saying what is allowed.
//! * `tug dry --engine …` adds the plan of engines; without `--engine` the plan is unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_api::containers::{ContainerStatus, RemoveOptions};
use engine_api::Client;
use serde_json::Value;
use tug_tests::{
    run_family_containers, tail, tug_bin, tug_command, unique, Engine, WorkflowDir, TUG_RUN_LIMIT,
};

/// The child workflow of `spread.yaml`.
const ITEM_WORKFLOW: &str = "spread_item";

// ---------------------------------------------------------------------------------------------
// tug with --engine, and what it left.
// ---------------------------------------------------------------------------------------------

/// A `tug start --run-id ID [ARGS…] FILE` with a data directory of its own and an environment
/// that selects no engine: only the `--engine` arguments do.
struct MultiStart {
    run_id: String,
    data: tempfile::TempDir,
    child: tokio::process::Child,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

/// A finished [`MultiStart`].
struct MultiRun {
    run_id: String,
    data: tempfile::TempDir,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `--engine p=podman:<podman> --engine d=<docker>` (or the other order).
fn engine_args(podman_first: bool) -> Vec<String> {
    let p = format!("p=podman:{}", Engine::Podman.url());
    let d = format!("d={}", Engine::Docker.url());
    let (a, b) = if podman_first { (p, d) } else { (d, p) };
    vec!["--engine".into(), a, "--engine".into(), b]
}

impl MultiStart {
    fn spawn(file: &Path, args: &[String], env: &[(&str, String)]) -> MultiStart {
        use std::process::Stdio;
        use tokio::io::AsyncReadExt;

        let run_id = unique("tug-multi");
        let data = tempfile::Builder::new()
            .prefix("tug-data-")
            .tempdir()
            .expect("temp dir");
        let home = data.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let mut cmd = tokio::process::Command::new(tug_bin());
        cmd.arg("start")
            .arg("--run-id")
            .arg(&run_id)
            .args(args)
            .arg(file)
            .env_clear();
        for keep in ["PATH", "RUST_BACKTRACE", "LANG"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        // DOCKER_HOST points nowhere: a step that ignored --engine would fail.
        cmd.env("HOME", &home)
            .env("TUG_DATA_DIR", data.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(file.parent().expect("workflow dir"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tug_bin().display()));
        let collect = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf).await;
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let stdout = collect(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = collect(child.stderr.take().map(|p| Box::new(p) as _));
        MultiStart {
            run_id,
            data,
            child,
            stdout,
            stderr,
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("tug is running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Waits for tug to exit (killing it after `limit`, and then failing).
    async fn finish(mut self, limit: Duration) -> MultiRun {
        let status = tokio::time::timeout(limit, self.child.wait()).await;
        let timed_out = status.is_err();
        if timed_out {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        let run = MultiRun {
            run_id: self.run_id,
            data: self.data,
            code: status.ok().and_then(|s| s.ok()).and_then(|s| s.code()),
            stdout: self.stdout.await.unwrap_or_default(),
            stderr: self.stderr.await.unwrap_or_default(),
        };
        if timed_out {
            remove_family_everywhere(&run.run_id).await;
            panic!(
                "tug did not finish within {limit:?} (killed){}",
                run.context()
            );
        }
        run
    }
}

impl MultiRun {
    fn context(&self) -> String {
        format!(
            "\nrun {} exited with {:?}\n--- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}\n",
            self.run_id,
            self.code,
            tail(&self.stderr, 4000),
            tail(&self.stdout, 6000)
        )
    }

    /// `runs/<workflow>/<run_id>/status.json`, parsed.
    fn record(&self, workflow: &str, run_id: &str) -> Value {
        let path = self
            .data
            .path()
            .join("runs")
            .join(workflow)
            .join(run_id)
            .join("status.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}{}", path.display(), self.context()));
        serde_json::from_str(&text).expect("status.json parses")
    }

    /// The stdout log of `step` in run `run_id` of `workflow`.
    fn out(&self, workflow: &str, run_id: &str, step: &str) -> String {
        let path = self
            .data
            .path()
            .join("runs")
            .join(workflow)
            .join(run_id)
            .join(format!("{step}.out"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The parent's record.
    fn parent(&self, workflow: &str) -> Value {
        self.record(workflow, &self.run_id)
    }

    /// The parent's record of `step`.
    fn step(&self, workflow: &str, step: &str) -> Value {
        self.parent(workflow)["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == step))
            .cloned()
            .unwrap_or_else(|| panic!("no step {step}{}", self.context()))
    }
}

/// Removes what run `run_id` and its children left on both engines.
async fn remove_family_everywhere(run_id: &str) {
    for engine in [Engine::Docker, Engine::Podman] {
        let client = engine.client();
        for c in run_family_containers(&client, run_id).await {
            let _ = client.remove_container(&c.id, RemoveOptions::force()).await;
        }
    }
}

/// Asserts that no container of run `run_id` or of its children is left on either engine
/// (allowing a removal under way 2 s to finish); removes any it finds.
async fn assert_nothing_left(docker: &Client, podman: &Client, run_id: &str) {
    let mut left = Vec::new();
    for _ in 0..20 {
        left.clear();
        for (name, client) in [("docker", docker), ("podman", podman)] {
            for c in run_family_containers(client, run_id).await {
                left.push(format!("{name}: {} {:?} {:?}", c.id, c.names, c.labels));
            }
        }
        if left.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    remove_family_everywhere(run_id).await;
    panic!("containers of run {run_id} or its children left behind: {left:#?}");
}

// ---------------------------------------------------------------------------------------------
// The engines' view while the run goes.
// ---------------------------------------------------------------------------------------------

/// What the probe saw on one engine.
#[derive(Debug, Default, Clone)]
struct EngineSeen {
    /// Every run id (`tug.run`) of the family seen with a container here.
    runs: BTreeSet<String>,
    /// Most child runs with a container here at the same time.
    max_alive: usize,
}

/// Polls both engines every 50 ms for containers of run `run_id` and its children.
struct Probe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<BTreeMap<&'static str, EngineSeen>>,
}

impl Probe {
    fn start(docker: &Client, podman: &Client, run_id: &str) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (docker, podman, run_id) = (docker.clone(), podman.clone(), run_id.to_string());
        let task = tokio::spawn(async move {
            let mut seen: BTreeMap<&'static str, EngineSeen> = BTreeMap::new();
            while !flag.load(Ordering::Relaxed) {
                for (name, client) in [("docker", &docker), ("podman", &podman)] {
                    let runs: BTreeSet<String> = run_family_containers(client, &run_id)
                        .await
                        .into_iter()
                        .filter_map(|c| c.labels.get("tug.run").cloned())
                        .collect();
                    let entry = seen.entry(name).or_default();
                    let children = runs.iter().filter(|r| **r != run_id).count();
                    entry.max_alive = entry.max_alive.max(children);
                    entry.runs.extend(runs);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        });
        Probe { stop, task }
    }

    async fn finish(self) -> BTreeMap<&'static str, EngineSeen> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("probe task")
    }
}

/// The fan-out's child run ids, in item order.
fn fan_ids(run_id: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{run_id}.fan.{i}")).collect()
}

/// Runs `spread.yaml` with `args`, probing both engines; checks what every spread test checks
/// and returns, per child of `fan` in item order, the engine name its record gives, with the
/// probe's view.
async fn run_spread(
    args: &[String],
    env: &[(&str, String)],
) -> (MultiRun, Vec<String>, BTreeMap<&'static str, EngineSeen>) {
    let docker = Engine::Docker.connected().await;
    let podman = Engine::Podman.connected().await;
    let wf = WorkflowDir::new("multi_engine/spread.yaml");
    let tug = MultiStart::spawn(wf.file(), args, env);
    let probe = Probe::start(&docker, &podman, &tug.run_id);
    let run = tug.finish(TUG_RUN_LIMIT).await;
    let seen = probe.finish().await;
    assert_nothing_left(&docker, &podman, &run.run_id).await;
    assert_eq!(run.code, Some(0), "{}", run.context());

    let urls = BTreeMap::from([("d", Engine::Docker.url()), ("p", Engine::Podman.url())]);
    let runtime_of = |name: &str| if name == "p" { "podman" } else { "docker" };
    let ids = fan_ids(&run.run_id, 8);
    let children = run.step("spread", "fan")["children"].clone();
    let children = children.as_array().expect("children listed");
    assert_eq!(children.len(), 8, "{}", run.context());
    let mut names = Vec::new();
    for (n, (id, listed)) in ids.iter().zip(children).enumerate() {
        // The parent's list, the child's own record, the item's own words and the engine
        // where the probe saw its container all name the same engine.
        let name = listed["engine_name"]
            .as_str()
            .unwrap_or_else(|| panic!("child {n} has no engine_name: {listed:#}{}", run.context()))
            .to_string();
        assert_eq!(listed["run_id"], id.as_str(), "{listed:#}");
        assert_eq!(listed["status"], "succeeded", "{listed:#}");
        assert_eq!(listed["engine"], urls[name.as_str()].as_str(), "{listed:#}");
        let record = run.record(ITEM_WORKFLOW, id);
        assert_eq!(record["engine_name"], name.as_str(), "{record:#}");
        assert_eq!(record["engine"], urls[name.as_str()].as_str(), "{record:#}");
        assert_eq!(record["status"], "succeeded", "{record:#}");
        assert_eq!(
            run.out(ITEM_WORKFLOW, id, "work"),
            format!("item {n} {}\n", runtime_of(&name)),
            "child {n} ran somewhere else than its record says{}",
            run.context()
        );
        for (engine, view) in &seen {
            assert_eq!(
                view.runs.contains(id),
                *engine == runtime_of(&name),
                "child {n} ({id}, recorded on {name}) as {engine} saw it: {seen:#?}{}",
                run.context()
            );
        }
        names.push(name);
    }
    // The counts per engine agree: the probe saw each child on exactly one engine.
    for (engine, view) in &seen {
        let seen_children = view.runs.iter().filter(|r| ids.contains(r)).count();
        let recorded = names.iter().filter(|n| runtime_of(n) == *engine).count();
        assert_eq!(seen_children, recorded, "{engine}: {seen:#?}");
    }
    (run, names, seen)
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn round_robin_spreads_eight_items_four_and_four() {
    let mut args = engine_args(true);
    args.extend(["--spread".to_string(), "round-robin".to_string()]);
    let (run, names, seen) = run_spread(&args, &[]).await;
    assert_eq!(
        names,
        ["p", "d", "p", "d", "p", "d", "p", "d"],
        "round-robin takes the engines in turn, p first{}",
        run.context()
    );
    let on_docker = seen["docker"].runs.len();
    assert!(on_docker >= 4, "docker saw {seen:#?}");

    // The parent's own step and the `dag.run` child without `parallel` are on the first
    // engine (Podman), and say so from inside their containers.
    let parent = run.parent("spread");
    assert_eq!(parent["engine_name"], "p", "{parent:#}");
    assert_eq!(
        parent["engine"],
        Engine::Podman.url().as_str(),
        "{parent:#}"
    );
    assert_eq!(run.out("spread", &run.run_id, "own"), "own podman\n");
    assert!(seen["podman"].runs.contains(&run.run_id), "{seen:#?}");
    assert!(!seen["docker"].runs.contains(&run.run_id), "{seen:#?}");
    let single = format!("{}.single", run.run_id);
    assert_eq!(
        run.record(ITEM_WORKFLOW, &single)["engine_name"],
        "p",
        "{}",
        run.context()
    );
    assert_eq!(
        run.out(ITEM_WORKFLOW, &single, "work"),
        "item single podman\n"
    );
    assert!(seen["podman"].runs.contains(&single), "{seen:#?}");

    // `tug history --all` says where each child ran.
    let history = tug_command(
        &["history", "--all", "--json"],
        run.data.path(),
        run.data.path(),
        None,
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(history.code, Some(0), "{}", history.context());
    let listed: Value = serde_json::from_slice(&history.stdout).expect("history JSON");
    let on: BTreeMap<String, String> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap_or("").to_string(),
                r["engine_name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (id, name) in fan_ids(&run.run_id, 8).iter().zip(&names) {
        assert_eq!(on.get(id), Some(name), "{listed:#}");
    }

    // The summary tree and the plain notices name the engines too.
    assert!(
        run.stdout.contains("↳ spread_item [1] on d: succeeded"),
        "{}",
        run.context()
    );
    assert!(
        run.stdout.contains(&format!(
            "child run {}.fan.0 started on engine p",
            run.run_id
        )),
        "{}",
        run.context()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn least_busy_keeps_both_engines_at_two_or_fewer() {
    // The engines come from tug's engines file this time: `--engine d --engine p`.
    let config = tempfile::tempdir().expect("temp dir");
    let engines = config.path().join("engines");
    let file_lines: Vec<String> = engine_args(false)
        .into_iter()
        .filter(|a| a != "--engine")
        .collect();
    std::fs::write(
        &engines,
        format!("# the test's engines\n{}\n", file_lines.join("\n")),
    )
    .expect("write the engines file");
    let args = ["--engine", "d", "--engine", "p"].map(String::from);
    let env = [("TUG_ENGINES_FILE", engines.display().to_string())];
    let (run, names, seen) = run_spread(&args, &env).await;
    let on_d = names.iter().filter(|n| *n == "d").count();
    assert!(
        (2..=6).contains(&on_d),
        "least-busy put {on_d} of 8 on d: {names:?}{}",
        run.context()
    );
    // The first four start on an idle pool: two each, docker (named first) taking the first.
    assert_eq!(names[..4], ["d", "p", "d", "p"], "{}", run.context());
    for (engine, view) in &seen {
        assert!(
            view.max_alive <= 2,
            "{engine} had {} children at once (4 at a time over 2 engines, least-busy): {seen:#?}",
            view.max_alive
        );
    }
    let parent = run.parent("spread");
    assert_eq!(parent["engine_name"], "d", "{parent:#}");
    assert_eq!(run.out("spread", &run.run_id, "own"), "own docker\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn ctrl_c_during_a_spread_fan_out_leaves_no_container_on_either_engine() {
    let docker = Engine::Docker.connected().await;
    let podman = Engine::Podman.connected().await;
    let wf = WorkflowDir::new("multi_engine/interrupt.yaml");
    let mut args = engine_args(false);
    args.extend(["--spread".to_string(), "round-robin".to_string()]);
    let tug = MultiStart::spawn(wf.file(), &args, &[]);
    let run_id = tug.run_id.clone();
    // Wait until all four children run: two on each engine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut running = Vec::new();
        for client in [&docker, &podman] {
            let n = run_family_containers(client, &run_id)
                .await
                .iter()
                .filter(|c| c.state == ContainerStatus::Running)
                .count();
            running.push(n);
        }
        if running == [2, 2] {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            tug.signal("KILL");
            let run = tug.finish(TUG_RUN_LIMIT).await;
            remove_family_everywhere(&run_id).await;
            panic!(
                "the children never ran two on each engine (docker, podman: {running:?}){}",
                run.context()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tug.signal("INT");
    let run = tug.finish(Duration::from_secs(30)).await;
    assert_nothing_left(&docker, &podman, &run_id).await;
    assert_eq!(run.code, Some(130), "{}", run.context());
    let parent = run.parent("interrupt");
    assert_eq!(parent["status"], "cancelled", "{parent:#}");
    let fan = run.step("interrupt", "fan");
    let children = fan["children"].as_array().expect("children listed");
    let mut names = Vec::new();
    for (n, child) in children.iter().enumerate() {
        assert_eq!(child["status"], "cancelled", "child {n}: {fan:#}");
        let id = child["run_id"].as_str().expect("run_id");
        let record = run.record("spread_sleeper", id);
        assert_eq!(record["status"], "cancelled", "{record:#}");
        assert_eq!(record["engine_name"], child["engine_name"], "{record:#}");
        names.push(child["engine_name"].as_str().unwrap_or("").to_string());
    }
    assert_eq!(names, ["d", "p", "d", "p"], "{fan:#}");
    assert_eq!(run.step("interrupt", "after")["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn children_given_an_engine_that_never_answers_run_on_one_that_does() {
    // Round-robin over Docker and an engine that is not there: the items dealt to `gone` find
    // it unreachable before anything of them ran, and run again on `d`; the run succeeds.
    let docker = Engine::Docker.connected().await;
    let podman = Engine::Podman.connected().await;
    let args: Vec<String> = [
        "--engine".to_string(),
        format!("d={}", Engine::Docker.url()),
        "--engine".to_string(),
        "gone=unix:///nonexistent/tug-gone-engine.sock".to_string(),
        "--spread".to_string(),
        "round-robin".to_string(),
    ]
    .into();
    let wf = WorkflowDir::new("multi_engine/spread.yaml");
    let run = MultiStart::spawn(wf.file(), &args, &[])
        .finish(TUG_RUN_LIMIT)
        .await;
    assert_nothing_left(&docker, &podman, &run.run_id).await;
    assert_eq!(run.code, Some(0), "{}", run.context());
    let children = run.step("spread", "fan")["children"].clone();
    let children = children.as_array().expect("children listed");
    assert_eq!(children.len(), 8, "{}", run.context());
    for (n, (id, listed)) in fan_ids(&run.run_id, 8).iter().zip(children).enumerate() {
        assert_eq!(listed["status"], "succeeded", "{listed:#}{}", run.context());
        assert_eq!(listed["engine_name"], "d", "{listed:#}{}", run.context());
        let record = run.record(ITEM_WORKFLOW, id);
        assert_eq!(record["engine_name"], "d", "{record:#}");
        assert_eq!(record["status"], "succeeded", "{record:#}");
        assert_eq!(
            run.out(ITEM_WORKFLOW, id, "work"),
            format!("item {n} docker\n"),
            "{}",
            run.context()
        );
    }
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("engine gone does not answer"),
        "{}",
        run.context()
    );
    assert!(
        said.contains("did not answer before anything ran; running it on engine d"),
        "{}",
        run.context()
    );
}

/// `tug start` with `args` and no engine at all: only the command line is checked.
fn start_usage(args: &[&str]) -> (Option<i32>, String) {
    let data = tempfile::tempdir().expect("temp dir");
    let wf = WorkflowDir::new("multi_engine/spread.yaml");
    let file = wf.file().display().to_string();
    let mut all = vec!["start"];
    all.extend_from_slice(args);
    all.push(&file);
    let out = tug_command(
        &all,
        wf.path(),
        data.path(),
        None,
        &[("NO_COLOR", "1")],
        Duration::from_secs(30),
    );
    assert!(
        !data.path().join("runs").exists(),
        "a refused command line started a run{}",
        out.context()
    );
    (out.code, out.stderr_text())
}

#[test]
fn invalid_engine_values_exit_2_saying_what_is_allowed() {
    let expected = "expected NAME=ADDRESS, NAME=podman:ADDRESS, NAME=docker, NAME=podman, NAME=context:CONTEXT, or a NAME from the engines file";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--engine", "unix:///var/run/docker.sock"],
            format!(
                "error: invalid value 'unix:///var/run/docker.sock' for '--engine <NAME=ADDRESS>': \"unix:///var/run/docker.sock\" has no engine name ({expected})"
            ),
        ),
        (
            vec!["--engine", "my engine=docker"],
            "error: invalid value 'my engine=docker' for '--engine <NAME=ADDRESS>': invalid engine name \"my engine\" (allowed: letters, digits, `-`, `_` and `.`, starting with a letter or digit)".to_string(),
        ),
        (
            vec!["--engine", "d="],
            format!("error: invalid value 'd=' for '--engine <NAME=ADDRESS>': engine \"d\" has no address ({expected})"),
        ),
        (
            vec!["--engine", "d=ftp://host"],
            "error: invalid value 'd=ftp://host' for '--engine <NAME=ADDRESS>': engine \"d\": invalid engine address \"ftp://host\": unsupported scheme \"ftp\" (supported: unix://, tcp://, ssh://)".to_string(),
        ),
        (
            vec!["--engine", "d=docker", "--engine", "d=podman"],
            "error: --engine d=podman: the name \"d\" is given twice (each engine needs a name of its own)".to_string(),
        ),
    ];
    for (args, want) in cases {
        let (code, stderr) = start_usage(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().next().unwrap_or(""),
            want,
            "{args:?}: {stderr}"
        );
    }
    // A bare name with no engines file (HOME is the test's own).
    let (code, stderr) = start_usage(&["--engine", "nosuch"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot read the engines file ")
            && stderr.contains("/home/.config/tug/engines (")
            && stderr.contains("TUG_ENGINES_FILE names another)"),
        "{stderr}"
    );
    let (code, stderr) = start_usage(&["--spread", "round-robin"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the following required arguments were not provided")
            && stderr.contains("--engine <NAME=ADDRESS>"),
        "--spread without --engine: {stderr}"
    );
    let (code, stderr) = start_usage(&["--engine", "d=docker", "--spread", "sideways"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("[possible values: least-busy, round-robin]"),
        "{stderr}"
    );
}

#[test]
fn dry_shows_which_engine_runs_what() {
    let data = tempfile::tempdir().expect("temp dir");
    let wf = WorkflowDir::new("multi_engine/spread.yaml");
    let file = wf.file().display().to_string();
    let out = tug_command(
        &[
            "dry",
            &file,
            "--no-bodies",
            "--engine",
            "p=podman",
            "--engine",
            "d=tcp://127.0.0.1:2375",
            "--spread",
            "round-robin",
        ],
        wf.path(),
        data.path(),
        None,
        &[("NO_COLOR", "1")],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{}", out.context());
    let stdout = out.stdout_text();
    let engines = stdout
        .find("engines:")
        .map(|i| &stdout[i..])
        .unwrap_or_else(|| panic!("no engines section{}", out.context()));
    assert_eq!(
        engines,
        "engines:\n  p  podman unix:///run/podman/podman.sock  (the run's own steps)\n  d  docker tcp://127.0.0.1:2375\n  step fan: parallel children spread round-robin over p, d\n"
    );
    // Without --engine the plan is as it always was.
    let out = tug_command(
        &["dry", &file, "--no-bodies"],
        wf.path(),
        data.path(),
        None,
        &[("NO_COLOR", "1")],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{}", out.context());
    assert!(!out.stdout_text().contains("engines:"), "{}", out.context());
}
