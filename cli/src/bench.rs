//! `tug bench logs`: how fast tug reads a container's output, beside a raw read of the same
//! stream from the engine's socket in the same run.
//!
//! A container (or an exec) of a local image writes a chosen volume of 60-byte lines to stdout
//! and, by a ratio, to stderr. engine-api reads it in the chosen mode — the logs of the
//! finished container, a follow while it runs, an attach before it starts, or an exec's
//! output — through the borrowed chunk API (`LogStream::next_chunk_ref`). A minimal raw reader
//! then reads the same stream from a second identical writer (or, for `logs`, from the same
//! container): it connects to the socket, sends the request and counts bytes to EOF, nothing
//! else, so it is the floor any client's cost is measured against.
//!
//! Figures: payload MB/s (10^6 bytes per second), frames (pieces handed out) per second, the
//! client's CPU seconds (`getrusage`, user + system, this process: the runtime is
//! single-threaded, so that is the reader) and its peak RSS (`VmHWM`, reset before the read
//! through `/proc/self/clear_refs`). The ratio is engine-api's throughput over the raw
//! read's. Podman's `follow=1` loses data, so with `--mode follow` on Podman the raw reference
//! is an attach, the fastest complete way to read a running container's output there.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine_api::containers::{ContainerCreate, RemoveOptions, WaitCondition};
use engine_api::containers_io::{AttachOptions, LogsOptions};
use engine_api::endpoint::Address;
use engine_api::exec::ExecCreate;
use engine_api::stream::{LogStream, StreamKind};
use engine_api::{Client, Endpoint};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::exit;

/// Examples under `tug bench logs --help`.
const LOGS_HELP: &str = "\
Examples:
  tug bench logs                                  256 MiB of logs of a finished container
  tug bench logs --engine podman --mode follow    follow a running container on Podman
  tug bench logs --mode attach --size 1GiB --stderr-ratio 0.25
  tug bench logs --mode exec --tty --json

The writer is `yes LINE | head -c N` in the image (default tug-busybox:latest, which must be
present: nothing is pulled). Each figure is compared with a raw read of the same stream from
the engine's socket in the same run (a request and a byte count, nothing else). Targets:
throughput ≥ 0.95× the raw read, peak RSS ≤ 16 MiB. Other processes on the machine skew
both: the load average is printed with the figures.";

/// The bytes of one line the writer prints (59 characters and a newline).
const LINE: usize = 60;
const STDOUT_LINE: &str = "tug-bench-stdout 0123456789 abcdefghijklmnopqrstuvwxyz ABCD";
const STDERR_LINE: &str = "tug-bench-stderr 0123456789 abcdefghijklmnopqrstuvwxyz ABCD";
/// The label on every container the benchmark creates.
const LABEL: &str = "tug.bench";
/// The raw reader's buffer.
const RAW_BUFFER: usize = 256 * 1024;
/// Target: engine-api's throughput over the raw read's.
const TARGET_RATIO: f64 = 0.95;
/// Target: peak RSS of the reading process, MiB.
const TARGET_RSS_MIB: f64 = 16.0;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Log-stream throughput: a container writes a volume of lines; engine-api reads them
    /// (logs, follow, attach or exec) beside a raw socket read of the same stream.
    #[command(after_help = LOGS_HELP)]
    Logs(LogsArgs),
}

/// Options of `tug bench logs`, as typed.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The engine (default: chosen from the environment, as for `tug start`).
    #[arg(long, value_enum)]
    engine: Option<EngineChoice>,
    /// How much the container writes: bytes, or with a unit (KiB, MiB, GiB; KB, MB, GB).
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "SIZE")]
    size: u64,
    /// How the output is read.
    #[arg(long, value_enum, default_value_t = Mode::Logs)]
    mode: Mode,
    /// Give the container (or exec) a TTY: one raw stream, no frames.
    #[arg(long)]
    tty: bool,
    /// The share of the lines written to stderr, 0 to 1 (ignored with --tty).
    #[arg(long, default_value_t = 0.0, value_parser = parse_ratio, value_name = "R")]
    stderr_ratio: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// The image of the writer (must have sh, yes and head; it is not pulled).
    #[arg(long, default_value = "tug-busybox:latest")]
    image: String,
    /// Reads of each kind; figures are medians.
    #[arg(long, default_value_t = 1, value_name = "N")]
    rounds: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineChoice {
    Docker,
    Podman,
}

/// How the output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// The logs of the finished container.
    Logs,
    /// Follow the logs while the container runs.
    Follow,
    /// Attach before the container starts.
    Attach,
    /// The output of an exec in a running container.
    Exec,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Logs => "logs",
            Mode::Follow => "follow",
            Mode::Attach => "attach",
            Mode::Exec => "exec",
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (for example 256MiB, 1GiB, 1000000)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown unit {other:?} (use KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    let size = n
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if size < LINE as u64 {
        return Err(format!("the size must be at least one line ({LINE} bytes)"));
    }
    Ok(size)
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{text:?} is not a ratio between 0 and 1")),
    }
}

pub async fn run(cmd: BenchCommand, context: Option<&str>) -> anyhow::Result<u8> {
    match cmd {
        BenchCommand::Logs(args) => logs(args, context).await,
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: typed arguments made ready to use.

/// What one benchmark does.
#[derive(Debug)]
struct Plan {
    client: Client,
    raw: RawTarget,
    mode: Mode,
    tty: bool,
    stdout_bytes: u64,
    stderr_bytes: u64,
    image: String,
    rounds: usize,
    podman: bool,
}

impl Plan {
    fn payload(&self) -> u64 {
        self.stdout_bytes + self.stderr_bytes
    }

    /// The shell script that writes the lines.
    fn script(&self) -> String {
        let mut s = String::new();
        if self.tty {
            // No \n → \r\n translation: the volume stays exact.
            s.push_str("stty -opost 2>/dev/null; ");
        }
        s.push_str(&format!(
            "yes '{STDOUT_LINE}' | head -c {} & ",
            self.stdout_bytes
        ));
        if self.stderr_bytes > 0 {
            s.push_str(&format!(
                "yes '{STDERR_LINE}' | head -c {} >&2 & ",
                self.stderr_bytes
            ));
        }
        s.push_str("wait");
        s
    }

    /// The version prefix of raw requests.
    async fn prefix(&self) -> anyhow::Result<String> {
        Ok(format!("/v{}", self.client.identity().await?.api_version))
    }
}

/// Where the raw reader connects.
#[derive(Debug, Clone)]
enum RawTarget {
    Unix(PathBuf),
    Tcp(String),
}

fn endpoint(choice: Option<EngineChoice>, context: Option<&str>) -> anyhow::Result<Endpoint> {
    let runtime = choice.map(|c| match c {
        EngineChoice::Docker => "docker",
        EngineChoice::Podman => "podman",
    });
    let endpoint = crate::engine::environment_from(context, |key| {
        if key == "DAGU_CONTAINER_RUNTIME" {
            if let Some(r) = runtime {
                return Some(r.to_string());
            }
        }
        std::env::var(key).ok()
    })
    .context("cannot select the container engine")?;
    Ok(endpoint)
}

async fn plan(args: LogsArgs, context: Option<&str>) -> anyhow::Result<Plan> {
    let endpoint = endpoint(args.engine, context)?;
    let raw = match (&endpoint.address, &endpoint.tls) {
        (Address::Unix(path), _) => RawTarget::Unix(path.clone()),
        (Address::Tcp { host, port }, None) => RawTarget::Tcp(format!("{host}:{port}")),
        (Address::Tcp { .. }, Some(_)) => bail!(
            "tug bench reads the raw stream from a unix socket or plain TCP; {} uses TLS",
            endpoint.url
        ),
        (Address::Ssh(_), _) => bail!(
            "tug bench reads the raw stream from a unix socket or plain TCP; {} goes through ssh",
            endpoint.url
        ),
    };
    let client = Client::new(endpoint)?;
    let podman = client.is_podman().await?;
    let lines = args.size / LINE as u64;
    let stderr_lines = if args.tty {
        0
    } else {
        (lines as f64 * args.stderr_ratio).round() as u64
    };
    let present = client.inspect_image(&args.image).await;
    if let Err(e) = present {
        if e.is_not_found() {
            bail!(
                "image {} is not present in the engine: pull or build it first (tug bench does not pull)",
                args.image
            );
        }
        return Err(anyhow::Error::new(e).context(format!("cannot inspect image {}", args.image)));
    }
    Ok(Plan {
        client,
        raw,
        mode: args.mode,
        tty: args.tty,
        stdout_bytes: (lines - stderr_lines) * LINE as u64,
        stderr_bytes: stderr_lines * LINE as u64,
        image: args.image,
        rounds: args.rounds.max(1),
        podman,
    })
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// The client's CPU time so far (user + system).
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0); false where it cannot.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak RSS (`VmHWM`) in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The 1-minute load average.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One read of the stream.
#[derive(Debug, Clone, Default)]
struct Reading {
    stdout: u64,
    stderr: u64,
    /// Bytes on the wire after the head (raw reads), or pieces handed out (engine-api).
    frames: u64,
    wire: u64,
    elapsed: Duration,
    cpu: Duration,
    peak_rss: Option<u64>,
}

impl Reading {
    fn payload(&self) -> u64 {
        self.stdout + self.stderr
    }
}

/// Reads a decoded stream to its end, borrowing each chunk.
async fn drain<R: AsyncRead + Unpin>(
    mut stream: LogStream<R>,
    r: &mut Reading,
) -> anyhow::Result<()> {
    while let Some(chunk) = stream.next_chunk_ref().await? {
        r.frames += 1;
        match chunk.stream {
            StreamKind::Stderr => r.stderr += chunk.data.len() as u64,
            _ => r.stdout += chunk.data.len() as u64,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The raw reader: a request and a byte count.

/// A connection to the engine, for the raw reader.
trait RawIo: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> RawIo for T {}

/// Sends `method target` (with `body`, and asking for a hijack if `upgrade`) and reads the
/// response head; returns the connection and how many body bytes came with the head.
async fn raw_request(
    target: &RawTarget,
    method: &str,
    path: &str,
    body: Option<&str>,
    upgrade: bool,
    buf: &mut [u8],
) -> anyhow::Result<(Box<dyn RawIo>, u64)> {
    let mut io: Box<dyn RawIo> = match target {
        RawTarget::Unix(p) => Box::new(
            tokio::net::UnixStream::connect(p)
                .await
                .with_context(|| format!("cannot connect to {}", p.display()))?,
        ),
        RawTarget::Tcp(a) => Box::new(
            tokio::net::TcpStream::connect(a)
                .await
                .with_context(|| format!("cannot connect to {a}"))?,
        ),
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    if upgrade {
        head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
    } else {
        head.push_str("Connection: close\r\n");
    }
    match body {
        Some(b) => head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => head.push_str("\r\n"),
    }
    io.write_all(head.as_bytes()).await?;
    let mut have = 0;
    let end = loop {
        let n = io.read(&mut buf[have..]).await?;
        if n == 0 {
            bail!("the engine closed the connection before the response head");
        }
        have += n;
        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if have == buf.len() {
            bail!("the response head is too long");
        }
    };
    let status = String::from_utf8_lossy(&buf[..end.min(64)]).into_owned();
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" && code != "101" {
        bail!(
            "the engine answered {path} with {}",
            status.lines().next().unwrap_or("")
        );
    }
    Ok((io, (have - end) as u64))
}

/// Reads `io` to EOF into `buf`, counting bytes; `tail` gets the last 5.
async fn raw_drain(
    io: &mut Box<dyn RawIo>,
    buf: &mut [u8],
    tail: &mut Vec<u8>,
) -> anyhow::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = io.read(buf).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if n >= 5 {
            tail.clear();
            tail.extend_from_slice(&buf[n - 5..n]);
        } else {
            tail.extend_from_slice(&buf[..n]);
            let cut = tail.len().saturating_sub(5);
            tail.drain(..cut);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/// Containers to remove at the end.
#[derive(Debug, Default)]
struct Created(Vec<String>);

impl Created {
    async fn remove_all(&mut self, client: &Client) {
        for id in self.0.drain(..) {
            let _ = client.remove_container(&id, RemoveOptions::force()).await;
        }
    }
}

async fn create(plan: &Plan, created: &mut Created, cmd: Vec<String>) -> anyhow::Result<String> {
    let mut c = ContainerCreate::new(plan.image.clone());
    c.config.cmd = Some(cmd);
    c.config.tty = plan.tty && plan.mode != Mode::Exec;
    c.config.attach_stdout = true;
    c.config.attach_stderr = true;
    c.config.labels.insert(LABEL.into(), "logs".into());
    let id = plan
        .client
        .create_container(&c)
        .await
        .context("cannot create the writer container")?
        .id;
    created.0.push(id.clone());
    Ok(id)
}

fn writer(plan: &Plan) -> Vec<String> {
    vec!["sh".into(), "-c".into(), plan.script()]
}

/// A running container for execs.
async fn exec_host(plan: &Plan, created: &mut Created) -> anyhow::Result<String> {
    let id = create(plan, created, vec!["sleep".into(), "2147483647".into()]).await?;
    plan.client.start_container(&id).await?;
    Ok(id)
}

/// One engine-api read in `plan.mode`.
async fn read_with_engine_api(
    plan: &Plan,
    created: &mut Created,
    logs_of: Option<&str>,
    exec_in: Option<&str>,
) -> anyhow::Result<Reading> {
    let client = &plan.client;
    let mut r = Reading::default();
    let rss_reset = reset_peak_rss();
    let (start, cpu0);
    match plan.mode {
        Mode::Logs => {
            let id = logs_of.context("no finished writer")?;
            let opts = LogsOptions {
                tty: Some(plan.tty),
                ..LogsOptions::default()
            };
            cpu0 = cpu_time();
            start = Instant::now();
            let stream = client.container_logs(id, &opts).await?;
            drain(stream, &mut r).await?;
        }
        Mode::Follow => {
            let id = create(plan, created, writer(plan)).await?;
            client.start_container(&id).await?;
            let opts = LogsOptions {
                follow: true,
                tty: Some(plan.tty),
                ..LogsOptions::default()
            };
            cpu0 = cpu_time();
            start = Instant::now();
            let stream = client.container_logs(&id, &opts).await?;
            drain(stream, &mut r).await?;
        }
        Mode::Attach => {
            let id = create(plan, created, writer(plan)).await?;
            let opts = AttachOptions {
                tty: Some(plan.tty),
                ..AttachOptions::default()
            };
            cpu0 = cpu_time();
            start = Instant::now();
            let attached = client.attach_container(&id, &opts).await?;
            client.start_container(&id).await?;
            drain(attached.output, &mut r).await?;
        }
        Mode::Exec => {
            let host = exec_in.context("no exec container")?;
            let mut exec = ExecCreate::new(writer(plan));
            exec.tty = plan.tty;
            let exec_id = client.create_exec(host, &exec).await?;
            cpu0 = cpu_time();
            start = Instant::now();
            let attached = client.start_exec(&exec_id, plan.tty).await?;
            drain(attached.output, &mut r).await?;
        }
    }
    r.elapsed = start.elapsed();
    r.cpu = cpu_time().saturating_sub(cpu0);
    r.peak_rss = if rss_reset { peak_rss() } else { None };
    Ok(r)
}

/// What the raw reader reads in `plan.mode`.
fn raw_mode(plan: &Plan) -> Mode {
    if plan.mode == Mode::Follow && plan.podman {
        Mode::Attach
    } else {
        plan.mode
    }
}

/// One raw read of the same stream.
async fn read_raw(
    plan: &Plan,
    created: &mut Created,
    logs_of: Option<&str>,
    exec_in: Option<&str>,
) -> anyhow::Result<Reading> {
    let client = &plan.client;
    let prefix = plan.prefix().await?;
    let mut buf = vec![0u8; RAW_BUFFER];
    let mut tail = Vec::new();
    let mut r = Reading::default();
    let (start, cpu0, mut io, first);
    let streams = "stdout=1&stderr=1";
    match raw_mode(plan) {
        Mode::Logs => {
            let id = logs_of.context("no finished writer")?;
            cpu0 = cpu_time();
            start = Instant::now();
            let path = format!("{prefix}/containers/{id}/logs?{streams}");
            (io, first) = raw_request(&plan.raw, "GET", &path, None, false, &mut buf).await?;
        }
        Mode::Follow => {
            let id = create(plan, created, writer(plan)).await?;
            client.start_container(&id).await?;
            cpu0 = cpu_time();
            start = Instant::now();
            let path = format!("{prefix}/containers/{id}/logs?follow=1&{streams}");
            (io, first) = raw_request(&plan.raw, "GET", &path, None, false, &mut buf).await?;
        }
        Mode::Attach => {
            let id = create(plan, created, writer(plan)).await?;
            cpu0 = cpu_time();
            start = Instant::now();
            let path = format!("{prefix}/containers/{id}/attach?stream=1&{streams}");
            (io, first) = raw_request(&plan.raw, "POST", &path, None, true, &mut buf).await?;
            client.start_container(&id).await?;
        }
        Mode::Exec => {
            let host = exec_in.context("no exec container")?;
            let mut exec = ExecCreate::new(writer(plan));
            exec.tty = plan.tty;
            let exec_id = client.create_exec(host, &exec).await?;
            cpu0 = cpu_time();
            start = Instant::now();
            let path = format!("{prefix}/exec/{exec_id}/start");
            let body = format!(r#"{{"Detach":false,"Tty":{}}}"#, plan.tty);
            (io, first) =
                raw_request(&plan.raw, "POST", &path, Some(&body), true, &mut buf).await?;
        }
    }
    let rest = raw_drain(&mut io, &mut buf, &mut tail).await?;
    r.elapsed = start.elapsed();
    r.cpu = cpu_time().saturating_sub(cpu0);
    r.wire = first + rest;
    // The raw reader does not decode: it read the whole stream if the wire carried at least
    // the payload (and, for a chunked logs body, its last chunk).
    let chunked_end = !matches!(raw_mode(plan), Mode::Logs | Mode::Follow) || tail == b"0\r\n\r\n";
    if r.wire >= plan.payload() && chunked_end {
        r.stdout = plan.stdout_bytes;
        r.stderr = plan.stderr_bytes;
    }
    Ok(r)
}

fn median_by(readings: &[Reading], key: impl Fn(&Reading) -> f64) -> f64 {
    let mut v: Vec<f64> = readings.iter().map(key).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// What `tug bench logs` reports.
#[derive(Debug, Serialize)]
struct Report {
    engine: String,
    engine_version: String,
    endpoint: String,
    mode: Mode,
    raw_reference: Mode,
    tty: bool,
    rounds: usize,
    size_bytes: u64,
    stdout_bytes: u64,
    stderr_bytes: u64,
    line_bytes: usize,
    delivered_bytes: u64,
    complete: bool,
    throughput_mb_s: f64,
    raw_throughput_mb_s: f64,
    ratio: f64,
    target_ratio: f64,
    frames: u64,
    frames_per_s: f64,
    elapsed_s: f64,
    raw_elapsed_s: f64,
    cpu_s: f64,
    raw_cpu_s: f64,
    raw_wire_bytes: u64,
    peak_rss_mib: Option<f64>,
    process_peak_rss_mib: Option<f64>,
    target_peak_rss_mib: f64,
    load_average: Option<f64>,
}

async fn logs(args: LogsArgs, context: Option<&str>) -> anyhow::Result<u8> {
    let json = args.json;
    let plan = plan(args, context).await?;
    let mut created = Created::default();
    let outcome = tokio::select! {
        r = measure(&plan, &mut created) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    created.remove_all(&plan.client).await;
    let Some(result) = outcome else {
        return Ok(exit::INTERRUPTED);
    };
    let report = result?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if !report.complete {
        bail!(
            "engine-api delivered {} of {} bytes",
            report.delivered_bytes,
            report.size_bytes
        );
    }
    Ok(exit::SUCCESS)
}

async fn measure(plan: &Plan, created: &mut Created) -> anyhow::Result<Report> {
    let client = &plan.client;
    let version = client.version().await?;
    let finished = if plan.mode == Mode::Logs {
        let id = create(plan, created, writer(plan)).await?;
        client.start_container(&id).await?;
        let exit = client
            .wait_container(&id, WaitCondition::NotRunning)
            .await?;
        if exit.status_code != 0 {
            bail!("the writer exited with {}", exit.status_code);
        }
        Some(id)
    } else {
        None
    };
    let host = if plan.mode == Mode::Exec {
        Some(exec_host(plan, created).await?)
    } else {
        None
    };
    let (mut ours, mut raws) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        // Alternate which goes first, so neither always meets a warmer engine.
        for first_raw in [round % 2 == 0, round % 2 == 1] {
            if first_raw {
                raws.push(read_raw(plan, created, finished.as_deref(), host.as_deref()).await?);
            } else {
                ours.push(
                    read_with_engine_api(plan, created, finished.as_deref(), host.as_deref())
                        .await?,
                );
            }
            // Containers of one read are not needed by the next.
            if plan.mode != Mode::Logs && plan.mode != Mode::Exec {
                created.remove_all(client).await;
            }
        }
    }
    let payload = plan.payload();
    let mb_s = |r: &Reading| r.payload() as f64 / r.elapsed.as_secs_f64() / 1e6;
    let throughput = median_by(&ours, mb_s);
    let raw_throughput = median_by(&raws, mb_s);
    let elapsed = median_by(&ours, |r| r.elapsed.as_secs_f64());
    let frames = ours.first().map_or(0, |r| r.frames);
    let complete = ours
        .iter()
        .all(|r| r.stdout == plan.stdout_bytes && r.stderr == plan.stderr_bytes);
    let raw_complete = raws.iter().all(|r| r.payload() == payload);
    if !raw_complete {
        bail!(
            "the raw read got {} bytes on the wire, less than the {payload} bytes written",
            raws.iter().map(|r| r.wire).min().unwrap_or(0)
        );
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    Ok(Report {
        engine: if plan.podman { "podman" } else { "docker" }.into(),
        engine_version: version.version.unwrap_or_default(),
        endpoint: client.endpoint().url.clone(),
        mode: plan.mode,
        raw_reference: raw_mode(plan),
        tty: plan.tty,
        rounds: plan.rounds,
        size_bytes: payload,
        stdout_bytes: plan.stdout_bytes,
        stderr_bytes: plan.stderr_bytes,
        line_bytes: LINE,
        delivered_bytes: ours.iter().map(Reading::payload).min().unwrap_or(0),
        complete,
        throughput_mb_s: throughput,
        raw_throughput_mb_s: raw_throughput,
        ratio: if raw_throughput > 0.0 {
            throughput / raw_throughput
        } else {
            0.0
        },
        target_ratio: TARGET_RATIO,
        frames,
        frames_per_s: frames as f64 / elapsed.max(1e-9),
        elapsed_s: elapsed,
        raw_elapsed_s: median_by(&raws, |r| r.elapsed.as_secs_f64()),
        cpu_s: median_by(&ours, |r| r.cpu.as_secs_f64()),
        raw_cpu_s: median_by(&raws, |r| r.cpu.as_secs_f64()),
        raw_wire_bytes: raws.first().map_or(0, |r| r.wire),
        peak_rss_mib: ours.iter().filter_map(|r| r.peak_rss).max().map(mib),
        process_peak_rss_mib: peak_rss().map(mib),
        target_peak_rss_mib: TARGET_RSS_MIB,
        load_average: load_average(),
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn print_report(r: &Report) {
    let what = if r.tty {
        "one TTY stream".to_string()
    } else {
        format!(
            "stdout {:.0}%, stderr {:.0}%",
            r.stdout_bytes as f64 * 100.0 / r.size_bytes.max(1) as f64,
            r.stderr_bytes as f64 * 100.0 / r.size_bytes.max(1) as f64
        )
    };
    outln!(
        "tug bench logs: {} {} at {}, mode {}",
        r.engine,
        r.engine_version,
        r.endpoint,
        r.mode.as_str()
    );
    outln!(
        "  {:.1} MiB in {}-byte lines ({what}), {} round(s), medians; load average {}",
        r.size_bytes as f64 / (1 << 20) as f64,
        r.line_bytes,
        r.rounds,
        r.load_average
            .map_or_else(|| "unknown".to_string(), |l| format!("{l:.2}"))
    );
    outln!();
    outln!(
        "  {:<34} {:>10} {:>12} {:>9} {:>10}",
        "",
        "MB/s",
        "frames/s",
        "CPU s",
        "peak RSS"
    );
    let rss = |m: Option<f64>| m.map_or_else(|| "-".to_string(), |m| format!("{m:.1} MiB"));
    outln!(
        "  {:<34} {:>10.1} {:>12.0} {:>9.2} {:>10}",
        "engine-api (next_chunk_ref)",
        r.throughput_mb_s,
        r.frames_per_s,
        r.cpu_s,
        rss(r.peak_rss_mib)
    );
    let raw_label = if r.raw_reference == r.mode {
        format!("raw socket read ({})", r.raw_reference.as_str())
    } else {
        format!("raw socket read ({}, see below)", r.raw_reference.as_str())
    };
    outln!(
        "  {:<34} {:>10.1} {:>12} {:>9.2} {:>10}",
        raw_label,
        r.raw_throughput_mb_s,
        "-",
        r.raw_cpu_s,
        "-"
    );
    outln!();
    outln!(
        "  ratio (engine-api ÷ raw)   {:.2}×   target ≥ {:.2}×: {}",
        r.ratio,
        r.target_ratio,
        verdict(r.ratio >= r.target_ratio)
    );
    if let Some(m) = r.peak_rss_mib {
        outln!(
            "  peak RSS while reading     {m:.1} MiB   target ≤ {:.0} MiB: {}",
            r.target_peak_rss_mib,
            verdict(m <= r.target_peak_rss_mib)
        );
    }
    outln!(
        "  delivered                  {} of {} bytes{}",
        r.delivered_bytes,
        r.size_bytes,
        if r.complete { "" } else { "  INCOMPLETE" }
    );
    if r.raw_reference != r.mode {
        outln!(
            "  Podman's own follow=1 loses data, so the raw reference is an attach: the fastest\n  complete way to read a running container's output there."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ratios() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("6000"), Ok(6000));
        assert!(parse_size("10").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(parse_ratio("0.25"), Ok(0.25));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("x").is_err());
    }

    #[test]
    fn lines_are_sixty_bytes() {
        assert_eq!(STDOUT_LINE.len() + 1, LINE);
        assert_eq!(STDERR_LINE.len() + 1, LINE);
    }
}
