//! (g) Peak RSS of `tug start` while one step streams 1 GiB of 60-byte lines into its log
//! file, on each engine: a step in a fresh container (output by attach) and a step run by exec
//! in the shared DAG-level container. The log file must hold every byte.
//!
//! Peak RSS is the tug process's `VmHWM`, sampled from `/proc/<pid>/status` every 20 ms while
//! it runs (it only grows, so the last sample is the peak but for the last 20 ms); the rate is
//! the volume over the run's wall time. Target (issue 9): ≤ 32 MiB. `TUG_BENCH_SIZE` changes
//! the 1 GiB. Run with `cargo bench -p tug-benches --bench step_rss`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tug_benches::engines::{env_size, image, load_average, tug_binary, Engine};
use tug_benches::figures::{heading, row, verdict};

const LINE: &str = "tug-bench-stdout 0123456789 abcdefghijklmnopqrstuvwxyz ABCD";

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// The sizes of every `.out` file under `dir`.
fn out_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            total += out_bytes(&p);
        } else if p.extension().is_some_and(|x| x == "out") {
            total += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

fn main() {
    let size = env_size("TUG_BENCH_SIZE", 1 << 30) / 60 * 60;
    let tug = tug_binary();
    let script = format!("yes '{LINE}' | head -c {size}");
    for engine in Engine::selected() {
        heading(&format!(
            "(g) tug start, one step writing {:.0} MiB into its log file, on {} (load average {:.2})",
            size as f64 / (1 << 20) as f64,
            engine.name(),
            load_average()
        ));
        for (what, yaml) in [
            (
                "step in a fresh container (attach)",
                format!(
                    "name: bench-rss\nsteps:\n  - id: big\n    container:\n      image: {}\n      \
                     pull_policy: never\n    run: sh -c \"{script}\"\n",
                    image()
                ),
            ),
            (
                "step by exec in the DAG-level container",
                format!(
                    "name: bench-rss\ncontainer:\n  image: {}\n  pull_policy: never\nsteps:\n  \
                     - id: big\n    run: sh -c \"{script}\"\n",
                    image()
                ),
            ),
        ] {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let file = dir.path().join("big.yaml");
            std::fs::write(&file, yaml).expect("write the workflow");
            let data = dir.path().join("data");
            let start = Instant::now();
            let mut child = Command::new(&tug)
                .arg("start")
                .arg("--quiet")
                .arg(&file)
                .env("TUG_DATA_DIR", &data)
                .env("NO_COLOR", "1")
                .envs(engine.tug_env())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run tug start");
            let pid = child.id();
            let mut peak = 0;
            let status = loop {
                if let Some(h) = vm_hwm(pid) {
                    peak = peak.max(h);
                }
                if let Some(s) = child.try_wait().expect("wait for tug") {
                    break s;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let wall = start.elapsed();
            let written = out_bytes(&data);
            let mib = peak as f64 / (1 << 20) as f64;
            row(
                &format!("{what}: peak RSS"),
                &format!("{mib:.1} MiB"),
                &format!("target ≤ 32 MiB: {}", verdict(mib <= 32.0 && peak > 0)),
            );
            row(
                &format!(
                    "{what}: log file{}",
                    if status.success() {
                        ""
                    } else {
                        " (tug FAILED)"
                    }
                ),
                &format!("{:.1} MB/s", written as f64 / wall.as_secs_f64() / 1e6),
                &format!(
                    "{written} of {size} bytes {}, in {:.1} s",
                    if written == size {
                        "(all)"
                    } else {
                        "— INCOMPLETE"
                    },
                    wall.as_secs_f64()
                ),
            );
        }
    }
}
