//! `tug start --json`: one JSON object per line on stdout, for scripts. The field names are
//! tug's own (not the runner's), so they stay stable as the runner evolves:
//!
//! | `event` | fields |
//! |---|---|
//! | `run_started` | `workflow`, `log_dir`, `steps` (ids in file order) |
//! | `step` | `step`, `status` (`running`, `succeeded`, `failed`, `skipped`, `cancelled`), `exit_code`, `error` |
//! | `output` | `step`, `stream` (`stdout`/`stderr`), `line` (one line, without its newline) |
//! | `pull` | `step` (null for the DAG-level container), `image`, `status`, `current`, `total` |
//! | `notice` | `step` (or null), `message` |
//! | `interrupt` | `level` (`graceful` or `kill`), `message` |
//! | `run_finished` | `workflow`, `status`, `exit_code` (tug's own), `duration_secs`, `error`, `log_dir`, `steps` (each `id`, `status`, `exit_code`, `duration_secs`, `attempts`, `error`) |
//!
//! Every object also has `time` (RFC 3339, UTC, milliseconds) and `run_id` (null only before
//! the run has one). Output of a child run (`dag.run`, `parallel`) carries the step name
//! `step[item]/child-step`.

#![allow(clippy::print_stdout)]

use std::io::Write;

use executor::run::{Event, RunSummary};
use serde_json::{json, Value};

use super::lines::Lines;
use super::View;
use crate::summary::step_duration;

/// The JSON-lines renderer.
#[derive(Debug)]
pub struct JsonView {
    run_id: Option<String>,
    steps: Vec<String>,
    lines: Lines,
}

impl JsonView {
    /// A view of a run of `steps` (ids in file order).
    pub fn new(steps: Vec<String>) -> JsonView {
        JsonView {
            run_id: None,
            steps,
            lines: Lines::default(),
        }
    }

    fn emit(&self, event: &str, fields: Value) {
        let mut obj = json!({
            "event": event,
            "time": executor::run::record::now(),
            "run_id": self.run_id,
        });
        if let (Value::Object(o), Value::Object(f)) = (&mut obj, fields) {
            o.extend(f);
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{obj}");
    }

    fn output(&self, step: &str, stream: executor::run::OutputStream, line: &str) {
        self.emit(
            "output",
            json!({"step": step, "stream": stream, "line": line}),
        );
    }

    /// The last line: how the run ended, with every step.
    pub fn finished(&mut self, workflow: &str, summary: &RunSummary, exit_code: u8) {
        self.run_id.get_or_insert_with(|| summary.run_id.clone());
        let steps: Vec<Value> = summary
            .steps
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "status": s.status,
                    "exit_code": s.exit_code,
                    "duration_secs": step_duration(s).map(|d| d.as_secs_f64()),
                    "attempts": s.attempts,
                    "error": s.error,
                })
            })
            .collect();
        self.emit(
            "run_finished",
            json!({
                "workflow": workflow,
                "status": summary.status,
                "exit_code": exit_code,
                "duration_secs": summary.duration.as_secs_f64(),
                "error": summary.error,
                "log_dir": summary.dir.display().to_string(),
                "steps": steps,
            }),
        );
    }
}

impl View for JsonView {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                run_id,
                workflow,
                dir,
            } => {
                self.run_id = Some(run_id.clone());
                self.emit(
                    "run_started",
                    json!({"workflow": workflow, "log_dir": dir, "steps": self.steps}),
                );
            }
            Event::Step {
                step,
                status,
                exit_code,
                error,
            } => {
                for (who, stream, text) in self.lines.flush_step(step) {
                    self.output(&who, stream, &text);
                }
                self.emit(
                    "step",
                    json!({"step": step, "status": status, "exit_code": exit_code, "error": error}),
                );
            }
            Event::Output { step, stream, data } => {
                for l in self.lines.push(step, *stream, data) {
                    self.output(step, *stream, l.strip_suffix('\r').unwrap_or(&l));
                }
            }
            Event::Pull {
                step,
                image,
                layer,
                status,
                current,
                total,
            } => self.emit(
                "pull",
                json!({"step": step, "image": image, "layer": layer, "status": status, "current": current, "total": total}),
            ),
            Event::Child {
                step,
                index,
                run_id,
                workflow,
                status,
                engine,
            } => {
                let mut fields = json!({"step": step, "index": index, "run_id": run_id, "workflow": workflow, "status": status});
                // Only when engines were named: the events stay as they were without --engine.
                if let Some(e) = engine {
                    fields["engine"] = json!(e);
                }
                self.emit("child", fields)
            }
            Event::Notice { step, message } => {
                self.emit("notice", json!({"step": step, "message": message}))
            }
            Event::RunFinished { .. } => self.finish(),
            _ => {}
        }
    }

    fn interrupted(&mut self, kill: bool, message: &str) {
        let level = if kill { "kill" } else { "graceful" };
        self.emit("interrupt", json!({"level": level, "message": message}));
    }

    fn finish(&mut self) {
        for (who, stream, text) in self.lines.flush_all() {
            self.output(&who, stream, &text);
        }
    }
}
