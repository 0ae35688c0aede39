//! One step: decide where it runs, build its command, run it, record the outcome.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use engine_api::containers::ContainerCreate;

use super::container::{self, ExecSettings};
use super::events::{Event, OutputStream, StepStatus};
use super::output::{StepOutput, STDERR_TAIL_LINES};
use super::shared::{self, Shared};
use super::{
    children, control, harness, host_step, record, FailureKind, RunCtx, StepFailure, ENGINE_PREFIX,
};
use crate::workflow::{
    command_argv, expand_env, merge_env, resolve_volume, Action, Container, DockerRun, Escapes,
    HarnessRun, Run, Scope, Shell, Step, Text, Workflow,
};

/// What a finished step hands back to the scheduler.
#[derive(Debug)]
pub(crate) struct StepResult {
    pub(crate) status: StepStatus,
    pub(crate) output: Option<(String, String)>,
    /// `continue_on` lets dependents run although the step failed or was skipped.
    pub(crate) continue_allowed: bool,
}

/// True when `step` runs in the DAG-level container.
pub(crate) fn uses_shared(wf: &Workflow, step: &Step) -> bool {
    wf.container.is_some()
        && step.container.is_none()
        && matches!(step.action, Action::Command | Action::HarnessRun(_))
}

/// Runs step `i` (preconditions, attempts, continue_on) and records it.
pub(crate) async fn run_step(
    ctx: &RunCtx,
    i: usize,
    scope: Scope,
    shared: Option<&Shared>,
) -> StepResult {
    let step = &ctx.workflow.steps[i];
    ctx.update(|r| {
        r.steps[i].status = StepStatus::Running;
        r.steps[i].started_at = Some(record::now());
    });
    ctx.events
        .send(Event::Step {
            step: step.id.clone(),
            status: StepStatus::Running,
            exit_code: None,
            error: None,
        })
        .await;

    // Preconditions: all must hold, or the step is skipped.
    match control::preconditions(ctx, step, &scope).await {
        Ok(None) => {}
        Ok(Some(reason)) => {
            ctx.events.notice(Some(&step.id), reason.clone()).await;
            let allowed = control::continue_allowed(step, StepStatus::Skipped, None, "");
            return finish(
                ctx,
                i,
                StepStatus::Skipped,
                None,
                None,
                None,
                allowed,
                Some(reason),
            )
            .await;
        }
        Err(f) => {
            let status = if f.kind == FailureKind::Interrupted {
                StepStatus::Cancelled
            } else {
                StepStatus::Failed
            };
            return finish(ctx, i, status, None, Some(f.message), None, false, None).await;
        }
    }

    let mut attempt = 0u32;
    let (status, exit_code, error, captured) = loop {
        attempt += 1;
        ctx.update(|r| r.steps[i].attempts = attempt);
        let outcome = execute(ctx, i, step, &scope, shared).await;
        let (status, exit_code, error, captured, kind) = match outcome {
            Ok(f) if f.code == 0 => (StepStatus::Succeeded, Some(0), None, f.captured, None),
            Ok(f) => {
                let mut msg = format!("exit status {}", f.code);
                if !f.stderr_tail.is_empty() {
                    msg.push_str(&format!("\nlast lines of stderr:\n{}", f.stderr_tail));
                }
                (StepStatus::Failed, Some(f.code), Some(msg), None, None)
            }
            Err(f) => {
                let status = match f.kind {
                    FailureKind::Interrupted => StepStatus::Cancelled,
                    _ => StepStatus::Failed,
                };
                let msg = match f.kind {
                    FailureKind::Timeout => format!(
                        "timed out after {}s (timeout_sec)",
                        step.timeout.map(|t| t.as_secs()).unwrap_or_default()
                    ),
                    FailureKind::EngineUnavailable => format!("{ENGINE_PREFIX}{}", f.message),
                    _ => f.message,
                };
                (status, None, Some(msg), None, Some(f.kind))
            }
        };
        if status == StepStatus::Failed && !ctx.cancel.is_cancelled() {
            if let Some(wait) =
                control::retry_delay(step.retry_policy.as_ref(), attempt, exit_code, kind)
            {
                let limit = step.retry_policy.as_ref().map_or(0, |p| p.limit);
                ctx.events
                    .notice(
                        Some(&step.id),
                        format!(
                            "failed ({}); retry {attempt} of {limit} in {:.1}s",
                            error
                                .as_deref()
                                .and_then(|e| e.lines().next())
                                .unwrap_or("failed"),
                            wait.as_secs_f64()
                        ),
                    )
                    .await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = ctx.cancel.cancelled() => {}
                }
            }
        }
        break (status, exit_code, error, captured);
    };

    let stdout_tail = if step.continue_on.output.is_empty() {
        String::new()
    } else {
        tail_of(&ctx.dir.join(format!("{}.out", record::safe_name(&step.id))))
    };
    let allowed = control::continue_allowed(step, status, exit_code, &stdout_tail);
    let status = if status == StepStatus::Failed && allowed && step.continue_on.mark_success {
        StepStatus::Succeeded
    } else {
        status
    };
    let error = if status == StepStatus::Succeeded {
        None
    } else {
        error
    };
    finish(ctx, i, status, exit_code, error, captured, allowed, None).await
}

/// The last 64 KiB of a log file.
fn tail_of(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 64 * 1024;
    // Only the tail is read: a step's log may be gigabytes.
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
        let mut buf = Vec::with_capacity(TAIL as usize);
        f.take(TAIL).read_to_end(&mut buf)?;
        Ok(buf)
    };
    read()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Records a step's end and tells the scheduler.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &RunCtx,
    i: usize,
    status: StepStatus,
    exit_code: Option<i64>,
    error: Option<String>,
    captured: Option<String>,
    allowed: bool,
    note: Option<String>,
) -> StepResult {
    let step = &ctx.workflow.steps[i];
    let output = match (&step.output, captured) {
        (Some(name), Some(value)) if status == StepStatus::Succeeded => Some((name.clone(), value)),
        _ => None,
    };
    ctx.update(|r| {
        let s = &mut r.steps[i];
        s.status = status;
        s.exit_code = exit_code;
        s.error = error.clone().or(note);
        s.finished_at = Some(record::now());
        s.output = output.clone();
    });
    ctx.events
        .send(Event::Step {
            step: step.id.clone(),
            status,
            exit_code,
            error,
        })
        .await;
    StepResult {
        status,
        output,
        continue_allowed: allowed,
    }
}

/// Where `artifact` (relative, inside the run's artifact directory) goes.
fn artifact_path(ctx: &RunCtx, artifact: &Path) -> Result<PathBuf, StepFailure> {
    let clean = artifact
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !clean {
        return Err(StepFailure::message(format!(
            "stdout.artifact {:?} must be a relative path inside the run's artifact directory",
            artifact.display()
        )));
    }
    Ok(ctx.dir.join("artifacts").join(artifact))
}

/// How a step's process ended.
struct Finished {
    code: i64,
    captured: Option<String>,
    stderr_tail: String,
}

/// Runs the step.
async fn execute(
    ctx: &RunCtx,
    index: usize,
    step: &Step,
    scope: &Scope,
    shared: Option<&Shared>,
) -> Result<Finished, StepFailure> {
    let artifact = match &step.stdout_artifact {
        Some(a) => Some(artifact_path(ctx, a)?),
        None => None,
    };
    let mut out = StepOutput::create(
        &ctx.dir,
        &record::safe_name(&step.id),
        &step.id,
        ctx.events.clone(),
        step.output.as_ref().map(|_| ctx.workflow.max_output_size),
        artifact,
    )
    .await
    .map_err(|e| StepFailure::message(format!("cannot open the step's log files: {e}")))?;
    let deadline = step.timeout.map(|t| Instant::now() + t);
    let result = match &step.action {
        Action::DagRun(d) => {
            // Children stop themselves (and remove what they created) when told to: the step
            // never drops them half-way, it forwards interrupts and its own deadline to them.
            let (handle, cancel) = super::cancel_pair();
            let timed_out = std::sync::atomic::AtomicBool::new(false);
            let forward = async {
                let deadline_passed = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = ctx.cancel.cancelled() => {}
                    _ = deadline_passed => timed_out.store(true, std::sync::atomic::Ordering::Relaxed),
                }
                handle.raise(super::CancelLevel::Graceful);
                ctx.cancel.reached(super::CancelLevel::Kill).await;
                handle.raise(super::CancelLevel::Kill);
                std::future::pending::<()>().await
            };
            let work = async {
                match &step.parallel {
                    Some(p) => {
                        children::parallel(ctx, &cancel, index, step, d, p, scope, &mut out).await
                    }
                    None => children::dag_run(ctx, &cancel, index, step, d, scope, &mut out).await,
                }
            };
            let result = tokio::select! {
                r = work => r,
                _ = forward => unreachable!("the forwarder never ends"),
            };
            if timed_out.load(std::sync::atomic::Ordering::Relaxed) {
                Err(super::Interrupt::Timeout.failure(&step.id))
            } else {
                result
            }
        }
        Action::HarnessRun(h) => harness_run(ctx, step, h, scope, shared, deadline, &mut out).await,
        _ => dispatch(ctx, step, scope, shared, deadline, &mut out).await,
    };
    let _ = out.flush().await;
    let code = result?;
    // A container process killed by a signal tug did not send: when the engine itself is going
    // away (dockerd stops every container before it exits), say so rather than report a plain
    // exit status 137/143.
    if (129..=192).contains(&code) && !ctx.cancel.is_cancelled() && uses_engine(ctx, step) {
        if let Some(why) = engine_gone(ctx).await {
            return Err(StepFailure {
                message: format!(
                    "the step's process ended with exit status {code} (signal {}) and {why}",
                    code - 128
                ),
                kind: FailureKind::EngineUnavailable,
            });
        }
    }
    let captured = match out.captured() {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) if code == 0 => {
            return Err(StepFailure::message(format!(
                "output exceeded maximum size limit of {} bytes (max_output_size)",
                e.limit
            )))
        }
        _ => None,
    };
    Ok(Finished {
        code,
        captured,
        stderr_tail: out.stderr_tail(STDERR_TAIL_LINES),
    })
}

/// True when the step runs in a container (its own, the DAG-level one, or `docker.run`).
fn uses_engine(ctx: &RunCtx, step: &Step) -> bool {
    match step.action {
        Action::DagRun(_) => false,
        Action::DockerRun(_) => true,
        _ => step.container.is_some() || ctx.workflow.container.is_some(),
    }
}

/// Why the engine is no longer there, if it is not: a ping over a new connection (a daemon
/// shutting down closes its listener first but may keep serving connections already open),
/// within 2 s.
async fn engine_gone(ctx: &RunCtx) -> Option<String> {
    let endpoint = ctx.engine.connected()?.endpoint().clone();
    let client = match engine_api::Client::new(endpoint) {
        Ok(c) => c,
        Err(e) => {
            return Some(format!(
                "the engine cannot be reached: {}",
                super::engine::chain(&e)
            ))
        }
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), client.ping()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) if e.is_connect() => Some(format!(
            "the engine no longer accepts connections: {}",
            super::engine::chain(&e)
        )),
        Ok(Err(_)) => None,
        Err(_) => Some("the engine did not answer a ping within 2 s".into()),
    }
}

/// `action: harness.run`: the provider, then each fallback in order, until one succeeds.
async fn harness_run(
    ctx: &RunCtx,
    step: &Step,
    h: &HarnessRun,
    scope: &Scope,
    shared: Option<&Shared>,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let providers = harness::providers(h);
    let total = providers.len();
    let mut last = Err(StepFailure::message("no provider to run"));
    for (n, provider) in providers.iter().enumerate() {
        let cmd = harness::command_line(&ctx.workflow, h, provider, scope)
            .map_err(|e| StepFailure::message(format!("cannot run the harness: {e}")))?;
        last = harness_once(ctx, step, &cmd, scope, shared, deadline, out).await;
        let failed = match &last {
            Ok(0) => return last,
            Err(f) if matches!(f.kind, FailureKind::Interrupted | FailureKind::Timeout) => {
                return last
            }
            _ => true,
        };
        if failed && n + 1 < total {
            let next = harness::provider_name(&providers[n + 1]).to_string();
            let why = match &last {
                Ok(code) => format!("exit status {code}"),
                Err(f) => f.message.lines().next().unwrap_or_default().to_string(),
            };
            let notice = format!(
                "{} ({why})",
                harness::fallback_notice(n + 1, total, &cmd.provider, &next)
            );
            let _ = out
                .write(OutputStream::Stderr, format!("{notice}\n").into())
                .await;
        }
    }
    last
}

/// One provider's attempt, wherever the step runs.
async fn harness_once(
    ctx: &RunCtx,
    step: &Step,
    cmd: &harness::HarnessCommand,
    scope: &Scope,
    shared: Option<&Shared>,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let wf = &ctx.workflow;
    let step_env = expand_env(&step.env, scope);
    let container = step.container.as_ref().or(wf.container.as_ref());
    if container.is_some() && cmd.stdin.is_some() {
        return Err(StepFailure::message(format!(
            "provider {}: input on stdin (prompt_mode: stdin, or with.stdin) is not supported inside containers; use prompt_mode arg or flag",
            cmd.provider
        )));
    }
    let not_found = |image: &str| {
        StepFailure::message(format!(
            "agent binary not found: {} is not in PATH in image {image}: the runner image must contain the selected provider binary (see harness runner images)",
            cmd.binary
        ))
    };
    let missing = |f: &StepFailure| {
        let m = f.message.to_ascii_lowercase();
        m.contains("executable file not found") || m.contains("no such file or directory")
    };
    match container {
        None => host_step::run_argv(ctx, step, cmd.argv(), cmd.stdin.clone(), &step_env, deadline, out)
            .await
            .map_err(|f| {
                if missing(&f) {
                    StepFailure::message(format!(
                        "agent binary not found: {} is not in PATH on the host: install the selected provider binary",
                        cmd.binary
                    ))
                } else {
                    f
                }
            }),
        Some(Container::Image(spec)) if step.container.is_some() => {
            let resolved = spec
                .resolve(scope, ctx.host.as_ref(), &wf.working_dir, &step_env)
                .map_err(|d| StepFailure::message(wf.diagnostics(d).render()))?;
            let platform = resolved.platform.as_ref().map(|p| p.to_string());
            bounded(
                ctx,
                step,
                deadline,
                container::ensure_image(ctx, Some(&step.id), &resolved.image, spec.pull_policy, platform.as_deref()),
            )
            .await?;
            let mut create = shared::create_body(&resolved);
            create.config.entrypoint = Some(vec![cmd.binary.clone()]);
            create.config.cmd = Some(cmd.args.clone());
            let image = resolved.image.clone();
            match container::run_fresh(ctx, &step.id, create, false, step.signal_on_stop.clone(), deadline, out).await {
                Err(f) if missing(&f) => Err(not_found(&image)),
                other => other,
            }
        }
        Some(Container::Image(spec)) => {
            let Some(shared) = shared else {
                return Err(StepFailure::message("the DAG-level container is not running"));
            };
            let settings = ExecSettings {
                env: shared::exec_env(&step_env, &shared.resolved.env),
                user: shared.resolved.user.clone(),
                working_dir: shared.resolved.working_dir.clone(),
                            options: Default::default(),
            };
            let code = container::exec_in(ctx, &step.id, &shared.id, cmd.argv(), &settings, step.signal_on_stop.as_deref(), deadline, out).await?;
            if code == 126 || code == 127 {
                let _ = spec;
                return Err(not_found(&shared.resolved.image));
            }
            Ok(code)
        }
        Some(Container::Exec(e)) => {
            let name = e.container.expand(scope, Escapes::Literal);
            bounded(ctx, step, deadline, container::wait_running(ctx, Some(&step.id), &name, ctx.exec_wait)).await?;
            let env = merge_env(&step_env, &expand_env(&e.env, scope));
            let settings = ExecSettings {
                env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                user: e.user.as_ref().map(|t| t.expand(scope, Escapes::Literal)),
                working_dir: e.working_dir.as_ref().map(|t| t.expand(scope, Escapes::Literal)),
                            options: Default::default(),
            };
            let code = container::exec_in(ctx, &step.id, &name, cmd.argv(), &settings, step.signal_on_stop.as_deref(), deadline, out).await?;
            if code == 126 || code == 127 {
                return Err(not_found(&format!("of container {name}")));
            }
            Ok(code)
        }
    }
}

/// Runs a preparation (a pull, a wait) within the step's deadline.
async fn bounded<T>(
    ctx: &RunCtx,
    step: &Step,
    deadline: Option<Instant>,
    work: impl std::future::Future<Output = Result<T, StepFailure>>,
) -> Result<T, StepFailure> {
    match container::interruptible(ctx, deadline, work).await {
        Ok(r) => r,
        Err(why) => Err(why.failure(&step.id)),
    }
}

/// The command lines of the step, each as text.
fn commands(step: &Step) -> Vec<&Text> {
    match &step.run {
        Run::Command(t) | Run::Script(t) => vec![t],
        Run::Commands(list) => list.iter().collect(),
        _ => Vec::new(),
    }
}

fn argv(text: &Text, scope: &Scope, shell: Option<&Shell>) -> Result<Vec<String>, StepFailure> {
    command_argv(text, scope, shell).map_err(|d| StepFailure::message(d.message().to_string()))
}

async fn dispatch(
    ctx: &RunCtx,
    step: &Step,
    scope: &Scope,
    shared: Option<&Shared>,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let wf = &ctx.workflow;
    let step_env = expand_env(&step.env, scope);
    let signal = step.signal_on_stop.clone();
    if let Action::DockerRun(d) = &step.action {
        return docker_run(ctx, step, d, scope, &step_env, deadline, out).await;
    }
    let container = step.container.as_ref().or(wf.container.as_ref());
    match container {
        None => host_step::run(ctx, step, scope, &step_env, deadline, out).await,
        Some(Container::Exec(e)) => {
            let name = e.container.expand(scope, Escapes::Literal);
            bounded(
                ctx,
                step,
                deadline,
                container::wait_running(ctx, Some(&step.id), &name, ctx.exec_wait),
            )
            .await?;
            let env = merge_env(&step_env, &expand_env(&e.env, scope));
            let settings = ExecSettings {
                env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                user: e.user.as_ref().map(|t| t.expand(scope, Escapes::Literal)),
                working_dir: e
                    .working_dir
                    .as_ref()
                    .map(|t| t.expand(scope, Escapes::Literal)),
                options: Default::default(),
            };
            exec_lines(
                ctx,
                step,
                scope,
                e.shell.as_ref(),
                &name,
                &settings,
                deadline,
                out,
            )
            .await
        }
        Some(Container::Image(spec)) if step.container.is_none() => {
            // The DAG-level container: exec into it.
            let Some(shared) = shared else {
                return Err(StepFailure::message(
                    "the DAG-level container is not running",
                ));
            };
            let settings = ExecSettings {
                env: shared::exec_env(&step_env, &shared.resolved.env),
                user: shared.resolved.user.clone(),
                working_dir: shared.resolved.working_dir.clone(),
                options: Default::default(),
            };
            exec_lines(
                ctx,
                step,
                scope,
                spec.shell.as_ref(),
                &shared.id,
                &settings,
                deadline,
                out,
            )
            .await
        }
        Some(Container::Image(spec)) => {
            let resolved = spec
                .resolve(scope, ctx.host.as_ref(), &wf.working_dir, &step_env)
                .map_err(|d| StepFailure::message(wf.diagnostics(d).render()))?;
            let platform = resolved.platform.as_ref().map(|p| p.to_string());
            bounded(
                ctx,
                step,
                deadline,
                container::ensure_image(
                    ctx,
                    Some(&step.id),
                    &resolved.image,
                    spec.pull_policy,
                    platform.as_deref(),
                ),
            )
            .await?;
            let mut create = shared::create_body(&resolved);
            if let Some(h) = &spec.healthcheck {
                create.config.healthcheck = Some(shared::health(h));
            }
            let lines = commands(step);
            match lines.as_slice() {
                [] => {
                    // No run: the image's own command, or `command`.
                    if let Some(cmd) = &resolved.command {
                        create.config.cmd = Some(cmd.clone());
                    }
                    container::run_fresh(ctx, &step.id, create, false, signal, deadline, out).await
                }
                [one] => {
                    create.config.cmd = Some(argv(one, scope, spec.shell.as_ref())?);
                    container::run_fresh(ctx, &step.id, create, false, signal, deadline, out).await
                }
                _ => {
                    multi_in_fresh(
                        ctx,
                        step,
                        scope,
                        spec.shell.as_ref(),
                        create,
                        &resolved.env,
                        deadline,
                        out,
                    )
                    .await
                }
            }
        }
    }
}

/// Runs each command line of the step by exec in `container`, in order, stopping at the first
/// failure.
#[allow(clippy::too_many_arguments)]
async fn exec_lines(
    ctx: &RunCtx,
    step: &Step,
    scope: &Scope,
    shell: Option<&Shell>,
    container: &str,
    settings: &ExecSettings,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let lines = commands(step);
    if lines.is_empty() {
        return Err(StepFailure::message(
            "the step has no command to run in the container (add `run:`)",
        ));
    }
    let mut code = 0;
    for line in lines {
        let argv = argv(line, scope, shell)?;
        code = container::exec_in(
            ctx,
            &step.id,
            container,
            argv,
            settings,
            step.signal_on_stop.as_deref(),
            deadline,
            out,
        )
        .await?;
        if code != 0 {
            break;
        }
    }
    Ok(code)
}

/// A `run` list in a step-level image container: one container kept alive, one exec per
/// command (sharing its filesystem), stopping at the first failure.
#[allow(clippy::too_many_arguments)]
async fn multi_in_fresh(
    ctx: &RunCtx,
    step: &Step,
    scope: &Scope,
    shell: Option<&Shell>,
    mut create: ContainerCreate,
    env: &[(String, String)],
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let client = ctx.client().await?;
    let arch = client
        .inspect_image(&create.config.image)
        .await
        .map(|i| i.architecture)
        .unwrap_or_default();
    let helper = super::keepalive::helper_for(&arch);
    match &helper {
        Some(_) => {
            create.config.entrypoint = Some(vec![super::keepalive::HELPER_PATH.into()]);
            create.config.cmd = Some(vec![]);
        }
        None => {
            create.config.entrypoint = Some(vec![]);
            create.config.cmd = Some(super::keepalive::shell_fallback());
        }
    }
    create.host_config.init = Some(true);
    create.config.labels.extend(ctx.engine.labels(&step.id));
    let id = client
        .create_container(&create)
        .await
        .map_err(|e| {
            if e.is_conflict() {
                StepFailure::message(format!(
                    "a container named {:?} already exists: remove it or choose another name",
                    create.name.clone().unwrap_or_default()
                ))
            } else {
                StepFailure::engine(
                    format!("cannot create the container for step {}", step.id),
                    &e,
                )
            }
        })?
        .id;
    ctx.engine.register(super::engine::Created {
        id: id.clone(),
        what: format!("container of step {}", step.id),
        stop_signal: None,
        grace: ctx.grace,
        keep: false,
    });
    let result = async {
        if let Some(program) = helper {
            client
                .upload_archive(
                    &id,
                    "/",
                    std::io::Cursor::new(super::keepalive::helper_tar(&program)),
                )
                .await
                .map_err(|e| {
                    StepFailure::engine("cannot copy the keep-alive helper in".into(), &e)
                })?;
        }
        client
            .start_container(&id)
            .await
            .map_err(|e| StepFailure::engine("cannot start the container".into(), &e))?;
        let settings = ExecSettings {
            env: Vec::new(),
            user: create.config.user.clone(),
            working_dir: create.config.working_dir.clone(),
            options: Default::default(),
        };
        let _ = env;
        exec_lines(ctx, step, scope, shell, &id, &settings, deadline, out).await
    }
    .await;
    let _ = ctx.engine.dispose(&id, true, &ctx.cancel).await;
    result
}

/// `action: docker.run`.
async fn docker_run(
    ctx: &RunCtx,
    step: &Step,
    d: &DockerRun,
    scope: &Scope,
    step_env: &[(String, String)],
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let wf = &ctx.workflow;
    let lit = |t: &Text| t.expand(scope, Escapes::Literal);
    let cmd = d
        .argv(commands(step).first().copied(), scope)
        .map_err(|e| StepFailure::message(e.message().to_string()))?;
    let Some(image) = d.image.as_ref().map(lit) else {
        // No image: exec into the running `container_name`.
        let Some(name) = d.container_name.as_ref().map(lit) else {
            return Err(StepFailure::message(
                "container_name or image must be specified",
            ));
        };
        bounded(
            ctx,
            step,
            deadline,
            container::wait_running(ctx, Some(&step.id), &name, ctx.exec_wait),
        )
        .await?;
        let settings = ExecSettings {
            env: step_env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            user: None,
            working_dir: d.working_dir.as_ref().map(lit),
            options: d.exec.clone(),
        };
        let Some(argv) = cmd else {
            return Err(StepFailure::message(
                "docker.run into an existing container needs a command",
            ));
        };
        return container::exec_in(
            ctx,
            &step.id,
            &name,
            argv,
            &settings,
            step.signal_on_stop.as_deref(),
            deadline,
            out,
        )
        .await;
    };
    let platform = d.platform.as_ref().map(lit);
    bounded(
        ctx,
        step,
        deadline,
        container::ensure_image(ctx, Some(&step.id), &image, d.pull, platform.as_deref()),
    )
    .await?;
    let mut create = ContainerCreate::new(image);
    create.name = d.container_name.as_ref().map(lit);
    create.platform = platform;
    create.config.cmd = cmd;
    create.config.working_dir = d.working_dir.as_ref().map(lit);
    create.config.env = step_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for v in &d.volumes {
        let m = resolve_volume(v, scope, ctx.host.as_ref(), &wf.working_dir)
            .map_err(|e| StepFailure::message(wf.diagnostics(vec![e]).render()))?;
        create.host_config.binds.push(m.to_bind());
    }
    create.extra_config = d.container.clone();
    let mut host = d.host.clone();
    // tug removes the container itself (or keeps it): the engine must not.
    host.retain(|k, _| !k.eq_ignore_ascii_case("AutoRemove"));
    create.extra_host_config = host;
    if !d.network.is_empty() {
        if let Some(serde_json::Value::Object(eps)) = find_ci(&d.network, "EndpointsConfig") {
            for (k, v) in eps {
                create.endpoints.insert(k.clone(), v.clone());
            }
        }
    }
    container::run_fresh(
        ctx,
        &step.id,
        create,
        !d.auto_remove,
        step.signal_on_stop.clone(),
        deadline,
        out,
    )
    .await
}

fn find_ci<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'a serde_json::Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}
