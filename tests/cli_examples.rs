//! Every file under `examples/` runs, on Docker and on Podman, through the `tug` binary, with
//! the effects its guide under `docs/` promises; and every example and every complete workflow
//! shown in the guides validates (no engine needed for that part).

#[path = "cli_support.rs"]
mod cli_support;

use cli_support::{example, workspace, Output, Tug};
use tug_tests::{engine_test, registry, unique, Engine};

/// Runs `tug start examples/<file>` on `engine` with a run id of its own; asserts exit 0.
fn run_example(engine: Engine, file: &str, params: &[&str]) -> (Output, String) {
    let run_id = unique(&file.replace(".yaml", ""));
    let path = example(file);
    let mut args = vec!["start", path.to_str().unwrap(), "--run-id", &run_id];
    if !params.is_empty() {
        args.push("--");
        args.extend_from_slice(params);
    }
    let out = Tug::new(&args).envs(&engine.env()).run();
    out.assert_code(0);
    assert!(
        out.stdout.contains("Result: succeeded"),
        "{}",
        out.transcript()
    );
    (out, run_id)
}

/// A line of step `step`'s output in plain mode (`HH:MM:SS.mmm step | text`).
fn has_line(out: &Output, step: &str, text: &str) -> bool {
    out.stdout.lines().any(|l| {
        l.split_once(' ').is_some_and(|(_, rest)| {
            rest.split_once(" | ")
                .is_some_and(|(who, t)| who.trim() == step && t == text)
        })
    })
}

fn assert_line(out: &Output, step: &str, text: &str) {
    assert!(
        has_line(out, step, text),
        "no line `{step} | {text}`:\n{}",
        out.transcript()
    );
}

async fn assert_clean(client: &engine_api::Client, run_id: &str) {
    let left = client
        .list_containers(&engine_api::containers::ListContainers::all(
            engine_api::Filters::new().label(format!("tug.run={run_id}")),
        ))
        .await
        .expect("list containers");
    assert!(left.is_empty(), "containers of {run_id} left: {left:?}");
}

engine_test!(hello, |engine, client| {
    let (out, run_id) = run_example(engine, "hello.yaml", &[]);
    assert_line(
        &out,
        "fresh",
        "a fresh container as uid 1000 was handed [hello from the shared container]",
    );
    assert_clean(&client, &run_id).await;
});

engine_test!(container_modes, |engine, client| {
    let name = format!("NAME={}", unique("tug-example-modes"));
    let (out, run_id) = run_example(engine, "container-modes.yaml", &[&name]);
    assert_line(&out, "read", "written in the shared container");
    assert_line(
        &out,
        "fresh",
        "uid 1000 in the step-level container; note.txt there? no",
    );
    assert_line(&out, "several", "count is 2");
    assert_line(
        &out,
        "exec",
        "exec mode as uid 1000 reads [written in the shared container]",
    );
    assert_line(&out, "raw", "memory limit 67108864");
    assert_clean(&client, &run_id).await;
});

engine_test!(podman_example, |engine, client| {
    let (out, run_id) = run_example(engine, "podman.yaml", &[]);
    assert_line(&out, "ready", "the container is healthy");
    assert_line(
        &out,
        "rootless-friendly",
        "uid=1000(tug) gid=1000(tug) groups=1000(tug)",
    );
    assert_clean(&client, &run_id).await;
});

engine_test!(registries, |engine, client| {
    let (_, _, password) = registry();
    let password = format!("REGISTRY_PASSWORD={password}");
    let (out, run_id) = run_example(engine, "registries.yaml", &[&password]);
    assert_line(&out, "pull-and-run", "pulled from the registry and running");
    assert_clean(&client, &run_id).await;
    // The wrong password is an authentication error naming the registry.
    let path = example("registries.yaml");
    let out = Tug::new(&[
        "start",
        path.to_str().unwrap(),
        "--",
        "REGISTRY_PASSWORD=wrong",
    ])
    .envs(&engine.env())
    .run();
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("authentication with registry 127.0.0.1:5000 failed"),
        "{}",
        out.transcript()
    );
});

engine_test!(fan_out, |engine, client| {
    let (out, run_id) = run_example(engine, "fan-out.yaml", &[]);
    assert_line(&out, "matrix[0]/greet", "hello from uid 0 gid 0");
    assert_line(&out, "matrix[1]/greet", "bonjour from uid 1000 gid 1000");
    assert_line(&out, "matrix[2]/greet", "hallo from uid 1000 gid 0");
    assert_line(&out, "summary", "every configuration ran");
    assert!(
        out.stdout.matches("↳ greet [").count() == 3,
        "three child runs in the summary:\n{}",
        out.stdout
    );
    assert_clean(&client, &run_id).await;
});

engine_test!(harness_sandbox, |engine, client| {
    let (out, run_id) = run_example(engine, "harness-sandbox.yaml", &[]);
    assert_line(&out, "agent", "from a command step");
    assert_line(&out, "agent", "agent ran as uid 0 in /workspace");
    assert_line(
        &out,
        "isolated",
        "a fresh sandbox: nothing from the shared container",
    );
    assert_clean(&client, &run_id).await;
});

engine_test!(runner_image, |engine, client| {
    let (out, run_id) = run_example(engine, "runner-image.yaml", &[]);
    assert_line(&out, "home", "HOME (/tmp/home) is writable");
    // busybox's `command -v` names its applets without a path.
    for binary in ["sh", "tar", "wget"] {
        assert_line(&out, "through-the-harness", binary);
    }
    assert_clean(&client, &run_id).await;
});

/// Every example validates.
#[test]
fn examples_validate() {
    let mut files: Vec<String> = std::fs::read_dir(workspace().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = Tug::new(&args).run();
    out.assert_code(0);
}

/// The fenced YAML blocks of `text` that are whole workflows (they have `steps:`).
fn workflows_in(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut block {
            None if line.trim_start().starts_with("```yaml") => {
                block = Some((n + 1, String::new()))
            }
            Some((start, body)) if line.trim_start().starts_with("```") => {
                if body.lines().any(|l| l.starts_with("steps:")) {
                    out.push((*start, std::mem::take(body)));
                }
                block = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Every guide links to an example that exists, and every whole workflow it shows validates.
#[test]
fn guides_show_valid_workflows_and_runnable_examples() {
    let docs = workspace().join("docs");
    let guides = [
        ("container-modes.md", "examples/container-modes.yaml"),
        ("podman.md", "examples/podman.yaml"),
        ("registries.md", "examples/registries.yaml"),
        ("harness-sandboxes.md", "examples/harness-sandbox.yaml"),
        ("runner-images.md", "examples/runner-image.yaml"),
        ("fan-out.md", "examples/fan-out.yaml"),
    ];
    let tmp = tempfile::tempdir().expect("dir");
    for (guide, example_file) in guides {
        let text = std::fs::read_to_string(docs.join(guide))
            .unwrap_or_else(|e| panic!("docs/{guide}: {e}"));
        assert!(
            text.contains(example_file),
            "docs/{guide} does not point at {example_file}"
        );
        assert!(workspace().join(example_file).is_file(), "{example_file}");
        for (line, yaml) in workflows_in(&text) {
            let file = tmp
                .path()
                .join(format!("{}-{line}.yaml", guide.replace(".md", "")));
            std::fs::write(&file, yaml).expect("write");
            let out = Tug::new(&["validate", file.to_str().unwrap()])
                .env("REGISTRY_PASSWORD", "x")
                .run();
            assert_eq!(
                out.code,
                Some(0),
                "the workflow at docs/{guide}:{line} does not validate:\n{}",
                out.transcript()
            );
        }
    }
}
