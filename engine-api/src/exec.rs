//! Exec: run a command in a running container — create, start (attached or detached),
//! inspect, resize.
//!
//! An attached start returns an [`crate::containers_io::Attached`] duplex: output frames in,
//! stdin out, with a half-close to signal EOF on stdin.

use serde::{Deserialize, Serialize};

use crate::client::{seg, Client, Query, Request};
use crate::error::Result;

/// Body of `POST /containers/{id}/exec`. `Debug` hides env values named like secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ExecCreate {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// Extra environment, `KEY=VALUE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// User (`uid`, `uid:gid`, `name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Allocate a pseudo-terminal (raw output).
    pub tty: bool,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Privileged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// The key sequence that detaches from the exec (`ctrl-p,ctrl-q` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
    /// The initial TTY size, `[height, width]` (with `tty`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

impl std::fmt::Debug for ExecCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecCreate")
            .field("cmd", &self.cmd)
            .field("env", &crate::redact::EnvDebug(&self.env))
            .field("working_dir", &self.working_dir)
            .field("user", &self.user)
            .field("tty", &self.tty)
            .field("attach_stdin", &self.attach_stdin)
            .finish_non_exhaustive()
    }
}

impl ExecCreate {
    /// `cmd` with stdout and stderr attached.
    pub fn new<S: Into<String>>(cmd: impl IntoIterator<Item = S>) -> ExecCreate {
        ExecCreate {
            cmd: cmd.into_iter().map(Into::into).collect(),
            attach_stdout: true,
            attach_stderr: true,
            ..ExecCreate::default()
        }
    }

    /// Attaches stdin too (builder style).
    pub fn with_stdin(mut self) -> ExecCreate {
        self.attach_stdin = true;
        self
    }
}

#[derive(Debug, Deserialize)]
struct IdBody {
    #[serde(rename = "Id")]
    id: String,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ExecInspect {
    /// Exec id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Still running.
    pub running: bool,
    /// Exit code, once finished (`None` while running; Podman reports 0 or -1 then).
    pub exit_code: Option<i64>,
    /// Process id on the host.
    pub pid: i64,
    /// The container it runs in.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
}

impl Client {
    /// `POST /containers/{id}/exec`: creates an exec and returns its id.
    pub async fn create_exec(&self, container: &str, body: &ExecCreate) -> Result<String> {
        let req = Request::post(format!("/containers/{}/exec", seg(container))).json_body(body)?;
        Ok(self.json::<IdBody>(req).await?.id)
    }

    /// `POST /exec/{id}/start` with `Detach: true`: starts it and returns at once.
    pub async fn start_exec_detached(&self, exec: &str) -> Result<()> {
        let body = serde_json::json!({ "Detach": true, "Tty": false });
        self.send(Request::post(format!("/exec/{}/start", seg(exec))).json_body(&body)?)
            .await
            .map(drop)
    }

    /// `GET /exec/{id}/json`.
    pub async fn inspect_exec(&self, exec: &str) -> Result<ExecInspect> {
        self.json(Request::get(format!("/exec/{}/json", seg(exec))))
            .await
    }

    /// The exit code of an exec whose output has ended: `GET /exec/{id}/json` until the engine
    /// says it is no longer running and has its code. Both engines may still report it as
    /// running for a moment after the last output byte (Podman for tens of milliseconds), so
    /// it asks at once, then after 5, 10, 20 … ms (at most 100 ms apart). Call it after the
    /// attached stream ended; it does not give up on its own while the exec runs — wrap it in
    /// `tokio::time::timeout` to bound it. After a detached start it waits for the process on
    /// Docker, but Podman 4.3 without systemd never marks a detached exec as finished (it stays
    /// `Running` with exit code 0), so there it would wait for ever.
    ///
    /// # Errors
    ///
    /// The request's errors; [`Error::Protocol`] when the engine keeps reporting a finished exec
    /// without an exit code (for about two seconds).
    pub async fn wait_exec(&self, exec: &str) -> Result<i64> {
        let mut pause = std::time::Duration::from_millis(5);
        let mut finished_without_code = 0;
        loop {
            let i = self.inspect_exec(exec).await?;
            match (i.running, i.exit_code) {
                (false, Some(code)) => return Ok(code),
                (false, None) => {
                    finished_without_code += 1;
                    if finished_without_code > 20 {
                        return Err(crate::Error::protocol(format!(
                            "exec {exec} has finished but the engine reports no exit code"
                        )));
                    }
                }
                (true, _) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(100));
        }
    }

    /// `POST /exec/{id}/resize`: the TTY size of an exec started with `tty`.
    pub async fn resize_exec(&self, exec: &str, height: u16, width: u16) -> Result<()> {
        let q = Query::new().push("h", height).push("w", width).done();
        self.send(Request::post(format!("/exec/{}/resize", seg(exec))).query(q))
            .await
            .map(drop)
    }
}
