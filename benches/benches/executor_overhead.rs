//! (f) Executor overhead per step: a workflow of 200 chained steps (`true`), every one run by
//! exec in one shared DAG-level container, run by the executor in this process (no terminal
//! rendering), against the same workflow with one step (the container's setup and teardown)
//! and against a bare engine-api exec round trip (the floor: what a step cannot avoid).
//!
//! Per step = (T(200) − T(1)) ÷ 199; overhead = per step − the bare exec's median, measured
//! in batches of 20 between the runs (the engine's exec time drifts with the machine's load,
//! so the wall-time overhead is noisy). The executor's own CPU per step, (CPU(200) − CPU(1)) ÷
//! 199 from `getrusage` of this process, does not depend on the engine's speed. Medians of
//! `TUG_BENCH_ROUNDS` rounds (default 3); `TUG_BENCH_STEPS` changes the 200. Run with
//! `cargo bench -p tug-benches --bench executor_overhead`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_api::containers::{ContainerCreate, RemoveOptions};
use engine_api::exec::ExecCreate;
use engine_api::{Client, Endpoint, Runtime};
use executor::run::{self, cancel_pair, EventSink, RunOptions, RunStatus};
use executor::workflow::{load_str, LoadOptions, ProcessHost};
use tug_benches::engines::{env_count, image, load_average, ms, Engine};
use tug_benches::figures::{heading, row};

fn workflow(steps: usize) -> String {
    let mut s = format!(
        "name: bench-overhead\ncontainer:\n  image: {}\n  pull_policy: never\nsteps:\n",
        image()
    );
    for i in 0..steps {
        let _ = writeln!(s, "  - id: s{i}\n    run: \"true\"");
        if i > 0 {
            let _ = writeln!(s, "    depends: s{}", i - 1);
        }
    }
    s
}

fn cpu_self() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// Runs the workflow of `steps` steps: (wall time, CPU time of this process).
async fn run_workflow(
    engine: Engine,
    steps: usize,
    data: &std::path::Path,
) -> (Duration, Duration) {
    let loaded = load_str(&workflow(steps), "bench.yaml", &LoadOptions::default())
        .expect("the generated workflow is valid");
    let runtime = match engine {
        Engine::Docker => Runtime::Docker,
        Engine::Podman => Runtime::Podman,
    };
    let endpoint = Endpoint::parse(&engine.url(), None)
        .map(|e| e.with_runtime(runtime))
        .map_err(|e| e.to_string());
    let options = RunOptions {
        run_id: None,
        data_dir: data.to_path_buf(),
        endpoint,
        engine_name: None,
        engines: None,
        host: Arc::new(ProcessHost),
        max_active: run::DEFAULT_MAX_ACTIVE,
        grace: Duration::from_secs(5),
        exec_wait: Duration::from_secs(60),
        source_file: None,
        params: Vec::new(),
        parent: None,
    };
    let (_handle, cancel) = cancel_pair();
    let cpu = cpu_self();
    let start = Instant::now();
    let summary = run::run(
        Arc::new(loaded.workflow),
        options,
        EventSink::none(),
        cancel,
    )
    .await;
    let took = (start.elapsed(), cpu_self().saturating_sub(cpu));
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "the run failed: {:?}",
        summary.error
    );
    took
}

async fn bare_exec(client: &Client, container: &str) -> Duration {
    let start = Instant::now();
    let id = client
        .create_exec(container, &ExecCreate::new(["true"]))
        .await
        .unwrap();
    let mut attached = client.start_exec(&id, false).await.unwrap();
    while attached.output.next_chunk_ref().await.unwrap().is_some() {}
    while client.inspect_exec(&id).await.unwrap().running {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds = env_count("TUG_BENCH_ROUNDS", 3);
    let steps = env_count("TUG_BENCH_STEPS", 200).max(2);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempfile::tempdir().expect("a temporary directory");
    for engine in Engine::selected() {
        let client = engine.client();
        let load = load_average();
        let (mut long, mut short, mut bare) = (Vec::new(), Vec::new(), Vec::new());
        let (mut long_cpu, mut short_cpu) = (Vec::new(), Vec::new());
        let host = runtime.block_on(async {
            let mut c = ContainerCreate::new(image());
            c.config.cmd = Some(vec!["sleep".into(), "2147483647".into()]);
            c.config
                .labels
                .insert("tug.bench".into(), "overhead".into());
            let id = client.create_container(&c).await.unwrap().id;
            client.start_container(&id).await.unwrap();
            bare_exec(&client, &id).await;
            id
        });
        runtime.block_on(run_workflow(engine, 1, data.path()));
        for _ in 0..rounds {
            for _ in 0..20 {
                bare.push(runtime.block_on(bare_exec(&client, &host)));
            }
            let (w, c) = runtime.block_on(run_workflow(engine, 1, data.path()));
            short.push(w);
            short_cpu.push(c);
            let (w, c) = runtime.block_on(run_workflow(engine, steps, data.path()));
            long.push(w);
            long_cpu.push(c);
        }
        runtime.block_on(async {
            let _ = client.remove_container(&host, RemoveOptions::force()).await;
        });
        let (t_long, t_short, t_bare) = (median(long), median(short), median(bare));
        let per_step = t_long.saturating_sub(t_short) / (steps as u32 - 1);
        let overhead = per_step.as_secs_f64() - t_bare.as_secs_f64();
        let cpu_per_step = median(long_cpu).saturating_sub(median(short_cpu)) / (steps as u32 - 1);
        heading(&format!(
            "(f) executor overhead per step on {}: {steps} chained steps in one shared container, \
             medians of {rounds} rounds (bare exec: n={}); load average {load:.2} before, {:.2} after",
            engine.name(),
            rounds * 20,
            load_average()
        ));
        row(
            &format!("run of {steps} steps (executor in process)"),
            &format!("{:.2} s", t_long.as_secs_f64()),
            &format!("run of 1 step: {:.0} ms", ms(t_short)),
        );
        row(
            &format!("per step: (T({steps}) − T(1)) ÷ {}", steps - 1),
            &format!("{:.1} ms", ms(per_step)),
            &format!(
                "bound: a bare engine-api exec round trip, {:.1} ms",
                ms(t_bare)
            ),
        );
        row(
            "executor overhead per step (per step − bare exec)",
            &format!("{:.1} ms", overhead * 1e3),
            &format!(
                "{:.0}% of the exec round trip",
                overhead / t_bare.as_secs_f64() * 100.0
            ),
        );
        row(
            "executor CPU per step (this process)",
            &format!("{:.2} ms", ms(cpu_per_step)),
            &format!(
                "{:.0}% of the exec round trip's wall time",
                cpu_per_step.as_secs_f64() / t_bare.as_secs_f64() * 100.0
            ),
        );
    }
}
