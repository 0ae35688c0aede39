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

    /// `POST /exec/{id}/resize`: the TTY size of an exec started with `tty`.
    pub async fn resize_exec(&self, exec: &str, height: u16, width: u16) -> Result<()> {
        let q = Query::new().push("h", height).push("w", width).done();
        self.send(Request::post(format!("/exec/{}/resize", seg(exec))).query(q))
            .await
            .map(drop)
    }
}
