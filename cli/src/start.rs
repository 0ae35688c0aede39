//! `tug start` (alias `tug run`): run a workflow and show it happen — the live view on a
//! terminal, plain lines elsewhere, JSON lines with `--json` — then the summary tree.
//!
//! `--engine NAME=ADDRESS` (repeatable) names engines: the run's own steps use the first, and
//! the children of `parallel` steps are spread over all of them (`--spread`, see
//! [`executor::run::spread`]). Without it the environment selects the one engine, as always.
//!
//! Ctrl-C (or SIGTERM) once stops the run gracefully: each running step gets its stop signal,
//! then SIGKILL after the grace period, and every container tug created is removed. A second
//! Ctrl-C kills at once. Either way tug exits with 130.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use executor::run::{
    self, cancel_pair, record, CancelLevel, Event, EventSink, RunOptions, RunStatus, RunSummary,
};
use executor::workflow::{LoadOptions, ProcessHost, Workflow};

use crate::engine_flag::EngineArgs;
use crate::exit;
use crate::style::{self, Paint, Stream};
use crate::summary::{self, RunView};
use crate::view::{json::JsonView, live::LiveView, plain::PlainView, View};
use crate::workflow::{load_to_run, parse_params, print_load_error, print_warnings};

/// Options of `tug start`.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::help::START)]
pub struct StartArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// Parameters, `NAME=VALUE` (several may be given in one quoted string).
    #[arg(short = 'p', long = "params", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The run id (default: a new one, `YYYYMMDD-HHMMSS-xxxxxx`): letters, digits, `.`, `_`
    /// and `-`, starting with a letter or digit, at most 100 characters, and not used by
    /// another run.
    #[arg(short = 'r', long = "run-id", value_parser = parse_run_id, value_name = "ID")]
    pub run_id: Option<String>,
    /// Steps that may run at once.
    #[arg(long, default_value_t = run::DEFAULT_MAX_ACTIVE, value_name = "N", value_parser = parse_max_active)]
    pub max_active: usize,
    /// Do not show step output (it still goes to the run's log files).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the run as JSON lines of events on stdout (one object per line).
    #[arg(long)]
    pub json: bool,
    /// Engines named for this run.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Parameters after `--`, `NAME=VALUE`.
    #[arg(last = true, value_name = "NAME=VALUE")]
    pub rest: Vec<String>,
}

fn env_duration(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(default)
}

/// What the signal task tells the renderer.
#[derive(Debug)]
struct Interrupt {
    kill: bool,
    message: &'static str,
}

/// `--max-active`: at least 1.
fn parse_max_active(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{value:?} is not a number of steps (1 or more)")),
    }
}

/// Checks a `--run-id` value: it names a directory and is matched by prefix in `tug status`.
fn parse_run_id(value: &str) -> Result<String, String> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let starts_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if value.is_empty() || !ok_chars || !starts_ok || value.len() > 100 {
        return Err(format!(
            "{value:?} is not a usable run id (allowed: letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 100 characters)"
        ));
    }
    if value == "latest" {
        return Err(
            "\"latest\" means the latest run in `tug status` and `tug logs`: choose another run id"
                .to_string(),
        );
    }
    Ok(value.to_string())
}

/// `tug start`.
pub async fn start(args: StartArgs, context: Option<&str>) -> anyhow::Result<u8> {
    // The handlers are installed first, on this task: from here on SIGINT and SIGTERM reach
    // tug's own teardown instead of killing the process with a record saying `running`.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = (
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    let engines = match args.engine.pool(context, |k| std::env::var(k).ok()) {
        Ok(e) => e,
        Err(e) => {
            crate::report::message(&e);
            return Ok(exit::USAGE);
        }
    };
    let all: Vec<String> = args.params.iter().chain(&args.rest).cloned().collect();
    let params = match parse_params(&all) {
        Ok(p) => p,
        Err(e) => {
            crate::report::error(&e);
            return Ok(exit::USAGE);
        }
    };
    let options = LoadOptions {
        params: params.clone(),
        ..LoadOptions::default()
    };
    let loaded = match load_to_run(&args.file, &options) {
        Ok(l) => l,
        Err(e) => {
            print_load_error(&e);
            return Ok(exit::USAGE);
        }
    };
    print_warnings(&loaded.warnings);
    let workflow = Arc::new(loaded.workflow);
    // The run's own engine: the first named one, else the environment's.
    let (endpoint, engine_name) = match engines.as_ref().map(|p| &p.engines()[0]) {
        Some(first) => (Ok(first.endpoint.clone()), Some(first.name.clone())),
        None => (
            crate::engine::environment(context).map_err(|e| e.to_string()),
            None,
        ),
    };
    // A bad environment (DAGU_CONTAINER_RUNTIME=Podman, a missing context) is not an engine
    // that went away: if the run needed the engine, that is a usage error (exit 2).
    let endpoint_misconfigured = endpoint.is_err();
    let data_dir = record::data_dir(|k| std::env::var(k).ok());
    // A run id names one run: reusing one would mix two runs' logs in one directory and hide
    // the first from `tug status` and `tug history`.
    if let Some(id) = &args.run_id {
        let taken = record::find(&data_dir, id).map(|(dir, _)| dir).or_else(|| {
            let dir = record::run_dir(&data_dir, &workflow.name, id);
            dir.exists().then_some(dir)
        });
        if let Some(dir) = taken {
            crate::report::message(&format!(
                "run id {id:?} is already used by the run in {}: choose another, or leave --run-id out and tug picks a new one",
                dir.display()
            ));
            return Ok(exit::USAGE);
        }
    }
    let run_options = RunOptions {
        run_id: args.run_id.clone(),
        data_dir,
        endpoint,
        engine_name,
        engines,
        host: Arc::new(ProcessHost),
        max_active: args.max_active,
        grace: env_duration("TUG_STOP_GRACE_SEC", run::DEFAULT_GRACE),
        exec_wait: env_duration("TUG_EXEC_WAIT_SEC", Duration::from_secs(120)),
        source_file: Some(args.file.clone()),
        params,
        parent: None,
    };

    let (handle, cancel) = cancel_pair();
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel::<Interrupt>();
    let signals = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let note = match handle.escalate() {
                CancelLevel::Graceful => Interrupt {
                    kill: false,
                    message: "stopping (Ctrl-C again to kill now): each running step gets its stop signal, then SIGKILL after the grace period",
                },
                _ => Interrupt {
                    kill: true,
                    message: "killing: the remaining steps get SIGKILL now, then their containers are removed",
                },
            };
            let _ = notes_tx.send(note);
        }
    });

    let ids: Vec<String> = workflow.steps.iter().map(|s| s.id.clone()).collect();
    let mode = if args.json {
        Mode::Json
    } else if style::interactive() {
        Mode::Live
    } else {
        Mode::Plain
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(1024);
    let mut view: Box<dyn View + Send> = match mode {
        Mode::Json => Box::new(JsonView::new(ids.clone())),
        Mode::Live => Box::new(LiveView::new(&workflow, args.quiet)),
        Mode::Plain => Box::new(PlainView::new(ids.clone(), args.quiet)),
    };
    let render = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(e) => {
                        view.event(&e);
                        // Take everything already queued before drawing once.
                        while let Ok(e) = rx.try_recv() {
                            view.event(&e);
                        }
                        view.flush();
                    }
                    None => break,
                },
                Some(note) = notes.recv() => view.interrupted(note.kill, note.message),
                _ = ticks.tick() => view.tick(),
            }
        }
        view.finish();
        (view, notes)
    });
    let summary = run::run(workflow.clone(), run_options, EventSink::new(tx), cancel).await;
    let (_view, mut notes) = match render.await {
        Ok(v) => v,
        Err(e) => anyhow::bail!("the renderer failed: {e}"),
    };
    signals.abort();
    // An interrupt that arrived after the last event still deserves a word.
    while let Ok(note) = notes.try_recv() {
        if mode == Mode::Plain {
            crate::report::warning(note.message);
        }
    }

    let code = match exit_code(&summary) {
        exit::ENGINE_UNREACHABLE if endpoint_misconfigured => exit::USAGE,
        code => code,
    };
    if mode == Mode::Json {
        JsonView::new(ids).finished(&workflow.name, &summary, code);
    } else {
        print_summary(&workflow, &summary);
    }
    Ok(code)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Live,
    Plain,
    Json,
}

/// tug's exit code for a finished run.
pub fn exit_code(summary: &RunSummary) -> u8 {
    match summary.status {
        RunStatus::Succeeded | RunStatus::PartiallySucceeded => exit::SUCCESS,
        RunStatus::Cancelled => exit::INTERRUPTED,
        _ if summary.engine_unreachable => exit::ENGINE_UNREACHABLE,
        _ => exit::FAILURE,
    }
}

fn print_summary(workflow: &Workflow, s: &RunSummary) {
    let view = RunView {
        workflow: &workflow.name,
        run_id: &s.run_id,
        status: s.status,
        live: false,
        error: s.error.as_deref(),
        started_at: None,
        duration: Some(s.duration),
        dir: &s.dir,
        engine: None,
        engine_name: None,
        parent: None,
        steps: &s.steps,
        detailed: false,
    };
    let text = summary::render(&view, Paint::for_stream(Stream::Stdout));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
