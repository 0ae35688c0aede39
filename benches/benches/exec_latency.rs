//! (e) Exec latency: `true` run by exec in a running container, on each engine — engine-api in
//! this process (create, start attached, read the output to its end, inspect the exit code:
//! what tug's runner does for a step in a shared container) against `docker exec ID true` and
//! `podman --remote --url … exec ID true`, interleaved run by run.
//!
//! Figures are medians of `TUG_BENCH_RUNS` runs (default 20) with quartiles. Target (issue 9):
//! engine-api ≤ 0.8× the CLI's. Run with `cargo bench -p tug-benches --bench exec_latency`.

use std::time::{Duration, Instant};

use engine_api::containers::{ContainerCreate, RemoveOptions};
use engine_api::exec::ExecCreate;
use engine_api::Client;
use tug_benches::engines::{env_count, image, load_average, ms, run_child, Engine, Output};
use tug_benches::figures::{heading, row, verdict};

/// One exec of `true`: create, start attached, drain, inspect until it has exited.
async fn exec_true(client: &Client, container: &str) -> i64 {
    let id = client
        .create_exec(container, &ExecCreate::new(["true"]))
        .await
        .unwrap();
    let mut attached = client.start_exec(&id, false).await.unwrap();
    while attached.output.next_chunk_ref().await.unwrap().is_some() {}
    loop {
        let i = client.inspect_exec(&id).await.unwrap();
        if !i.running {
            return i.exit_code.unwrap_or(-1);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn quartiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n / 2], v[n / 4], v[(3 * n) / 4])
}

fn main() {
    let runs = env_count("TUG_BENCH_RUNS", 20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for engine in Engine::selected() {
        let client = engine.client();
        let mut c = ContainerCreate::new(image());
        c.config.cmd = Some(vec!["sleep".into(), "2147483647".into()]);
        c.config.labels.insert("tug.bench".into(), "exec".into());
        let id = runtime.block_on(async {
            let id = client.create_container(&c).await.unwrap().id;
            client.start_container(&id).await.unwrap();
            id
        });
        runtime.block_on(exec_true(&client, &id));
        let load = load_average();
        let (mut ours, mut cli) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            assert_eq!(runtime.block_on(exec_true(&client, &id)), 0);
            ours.push(t0.elapsed());
            let mut cmd = engine.cli();
            cmd.args(["exec", &id, "true"]);
            let r = run_child(cmd, Output::Discard);
            assert!(r.status.success(), "{} exec failed", engine.cli_name());
            cli.push(r.wall);
        }
        runtime.block_on(async {
            let _ = client.remove_container(&id, RemoveOptions::force()).await;
        });
        heading(&format!(
            "(e) exec latency of `true` on {}: medians of n={runs} interleaved runs [quartiles]; \
             load average {load:.2} before, {:.2} after",
            engine.name(),
            load_average()
        ));
        let (cm, cq1, cq3) = quartiles(cli);
        let (m, q1, q3) = quartiles(ours);
        let ratio = m.as_secs_f64() / cm.as_secs_f64();
        row(
            "engine-api create/start/EOF/inspect",
            &format!("{:.1} ms [{:.1}–{:.1}]", ms(m), ms(q1), ms(q3)),
            &format!(
                "{ratio:.2}× the CLI; target ≤ 0.8×: {}",
                verdict(ratio <= 0.8)
            ),
        );
        row(
            &format!("{} exec ID true (whole process)", engine.cli_name()),
            &format!("{:.1} ms [{:.1}–{:.1}]", ms(cm), ms(cq1), ms(cq3)),
            "(the reference)",
        );
    }
}
