//! Validation speed of a large workflow (issue 4): a generated 2,000-step file — step-level
//! containers with volumes, ports and env, exec-mode and host steps, `depends` on earlier
//! steps, outputs read by later steps — parsed, validated and planned from text each round.
//!
//! Bound: well under a second (the figure printed is the best of the rounds; criterion's own
//! report follows). Run with `cargo bench -p tug-benches --bench validate`.

use std::fmt::Write as _;
use std::time::Duration;

use criterion::{black_box, Criterion};
use executor::workflow::{load_str, EnvFn, LoadOptions};
use tug_benches::figures::{best, heading, median, row, time_rounds, verdict};

const STEPS: usize = 2_000;
const ROUNDS: usize = 10;

/// A workflow of `n` steps exercising most of what validation checks.
fn workflow(n: usize) -> String {
    let mut s = String::from(
        "name: generated\nenv:\n  - TAG: \"3.20\"\n  - DATA: /srv/data\nparams:\n  - REGION: eu\n\
         container:\n  image: alpine:${TAG}\n  volumes:\n    - ${DATA}:/data\nsteps:\n",
    );
    for i in 0..n {
        let _ = writeln!(s, "  - id: step_{i}");
        match i % 4 {
            0 => {
                let _ = write!(
                    s,
                    "    container:\n      image: registry.example.com/team/app-{}:1.{}\n      \
                     platform: linux/amd64\n      pull_policy: missing\n      working_dir: /app\n      \
                     volumes:\n        - ./src:/app:ro\n        - cache-{i}:/cache\n      ports:\n        \
                     - \"127.0.0.1:{}:80/tcp\"\n      env:\n        - REGION=${{REGION}}\n        - N={i}\n",
                    i % 17,
                    i % 9,
                    10_000 + i
                );
            }
            1 => {
                let _ = writeln!(
                    s,
                    "    container:\n      exec: service-{}\n      user: root",
                    i % 5
                );
            }
            2 => {
                let _ = writeln!(s, "    output: OUT_{i}");
            }
            _ => {
                let _ = writeln!(
                    s,
                    "    retry_policy: {{limit: 2, interval_sec: 1}}\n    continue_on: {{exit_code: [3]}}"
                );
            }
        }
        if i % 4 == 3 {
            let _ = writeln!(s, "    run: echo \"${{OUT_{}}}\" && make target-{i}", i - 1);
        } else {
            let _ = writeln!(s, "    run: make target-{i} REGION=${{REGION}}");
        }
        if i > 0 {
            let mut deps = vec![format!("step_{}", i - 1)];
            if i >= 10 {
                deps.push(format!("step_{}", i - 10));
            }
            let _ = writeln!(s, "    depends: [{}]", deps.join(", "));
        }
    }
    s
}

fn validate(src: &str) -> usize {
    let host = EnvFn(|n: &str| (n == "HOME").then(|| "/home/bench".to_string()));
    let options = LoadOptions {
        host: &host,
        params: Vec::new(),
        base_dir: Some("/work".into()),
    };
    let loaded =
        load_str(src, "generated.yaml", &options).expect("the generated workflow is valid");
    loaded.workflow.plan().steps.len()
}

fn main() {
    let src = workflow(STEPS);
    assert_eq!(validate(&src), STEPS);
    let times = time_rounds(ROUNDS, || validate(black_box(&src)));
    let fastest = best(&times);
    let typical = median(times);
    heading(&format!(
        "workflow validation: {STEPS} steps, {} KiB of YAML (parse + validate + plan)",
        src.len() / 1024
    ));
    row(
        "best of rounds",
        &format!("{:.1} ms", fastest.as_secs_f64() * 1e3),
        &format!(
            "bound: well under 1000 ms — {}",
            verdict(fastest < Duration::from_millis(250))
        ),
    );
    row(
        "median of rounds",
        &format!("{:.1} ms", typical.as_secs_f64() * 1e3),
        "",
    );

    let mut c = Criterion::default().sample_size(10).configure_from_args();
    c.bench_function("validate 2000-step workflow", |b| {
        b.iter(|| validate(black_box(&src)))
    });
    c.final_summary();
}
