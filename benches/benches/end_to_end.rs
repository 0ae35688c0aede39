//! (c) End-to-end log throughput on the real engines, for each way of reading a container's
//! output (logs of a finished container, follow while it runs, attach before it starts, an
//! exec's output), as ratios: tug (engine-api) ÷ a raw socket read of the same stream, and
//! tug ÷ the engine's own CLI (`docker logs`, `docker logs -f`, `docker start -a`,
//! `docker exec`, and the same through `podman --remote --url …`).
//!
//! The tug figures come from `tug bench logs --json` (it reads the stream through engine-api
//! and then raw, alternating which goes first each round); the CLI's from a writer of the same
//! volume read by the CLI process, whose output this benchmark reads and counts (so a CLI that
//! loses data shows it). CPU is the reading process's user + system time (for the CLI, from
//! `getrusage(RUSAGE_CHILDREN)`).
//!
//! Targets (issue 9): tug ≥ 0.95× the raw read, with less client CPU than the CLI. Run with
//! `cargo bench -p tug-benches --bench end_to_end`; `TUG_BENCH_SIZE` (default 32MiB),
//! `TUG_BENCH_ROUNDS` (default 3), `TUG_BENCH_ENGINES`, `TUG_BENCH_MODES`
//! (`logs,follow,attach,exec`).

use std::process::Command;

use engine_api::containers::{ContainerCreate, RemoveOptions, WaitCondition};
use engine_api::Client;
use serde_json::Value;
use tug_benches::engines::{
    env_count, env_size, image, load_average, median_f64, run_child, tug_binary, Engine, Output,
};
use tug_benches::figures::{heading, row, verdict};

/// The writer's line: 59 characters and a newline, as `tug bench logs` writes.
const LINE: &str = "tug-bench-stdout 0123456789 abcdefghijklmnopqrstuvwxyz ABCD";

fn script(bytes: u64) -> String {
    format!("yes '{LINE}' | head -c {bytes}")
}

fn writer(bytes: u64) -> ContainerCreate {
    let mut c = ContainerCreate::new(image());
    c.config.cmd = Some(vec!["sh".into(), "-c".into(), script(bytes)]);
    c.config.attach_stdout = true;
    c.config.attach_stderr = true;
    c.config
        .labels
        .insert("tug.bench".into(), "end_to_end".into());
    c
}

/// tug's figures for one engine and mode, from `tug bench logs --json`.
#[derive(Debug, Default)]
struct TugFigures {
    mb_s: f64,
    raw_mb_s: f64,
    ratio: f64,
    cpu_s: f64,
    raw_cpu_s: f64,
    rss_mib: f64,
    complete: bool,
    raw_reference: String,
}

fn tug_bench(engine: Engine, mode: &str, size: u64, rounds: usize) -> Option<TugFigures> {
    let mut cmd = Command::new(tug_binary());
    cmd.args([
        "bench",
        "logs",
        "--json",
        "--engine",
        engine.name(),
        "--mode",
        mode,
    ])
    .args(["--size", &size.to_string(), "--rounds", &rounds.to_string()])
    .args(["--image", &image()])
    .envs(engine.tug_env());
    let run = run_child(cmd, Output::Keep);
    let v: Value = serde_json::from_slice(&run.stdout).ok()?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Some(TugFigures {
        mb_s: f("throughput_mb_s"),
        raw_mb_s: f("raw_throughput_mb_s"),
        ratio: f("ratio"),
        cpu_s: f("cpu_s"),
        raw_cpu_s: f("raw_cpu_s"),
        rss_mib: f("peak_rss_mib"),
        complete: v["complete"].as_bool().unwrap_or(false),
        raw_reference: v["raw_reference"].as_str().unwrap_or("").to_string(),
    })
}

/// The CLI reading one writer's output in `mode`: (MB/s, CPU s, bytes it printed).
async fn cli_read(client: &Client, engine: Engine, mode: &str, size: u64) -> (f64, f64, u64) {
    let mut created = Vec::new();
    let mut cli = engine.cli();
    match mode {
        "logs" => {
            let id = client.create_container(&writer(size)).await.unwrap().id;
            created.push(id.clone());
            client.start_container(&id).await.unwrap();
            client
                .wait_container(&id, WaitCondition::NotRunning)
                .await
                .unwrap();
            cli.args(["logs", &id]);
        }
        "follow" => {
            let id = client.create_container(&writer(size)).await.unwrap().id;
            created.push(id.clone());
            client.start_container(&id).await.unwrap();
            cli.args(["logs", "-f", &id]);
        }
        "attach" => {
            let id = client.create_container(&writer(size)).await.unwrap().id;
            created.push(id.clone());
            cli.args(["start", "-a", &id]);
        }
        _ => {
            let mut host = writer(0);
            host.config.cmd = Some(vec!["sleep".into(), "2147483647".into()]);
            let id = client.create_container(&host).await.unwrap().id;
            created.push(id.clone());
            client.start_container(&id).await.unwrap();
            cli.args(["exec", &id, "sh", "-c", &script(size)]);
        }
    }
    let run = run_child(cli, Output::Count);
    for id in created {
        let _ = client.remove_container(&id, RemoveOptions::force()).await;
    }
    (
        run.output as f64 / run.wall.as_secs_f64() / 1e6,
        run.cpu.as_secs_f64(),
        run.output,
    )
}

fn main() {
    let size = env_size("TUG_BENCH_SIZE", 32 << 20) / 60 * 60;
    let rounds = env_count("TUG_BENCH_ROUNDS", 3);
    let modes_env =
        std::env::var("TUG_BENCH_MODES").unwrap_or_else(|_| "logs,follow,attach,exec".into());
    let modes: Vec<&str> = modes_env.split(',').map(str::trim).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tug_binary();
    for engine in Engine::selected() {
        let client = engine.client();
        heading(&format!(
            "(c) end to end on {}: {:.0} MiB of 60-byte lines, medians of {rounds} rounds, load average {:.2} at the start",
            engine.name(),
            size as f64 / (1 << 20) as f64,
            load_average()
        ));
        for &mode in &modes {
            let Some(t) = tug_bench(engine, mode, size, rounds) else {
                row(&format!("{mode}: tug bench logs"), "failed", "(see above)");
                continue;
            };
            let mut cli_mb = Vec::new();
            let mut cli_cpu = Vec::new();
            let mut cli_bytes = u64::MAX;
            for _ in 0..rounds {
                let (mb, cpu, bytes) = runtime.block_on(cli_read(&client, engine, mode, size));
                cli_mb.push(mb);
                cli_cpu.push(cpu);
                cli_bytes = cli_bytes.min(bytes);
            }
            let (cli_mb, cli_cpu) = (median_f64(cli_mb), median_f64(cli_cpu));
            let raw_what = if t.raw_reference == mode {
                format!("raw {mode} read")
            } else {
                format!(
                    "raw {} read (Podman's follow=1 loses data)",
                    t.raw_reference
                )
            };
            row(
                &format!(
                    "{mode}: tug (engine-api){}",
                    if t.complete { "" } else { " INCOMPLETE" }
                ),
                &format!("{:.1} MB/s", t.mb_s),
                &format!(
                    "CPU {:.2} s, peak RSS {:.1} MiB (target ≤ 16: {})",
                    t.cpu_s,
                    t.rss_mib,
                    verdict(t.rss_mib <= 16.0)
                ),
            );
            row(
                &format!("{mode}: {raw_what}"),
                &format!("{:.1} MB/s", t.raw_mb_s),
                &format!(
                    "tug ÷ raw {:.2}× (target ≥ 0.95×: {}); raw CPU {:.2} s",
                    t.ratio,
                    verdict(t.ratio >= 0.95),
                    t.raw_cpu_s
                ),
            );
            let lost = if cli_bytes < size {
                format!(" — printed {cli_bytes} of {size} bytes")
            } else {
                String::new()
            };
            row(
                &format!("{mode}: {} CLI{lost}", engine.cli_name()),
                &format!("{cli_mb:.1} MB/s"),
                &format!(
                    "tug ÷ CLI {:.2}×; CLI CPU {cli_cpu:.2} s, tug's {:.2} s (target less: {})",
                    t.mb_s / cli_mb,
                    t.cpu_s,
                    verdict(t.cpu_s < cli_cpu)
                ),
            );
        }
    }
}
