//! Building create requests from resolved container settings, and the DAG-level container:
//! start it (keep-alive helper, image entrypoint, or `command`), wait until it is ready
//! (running, healthy, or a log line), and hand its id to the steps that exec into it.

use std::time::{Duration, Instant};

use engine_api::containers::{
    ContainerCreate, HealthConfig, HealthStatus, Mount as ApiMount, PortBinding as ApiPort,
    RestartPolicy as ApiRestart,
};
use engine_api::containers_io::LogsOptions;
use engine_api::Client;

use super::container::{ensure_image, POLL};
use super::engine::{chain, Created};
use super::keepalive;
use super::{RunCtx, StepFailure};
use crate::workflow::{Healthcheck, ImageContainer, MountSource, ResolvedImage, Startup, WaitFor};

/// How long a DAG-level container may take to become ready (Dagu's figure).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A create request for `r` (image, env, user, working dir, mounts, ports, network, platform).
pub fn create_body(r: &ResolvedImage) -> ContainerCreate {
    let mut c = ContainerCreate::new(r.image.clone());
    c.name = r.name.clone();
    c.platform = r.platform.as_ref().map(|p| p.to_string());
    c.config.env = r.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    c.config.user = r.user.clone();
    c.config.working_dir = r.working_dir.clone();
    for m in &r.mounts {
        c.host_config.mounts.push(match &m.source {
            MountSource::Bind(p) => ApiMount::bind(p.display().to_string(), &m.target, m.read_only),
            MountSource::Volume(n) => ApiMount::volume(n, &m.target, m.read_only),
        });
    }
    for p in &r.ports {
        c.config
            .exposed_ports
            .insert(p.key(), serde_json::Map::new());
        c.host_config
            .port_bindings
            .entry(p.key())
            .or_default()
            .push(ApiPort::new(
                p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                p.host_port.map(|h| h.to_string()).unwrap_or_default(),
            ));
    }
    if let Some(n) = &r.network {
        c.host_config.network_mode = Some(n.mode());
        if let crate::workflow::Network::Custom(name) = n {
            c.endpoints
                .insert(name.clone(), serde_json::Value::Object(Default::default()));
        }
    }
    c
}

/// The engine's form of a `healthcheck:`.
pub fn health(h: &Healthcheck) -> HealthConfig {
    let mut c = HealthConfig::default();
    c.test = h.test.clone();
    c.interval = h.interval;
    c.timeout = h.timeout;
    c.start_period = h.start_period;
    c.retries = h.retries.map(i64::from);
    c
}

/// The DAG-level container of a run.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// Its id.
    pub(crate) id: String,
    /// Its settings, for the execs.
    pub(crate) resolved: ResolvedImage,
}

/// Creates, starts and waits for the DAG-level container.
pub(crate) async fn start(run: &RunCtx, spec: &ImageContainer) -> Result<Shared, StepFailure> {
    let wf = &run.workflow;
    let resolved = spec
        .resolve(&wf.scope, run.host.as_ref(), &wf.working_dir, &[])
        .map_err(|d| StepFailure::message(wf.diagnostics(d).render()))?;
    let platform = resolved.platform.as_ref().map(|p| p.to_string());
    ensure_image(
        run,
        None,
        &resolved.image,
        spec.pull_policy,
        platform.as_deref(),
    )
    .await?;
    let client = run.client().await?;

    let mut create = create_body(&resolved);
    create.config.labels.extend(run.engine.labels(""));
    if spec.keep_container {
        create
            .config
            .labels
            .insert(super::engine::LABEL_KEEP.into(), "1".into());
    }
    // An init process as PID 1 reaps zombies and forwards the stop signal.
    create.host_config.init = Some(true);
    if let Some(h) = &spec.healthcheck {
        create.config.healthcheck = Some(health(h));
    }
    if let Some(p) = spec.restart_policy {
        create.host_config.restart_policy = Some(ApiRestart::named(p.name()));
    }
    let mut helper = None;
    match spec.startup {
        Startup::Keepalive => {
            let arch = client
                .inspect_image(&resolved.image)
                .await
                .map(|i| i.architecture)
                .unwrap_or_default();
            match keepalive::helper_for(&arch) {
                Some(program) => {
                    create.config.entrypoint = Some(vec![keepalive::HELPER_PATH.to_string()]);
                    create.config.cmd = Some(vec![]);
                    helper = Some(keepalive::helper_tar(&program));
                }
                None => {
                    create.config.entrypoint = Some(vec![]);
                    create.config.cmd = Some(keepalive::shell_fallback());
                }
            }
        }
        // The image's ENTRYPOINT and CMD as they are (as Dagu): `command:` is not used here,
        // and validation warns when it is given.
        Startup::Entrypoint => {}
        Startup::Command => {
            let cmd = resolved.command.clone().unwrap_or_default();
            if cmd.is_empty() {
                return Err(StepFailure::message(
                    "startup 'command' requires a non-empty command".to_string(),
                ));
            }
            create.config.cmd = Some(cmd);
        }
    }

    let created = client.create_container(&create).await.map_err(|e| {
        if e.is_conflict() {
            StepFailure::message(format!(
                "cannot create the DAG-level container: a container named {:?} already exists ({})",
                resolved.name.clone().unwrap_or_default(),
                e.engine_message().unwrap_or_default()
            ))
        } else {
            StepFailure::engine("cannot create the DAG-level container".into(), &e)
        }
    })?;
    let id = created.id;
    run.engine.register(Created {
        id: id.clone(),
        what: "DAG-level container".into(),
        stop_signal: None,
        grace: run.grace,
        keep: spec.keep_container,
    });
    if let Some(tar) = helper {
        client
            .upload_archive(&id, "/", std::io::Cursor::new(tar))
            .await
            .map_err(|e| StepFailure::engine("cannot copy the keep-alive helper in".into(), &e))?;
    }
    client
        .start_container(&id)
        .await
        .map_err(|e| StepFailure::engine("cannot start the DAG-level container".into(), &e))?;

    let has_health = spec.healthcheck.is_some()
        || client
            .inspect_image(&resolved.image)
            .await
            .ok()
            .and_then(|i| i.config.healthcheck)
            .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"));
    let wait_for = match (spec.wait_for, has_health) {
        (WaitFor::Healthy, false) => {
            run.events
                .notice(
                    None,
                    "wait_for: healthy, but the container has no health check: waiting for it to be running instead",
                )
                .await;
            WaitFor::Running
        }
        (w, _) => w,
    };
    tokio::select! {
        r = ready(run, client, &id, wait_for, spec.log_pattern.as_deref()) => r?,
        _ = run.cancel.cancelled() => return Err(StepFailure::interrupted()),
    }
    Ok(Shared { id, resolved })
}

/// Waits for readiness within one timeout; the error shows the container's status and its
/// last log lines.
async fn ready(
    run: &RunCtx,
    client: &Client,
    id: &str,
    wait_for: WaitFor,
    log_pattern: Option<&str>,
) -> Result<(), StepFailure> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let what = match (wait_for, log_pattern) {
        (_, Some(p)) => format!("a log line matching {p:?}"),
        (WaitFor::Healthy, _) => "healthy".to_string(),
        _ => "running".to_string(),
    };
    run.events
        .notice(
            None,
            format!("waiting for the DAG-level container to be {what}"),
        )
        .await;
    let podman = client.is_podman().await.unwrap_or(false);
    let check = async {
        let mut pattern_seen = log_pattern.is_none();
        let regex = match log_pattern {
            Some(p) => Some(
                regex::Regex::new(p)
                    .map_err(|e| StepFailure::message(format!("invalid log_pattern {p:?}: {e}")))?,
            ),
            None => None,
        };
        let mut lines = match &regex {
            Some(_) => Some(
                client
                    .container_logs(id, &LogsOptions::follow())
                    .await
                    .map_err(|e| StepFailure::engine("cannot follow its logs".into(), &e))?
                    .lines(1 << 20),
            ),
            None => None,
        };
        loop {
            let state = client
                .inspect_container(id)
                .await
                .map_err(|e| StepFailure::engine("cannot inspect it".into(), &e))?
                .state;
            if state.status.is_finished() || state.dead {
                return Err(not_ready(
                    client,
                    id,
                    format!(
                        "it stopped ({}, exit code {})",
                        state.status, state.exit_code
                    ),
                )
                .await);
            }
            let mut ok = state.running && pattern_seen;
            if ok && wait_for == WaitFor::Healthy {
                let status = if podman {
                    // No timer runs Podman's checks here: run one through the API.
                    client
                        .run_healthcheck(id)
                        .await
                        .unwrap_or(HealthStatus::Starting)
                } else {
                    state.health.map(|h| h.status).unwrap_or_default()
                };
                ok = status == HealthStatus::Healthy;
            }
            if ok {
                return Ok(());
            }
            if let (Some(re), Some(l)) = (&regex, lines.as_mut()) {
                // Read log lines until a match or a pause, then re-check the state.
                let read = tokio::time::timeout(Duration::from_millis(500), async {
                    while let Some(line) = l.next_line().await? {
                        if re.is_match(&String::from_utf8_lossy(&line.data)) {
                            return Ok::<bool, engine_api::Error>(true);
                        }
                    }
                    Ok(false)
                })
                .await;
                if let Ok(Ok(true)) = read {
                    pattern_seen = true;
                    continue;
                }
            } else {
                tokio::time::sleep(if wait_for == WaitFor::Healthy {
                    Duration::from_millis(500)
                } else {
                    POLL
                })
                .await;
            }
        }
    };
    match tokio::time::timeout_at(deadline.into(), check).await {
        Ok(r) => r,
        Err(_) => {
            let status = client
                .inspect_container(id)
                .await
                .map(|i| {
                    let h = i
                        .state
                        .health
                        .map(|h| format!(", health {}", h.status))
                        .unwrap_or_default();
                    format!("{}{h}", i.state.status)
                })
                .unwrap_or_else(|e| chain(&e));
            Err(not_ready(
                client,
                id,
                format!(
                    "it was not {what} within {}s (status: {status})",
                    READY_TIMEOUT.as_secs()
                ),
            )
            .await)
        }
    }
}

async fn not_ready(client: &Client, id: &str, why: String) -> StepFailure {
    let mut tail = String::new();
    if let Ok(mut logs) = client
        .container_logs(
            id,
            &LogsOptions {
                tail: Some(10),
                ..LogsOptions::default()
            },
        )
        .await
    {
        while let Ok(Some(chunk)) = logs.next_chunk().await {
            tail.push_str(&String::from_utf8_lossy(&chunk.data));
        }
    }
    let mut message = format!("the DAG-level container is not ready: {why}");
    if !tail.trim().is_empty() {
        message.push_str("\nlast log lines:\n");
        message.push_str(tail.trim_end());
    }
    StepFailure::message(message)
}

/// Environment of an exec in the shared container: the step's `env`, except the names the
/// container's own `env` sets (the container wins on clashes).
pub(crate) fn exec_env(
    step_env: &[(String, String)],
    container_env: &[(String, String)],
) -> Vec<String> {
    step_env
        .iter()
        .filter(|(k, _)| !container_env.iter().any(|(ck, _)| ck == k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}
