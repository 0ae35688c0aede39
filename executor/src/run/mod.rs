//! Running a validated workflow on Docker or Podman (or on the host).
//!
//! [`run`] drives one run: it creates the run's record directory, starts the DAG-level
//! container if there is one, runs the steps as their `depends` allow (independent steps
//! concurrently, up to a limit), and tears down everything it created — on success, failure,
//! step or workflow timeout, and interrupt. Progress goes out as [`Event`]s; the library never
//! prints.
//!
//! Where a step runs:
//! * its own `container: {image: …}` — a fresh container ([`container::run_fresh`]); a `run`
//!   list runs in one kept-alive container, one exec per command;
//! * its own `container: NAME` / `{exec: …}` — an exec into that running container;
//! * `action: docker.run` — a fresh container from `with:`, or an exec into `container_name`;
//! * otherwise the DAG-level container (exec into it, or into the named one in exec mode);
//! * otherwise the host, as a local process.

pub mod cancel;
mod children;
mod container;
mod control;
mod engine;
pub mod events;
mod harness;
mod host_step;
pub mod keepalive;
mod output;
pub mod record;
pub(crate) mod shared;
pub mod spread;
mod step;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_api::auth::CredentialStore;
use engine_api::{Client, Endpoint};
use futures_util::stream::{FuturesUnordered, StreamExt};

pub use cancel::{cancel_pair, Cancel, CancelHandle, CancelLevel};
pub use container::apply_exec_options;
pub use engine::{
    this_host, this_machine, LABEL_HOST, LABEL_KEEP, LABEL_MACHINE, LABEL_PID, LABEL_RUN,
    LABEL_STEP, LABEL_WORKFLOW,
};
pub use events::{Event, EventSink, OutputStream, RunStatus, StepStatus};
pub use record::{ChildRun, ParentRef, RunRecord, StepRecord};
/// The create requests the runner sends, for `tug dry` and other previews.
pub use shared::{create_body, health};
pub use spread::{EnginePool, NamedEngine, Spread};

use crate::workflow::{Container, Host, RegistryAuth, RegistryAuths, Workflow};

/// Default number of steps that may run at once.
pub const DEFAULT_MAX_ACTIVE: usize = 8;
/// Default grace period between the stop signal and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// The run id; a new one when `None`.
    pub run_id: Option<String>,
    /// The data directory holding run records (see [`record::data_dir`]).
    pub data_dir: PathBuf,
    /// The engine, as resolved from tug's own process environment (never from the workflow).
    /// An error is reported only if a step needs the engine.
    pub endpoint: Result<Endpoint, String>,
    /// The name `endpoint` was given (`tug start --engine NAME=…`), for the record; `None`
    /// for the engine of the environment.
    pub engine_name: Option<String>,
    /// The engines `parallel` children are spread over (see [`spread`]); `None` runs every
    /// child on `endpoint`.
    pub engines: Option<Arc<EnginePool>>,
    /// The process environment (volume sources, host steps, registry credentials).
    pub host: Arc<dyn Host + Send + Sync>,
    /// Steps that may run at once.
    pub max_active: usize,
    /// Time between a step's stop signal and SIGKILL.
    pub grace: Duration,
    /// How long exec mode waits for its container to be running (Dagu: 120 s).
    pub exec_wait: Duration,
    /// The workflow file, copied into the record.
    pub source_file: Option<PathBuf>,
    /// Parameters given on the command line, for the record.
    pub params: Vec<(String, String)>,
    /// The run that started this one, for child runs.
    pub parent: Option<record::ParentRef>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("run_id", &self.run_id)
            .field("data_dir", &self.data_dir)
            .field("endpoint", &self.endpoint.as_ref().map(|e| &e.url))
            .field("engine_name", &self.engine_name)
            .field("max_active", &self.max_active)
            .finish_non_exhaustive()
    }
}

/// The outcome of [`run`].
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// Its record directory.
    pub dir: PathBuf,
    /// How it ended.
    pub status: RunStatus,
    /// A run-level error (the engine unreachable, the DAG-level container not ready, …).
    pub error: Option<String>,
    /// True when the run failed because the engine could not be reached.
    pub engine_unreachable: bool,
    /// True when the run failed only because its engine never answered, before any step
    /// started: nothing of it ran anywhere, so it may run again on another engine.
    pub nothing_ran: bool,
    /// Every step as recorded.
    pub steps: Vec<StepRecord>,
    /// How long it took.
    pub duration: Duration,
}

/// Why a step (or the run's setup) failed.
#[derive(Debug, Clone)]
pub(crate) struct StepFailure {
    pub(crate) message: String,
    pub(crate) kind: FailureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    Failed,
    Interrupted,
    Timeout,
    EngineUnavailable,
}

impl StepFailure {
    pub(crate) fn message(message: impl Into<String>) -> StepFailure {
        StepFailure {
            message: message.into(),
            kind: FailureKind::Failed,
        }
    }

    pub(crate) fn engine(context: String, e: &engine_api::Error) -> StepFailure {
        StepFailure {
            message: format!("{context}: {}", engine::chain(e)),
            kind: if e.is_connect() {
                FailureKind::EngineUnavailable
            } else {
                FailureKind::Failed
            },
        }
    }

    pub(crate) fn interrupted() -> StepFailure {
        StepFailure {
            message: "interrupted".into(),
            kind: FailureKind::Interrupted,
        }
    }
}

/// Why a step's work was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// Ctrl-C once.
    Stop,
    /// Ctrl-C twice.
    Kill,
    /// The step's `timeout_sec` passed.
    Timeout,
}

impl Interrupt {
    pub(crate) fn failure(self, _step: &str) -> StepFailure {
        match self {
            Interrupt::Timeout => StepFailure {
                message: "timed out".into(),
                kind: FailureKind::Timeout,
            },
            _ => StepFailure::interrupted(),
        }
    }
}

/// What one run shares among its steps.
pub(crate) struct RunCtx {
    pub(crate) workflow: Arc<Workflow>,
    pub(crate) engine: engine::Engine,
    pub(crate) events: EventSink,
    pub(crate) cancel: Cancel,
    pub(crate) host: Arc<dyn Host + Send + Sync>,
    pub(crate) credentials: CredentialStore,
    pub(crate) grace: Duration,
    pub(crate) exec_wait: Duration,
    pub(crate) dir: PathBuf,
    /// The options of this run, from which child runs take theirs.
    pub(crate) options: RunOptions,
    record: Mutex<RunRecord>,
    /// When the record was last written, and whether it has changed since.
    record_written: Mutex<(Instant, bool)>,
    /// Wakes [`RunCtx::write_record_later`] when an update was held back.
    record_changed: tokio::sync::Notify,
}

/// The run record (`status.json`) is rewritten whole on every change, a few times per step;
/// changes closer together than this are written together (measured on a 200-step run in one
/// container: the rewrites were half of the runner's CPU per step, growing with the steps).
const RECORD_INTERVAL: Duration = Duration::from_millis(100);

impl RunCtx {
    /// The engine client, connecting on first use.
    pub(crate) async fn client(&self) -> Result<&Client, StepFailure> {
        self.engine.client().await.map_err(|e| StepFailure {
            message: e.message,
            kind: FailureKind::EngineUnavailable,
        })
    }

    /// `docker` or `podman`, for messages.
    pub(crate) fn runtime(&self) -> &'static str {
        match self.engine.connected().map(|c| c.endpoint().runtime) {
            Some(engine_api::Runtime::Podman) => "podman",
            _ => "docker",
        }
    }

    /// Updates the record and writes it — at once, or within [`RECORD_INTERVAL`] of the last
    /// write by [`write_record_later`](Self::write_record_later) while the run goes on.
    pub(crate) fn update(&self, f: impl FnOnce(&mut RunRecord)) {
        let mut rec = self.record.lock().unwrap();
        f(&mut rec);
        let mut written = self.record_written.lock().unwrap();
        if written.0.elapsed() < RECORD_INTERVAL {
            written.1 = true;
            self.record_changed.notify_one();
            return;
        }
        *written = (Instant::now(), false);
        drop(written);
        self.write_record(&rec);
    }

    /// Writes the record now.
    fn write_record(&self, rec: &RunRecord) {
        if let Err(e) = record::write(&self.dir, rec) {
            tracing::warn!(error = %e, dir = %self.dir.display(), "cannot write the run record");
        }
    }

    /// Writes the changes [`update`](Self::update) held back, [`RECORD_INTERVAL`] after the
    /// last write; runs beside the steps until the run's end drops it.
    async fn write_record_later(&self) {
        loop {
            self.record_changed.notified().await;
            let due = self.record_written.lock().unwrap().0 + RECORD_INTERVAL;
            tokio::time::sleep_until(due.into()).await;
            self.flush_record();
        }
    }

    /// Writes the record if an update was held back.
    fn flush_record(&self) {
        let rec = self.record.lock().unwrap();
        let mut written = self.record_written.lock().unwrap();
        if written.1 {
            *written = (Instant::now(), false);
            drop(written);
            self.write_record(&rec);
        }
    }

    fn record(&self) -> RunRecord {
        self.record.lock().unwrap().clone()
    }
}

/// Credentials for pulls: the workflow's `registry_auths` (expanded with the workflow's own
/// scope only), then `DOCKER_AUTH_CONFIG`, then `config.json` and its credential helpers.
fn credentials(wf: &Workflow, host: &dyn Host) -> Result<CredentialStore, String> {
    let mut store = CredentialStore::new();
    let expand = |t: &crate::workflow::Text| t.expand(&wf.scope, crate::workflow::Escapes::Literal);
    match &wf.registry_auths {
        Some(RegistryAuths::Json(t)) => {
            let json = expand(t);
            if !json.trim().is_empty() {
                store.insert_auths_json(&json).map_err(|e| {
                    let why = match &e {
                        engine_api::Error::Config { message } => message.clone(),
                        other => engine::chain(other),
                    };
                    let at = crate::workflow::Diagnostic::error("", "registry_auths", t.span);
                    let mut msg = format!(
                        "{}:{}:{}: registry_auths: {why}",
                        wf.file(),
                        at.line().unwrap_or(0),
                        at.column().unwrap_or(0)
                    );
                    // `${VAR}` left as written: an OS variable, which is not expanded here.
                    if json.contains("${") {
                        msg.push_str(
                            "; the value is still `",
                        );
                        msg.push_str(t.raw.trim());
                        msg.push_str("`: OS environment variables are not expanded in registry_auths, so import the variable in the DAG-level `env:` first (e.g. `- DOCKER_AUTH_CONFIG: ${DOCKER_AUTH_CONFIG}`), or leave registry_auths out (tug reads DOCKER_AUTH_CONFIG and ~/.docker/config.json itself)");
                    }
                    msg
                })?;
            }
        }
        Some(RegistryAuths::Hosts(map)) => {
            for (host_name, auth) in map {
                let value = match auth {
                    RegistryAuth::Basic { username, password } => serde_json::json!({
                        "username": expand(username),
                        "password": expand(password),
                    }),
                    RegistryAuth::Encoded(t) => serde_json::json!({ "auth": expand(t) }),
                };
                store
                    .insert_value(host_name, &value)
                    .map_err(|e| format!("registry_auths.{host_name}: {}", engine::chain(&e)))?;
            }
        }
        _ => {}
    }
    store.docker_auth_config(host.var("DOCKER_AUTH_CONFIG"));
    Ok(store)
}

/// Runs `workflow` to the end (or until cancelled) and returns how it went.
pub async fn run(
    workflow: Arc<Workflow>,
    options: RunOptions,
    events: EventSink,
    cancel: Cancel,
) -> RunSummary {
    let started = Instant::now();
    let run_id = options.run_id.clone().unwrap_or_else(record::new_run_id);
    let dir = record::run_dir(&options.data_dir, &workflow.name, &run_id);
    let initial = RunRecord {
        run_id: run_id.clone(),
        workflow: workflow.name.clone(),
        file: workflow.file().to_string(),
        status: RunStatus::Running,
        error: None,
        started_at: record::now(),
        finished_at: None,
        pid: std::process::id(),
        engine: options.endpoint.as_ref().ok().map(|e| e.url.clone()),
        engine_name: options.engine_name.clone(),
        params: options
            .params
            .iter()
            .map(|(k, v)| (k.clone(), crate::redact::value(k, v).to_string()))
            .collect(),
        steps: workflow
            .steps
            .iter()
            .map(|s| StepRecord {
                id: s.id.clone(),
                name: s.name.clone(),
                status: StepStatus::Pending,
                exit_code: None,
                error: None,
                started_at: None,
                finished_at: None,
                output: None,
                attempts: 0,
                children: Vec::new(),
            })
            .collect(),
        parent: options.parent.clone(),
    };
    // A run that cannot begin: no step ran, so each is reported as skipped.
    let setup_error = |message: String| RunSummary {
        run_id: run_id.clone(),
        dir: dir.clone(),
        status: RunStatus::Failed,
        error: Some(message),
        engine_unreachable: false,
        nothing_ran: false,
        steps: initial
            .steps
            .iter()
            .cloned()
            .map(|mut s| {
                s.status = StepStatus::Skipped;
                s
            })
            .collect(),
        duration: started.elapsed(),
    };
    // Credentials first: a bad `registry_auths` fails the run before anything is written.
    let credentials = match credentials(&workflow, options.host.as_ref()) {
        Ok(c) => c,
        Err(e) => return setup_error(e),
    };
    if let Err(e) = std::fs::create_dir_all(dir.join("artifacts")) {
        return setup_error(format!(
            "cannot create the run directory {}: {e}",
            dir.display()
        ));
    }
    // The workflow file is not copied into the record: it may hold literal credentials. The
    // record names it (`file`).
    let _ = &options.source_file;
    if let Err(e) = record::write(&dir, &initial) {
        return setup_error(format!(
            "cannot write the run record in {}: {e}",
            dir.display()
        ));
    }
    // The run's own cancel level: the caller's interrupts, and the workflow's timeout.
    let (internal_handle, internal) = cancel_pair();
    let forward = {
        let handle = internal_handle.clone();
        tokio::spawn(async move {
            cancel.reached(CancelLevel::Graceful).await;
            handle.raise(CancelLevel::Graceful);
            cancel.reached(CancelLevel::Kill).await;
            handle.raise(CancelLevel::Kill);
        })
    };
    let ctx = RunCtx {
        engine: engine::Engine::new(
            options.endpoint.clone(),
            run_id.clone(),
            workflow.name.clone(),
        ),
        workflow: workflow.clone(),
        events,
        cancel: internal,
        host: options.host.clone(),
        credentials,
        grace: options.grace,
        exec_wait: options.exec_wait,
        dir: dir.clone(),
        options: options.clone(),
        record: Mutex::new(initial),
        record_written: Mutex::new((Instant::now(), false)),
        record_changed: tokio::sync::Notify::new(),
    };
    ctx.events
        .send(Event::RunStarted {
            run_id: run_id.clone(),
            workflow: workflow.name.clone(),
            dir: dir.display().to_string(),
        })
        .await;

    let outcome = tokio::select! {
        o = drive(&ctx, &options, &internal_handle) => o,
        () = ctx.write_record_later() => unreachable!("the record writer loops until dropped"),
    };
    ctx.flush_record();

    // Teardown on every path: a second Ctrl-C during it kills instead of waiting.
    let errors = ctx.engine.teardown(&ctx.cancel).await;
    // The caller's interrupts are forwarded until teardown is over: a second Ctrl-C during
    // it must still reach `ctx.cancel`.
    forward.abort();
    for e in &errors {
        ctx.events
            .notice(None, format!("cleanup: cannot remove {e}"))
            .await;
    }

    let steps = ctx.record().steps;
    let status = match &outcome {
        Err(f) if f.kind == FailureKind::Interrupted => RunStatus::Cancelled,
        Err(_) => RunStatus::Failed,
        Ok(_) if ctx.cancel.is_cancelled() => RunStatus::Cancelled,
        Ok(allowed) => overall(&steps, allowed),
    };
    let error = outcome.as_ref().err().map(|f| f.message.clone());
    let engine_unreachable = matches!(&outcome, Err(f) if f.kind == FailureKind::EngineUnavailable)
        || workflow.steps.iter().zip(&steps).any(|(_, s)| {
            s.status == StepStatus::Failed
                && s.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(ENGINE_PREFIX))
        });
    {
        // The final record is written at once, whenever the last write was.
        let mut rec = ctx.record.lock().unwrap();
        rec.status = status;
        rec.error = error.clone();
        rec.finished_at = Some(record::now());
        *ctx.record_written.lock().unwrap() = (Instant::now(), false);
        ctx.write_record(&rec);
    }
    let duration = started.elapsed();
    ctx.events
        .send(Event::RunFinished { status, duration })
        .await;
    let steps = ctx.record().steps;
    let nothing_ran = engine_unreachable
        && ctx.engine.connected().is_none()
        && steps.iter().all(|s| {
            s.started_at.is_none()
                || s.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(ENGINE_PREFIX))
        });
    RunSummary {
        run_id,
        dir,
        status,
        error,
        engine_unreachable,
        nothing_ran,
        steps,
        duration,
    }
}

/// [`run`] behind a box: child runs start runs from inside a run, and the future's type must
/// not contain itself.
pub(crate) fn run_boxed(
    workflow: Arc<Workflow>,
    options: RunOptions,
    events: EventSink,
    cancel: Cancel,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = RunSummary> + Send>> {
    Box::pin(run(workflow, options, events, cancel))
}

/// Prefix of a step error caused by an unreachable engine.
const ENGINE_PREFIX: &str = "engine unavailable: ";

/// The run's status from its steps.
fn overall(steps: &[StepRecord], allowed: &[bool]) -> RunStatus {
    let mut allowed_failure = false;
    for (r, &ok) in steps.iter().zip(allowed) {
        match r.status {
            StepStatus::Failed if ok => allowed_failure = true,
            StepStatus::Failed => return RunStatus::Failed,
            StepStatus::Cancelled => return RunStatus::Cancelled,
            _ => {}
        }
    }
    if allowed_failure {
        RunStatus::PartiallySucceeded
    } else {
        RunStatus::Succeeded
    }
}

/// The DAG-level setup and the step loop.
async fn drive(
    ctx: &RunCtx,
    options: &RunOptions,
    stop: &CancelHandle,
) -> Result<Vec<bool>, StepFailure> {
    let wf = &ctx.workflow;
    let workflow_deadline = wf.timeout.map(|t| Instant::now() + t);
    let sleep_until = |d: Option<Instant>| async move {
        match d {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };

    // The DAG-level container, unless every step brings its own.
    let needs_shared = wf.steps.iter().any(|s| step::uses_shared(wf, s));
    let shared = match (&wf.container, needs_shared) {
        (Some(Container::Image(spec)), true) => {
            let started = tokio::select! {
                r = shared::start(ctx, spec) => r,
                _ = sleep_until(workflow_deadline) => Err(StepFailure {
                    message: "the workflow timed out while starting its DAG-level container".into(),
                    kind: FailureKind::Timeout,
                }),
            };
            match started {
                Ok(s) => Some(s),
                Err(e) => {
                    let msg = e.message.clone();
                    ctx.update(|r| {
                        for s in &mut r.steps {
                            s.status = if e.kind == FailureKind::Interrupted {
                                StepStatus::Cancelled
                            } else {
                                StepStatus::Skipped
                            };
                        }
                    });
                    return Err(StepFailure {
                        message: msg,
                        kind: e.kind,
                    });
                }
            }
        }
        _ => None,
    };

    let n = wf.steps.len();
    let mut status = vec![StepStatus::Pending; n];
    let mut allowed = vec![false; n];
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut running = FuturesUnordered::new();
    let max_active = options.max_active.max(1);
    let mut timed_out = false;
    loop {
        // Settle steps whose dependencies failed, and start the ready ones.
        let stopping = ctx.cancel.is_cancelled();
        for i in 0..n {
            if status[i] != StepStatus::Pending {
                continue;
            }
            if stopping {
                status[i] = StepStatus::Cancelled;
                ctx.update(|r| r.steps[i].status = StepStatus::Cancelled);
                // Every step ends with an event, also one that never started.
                ctx.events
                    .send(Event::Step {
                        step: wf.steps[i].id.clone(),
                        status: StepStatus::Cancelled,
                        exit_code: None,
                        error: None,
                    })
                    .await;
                continue;
            }
            let deps = &wf.steps[i].depends;
            if let Some(&bad) = deps.iter().find(|&&d| {
                status[d].is_final() && status[d] != StepStatus::Succeeded && !allowed[d]
            }) {
                status[i] = StepStatus::Skipped;
                let msg = format!(
                    "not run: step {:?} {}",
                    wf.steps[bad].id,
                    status[bad].as_str()
                );
                ctx.update(|r| {
                    r.steps[i].status = StepStatus::Skipped;
                    r.steps[i].error = Some(msg.clone());
                });
                ctx.events
                    .send(Event::Step {
                        step: wf.steps[i].id.clone(),
                        status: StepStatus::Skipped,
                        exit_code: None,
                        error: Some(msg),
                    })
                    .await;
                continue;
            }
            let ready = deps.iter().all(|&d| status[d].is_final());
            if ready && running.len() < max_active {
                status[i] = StepStatus::Running;
                let scope = wf
                    .scope
                    .with_outputs(outputs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let shared = shared.clone();
                running
                    .push(async move { (i, step::run_step(ctx, i, scope, shared.as_ref()).await) });
            }
        }
        if running.is_empty() {
            if status.contains(&StepStatus::Pending) && !stopping {
                // Cannot happen after validation (no cycles), but never spin.
                return Err(StepFailure::message("steps are waiting on each other"));
            }
            break;
        }
        tokio::select! {
            Some((i, result)) = running.next() => {
                status[i] = result.status;
                allowed[i] = result.continue_allowed;
                if let Some((k, v)) = result.output {
                    outputs.push((k, v));
                }
            }
            _ = sleep_until(workflow_deadline), if !timed_out => {
                timed_out = true;
                stop.raise(CancelLevel::Graceful);
                ctx.events.notice(None, format!(
                    "the workflow's timeout_sec ({}s) passed: stopping",
                    wf.timeout.map(|t| t.as_secs()).unwrap_or_default()
                )).await;
            }
        }
    }
    if timed_out {
        return Err(StepFailure {
            message: format!(
                "the workflow timed out after {}s",
                wf.timeout.map(|t| t.as_secs()).unwrap_or_default()
            ),
            kind: FailureKind::Timeout,
        });
    }
    if ctx.cancel.is_cancelled() {
        return Err(StepFailure::interrupted());
    }
    Ok(allowed)
}

#[cfg(test)]
mod send_check {
    #[allow(dead_code)]
    fn run_is_send(wf: std::sync::Arc<crate::workflow::Workflow>, o: super::RunOptions) {
        fn is_send<T: Send>(_: T) {}
        is_send(super::run(
            wf,
            o,
            super::EventSink::none(),
            super::Cancel::never(),
        ));
    }
}
