//! Fan-out and step controls through `tug start`, on Docker and on Podman.
//!
//! * The seeds' test-matrix and build-targets examples (local images, `linux/amd64`) with
//!   `max_concurrent: 2` observed through the engine: a probe lists the children's containers
//!   every 50 ms while the run goes and records how many children had one at once; each child
//!   takes about a second, so two running together are seen, and a third never is.
//! * A failing item: every item still runs, the step fails naming the item, tug exits 1, and
//!   the step's JSON summary counts it.
//! * `retry_policy` (attempts recorded, `exit_code` filtering, in child runs too),
//!   `preconditions` (`condition`/`expected`, `re:`, `negate`, commands), `continue_on`
//!   (`failed`, `skipped`, `exit_code`, `output`, `mark_success`; a run whose every failure
//!   was allowed ends `partially_succeeded` with exit 0).
//! * `parallel.items` from a `${VAR}` holding a JSON array (a parameter, an earlier step's
//!   output), `dag.run` of a sub-workflow in another file, which does not see the parent's
//!   `env`.
//! * Ctrl-C and `timeout_sec` during a fan-out: the parent and its running children are
//!   recorded as stopped and no container of the parent or of any child is left.
//!
//! Child runs have run ids `<run>.<step>[.<n>]` and records under
//! `$TUG_DATA_DIR/runs/<child workflow>/<child run id>/`; their containers carry
//! `tug.run=<child run id>` and `tug.workflow=<child workflow>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_api::containers::{ContainerStatus, ContainerSummary, ListContainers, RemoveOptions};
use engine_api::{Client, Filters};
use serde_json::{json, Value};
use tug_tests::{
    engine_test, fixture, run_containers, test_image, unique, Cleanup, TugProcess, TugRun,
    TugStart, WorkflowDir, TUG_RUN_LIMIT,
};

/// Longest tug may take to stop after SIGINT (children stop on SIGTERM at once).
const STOP_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Child runs: records, logs, summaries.
// ---------------------------------------------------------------------------------------------

/// `$TUG_DATA_DIR/runs/<workflow>/<run_id>`, beside the parent's own record.
fn run_dir_of(run: &TugRun, workflow: &str, run_id: &str) -> PathBuf {
    let runs = run
        .run_dir
        .parent()
        .and_then(|w| w.parent())
        .expect("run_dir is <data>/runs/<workflow>/<run>");
    runs.join(workflow).join(run_id)
}

/// The record of child run `run_id` of `workflow`.
fn child_status(run: &TugRun, workflow: &str, run_id: &str) -> Value {
    let path = run_dir_of(run, workflow, run_id).join("status.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}{}", path.display(), run.context()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}{}", path.display(), run.context()))
}

/// The record of step `step` in a run record.
fn step_of(record: &Value, step: &str) -> Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == step))
        .cloned()
        .unwrap_or_else(|| panic!("no step {step} in {record:#}"))
}

/// The stdout log of step `step` of child run `run_id`.
fn child_out(run: &TugRun, workflow: &str, run_id: &str, step: &str) -> String {
    std::fs::read_to_string(run_dir_of(run, workflow, run_id).join(format!("{step}.out")))
        .unwrap_or_default()
}

/// The JSON document a `dag.run` step printed (its stdout log's last line).
fn step_json(run: &TugRun, step: &str) -> Value {
    let out = run.out(step);
    let line = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "stdout of step {step} is not a JSON document ({e}): {out:?}{}",
            run.context()
        )
    })
}

/// The child run ids of a fan-out step, in item order: `<run>.<step>.<n>`.
fn child_ids(run: &TugRun, step: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{}.{step}.{i}", run.run_id))
        .collect()
}

/// Asserts the parent's record of step `step` lists `expected` children: `(item, status)` in
/// order, each with its run id and `workflow`.
fn assert_children(run: &TugRun, step: &str, workflow: &str, expected: &[(Value, &str)]) {
    let record = run.step(step);
    let ids = child_ids(run, step, expected.len());
    let want: Vec<Value> = expected
        .iter()
        .zip(&ids)
        .map(|((item, status), id)| {
            json!({ "run_id": id, "workflow": workflow, "item": item, "status": status })
        })
        .collect();
    assert_eq!(
        record["children"],
        Value::Array(want),
        "children of step {step}{}",
        run.context()
    );
}

/// Asserts that child run `run_id` of `workflow` links to its parent step and ended `status`.
fn assert_child_record(run: &TugRun, workflow: &str, run_id: &str, step: &str, status: &str) {
    let record = child_status(run, workflow, run_id);
    assert_eq!(record["run_id"], run_id, "{record:#}");
    assert_eq!(record["workflow"], workflow, "{record:#}");
    assert_eq!(record["status"], status, "{record:#}{}", run.context());
    let parent_workflow = run.status()["workflow"].clone();
    assert_eq!(
        record["parent"],
        json!({ "run_id": run.run_id, "workflow": parent_workflow, "step": step }),
        "{record:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// The engine's view: children's containers while a run goes, and what is left after it.
// ---------------------------------------------------------------------------------------------

/// Containers (any state) labelled `tug.workflow=<workflow>` that belong to a child of run
/// `run_id` (`tug.run=<run_id>.…`).
async fn child_containers(client: &Client, workflow: &str, run_id: &str) -> Vec<ContainerSummary> {
    let prefix = format!("{run_id}.");
    client
        .list_containers(&ListContainers::all(
            Filters::new().label(format!("tug.workflow={workflow}")),
        ))
        .await
        .expect("list containers")
        .into_iter()
        .filter(|c| {
            c.labels
                .get("tug.run")
                .is_some_and(|r| r.starts_with(&prefix))
        })
        .collect()
}

/// What the probe saw of a fan-out's children while the run went.
#[derive(Debug, Default)]
struct Seen {
    /// Most children that had a container at the same time.
    max_alive: usize,
    /// Every child run seen, with the image of its container.
    children: BTreeMap<String, String>,
    /// Polls made.
    polls: usize,
}

/// Polls the engine every 50 ms for the containers of run `run_id`'s children of `workflow`
/// until stopped.
struct Probe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Seen>,
}

impl Probe {
    fn start(client: &Client, workflow: &str, run_id: &str) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let (client, workflow, run_id) = (client.clone(), workflow.to_string(), run_id.to_string());
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            while !flag.load(Ordering::Relaxed) {
                let alive: BTreeSet<String> = child_containers(&client, &workflow, &run_id)
                    .await
                    .into_iter()
                    .map(|c| {
                        let child = c.labels.get("tug.run").cloned().unwrap_or_default();
                        seen.children.insert(child.clone(), c.image.clone());
                        child
                    })
                    .collect();
                seen.max_alive = seen.max_alive.max(alive.len());
                seen.polls += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        });
        Probe { stop, task }
    }

    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("probe task")
    }
}

/// Runs `tug` to the end while a [`Probe`] watches the children of `workflow`.
async fn run_probed(tug: TugStart, client: &Client, workflow: &str) -> (TugRun, Seen) {
    let probe = Probe::start(client, workflow, tug.run_id());
    let run = tug.spawn().finish(TUG_RUN_LIMIT).await;
    let seen = probe.finish().await;
    (run, seen)
}

/// The containers of run `run_id` or of its children of `workflow` still there: found by the
/// label `tug.workflow=<workflow>`, by the parent's run id, and by each child run id (allowing a
/// removal under way a moment to finish). Removes them, so that a failing test leaves the
/// engine clean, and describes them.
async fn leftovers(
    client: &Client,
    run_id: &str,
    workflow: &str,
    children: &[String],
) -> Vec<String> {
    let mut left = Vec::new();
    for _ in 0..20 {
        left = child_containers(client, workflow, run_id).await;
        left.extend(run_containers(client, run_id).await);
        for child in children {
            left.extend(run_containers(client, child).await);
        }
        if left.is_empty() {
            return Vec::new();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    left.sort_by(|a, b| a.id.cmp(&b.id));
    left.dedup_by(|a, b| a.id == b.id);
    let mut described = Vec::new();
    for c in left {
        let _ = client.remove_container(&c.id, RemoveOptions::force()).await;
        let labels: BTreeMap<_, _> = c.labels.iter().collect();
        described.push(format!("{} {:?} ({:?}) {labels:?}", c.id, c.names, c.state));
    }
    described
}

/// Asserts that no container of run `run_id` or of its children of `workflow` is left (see
/// [`leftovers`]).
async fn assert_nothing_left(client: &Client, run_id: &str, workflow: &str, children: &[String]) {
    let left = leftovers(client, run_id, workflow, children).await;
    assert!(
        left.is_empty(),
        "containers of run {run_id} or its children left behind: {left:#?}"
    );
}

/// The image name as given, from the engine's report of it (Podman names the images it tags
/// through the Docker-compatible API `docker.io/library/…`, and built ones `localhost/…`).
fn short_image(image: &str) -> &str {
    ["localhost/", "docker.io/library/"]
        .iter()
        .find_map(|p| image.strip_prefix(p))
        .unwrap_or(image)
}

// ---------------------------------------------------------------------------------------------
// The seeds' examples, two at a time.
// ---------------------------------------------------------------------------------------------

/// The seed's `python:3.10`, `python:3.11`, `python:3.12` as the fixture names them; the test
/// gives the repository a name of its own (so that suites running at once on one engine do not
/// untag each other's images) and tags the test image with it.
const MATRIX_REPO: &str = "tug-fanout-python";
const MATRIX_TAGS: [&str; 3] = ["3.10", "3.11", "3.12"];

engine_test!(test_matrix_runs_two_at_a_time, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let repo = unique(MATRIX_REPO);
    let images: Vec<String> = MATRIX_TAGS.iter().map(|t| format!("{repo}:{t}")).collect();
    for image in &images {
        client
            .tag_image(&test_image(), image)
            .await
            .unwrap_or_else(|e| panic!("tag {image}: {e}"));
        cleanup.image(image);
    }
    let wf = WorkflowDir::new("fanout/test_matrix.yaml");
    let text = std::fs::read_to_string(wf.file()).expect("read the workflow");
    assert!(text.contains(&format!("{MATRIX_REPO}:")), "{text}");
    std::fs::write(
        wf.file(),
        text.replace(&format!("{MATRIX_REPO}:"), &format!("{repo}:")),
    )
    .expect("write the workflow");
    let (run, seen) = run_probed(TugStart::new(engine, wf.file()), &client, "run-tests").await;
    run.assert_succeeded();

    let step = "test-all-versions";
    let ids = child_ids(&run, step, 3);
    assert_eq!(
        seen.max_alive,
        2,
        "children with a container at once (max_concurrent: 2), over {} polls: {seen:#?}{}",
        seen.polls,
        run.context()
    );
    let seen_images: Vec<(String, String)> = seen
        .children
        .iter()
        .map(|(id, image)| (id.clone(), short_image(image).to_string()))
        .collect();
    let expected: Vec<(String, String)> = ids.iter().cloned().zip(images.iter().cloned()).collect();
    assert_eq!(
        seen_images,
        expected,
        "each item ran in its image{}",
        run.context()
    );

    let items: Vec<(Value, &str)> = images.iter().map(|i| (json!(i), "succeeded")).collect();
    assert_children(&run, step, "run-tests", &items);
    for (id, image) in ids.iter().zip(&images) {
        assert_child_record(&run, "run-tests", id, step, "succeeded");
        assert_eq!(
            child_out(&run, "run-tests", id, "test"),
            format!("tests passed on {image}\n"),
            "{}",
            run.context()
        );
    }
    let summary = step_json(&run, step);
    assert_eq!(
        summary["summary"],
        json!({ "total": 3, "succeeded": 3, "failed": 0 }),
        "{summary:#}"
    );
    assert_nothing_left(&client, &run.run_id, "run-tests", &ids).await;
    cleanup.run().await;
});

engine_test!(build_targets_run_two_at_a_time, |engine, client| {
    let wf = WorkflowDir::new("fanout/build_targets.yaml");
    wf.dir("dist");
    let (run, seen) = run_probed(TugStart::new(engine, wf.file()), &client, "build-target").await;
    run.assert_succeeded();

    let step = "build-targets";
    let ids = child_ids(&run, step, 3);
    assert_eq!(
        seen.max_alive,
        2,
        "children with a container at once (max_concurrent: 2), over {} polls: {seen:#?}{}",
        seen.polls,
        run.context()
    );
    assert_eq!(
        seen.children.keys().cloned().collect::<Vec<_>>(),
        ids,
        "every item ran in a container{}",
        run.context()
    );

    let outputs = ["app-amd64", "app-amd64-static", "app-amd64-debug"];
    let items: Vec<Value> = outputs
        .iter()
        .map(|o| json!({ "image": "tug-busybox:latest", "platform": "linux/amd64", "output": o }))
        .collect();
    assert_children(
        &run,
        step,
        "build-target",
        &items
            .iter()
            .map(|i| (i.clone(), "succeeded"))
            .collect::<Vec<_>>(),
    );
    for ((id, output), item) in ids.iter().zip(outputs).zip(&items) {
        assert_eq!(
            wf.read(&format!("dist/{output}")).as_deref(),
            Some("x86_64\n"),
            "{output} built on linux/amd64{}",
            run.context()
        );
        assert_child_record(&run, "build-target", id, step, "succeeded");
        let params = &child_status(&run, "build-target", id)["params"];
        assert_eq!(
            *params,
            json!([
                ["IMAGE", item["image"]],
                ["PLATFORM", item["platform"]],
                ["OUTPUT", item["output"]]
            ]),
            "{}",
            run.context()
        );
    }
    let summary = step_json(&run, step);
    let results: Vec<Value> = ids
        .iter()
        .zip(outputs)
        .zip(&items)
        .enumerate()
        .map(|(n, ((id, output), item))| {
            json!({
                "index": n,
                "item": item,
                "run_id": id,
                "status": "succeeded",
                "outputs": { "BUILT": format!("built {output}") },
            })
        })
        .collect();
    let all_outputs: Vec<Value> = results.iter().map(|r| r["outputs"].clone()).collect();
    assert_eq!(
        summary,
        json!({
            "summary": { "total": 3, "succeeded": 3, "failed": 0 },
            "results": results,
            "outputs": all_outputs,
        }),
        "{}",
        run.context()
    );
    assert_nothing_left(&client, &run.run_id, "build-target", &ids).await;
});

engine_test!(
    a_failing_item_fails_the_step_after_every_item_ran,
    |engine, client| {
        let wf = WorkflowDir::new("fanout/failing_item.yaml");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_code(1);
        assert_eq!(run.run_status(), "failed", "{}", run.context());

        let ids = child_ids(&run, "fan", 3);
        let fan = run.step("fan");
        assert_eq!(fan["status"], "failed", "{}", run.context());
        assert_eq!(
            fan["error"],
            format!(
                "parallel execution failed: 1 sub dag(s) failed: item 1 ({}: failed)",
                ids[1]
            ),
            "{}",
            run.context()
        );
        assert_eq!(run.step_status("after"), "skipped", "{}", run.context());
        assert_eq!(run.out("after"), "", "{}", run.context());
        assert_children(
            &run,
            "fan",
            "fanout_check",
            &[
                (json!("first"), "succeeded"),
                (json!("broken"), "failed"),
                (json!("last"), "succeeded"),
            ],
        );
        for (id, (which, status)) in ids.iter().zip([
            ("first", "succeeded"),
            ("broken", "failed"),
            ("last", "succeeded"),
        ]) {
            assert_child_record(&run, "fanout_check", id, "fan", status);
            assert_eq!(
                child_out(&run, "fanout_check", id, "check"),
                format!("checking {which}\n"),
                "item {which} ran{}",
                run.context()
            );
        }
        let broken = step_of(&child_status(&run, "fanout_check", &ids[1]), "check");
        assert_eq!(broken["status"], "failed", "{broken:#}");
        assert_eq!(broken["exit_code"], 3, "{broken:#}");

        let summary = step_json(&run, "fan");
        assert_eq!(
            summary["summary"],
            json!({ "total": 3, "succeeded": 2, "failed": 1 }),
            "{summary:#}"
        );
        let statuses: Vec<(Value, Value, Value)> = summary["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| (r["index"].clone(), r["item"].clone(), r["status"].clone()))
            .collect();
        assert_eq!(
            statuses,
            vec![
                (json!(0), json!("first"), json!("succeeded")),
                (json!(1), json!("broken"), json!("failed")),
                (json!(2), json!("last"), json!("succeeded")),
            ],
            "{summary:#}"
        );
        assert_nothing_left(&client, &run.run_id, "fanout_check", &ids).await;
    }
);

// ---------------------------------------------------------------------------------------------
// retry_policy, preconditions, continue_on.
// ---------------------------------------------------------------------------------------------

engine_test!(
    retries_are_counted_and_filtered_by_exit_code,
    |engine, client| {
        let wf = WorkflowDir::new("fanout/retries.yaml");
        wf.dir("state");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_code(1);
        assert_eq!(run.run_status(), "failed", "{}", run.context());

        // (step, status, exit code, attempts, the count the step kept in ./state)
        for (step, status, code, attempts, file) in [
            ("flaky", "succeeded", 0, 3, "flaky"),
            ("listed_code", "succeeded", 0, 3, "listed"),
            ("unlisted_code", "failed", 3, 1, "unlisted"),
            ("exhausted", "failed", 1, 3, "exhausted"),
        ] {
            let record = run.step(step);
            assert_eq!(
                (
                    record["status"].clone(),
                    record["exit_code"].clone(),
                    record["attempts"].clone()
                ),
                (json!(status), json!(code), json!(attempts)),
                "step {step}: {record:#}{}",
                run.context()
            );
            assert_eq!(
                wf.read(&format!("state/{file}")).as_deref(),
                Some(format!("{attempts}\n").as_str()),
                "runs of step {step}{}",
                run.context()
            );
        }
        assert_eq!(
            run.out("flaky"),
            "attempt 1\nattempt 2\nattempt 3\n",
            "{}",
            run.context()
        );

        // Each child of a fan-out retries on its own and counts its own attempts.
        let ids = child_ids(&run, "fan", 2);
        assert_children(
            &run,
            "fan",
            "fanout_retry",
            &[(json!("a"), "succeeded"), (json!("b"), "succeeded")],
        );
        assert_eq!(run.step("fan")["attempts"], 1, "{}", run.context());
        for (id, who) in ids.iter().zip(["a", "b"]) {
            let once = step_of(&child_status(&run, "fanout_retry", id), "once");
            assert_eq!(once["status"], "succeeded", "{once:#}");
            assert_eq!(once["attempts"], 2, "{once:#}");
            assert_eq!(
                wf.read(&format!("state/child-{who}")).as_deref(),
                Some("2\n")
            );
        }
        assert_nothing_left(&client, &run.run_id, "fanout_retry", &ids).await;
    }
);

engine_test!(preconditions_skip_steps, |engine, client| {
    let wf = WorkflowDir::new("fanout/preconditions.yaml");
    wf.write("flag", "go ahead\n");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();

    for ran in [
        "when_production",
        "version_matches",
        "not_staging",
        "flag_present",
        "missing_negated",
        "command_output",
        "after_allowed_skip",
    ] {
        run.assert_step_out(ran, "ran\n");
    }
    let staging = r#"precondition not met: ${ENV} is "production", expected "staging""#;
    for (skipped, reason) in [
        ("when_staging", staging),
        (
            "version_differs",
            r#"precondition not met: ${VERSION} is "v1.2", expected re:^release-"#,
        ),
        (
            "not_production",
            r#"precondition not met: ${ENV} is "production", not expected "production""#,
        ),
        (
            "flag_absent",
            "precondition not met: `test -f missing` exited with 1",
        ),
        (
            "all_must_hold",
            "precondition not met: `test -f missing` exited with 1",
        ),
        ("after_skipped", r#"not run: step "when_staging" skipped"#),
        ("skip_allowed", staging),
    ] {
        let record = run.step(skipped);
        assert_eq!(
            (record["status"].clone(), record["error"].clone()),
            (json!("skipped"), json!(reason)),
            "step {skipped}: {record:#}{}",
            run.context()
        );
        assert_eq!(run.out(skipped), "", "step {skipped}{}", run.context());
    }
    tug_tests::assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(continue_on_lets_the_run_go_on, |engine, client| {
    let wf = WorkflowDir::new("fanout/continue_on.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_code(0);
    assert_eq!(run.run_status(), "partially_succeeded", "{}", run.context());
    for (step, status, code) in [
        ("tolerated_failure", "failed", json!(1)),
        ("tolerated_code", "failed", json!(3)),
        ("tolerated_output", "failed", json!(1)),
        ("marked", "succeeded", json!(1)),
        ("tolerated_skip", "skipped", Value::Null),
    ] {
        let record = run.step(step);
        assert_eq!(
            (record["status"].clone(), record["exit_code"].clone()),
            (json!(status), code),
            "step {step}: {record:#}{}",
            run.context()
        );
    }
    assert_eq!(
        run.step("marked")["error"],
        Value::Null,
        "{}",
        run.context()
    );
    for after in [
        "after_failure",
        "after_code",
        "after_output",
        "after_marked",
        "after_skip",
    ] {
        run.assert_step_out(after, "ran\n");
    }
    tug_tests::assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(
    continue_on_another_exit_code_fails_the_run,
    |engine, client| {
        let wf = WorkflowDir::new("fanout/continue_on_denied.yaml");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_code(1);
        assert_eq!(run.run_status(), "failed", "{}", run.context());
        let wrong = run.step("wrong_code");
        assert_eq!(
            (wrong["status"].clone(), wrong["exit_code"].clone()),
            (json!("failed"), json!(4)),
            "{}",
            run.context()
        );
        assert_eq!(run.step_status("after"), "skipped", "{}", run.context());
        assert_eq!(run.out("after"), "", "{}", run.context());
        run.assert_step_out("independent", "ran\n");
        tug_tests::assert_no_run_containers(&client, &run.run_id).await;
    }
);

// ---------------------------------------------------------------------------------------------
// Items from variables, sub-workflows in other files.
// ---------------------------------------------------------------------------------------------

engine_test!(items_from_a_json_variable, |engine, client| {
    let wf = WorkflowDir::new("fanout/items_from_variable.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("ITEMS", r#"["c","d","e"]"#)
        .run()
        .await;
    run.assert_succeeded();

    // From the parameter given on the command line.
    let from_params = step_json(&run, "from_params");
    assert_eq!(
        from_params["summary"],
        json!({ "total": 3, "succeeded": 3, "failed": 0 }),
        "{from_params:#}"
    );
    assert_eq!(
        from_params["outputs"],
        json!([
            { "GREETING": "hello c" },
            { "GREETING": "hello d" },
            { "GREETING": "hello e" },
        ]),
        "{from_params:#}"
    );
    assert_children(
        &run,
        "from_params",
        "fanout_greet",
        &[
            (json!("c"), "succeeded"),
            (json!("d"), "succeeded"),
            (json!("e"), "succeeded"),
        ],
    );

    // From an earlier step's output: mappings, read with ${ITEM.field}.
    let from_output = step_json(&run, "from_output");
    assert_eq!(
        from_output["outputs"],
        json!([{ "GREETING": "hello x-1" }, { "GREETING": "hello y-2" }]),
        "{from_output:#}"
    );
    assert_children(
        &run,
        "from_output",
        "fanout_greet",
        &[
            (json!({ "name": "x", "n": 1 }), "succeeded"),
            (json!({ "name": "y", "n": 2 }), "succeeded"),
        ],
    );
    let mut ids = child_ids(&run, "from_params", 3);
    ids.extend(child_ids(&run, "from_output", 2));
    for id in &ids {
        let step = if id.contains(".from_params.") {
            "from_params"
        } else {
            "from_output"
        };
        assert_child_record(&run, "fanout_greet", id, step, "succeeded");
    }
    assert_nothing_left(&client, &run.run_id, "fanout_greet", &ids).await;
});

engine_test!(
    dag_run_of_another_file_does_not_inherit_env,
    |engine, client| {
        let wf = WorkflowDir::new("fanout/dag_file.yaml");
        let child = std::fs::read(fixture("fanout/fanout_env_child.yaml")).expect("child fixture");
        let child_file = wf.write("fanout_env_child.yaml", child);
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_succeeded();

        // The parent sees its own env …
        run.assert_step_out("own", "parent=[from-parent]\n");
        // … its child, a run of the other file, does not.
        let child_id = format!("{}.call", run.run_id);
        let seen = "greeting=[hello] child=[from-child] parent=[] shell=[]";
        assert_eq!(
            step_json(&run, "call"),
            json!({
                "run_id": child_id,
                "dag": "fanout_env_child",
                "status": "succeeded",
                "outputs": { "SEEN": seen, "HOST_SEEN": "host=[]" },
            }),
            "{}",
            run.context()
        );
        // One child, with no item (the record may leave `item` out or make it null).
        let mut children = run.step("call")["children"].clone();
        if let Some(c) = children.get_mut(0).and_then(Value::as_object_mut) {
            if c.get("item").is_some_and(Value::is_null) {
                c.remove("item");
            }
        }
        assert_eq!(
            children,
            json!([{
                "run_id": child_id,
                "workflow": "fanout_env_child",
                "status": "succeeded",
            }]),
            "{}",
            run.context()
        );
        assert_child_record(&run, "fanout_env_child", &child_id, "call", "succeeded");
        let record = child_status(&run, "fanout_env_child", &child_id);
        assert_eq!(
            record["file"],
            child_file.display().to_string(),
            "{record:#}"
        );
        assert_eq!(
            child_out(&run, "fanout_env_child", &child_id, "show"),
            format!("{seen}\n")
        );
        assert_nothing_left(&client, &run.run_id, "fanout_env_child", &[child_id]).await;
    }
);

// ---------------------------------------------------------------------------------------------
// Stopping a fan-out: Ctrl-C, timeout_sec.
// ---------------------------------------------------------------------------------------------

/// Waits until `n` children of `workflow` have a running container.
async fn wait_for_running_children(
    tug: &mut TugProcess,
    client: &Client,
    workflow: &str,
    n: usize,
) {
    let run_id = tug.run_id().to_string();
    tug.wait_until(
        &format!("{n} running children of {workflow}"),
        Duration::from_secs(60),
        || {
            let (client, run_id, workflow) = (client.clone(), run_id.clone(), workflow.to_string());
            async move {
                child_containers(&client, &workflow, &run_id)
                    .await
                    .iter()
                    .filter(|c| c.state == ContainerStatus::Running)
                    .count()
                    >= n
            }
        },
    )
    .await;
}

/// What is wrong with a fan-out stopped early: containers left, and records that do not say
/// the run, the step and its children were stopped. Collected rather than asserted one by one,
/// so that a failure reports all of it.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self, run: &TugRun) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n- {}\n{}",
            self.0.len(),
            self.0.join("\n- "),
            run.context()
        );
    }
}

/// A child's record, or why it cannot be read.
fn child_record(run: &TugRun, workflow: &str, run_id: &str) -> Result<Value, String> {
    let path = run_dir_of(run, workflow, run_id).join("status.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let record: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(record)
}

/// Checks the records of the children of a fan-out step `fan` stopped early: each of the first
/// `started` children is recorded as one of `stopped` in the parent's record and in its own,
/// its step `sleep` too; a child that never started is not recorded as running, succeeded or
/// failed.
fn check_stopped_children(
    problems: &mut Problems,
    run: &TugRun,
    workflow: &str,
    ids: &[String],
    started: usize,
    stopped: &[&str],
) {
    let children = run.step("fan")["children"].clone();
    for (n, id) in ids.iter().enumerate() {
        let in_parent = children[n]["status"].clone();
        if n < started {
            problems.check(
                in_parent.as_str().is_some_and(|s| stopped.contains(&s)),
                || format!("child {id} is {in_parent} in the parent's record, expected one of {stopped:?}"),
            );
            match child_record(run, workflow, id) {
                Ok(record) => {
                    let status = record["status"].clone();
                    problems.check(status.as_str().is_some_and(|s| stopped.contains(&s)), || {
                        format!("child {id} is {status} in its own record, expected one of {stopped:?}: {record:#}")
                    });
                    let step = step_of(&record, "sleep")["status"].clone();
                    problems.check(step.as_str().is_some_and(|s| stopped.contains(&s)), || {
                        format!("step sleep of child {id} is {step}, expected one of {stopped:?}")
                    });
                }
                Err(e) => problems.0.push(format!("child {id} has no record: {e}")),
            }
        } else {
            problems.check(
                matches!(
                    in_parent.as_str(),
                    Some("cancelled" | "not_started" | "not started" | "skipped")
                ),
                || {
                    format!(
                        "child {id}, which never started, is {in_parent} in the parent's record"
                    )
                },
            );
        }
    }
}

engine_test!(
    ctrl_c_during_a_fan_out_leaves_no_container,
    |engine, client| {
        let wf = WorkflowDir::new("fanout/interrupt.yaml");
        let mut tug = TugStart::new(engine, wf.file())
            .env("TUG_STOP_GRACE_SEC", "2")
            .spawn();
        let run_id = tug.run_id().to_string();
        let ids: Vec<String> = (0..3).map(|n| format!("{run_id}.fan.{n}")).collect();
        wait_for_running_children(&mut tug, &client, "fanout_sleeper", 2).await;
        tug.signal("INT");
        let run = tug.finish(STOP_LIMIT).await;

        let mut problems = Problems::default();
        let left = leftovers(&client, &run_id, "fanout_sleeper", &ids).await;
        problems.check(left.is_empty(), || {
            format!("containers left behind: {left:#?}")
        });
        problems.check(run.code == Some(130), || {
            format!("exit code {:?}, expected 130", run.code)
        });
        let status = run.run_status();
        problems.check(status == "cancelled", || {
            format!("run {status}, expected cancelled")
        });
        let fan = run.step_status("fan");
        problems.check(fan == "cancelled", || {
            format!("step fan {fan}, expected cancelled")
        });
        problems.check(run.out("after").is_empty(), || "step after ran".to_string());
        check_stopped_children(
            &mut problems,
            &run,
            "fanout_sleeper",
            &ids,
            2,
            &["cancelled"],
        );
        problems.assert_none(&run);
    }
);

engine_test!(
    timeout_of_a_fan_out_step_leaves_no_container,
    |engine, client| {
        let wf = WorkflowDir::new("fanout/timeout.yaml");
        let run = TugStart::new(engine, wf.file())
            .env("TUG_STOP_GRACE_SEC", "2")
            .run()
            .await;
        let ids = child_ids(&run, "fan", 2);

        let mut problems = Problems::default();
        let left = leftovers(&client, &run.run_id, "fanout_slow", &ids).await;
        problems.check(left.is_empty(), || {
            format!("containers left behind: {left:#?}")
        });
        problems.check(run.code == Some(1), || {
            format!("exit code {:?}, expected 1", run.code)
        });
        let status = run.run_status();
        problems.check(status == "failed", || {
            format!("run {status}, expected failed")
        });
        let fan = run.step("fan");
        problems.check(
            fan["status"] == "failed" && fan["error"] == "timed out after 2s (timeout_sec)",
            || format!("step fan: {fan:#}"),
        );
        check_stopped_children(
            &mut problems,
            &run,
            "fanout_slow",
            &ids,
            2,
            &["cancelled", "failed"],
        );
        problems.assert_none(&run);
    }
);
