//! `tug start` (alias `tug run`): run a workflow and show it happen.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use executor::run::{
    self, cancel_pair, record, CancelLevel, Event, EventSink, OutputStream, RunOptions, RunStatus,
    StepStatus,
};
use executor::workflow::{load_file, LoadOptions, ProcessHost};

use crate::exit;
use crate::workflow::{parse_params, print_load_error};

/// Options of `tug start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// Parameters, `NAME=VALUE` (several may be given in one quoted string).
    #[arg(short = 'p', long = "params")]
    pub params: Vec<String>,
    /// The run id (default: a new one).
    #[arg(short = 'r', long = "run-id")]
    pub run_id: Option<String>,
    /// Steps that may run at once.
    #[arg(long, default_value_t = run::DEFAULT_MAX_ACTIVE)]
    pub max_active: usize,
    /// Do not show step output (it still goes to the run's log files).
    #[arg(short, long)]
    pub quiet: bool,
    /// Parameters after `--`, `NAME=VALUE`.
    #[arg(last = true)]
    pub rest: Vec<String>,
}

fn env_duration(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(default)
}

pub async fn start(args: StartArgs) -> anyhow::Result<u8> {
    let all: Vec<String> = args.params.iter().chain(&args.rest).cloned().collect();
    let params = match parse_params(&all) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let options = LoadOptions {
        params: params.clone(),
        ..LoadOptions::default()
    };
    let loaded = match load_file(&args.file, &options) {
        Ok(l) => l,
        Err(e) => {
            print_load_error(&e);
            return Ok(exit::USAGE);
        }
    };
    if !loaded.warnings.is_empty() {
        eprint!("{}", loaded.warnings.render());
    }
    let workflow = Arc::new(loaded.workflow);
    let endpoint = engine_api::Endpoint::from_env().map_err(|e| e.to_string());
    let data_dir = record::data_dir(|k| std::env::var(k).ok());
    let run_options = RunOptions {
        run_id: args.run_id.clone(),
        data_dir,
        endpoint,
        host: Arc::new(ProcessHost),
        max_active: args.max_active,
        grace: env_duration("TUG_STOP_GRACE_SEC", run::DEFAULT_GRACE),
        exec_wait: env_duration("TUG_EXEC_WAIT_SEC", Duration::from_secs(120)),
        source_file: Some(args.file.clone()),
        params,
        parent: None,
    };

    let (handle, cancel) = cancel_pair();
    let signals = tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            match handle.escalate() {
                CancelLevel::Graceful => eprintln!(
                    "\ntug: stopping: each running step gets its stop signal, then SIGKILL after the grace period (Ctrl-C again to kill now)"
                ),
                _ => eprintln!("\ntug: killing the remaining containers and processes"),
            }
        }
    });

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(1024);
    let renderer = Renderer::new(args.quiet);
    let render = tokio::spawn(async move {
        let mut renderer = renderer;
        while let Some(event) = rx.recv().await {
            renderer.event(&event);
        }
        renderer
    });
    let summary = run::run(workflow.clone(), run_options, EventSink::new(tx), cancel).await;
    let _ = render.await;
    signals.abort();

    print_summary(&workflow.name, &summary);
    Ok(match summary.status {
        RunStatus::Succeeded | RunStatus::PartiallySucceeded => exit::SUCCESS,
        RunStatus::Cancelled => exit::INTERRUPTED,
        _ if summary.engine_unreachable => exit::ENGINE_UNREACHABLE,
        _ => exit::FAILURE,
    })
}

/// Plain rendering: one line per event, step output prefixed with the step's name; on a
/// terminal the prefix is coloured (unless `NO_COLOR`), elsewhere lines carry a timestamp.
struct Renderer {
    quiet: bool,
    tty: bool,
    color: bool,
    /// Partial lines per step and stream, so prefixes land at line starts.
    partial: std::collections::HashMap<(String, bool), Vec<u8>>,
    colors: std::collections::HashMap<String, usize>,
}

const PALETTE: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

impl Renderer {
    fn new(quiet: bool) -> Renderer {
        let tty = std::io::stdout().is_terminal();
        Renderer {
            quiet,
            tty,
            color: tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            partial: Default::default(),
            colors: Default::default(),
        }
    }

    fn prefix(&mut self, step: &str) -> String {
        let time = if self.tty {
            String::new()
        } else {
            format!("{} ", chrono::Local::now().format("%H:%M:%S%.3f"))
        };
        if self.color {
            let n = self.colors.len();
            let c = *self.colors.entry(step.to_string()).or_insert(n);
            format!("{time}\x1b[{}m{step} |\x1b[0m ", PALETTE[c % PALETTE.len()])
        } else {
            format!("{time}{step} | ")
        }
    }

    fn line(&mut self, step: &str, text: &str) {
        let p = self.prefix(step);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{p}{text}");
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                run_id,
                workflow,
                dir,
            } => {
                println!("tug: running {workflow} (run {run_id}, logs in {dir})");
            }
            Event::Step {
                step,
                status,
                exit_code,
                ..
            } => {
                let text = match (status, exit_code) {
                    (StepStatus::Running, _) => "▶ started".to_string(),
                    (StepStatus::Succeeded, _) => "✔ succeeded".to_string(),
                    (StepStatus::Failed, Some(c)) => format!("✘ failed (exit code {c})"),
                    (s, _) => s.as_str().to_string(),
                };
                self.flush_partial(step);
                self.line(step, &text);
            }
            Event::Output { step, stream, data } => {
                if self.quiet {
                    return;
                }
                let key = (step.clone(), *stream == OutputStream::Stderr);
                let mut buf = self.partial.remove(&key).unwrap_or_default();
                buf.extend_from_slice(data);
                let mut start = 0;
                while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                    let text = String::from_utf8_lossy(&buf[start..start + nl]).into_owned();
                    self.line(step, &sanitize(&text, self.tty));
                    start += nl + 1;
                }
                buf.drain(..start);
                if buf.len() > 64 * 1024 {
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    self.line(step, &sanitize(&text, self.tty));
                    buf.clear();
                }
                if !buf.is_empty() {
                    self.partial.insert(key, buf);
                }
            }
            Event::Pull {
                step,
                image,
                status,
                ..
            } if status.starts_with("Pulling from")
                || status.starts_with("Status:")
                || status.starts_with("Digest:") =>
            {
                let who = step.clone().unwrap_or_else(|| "pull".into());
                self.line(&who, &format!("{image}: {status}"));
            }
            Event::Notice { step, message } => {
                let who = step.clone().unwrap_or_else(|| "tug".into());
                self.line(&who, message);
            }
            Event::RunFinished { .. } => {
                let keys: Vec<String> = self.partial.keys().map(|(s, _)| s.clone()).collect();
                for s in keys {
                    self.flush_partial(&s);
                }
            }
            _ => {}
        }
    }

    fn flush_partial(&mut self, step: &str) {
        for err in [false, true] {
            if let Some(buf) = self.partial.remove(&(step.to_string(), err)) {
                let text = String::from_utf8_lossy(&buf).into_owned();
                self.line(step, &sanitize(&text, self.tty));
            }
        }
    }
}

/// Drops control characters (but tabs) when output is not a terminal.
fn sanitize(text: &str, tty: bool) -> String {
    if tty {
        text.trim_end_matches('\r').to_string()
    } else {
        text.chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect()
    }
}

fn print_summary(workflow: &str, s: &run::RunSummary) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    let _ = writeln!(out, "{workflow} (run {})", s.run_id);
    for (n, step) in s.steps.iter().enumerate() {
        let last = n + 1 == s.steps.len();
        let branch = if last { "└─" } else { "├─" };
        let code = step
            .exit_code
            .map(|c| format!(" (exit code {c})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{branch} {}: {}{code}", step.id, step.status.as_str());
        if let Some(e) = &step.error {
            if step.status != StepStatus::Succeeded {
                let pad = if last { "   " } else { "│  " };
                for line in e.lines() {
                    let _ = writeln!(out, "{pad}   {line}");
                }
            }
        }
    }
    if let Some(e) = &s.error {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(
        out,
        "Result: {} in {:.1}s — logs in {}",
        s.status.as_str(),
        s.duration.as_secs_f64(),
        display(&s.dir)
    );
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
