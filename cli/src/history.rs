//! `tug history [FILE | WORKFLOW] [--json]`: recorded runs, newest first — id, workflow,
//! status, start and duration.

#![allow(clippy::print_stdout)]

use std::path::Path;

use executor::run::{record, RunRecord, RunStatus};
use serde_json::json;

use crate::exit;
use crate::human;
use crate::runs::{data_dir, workflow_name};
use crate::style::{Paint, Stream};
use crate::summary::paint_run;

/// `tug history`.
pub fn history(target: Option<&str>, limit: usize, all: bool, json: bool) -> anyhow::Result<u8> {
    let data = data_dir();
    let workflow = target.map(|t| {
        if Path::new(t).is_file() {
            workflow_name(Path::new(t)).unwrap_or_else(|| t.to_string())
        } else {
            t.to_string()
        }
    });
    let runs: Vec<(std::path::PathBuf, RunRecord)> = record::list(&data)
        .into_iter()
        .filter(|(_, r)| all || r.parent.is_none())
        .filter(|(_, r)| workflow.as_ref().is_none_or(|w| &r.workflow == w))
        .take(limit)
        .collect();
    if json {
        let list: Vec<serde_json::Value> = runs
            .iter()
            .map(|(dir, r)| {
                json!({
                    "run_id": r.run_id,
                    "workflow": r.workflow,
                    "status": r.status,
                    "live": r.is_live(),
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "duration_secs": human::between(Some(&r.started_at), r.finished_at.as_deref()).map(|d| d.as_secs_f64()),
                    "log_dir": dir.display().to_string(),
                    "parent_run_id": r.parent.as_ref().map(|p| p.run_id.clone()),
                    "engine_name": r.engine_name,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(exit::SUCCESS);
    }
    if runs.is_empty() {
        match &workflow {
            Some(w) => outln!("no runs of {w} recorded in {}", data.display()),
            None => outln!("no runs recorded in {}", data.display()),
        }
        return Ok(exit::SUCCESS);
    }
    out!("{}", render(&runs, Paint::for_stream(Stream::Stdout)));
    Ok(exit::SUCCESS)
}

fn status_word(r: &RunRecord) -> &'static str {
    match r.status {
        RunStatus::Running if !r.is_live() => "abandoned",
        s => s.as_str(),
    }
}

/// The table.
pub fn render(runs: &[(std::path::PathBuf, RunRecord)], p: Paint) -> String {
    let rows: Vec<[String; 5]> = runs
        .iter()
        .map(|(_, r)| {
            let duration = human::between(Some(&r.started_at), r.finished_at.as_deref())
                .map(human::duration)
                .unwrap_or_default();
            let workflow = match &r.parent {
                Some(parent) => {
                    let on = r
                        .engine_name
                        .as_ref()
                        .map(|e| format!(", on {e}"))
                        .unwrap_or_default();
                    format!("{} (child of {}{on})", r.workflow, parent.run_id)
                }
                None => r.workflow.clone(),
            };
            [
                r.run_id.clone(),
                workflow,
                status_word(r).to_string(),
                human::local_time(&r.started_at),
                duration,
            ]
        })
        .collect();
    let headers = ["RUN ID", "WORKFLOW", "STATUS", "STARTED", "DURATION"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let header: Vec<String> = headers
        .iter()
        .zip(widths)
        .map(|(h, w)| format!("{h:<w$}"))
        .collect();
    s.push_str(&p.bold(header.join("  ").trim_end()));
    s.push('\n');
    for ((_, r), row) in runs.iter().zip(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let padded = format!("{c:<w$}");
                if i == 2 {
                    match status_word(r) {
                        "abandoned" => p.red_bold(&padded),
                        _ => paint_run(p, r.status, &padded),
                    }
                } else {
                    padded
                }
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    s
}
