//! The summary tree printed at the end of `tug start` and by `tug status`: the workflow, its
//! run id, duration and log directory; each step with its status, exit code and duration, and
//! for failed steps the error and the last lines of their stderr; then the final status line.
//!
//! ```text
//! Workflow  fail
//! Run       20261124-155908-63fa44
//! Duration  1.2s
//! Logs      /home/me/.local/share/tug/runs/fail/20261124-155908-63fa44
//! ├─ ✔ prepare  succeeded  exit 0  0.3s
//! └─ ✘ check    failed     exit 3  0.8s
//!      exit status 3
//!      last 2 lines of stderr (tug logs 20261124-155908-63fa44 check):
//!        checking…
//!        the answer is wrong
//! Result: failed (1 succeeded, 1 failed)
//! ```

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use executor::run::{record, RunRecord, RunStatus, StepRecord, StepStatus};

use crate::human;
use crate::style::Paint;

/// How many lines of a failed step's stderr the summary shows.
pub const STDERR_LINES: usize = 10;

/// The run-level facts the tree shows.
#[derive(Debug)]
pub struct RunView<'a> {
    /// Workflow name.
    pub workflow: &'a str,
    /// Run id.
    pub run_id: &'a str,
    /// Outcome (or `running`).
    pub status: RunStatus,
    /// For a `running` record: whether its tug process is still alive.
    pub live: bool,
    /// The run's own error.
    pub error: Option<&'a str>,
    /// Start time (RFC 3339), when known.
    pub started_at: Option<&'a str>,
    /// How long it took (or has been running).
    pub duration: Option<Duration>,
    /// The record directory.
    pub dir: &'a Path,
    /// The engine endpoint, for `tug status`.
    pub engine: Option<&'a str>,
    /// The engine's name, when engines were named (`tug start --engine`).
    pub engine_name: Option<&'a str>,
    /// The parent run, for child runs.
    pub parent: Option<String>,
    /// Steps in file order.
    pub steps: &'a [StepRecord],
    /// Show the `Started`, `Engine` and `Parent` lines (`tug status`).
    pub detailed: bool,
}

impl<'a> RunView<'a> {
    /// The view of a record read from `dir`.
    pub fn of_record(dir: &'a Path, rec: &'a RunRecord) -> RunView<'a> {
        RunView {
            workflow: &rec.workflow,
            run_id: &rec.run_id,
            status: rec.status,
            live: rec.is_live(),
            error: rec.error.as_deref(),
            started_at: Some(&rec.started_at),
            duration: human::between(Some(&rec.started_at), rec.finished_at.as_deref()),
            dir,
            engine: rec.engine.as_deref(),
            engine_name: rec.engine_name.as_deref(),
            parent: rec
                .parent
                .as_ref()
                .map(|p| format!("{} (step {} of {})", p.run_id, p.step, p.workflow)),
            steps: &rec.steps,
            detailed: true,
        }
    }
}

/// The word and icon of a step status.
pub fn step_mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Succeeded => "✔",
        StepStatus::Failed => "✘",
        StepStatus::Skipped => "○",
        StepStatus::Cancelled => "⊘",
        StepStatus::Running => "▶",
        StepStatus::Pulling => "↓",
        StepStatus::Pending => "·",
    }
}

/// `text` coloured as `status` deserves.
pub fn paint_step(p: Paint, status: StepStatus, text: &str) -> String {
    match status {
        StepStatus::Succeeded => p.green(text),
        StepStatus::Failed => p.red(text),
        StepStatus::Cancelled => p.yellow(text),
        StepStatus::Running | StepStatus::Pulling => p.cyan(text),
        StepStatus::Skipped | StepStatus::Pending => p.dim(text),
    }
}

/// `text` coloured as a run status deserves.
pub fn paint_run(p: Paint, status: RunStatus, text: &str) -> String {
    match status {
        RunStatus::Succeeded => p.sgr("1;32", text),
        RunStatus::PartiallySucceeded | RunStatus::Cancelled => p.sgr("1;33", text),
        RunStatus::Failed => p.red_bold(text),
        RunStatus::Running => p.sgr("1;36", text),
    }
}

/// How long a recorded step took (or has been running).
pub fn step_duration(step: &StepRecord) -> Option<Duration> {
    step.started_at.as_ref()?;
    if step.finished_at.is_none() && step.status.is_final() {
        return None;
    }
    human::between(step.started_at.as_deref(), step.finished_at.as_deref())
}

/// The summary tree.
pub fn render(v: &RunView<'_>, p: Paint) -> String {
    let mut s = String::new();
    let key = |k: &str| p.bold(&format!("{k:<9}"));
    let _ = writeln!(s, "{} {}", key("Workflow"), v.workflow);
    let _ = writeln!(s, "{} {}", key("Run"), v.run_id);
    if v.detailed {
        let state = match (v.status, v.live) {
            (RunStatus::Running, true) => paint_run(p, v.status, "running"),
            (RunStatus::Running, false) => format!(
                "{} (its tug process is gone: it crashed or was killed; `tug gc` removes its containers)",
                p.red_bold("abandoned")
            ),
            (st, _) => paint_run(p, st, st.as_str()),
        };
        let _ = writeln!(s, "{} {state}", key("Status"));
        if let Some(parent) = &v.parent {
            let _ = writeln!(s, "{} {parent}", key("Parent"));
        }
        if let Some(t) = v.started_at {
            let _ = writeln!(s, "{} {}", key("Started"), human::local_time(t));
        }
    }
    if let Some(d) = v.duration {
        let label = if v.status == RunStatus::Running {
            "Running"
        } else {
            "Duration"
        };
        let _ = writeln!(s, "{} {}", key(label), human::duration(d));
    }
    if v.detailed {
        match (v.engine_name, v.engine) {
            (Some(name), Some(e)) => {
                let _ = writeln!(s, "{} {name} ({e})", key("Engine"));
            }
            (_, Some(e)) => {
                let _ = writeln!(s, "{} {e}", key("Engine"));
            }
            _ => {}
        }
    }
    // A run that failed before it began (a bad `registry_auths`) has no directory to point at.
    if v.dir.exists() {
        let _ = writeln!(s, "{} {}", key("Logs"), v.dir.display());
    }

    let id_w = v
        .steps
        .iter()
        .map(|st| st.id.chars().count())
        .max()
        .unwrap_or(0);
    let status_w = v
        .steps
        .iter()
        .map(|st| st.status.as_str().len())
        .max()
        .unwrap_or(0);
    let code_w = v
        .steps
        .iter()
        .map(|st| exit_text(st).len())
        .max()
        .unwrap_or(0);
    for (n, step) in v.steps.iter().enumerate() {
        let last = n + 1 == v.steps.len();
        let branch = if last { "└─" } else { "├─" };
        let pad = if last { "     " } else { "│    " };
        let mark = paint_step(p, step.status, step_mark(step.status));
        let status = paint_step(
            p,
            step.status,
            &format!("{:<status_w$}", step.status.as_str()),
        );
        let mut line = format!(
            "{} {mark} {:<id_w$}  {status}  {:<code_w$}",
            p.dim(branch),
            step.id,
            exit_text(step)
        );
        if let Some(d) = step_duration(step) {
            let _ = write!(line, "  {}", human::duration(d));
        }
        if step.attempts > 1 {
            let _ = write!(line, "  ({} attempts)", step.attempts);
        }
        let _ = writeln!(s, "{}", line.trim_end());
        for detail in details(v, step, p) {
            let _ = writeln!(s, "{}{detail}", p.dim(pad));
        }
    }
    // "interrupted" says nothing the result line does not.
    if let Some(e) = v.error.filter(|e| *e != "interrupted") {
        for (n, line) in e.lines().enumerate() {
            if n == 0 {
                let _ = writeln!(s, "{} {line}", p.red_bold("error:"));
            } else {
                let _ = writeln!(s, "       {line}");
            }
        }
    }
    let _ = writeln!(s, "{}", result_line(v, p));
    s
}

fn exit_text(step: &StepRecord) -> String {
    step.exit_code
        .map(|c| format!("exit {c}"))
        .unwrap_or_default()
}

/// The lines under a step: its error, the tail of its stderr, its child runs.
fn details(v: &RunView<'_>, step: &StepRecord, p: Paint) -> Vec<String> {
    let mut out = Vec::new();
    let shows_error = !matches!(step.status, StepStatus::Succeeded | StepStatus::Running);
    if shows_error {
        let error = step.error.as_deref().unwrap_or("");
        let error = if step.status == StepStatus::Cancelled && error == "interrupted" {
            ""
        } else {
            error
        };
        let (message, runner_tail) = split_error(error);
        for line in message.lines().filter(|l| !l.trim().is_empty()) {
            out.push(match step.status {
                StepStatus::Failed => p.red(line),
                _ => p.dim(line),
            });
        }
        if step.status == StepStatus::Failed {
            let file = v.dir.join(format!("{}.err", record::safe_name(&step.id)));
            let mut tail = last_lines(&file, STDERR_LINES);
            if tail.is_empty() {
                tail = runner_tail.lines().map(str::to_string).collect::<Vec<_>>();
                let skip = tail.len().saturating_sub(STDERR_LINES);
                tail.drain(..skip);
            }
            if !tail.is_empty() {
                out.push(p.dim(&format!(
                    "last {} of stderr (all of it: tug logs {} {}):",
                    human::count(tail.len(), "line"),
                    v.run_id,
                    step.id
                )));
                for line in tail {
                    out.push(format!("  {}", crate::style::sanitize(&line, false)));
                }
            }
        }
    }
    for child in &step.children {
        let item = child
            .item
            .as_ref()
            .map(|i| format!(" [{}]", compact_json(i)))
            .unwrap_or_default();
        let engine = child
            .engine_name
            .as_ref()
            .map(|e| format!(" on {e}"))
            .unwrap_or_default();
        out.push(format!(
            "{} {}{item}{engine}: {} (tug status {})",
            p.dim("↳"),
            child.workflow,
            paint_run(p, child.status, child.status.as_str()),
            child.run_id
        ));
    }
    out
}

fn compact_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits the runner's step error into its message and the stderr tail it appended.
pub fn split_error(error: &str) -> (&str, &str) {
    match error.split_once("\nlast lines of stderr:\n") {
        Some((m, t)) => (m, t),
        None => (error, ""),
    }
}

/// The last `n` lines of a file, reading at most its last 64 KiB; empty when it is missing.
pub fn last_lines(path: &Path, n: usize) -> Vec<String> {
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(WINDOW);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line is probably cut.
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

/// `Result: failed (2 succeeded, 1 failed)`.
pub fn result_line(v: &RunView<'_>, p: Paint) -> String {
    let mut counts: Vec<(StepStatus, usize)> = Vec::new();
    for st in v.steps {
        match counts.iter_mut().find(|(s, _)| *s == st.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((st.status, 1)),
        }
    }
    let order = [
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Skipped,
        StepStatus::Cancelled,
        StepStatus::Running,
        StepStatus::Pulling,
        StepStatus::Pending,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|o| {
            counts
                .iter()
                .find(|(s, _)| s == o)
                .map(|(s, n)| format!("{n} {}", s.as_str()))
        })
        .collect();
    let status = match (v.status, v.live) {
        (RunStatus::Running, false) => p.red_bold("abandoned"),
        (st, _) => paint_run(p, st, st.as_str()),
    };
    if v.status == RunStatus::Running && v.live {
        // Still going: say where it is, not how it ended.
        format!("{} {}", p.bold("So far:"), parts.join(", "))
    } else if parts.is_empty() {
        format!("{} {status}", p.bold("Result:"))
    } else if counts.len() == 1 && v.steps.len() > 1 && counts[0].0.as_str() == v.status.as_str() {
        let n = v.steps.len();
        format!("{} {status} (all {n} steps)", p.bold("Result:"))
    } else {
        format!("{} {status} ({})", p.bold("Result:"), parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, status: StepStatus, code: Option<i64>, error: Option<&str>) -> StepRecord {
        StepRecord {
            id: id.into(),
            name: id.into(),
            status,
            exit_code: code,
            error: error.map(str::to_string),
            started_at: Some("2026-11-24T15:59:08.000Z".into()),
            finished_at: Some("2026-11-24T15:59:09.250Z".into()),
            output: None,
            attempts: 1,
            children: Vec::new(),
        }
    }

    #[test]
    fn tree_of_a_failed_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("check.err"), "one\ntwo\nthree\n").unwrap();
        let steps = vec![
            step("prepare", StepStatus::Succeeded, Some(0), None),
            step(
                "check",
                StepStatus::Failed,
                Some(3),
                Some("exit status 3\nlast lines of stderr:\ntwo\nthree"),
            ),
            StepRecord {
                started_at: None,
                finished_at: None,
                ..step(
                    "deploy",
                    StepStatus::Skipped,
                    None,
                    Some("not run: step \"check\" failed"),
                )
            },
        ];
        let v = RunView {
            workflow: "fail",
            run_id: "r1",
            status: RunStatus::Failed,
            live: false,
            error: None,
            started_at: None,
            duration: Some(Duration::from_millis(1500)),
            dir: dir.path(),
            engine: None,
            engine_name: None,
            parent: None,
            steps: &steps,
            detailed: false,
        };
        let text = render(&v, Paint::for_stream(crate::style::Stream::Stdout));
        let expected = format!(
            "Workflow  fail\nRun       r1\nDuration  1.5s\nLogs      {}\n\
             ├─ ✔ prepare  succeeded  exit 0  1.2s\n\
             ├─ ✘ check    failed     exit 3  1.2s\n\
             │    exit status 3\n\
             │    last 3 lines of stderr (all of it: tug logs r1 check):\n\
             │      one\n│      two\n│      three\n\
             └─ ○ deploy   skipped\n\
             \x20    not run: step \"check\" failed\n\
             Result: failed (1 succeeded, 1 failed, 1 skipped)\n",
            dir.path().display()
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn last_lines_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "a\nb\nc\n\n").unwrap();
        assert_eq!(last_lines(&f, 2), vec!["b", "c"]);
        assert!(last_lines(&dir.path().join("missing"), 2).is_empty());
    }
}
