//! engine-api's examples (`engine-api/examples/`), run as a user runs them: separate processes
//! whose engine is chosen by environment variables alone (`DOCKER_HOST`, or
//! `DAGU_CONTAINER_RUNTIME=podman` with `DAGU_PODMAN_HOST`), on Docker and on Podman. What they
//! print and how they exit is checked, and what they leave behind is checked through engine-api.
//!
//! The examples are built by `cargo build --workspace --examples` at the start (a no-op when
//! `scripts/test` has built them), because `cargo test -p tug-tests` alone does not build
//! another package's examples.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use engine_api::containers::{ContainerCreate, ContainerSummary, ListContainers};
use engine_api::reference::ImageRef;
use engine_api::{Client, Filters};
use tug_tests::{
    base64, engine_test, registry, registry_image, test_image, unique, Cleanup, Engine,
};

/// Longest any example may take here before it is killed and the test fails.
const LIMIT: Duration = Duration::from_secs(120);

/// The label the tests give the containers they create or have created.
const LABEL: &str = "tug.test.example";

/// `<target>/<profile>/deps/<this test>` → `<target>/<profile>/examples`.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps")
        .join("examples")
}

/// Builds the examples, once per test process, into the profile this test was built with.
fn build_examples() {
    let dir = examples_dir();
    let profile = dir
        .parent()
        .and_then(Path::file_name)
        .and_then(|p| p.to_str())
        .expect("profile directory")
        .to_string();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(&cargo);
    // `--workspace`: the same dependency features as `scripts/test`'s build, so nothing is
    // compiled a second time with another feature set.
    cmd.args(["build", "--quiet", "--workspace", "--examples"])
        .current_dir(workspace);
    // Variables `cargo test` sets for this test describe this package; passed on, some reach
    // build scripts that watch them (ring's watches CARGO_MANIFEST_DIR) and would make cargo
    // rebuild those crates here, and again in the next ordinary build.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(name);
        }
    }
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?}: {e}"));
    assert!(
        out.status.success(),
        "`cargo build --workspace --examples` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The built example `name`.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build_examples);
    let path = examples_dir().join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Example `name` with `args`, its environment holding only what selects `engine` (and a home
/// of its own, so the host's `~/.docker` neither chooses the engine nor lends credentials).
fn command(engine: Engine, home: &Path, name: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(example(name));
    cmd.args(args).env_clear();
    for keep in ["PATH", "RUST_BACKTRACE", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.env("HOME", home)
        .envs(engine.env())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` to its end (killed after [`LIMIT`]).
async fn output(mut cmd: tokio::process::Command) -> Output {
    tokio::time::timeout(LIMIT, cmd.output())
        .await
        .expect("the example did not finish in time")
        .expect("the example starts")
}

/// Exit status and both outputs, for assertion messages.
fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

/// Containers, running or not, labelled `LABEL=value`.
async fn labelled(client: &Client, value: &str) -> Vec<ContainerSummary> {
    client
        .list_containers(&ListContainers::all(
            Filters::new().label(format!("{LABEL}={value}")),
        ))
        .await
        .expect("list containers")
}

engine_test!(
    run_splits_the_streams_and_exits_with_the_container_code,
    |engine, client| {
        let home = tempfile::tempdir().unwrap();
        let value = unique("run");
        let label = format!("{LABEL}={value}");
        let image = test_image();
        let out = output(command(
            engine,
            home.path(),
            "run",
            &[
                "--label",
                &label,
                &image,
                "sh",
                "-c",
                "echo out; echo err >&2; exit 7",
            ],
        ))
        .await;
        assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
        assert_eq!(text(&out.stdout), "out\n", "{}", describe(&out));
        assert_eq!(text(&out.stderr), "err\n", "{}", describe(&out));
        assert!(
            labelled(&client, &value).await.is_empty(),
            "run left its container"
        );
    }
);

engine_test!(
    run_removes_its_container_when_the_start_fails,
    |engine, client| {
        let home = tempfile::tempdir().unwrap();
        let value = unique("run-fail");
        let label = format!("{LABEL}={value}");
        let image = test_image();
        // Created fine; the engine refuses to start a command that does not exist.
        let out = output(command(
            engine,
            home.path(),
            "run",
            &["--label", &label, &image, "/no/such/command"],
        ))
        .await;
        assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
        assert_eq!(text(&out.stdout), "", "{}", describe(&out));
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{}", describe(&out));
        assert!(
            lines[0].starts_with("run: error: container ")
                && lines[0].ends_with(": cannot start it"),
            "{}",
            describe(&out)
        );
        // The engine's own message, as the error's source.
        assert!(
            lines[1].starts_with("  caused by: ") && lines[1].contains("/no/such/command"),
            "{}",
            describe(&out)
        );
        assert!(
            labelled(&client, &value).await.is_empty(),
            "run left its container"
        );
    }
);

engine_test!(run_removes_its_container_on_ctrl_c, |engine, client| {
    use tokio::io::AsyncBufReadExt;

    let home = tempfile::tempdir().unwrap();
    let value = unique("run-int");
    let label = format!("{LABEL}={value}");
    let image = test_image();
    let mut cmd = command(
        engine,
        home.path(),
        "run",
        &[
            "--label",
            &label,
            &image,
            "sh",
            "-c",
            "echo ready; sleep 300",
        ],
    );
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the example starts");
    let pid = child.id().expect("pid");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(LIMIT, stdout.next_line())
        .await
        .expect("no output in time")
        .expect("read stdout");
    assert_eq!(first.as_deref(), Some("ready"));
    // The container is there while the example runs, so its absence below means something.
    assert_eq!(labelled(&client, &value).await.len(), 1);

    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("the example did not stop after SIGINT")
        .expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
    assert_eq!(stdout.next_line().await.unwrap(), None);
    assert!(
        labelled(&client, &value).await.is_empty(),
        "run left its container after Ctrl-C"
    );
});

engine_test!(
    ps_lists_a_container_made_through_engine_api,
    |engine, client| {
        let home = tempfile::tempdir().unwrap();
        let cleanup = Cleanup::new(&client);
        let value = unique("ps");
        let name = unique("tug-example-ps");
        let mut create = ContainerCreate::new(test_image());
        create.name = Some(name.clone());
        create.config.cmd = Some(vec!["true".into()]);
        create.config.labels.insert(LABEL.into(), value.clone());
        let id = client.create_container(&create).await.expect("create").id;
        cleanup.container(&id);

        let filter = format!("label={LABEL}={value}");
        let out = output(command(engine, home.path(), "ps", &["--filter", &filter])).await;
        assert!(out.status.success(), "{}", describe(&out));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", describe(&out));
        let header: Vec<&str> = lines[0]
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            header,
            ["CONTAINER ID", "IMAGE", "STATUS", "NAMES"],
            "{}",
            describe(&out)
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(row.first(), Some(&&id[..12]), "{}", describe(&out));
        assert_eq!(row.last(), Some(&name.as_str()), "{}", describe(&out));
        assert!(lines[1].contains("tug-busybox"), "{}", describe(&out));
        assert_eq!(text(&out.stderr), "");

        // Unfiltered, it lists every container, stopped ones included.
        let out = output(command(engine, home.path(), "ps", &[])).await;
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            text(&out.stdout).lines().any(|l| l.starts_with(&id[..12])),
            "{}",
            describe(&out)
        );

        // A filter nothing matches: the header alone.
        let nobody = format!("label={LABEL}={}", unique("nobody"));
        let out = output(command(engine, home.path(), "ps", &["--filter", &nobody])).await;
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(text(&out.stdout), "CONTAINER ID   IMAGE   STATUS   NAMES\n");

        cleanup.run().await;
    }
);

engine_test!(
    pull_takes_credentials_from_the_docker_config_and_prints_the_digest,
    |engine, client| {
        let home = tempfile::tempdir().unwrap();
        let cleanup = Cleanup::new(&client);
        let image = registry_image();
        let (host, user, password) = registry();
        // Leave the engine as it was found: remove the image afterwards only if this test added it.
        if !client.image_exists(&image).await.unwrap() {
            cleanup.image(&image);
        }

        // A DOCKER_CONFIG with an `auths` entry, as `docker login` writes it.
        let config = tempfile::tempdir().unwrap();
        let config_json = config.path().join("config.json");
        std::fs::write(
            &config_json,
            format!(
                r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
                base64(format!("{user}:{password}").as_bytes())
            ),
        )
        .unwrap();
        let mut cmd = command(engine, home.path(), "pull", &[&image]);
        cmd.env("DOCKER_CONFIG", config.path());
        let out = output(cmd).await;
        assert!(out.status.success(), "{}", describe(&out));
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr.lines().next(),
            Some(
                format!(
                    "credentials for {host}: {} (user {user})",
                    config_json.display()
                )
                .as_str()
            ),
            "{}",
            describe(&out)
        );
        assert!(!stderr.contains(&password), "the password was printed");
        let digest = text(&out.stdout);
        let digest = digest.strip_suffix('\n').expect("one line");
        assert!(
            digest
                .strip_prefix("sha256:")
                .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())),
            "{}",
            describe(&out)
        );
        // The digest is the one the engine recorded for the repository.
        let repository = ImageRef::parse(&image).unwrap().repository();
        let inspect = client.inspect_image(&image).await.expect("pulled image");
        assert!(
            inspect
                .repo_digests
                .contains(&format!("{repository}@{digest}")),
            "{digest} not in {:?}",
            inspect.repo_digests
        );

        // Without credentials the registry refuses, and the error says so, with a hint.
        let empty = tempfile::tempdir().unwrap();
        let mut cmd = command(engine, home.path(), "pull", &[&image]);
        cmd.env("DOCKER_CONFIG", empty.path());
        let out = output(cmd).await;
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_eq!(text(&out.stdout), "", "{}", describe(&out));
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 3, "{}", describe(&out));
        assert_eq!(
            lines[0],
            format!("no credentials for {host}: pulling anonymously")
        );
        assert!(
            lines[1].starts_with(&format!(
                "pull: error: cannot pull {image}: registry credentials for {host}: "
            )),
            "{}",
            describe(&out)
        );
        assert_eq!(
            lines[2],
            format!("hint: `docker login {host}` stores credentials where this example looks")
        );

        cleanup.run().await;
    }
);

engine_test!(
    exec_streams_the_output_and_reports_the_exit_code,
    |engine, client| {
        let home = tempfile::tempdir().unwrap();
        let cleanup = Cleanup::new(&client);
        let mut create = ContainerCreate::new(test_image());
        create.config.cmd = Some(vec!["sleep".into(), "300".into()]);
        create.config.labels.insert(LABEL.into(), unique("exec"));
        let id = client.create_container(&create).await.expect("create").id;
        cleanup.container(&id);
        client.start_container(&id).await.expect("start");

        let out = output(command(
            engine,
            home.path(),
            "exec",
            &[&id, "sh", "-c", "echo from-exec; echo oops >&2; exit 4"],
        ))
        .await;
        assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
        assert_eq!(text(&out.stdout), "from-exec\n", "{}", describe(&out));
        assert_eq!(
            text(&out.stderr),
            "oops\nexit code: 4\n",
            "{}",
            describe(&out)
        );

        cleanup.run().await;
    }
);
