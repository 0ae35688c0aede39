//! `tug start` when things go wrong, on Docker and on Podman: a failing step (its record, its
//! exit code, the tail of its stderr, the steps after it), a container name that is taken, an
//! exec target that does not exist, a missing image with `pull_policy: never`, a wrong registry
//! password; and, without an engine, the exit codes of an invalid workflow and of an engine
//! that does not answer. Every run must leave no container behind.

use std::time::Duration;

use tug_tests::{
    assert_no_run_containers, engine_test, registry, service_container, unique, Cleanup, Engine,
    TugRun, TugStart, WorkflowDir,
};

/// A step that never ran: not started, no exit code, no output.
fn assert_not_run(run: &TugRun, id: &str) {
    let step = run.step(id);
    let status = step["status"].as_str().unwrap_or_default();
    assert!(
        matches!(status, "skipped" | "cancelled" | "pending"),
        "step {id} is {status:?}{}",
        run.context()
    );
    assert!(step["exit_code"].is_null(), "step {id}{}", run.context());
    assert_eq!(run.out(id), "", "step {id}{}", run.context());
}

/// The step's `error`, or "" when it has none.
fn step_error(run: &TugRun, id: &str) -> String {
    run.step(id)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Everything tug said about the run: its stderr, stdout and the whole status.json.
fn everything(run: &TugRun) -> String {
    let status = std::fs::read_to_string(run.run_dir.join("status.json")).unwrap_or_default();
    format!("{}\n{}\n{}", run.stderr, run.stdout, status)
}

engine_test!(failing_step_record_and_dependents, |engine, client| {
    let wf = WorkflowDir::new("run/fail_step.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    run.assert_step_out("ok", "fine\n");

    let boom = run.step("boom");
    assert_eq!(boom["status"], "failed", "{}", run.context());
    assert_eq!(boom["exit_code"], 7, "{}", run.context());
    let error = step_error(&run, "boom");
    assert!(
        error.contains('7') && error.contains("disk on fire"),
        "the error shows the exit code and the tail of stderr: {error:?}{}",
        run.context()
    );
    assert_eq!(run.out("boom"), "to-stdout\n", "{}", run.context());
    assert_eq!(
        run.err("boom"),
        "first-err-line\ndisk on fire\n",
        "{}",
        run.context()
    );
    assert_not_run(&run, "after");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(failing_exec_in_the_dag_container, |engine, client| {
    let wf = WorkflowDir::new("run/fail_dag_container.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    let boom = run.step("boom");
    assert_eq!(boom["status"], "failed", "{}", run.context());
    assert_eq!(boom["exit_code"], 4, "{}", run.context());
    let error = step_error(&run, "boom");
    assert!(
        error.contains('4') && error.contains("exec on fire"),
        "{error:?}{}",
        run.context()
    );
    assert_eq!(
        run.err("boom"),
        "exec-err-line\nexec on fire\n",
        "{}",
        run.context()
    );
    assert_not_run(&run, "after");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(step_container_name_already_taken, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let name = unique("tug-taken");
    // Created, never started: "running or stopped" both count.
    let existing = service_container(&client, &cleanup, &name, false, |_| {}).await;
    let wf = WorkflowDir::new("run/name_exists_step.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("NAME", &name)
        .run()
        .await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    assert_eq!(run.step_status("named"), "failed", "{}", run.context());
    assert!(
        step_error(&run, "named").contains(&name),
        "the error names the container{}",
        run.context()
    );
    assert_eq!(run.out("named"), "", "{}", run.context());
    // tug leaves the container it did not create alone.
    let inspect = client
        .inspect_container(&name)
        .await
        .unwrap_or_else(|e| panic!("the existing container was removed: {e}{}", run.context()));
    assert_eq!(inspect.id, existing);
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(dag_container_name_already_taken, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let name = unique("tug-taken");
    let existing = service_container(&client, &cleanup, &name, true, |_| {}).await;
    let wf = WorkflowDir::new("run/name_exists_dag.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("NAME", &name)
        .run()
        .await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    assert!(
        everything(&run).contains(&name),
        "the error names the container{}",
        run.context()
    );
    assert_ne!(run.step_status("first"), "succeeded", "{}", run.context());
    assert_eq!(run.out("first"), "", "{}", run.context());
    let inspect = client
        .inspect_container(&name)
        .await
        .unwrap_or_else(|e| panic!("the existing container was removed: {e}{}", run.context()));
    assert_eq!(inspect.id, existing);
    assert!(inspect.state.running, "it was stopped{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(exec_into_a_missing_container, |engine, client| {
    // The default wait is 120 s; the step's timeout_sec (3 s) bounds it. If it does not, the
    // run is killed after 20 s and the test fails.
    let name = unique("tug-no-such-container");
    let wf = WorkflowDir::new("run/exec_missing.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("APP", &name)
        .spawn()
        .finish(Duration::from_secs(20))
        .await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    assert_eq!(run.step_status("migrate"), "failed", "{}", run.context());
    assert!(
        everything(&run).contains(&name),
        "tug names the container it waited for{}",
        run.context()
    );
    assert_eq!(run.out("migrate"), "", "{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(
    exec_wait_ends_with_the_missing_containers_status,
    |engine, client| {
        // TUG_EXEC_WAIT_SEC shortens the 120 s wait (a knob of the CLI, not of the workflow).
        let name = unique("tug-no-such-container");
        let wf = WorkflowDir::new("run/exec_not_running.yaml");
        let run = TugStart::new(engine, wf.file())
            .param("APP", &name)
            .env("TUG_EXEC_WAIT_SEC", "2")
            .spawn()
            .finish(Duration::from_secs(20))
            .await;
        run.assert_code(1);
        assert_eq!(run.step_status("migrate"), "failed", "{}", run.context());
        let error = step_error(&run, "migrate");
        assert!(
            error.contains(&name) && error.contains("not found"),
            "the error names the container and its status: {error:?}{}",
            run.context()
        );
        assert_no_run_containers(&client, &run.run_id).await;
    }
);

engine_test!(
    exec_wait_ends_with_the_exited_containers_status,
    |engine, client| {
        let cleanup = Cleanup::new(&client);
        let name = unique("tug-exited");
        let id = service_container(&client, &cleanup, &name, true, |c| {
            c.config.cmd = Some(vec!["sh".into(), "-c".into(), "exit 5".into()]);
        })
        .await;
        client
            .wait_container(&id, engine_api::containers::WaitCondition::NotRunning)
            .await
            .expect("wait for the exit");
        let wf = WorkflowDir::new("run/exec_not_running.yaml");
        let run = TugStart::new(engine, wf.file())
            .param("APP", &name)
            .env("TUG_EXEC_WAIT_SEC", "2")
            .spawn()
            .finish(Duration::from_secs(20))
            .await;
        run.assert_code(1);
        assert_eq!(run.step_status("migrate"), "failed", "{}", run.context());
        let error = step_error(&run, "migrate");
        assert!(
            error.contains(&name) && error.contains("exited") && error.contains('5'),
            "the error names the container and its status (exited, code 5): {error:?}{}",
            run.context()
        );
        // Never started, stopped or removed by tug.
        let inspect = client.inspect_container(&name).await.expect("still exists");
        assert!(!inspect.state.running);
        assert_eq!(inspect.state.exit_code, 5);
        assert_no_run_containers(&client, &run.run_id).await;
        cleanup.run().await;
    }
);

engine_test!(pull_policy_never_with_a_missing_image, |engine, client| {
    let wf = WorkflowDir::new("run/pull_never_missing.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    assert_eq!(
        run.step_status("needs_image"),
        "failed",
        "{}",
        run.context()
    );
    let error = step_error(&run, "needs_image");
    assert!(
        error.contains("tug-test-absent-image"),
        "the error names the image: {error:?}{}",
        run.context()
    );
    assert!(
        client
            .image_exists("tug-test-absent-image:never")
            .await
            .map(|e| !e)
            .unwrap_or(true),
        "pull_policy never pulled"
    );
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(
    pull_policy_never_with_the_image_for_another_platform,
    |engine, client| {
        let wf = WorkflowDir::new("run/pull_never_other_platform.yaml");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_code(1);
        let error = step_error(&run, "needs_arm");
        assert!(
            error.contains("image tug-busybox:latest is present")
                && error.contains("for linux/amd64, not for the platform linux/arm64"),
            "the error names both platforms: {error:?}{}",
            run.context()
        );
        assert_no_run_containers(&client, &run.run_id).await;
    }
);

engine_test!(registry_auths_wrong_password, |engine, client| {
    let (host, user, _) = registry();
    let wf = WorkflowDir::new("run/registry.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("REGISTRY_USER", &user)
        .param("REGISTRY_PASSWORD", "not-the-password")
        .run()
        .await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    let all = everything(&run);
    assert!(
        all.contains(&host),
        "the error names the registry {host}{}",
        run.context()
    );
    let lower = all.to_lowercase();
    assert!(
        lower.contains("auth") || lower.contains("credential"),
        "the error says authentication failed{}",
        run.context()
    );
    for id in run.step_ids() {
        assert_ne!(run.step_status(&id), "succeeded", "{}", run.context());
        assert_eq!(run.out(&id), "", "{}", run.context());
    }
    assert_no_run_containers(&client, &run.run_id).await;
});

/// Exit-code tests that need the binary but no engine.
mod without_an_engine {
    use super::*;

    #[tokio::test]
    #[ignore = "needs engines: run scripts/test"]
    async fn invalid_workflow_exits_2() {
        let wf = WorkflowDir::new("run/fail_step.yaml");
        std::fs::write(
            wf.file(),
            "steps:\n  - id: a\n    run: echo a\n    depends: no_such_step\n",
        )
        .unwrap();
        let run = TugStart::new(Engine::Docker, wf.file()).run().await;
        run.assert_code(2);
        assert!(run.stderr.contains("no_such_step"), "{}", run.context());
    }

    #[tokio::test]
    #[ignore = "needs engines: run scripts/test"]
    async fn missing_workflow_file_exits_2() {
        let dir = tempfile::tempdir().unwrap();
        let run = TugStart::new(Engine::Docker, &dir.path().join("absent.yaml"))
            .run()
            .await;
        run.assert_code(2);
    }

    #[tokio::test]
    #[ignore = "needs engines: run scripts/test"]
    async fn unreachable_engine_exits_3() {
        let wf = WorkflowDir::new("run/fail_step.yaml");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("no-engine.sock");
        let run = TugStart::new(Engine::Docker, wf.file())
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .run()
            .await;
        run.assert_code(3);
    }
}
