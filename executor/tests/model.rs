//! The public API as the runner and the CLI use it: loading with options, the typed model,
//! run-time expansion and resolution, and the plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use executor::workflow::{
    expand, expand_env, load_file, load_str, resolve_volume, Action, Container, DagType, EnvFn,
    Escapes, Host, LoadOptions, MountSource, Network, ParallelItems, Protocol, Provider,
    PullPolicy, Run, Scope, Severity, SubWorkflowRef, Target,
};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn opts(host: &dyn Host) -> LoadOptions<'_> {
    LoadOptions {
        host,
        params: Vec::new(),
        base_dir: Some(PathBuf::from("/work/wf")),
    }
}

#[test]
fn typed_model_of_a_dag_level_container() {
    let host = env(&[("HOME", "/home/u")]);
    let src = "\
env:
  - IMAGE_TAG: \"3.18\"
container:
  image: alpine:${IMAGE_TAG}
  pull_policy: false
  volumes:
    - ~/.cache:/cache:ro
    - cache:/var/cache
  ports:
    - \"[::1]:8080:80/udp\"
  network: container:db
steps:
  - run: cat /etc/alpine-release
";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    let Some(Container::Image(c)) = &wf.container else {
        panic!("image mode expected")
    };
    assert_eq!(c.pull_policy, PullPolicy::Never);
    let r = c.resolve(&wf.scope, &host, &wf.working_dir, &[]).unwrap();
    assert_eq!(r.image, "alpine:3.18");
    assert_eq!(
        r.mounts[0].source,
        MountSource::Bind("/home/u/.cache".into())
    );
    assert!(r.mounts[0].read_only);
    assert_eq!(r.mounts[1].source, MountSource::Volume("cache".into()));
    assert_eq!(r.ports[0].host_ip, Some("::1".parse().unwrap()));
    assert_eq!(r.ports[0].protocol, Protocol::Udp);
    assert_eq!(r.network, Some(Network::Container("db".into())));
    assert_eq!(wf.steps[0].id, "cmd_1");
    assert_eq!(wf.dag_type, DagType::Graph);
}

#[test]
fn volume_sources_come_from_the_process_environment_and_are_checked_before_any_call() {
    let src = "container:\n  image: alpine:3\n  volumes:\n    - ${CACHE_DIR}/x:/x\nsteps:\n  - run: ls /x\n";
    let missing = env(&[]);
    let err = load_str(src, "wf.yaml", &opts(&missing)).unwrap_err();
    assert!(err
        .render()
        .contains("unresolved environment variable `CACHE_DIR`"));
    let set = EnvFn(|n: &str| (n == "CACHE_DIR").then(|| "/srv/cache".to_string()));
    let wf = load_str(src, "wf.yaml", &opts(&set)).unwrap().workflow;
    let Some(Container::Image(c)) = &wf.container else {
        panic!()
    };
    let m = resolve_volume(&c.volumes[0], &wf.scope, &set, &wf.working_dir).unwrap();
    assert_eq!(m.source, MountSource::Bind("/srv/cache/x".into()));
    assert_eq!(m.to_bind(), "/srv/cache/x:/x");
}

#[test]
fn relative_bind_mounts_follow_working_dir() {
    let host = env(&[]);
    let src = "working_dir: sub/dir\ncontainer:\n  image: alpine:3\n  volumes:\n    - ./data:/data\nsteps:\n  - run: ls\n";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    assert_eq!(wf.working_dir, PathBuf::from("/work/wf/sub/dir"));
    let Some(Container::Image(c)) = &wf.container else {
        panic!()
    };
    let r = c.resolve(&wf.scope, &host, &wf.working_dir, &[]).unwrap();
    assert_eq!(
        r.mounts[0].source,
        MountSource::Bind("/work/wf/sub/dir/data".into())
    );
}

#[test]
fn command_line_params_override_defaults_and_unknown_ones_warn() {
    let host = env(&[]);
    let src = "params:\n  - IMAGE: alpine:3\nsteps:\n  - container:\n      image: ${params.IMAGE}\n    run: echo hi\n";
    let mut o = opts(&host);
    o.params = vec![
        ("IMAGE".into(), "busybox:1".into()),
        ("IMAGES".into(), "x".into()),
    ];
    let loaded = load_str(src, "wf.yaml", &o).unwrap();
    let plan = loaded.workflow.plan();
    assert_eq!(
        plan.steps[0].target,
        Target::Image {
            image: "busybox:1".into(),
            name: None
        }
    );
    let w: Vec<_> = loaded.warnings.iter().collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].severity(), Severity::Warning);
    assert_eq!(w[0].help(), ["did you mean `IMAGE`?"]);
}

#[test]
fn env_is_evaluated_in_order_and_can_import_os_values() {
    let host = env(&[("HOME", "/home/u")]);
    let src = "env:\n  - HOST_HOME: ${HOME}\n  - CFG: ${HOST_HOME}/.config\n  - LIT: \\$HOME\nsteps:\n  - run: echo\n";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    assert_eq!(wf.scope.get("CFG"), Some("/home/u/.config"));
    assert_eq!(wf.scope.get("LIT"), Some("$HOME"));
}

#[test]
fn outputs_and_items_are_expanded_at_run_time() {
    let host = env(&[]);
    let src = "\
steps:
  - id: version
    run: cat VERSION
    output: VERSION
  - id: build
    container:
      image: app:${VERSION}
      env:
        - TAG=${VERSION}
        - FULL=${TAG}-full
    run: make
    depends: version
";
    let loaded = load_str(src, "wf.yaml", &opts(&host)).unwrap();
    assert!(loaded.warnings.is_empty(), "{}", loaded.warnings.render());
    let wf = loaded.workflow;
    let scope = wf.scope.with_outputs([("VERSION", "1.2.3")]);
    let Some(Container::Image(c)) = &wf.steps[1].container else {
        panic!()
    };
    let step_env = vec![("TAG".to_string(), "ignored".to_string())];
    let r = c
        .resolve(&scope, &host, &wf.working_dir, &step_env)
        .unwrap();
    assert_eq!(r.image, "app:1.2.3");
    assert_eq!(
        r.env,
        [
            ("TAG".into(), "1.2.3".into()),
            ("FULL".into(), "1.2.3-full".into())
        ]
    );
}

#[test]
fn an_output_from_a_step_that_is_not_a_dependency_warns() {
    let host = env(&[]);
    let src = "steps:\n  - id: a\n    run: date\n    output: NOW\n  - id: b\n    container:\n      image: alpine:3\n      env: [\"WHEN=${NOW}\"]\n    run: env\n";
    let loaded = load_str(src, "wf.yaml", &opts(&host)).unwrap();
    let text = loaded.warnings.render();
    assert!(
        text.contains("`${NOW}` is the output of step `a`, which step `b` does not depend on"),
        "{text}"
    );
    assert!(text.contains("add `depends: a`"), "{text}");
}

#[test]
fn escapes_follow_the_shell_setting() {
    let scope = Scope::new();
    assert_eq!(
        expand(r"a \$B", &scope, None, Escapes::Literal).text,
        "a $B"
    );
    assert_eq!(
        expand(r"a \$B", &scope, None, Escapes::Shell).text,
        r"a \$B"
    );
    let mut s = Scope::new();
    s.set_item(serde_json::json!({"image": "golang:1.22"}));
    assert_eq!(
        expand("${ITEM.image}", &s, None, Escapes::Literal).text,
        "golang:1.22"
    );
}

#[test]
fn expand_env_sees_earlier_entries() {
    let host = env(&[]);
    let src = "steps:\n  - run: env\n    env:\n      - A: one\n      - B: ${A}-two\n";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    let e = expand_env(&wf.steps[0].env, &wf.scope);
    assert_eq!(e[1], ("B".into(), "one-two".into()));
}

#[test]
fn chain_steps_depend_on_the_previous_one() {
    let host = env(&[]);
    let src = "type: chain\nsteps:\n  - run: echo 1\n  - run: echo 2\n  - run: echo 3\n";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    assert_eq!(wf.steps[2].depends, [1]);
    let plan = wf.plan();
    assert_eq!(plan.steps[2].depends, ["cmd_2"]);
}

#[test]
fn plan_orders_by_dependency_and_names_targets() {
    let host = env(&[]);
    let src = "\
container: my-app
steps:
  - id: last
    run: echo 3
    depends: [middle]
  - id: middle
    container:
      image: node:20
    run: [npm install, npm test]
    depends: first
  - id: first
    run: echo 1
";
    let plan = load_str(src, "wf.yaml", &opts(&host))
        .unwrap()
        .workflow
        .plan();
    let ids: Vec<_> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["first", "middle", "last"]);
    assert_eq!(
        plan.steps[0].target,
        Target::SharedExec {
            container: "my-app".into()
        }
    );
    let calls: Vec<String> = plan.steps[1]
        .calls
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert!(
        calls.contains(&"POST /containers/create".to_string()),
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("/exec")).count(),
        2,
        "one exec per command: {calls:?}"
    );
    assert_eq!(calls.last().unwrap(), "DELETE /containers/{id}?force=1");
}

#[test]
fn harness_defaults_merge_and_null_deletes() {
    let host = env(&[]);
    let src = "\
harness:
  provider: claude
  model: sonnet
  bare: true
  fallback: [codex]
harnesses:
  claude:
    binary: my-claude
steps:
  - id: review
    action: harness.run
    with:
      prompt: Review.
      bare: null
      max_turns: 3
";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    let Action::HarnessRun(h) = &wf.steps[0].action else {
        panic!()
    };
    assert_eq!(
        h.provider,
        Provider::Custom("claude".into()),
        "custom shadows built-in"
    );
    let keys: Vec<_> = h.options.keys().map(String::as_str).collect();
    assert_eq!(keys, ["max_turns", "model"]);
    assert_eq!(h.fallback.len(), 1);
}

#[test]
fn dag_run_finds_local_documents_and_files() {
    struct Files;
    impl Host for Files {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
        fn is_file(&self, p: &Path) -> bool {
            p == Path::new("/work/wf/other.yaml")
        }
    }
    let src = "\
steps:
  - name: local
    action: dag.run
    with: {dag: child}
  - name: file
    action: dag.run
    with: {dag: other}
  - name: fan
    parallel: ${LIST}
    action: dag.run
    with:
      dag: child
      params: {X: \"${ITEM}\"}
---
name: child
steps:
  - run: echo child
";
    let wf = load_str(src, "wf.yaml", &opts(&Files)).unwrap().workflow;
    let targets: Vec<_> = wf
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::DagRun(d) => d.target.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(targets[0], SubWorkflowRef::Local("child".into()));
    assert_eq!(
        targets[1],
        SubWorkflowRef::File("/work/wf/other.yaml".into())
    );
    assert!(matches!(
        wf.steps[2].parallel.as_ref().unwrap().items,
        ParallelItems::Variable(_)
    ));
    assert!(wf.sub_workflows.contains_key("child"));
}

#[test]
fn load_file_reads_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.yaml");
    std::fs::write(&path, "steps:\n  - id: hi\n    run: [echo a, echo b]\n").unwrap();
    let host = env(&[]);
    let o = LoadOptions {
        host: &host,
        ..LoadOptions::default()
    };
    let wf = load_file(&path, &o).unwrap().workflow;
    assert_eq!(wf.name, "hello");
    assert_eq!(wf.working_dir, dir.path());
    assert!(matches!(&wf.steps[0].run, Run::Commands(c) if c.len() == 2));
    let missing = load_file(&dir.path().join("nope.yaml"), &o).unwrap_err();
    assert!(missing.is_io());
}

#[test]
fn diagnostics_carry_position_and_field() {
    let host = env(&[]);
    let src = "steps:\n  - id: a\n    container:\n      image: alpine:3\n      volumes:\n        - ./x:/y:zz\n    run: ls\n";
    let d = load_str(src, "wf.yaml", &opts(&host)).unwrap_err();
    let first = d.iter().next().unwrap();
    assert_eq!((first.line(), first.column()), (Some(6), Some(11)));
    assert_eq!(first.field(), "steps[0].container.volumes[0]");
    assert!(first.is_error());
    assert_eq!(d.error_count(), 1);
}

#[test]
fn a_child_scope_is_evaluated_with_the_params_its_parent_passes() {
    let host = env(&[]);
    let src = "\
steps:
  - name: fan
    parallel: [python:3.10, python:3.11]
    action: dag.run
    with:
      dag: run-tests
      params: {IMAGE: \"${ITEM}\"}
---
name: run-tests
params:
  - IMAGE: \"\"
env:
  - LABEL: img-${IMAGE}
steps:
  - name: test
    container:
      image: ${IMAGE}
    run: python -m pytest tests/
";
    let wf = load_str(src, "wf.yaml", &opts(&host)).unwrap().workflow;
    let child = &wf.sub_workflows["run-tests"];
    let scope = child.scope_with_params(&[("IMAGE".into(), "python:3.11".into())], &host);
    assert_eq!(scope.get("LABEL"), Some("img-python:3.11"));
    let Some(Container::Image(c)) = &child.steps[0].container else {
        panic!()
    };
    let r = c.resolve(&scope, &host, &child.working_dir, &[]).unwrap();
    assert_eq!(r.image, "python:3.11");
    // Without the parent's value the image is empty, which resolution reports.
    let empty = c
        .resolve(&child.scope, &host, &child.working_dir, &[])
        .unwrap_err();
    assert_eq!(empty[0].message(), "the image name is empty");
}
