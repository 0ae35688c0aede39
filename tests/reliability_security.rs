//! Secrets stay out of everything tug writes, and a workflow cannot cross its trust boundaries.
//!
//! Secrets (`fixtures/reliability/secrets.yaml`, on Docker and Podman): one unique value per
//! source is planted in
//! * a registry password in `registry_auths` (of a registry never contacted, and — in the
//!   failing run — of the rig's registry, where it is wrong),
//! * `DOCKER_AUTH_CONFIG` in tug's environment,
//! * env entries named `API_KEY`, `GH_TOKEN`, `DB_PASSWORD`, `X_SECRET`: imported from tug's
//!   environment by the DAG-level `env:`, given as a parameter, and set in container `env:` and
//!   step `env:`;
//!
//! and the rig's real registry password is used for the pulls. Then tug runs the workflow three
//! times (succeeding; failing at the pull with the wrong registry password; failing in a step),
//! and `tug dry`, `tug validate`, `tug status` (text and JSON), `tug history` and `tug logs` of
//! one step. Every byte of their stdout and stderr and of every file under `TUG_DATA_DIR` (run
//! records, logs, HOME) is searched for the secrets — as written, and inside anything that
//! decodes as base64 (an `X-Registry-Auth` header, a config.json `auth`).
//!
//! The one decided exception: step output is the user's data and is kept byte for byte (see
//! `reliability_input.rs`), so a step that prints a secret on purpose (`echo_secret`, which
//! greps `X_SECRET` out of its environment) has it in its own log `echo_secret.out` and in tug's display of that
//! step's lines — nowhere else. tug does not mask step output.
//!
//! Trust boundaries:
//! * a workflow's `env:` (DAG level, step, container) setting `DAGU_CONTAINER_RUNTIME` to the
//!   other engine and `DOCKER_HOST` / `DAGU_PODMAN_HOST` to a missing socket does not move the
//!   run: it runs on the engine of tug's own environment;
//! * volume sources are expanded on the host side only: `${VAR}` from tug's environment (not the
//!   container's `env:`), `~` from tug's HOME (not a HOME in the workflow's `env:`); a `${…}` in
//!   the container path is refused;
//! * a container name from user input with `/ ? & = # ..` reaches the engine as one literal
//!   name (no such container; Docker answers a `..` with a redirect, not followed), and touches
//!   nothing else. The exact bytes on the wire are pinned
//!   by engine-api's wire tests `container_ids_stay_one_percent_encoded_path_segment` and
//!   `list_containers_sends_filters_as_one_encoded_json_parameter`
//!   (`engine-api/tests/wire_requests.rs`).

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use engine_api::containers::ContainerStatus;
use tug_tests::{
    engine_test, files_under, fixture, registry, run_containers, tug_command, Engine, Rng,
    TugOutput, TugStart, WorkflowDir,
};

const LIMIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// base64, both alphabets, for planting and for finding encoded secrets.
// ---------------------------------------------------------------------------------------------

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes `text` with either alphabet, ignoring padding; `None` if it is not base64.
fn unb64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| {
        STD.iter()
            .position(|&a| a == c)
            .or_else(|| URL.iter().position(|&a| a == c))
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | value(c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Runs of base64 characters at least 16 long in `data`, decoded (at each of the four possible
/// alignments, since a token may start mid-group in running text).
fn decoded_tokens(data: &[u8]) -> Vec<Vec<u8>> {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_' | b'=');
    let mut out = Vec::new();
    for token in data.split(|&c| !is_b64(c)) {
        if token.len() < 16 {
            continue;
        }
        let text = String::from_utf8_lossy(token);
        for skip in 0..4.min(text.len()) {
            if let Some(d) = unb64(&text[skip..]) {
                out.push(d);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Secrets.
// ---------------------------------------------------------------------------------------------

/// Where a secret was found.
fn leaks(what: &str, data: &[u8], needles: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in needles {
        if contains(data, value.as_bytes()) {
            found.push(format!("{what}: contains {name} as written"));
        } else if decoded_tokens(data)
            .iter()
            .any(|d| contains(d, value.as_bytes()))
        {
            found.push(format!("{what}: contains {name} base64-encoded"));
        }
    }
    found
}

/// tug's display of the step that prints a secret on purpose: lines `… echo_secret | …`.
fn without_echo_secret_lines(stdout: &[u8]) -> Vec<u8> {
    stdout
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| {
            let text = String::from_utf8_lossy(line);
            !text
                .split_once('|')
                .is_some_and(|(head, _)| head.trim_end().ends_with("echo_secret"))
        })
        .flatten()
        .copied()
        .collect()
}

engine_test!(
    secrets_never_reach_tugs_output_or_records,
    |engine, client| {
        let wf = WorkflowDir::new("reliability/secrets.yaml");
        let data = tempfile::Builder::new()
            .prefix("tug-data-")
            .tempdir()
            .unwrap();
        let base = format!(
            "tugPLANTED{:016x}",
            Rng::new(Rng::seed_from_env("TUG_RELIABILITY_SEED")).next_u64()
        );
        let secret = |what: &str| format!("{base}{what}");
        let (registry_host, registry_user, registry_password) = registry();
        let api_key = secret("apikey");
        let gh_token = secret("ghtoken");
        let x_secret = secret("xsecret");
        let db_password = secret("dbpassword");
        let other_registry = secret("otherregistry");
        let wrong_registry = secret("wrongregistry");
        let docker_auth = secret("dockerauthconfig");
        let docker_auth_config = format!(
            r#"{{"auths":{{"dac.invalid:5000":{{"auth":"{}"}}}}}}"#,
            b64(format!("tug:{docker_auth}").as_bytes(), STD)
        );
        let env = [
            ("TUG_REL_API_KEY", api_key.as_str()),
            ("TUG_REL_GH_TOKEN", gh_token.as_str()),
            ("TUG_REL_X_SECRET", x_secret.as_str()),
            ("TUG_REL_OTHER_REGISTRY_PASSWORD", other_registry.as_str()),
            ("DOCKER_AUTH_CONFIG", docker_auth_config.as_str()),
            ("RUST_LOG", "trace"),
        ];
        let needles: Vec<(String, String)> = vec![
            ("a planted secret (any of them)".into(), base.clone()),
            ("the registry password".into(), registry_password.clone()),
        ];
        let file = wf.file().to_str().unwrap().to_string();
        let start = |run_id: &str, registry_pw: &str, fail: &str| {
            tug_command(
                &[
                    "start",
                    &file,
                    "--run-id",
                    run_id,
                    "--",
                    &format!("REGISTRY_PASSWORD={registry_pw}"),
                    &format!("DB_PASSWORD={db_password}"),
                    &format!("FAIL={fail}"),
                ],
                wf.path(),
                data.path(),
                Some(engine),
                &env,
                LIMIT,
            )
        };
        let ok_id = tug_tests::unique("secrets-ok");
        let bad_pull_id = tug_tests::unique("secrets-badpull");
        let bad_step_id = tug_tests::unique("secrets-badstep");
        let ok = start(&ok_id, &registry_password, "0");
        let bad_pull = start(&bad_pull_id, &wrong_registry, "0");
        let bad_step = start(&bad_step_id, &registry_password, "3");
        let param_args = [
            format!("REGISTRY_PASSWORD={registry_password}"),
            format!("DB_PASSWORD={db_password}"),
        ];
        let dry = tug_command(
            &["dry", &file, "--", &param_args[0], &param_args[1]],
            wf.path(),
            data.path(),
            Some(engine),
            &env,
            LIMIT,
        );
        let validate = tug_command(
            &["validate", &file],
            wf.path(),
            data.path(),
            None,
            &env,
            LIMIT,
        );
        let cmd =
            |args: &[&str]| tug_command(args, wf.path(), data.path(), Some(engine), &env, LIMIT);
        let status = cmd(&["status", &ok_id]);
        let status_json = cmd(&["status", &ok_id, "--json"]);
        let history = cmd(&["history"]);
        let logs = cmd(&["logs", &ok_id, "own_container"]);

        // The runs did what they should, and the secrets reached the steps.
        assert_eq!(ok.code, Some(0), "{}", ok.context());
        assert_eq!(bad_pull.code, Some(1), "{}", bad_pull.context());
        assert!(
            bad_pull.stdout_text().contains("authentication"),
            "the failed pull says why{}",
            bad_pull.context()
        );
        assert_eq!(bad_step.code, Some(1), "{}", bad_step.context());
        assert_eq!(dry.code, Some(0), "{}", dry.context());
        assert_eq!(validate.code, Some(0), "{}", validate.context());
        let runs = data.path().join("runs").join("secrets");
        let ok_dir = runs.join(&ok_id);
        let log = |step: &str| {
            std::fs::read_to_string(ok_dir.join(format!("{step}.out"))).unwrap_or_default()
        };
        assert_eq!(
            log("in_dag_container").trim(),
            format!(
                "lengths gh={} x={} db={}",
                gh_token.len(),
                x_secret.len(),
                db_password.len()
            ),
            "{}",
            ok.context()
        );
        assert_eq!(
            log("own_container").trim(),
            format!(
                "lengths api={} gh={} db={}",
                api_key.len(),
                gh_token.len(),
                db_password.len()
            ),
            "{}",
            ok.context()
        );
        assert_eq!(log("echo_secret"), format!("{x_secret}\n"));
        let _ = (registry_host, registry_user);

        // The search finds what it looks for (a control): the step that prints a secret on purpose,
        // and a secret inside base64 in running text.
        let control = leaks("control", log("echo_secret").as_bytes(), &needles);
        assert_eq!(control.len(), 1, "{control:?}");
        let encoded = format!(
            "X-Registry-Auth: {}.",
            b64(format!("{{\"password\":\"{x_secret}\"}}").as_bytes(), URL)
        );
        let control = leaks("control", encoded.as_bytes(), &needles);
        assert!(control[0].ends_with("base64-encoded"), "{control:?}");

        // Search everything.
        let mut found = Vec::new();
        let outputs: [(&str, &TugOutput); 9] = [
            ("tug start (succeeds)", &ok),
            ("tug start (pull fails)", &bad_pull),
            ("tug start (step fails)", &bad_step),
            ("tug dry", &dry),
            ("tug validate", &validate),
            ("tug status", &status),
            ("tug status --json", &status_json),
            ("tug history", &history),
            ("tug logs RUN own_container", &logs),
        ];
        for (what, o) in outputs {
            let stdout = if what.starts_with("tug start") {
                without_echo_secret_lines(&o.stdout)
            } else {
                o.stdout.clone()
            };
            found.extend(leaks(&format!("{what}: stdout"), &stdout, &needles));
            found.extend(leaks(&format!("{what}: stderr"), &o.stderr, &needles));
        }
        let files = files_under(data.path());
        for path in &files {
            let rel = path.strip_prefix(data.path()).unwrap_or(path);
            if rel.file_name().is_some_and(|n| n == "echo_secret.out") {
                continue;
            }
            let bytes = std::fs::read(path).unwrap_or_default();
            found.extend(leaks(
                &format!("$TUG_DATA_DIR/{}", rel.display()),
                &bytes,
                &needles,
            ));
        }
        eprintln!(
        "[{engine:?}] searched the stdout and stderr of 9 tug commands and {} files under TUG_DATA_DIR for 7 planted secrets and the registry password, as written and base64-encoded: {} finding(s)",
        files.len(),
        found.len()
    );
        for f in &found {
            eprintln!("[{engine:?}] LEAK {f}");
        }
        assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
        for id in [&ok_id, &bad_pull_id, &bad_step_id] {
            tug_tests::assert_no_run_containers(&client, id).await;
        }
    }
);

// ---------------------------------------------------------------------------------------------
// Trust boundaries.
// ---------------------------------------------------------------------------------------------

engine_test!(workflow_env_cannot_switch_the_engine, |engine, client| {
    let other = match engine {
        Engine::Docker => Engine::Podman,
        Engine::Podman => Engine::Docker,
    };
    let other_name = match other {
        Engine::Docker => "docker",
        Engine::Podman => "podman",
    };
    let wf = WorkflowDir::new("reliability/trust_engine.yaml");
    let mut tug = TugStart::new(engine, wf.file())
        .param("OTHER_RUNTIME", other_name)
        .spawn();
    let run_id = tug.run_id().to_string();
    // While it runs, its container is on this engine (running), and none on the other.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(false));
    {
        let seen = seen.clone();
        tug.wait_until(
            "the step's container on the process's engine",
            LIMIT,
            || {
                let (client, run_id, seen) = (client.clone(), run_id.clone(), seen.clone());
                async move {
                    let here = run_containers(&client, &run_id)
                        .await
                        .iter()
                        .any(|c| c.state == ContainerStatus::Running);
                    *seen.lock().unwrap() |= here;
                    here
                }
            },
        )
        .await;
    }
    let elsewhere = run_containers(&other.connected().await, &run_id).await;
    let run = tug.finish(LIMIT).await;
    run.assert_succeeded();
    assert!(*seen.lock().unwrap());
    assert!(
        elsewhere.is_empty(),
        "the run created containers on {other:?}: {elsewhere:?}"
    );
    assert_eq!(
        run.status()["engine"].as_str(),
        Some(engine.url().as_str()),
        "{}",
        run.context()
    );
    // The variables reach the container as plain data.
    assert_eq!(
        run.out("which_engine").trim(),
        format!("runtime-in-container={other_name}")
    );
    eprintln!(
        "[{engine:?}] workflow env asked for {other_name} and a missing socket: ran on {} anyway",
        engine.url()
    );
    tug_tests::assert_no_run_containers(&client, &run.run_id).await;
});

/// Writes `text` to `dir/marker.txt` (creating `dir`, open to every user).
fn marker(dir: &Path, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("marker.txt");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

engine_test!(
    volume_sources_expand_on_the_host_side_only,
    |engine, client| {
        let wf = WorkflowDir::new("reliability/trust_volumes.yaml");
        let data = tempfile::Builder::new()
            .prefix("tug-data-")
            .tempdir()
            .unwrap();
        let src = wf.path().join("process-env-src");
        marker(&src, "from tug's environment\n");
        // tug_command sets HOME to <data>/home.
        marker(
            &data.path().join("home").join("home-data"),
            "from tug's HOME\n",
        );
        let run_id = tug_tests::unique("trust-volumes");
        let o = tug_command(
            &["start", wf.file().to_str().unwrap(), "--run-id", &run_id],
            wf.path(),
            data.path(),
            Some(engine),
            &[("TUG_REL_SRC", src.to_str().unwrap())],
            LIMIT,
        );
        assert_eq!(o.code, Some(0), "{}", o.context());
        let out = std::fs::read_to_string(
            data.path()
                .join("runs/trust_volumes")
                .join(&run_id)
                .join("host_side.out"),
        )
        .unwrap_or_default();
        assert_eq!(
            out,
            "from tug's environment\nfrom tug's HOME\n",
            "{}",
            o.context()
        );
        tug_tests::assert_no_run_containers(&client, &run_id).await;

        // The container side is never expanded.
        let target = fixture("reliability/trust_volume_target.yaml");
        let v = tug_command(
            &["validate", target.to_str().unwrap()],
            wf.path(),
            data.path(),
            None,
            &[("TARGET", "/etc")],
            LIMIT,
        );
        assert_eq!(v.code, Some(2), "{}", v.context());
        assert!(
            v.stderr_text().contains("never expanded"),
            "{}",
            v.context()
        );
    }
);

engine_test!(
    a_container_name_from_input_is_one_literal_name,
    |engine, client| {
        // A real container whose name the hostile input tries to reach through `..` and `?`/`&`.
        let cleanup = tug_tests::Cleanup::new(&client);
        let victim = tug_tests::unique("tug-rel-victim");
        let victim_id =
            tug_tests::service_container(&client, &cleanup, &victim, true, |_| {}).await;
        let wf = WorkflowDir::new("reliability/trust_names.yaml");
        for hostile in [
            format!("{victim}?force=1&v=1"),
            format!("x/../{victim}"),
            format!("{victim}#frag"),
            "nope&all=1".to_string(),
        ] {
            let run = TugStart::new(engine, wf.file())
                .param("TARGET", &hostile)
                .env("TUG_EXEC_WAIT_SEC", "1")
                .run()
                .await;
            if run.code == Some(2) {
                // Refused before the run: the name is checked against Docker's rules.
                eprintln!(
                    "[{engine:?}] exec into {hostile:?}: refused (exit 2): {}",
                    run.stderr.lines().next().unwrap_or("")
                );
                assert!(
                    run.stderr.contains("not a valid container name"),
                    "{}",
                    run.context()
                );
            } else {
                let error = run.step("exec_into")["error"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                eprintln!(
                    "[{engine:?}] exec into {hostile:?}: exit {:?}, {error}",
                    run.code
                );
                assert_ne!(run.code, Some(0), "{}", run.context());
                // The engine looked up the literal name: "not found" — or, on Docker, a 301 to the
                // path with `..` folded (its router decodes %2F before cleaning the path), which the
                // client must not follow.
                assert!(
                    error.contains(&format!("{hostile:?}"))
                        && (error.contains("not found") || error.contains("301")),
                    "the error names the literal name, which the engine does not have: {error:?}{}",
                    run.context()
                );
                assert_eq!(run.out("exec_into"), "");
            }
            // The victim is untouched: still running, same id.
            let inspect = client.inspect_container(&victim).await.expect("victim");
            assert_eq!(inspect.id, victim_id);
            assert!(inspect.state.running, "{hostile}: the victim stopped");
        }
        cleanup.run().await;
    }
);
