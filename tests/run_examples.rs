//! `tug start` runs every example of the seeds' docker-containers.md — images replaced by the
//! local test image, Python/Go/Node/PHP/Postgres commands by busybox commands that use the same
//! fields — on Docker and on Podman. Each test observes the effect of the fields it covers
//! (files written through bind mounts, `id -u`, `pwd`, env values, a port reached from the host,
//! outputs passed between steps) in the steps' log files and the run record, and checks that no
//! container of the run is left behind.
//!
//! The workflows are in `tests/fixtures/run/`; each test copies its workflow into a directory
//! of its own and runs `tug` with a data directory of its own.

use std::time::Duration;

use engine_api::images::BuildOptions;
use tug_tests::{
    assert_no_run_containers, engine_test, registry, run_containers, service_container, tar_of,
    test_image, unique, Cleanup, TugStart, WorkflowDir,
};

engine_test!(dag_level_image_mode_with_volumes, |engine, client| {
    let wf = WorkflowDir::new("run/dag_image_volumes.yaml");
    wf.dir("data");
    wf.write("data/input.csv", "id,value\n1,a\n2,b\n");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    run.assert_step_out("install", "");
    run.assert_step_out("process", "installed with PYTHONPATH=/app\n3\n");
    assert_eq!(
        wf.read("data/output.txt").as_deref(),
        Some("installed with PYTHONPATH=/app\nid,value\n1,a\n2,b\n"),
        "file written through the bind mount{}",
        run.context()
    );

    // The record's shape, as the contract gives it.
    let status = run.status();
    assert_eq!(status["run_id"], run.run_id.as_str(), "{}", run.context());
    assert_eq!(status["workflow"], "dag_image_volumes", "{}", run.context());
    assert!(status["pid"].is_u64(), "pid{}", run.context());
    for key in ["started_at", "finished_at"] {
        assert!(status[key].is_string(), "{key}{}", run.context());
    }
    for id in ["install", "process"] {
        let step = run.step(id);
        assert_eq!(step["exit_code"], 0, "{id}{}", run.context());
        assert!(step["error"].is_null(), "{id}{}", run.context());
        assert!(step["name"].is_string(), "{id}{}", run.context());
        for key in ["started_at", "finished_at"] {
            assert!(step[key].is_string(), "{id}.{key}{}", run.context());
        }
    }
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(exec_mode_string_form, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let app = unique("tug-app");
    service_container(&client, &cleanup, &app, true, |c| {
        c.config.working_dir = Some("/srv".into());
    })
    .await;
    let wf = WorkflowDir::new("run/exec_string.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("APP", &app)
        .run()
        .await;
    run.assert_succeeded();
    // The container's own working directory and user.
    run.assert_step_out("migrate", "/srv\n0\n");
    // Two steps share the container's filesystem.
    run.assert_step_out("clear_cache", "migrated\n");
    // tug never stops or removes a container it did not create.
    let inspect = client
        .inspect_container(&app)
        .await
        .expect("the exec target still exists");
    assert!(inspect.state.running, "{app} was stopped{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(exec_mode_object_form_with_overrides, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let app = unique("tug-app");
    service_container(&client, &cleanup, &app, true, |c| {
        c.config.user = Some("1000".into());
        c.config.working_dir = Some("/var/www/html".into());
        c.config.env = vec!["BASE=from-container".into()];
    })
    .await;
    let wf = WorkflowDir::new("run/exec_object.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("APP", &app)
        .run()
        .await;
    run.assert_succeeded();
    // user root, working_dir /var/www and env override the container's uid 1000, its working
    // directory and add to its env.
    run.assert_step_out(
        "install",
        "/var/www\n0\nAPP_DEBUG=true\nBASE=from-container\n",
    );
    run.assert_step_out("optimize", "html\ninstalled\n");
    let inspect = client.inspect_container(&app).await.expect("still exists");
    assert!(inspect.state.running, "{app} was stopped{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(step_level_exec_mode, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let db = unique("tug-db");
    let app = unique("tug-app");
    service_container(&client, &cleanup, &db, true, |_| {}).await;
    service_container(&client, &cleanup, &app, true, |c| {
        c.config.user = Some("1000".into());
    })
    .await;
    let wf = WorkflowDir::new("run/step_exec.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("DB", &db)
        .param("APP", &app)
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out("run_migration", "SELECT 1\n0\n");
    // `user: root` overrides the container's uid 1000: chown worked.
    run.assert_step_out("admin_task", "1000\n0\n");
    for name in [&db, &app] {
        let inspect = client.inspect_container(name).await.expect("still exists");
        assert!(inspect.state.running, "{name} was stopped{}", run.context());
    }
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(step_level_image_mode, |engine, client| {
    let wf = WorkflowDir::new("run/step_image.yaml");
    wf.dir("src");
    wf.write("src/main.txt", "package main\n");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    run.assert_step_out("build", "/app\n");
    // A fresh container per step, sharing only the bind mount.
    run.assert_step_out("test", "package main\nfresh-container\n");
    assert_eq!(
        wf.read("src/bin/myapp").as_deref(),
        Some("package main\n"),
        "{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(mixed_exec_and_image_modes, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let app = unique("tug-app");
    service_container(&client, &cleanup, &app, true, |_| {}).await;
    let wf = WorkflowDir::new("run/mixed.yaml");
    wf.dir("migrations");
    wf.write("migrations/001.sql", "create table t (id int);\n");
    let run = TugStart::new(engine, wf.file())
        .param("APP", &app)
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out("prepare_app", "");
    run.assert_step_out("migrate", "fresh-container\n");
    run.assert_step_out("restart_app", "down\n");
    let applied = wf.read("migrations/applied.txt").unwrap_or_default();
    assert!(
        applied.lines().any(|l| l == "001.sql"),
        "applied.txt: {applied:?}{}",
        run.context()
    );
    let inspect = client.inspect_container(&app).await.expect("still exists");
    assert!(inspect.state.running, "{app} was stopped{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

/// Builds an image whose ENTRYPOINT serves `/www/index.html` with busybox httpd on port 80
/// after a one-second delay (an nginx stand-in), tagged `tag` and removed by `cleanup`.
async fn build_httpd_image(client: &engine_api::Client, cleanup: &Cleanup, tag: &str) {
    let dockerfile = format!(
        "FROM {}\nCOPY www /www\n\
         ENTRYPOINT [\"sh\", \"-c\", \"sleep 1; exec httpd -f -p 80 -h /www\"]\n",
        test_image()
    );
    let context = tar_of(&[
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("www/index.html", b"served-by-entrypoint\n", 0o644),
    ]);
    cleanup.image(tag);
    client
        .build_image(std::io::Cursor::new(context), &BuildOptions::tagged(tag))
        .await
        .expect("build the httpd image")
        .finish()
        .await
        .expect("build the httpd image");
}

engine_test!(startup_entrypoint_waits_for_healthy, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let image = format!("{}:latest", unique("tug-test-httpd"));
    build_httpd_image(&client, &cleanup, &image).await;
    let wf = WorkflowDir::new("run/startup_entrypoint_healthy.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("IMAGE", &image)
        .run()
        .await;
    run.assert_succeeded();
    let ids = run.step_ids();
    assert_eq!(ids.len(), 1, "{}", run.context());
    // The image's entrypoint runs (it serves the page) and the step only ran once healthy.
    run.assert_step_out(&ids[0], "served-by-entrypoint\n");
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(startup_command, |engine, client| {
    let wf = WorkflowDir::new("run/startup_command.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    let ids = run.step_ids();
    assert_eq!(ids.len(), 1, "{}", run.context());
    run.assert_step_out(
        &ids[0],
        "container running with custom command\nstarted-by-command\n",
    );
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(log_pattern_waits_for_the_line, |engine, client| {
    let wf = WorkflowDir::new("run/log_pattern.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    let ids = run.step_ids();
    assert_eq!(ids.len(), 1, "{}", run.context());
    run.assert_step_out(&ids[0], "accepting\npassword=secret\n");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(docker_run_action_with_fields, |engine, client| {
    let wf = WorkflowDir::new("run/docker_run.yaml");
    wf.dir("host");
    wf.write("host/in.txt", "input-for-docker-run\n");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    run.assert_step_out("run_in_docker", "/app\ninput-for-docker-run\n");
    assert_eq!(
        wf.read("host/out.txt").as_deref(),
        Some("written-by-docker-run\n"),
        "{}",
        run.context()
    );
    // host: {Memory: 536870912} reached the container's memory cgroup.
    run.assert_step_out("with_resource_limits", "limited resources\n536870912\n");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(docker_run_exec_options_reach_the_exec, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let app = unique("tug-exec-opts");
    service_container(&client, &cleanup, &app, true, |c| {
        c.config.working_dir = Some("/srv".into());
    })
    .await;
    let wf = WorkflowDir::new("run/docker_run_exec.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("APP", &app)
        .run()
        .await;
    // WorkingDir, User (any case) and Env from `exec:` (was: only User and Env).
    run.assert_step_out("dir_user_env", "/tmp\n1000\nyes\n");
    // Privileged: the exec holds more capabilities than a plain one in the same container —
    // or, where the host cannot grant them (this rig's Docker lacks one capability, and
    // `docker exec --privileged` fails the same way), the runtime refuses to apply them.
    let plain = run.out("plain");
    assert!(plain.starts_with("CapEff:"), "{plain}{}", run.context());
    match run.step_status("privileged").as_str() {
        "succeeded" => {
            let privileged = run.out("privileged");
            assert!(
                privileged.starts_with("CapEff:"),
                "{privileged}{}",
                run.context()
            );
            assert_ne!(
                plain,
                privileged,
                "Privileged made no difference{}",
                run.context()
            );
        }
        _ => {
            let err = run.err("privileged") + &run.out("privileged");
            assert!(err.contains("apply caps"), "{err:?}{}", run.context());
        }
    }
    assert_eq!(run.step_status("plain"), "succeeded", "{}", run.context());
    assert_eq!(run.step_status("tty"), "succeeded", "{}", run.context());
    // Tty: the command runs on a terminal and its raw output still arrives.
    let tty = run.out("tty");
    assert!(tty.starts_with("/dev/pts/"), "{tty:?}{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(variable_expansion_in_container_fields, |engine, client| {
    let wf = WorkflowDir::new("run/variables.yaml");
    wf.dir("release");
    wf.write("release/alpine-release", "3.18\n");
    let host_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        host_dir.path().join("from-os-env.txt"),
        "mounted through an OS variable\n",
    )
    .unwrap();
    let run = TugStart::new(engine, wf.file())
        .env("TUG_TEST_API_KEY", "key-from-the-os")
        .env("TUG_TEST_HOST_DIR", host_dir.path().to_string_lossy())
        .run()
        .await;
    run.assert_succeeded();
    let ids = run.step_ids();
    assert_eq!(ids.len(), 1, "{}", run.context());
    run.assert_step_out(
        &ids[0],
        "3.18\ntag=latest key=key-from-the-os\nmounted through an OS variable\n",
    );
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(
    output_captured_and_passed_to_a_later_step,
    |engine, client| {
        let wf = WorkflowDir::new("run/outputs.yaml");
        // Also covers the `tug run` alias.
        let run = TugStart::new(engine, wf.file()).via_run_alias().run().await;
        run.assert_succeeded();
        assert_eq!(
            run.step_status("get_version"),
            "succeeded",
            "{}",
            run.context()
        );
        run.assert_step_out("use_version", "version=[3.18.4]\n");
        assert_no_run_containers(&client, &run.run_id).await;
    }
);

engine_test!(stdout_artifact, |engine, client| {
    let wf = WorkflowDir::new("run/artifact.yaml");
    wf.dir("data");
    wf.write(
        "data/archive.tar",
        tar_of(&[("a.txt", b"a\n", 0o644), ("dir/b.txt", b"b\n", 0o644)]),
    );
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    let listing = std::fs::read_to_string(run.artifact("reports/archive-listing.txt"))
        .unwrap_or_else(|e| panic!("artifact: {e}{}", run.context()));
    assert_eq!(listing, "dir/\na.txt\ndir/b.txt\n", "{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(
    multiple_run_commands_share_one_container,
    |engine, client| {
        let wf = WorkflowDir::new("run/multi_run.yaml");
        wf.dir("src");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_succeeded();
        run.assert_step_out("build_and_test", "node_modules-installed\n");
        assert_eq!(
            wf.read("src/build.txt").as_deref(),
            Some("node_modules-installed\n"),
            "{}",
            run.context()
        );
        assert_no_run_containers(&client, &run.run_id).await;
    }
);

engine_test!(
    multiple_run_commands_stop_at_the_first_failure,
    |engine, client| {
        let wf = WorkflowDir::new("run/multi_run_fails.yaml");
        wf.dir("src");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_code(1);
        assert_eq!(run.run_status(), "failed", "{}", run.context());
        let step = run.step("build_and_test");
        assert_eq!(step["status"], "failed", "{}", run.context());
        assert_eq!(step["exit_code"], 3, "{}", run.context());
        let error = step["error"].as_str().unwrap_or_default();
        assert!(error.contains("second-fails"), "{}", run.context());
        assert_eq!(run.out("build_and_test"), "first\n", "{}", run.context());
        assert!(run.err("build_and_test").contains("second-fails"));
        assert_eq!(wf.read("src/third.txt"), None, "the third command ran");
        assert_not_run(&run, "deploy");
        assert_eq!(wf.read("src/deployed.txt"), None, "the dependent step ran");
        assert_no_run_containers(&client, &run.run_id).await;
    }
);

/// A step that never ran: not started, no exit code, no output.
fn assert_not_run(run: &tug_tests::TugRun, id: &str) {
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

engine_test!(keep_container_keeps_the_dag_container, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let name = unique("tug-kept");
    cleanup.container(&name);
    let wf = WorkflowDir::new("run/keep_container.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("NAME", &name)
        .run()
        .await;
    run.assert_succeeded();
    let left = run_containers(&client, &run.run_id).await;
    assert_eq!(left.len(), 1, "{left:#?}{}", run.context());
    let kept = client
        .inspect_container(&name)
        .await
        .unwrap_or_else(|e| panic!("kept container {name}: {e}{}", run.context()));
    assert_eq!(left[0].id, kept.id);
    let labels = &kept.config.labels;
    assert_eq!(labels.get("tug.run"), Some(&run.run_id));
    assert_eq!(
        labels.get("tug.workflow").map(String::as_str),
        Some("keep_container")
    );
    assert!(
        labels
            .get("tug.step")
            .map(String::as_str)
            .unwrap_or("")
            .is_empty(),
        "the DAG-level container has no step label: {labels:?}"
    );
    assert!(
        kept.config
            .env
            .iter()
            .any(|e| e == "POSTGRES_PASSWORD=secret"),
        "{:?}",
        kept.config.env
    );
    cleanup.run().await;
});

engine_test!(
    step_container_overrides_the_dag_container,
    |engine, client| {
        let wf = WorkflowDir::new("run/override.yaml");
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_succeeded();
        run.assert_step_out("install", "/app\n");
        run.assert_step_out("deploy", "/\n/secrets/gcp.json\nown-container\n");
        assert_no_run_containers(&client, &run.run_id).await;
    }
);

engine_test!(registry_auths_pull_with_credentials, |engine, client| {
    let (_, user, password) = registry();
    let wf = WorkflowDir::new("run/registry.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("REGISTRY_USER", &user)
        .param("REGISTRY_PASSWORD", &password)
        .run()
        .await;
    run.assert_succeeded();
    let ids = run.step_ids();
    assert_eq!(ids.len(), 1, "{}", run.context());
    run.assert_step_out(&ids[0], "pulled-and-running\n0\n");
    assert_no_run_containers(&client, &run.run_id).await;
});

async fn http_get(addr: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

engine_test!(published_port_reached_from_the_host, |engine, client| {
    let wf = WorkflowDir::new("run/ports.yaml");
    wf.dir("www");
    wf.write("www/index.html", "served-on-a-published-port\n");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut tug = TugStart::new(engine, wf.file())
        .param("PORT", port.to_string())
        .spawn();
    tug.wait_until(
        "an answer on the published port",
        Duration::from_secs(60),
        || {
            let addr = addr.clone();
            async move {
                http_get(&addr)
                    .await
                    .is_some_and(|b| b.contains("served-on-a-published-port"))
            }
        },
    )
    .await;
    wf.write("www/done", "");
    let run = tug.finish(tug_tests::TUG_RUN_LIMIT).await;
    run.assert_succeeded();
    run.assert_step_out("serve", "done-seen\n");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(image_mode_object_form_fields, |engine, client| {
    let wf = WorkflowDir::new("run/image_fields.yaml");
    wf.dir("data");
    wf.dir("readonly");
    let name = unique("tug-my-container");
    let run = TugStart::new(engine, wf.file())
        .param("NAME", &name)
        .env("TUG_TEST_API_KEY", "k-123")
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out(
        "observe",
        "1000\n1000\n/app\nMY_VAR=value API_KEY=k-123\nro-mount-readonly\n",
    );
    assert_eq!(
        wf.read("data/by-user.txt").as_deref(),
        Some("written by 1000\n"),
        "{}",
        run.context()
    );
    assert_eq!(
        wf.read("readonly/x"),
        None,
        "wrote through a read-only mount"
    );
    assert!(
        client
            .inspect_container(&name)
            .await
            .is_err_and(|e| e.is_not_found()),
        "the named container is removed after the run"
    );
    assert_no_run_containers(&client, &run.run_id).await;
});
