//! `action: harness.run` through `tug start`, on Docker and on Podman, against a small runner
//! image the tests build: the test image plus stand-in provider binaries (`claude`, `codex`,
//! `copilot`, `opencode`, `pi` and `my-agent`, the binary of the custom harnesses). Each
//! stand-in is a shell script that prints what it was given — every argument, some environment
//! variables, its working directory, its host name, the files there and its standard input —
//! hex-encoded, one item per line, so the tests can compare the exact command lines byte for
//! byte.
//!
//! Covered: every built-in provider's command line with options of every kind; custom harnesses
//! (prompt as argument or after a flag, before or after the flags, `--key` and `-key`,
//! `option_flags`, a custom name shadowing a built-in); step-level containers, the DAG-level
//! container (a file written by a command step is visible to the harness step) and the host
//! (where `stdin:` and `prompt_mode: stdin` work); credentials only in the step whose
//! `container.env` holds them; a prompt full of shell syntax arriving intact; fallback to the next
//! provider; a provider binary missing from the image; the seeds' shell-provider and Claude Code
//! examples; and the runner-image examples under `examples/harness/`.
//!
//! The workflows are in `tests/fixtures/harness/`; the runner image is a parameter (`RUNNER`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine_api::images::BuildOptions;
use engine_api::Client;
use tug_tests::{
    assert_no_run_containers, engine_test, tar_of, test_image, tug_bin, unique, Cleanup, Engine,
    TugRun, TugStart, WorkflowDir,
};

/// The stand-in binaries: the built-in providers and `my-agent`.
const STANDINS: [&str; 6] = ["claude", "codex", "copilot", "opencode", "pi", "my-agent"];

/// The environment variables a stand-in reports (set or not).
const REPORTED_ENV: [&str; 6] = [
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CONFIG_DIR",
    "PROVIDER_API_KEY",
    "STEP_VAR",
    "DAG_VAR",
];

/// The script of stand-in `name`. `--version` alone prints a version line (so the seeds' verify
/// workflows work); anything else prints a record:
///
/// ```text
/// standin NAME
/// arg HEX            (one per argument, in order)
/// env VAR HEX|-      (`-` when unset)
/// cwd HEX
/// host HEX
/// files HEX          (`ls -A` of the working directory)
/// config HEX         (`ls -A $CLAUDE_CONFIG_DIR`, when set)
/// stdin HEX
/// end NAME
/// ```
///
/// Then it exits 7 when `STANDIN_FAIL` (a space-separated list) names it, else 0.
fn standin_script(name: &str) -> String {
    format!(
        r#"#!/bin/sh
# Stand-in for the `{name}` agent CLI in tug's harness tests: prints what it was given, each
# value hex-encoded so that no byte is lost or ambiguous.
if [ "$#" -eq 1 ] && [ "$1" = --version ]; then
  echo "{name} 0.0.0 (tug test stand-in)"
  exit 0
fi
hex() {{ printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }}
echo "standin {name}"
for a in "$@"; do echo "arg $(hex "$a")"; done
for n in {env}; do
  if eval "[ -n \"\${{$n+set}}\" ]"; then
    eval "v=\"\${{$n}}\""
    echo "env $n $(hex "$v")"
  else
    echo "env $n -"
  fi
done
echo "cwd $(hex "$(pwd)")"
echo "host $(hex "$(hostname)")"
echo "files $(hex "$(ls -A 2>&1)")"
if [ -n "${{CLAUDE_CONFIG_DIR-}}" ]; then echo "config $(hex "$(ls -A "$CLAUDE_CONFIG_DIR" 2>&1)")"; fi
echo "stdin $(od -An -v -tx1 | tr -d ' \n')"
echo "end {name}"
case " ${{STANDIN_FAIL-}} " in
  *" {name} "*) echo "{name} stand-in failing as STANDIN_FAIL asks" >&2; exit 7 ;;
esac
exit 0
"#,
        env = REPORTED_ENV.join(" ")
    )
}

/// Builds the stand-in runner image (`FROM` the test image, the stand-ins in `/usr/local/bin`)
/// on `client`'s engine under a tag of its own, which `cleanup` removes.
async fn runner_image(client: &Client, cleanup: &Cleanup) -> String {
    let tag = format!("{}:test", unique("tug-harness-runner"));
    cleanup.image(&tag);
    let dockerfile = format!("FROM {}\nCOPY bin/ /usr/local/bin/\n", test_image());
    let scripts: Vec<(String, String)> = STANDINS
        .iter()
        .map(|n| (format!("bin/{n}"), standin_script(n)))
        .collect();
    let mut files: Vec<(&str, &[u8], u32)> = vec![("Dockerfile", dockerfile.as_bytes(), 0o644)];
    for (path, script) in &scripts {
        files.push((path, script.as_bytes(), 0o755));
    }
    // Docker 20.10's classic builder races when several builds of the same base run at once
    // ("failed to get digest …"): build one at a time in this process, and retry a build that
    // lost such a race with another process.
    static BUILDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = BUILDS.lock().await;
    let tar = tar_of(&files);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            client
                .build_image(
                    std::io::Cursor::new(tar.clone()),
                    &BuildOptions::tagged(&tag),
                )
                .await?
                .finish()
                .await
        }
        .await;
        match result {
            Ok(_) => break,
            Err(e) if attempt < 3 && e.to_string().contains("failed to get digest") => continue,
            Err(e) => panic!("build {tag}: {e}"),
        }
    }
    assert!(
        client.image_exists(&tag).await.expect("inspect"),
        "{tag} was not built"
    );
    tag
}

/// What one stand-in reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    standin: String,
    args: Vec<String>,
    env: BTreeMap<String, Option<String>>,
    cwd: String,
    host: String,
    files: Vec<String>,
    config: Option<String>,
    stdin: String,
}

impl Record {
    fn env(&self, name: &str) -> Option<&str> {
        self.env.get(name).and_then(|v| v.as_deref())
    }
}

fn unhex(hex: &str) -> String {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .unwrap_or_else(|| panic!("not hex: {hex:?}"))
        })
        .collect();
    String::from_utf8(bytes).expect("UTF-8 value")
}

/// Every record in a step's stdout, in order (other lines are ignored).
fn records(out: &str) -> Vec<Record> {
    let mut all = Vec::new();
    let mut current: Option<Record> = None;
    for line in out.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match (kind, current.as_mut()) {
            ("standin", _) => {
                current = Some(Record {
                    standin: rest.to_string(),
                    args: Vec::new(),
                    env: BTreeMap::new(),
                    cwd: String::new(),
                    host: String::new(),
                    files: Vec::new(),
                    config: None,
                    stdin: String::new(),
                })
            }
            ("arg", Some(r)) => r.args.push(unhex(rest)),
            ("env", Some(r)) => {
                let (name, value) = rest.split_once(' ').expect("env NAME VALUE");
                let value = (value != "-").then(|| unhex(value));
                r.env.insert(name.to_string(), value);
            }
            ("cwd", Some(r)) => r.cwd = unhex(rest),
            ("host", Some(r)) => r.host = unhex(rest),
            ("files", Some(r)) => r.files = unhex(rest).lines().map(str::to_string).collect(),
            ("config", Some(r)) => r.config = Some(unhex(rest)),
            ("stdin", Some(r)) => r.stdin = unhex(rest),
            ("end", Some(_)) => all.extend(current.take()),
            _ => {}
        }
    }
    all
}

/// The one record step `id` printed; asserts that the step succeeded.
fn record(run: &TugRun, id: &str) -> Record {
    assert_eq!(
        run.step_status(id),
        "succeeded",
        "step {id}{}",
        run.context()
    );
    let mut all = records(&run.out(id));
    assert_eq!(
        all.len(),
        1,
        "step {id} printed {} stand-in records: {all:#?}{}",
        all.len(),
        run.context()
    );
    all.remove(0)
}

/// Asserts that step `id` ran stand-in `standin` with exactly `args`; returns its record.
fn assert_command(run: &TugRun, id: &str, standin: &str, args: &[&str]) -> Record {
    let r = record(run, id);
    assert_eq!(r.standin, standin, "binary of step {id}{}", run.context());
    assert_eq!(r.args, args, "arguments of step {id}{}", run.context());
    r
}

/// The step's `error`, or "" when it has none.
fn step_error(run: &TugRun, id: &str) -> String {
    run.step(id)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Everything tug wrote about the run: its stderr and stdout, status.json and the steps' logs
/// (not `workflow.yaml`, the copy of the user's own file).
fn everything(run: &TugRun) -> String {
    let mut all = format!("{}\n{}\n", run.stderr, run.stdout);
    if let Ok(entries) = std::fs::read_dir(&run.run_dir) {
        for e in entries.flatten() {
            if e.path().is_file() && e.file_name() != "workflow.yaml" {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                all.push('\n');
            }
        }
    }
    all
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `tug ARGS…` run from the workspace with only `PATH` and `HOME` from this environment and an
/// engine address that does not answer; returns (exit code, stdout, stderr).
fn tug(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(tug_bin());
    cmd.args(args)
        .current_dir(workspace())
        .env_clear()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    for keep in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let out = cmd.output().expect("run tug");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CREDENTIAL: &str = "sk-ant-tug-test-credential";

engine_test!(builtin_providers_in_step_containers, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;
    let wf = WorkflowDir::new("harness/builtins.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    run.assert_succeeded();

    let claude = assert_command(
        &run,
        "claude",
        "claude",
        &[
            "-p",
            "Review this repository.",
            "--allowed-tools",
            "Read",
            "--allowed-tools",
            "Bash(git diff)",
            "--bare",
            "--max-turns",
            "3",
            "--model",
            "sonnet",
        ],
    );
    assert_command(
        &run,
        "codex",
        "codex",
        &[
            "exec",
            "Fix the failing test.",
            "--model",
            "o3",
            "--sandbox",
            "workspace-write",
            "--skip-git-repo-check",
        ],
    );
    assert_command(
        &run,
        "codex_git_check",
        "codex",
        &["exec", "Stay inside the repository."],
    );
    assert_command(
        &run,
        "copilot",
        "copilot",
        &["-p", "Summarise the diff.", "--allow-all-tools"],
    );
    assert_command(
        &run,
        "opencode",
        "opencode",
        &[
            "run",
            "Write the changelog.",
            "--agent",
            "build",
            "--model",
            "anthropic/claude-sonnet-4",
        ],
    );
    assert_command(
        &run,
        "pi",
        "pi",
        &[
            "-p",
            "Explain main.rs.",
            "--max-tokens",
            "2048",
            "--thinking",
            "high",
        ],
    );

    // The credential and the step env reach the claude step's container, and only that one.
    assert_eq!(
        claude.env("ANTHROPIC_API_KEY"),
        Some(CREDENTIAL),
        "{}",
        run.context()
    );
    assert_eq!(
        claude.env("STEP_VAR"),
        Some("only-in-the-claude-step"),
        "{}",
        run.context()
    );
    for id in ["codex", "codex_git_check", "copilot", "opencode", "pi"] {
        let r = record(&run, id);
        assert_eq!(
            r.env("ANTHROPIC_API_KEY"),
            None,
            "step {id}{}",
            run.context()
        );
        assert_eq!(r.env("STEP_VAR"), None, "step {id}{}", run.context());
        assert_eq!(r.stdin, "", "step {id}{}", run.context());
    }
    // Each in a container of its own.
    let hosts: std::collections::BTreeSet<String> = run
        .step_ids()
        .iter()
        .map(|id| record(&run, id).host)
        .collect();
    assert_eq!(hosts.len(), 6, "{hosts:?}{}", run.context());
    // tug itself never writes the credential (the stand-in prints it hex-encoded).
    assert!(
        !everything(&run).contains(CREDENTIAL),
        "the credential leaked into tug's output or the run record{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(custom_harnesses_in_the_dag_container, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;
    let wf = WorkflowDir::new("harness/custom_shared.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    run.assert_succeeded();

    let agent = assert_command(
        &run,
        "agent",
        "my-agent",
        &[
            "--task",
            "Review this patch for correctness.",
            "--dry_run",
            "--turns",
            "3",
            "--model",
            "big-model",
        ],
    );
    assert_command(
        &run,
        "dashy",
        "my-agent",
        &[
            "exec", "--quiet", "-model", "sonnet", "-read", "a.md", "-read", "b.md", "-yes",
            "hello",
        ],
    );
    assert_command(&run, "plain", "my-agent", &["hello", "--x", "1.5"]);
    // A custom `claude` shadows the built-in.
    assert_command(
        &run,
        "shadowed",
        "my-agent",
        &["shadowed", "--ask", "hi", "--model", "m"],
    );
    let codex = assert_command(
        &run,
        "codex",
        "codex",
        &["exec", "In the shared container.", "--skip-git-repo-check"],
    );
    let own = assert_command(
        &run,
        "own_container",
        "my-agent",
        &["--task", "In a container of my own.", "--turns", "1"],
    );

    // The shared steps ran in the DAG-level container, in its working directory; the step with
    // a container of its own did not.
    for id in ["agent", "dashy", "plain", "shadowed", "codex"] {
        let r = record(&run, id);
        assert_eq!(r.cwd, "/work", "step {id}{}", run.context());
        assert_eq!(r.host, agent.host, "step {id}{}", run.context());
    }
    assert_eq!(codex.host, agent.host, "{}", run.context());
    assert_eq!(own.cwd, "/elsewhere", "{}", run.context());
    assert_ne!(own.host, agent.host, "{}", run.context());
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(dag_container_shares_its_filesystem, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;
    let wf = WorkflowDir::new("harness/shared_fs.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out(
        "write_file",
        "command step key=shared-container-credential\n",
    );
    run.assert_step_out(
        "read_file",
        "from command step\nharness step key=shared-container-credential\n",
    );
    let agent = assert_command(&run, "agent", "claude", &["-p", "Read shared.txt."]);
    assert_eq!(agent.cwd, "/workspace", "{}", run.context());
    assert!(
        agent.files.iter().any(|f| f == "shared.txt"),
        "the harness step sees the command step's file: {:?}{}",
        agent.files,
        run.context()
    );
    // With a root-level container.env, every step in the shared container can read it.
    assert_eq!(
        agent.env("PROVIDER_API_KEY"),
        Some("shared-container-credential"),
        "{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(prompt_arrives_byte_for_byte, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;
    let wf = WorkflowDir::new("harness/prompt_bytes.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    run.assert_succeeded();
    let prompt = "it's \"double\" and 'single' quoted; hello world\n\
                  $HOME ${NOT_A_TUG_VAR} `uname -a` $(id -u) $ESCAPED $1 ${X:-default}\n\
                  \ttab\tseparated;  trailing spaces   \n\
                  back\\slash \\n not-a-newline && rm -rf / ; echo pwned | cat > /tmp/x\n\
                  héllo ✓ — done\n";
    for id in ["in_shared", "in_own"] {
        assert_command(
            &run,
            id,
            "claude",
            &["-p", prompt, "--model", "it's $(not run)"],
        );
    }
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(fallback_tries_the_next_provider, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;
    let wf = WorkflowDir::new("harness/fallback.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    // `all_fail` fails the run; the others succeed through a fallback.
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());

    // claude and codex exit 7, pi succeeds; the options go to each provider.
    assert_eq!(
        run.step_status("third_time_lucky"),
        "succeeded",
        "{}",
        run.context()
    );
    let tried = records(&run.out("third_time_lucky"));
    let last = tried.last().expect("a record");
    assert_eq!(last.standin, "pi", "{}", run.context());
    assert_eq!(
        last.args,
        ["-p", "Fix it.", "--model", "m1"],
        "{}",
        run.context()
    );
    let order: Vec<&str> = tried.iter().map(|r| r.standin.as_str()).collect();
    assert!(
        order == ["pi"] || order == ["claude", "codex", "pi"],
        "attempts in stdout: {order:?}{}",
        run.context()
    );
    let err = run.err("third_time_lucky");
    let claude_failed = err.find("claude stand-in failing");
    let codex_failed = err.find("codex stand-in failing");
    assert!(
        matches!((claude_failed, codex_failed), (Some(a), Some(b)) if a < b),
        "each failed attempt's stderr stays in the step's stderr, in order{}",
        run.context()
    );
    // Before each retry tug says which provider failed and which comes next (Dagu writes this
    // line to the step's stderr; tug reports it as a notice of the step).
    let all = everything(&run);
    for notice in [
        "harness: attempt 1/3 with claude failed; trying fallback 2/3 with codex",
        "harness: attempt 2/3 with codex failed; trying fallback 3/3 with pi",
    ] {
        assert!(all.contains(notice), "no {notice:?}{}", run.context());
    }

    // A binary the image lacks is a failed attempt like any other.
    assert_eq!(
        run.step_status("missing_then_present"),
        "succeeded",
        "{}",
        run.context()
    );
    let tried = records(&run.out("missing_then_present"));
    assert_eq!(
        tried.last().map(|r| (r.standin.as_str(), r.args.clone())),
        Some((
            "opencode",
            vec!["run".to_string(), "Anyone there?".to_string()]
        )),
        "{}",
        run.context()
    );
    // …and the user learns why it failed.
    assert!(
        everything(&run).contains("agent binary not found: ghost-agent"),
        "the failed attempt's reason (the missing binary) is reported{}",
        run.context()
    );

    // When every provider fails, the step fails with the last one's exit code.
    let all_fail = run.step("all_fail");
    assert_eq!(all_fail["status"], "failed", "{}", run.context());
    assert_eq!(all_fail["exit_code"], 7, "{}", run.context());
    let err = run.err("all_fail");
    assert!(
        err.contains("copilot stand-in failing") && err.contains("pi stand-in failing"),
        "{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

/// Asserts the seeds' "agent binary not found" guidance for step `id`: it names the binary and
/// the image.
fn assert_binary_not_found(run: &TugRun, id: &str, binary: &str, image: &str) {
    assert_eq!(run.step_status(id), "failed", "step {id}{}", run.context());
    let error = step_error(run, id);
    for part in ["agent binary not found", binary, image] {
        assert!(
            error.contains(part),
            "the error of step {id} does not say {part:?}: {error:?}{}",
            run.context()
        );
    }
}

engine_test!(missing_provider_binary, |engine, client| {
    let wf = WorkflowDir::new("harness/missing_binary.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_code(1);
    assert_eq!(run.run_status(), "failed", "{}", run.context());
    assert_binary_not_found(&run, "review", "claude", &test_image());
    assert_no_run_containers(&client, &run.run_id).await;

    let wf = WorkflowDir::new("harness/missing_binary_shared.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_code(1);
    run.assert_step_out("fine", "the command step runs\n");
    assert_binary_not_found(&run, "explain", "pi", &test_image());
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(seed_shell_provider_examples, |engine, client| {
    // Root-level shared container: the command step's file, read by the harness step.
    let wf = WorkflowDir::new("harness/seed_shared.yaml");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    let out = run.out("read_file");
    assert!(
        out.starts_with("from command step\nBusyBox v"),
        "{out:?}{}",
        run.context()
    );
    assert_eq!(
        wf.read("shared.txt").as_deref(),
        Some("from command step\n"),
        "{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;

    // Step-level container with a read-only workspace.
    let wf = WorkflowDir::new("harness/seed_step.yaml");
    wf.write("notes.txt", "some notes\n");
    let run = TugStart::new(engine, wf.file()).run().await;
    run.assert_succeeded();
    run.assert_step_out("inspect", "/workspace\n./notes.txt\n./seed_step.yaml\n");
    assert_no_run_containers(&client, &run.run_id).await;
});

engine_test!(seed_runner_image_and_claude_examples, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;

    // harness-runner-images.md: the provider smoke test.
    let wf = WorkflowDir::new("harness/seed_runner_verify.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out(
        "verify_runner",
        "/usr/local/bin/codex\ncodex 0.0.0 (tug test stand-in)\n",
    );
    assert_no_run_containers(&client, &run.run_id).await;

    // claude-code-in-container.md: verify, step-level review with an API key from tug's
    // environment, and a mounted credentials directory.
    let wf = WorkflowDir::new("harness/seed_claude.yaml");
    let home = wf.dir("home");
    wf.write("home/.claude/.credentials.json", "{}\n");
    let key = "sk-ant-from-tugs-environment";
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .env("ANTHROPIC_API_KEY", key)
        .env("HOME", home.to_str().expect("UTF-8 path"))
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out(
        "claude_version",
        "claude 0.0.0 (tug test stand-in)\n/usr/local/bin/claude\n",
    );
    let review = assert_command(
        &run,
        "review",
        "claude",
        &[
            "-p",
            "Review this repository and summarize the highest-risk issues.\n",
            "--model",
            "sonnet",
        ],
    );
    assert_eq!(
        review.env("ANTHROPIC_API_KEY"),
        Some(key),
        "{}",
        run.context()
    );
    assert_eq!(review.cwd, "/workspace", "{}", run.context());
    assert!(
        review.files.iter().any(|f| f == "seed_claude.yaml"),
        "{:?}{}",
        review.files,
        run.context()
    );
    let configured = assert_command(
        &run,
        "review_with_config_dir",
        "claude",
        &["-p", "Review this repository.\n"],
    );
    assert_eq!(
        configured.env("CLAUDE_CONFIG_DIR"),
        Some("/claude-config"),
        "{}",
        run.context()
    );
    assert_eq!(
        configured.config.as_deref(),
        Some(".credentials.json"),
        "the mounted credentials directory{}",
        run.context()
    );
    assert!(
        !everything(&run).contains(key),
        "the API key leaked into tug's output or the run record{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;

    // Root-level container shared by a command step and the harness steps.
    let wf = WorkflowDir::new("harness/seed_claude_root.yaml");
    let run = TugStart::new(engine, wf.file())
        .param("RUNNER", &runner)
        .run()
        .await;
    run.assert_succeeded();
    run.assert_step_out(
        "claude_tools",
        "claude 0.0.0 (tug test stand-in)\n/usr/local/bin/claude\n",
    );
    let claude = assert_command(
        &run,
        "claude",
        "claude",
        &["-p", "Review the test report.\n"],
    );
    assert_eq!(claude.cwd, "/workspace", "{}", run.context());
    assert!(
        claude.files.iter().any(|f| f == "test-report.txt"),
        "{:?}{}",
        claude.files,
        run.context()
    );
    assert_eq!(
        wf.read("test-report.txt").as_deref(),
        Some("tests passed\n"),
        "{}",
        run.context()
    );
    assert_no_run_containers(&client, &run.run_id).await;
    cleanup.run().await;
});

engine_test!(runner_image_examples, |engine, client| {
    let cleanup = Cleanup::new(&client);
    let runner = runner_image(&client, &cleanup).await;
    let examples = workspace().join("examples/harness");
    for (file, params, step, expected) in [
        (
            "verify-runner.yaml",
            vec![("BINARY", "pi")],
            "verify_runner",
            "/usr/local/bin/pi\npi 0.0.0 (tug test stand-in)\n",
        ),
        (
            "verify-claude.yaml",
            vec![],
            "claude_version",
            "claude 0.0.0 (tug test stand-in)\n/usr/local/bin/claude\n",
        ),
        (
            "verify-claude-shared.yaml",
            vec![],
            "claude_tools",
            "claude 0.0.0 (tug test stand-in)\n/usr/local/bin/claude\n",
        ),
    ] {
        let mut start = TugStart::new(engine, &examples.join(file)).param("RUNNER", &runner);
        for (k, v) in params {
            start = start.param(k, v);
        }
        let run = start.run().await;
        run.assert_succeeded();
        run.assert_step_out(step, expected);
        assert_no_run_containers(&client, &run.run_id).await;
    }
    cleanup.run().await;
});

/// Harness steps on the host: the stand-ins are on tug's `PATH`; `stdin:` is piped to the
/// provider, and a `prompt_mode: stdin` harness reads the prompt there. No engine is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_steps_get_stdin() {
    use std::os::unix::fs::PermissionsExt;
    let wf = WorkflowDir::new("harness/host.yaml");
    let bin = wf.dir("bin");
    for name in STANDINS {
        let path = bin.join(name);
        std::fs::write(&path, standin_script(name)).expect("write stand-in");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = match std::env::var("PATH") {
        Ok(p) => format!("{}:{p}", bin.display()),
        Err(_) => bin.display().to_string(),
    };
    let run = TugStart::new(Engine::Docker, wf.file())
        .env("PATH", path)
        .run()
        .await;
    run.assert_succeeded();
    let r = assert_command(&run, "with_stdin", "claude", &["-p", "Review this patch."]);
    assert_eq!(
        r.stdin,
        "diff --git a/main.rs b/main.rs\n+fn main() {}\n",
        "{}",
        run.context()
    );
    let r = assert_command(
        &run,
        "prompt_on_stdin",
        "my-agent",
        &["--from-stdin", "--lines", "5"],
    );
    assert_eq!(
        r.stdin,
        "Summarise.\n\nthe text to summarise",
        "{}",
        run.context()
    );
}

/// `tug dry` of a harness workflow with a credential in container.env never shows it.
#[test]
fn dry_never_shows_credentials() {
    let (code, stdout, stderr) = tug(&[
        "dry",
        "tests/fixtures/harness/builtins.yaml",
        "--",
        "RUNNER=tug-harness-runner:dry",
    ]);
    assert_eq!(code, Some(0), "{stderr}\n{stdout}");
    assert!(
        !stdout.contains(CREDENTIAL) && !stderr.contains(CREDENTIAL),
        "{stderr}\n{stdout}"
    );
}

/// The workflows under `examples/harness/` and `tests/fixtures/harness/` validate.
#[test]
fn harness_workflows_validate() {
    for dir in ["examples/harness", "tests/fixtures/harness"] {
        let mut files: Vec<String> = std::fs::read_dir(workspace().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| p.display().to_string())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no workflows in {dir}");
        let mut args = vec!["validate"];
        args.extend(files.iter().map(String::as_str));
        let (code, stdout, stderr) = tug(&args);
        assert_eq!(code, Some(0), "{stderr}\n{stdout}");
    }
}

#[test]
fn records_decode_what_the_standin_prints() {
    let out = "noise\nstandin pi\narg 2d70\narg \narg 6869\nenv A 78\nenv B -\ncwd 2f77\n\
               host 6831\nfiles 610a62\nstdin \nend pi\nmore noise\n";
    let r = records(out);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].standin, "pi");
    assert_eq!(r[0].args, ["-p", "", "hi"]);
    assert_eq!(r[0].env("A"), Some("x"));
    assert_eq!(r[0].env("B"), None);
    assert_eq!(r[0].cwd, "/w");
    assert_eq!(r[0].files, ["a", "b"]);
    assert_eq!(r[0].stdin, "");
}
