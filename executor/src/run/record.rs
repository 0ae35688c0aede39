//! Run records: one directory per run, readable after a crash.
//!
//! ```text
//! $TUG_DATA_DIR (else $XDG_DATA_HOME/tug, else ~/.local/share/tug)
//! └── runs/<workflow>/<run-id>/
//!     ├── status.json        the run and each step (rewritten atomically on every change)
//!     ├── <step-id>.out      each step's stdout
//!     ├── <step-id>.err      each step's stderr
//!     └── artifacts/         `stdout: {artifact: …}` files
//! ```
//!
//! `status.json` is written to a temporary file and renamed over the old one, so a reader (or
//! a crash) never sees half of it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::events::{RunStatus, StepStatus};

/// The data directory: `TUG_DATA_DIR`, else `$XDG_DATA_HOME/tug`, else `~/.local/share/tug`.
pub fn data_dir(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(d) = get("TUG_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = get("XDG_DATA_HOME") {
        return Path::new(&d).join("tug");
    }
    match get("HOME") {
        Some(h) => Path::new(&h).join(".local/share/tug"),
        None => PathBuf::from(".tug"),
    }
}

/// A step as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step id.
    pub id: String,
    /// Step name.
    pub name: String,
    /// State.
    pub status: StepStatus,
    /// Exit code, when it ran.
    pub exit_code: Option<i64>,
    /// For failures: the error, with the tail of stderr.
    pub error: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// The captured `output:` variable's name and value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<(String, String)>,
    /// Attempts made (1 + retries).
    #[serde(default)]
    pub attempts: u32,
    /// Child runs of a `dag.run` or `parallel` step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildRun>,
}

/// A child run started by a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildRun {
    /// The child's run id.
    pub run_id: String,
    /// The sub-workflow's name.
    pub workflow: String,
    /// The `parallel` item, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
    /// Its final status (`running` while it runs).
    pub status: RunStatus,
    /// The name of the engine it runs on, when engines were named (`tug start --engine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_name: Option<String>,
    /// That engine's endpoint, when engines were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// The run and step that started a child run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentRef {
    /// The parent's run id.
    pub run_id: String,
    /// The parent's workflow.
    pub workflow: String,
    /// The step that started this run.
    pub step: String,
}

/// A run as recorded in `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub run_id: String,
    /// Workflow name.
    pub workflow: String,
    /// The workflow file.
    pub file: String,
    /// State.
    pub status: RunStatus,
    /// The run's error, if it failed outside any step (engine lost, invalid at run time).
    pub error: Option<String>,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339).
    pub finished_at: Option<String>,
    /// The tug process running it (to tell a live run from a crashed one).
    pub pid: u32,
    /// The engine endpoint, when one was used.
    pub engine: Option<String>,
    /// The engine's name, when engines were named (`tug start --engine NAME=…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_name: Option<String>,
    /// Parameters in force.
    pub params: Vec<(String, String)>,
    /// Steps in file order.
    pub steps: Vec<StepRecord>,
    /// The run that started this one (`dag.run`, `parallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
}

impl RunRecord {
    /// True when the recorded process is still alive (on this machine).
    pub fn is_live(&self) -> bool {
        self.status == RunStatus::Running && Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// The current time in RFC 3339, seconds with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run id: sortable by time, unique enough to label containers with.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!(
        "{}-{:06x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        h.finish() & 0xff_ffff
    )
}

/// A file-system-safe form of a name (workflow names become directory names).
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => s,
    }
}

/// The directory of run `run_id` of `workflow`.
pub fn run_dir(data: &Path, workflow: &str, run_id: &str) -> PathBuf {
    data.join("runs")
        .join(safe_name(workflow))
        .join(safe_name(run_id))
}

/// Writes `record` to `dir/status.json` atomically.
pub fn write(dir: &Path, record: &RunRecord) -> std::io::Result<()> {
    let tmp = dir.join(".status.json.tmp");
    let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join("status.json"))
}

/// Reads `dir/status.json`.
pub fn read(dir: &Path) -> std::io::Result<RunRecord> {
    let bytes = std::fs::read(dir.join("status.json"))?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

/// Every run under `data`, newest first, with its directory.
pub fn list(data: &Path) -> Vec<(PathBuf, RunRecord)> {
    let mut out = Vec::new();
    let Ok(workflows) = std::fs::read_dir(data.join("runs")) else {
        return out;
    };
    for wf in workflows.flatten() {
        let Ok(runs) = std::fs::read_dir(wf.path()) else {
            continue;
        };
        for run in runs.flatten() {
            if let Ok(rec) = read(&run.path()) {
                out.push((run.path(), rec));
            }
        }
    }
    out.sort_by(|a, b| b.1.started_at.cmp(&a.1.started_at));
    out
}

/// The run with id `run_id`, wherever its workflow.
pub fn find(data: &Path, run_id: &str) -> Option<(PathBuf, RunRecord)> {
    list(data).into_iter().find(|(_, r)| r.run_id == run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            data_dir(env(&[("TUG_DATA_DIR", "/d"), ("XDG_DATA_HOME", "/x")])),
            PathBuf::from("/d")
        );
        assert_eq!(
            data_dir(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
            PathBuf::from("/x/tug")
        );
        assert_eq!(
            data_dir(env(&[("HOME", "/h")])),
            PathBuf::from("/h/.local/share/tug")
        );
    }

    #[test]
    fn records_round_trip_and_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let id = new_run_id();
        let rd = run_dir(dir.path(), "my flow/..", &id);
        std::fs::create_dir_all(&rd).unwrap();
        let rec = RunRecord {
            run_id: id.clone(),
            workflow: "my flow/..".into(),
            file: "f.yaml".into(),
            status: RunStatus::Running,
            error: None,
            started_at: now(),
            finished_at: None,
            pid: std::process::id(),
            engine: None,
            engine_name: None,
            params: vec![],
            steps: vec![],
            parent: None,
        };
        write(&rd, &rec).unwrap();
        assert_eq!(read(&rd).unwrap(), rec);
        assert!(rec.is_live());
        let (found, _) = find(dir.path(), &id).unwrap();
        assert_eq!(found, rd);
        assert!(rd.starts_with(dir.path().join("runs").join("my_flow_..")));
    }
}
