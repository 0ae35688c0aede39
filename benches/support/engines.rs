//! What the end-to-end benchmarks share: the rig's engines, their CLIs, the `tug` binary, the
//! test image, child processes timed with their CPU and peak RSS, and settings from the
//! environment.
//!
//! Settings (all optional): `TUG_BENCH_ENGINES` (`docker,podman`), `TUG_BENCH_SIZE` (bytes, or
//! with KiB/MiB/GiB), `TUG_BENCH_ROUNDS`, `TUG_BENCH_RUNS`, `TUG_BENCH_IMAGE`
//! (`tug-busybox:latest`), `TUG_BIN` (a `tug` binary; by default `target/release/tug`, built
//! first). The rig's `TUG_TEST_DOCKER_HOST` and `TUG_TEST_PODMAN_HOST` choose the sockets.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use engine_api::{Client, Endpoint, Runtime};

/// An engine of the rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker Engine.
    Docker,
    /// Podman's Docker-compatible service.
    Podman,
}

impl Engine {
    /// The engines to measure (`TUG_BENCH_ENGINES`, default both).
    pub fn selected() -> Vec<Engine> {
        let list = std::env::var("TUG_BENCH_ENGINES").unwrap_or_else(|_| "docker,podman".into());
        list.split(',')
            .filter_map(|e| match e.trim() {
                "docker" => Some(Engine::Docker),
                "podman" => Some(Engine::Podman),
                _ => None,
            })
            .collect()
    }

    /// `docker` or `podman`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    /// The endpoint URL.
    pub fn url(self) -> String {
        let (var, default) = match self {
            Engine::Docker => ("TUG_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"),
            Engine::Podman => ("TUG_TEST_PODMAN_HOST", "unix:///run/podman/podman.sock"),
        };
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.into())
    }

    /// An engine-api client.
    ///
    /// # Panics
    ///
    /// If the URL does not parse (a benchmark cannot go on).
    pub fn client(self) -> Client {
        let runtime = match self {
            Engine::Docker => Runtime::Docker,
            Engine::Podman => Runtime::Podman,
        };
        let endpoint = Endpoint::parse(&self.url(), None)
            .expect("the engine URL parses")
            .with_runtime(runtime);
        Client::new(endpoint).expect("client")
    }

    /// The engine's own CLI, pointed at the rig's socket: `docker -H URL`,
    /// `podman --remote --url URL`.
    pub fn cli(self) -> Command {
        match self {
            Engine::Docker => {
                let mut c = Command::new("docker");
                c.args(["-H", &self.url()]);
                c
            }
            Engine::Podman => {
                let mut c = Command::new("podman");
                c.args(["--remote", "--url", &self.url()]);
                c
            }
        }
    }

    /// How the CLI is written in the tables.
    pub fn cli_name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman --remote",
        }
    }

    /// Environment that points a `tug` process at this engine.
    pub fn tug_env(self) -> Vec<(&'static str, String)> {
        match self {
            Engine::Docker => vec![
                ("DAGU_CONTAINER_RUNTIME", "docker".into()),
                ("DOCKER_HOST", self.url()),
            ],
            Engine::Podman => vec![
                ("DAGU_CONTAINER_RUNTIME", "podman".into()),
                ("DAGU_PODMAN_HOST", self.url()),
            ],
        }
    }
}

/// The writer image (`TUG_BENCH_IMAGE`, default the rig's `tug-busybox:latest`).
pub fn image() -> String {
    std::env::var("TUG_BENCH_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "tug-busybox:latest".into())
}

/// A count from the environment, or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// A size from the environment (bytes, or with KiB/MiB/GiB), or `default`.
pub fn env_size(name: &str, default: u64) -> u64 {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let Ok(n) = digits.parse::<u64>() else {
        return default;
    };
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return default,
    };
    n * scale
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The `tug` binary: `TUG_BIN`, else `target/release/tug`, built with cargo first (a no-op
/// when it is up to date).
///
/// # Panics
///
/// If it cannot be built.
pub fn tug_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("TUG_BIN") {
        return PathBuf::from(bin);
    }
    // The bench binary is target/release/deps/<name>: the release directory is two up.
    let release = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(PathBuf::from))
        .expect("the benchmark's own path");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "tug"])
        .status()
        .expect("run cargo build -p tug");
    assert!(status.success(), "cargo build --release -p tug failed");
    release.join("tug")
}

/// What a child process took.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Its exit status.
    pub status: ExitStatus,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU of it and its waited-for descendants.
    pub cpu: Duration,
    /// Bytes it wrote to stdout and stderr (when counted).
    pub output: u64,
    /// Its stdout, when kept.
    pub stdout: Vec<u8>,
}

fn children_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let Ok(u) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return Duration::ZERO;
    };
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// The largest peak RSS of any child waited for so far, in bytes (`ru_maxrss`).
pub fn children_max_rss() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss() as u64 * 1024)
        .unwrap_or(0)
}

/// How a child's output is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Discarded (`/dev/null`).
    Discard,
    /// Read and counted (stdout and stderr), as a terminal or pipe reader would.
    Count,
    /// stdout kept in memory, stderr discarded.
    Keep,
}

/// Runs `cmd` to its end (children run one at a time, so the CPU delta is this one's).
///
/// # Panics
///
/// If it cannot be spawned.
pub fn run_child(mut cmd: Command, output: Output) -> ChildRun {
    cmd.stdin(Stdio::null());
    match output {
        Output::Discard => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        Output::Count => {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Output::Keep => {
            cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        }
    }
    let cpu0 = children_cpu();
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let count = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let Some(mut r) = r else { return 0u64 };
            let mut buf = vec![0u8; 256 * 1024];
            let mut n = 0u64;
            while let Ok(k) = r.read(&mut buf) {
                if k == 0 {
                    break;
                }
                n += k as u64;
            }
            n
        })
    };
    let mut stdout = Vec::new();
    let mut counted = 0;
    match output {
        Output::Discard => {}
        Output::Count => {
            let a = count(
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            );
            let b = count(
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            );
            counted = a.join().unwrap_or(0) + b.join().unwrap_or(0);
        }
        Output::Keep => {
            if let Some(mut s) = child.stdout.take() {
                let _ = s.read_to_end(&mut stdout);
            }
        }
    }
    let status = child.wait().expect("wait for the child");
    ChildRun {
        status,
        wall: start.elapsed(),
        cpu: children_cpu().saturating_sub(cpu0),
        output: counted,
        stdout,
    }
}

/// The median of some figures (n ≥ 1).
pub fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
