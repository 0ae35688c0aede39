//! Container and exec behaviour against real engines: one suite, run on Docker and on Podman.

use std::collections::BTreeMap;
use std::time::Duration;

use engine_api::containers::{
    ContainerCreate, HealthConfig, HealthStatus, ListContainers, PortBinding, RemoveOptions,
    StopOptions, WaitCondition,
};
use engine_api::containers_io::{AttachOptions, LogsOptions};
use engine_api::exec::ExecCreate;
use engine_api::networks::NetworkCreate;
use engine_api::stream::StreamKind;
use engine_api::volumes::VolumeCreate;
use engine_api::{Client, Filters};
use tug_tests::{engine_test, test_image, unique, Cleanup, Engine};

fn busybox(cmd: &[&str]) -> ContainerCreate {
    let mut c = ContainerCreate::new(test_image());
    c.config.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
    c.config
        .labels
        .insert("tug.test".into(), std::process::id().to_string());
    c
}

async fn create(client: &Client, cleanup: &Cleanup, c: &ContainerCreate) -> String {
    let created = client.create_container(c).await.expect("create");
    cleanup.container(&created.id);
    created.id
}

/// Checks `data` is exactly `total` bytes of `pattern` repeated.
fn assert_pattern(data: &[u8], pattern: &[u8], total: usize, what: &str) {
    assert_eq!(data.len(), total, "{what}: byte count");
    for (i, chunk) in data.chunks(pattern.len()).enumerate() {
        assert_eq!(
            chunk,
            &pattern[..chunk.len()],
            "{what}: content differs at byte {}",
            i * pattern.len()
        );
    }
}

const TEN_MIB: usize = 10 * 1024 * 1024;

engine_test!(
    ten_mib_of_interleaved_stdout_and_stderr,
    |_engine, client| {
        let cleanup = Cleanup::new(&client);
        let script = format!(
            "yes OUT-0123456789-abcdefghijklmnopqrstuvwxyz-OUT | head -c {TEN_MIB} & \
         yes ERR-zyxwvutsrqponmlkjihgfedcba-9876543210-ERR | head -c {TEN_MIB} >&2; wait"
        );
        let id = create(&client, &cleanup, &busybox(&["sh", "-c", &script])).await;
        client.start_container(&id).await.expect("start");
        let exit = client
            .wait_container(&id, WaitCondition::NotRunning)
            .await
            .expect("wait");
        assert_eq!(exit.status_code, 0);

        let mut logs = client
            .container_logs(&id, &LogsOptions::default())
            .await
            .expect("logs");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(chunk) = logs.next_chunk().await.expect("log stream") {
            match chunk.stream {
                StreamKind::Stdout => out.extend_from_slice(&chunk.data),
                StreamKind::Stderr => err.extend_from_slice(&chunk.data),
                StreamKind::Stdin => panic!("stdin frame in logs"),
            }
        }
        assert_pattern(
            &out,
            b"OUT-0123456789-abcdefghijklmnopqrstuvwxyz-OUT\n",
            TEN_MIB,
            "stdout",
        );
        assert_pattern(
            &err,
            b"ERR-zyxwvutsrqponmlkjihgfedcba-9876543210-ERR\n",
            TEN_MIB,
            "stderr",
        );
        cleanup.run().await;
    }
);

engine_test!(follow_logs_of_a_running_container, |_engine, client| {
    let cleanup = Cleanup::new(&client);
    let id = create(
        &client,
        &cleanup,
        &busybox(&[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done; echo bye >&2",
        ]),
    )
    .await;
    client.start_container(&id).await.unwrap();
    let mut logs = client
        .container_logs(&id, &LogsOptions::follow())
        .await
        .expect("logs");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = logs.next_chunk().await.expect("stream") {
        match chunk.stream {
            StreamKind::Stdout => out.extend_from_slice(&chunk.data),
            _ => err.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&out),
        "line1\nline2\nline3\nline4\nline5\n"
    );
    assert_eq!(String::from_utf8_lossy(&err), "bye\n");
    cleanup.run().await;
});

/// Checks `data` is `lines` numbered 60-byte lines (`tag`, then the number zero-padded).
fn assert_numbered_lines(data: &[u8], tag: char, lines: usize, what: &str) {
    assert_eq!(data.len(), lines * 60, "{what}: byte count");
    for (i, line) in data.chunks(60).enumerate() {
        let want = format!("{tag}{i:058}\n");
        assert_eq!(
            line,
            want.as_bytes(),
            "{what}: line {i} differs (a byte lost, repeated or reordered)"
        );
    }
}

// Podman 4.3's own `follow=1` skips ranges of the log under fast output and stops once the
// container exits (here it delivered 26 of 71 MB): `container_logs` must deliver every byte
// once, in order per stream, while the container writes, pauses and writes again.
engine_test!(
    follow_delivers_every_byte_of_a_fast_writer,
    |_engine, client| {
        const OUT_LINES: usize = 400_000; // 24 MB
        const ERR_LINES: usize = 50_000; // 3 MB
        let cleanup = Cleanup::new(&client);
        let lines = |tag: char, from: usize, to: usize| {
            format!("awk 'BEGIN {{ for (i = {from}; i < {to}; i++) printf \"{tag}%058d\\n\", i }}'")
        };
        let half = OUT_LINES / 2;
        let script = format!(
            "{{ {}; sleep 1; {}; }} & {} >&2; wait",
            lines('o', 0, half),
            lines('o', half, OUT_LINES),
            lines('e', 0, ERR_LINES)
        );
        let id = create(&client, &cleanup, &busybox(&["sh", "-c", &script])).await;
        client.start_container(&id).await.expect("start");
        let opts = LogsOptions {
            tty: Some(false),
            ..LogsOptions::follow()
        };
        let mut logs = client.container_logs(&id, &opts).await.expect("logs");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(chunk) = logs.next_chunk_ref().await.expect("stream") {
            match chunk.stream {
                StreamKind::Stdout => out.extend_from_slice(chunk.data),
                _ => err.extend_from_slice(chunk.data),
            }
        }
        assert_numbered_lines(&out, 'o', OUT_LINES, "stdout");
        assert_numbered_lines(&err, 'e', ERR_LINES, "stderr");
        cleanup.run().await;
    }
);

engine_test!(
    tty_output_is_raw_even_when_it_starts_with_frame_type_bytes,
    |_engine, client| {
        let cleanup = Cleanup::new(&client);
        let mut c = busybox(&["sh", "-c", r"printf '\001\002\000raw-no-newline'"]);
        c.config.tty = true;
        let id = create(&client, &cleanup, &c).await;
        client.start_container(&id).await.unwrap();
        client
            .wait_container(&id, WaitCondition::NotRunning)
            .await
            .unwrap();
        let mut logs = client
            .container_logs(&id, &LogsOptions::default())
            .await
            .unwrap();
        let mut all = Vec::new();
        while let Some(chunk) = logs.next_chunk().await.expect("raw stream") {
            assert_eq!(chunk.stream, StreamKind::Stdout, "raw output is stdout");
            all.extend_from_slice(&chunk.data);
        }
        assert_eq!(
            all,
            b"\x01\x02\x00raw-no-newline",
            "{:?}",
            String::from_utf8_lossy(&all)
        );
        cleanup.run().await;
    }
);

engine_test!(
    exec_with_stdin_round_trip_and_exit_codes,
    |_engine, client| {
        let cleanup = Cleanup::new(&client);
        let id = create(&client, &cleanup, &busybox(&["sleep", "300"])).await;
        client.start_container(&id).await.unwrap();

        let exec = client
            .create_exec(
                &id,
                &ExecCreate::new(["sh", "-c", "cat; echo done >&2"]).with_stdin(),
            )
            .await
            .expect("exec create");
        let mut attached = client.start_exec(&exec, false).await.expect("exec start");
        attached
            .write_stdin(b"hello through stdin\n")
            .await
            .unwrap();
        attached.close_stdin().await.unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(chunk) = attached.next_chunk().await.expect("exec output") {
            match chunk.stream {
                StreamKind::Stdout => out.extend_from_slice(&chunk.data),
                _ => err.extend_from_slice(&chunk.data),
            }
        }
        assert_eq!(out, b"hello through stdin\n");
        assert_eq!(err, b"done\n");
        let inspect = client.inspect_exec(&exec).await.unwrap();
        assert!(!inspect.running);
        assert_eq!(inspect.exit_code, Some(0));

        let exec = client
            .create_exec(&id, &ExecCreate::new(["sh", "-c", "exit 7"]))
            .await
            .unwrap();
        let mut attached = client.start_exec(&exec, false).await.unwrap();
        while attached.next_chunk().await.unwrap().is_some() {}
        assert_eq!(client.wait_exec(&exec).await.expect("exit code"), 7);

        let mut with_env = ExecCreate::new(["sh", "-c", "echo $GREETING; pwd; id -u"]);
        with_env.env = vec!["GREETING=hi-from-exec".into()];
        with_env.working_dir = Some("/tmp".into());
        with_env.user = Some("1000".into());
        let exec = client.create_exec(&id, &with_env).await.unwrap();
        let mut attached = client.start_exec(&exec, false).await.unwrap();
        let mut out = Vec::new();
        while let Some(c) = attached.next_chunk().await.unwrap() {
            out.extend_from_slice(&c.data);
        }
        assert_eq!(String::from_utf8_lossy(&out), "hi-from-exec\n/tmp\n1000\n");
        cleanup.run().await;
    }
);

engine_test!(attach_stdin_and_stdout, |_engine, client| {
    let cleanup = Cleanup::new(&client);
    let mut c = busybox(&["sh", "-c", "read line; echo got:$line; echo err:$line >&2"]);
    c.config.open_stdin = true;
    c.config.stdin_once = true;
    c.config.attach_stdin = true;
    c.config.attach_stdout = true;
    c.config.attach_stderr = true;
    let id = create(&client, &cleanup, &c).await;
    let mut attached = client
        .attach_container(
            &id,
            &AttachOptions {
                stdin: true,
                tty: Some(false),
                ..AttachOptions::default()
            },
        )
        .await
        .expect("attach");
    client.start_container(&id).await.unwrap();
    attached.write_stdin(b"ping\n").await.unwrap();
    attached.close_stdin().await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = attached.next_chunk().await.expect("attach output") {
        match chunk.stream {
            StreamKind::Stdout => out.extend_from_slice(&chunk.data),
            _ => err.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(out, b"got:ping\n");
    assert_eq!(err, b"err:ping\n");
    let exit = client
        .wait_container(&id, WaitCondition::NotRunning)
        .await
        .unwrap();
    assert_eq!(exit.status_code, 0);
    cleanup.run().await;
});

async fn run_to_end(client: &Client, cleanup: &Cleanup, c: &ContainerCreate) -> (i64, String) {
    let id = create(client, cleanup, c).await;
    client.start_container(&id).await.expect("start");
    let exit = client
        .wait_container(&id, WaitCondition::NotRunning)
        .await
        .expect("wait");
    let mut logs = client
        .container_logs(&id, &LogsOptions::default())
        .await
        .unwrap();
    let mut all = Vec::new();
    while let Some(c) = logs.next_chunk().await.unwrap() {
        all.extend_from_slice(&c.data);
    }
    (exit.status_code, String::from_utf8_lossy(&all).into_owned())
}

engine_test!(bind_mounts_and_named_volumes, |_engine, client| {
    let cleanup = Cleanup::new(&client);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the host\n").unwrap();
    let mut c = busybox(&[
        "sh",
        "-c",
        "cat /data/in.txt; echo from-container > /data/out.txt",
    ]);
    c.host_config
        .binds
        .push(format!("{}:/data", dir.path().display()));
    let (code, out) = run_to_end(&client, &cleanup, &c).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "from the host\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "from-container\n"
    );

    let ro = {
        let mut c = busybox(&["sh", "-c", "echo x > /data/nope.txt"]);
        c.host_config
            .mounts
            .push(engine_api::containers::Mount::bind(
                dir.path().display().to_string(),
                "/data",
                true,
            ));
        c
    };
    let (code, _) = run_to_end(&client, &cleanup, &ro).await;
    assert_ne!(code, 0, "a read-only bind mount must refuse writes");

    let volume = unique("tug-test-vol");
    client
        .create_volume(&VolumeCreate::new(&volume).label("tug.test", "1"))
        .await
        .expect("volume create");
    cleanup.volume(&volume);
    let inspected = client.inspect_volume(&volume).await.unwrap();
    assert_eq!(inspected.name, volume);
    let listed = client
        .list_volumes(&Filters::new().with("name", volume.clone()))
        .await
        .unwrap();
    assert!(listed.iter().any(|v| v.name == volume));
    let mut writer = busybox(&["sh", "-c", "echo persisted > /vol/file"]);
    writer
        .host_config
        .mounts
        .push(engine_api::containers::Mount::volume(
            &volume, "/vol", false,
        ));
    assert_eq!(run_to_end(&client, &cleanup, &writer).await.0, 0);
    let mut reader = busybox(&["cat", "/vol/file"]);
    reader.host_config.binds.push(format!("{volume}:/vol:ro"));
    assert_eq!(
        run_to_end(&client, &cleanup, &reader).await,
        (0, "persisted\n".to_string())
    );
    cleanup.run().await;
});

async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

const HTTPD: &str =
    "mkdir -p /www && echo served-$NAME > /www/index.html && exec httpd -f -p 8080 -h /www";

engine_test!(
    published_ports_are_reachable_from_the_host,
    |_engine, client| {
        let cleanup = Cleanup::new(&client);
        let mut c = busybox(&["sh", "-c", HTTPD]);
        c.config.env = vec!["NAME=port".into()];
        c.config
            .exposed_ports
            .insert("8080/tcp".into(), Default::default());
        c.host_config.port_bindings = BTreeMap::from([(
            "8080/tcp".to_string(),
            vec![PortBinding::new("127.0.0.1", "")],
        )]);
        let id = create(&client, &cleanup, &c).await;
        client.start_container(&id).await.unwrap();
        let inspect = client.inspect_container(&id).await.unwrap();
        let binding = inspect.network_settings.ports["8080/tcp"]
            .as_ref()
            .and_then(|b| b.first().cloned())
            .expect("a host binding");
        let addr = format!("127.0.0.1:{}", binding.host_port);
        let mut body = None;
        for _ in 0..100 {
            if let Some(b) = http_get(&addr, "/index.html").await {
                if b.contains("served-port") {
                    body = Some(b);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(body.is_some(), "no answer from {addr}");
        cleanup.run().await;
    }
);

engine_test!(a_user_network_connects_two_containers, |_engine, client| {
    let cleanup = Cleanup::new(&client);
    let net = unique("tug-test-net");
    let created = client
        .create_network(&NetworkCreate::new(&net).label("tug.test", "1"))
        .await
        .expect("network create");
    cleanup.network(&created.id);
    let server_name = unique("tug-test-server");
    let mut server = busybox(&["sh", "-c", HTTPD]);
    server.name = Some(server_name.clone());
    server.config.env = vec!["NAME=peer".into()];
    server.host_config.network_mode = Some(net.clone());
    let sid = create(&client, &cleanup, &server).await;
    client.start_container(&sid).await.unwrap();
    let inspected = client.inspect_network(&net).await.unwrap();
    assert_eq!(inspected.name, net);
    let ip = client
        .inspect_container(&sid)
        .await
        .unwrap()
        .network_settings
        .networks[&net]
        .ip_address
        .clone();
    assert!(!ip.is_empty());

    let mut clientc = busybox(&[
        "sh",
        "-c",
        &format!("for i in $(seq 1 50); do wget -qO- http://{server_name}:8080/index.html && exit 0; sleep 0.1; done; exit 1"),
    ]);
    clientc.host_config.network_mode = Some(net.clone());
    let (code, out) = run_to_end(&client, &cleanup, &clientc).await;
    assert_eq!((code, out.trim()), (0, "served-peer"), "{out}");

    // connect/disconnect an existing container.
    let extra = create(&client, &cleanup, &busybox(&["sleep", "60"])).await;
    client.start_container(&extra).await.unwrap();
    client.connect_network(&net, &extra).await.expect("connect");
    let after = client.inspect_container(&extra).await.unwrap();
    assert!(after.network_settings.networks.contains_key(&net));
    client
        .disconnect_network(&net, &extra, true)
        .await
        .expect("disconnect");
    let listed = client
        .list_networks(&Filters::new().with("name", net.clone()))
        .await
        .unwrap();
    assert!(listed.iter().any(|n| n.name == net));
    cleanup.run().await;
});

engine_test!(health_reaches_healthy, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let mut c = busybox(&["sleep", "300"]);
    c.config.healthcheck = Some(
        HealthConfig::shell("test -e /tmp")
            .interval(Duration::from_millis(500))
            .retries(3),
    );
    let id = create(&client, &cleanup, &c).await;
    client.start_container(&id).await.unwrap();
    let mut status = HealthStatus::None;
    for _ in 0..60 {
        if engine == Engine::Podman {
            // Podman here has no systemd timer: drive the check through its API.
            status = client
                .run_healthcheck(&id)
                .await
                .expect("podman healthcheck");
        } else {
            status = client
                .inspect_container(&id)
                .await
                .unwrap()
                .state
                .health
                .map(|h| h.status)
                .unwrap_or_default();
        }
        if status == HealthStatus::Healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, HealthStatus::Healthy);
    let inspect = client.inspect_container(&id).await.unwrap();
    assert_eq!(inspect.state.health.unwrap().status, HealthStatus::Healthy);
    cleanup.run().await;
});

engine_test!(stop_kill_remove_and_typed_errors, |_engine, client| {
    let cleanup = Cleanup::new(&client);
    let name = unique("tug-test-named");
    let mut c = busybox(&["sleep", "300"]);
    c.name = Some(name.clone());
    let id = create(&client, &cleanup, &c).await;

    let err = client
        .create_container(&c)
        .await
        .expect_err("name conflict");
    assert!(err.is_conflict(), "{err:?}");
    assert!(
        err.to_string().contains(&name) || err.to_string().contains("in use"),
        "{err}"
    );

    client.start_container(&id).await.unwrap();
    client
        .start_container(&id)
        .await
        .expect("starting twice is fine");
    let listed = client
        .list_containers(&ListContainers::all(
            Filters::new()
                .with("name", name.clone())
                .with("status", "running"),
        ))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);

    client
        .stop_container(
            &id,
            &StopOptions {
                timeout: Some(Duration::from_secs(1)),
                signal: None,
            },
        )
        .await
        .expect("stop");
    let state = client.inspect_container(&id).await.unwrap().state;
    assert!(!state.running);
    assert!(state.status.is_finished(), "{state:?}");
    client
        .stop_container(&id, &StopOptions::default())
        .await
        .expect("stopping a stopped container is fine");

    let k = create(&client, &cleanup, &busybox(&["sleep", "300"])).await;
    client.start_container(&k).await.unwrap();
    client
        .kill_container(&k, Some("SIGKILL"))
        .await
        .expect("kill");
    let exit = client
        .wait_container(&k, WaitCondition::NotRunning)
        .await
        .unwrap();
    assert_eq!(exit.status_code, 137);

    // Stop with an explicit signal (driven with kill on API < 1.42).
    let s = create(
        &client,
        &cleanup,
        &busybox(&[
            "sh",
            "-c",
            "trap 'exit 42' USR1; while true; do sleep 0.1; done",
        ]),
    )
    .await;
    client.start_container(&s).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .stop_container(
            &s,
            &StopOptions {
                timeout: Some(Duration::from_secs(5)),
                signal: Some("SIGUSR1".into()),
            },
        )
        .await
        .expect("stop with signal");
    let exit = client
        .wait_container(&s, WaitCondition::NotRunning)
        .await
        .unwrap();
    assert_eq!(exit.status_code, 42);

    client
        .remove_container(&id, RemoveOptions::force())
        .await
        .expect("remove");
    let err = client.inspect_container(&id).await.expect_err("gone");
    assert!(err.is_not_found(), "{err:?}");
    let err = client
        .start_container("tug-no-such-container")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = client
        .remove_container("tug-no-such-container", RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    cleanup.run().await;
});

engine_test!(upload_an_archive_into_a_container, |_engine, client| {
    let cleanup = Cleanup::new(&client);
    let id = create(
        &client,
        &cleanup,
        &busybox(&["cat", "/tmp/hello/greeting.txt"]),
    )
    .await;
    let tar = tug_tests::tar_of(&[("hello/greeting.txt", b"uploaded through the API\n", 0o644)]);
    client
        .upload_archive(&id, "/tmp", std::io::Cursor::new(tar))
        .await
        .expect("upload");
    client.start_container(&id).await.unwrap();
    client
        .wait_container(&id, WaitCondition::NotRunning)
        .await
        .unwrap();
    let mut logs = client
        .container_logs(&id, &LogsOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(c) = logs.next_chunk().await.unwrap() {
        out.extend_from_slice(&c.data);
    }
    assert_eq!(out, b"uploaded through the API\n");
    let err = client
        .upload_archive(
            "tug-no-such-container",
            "/tmp",
            std::io::Cursor::new(vec![0u8; 1024]),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    cleanup.run().await;
});

engine_test!(
    events_stream_reports_container_lifecycle,
    |_engine, client| {
        let cleanup = Cleanup::new(&client);
        let marker = unique("tug-test-events");
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 1;
        let mut c = busybox(&["true"]);
        c.config.labels.insert("tug.events".into(), marker.clone());
        let (code, _) = run_to_end(&client, &cleanup, &c).await;
        assert_eq!(code, 0);
        let until = since + 600;
        let mut events = client
            .events(&engine_api::system::EventsOptions {
                since: Some(since),
                until: Some(
                    until.min(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs() as i64
                            + 1,
                    ),
                ),
                filters: Filters::new()
                    .with("type", "container")
                    .label(format!("tug.events={marker}")),
            })
            .await
            .expect("events");
        let mut actions = Vec::new();
        while let Some(event) = events.next_item().await.expect("event stream") {
            assert_eq!(event.kind, "container");
            actions.push(event.action);
        }
        for wanted in ["create", "start", "die"] {
            assert!(
                actions.iter().any(|a| a == wanted),
                "{wanted} missing from {actions:?}"
            );
        }
        cleanup.run().await;
    }
);
