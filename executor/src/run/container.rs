//! Running step commands in containers: a fresh container per step (image mode and
//! `docker.run`), an exec into a running container (the DAG-level container, or exec mode),
//! pulls by policy with registry credentials, and waiting for a container to be running.

use std::time::{Duration, Instant};

use engine_api::containers::{ContainerCreate, WaitCondition};
use engine_api::containers_io::AttachOptions;
use engine_api::exec::ExecCreate;
use engine_api::images::PullOptions;
use engine_api::stream::{LogStream, StreamKind};
use engine_api::Client;

use super::engine::{chain, short, Created};
use super::events::{Event, OutputStream};
use super::output::StepOutput;
use super::{Interrupt, RunCtx, StepFailure};
use crate::workflow::PullPolicy;

/// How often readiness and exec state are polled.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Makes sure `image` is present as `policy` says, pulling with the run's credentials and
/// reporting progress.
pub(crate) async fn ensure_image(
    run: &RunCtx,
    step: Option<&str>,
    image: &str,
    policy: PullPolicy,
    platform: Option<&str>,
) -> Result<(), StepFailure> {
    let client = run.client().await?;
    // Whether the image is present for the platform asked for; `other` keeps the platform of
    // a copy that is present but for another platform, for the message.
    let other = std::sync::Mutex::new(None::<String>);
    let present = || async {
        match client.inspect_image(image).await {
            Ok(i) => {
                let fits = platform.is_none_or(|p| platform_matches(p, &i.os, &i.architecture));
                if !fits {
                    *other.lock().unwrap() = Some(format!("{}/{}", i.os, i.architecture));
                }
                Ok(fits)
            }
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(StepFailure::engine(
                format!("cannot inspect image {image}"),
                &e,
            )),
        }
    };
    match policy {
        PullPolicy::Never => {
            if present().await? {
                Ok(())
            } else if let (Some(found), Some(wanted)) = (other.lock().unwrap().take(), platform) {
                Err(StepFailure::message(format!(
                    "image {image} is present in the {} engine for {found}, not for the platform {wanted}, and pull_policy is never: pull it for {wanted} first, or allow pulling (pull_policy: missing)",
                    run.runtime()
                )))
            } else {
                Err(StepFailure::message(format!(
                    "image {image} is not present in the {} engine and pull_policy is never: pull it first, or allow pulling (pull_policy: missing)",
                    run.runtime()
                )))
            }
        }
        PullPolicy::Missing => {
            if present().await? {
                Ok(())
            } else {
                pull(run, client, step, image, platform).await
            }
        }
        PullPolicy::Always => pull(run, client, step, image, platform).await,
        PullPolicy::Fallback => match pull(run, client, step, image, platform).await {
            Ok(()) => Ok(()),
            Err(e) if present().await? => {
                run.events
                    .notice(step, format!("{}; using the local image", e.message))
                    .await;
                Ok(())
            }
            Err(e) => Err(StepFailure::message(format!(
                "image pull failed and no local image available: {}",
                e.message
            ))),
        },
    }
}

fn platform_matches(wanted: &str, os: &str, arch: &str) -> bool {
    let mut parts = wanted.split('/');
    let w_os = parts.next().unwrap_or("");
    let w_arch = parts.next().unwrap_or("");
    (w_os.is_empty() || w_os == os) && (w_arch.is_empty() || w_arch == arch)
}

async fn pull(
    run: &RunCtx,
    client: &Client,
    step: Option<&str>,
    image: &str,
    platform: Option<&str>,
) -> Result<(), StepFailure> {
    let registry = engine_api::reference::registry_of(image);
    let auth = run
        .credentials
        .resolve_for_image(image)
        .await
        .map_err(|e| StepFailure::message(chain(&e)))?;
    let mut options = PullOptions::new(image)
        .map_err(|e| StepFailure::message(format!("invalid image reference: {e}")))?
        .auth(auth);
    if let Some(p) = platform {
        options = options.platform(p);
    }
    let fail = |e: engine_api::Error| {
        if e.is_unauthorized() {
            StepFailure::message(format!(
                "cannot pull {image}: authentication with registry {registry} failed: {}",
                e.engine_message().unwrap_or(&chain(&e))
            ))
        } else if let engine_api::Error::Transfer { message, .. } = &e {
            // The engine's words alone: the transfer error's own text repeats the image.
            StepFailure::message(format!("cannot pull {image} from {registry}: {message}"))
        } else {
            StepFailure::engine(format!("cannot pull {image} from {registry}"), &e)
        }
    };
    let mut stream = tokio::select! {
        s = client.pull_image(&options) => s.map_err(fail)?,
        _ = run.cancel.cancelled() => return Err(StepFailure::interrupted()),
    };
    loop {
        let item = tokio::select! {
            i = stream.next_item() => i.map_err(fail)?,
            _ = run.cancel.cancelled() => return Err(StepFailure::interrupted()),
        };
        let Some(p) = item else { break };
        let detail = p.progress_detail.as_ref();
        run.events
            .send(Event::Pull {
                step: step.map(str::to_string),
                image: image.to_string(),
                layer: p.id.clone(),
                status: p.status.clone(),
                current: detail.and_then(|d| d.current).map(|v| v.max(0) as u64),
                total: detail.and_then(|d| d.total).map(|v| v.max(0) as u64),
            })
            .await;
    }
    Ok(())
}

/// Reads an output stream into the step's sinks until it ends.
async fn pump<R>(out: &mut StepOutput, mut stream: LogStream<R>) -> Result<(), StepFailure>
where
    R: tokio::io::AsyncRead + Unpin,
{
    while let Some(chunk) = stream
        .next_chunk()
        .await
        .map_err(|e| StepFailure::engine("lost the step's output stream".to_string(), &e))?
    {
        let which = match chunk.stream {
            StreamKind::Stderr => OutputStream::Stderr,
            _ => OutputStream::Stdout,
        };
        out.write(which, chunk.data)
            .await
            .map_err(|e| StepFailure::message(format!("cannot write the step's log: {e}")))?;
    }
    Ok(())
}

/// Creates, starts and follows a fresh container until it exits; returns its exit code.
/// The container is registered for cleanup at once and removed at the end of the step unless
/// `keep`.
pub(crate) async fn run_fresh(
    run: &RunCtx,
    step: &str,
    mut create: ContainerCreate,
    keep: bool,
    stop_signal: Option<String>,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let client = run.client().await?;
    create.config.labels.extend(run.engine.labels(step));
    if keep {
        create
            .config
            .labels
            .insert(super::engine::LABEL_KEEP.into(), "1".into());
    }
    create.config.attach_stdout = true;
    create.config.attach_stderr = true;
    let tty = create.config.tty;
    let name = create.name.clone();
    let created = client.create_container(&create).await.map_err(|e| {
        if e.is_conflict() {
            StepFailure::message(format!(
                "a container named {:?} already exists: remove it or choose another name ({})",
                name.clone().unwrap_or_default(),
                e.engine_message().unwrap_or_default()
            ))
        } else {
            StepFailure::engine(format!("cannot create the container for step {step}"), &e)
        }
    })?;
    let id = created.id;
    run.engine.register(Created {
        id: id.clone(),
        what: format!("container of step {step}"),
        stop_signal: stop_signal.clone(),
        grace: run.grace,
        keep,
    });
    let result = follow(run, client, step, &id, tty, deadline, out).await;
    if !keep {
        if let Err(e) = run.engine.dispose(&id, true, &run.cancel).await {
            run.events
                .notice(
                    Some(step),
                    format!("cannot remove container {}: {e}", short(&id)),
                )
                .await;
        }
    }
    result
}

/// Attaches, starts, streams and waits for container `id`.
async fn follow(
    run: &RunCtx,
    client: &Client,
    step: &str,
    id: &str,
    tty: bool,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    // Attach before start: nothing the process writes is missed, and the stream ends when it
    // exits (Podman's `logs?follow=1` may stop early; attach does not).
    let attached = client
        .attach_container(
            id,
            &AttachOptions {
                stdin: false,
                stdout: true,
                stderr: true,
                logs: false,
                tty: Some(tty),
            },
        )
        .await
        .map_err(|e| StepFailure::engine("cannot attach to the container".into(), &e))?;
    client
        .start_container(id)
        .await
        .map_err(|e| StepFailure::engine("cannot start the container".into(), &e))?;
    let work = async {
        pump(out, attached.output).await?;
        // The output ended, so the process has almost surely exited: an inspect tells the code
        // at once, where Podman's compat wait polls (a median 345 ms measured here).
        if let Ok(i) = client.inspect_container(id).await {
            if i.state.status.is_finished() {
                return Ok(i.state.exit_code);
            }
        }
        let exit = client
            .wait_container(id, WaitCondition::NotRunning)
            .await
            .map_err(|e| StepFailure::engine("lost the container while waiting".into(), &e))?;
        if let Some(err) = exit.error {
            return Err(StepFailure::message(format!(
                "the engine reported an error waiting for the container: {err}"
            )));
        }
        Ok(exit.status_code)
    };
    match interruptible(run, deadline, work).await {
        Ok(r) => r,
        Err(why) => {
            // Stop the container (signal, grace, kill) and report why.
            let kill = why == Interrupt::Kill;
            let _ = run.engine.dispose(id, kill, &run.cancel).await;
            Err(why.failure(step))
        }
    }
}

/// Runs `work` until it finishes, the step's deadline passes, or the run is stopped.
pub(crate) async fn interruptible<T>(
    run: &RunCtx,
    deadline: Option<Instant>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Interrupt> {
    let timeout = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = work => Ok(r),
        _ = timeout => Err(Interrupt::Timeout),
        _ = run.cancel.cancelled() => Err(if run.cancel.level() >= super::cancel::CancelLevel::Kill {
            Interrupt::Kill
        } else {
            Interrupt::Stop
        }),
    }
}

/// What an exec needs besides its command.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecSettings {
    pub(crate) env: Vec<String>,
    pub(crate) user: Option<String>,
    pub(crate) working_dir: Option<String>,
    /// `docker.run`'s `with.exec` pass-through (canonical keys, values checked at load).
    pub(crate) options: serde_json::Map<String, serde_json::Value>,
}

/// Applies `docker.run`'s `with.exec` options (Engine API names, checked at load) to an exec:
/// `User` and `WorkingDir` where the step does not set its own, `Env` after the step's,
/// `Privileged`, `Tty`, `AttachStdout`, `AttachStderr`, `DetachKeys`, `ConsoleSize`. `Cmd` is
/// the step's command and `AttachStdin` stays off (a step has no stdin).
pub fn apply_exec_options(
    exec: &mut ExecCreate,
    options: &serde_json::Map<String, serde_json::Value>,
) {
    use serde_json::Value;
    for (k, v) in options {
        match (k.as_str(), v) {
            ("User", Value::String(s)) if exec.user.is_none() => exec.user = Some(s.clone()),
            ("WorkingDir", Value::String(s)) if exec.working_dir.is_none() => {
                exec.working_dir = Some(s.clone())
            }
            ("Env", Value::Array(list)) => exec
                .env
                .extend(list.iter().filter_map(|x| x.as_str().map(str::to_string))),
            ("Privileged", Value::Bool(b)) => exec.privileged = *b,
            ("Tty", Value::Bool(b)) => exec.tty = *b,
            ("AttachStdout", Value::Bool(b)) => exec.attach_stdout = *b,
            ("AttachStderr", Value::Bool(b)) => exec.attach_stderr = *b,
            ("DetachKeys", Value::String(s)) => exec.detach_keys = Some(s.clone()),
            ("ConsoleSize", Value::Array(hw)) => {
                if let [Some(h), Some(w)] =
                    [hw.first(), hw.get(1)].map(|x| x.and_then(Value::as_u64))
                {
                    exec.console_size = Some([h, w]);
                }
            }
            _ => {}
        }
    }
}

/// Runs `argv` in the running container `container` and returns its exit code. On an
/// interrupt or timeout only the exec's processes are stopped, never the container.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exec_in(
    run: &RunCtx,
    step: &str,
    container: &str,
    argv: Vec<String>,
    settings: &ExecSettings,
    stop_signal: Option<&str>,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let client = run.client().await?;
    let token = format!("{}-{}", run.engine.run_id, step);
    let mut exec = ExecCreate::new(argv);
    exec.env = settings.env.clone();
    exec.env.push(format!("TUG_EXEC_ID={token}"));
    exec.user = settings.user.clone();
    exec.working_dir = settings.working_dir.clone();
    apply_exec_options(&mut exec, &settings.options);
    let tty = exec.tty;
    let exec_id = client.create_exec(container, &exec).await.map_err(|e| {
        StepFailure::engine(
            format!("cannot create an exec in container {container}"),
            &e,
        )
    })?;
    let work = async {
        let attached = client
            .start_exec(&exec_id, tty)
            .await
            .map_err(|e| StepFailure::engine("cannot start the exec".into(), &e))?;
        pump(out, attached.output).await?;
        // The output ended: the process has exited; its code may take a moment to show.
        client
            .wait_exec(&exec_id)
            .await
            .map_err(|e| StepFailure::engine("cannot read the exec's exit code".into(), &e))
    };
    match interruptible(run, deadline, work).await {
        Ok(r) => r,
        Err(why) => {
            let signal = if why == Interrupt::Kill {
                "KILL"
            } else {
                stop_signal
                    .map(|s| s.trim_start_matches("SIG"))
                    .unwrap_or("TERM")
            };
            stop_exec(run, client, container, &token, signal).await;
            if why != Interrupt::Kill {
                // Give it the grace period, then make sure.
                let deadline = Instant::now() + run.grace;
                while Instant::now() < deadline
                    && run.cancel.level() < super::cancel::CancelLevel::Kill
                {
                    match client.inspect_exec(&exec_id).await {
                        Ok(i) if i.running => tokio::time::sleep(POLL).await,
                        _ => break,
                    }
                }
                stop_exec(run, client, container, &token, "KILL").await;
            }
            Err(why.failure(step))
        }
    }
}

/// Signals the processes of one exec (found by the token in their environment) inside
/// `container`, leaving the container and its other processes alone.
async fn stop_exec(run: &RunCtx, client: &Client, container: &str, token: &str, signal: &str) {
    let script = format!(
        "for p in /proc/[0-9]*; do if grep -q 'TUG_EXEC_ID={token}' \"$p/environ\" 2>/dev/null; then kill -{signal} \"${{p#/proc/}}\" 2>/dev/null; fi; done"
    );
    let mut exec = ExecCreate::new(["sh", "-c", script.as_str()]);
    exec.attach_stdout = false;
    exec.attach_stderr = false;
    exec.user = Some("0".into());
    let result = async {
        let id = client.create_exec(container, &exec).await?;
        client.start_exec_detached(&id).await
    }
    .await;
    if let Err(e) = result {
        run.events
            .notice(
                None,
                format!(
                    "cannot stop the step's processes in {container}: {}",
                    chain(&e)
                ),
            )
            .await;
    }
}

/// Waits up to `limit` for `container` to be running, telling every 10 s; the error names the
/// container and its status.
pub(crate) async fn wait_running(
    run: &RunCtx,
    step: Option<&str>,
    container: &str,
    limit: Duration,
) -> Result<(), StepFailure> {
    let client = run.client().await?;
    let start = Instant::now();
    let mut next_notice = Duration::from_secs(10);
    let mut first = true;
    loop {
        let status = match client.inspect_container(container).await {
            Ok(i) if i.state.running && !i.state.restarting => return Ok(()),
            Ok(i) if i.state.status.is_finished() => {
                format!("{} (exit code: {})", i.state.status, i.state.exit_code)
            }
            Ok(i) => i.state.status.to_string(),
            Err(e) if e.is_not_found() => "not found".to_string(),
            Err(e) => {
                return Err(StepFailure::engine(
                    format!("cannot inspect container {container:?}"),
                    &e,
                ))
            }
        };
        let waited = start.elapsed();
        if waited >= limit {
            return Err(StepFailure::message(format!(
                "container {container:?}: timed out after {}s waiting for it to be running (current status: {status})",
                limit.as_secs()
            )));
        }
        if first || waited >= next_notice {
            if !first {
                next_notice += Duration::from_secs(10);
            }
            run.events
                .notice(
                    step,
                    format!(
                        "waiting for container {container:?} to be running (status: {status}, {}s of {}s)",
                        waited.as_secs(),
                        limit.as_secs()
                    ),
                )
                .await;
            first = false;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = run.cancel.cancelled() => return Err(StepFailure::interrupted()),
        }
    }
}
