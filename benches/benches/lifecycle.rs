//! (d) Lifecycle latency of one short container (`true`), on each engine, interleaved run by
//! run so that load from other work falls on every variant alike:
//!
//! * `tug start` of a one-step workflow (a step-level container): the whole process, wall time;
//! * engine-api in this process, the way tug's runner does it: create, attach, start, read
//!   the output to its end, inspect for the exit code, remove (the output's end tells the exit
//!   at once; Podman's compat `wait` polls every 250 ms);
//! * engine-api create, start, `wait`, remove (what bollard-style clients do);
//! * `docker run --rm IMAGE true` and `podman --remote --url … run --rm IMAGE true`.
//!
//! Figures are medians of `TUG_BENCH_RUNS` runs (default 20) with quartiles, and client CPU
//! per run. Targets (issue 9): tug ≤ the CLI's `run --rm` on each engine. Run with
//! `cargo bench -p tug-benches --bench lifecycle`.

use std::process::Command;
use std::time::{Duration, Instant};

use engine_api::containers::{ContainerCreate, RemoveOptions, WaitCondition};
use engine_api::containers_io::AttachOptions;
use engine_api::Client;
use tug_benches::engines::{
    env_count, image, load_average, ms, run_child, tug_binary, Engine, Output,
};
use tug_benches::figures::{heading, row, verdict};

fn container() -> ContainerCreate {
    let mut c = ContainerCreate::new(image());
    c.config.cmd = Some(vec!["true".into()]);
    c.config.attach_stdout = true;
    c.config.attach_stderr = true;
    c.config
        .labels
        .insert("tug.bench".into(), "lifecycle".into());
    c
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

/// create, attach, start, output to its end, inspect, remove.
async fn attach_inspect(client: &Client) -> i64 {
    let id = client.create_container(&container()).await.unwrap().id;
    let attach = AttachOptions {
        tty: Some(false),
        ..AttachOptions::default()
    };
    let mut attached = client.attach_container(&id, &attach).await.unwrap();
    client.start_container(&id).await.unwrap();
    while attached.output.next_chunk_ref().await.unwrap().is_some() {}
    let mut code = None;
    for _ in 0..500 {
        let i = client.inspect_container(&id).await.unwrap();
        if i.state.status.is_finished() {
            code = Some(i.state.exit_code);
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if code.is_none() {
        code = Some(
            client
                .wait_container(&id, WaitCondition::NotRunning)
                .await
                .unwrap()
                .status_code,
        );
    }
    client
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
    code.unwrap_or(-1)
}

/// create, start, wait, remove.
async fn start_wait(client: &Client) -> i64 {
    let id = client.create_container(&container()).await.unwrap().id;
    client.start_container(&id).await.unwrap();
    let exit = client
        .wait_container(&id, WaitCondition::NotRunning)
        .await
        .unwrap();
    client
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
    exit.status_code
}

#[derive(Debug, Default)]
struct Series {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Series {
    fn push(&mut self, wall: Duration, cpu: Duration) {
        self.wall.push(wall);
        self.cpu.push(cpu);
    }

    /// (median, first quartile, third quartile) of the wall times, and the median CPU.
    fn figures(&self) -> (Duration, Duration, Duration, Duration) {
        let mut w = self.wall.clone();
        w.sort();
        let mut c = self.cpu.clone();
        c.sort();
        let n = w.len();
        (w[n / 2], w[n / 4], w[(3 * n) / 4], c[n / 2])
    }
}

fn main() {
    let runs = env_count("TUG_BENCH_RUNS", 20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tug = tug_binary();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let workflow = dir.path().join("one-step.yaml");
    std::fs::write(
        &workflow,
        format!(
            "name: bench-one-step\nsteps:\n  - id: one\n    container:\n      image: {}\n      \
             pull_policy: never\n    run: \"true\"\n",
            image()
        ),
    )
    .expect("write the workflow");
    for engine in Engine::selected() {
        let client = engine.client();
        // Warm up each path once (connections, image metadata, binaries in the page cache).
        runtime.block_on(attach_inspect(&client));
        runtime.block_on(start_wait(&client));
        let load = load_average();
        let (mut tug_s, mut ai, mut sw, mut cli) = (
            Series::default(),
            Series::default(),
            Series::default(),
            Series::default(),
        );
        for _ in 0..runs {
            let mut cmd = Command::new(&tug);
            cmd.arg("start")
                .arg(&workflow)
                .env("TUG_DATA_DIR", dir.path().join("data"))
                .env("NO_COLOR", "1")
                .envs(engine.tug_env());
            let r = run_child(cmd, Output::Discard);
            assert!(r.status.success(), "tug start failed on {}", engine.name());
            tug_s.push(r.wall, r.cpu);

            let (c0, t0) = (cpu_self(), Instant::now());
            assert_eq!(runtime.block_on(attach_inspect(&client)), 0);
            ai.push(t0.elapsed(), cpu_self().saturating_sub(c0));

            let (c0, t0) = (cpu_self(), Instant::now());
            assert_eq!(runtime.block_on(start_wait(&client)), 0);
            sw.push(t0.elapsed(), cpu_self().saturating_sub(c0));

            let mut cmd = engine.cli();
            cmd.args(["run", "--rm", &image(), "true"]);
            let r = run_child(cmd, Output::Discard);
            assert!(r.status.success(), "{} run failed", engine.cli_name());
            cli.push(r.wall, r.cpu);
        }
        heading(&format!(
            "(d) lifecycle of one `true` container on {}: medians of n={runs} interleaved runs \
             [quartiles], client CPU per run; load average {load:.2} before, {:.2} after",
            engine.name(),
            load_average()
        ));
        let (cli_med, cq1, cq3, ccpu) = cli.figures();
        let fmt = |m: Duration, q1: Duration, q3: Duration, cpu: Duration| {
            format!(
                "{:.0} ms [{:.0}–{:.0}] cpu {:.1} ms",
                ms(m),
                ms(q1),
                ms(q3),
                ms(cpu)
            )
        };
        let cli_name = format!("{} run --rm {} true", engine.cli_name(), image());
        let against = |m: Duration| {
            format!(
                "{:.2}× `{}`; target ≤ 1×: {}",
                m.as_secs_f64() / cli_med.as_secs_f64(),
                engine.cli_name(),
                verdict(m <= cli_med)
            )
        };
        let (m, q1, q3, c) = tug_s.figures();
        row(
            "tug start one-step.yaml (whole process)",
            &fmt(m, q1, q3, c),
            &against(m),
        );
        let (m, q1, q3, c) = ai.figures();
        row(
            "engine-api create/attach/start/EOF/inspect/remove",
            &fmt(m, q1, q3, c),
            &against(m),
        );
        let (m, q1, q3, c) = sw.figures();
        row(
            "engine-api create/start/wait/remove",
            &fmt(m, q1, q3, c),
            &against(m),
        );
        row(&cli_name, &fmt(cli_med, cq1, cq3, ccpu), "(the reference)");
    }
}
