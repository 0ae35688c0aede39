//! Whole outputs of the `tug` binary, pinned by snapshot (`tests/snapshots/*.txt`): validate,
//! dry, schema, help, and runs of host-only workflows (which need no engine) — a failing run's
//! live lines and summary, its status, logs and the history. Run ids, times, durations and
//! temporary paths are normalised; `UPDATE_SNAPSHOTS=1` rewrites the files.

#[path = "cli_support.rs"]
mod cli_support;

use cli_support::{normalize, snapshot, workspace, Tug};

fn repo() -> String {
    workspace().display().to_string()
}

#[test]
fn validate_valid_files() {
    let out = Tug::new(&[
        "validate",
        "examples/hello.yaml",
        "tests/fixtures/cli/ok_host.yaml",
    ])
    .run();
    out.assert_code(0);
    snapshot("validate_ok", &out.transcript());
}

#[test]
fn validate_reports_every_error_with_a_caret() {
    let out = Tug::new(&[
        "validate",
        "tests/fixtures/cli/invalid.yaml",
        "tests/fixtures/cli/ok_host.yaml",
    ])
    .run();
    out.assert_code(2);
    snapshot("validate_errors", &out.transcript());
}

#[test]
fn validate_a_missing_file() {
    let out = Tug::new(&["validate", "tests/fixtures/cli/no-such-file.yaml"]).run();
    out.assert_code(2);
    snapshot("validate_missing", &out.transcript());
}

#[test]
fn dry_shows_requests_and_bodies_without_an_engine() {
    // No engine at this address: dry must not need one.
    let out = Tug::new(&["dry", "tests/fixtures/cli/dry.yaml", "--", "TAG=4.0"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    out.assert_code(0);
    snapshot("dry", &normalize(&out.transcript(), &[(&repo(), "[REPO]")]));
}

#[test]
fn dry_without_bodies() {
    let out = Tug::new(&["dry", "examples/hello.yaml", "--no-bodies"]).run();
    out.assert_code(0);
    snapshot("dry_no_bodies", &out.transcript());
}

#[test]
fn dry_of_an_invalid_workflow_exits_2() {
    let out = Tug::new(&["dry", "tests/fixtures/cli/invalid.yaml"]).run();
    out.assert_code(2);
    assert!(
        out.stderr.contains("invalid.yaml:5:3"),
        "{}",
        out.transcript()
    );
}

#[test]
fn schema_text_and_errors() {
    let out = Tug::new(&["schema", "steps.container"]).run();
    out.assert_code(0);
    snapshot("schema_steps_container", &out.transcript());
    let out = Tug::new(&["schema"]).run();
    out.assert_code(0);
    snapshot("schema_root", &out.transcript());
    let out = Tug::new(&["schema", "steps.contianer"]).run();
    out.assert_code(2);
    snapshot("schema_unknown_path", &out.transcript());
}

#[test]
fn schema_json_is_a_json_schema() {
    let out = Tug::new(&["schema", "--json"]).run();
    out.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let step = &v["properties"]["steps"]["items"];
    assert_eq!(step["type"], "object");
    assert!(step["properties"]["retry_policy"]["properties"]["limit"].is_object());
    let out = Tug::new(&["schema", "container.healthcheck", "--json"]).run();
    out.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["required"], serde_json::json!(["test"]));
}

#[test]
fn every_command_has_help_with_examples() {
    let out = Tug::new(&["--help"]).run();
    out.assert_code(0);
    snapshot("help", &out.transcript());
    for cmd in [
        &["start"][..],
        &["run"],
        &["dry"],
        &["validate"],
        &["status"],
        &["logs"],
        &["history"],
        &["gc"],
        &["engine"],
        &["engine", "info"],
        &["schema"],
        &["completions"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = Tug::new(&args).run();
        out.assert_code(0);
        assert!(
            out.stdout.contains("Examples:\n  tug "),
            "`tug {}` has no examples:\n{}",
            args.join(" "),
            out.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = Tug::new(&["frobnicate"]).run();
    out.assert_code(2);
    assert!(out.stderr.contains("error:"), "{}", out.transcript());
    let out = Tug::new(&["start", "tests/fixtures/cli/ok_host.yaml", "--", "oops"]).run();
    out.assert_code(2);
    snapshot("start_bad_param", &out.transcript());
    let out = Tug::new(&[
        "start",
        "tests/fixtures/cli/ok_host.yaml",
        "--max-active",
        "0",
    ])
    .run();
    out.assert_code(2);
    assert!(out.stderr.contains("(1 or more)"), "{}", out.transcript());
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_tug()"),
        ("zsh", "#compdef tug"),
        ("fish", "complete -c tug"),
        ("elvish", "tug"),
        ("powershell", "tug"),
    ] {
        let out = Tug::new(&["completions", shell]).run();
        out.assert_code(0);
        assert!(
            out.stdout.contains(marker),
            "{shell} completion lacks {marker:?}"
        );
        assert!(out.stdout.contains("history"), "{shell}: no subcommands");
    }
}

#[test]
fn a_failing_run_then_its_status_logs_and_history() {
    let start = Tug::new(&[
        "start",
        "tests/fixtures/cli/fail_host.yaml",
        "--run-id",
        "cli-fail-1",
    ]);
    let data = start.data().to_path_buf();
    let data_s = data.display().to_string();
    let norm = |s: &str| normalize(s, &[(&data_s, "[DATA]"), (&repo(), "[REPO]")]);
    let out = start.run();
    out.assert_code(1);
    snapshot("run_failing", &norm(&out.transcript()));

    let out = Tug::with_data(&data, &["status", "cli-fail-1"]).run();
    out.assert_code(0);
    snapshot("status_failing", &norm(&out.transcript()));

    // A unique prefix, `latest` and the workflow file find the same run.
    for target in [
        "cli-fail",
        "latest",
        "tests/fixtures/cli/fail_host.yaml",
        "fail-host",
    ] {
        let again = Tug::with_data(&data, &["status", target]).run();
        again.assert_code(0);
        assert!(again.stdout.contains("Run       cli-fail-1\n"), "{target}");
    }

    let out = Tug::with_data(&data, &["status", "cli-fail-1", "--json"]).run();
    out.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["run_id"], "cli-fail-1");
    assert_eq!(v["workflow"], "fail-host");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["live"], false);
    assert_eq!(v["steps"][1]["id"], "check");
    assert_eq!(v["steps"][1]["status"], "failed");
    assert_eq!(v["steps"][1]["exit_code"], 3);
    assert!(v["steps"][1]["duration_secs"].is_number());
    assert_eq!(v["steps"][2]["status"], "skipped");
    assert!(v["log_dir"]
        .as_str()
        .unwrap()
        .ends_with("runs/fail-host/cli-fail-1"));

    let out = Tug::with_data(&data, &["logs", "cli-fail-1"]).run();
    out.assert_code(0);
    snapshot("logs_all_steps", &norm(&out.transcript()));

    let out = Tug::with_data(&data, &["logs", "cli-fail-1", "check"]).run();
    out.assert_code(0);
    assert_eq!(out.stdout, "checking\n");
    assert_eq!(
        out.stderr,
        "warning: the answer looks odd\nthe answer is 41, not 42\n"
    );

    let out = Tug::with_data(&data, &["logs", "cli-fail-1", "nope"]).run();
    out.assert_code(2);
    snapshot("logs_unknown_step", &norm(&out.transcript()));

    let out = Tug::with_data(
        &data,
        &[
            "start",
            "tests/fixtures/cli/ok_host.yaml",
            "--run-id",
            "cli-ok-2",
            "--",
            "WHO=tests",
        ],
    )
    .run();
    out.assert_code(0);
    assert!(
        out.stdout.contains("| hello, tests\n"),
        "{}",
        out.transcript()
    );
    assert!(
        out.stdout.contains("| HELLO, TESTS!\n"),
        "{}",
        out.transcript()
    );
    assert!(
        out.stdout.ends_with("Result: succeeded (all 3 steps)\n"),
        "{}",
        out.transcript()
    );

    let out = Tug::with_data(&data, &["history"]).run();
    out.assert_code(0);
    snapshot("history", &norm(&out.transcript()));

    let out = Tug::with_data(
        &data,
        &["history", "tests/fixtures/cli/fail_host.yaml", "--json"],
    )
    .run();
    out.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let runs = v.as_array().expect("a list");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], "cli-fail-1");
    assert_eq!(runs[0]["status"], "failed");
    assert!(runs[0]["duration_secs"].is_number());

    let out = Tug::with_data(&data, &["status", "nope"]).run();
    out.assert_code(1);
    snapshot("status_unknown_run", &norm(&out.transcript()));
}

#[test]
fn history_and_status_without_runs() {
    let t = Tug::new(&["history"]);
    let data = t.data().display().to_string();
    let out = t.run();
    out.assert_code(0);
    assert_eq!(out.stdout, format!("no runs recorded in {data}\n"));
    let out = Tug::new(&["status"]).run();
    out.assert_code(1);
    assert!(out.stderr.starts_with("error: no runs recorded in "));
}

#[test]
fn json_lines_of_events() {
    let out = Tug::new(&[
        "start",
        "tests/fixtures/cli/fail_host.yaml",
        "--run-id",
        "cli-json",
        "--json",
    ])
    .run();
    out.assert_code(1);
    assert_eq!(out.stderr, "", "--json keeps stderr for errors only");
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for e in &events {
        assert!(e["time"].is_string(), "{e}");
        assert_eq!(e["run_id"], "cli-json", "{e}");
    }
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            let mut k = e["event"].as_str().unwrap().to_string();
            if let Some(s) = e["step"].as_str() {
                k.push(':');
                k.push_str(s);
            }
            if let Some(s) = e["status"].as_str() {
                k.push(':');
                k.push_str(s);
            }
            if let Some(s) = e["line"].as_str() {
                k.push(':');
                k.push_str(s);
            }
            k
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "run_started",
            "step:prepare:running",
            "output:prepare:preparing",
            "output:prepare:ready",
            "step:prepare:succeeded",
            "step:check:running",
            "output:check:checking",
            "output:check:warning: the answer looks odd",
            "output:check:the answer is 41, not 42",
            "step:check:failed",
            "step:publish:skipped",
            "run_finished:failed",
        ]
    );
    let first = &events[0];
    assert_eq!(first["workflow"], "fail-host");
    assert_eq!(
        first["steps"],
        serde_json::json!(["prepare", "check", "publish"])
    );
    let check_failed = &events[9];
    assert_eq!(check_failed["exit_code"], 3);
    let stderr_line = &events[7];
    assert_eq!(stderr_line["stream"], "stderr");
    let last = events.last().unwrap();
    assert_eq!(last["exit_code"], 1);
    assert_eq!(last["steps"][1]["id"], "check");
    assert_eq!(last["steps"][1]["exit_code"], 3);
    assert!(last["duration_secs"].is_number());
    assert!(last["log_dir"]
        .as_str()
        .unwrap()
        .ends_with("runs/fail-host/cli-json"));
}

#[test]
fn quiet_hides_step_output_but_not_states() {
    let out = Tug::new(&["start", "tests/fixtures/cli/ok_host.yaml", "--quiet"]).run();
    out.assert_code(0);
    assert!(!out.stdout.contains("hello, world"), "{}", out.transcript());
    assert!(
        out.stdout.contains("greet | started"),
        "{}",
        out.transcript()
    );
    assert!(
        out.stdout.contains("Result: succeeded"),
        "{}",
        out.transcript()
    );
}

#[test]
fn colour_follows_color_and_no_color() {
    let plain = Tug::new(&["start", "tests/fixtures/cli/ok_host.yaml"]).run();
    plain.assert_code(0);
    assert!(!plain.stdout.contains('\x1b'), "no colour into a pipe");
    let forced = Tug::new(&[
        "--color",
        "always",
        "start",
        "tests/fixtures/cli/ok_host.yaml",
    ])
    .run();
    forced.assert_code(0);
    assert!(forced.stdout.contains("\x1b[32m"), "{}", forced.stdout);
    let never = Tug::new(&["--color", "never", "validate", "examples/hello.yaml"]).run();
    assert!(!never.stdout.contains('\x1b'));
    let forced = Tug::new(&["--color=always", "validate", "examples/hello.yaml"])
        .env("NO_COLOR", "1")
        .run();
    assert!(
        forced.stdout.contains('\x1b'),
        "--color always wins over NO_COLOR"
    );
    // Plain lines carry no control characters at all, even from a step that prints them.
    for line in plain.stdout.lines() {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "control character in {line:?}"
        );
    }
}

#[test]
fn engine_unreachable_exits_3() {
    let t = Tug::new(&[
        "start",
        "tests/fixtures/cli/container_step.yaml",
        "--run-id",
        "cli-down",
    ])
    .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let data = t.data().display().to_string();
    let out = t.run();
    out.assert_code(3);
    snapshot(
        "run_engine_unreachable",
        &normalize(&out.transcript(), &[(&data, "[DATA]")]),
    );
}

#[test]
fn start_an_invalid_workflow_exits_2() {
    let out = Tug::new(&["start", "tests/fixtures/cli/invalid.yaml"]).run();
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert!(out
        .stderr
        .contains(" --> tests/fixtures/cli/invalid.yaml:16:20"));
}

#[test]
fn logs_follow_ends_with_the_run() {
    let start = Tug::new(&[
        "start",
        "tests/fixtures/cli/slow_host.yaml",
        "--run-id",
        "cli-follow",
    ]);
    let data = start.data().to_path_buf();
    let mut child = start
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tug");
    let status = data.join("runs/slow-host/cli-follow/status.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !status.exists() {
        assert!(std::time::Instant::now() < deadline, "no run record");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let follow = Tug::with_data(&data, &["logs", "cli-follow", "--follow"]).run();
    // It returned, so the run is over by now.
    let code = child.wait().expect("wait for tug start");
    assert!(code.success());
    follow.assert_code(0);
    assert_eq!(
        follow.stdout,
        "tick | tick 1\ntick | tick 2\ntick | tick 3\ntick | tick 4\ntock | tock\n"
    );
}

/// A failing run with containers pins the same output on both engines.
async fn failing_container_run(engine: tug_tests::Engine, client: engine_api::Client) {
    let run_id = tug_tests::unique("cli-fail-container");
    let t = Tug::new(&[
        "start",
        "tests/fixtures/cli/fail_container.yaml",
        "--run-id",
        &run_id,
    ])
    .envs(&engine.env());
    let data = t.data().display().to_string();
    let out = t.run();
    out.assert_code(1);
    snapshot(
        "run_failing_container",
        &normalize(&out.transcript(), &[(&data, "[DATA]"), (&run_id, "[RUN]")]),
    );
    let left = client
        .list_containers(&engine_api::containers::ListContainers::all(
            engine_api::Filters::new().label(format!("tug.run={run_id}")),
        ))
        .await
        .expect("list containers");
    assert!(left.is_empty(), "containers left: {left:?}");
}

tug_tests::engine_test!(failing_container_run_on_each_engine, |engine, client| {
    failing_container_run(engine, client).await;
});

#[test]
fn registry_auths_from_an_unimported_os_variable_fails_before_the_run_with_its_position() {
    let tug = Tug::new(&["start", "tests/fixtures/cli/registry_auths_os_var.yaml"])
        .env("DOCKER_AUTH_CONFIG", r#"{"auths":{}}"#)
        // No engine is needed: the run must fail before contacting one.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let out = tug.run();
    out.assert_code(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(
            "registry_auths_os_var.yaml:3:17: registry_auths: registry auths: not a JSON document"
        ),
        "{}",
        out.transcript()
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("the value is still `${DOCKER_AUTH_CONFIG}`"),
        "{}",
        out.transcript()
    );
    assert!(out.stdout.contains("skipped"), "{}", out.transcript());
    assert!(!out.stdout.contains("Logs "), "{}", out.transcript());
    // Nothing half-written: no run directory.
    assert!(!tug.data().join("runs").exists(), "{}", out.transcript());
}

#[test]
fn a_misconfigured_engine_environment_is_a_usage_error_not_an_unreachable_engine() {
    let out = Tug::new(&["start", "examples/hello.yaml"])
        .env("DAGU_CONTAINER_RUNTIME", "Podman")
        .run();
    out.assert_code(2);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(
            "invalid container runtime \"Podman\" in DAGU_CONTAINER_RUNTIME (supported: docker, podman)"
        ),
        "{}",
        out.transcript()
    );
}

#[test]
fn a_run_id_is_checked_and_never_reused() {
    let first = Tug::new(&[
        "start",
        "tests/fixtures/cli/ok_host.yaml",
        "--run-id",
        "same-1",
    ]);
    let data = first.data().to_path_buf();
    first.run().assert_code(0);
    let again = Tug::with_data(
        &data,
        &[
            "start",
            "tests/fixtures/cli/ok_host.yaml",
            "--run-id",
            "same-1",
        ],
    )
    .run();
    again.assert_code(2);
    assert!(
        again
            .stderr
            .contains("run id \"same-1\" is already used by the run in"),
        "{}",
        again.transcript()
    );
    // The first run's log is untouched: one run's output, once.
    let logs = Tug::with_data(&data, &["logs", "same-1"]).run();
    logs.assert_code(0);
    for bad in ["../escape", "a/b", "", "latest", ".hidden"] {
        let out = Tug::with_data(
            &data,
            &["start", "tests/fixtures/cli/ok_host.yaml", "--run-id", bad],
        )
        .run();
        out.assert_code(2);
        assert!(
            out.stderr.contains("run id") || out.stderr.contains("latest"),
            "{bad:?}: {}",
            out.transcript()
        );
    }
}

#[test]
fn a_closed_or_full_stdout_ends_reporting_commands_without_a_panic() {
    use std::process::Stdio;
    // The reader goes away before tug writes: `tug schema --json | true`.
    for args in [
        &["schema", "--json"][..],
        &["validate", "examples/hello.yaml"][..],
        &["history", "--json"][..],
        &["dry", "examples/hello.yaml"][..],
    ] {
        let mut cmd = Tug::new(args).command();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tug starts");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("tug ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(out.status.code(), Some(0) | Some(141)),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
    // A full disk: an error message and exit 1.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Tug::new(&["schema", "--json"])
        .command()
        .stdout(full)
        .output()
        .expect("tug runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Waits (20 s at most) until the run record at `status_file` shows its first step running.
fn wait_for_first_step_running(status_file: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v: serde_json::Value = std::fs::read_to_string(status_file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        if v["steps"][0]["status"] == "running" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the step never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn gc_closes_the_record_of_a_run_whose_tug_was_killed() {
    let start = Tug::new(&[
        "start",
        "tests/fixtures/cli/host_sleep.yaml",
        "--run-id",
        "killed-1",
    ]);
    let data = start.data().to_path_buf();
    let mut child = start
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tug starts");
    let status_file = data.join("runs/host_sleep/killed-1/status.json");
    wait_for_first_step_running(&status_file);
    child.kill().expect("kill -9");
    child.wait().unwrap();
    // No engine answers here: the sweep fails (exit 3), the records are closed all the same.
    let gc = Tug::with_data(&data, &["gc"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    gc.assert_code(3);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status_file).unwrap()).unwrap();
    assert_eq!(v["status"], "failed", "{v:#}");
    assert!(v["finished_at"].is_string(), "{v:#}");
    assert_eq!(v["steps"][0]["status"], "failed", "{v:#}");
    assert_eq!(v["steps"][1]["status"], "skipped", "{v:#}");
    let out = Tug::with_data(&data, &["status", "killed-1"]).run();
    assert!(
        out.stdout.contains("Result: failed (1 failed, 1 skipped)"),
        "{}",
        out.transcript()
    );
}

#[test]
fn json_events_end_every_step_also_one_cancelled_before_it_started() {
    let start = Tug::new(&[
        "start",
        "tests/fixtures/cli/host_sleep.yaml",
        "--json",
        "--run-id",
        "json-int-1",
    ]);
    let data = start.data().to_path_buf();
    let child = start
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tug starts");
    let status_file = data.join("runs/host_sleep/json-int-1/status.json");
    wait_for_first_step_running(&status_file);
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    let out = child.wait_with_output().expect("tug ends");
    assert_eq!(out.status.code(), Some(130));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let ended = |id: &str| {
        events
            .iter()
            .find(|e| e["event"] == "step" && e["step"] == id && e["status"] != "running")
            .map(|e| e["status"].clone())
    };
    assert_eq!(
        ended("nap"),
        Some(serde_json::json!("cancelled")),
        "{events:#?}"
    );
    assert_eq!(
        ended("after"),
        Some(serde_json::json!("cancelled")),
        "{events:#?}"
    );
}
