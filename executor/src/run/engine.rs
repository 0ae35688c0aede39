//! The run's view of the container engine: a lazily connected client, the labels every
//! created object carries, and the registry of what this run created, so that teardown can
//! stop and remove it on every path (success, failure, timeout, interrupt).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::cancel::{Cancel, CancelLevel};
use engine_api::containers::{RemoveOptions, StopOptions};
use engine_api::{Client, Endpoint};
use tokio::sync::OnceCell;

/// Label: the run id.
pub const LABEL_RUN: &str = "tug.run";
/// Label: the workflow's name.
pub const LABEL_WORKFLOW: &str = "tug.workflow";
/// Label: the step id (empty for the DAG-level container).
pub const LABEL_STEP: &str = "tug.step";
/// Label: the pid of the tug process that created it (for `tug gc`).
pub const LABEL_PID: &str = "tug.pid";
/// Label: the host name of the machine whose tug process created the object. `tug.pid` means
/// something only there: `tug gc` on another machine sharing the engine leaves it alone.
pub const LABEL_HOST: &str = "tug.host";
/// Label: where `tug.pid` is meaningful — the machine id (`/etc/machine-id`) and the PID
/// namespace of the tug process that created the object. Host names repeat (`localhost`, cloned
/// images); this tells machines, and tug processes in different containers, apart.
pub const LABEL_MACHINE: &str = "tug.machine";
/// Label: set on containers the user asked to keep (`keep_container`, docker.run without
/// `auto_remove`); `tug gc` leaves them.
pub const LABEL_KEEP: &str = "tug.keep";

/// Why the engine could not be used.
#[derive(Debug, Clone)]
pub struct EngineUnavailable {
    /// The message (endpoint and what to check).
    pub message: String,
}

/// Something this run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Created {
    pub(crate) id: String,
    pub(crate) what: String,
    pub(crate) stop_signal: Option<String>,
    pub(crate) grace: Duration,
    pub(crate) keep: bool,
}

/// The engine for one run.
#[derive(Debug)]
pub(crate) struct Engine {
    endpoint: Result<Endpoint, String>,
    client: OnceCell<Client>,
    created: Mutex<Vec<Created>>,
    pub(crate) run_id: String,
    pub(crate) workflow: String,
}

impl Engine {
    pub(crate) fn new(
        endpoint: Result<Endpoint, String>,
        run_id: String,
        workflow: String,
    ) -> Engine {
        Engine {
            endpoint,
            client: OnceCell::new(),
            created: Mutex::new(Vec::new()),
            run_id,
            workflow,
        }
    }

    /// The client, connecting (and negotiating) on first use.
    pub(crate) async fn client(&self) -> Result<&Client, EngineUnavailable> {
        self.client
            .get_or_try_init(|| async {
                let endpoint = self.endpoint.clone().map_err(|m| EngineUnavailable {
                    message: m.to_string(),
                })?;
                let client =
                    Client::new(endpoint).map_err(|e| EngineUnavailable { message: chain(&e) })?;
                client
                    .identity()
                    .await
                    .map_err(|e| EngineUnavailable { message: chain(&e) })?;
                Ok(client)
            })
            .await
    }

    /// The client if it was connected already (teardown never connects).
    pub(crate) fn connected(&self) -> Option<&Client> {
        self.client.get()
    }

    /// Labels for an object of this run (`step` empty for run-level objects).
    pub(crate) fn labels(&self, step: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_RUN.to_string(), self.run_id.clone()),
            (LABEL_WORKFLOW.to_string(), self.workflow.clone()),
            (LABEL_STEP.to_string(), step.to_string()),
            (LABEL_PID.to_string(), std::process::id().to_string()),
            (LABEL_HOST.to_string(), this_host().to_string()),
            (LABEL_MACHINE.to_string(), this_machine().to_string()),
        ])
    }

    /// Records a created container; teardown will stop (with `stop_signal`, then SIGKILL after
    /// `grace`) and remove it unless `keep`.
    pub(crate) fn register(&self, created: Created) {
        self.created.lock().unwrap().push(created);
    }

    /// Forgets a container that was removed already.
    pub(crate) fn forget(&self, id: &str) {
        self.created.lock().unwrap().retain(|c| c.id != id);
    }

    /// Stops and removes one container of this run (unless kept), then forgets it.
    /// `kill` skips the grace period; so does a kill request arriving during it.
    pub(crate) async fn dispose(
        &self,
        id: &str,
        kill: bool,
        cancel: &Cancel,
    ) -> Result<(), String> {
        let entry = self
            .created
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.id == id)
            .cloned();
        let Some(entry) = entry else { return Ok(()) };
        let result = match self.connected() {
            Some(client) => stop_and_remove(client, &entry, kill, cancel).await,
            None => Ok(()),
        };
        // A container whose removal failed stays registered: teardown tries it again and
        // reports it if it fails there too.
        if result.is_ok() {
            self.forget(id);
        }
        result
    }

    /// Stops and removes everything this run created, newest first. Returns the failures.
    ///
    /// `cancel` reaching [`CancelLevel::Kill`] while a container waits out its grace period
    /// (a second Ctrl-C during teardown) cuts the wait short: it is killed and removed at once.
    pub(crate) async fn teardown(&self, cancel: &Cancel) -> Vec<String> {
        let all: Vec<Created> = std::mem::take(&mut *self.created.lock().unwrap());
        let Some(client) = self.connected() else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        // Stop them all at once: each may take its grace period.
        let jobs = all
            .iter()
            .rev()
            .map(|c| async move { (c, stop_and_remove(client, c, false, cancel).await) });
        for (c, r) in futures_util::future::join_all(jobs).await {
            if let Err(e) = r {
                errors.push(format!("{} ({}): {e}", c.what, short(&c.id)));
            }
        }
        errors
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`), read once; empty when unreadable.
pub fn this_host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    })
}

/// This machine's id and this process's PID namespace, `MACHINE-ID:pid:[INODE]`, read once;
/// a part that cannot be read is left empty.
pub fn this_machine() -> &'static str {
    static MACHINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MACHINE.get_or_init(|| {
        let id = std::fs::read_to_string("/etc/machine-id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let pid_ns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        format!("{id}:{pid_ns}")
    })
}

/// Stops a container with its signal and grace period (or kills it), then removes it unless
/// it is to be kept. A container already gone is fine.
async fn stop_and_remove(
    client: &Client,
    c: &Created,
    kill: bool,
    cancel: &Cancel,
) -> Result<(), String> {
    let ok = |r: engine_api::Result<()>| match r {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() || e.is_not_modified() => Ok(()),
        Err(e) => Err(chain(&e)),
    };
    let kill_now = StopOptions {
        timeout: Some(Duration::ZERO),
        signal: c.stop_signal.clone(),
    };
    let graceful = StopOptions {
        timeout: Some(c.grace),
        signal: c.stop_signal.clone(),
    };
    let killing = || kill || cancel.level() >= CancelLevel::Kill;
    if c.keep {
        if killing() {
            return ok(client.stop_container(&c.id, &kill_now).await);
        }
        return tokio::select! {
            r = client.stop_container(&c.id, &graceful) => ok(r),
            () = cancel.reached(CancelLevel::Kill) => ok(client.stop_container(&c.id, &kill_now).await),
        };
    }
    if !killing() {
        // A failed stop still ends in the forced removal below, as does a kill request that
        // arrives during the grace period.
        tokio::select! {
            _ = client.stop_container(&c.id, &graceful) => {}
            () = cancel.reached(CancelLevel::Kill) => {}
        }
    }
    ok(client.remove_container(&c.id, RemoveOptions::force()).await)
}

/// An error with its causes, on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let t = cause.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = cause.source();
    }
    s
}

/// The first 12 characters of an id.
pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A fake engine on a unix socket: answers `/_ping`, stops, and fails the first
    /// `failing_removals` removals with a 500. Returns the request lines it got.
    fn fake_engine(dir: &std::path::Path, failing_removals: usize) -> Arc<Mutex<Vec<String>>> {
        let listener = tokio::net::UnixListener::bind(dir.join("engine.sock")).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut removals = 0;
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let (status, body) = if line.contains("/_ping") {
                    ("200 OK", "OK")
                } else if line.starts_with("DELETE") {
                    removals += 1;
                    if removals <= failing_removals {
                        (
                            "500 Internal Server Error",
                            r#"{"message":"removal of container c1 is already in progress"}"#,
                        )
                    } else {
                        ("204 No Content", "")
                    }
                } else {
                    ("204 No Content", "")
                };
                log.lock().unwrap().push(line);
                let answer = format!(
                    "HTTP/1.1 {status}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        seen
    }

    async fn engine_with_one_container(dir: &std::path::Path) -> Engine {
        let engine = Engine::new(
            Ok(Endpoint::unix(dir.join("engine.sock"))),
            "run".into(),
            "wf".into(),
        );
        engine
            .client()
            .await
            .expect("the fake engine answers /_ping");
        engine.register(Created {
            id: "c1".into(),
            what: "container of step s".into(),
            stop_signal: None,
            grace: Duration::from_secs(1),
            keep: false,
        });
        engine
    }

    fn removals(seen: &Mutex<Vec<String>>) -> usize {
        let seen = seen.lock().unwrap();
        seen.iter().filter(|l| l.starts_with("DELETE")).count()
    }

    #[tokio::test]
    async fn a_failed_removal_stays_registered_and_teardown_retries_it() {
        let dir = tempfile::tempdir().unwrap();
        let seen = fake_engine(dir.path(), 1);
        let engine = engine_with_one_container(dir.path()).await;
        let err = engine.dispose("c1", true, &Cancel::never()).await;
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains("already in progress")),
            "{err:?}"
        );
        assert_eq!(removals(&seen), 1);
        assert_eq!(
            engine.teardown(&Cancel::never()).await,
            Vec::<String>::new()
        );
        assert_eq!(removals(&seen), 2, "teardown did not retry the removal");
    }

    #[tokio::test]
    async fn a_removal_failing_again_in_teardown_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let seen = fake_engine(dir.path(), 2);
        let engine = engine_with_one_container(dir.path()).await;
        assert!(engine.dispose("c1", true, &Cancel::never()).await.is_err());
        let errors = engine.teardown(&Cancel::never()).await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("container of step s (c1): ")
                && errors[0].contains("already in progress"),
            "{errors:?}"
        );
        assert_eq!(removals(&seen), 2);
    }
}
