//! Finding recorded runs (by id, id prefix, `latest`, workflow file or name), and `tug status`.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use executor::run::{record, RunRecord};
use serde_json::{json, Value};

use crate::exit;
use crate::human;
use crate::style::{Paint, Stream};
use crate::summary::{self, step_duration, RunView};

/// The data directory holding run records.
pub fn data_dir() -> PathBuf {
    record::data_dir(|k| std::env::var(k).ok())
}

/// The workflow name of a workflow file (its `name:`, else its file stem).
pub fn workflow_name(file: &Path) -> Option<String> {
    executor::workflow::load_file(file, &Default::default())
        .ok()
        .map(|l| l.workflow.name)
        .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
}

/// What a command was asked to look at.
#[derive(Debug)]
pub enum Lookup {
    /// One run.
    Found(Box<(PathBuf, RunRecord)>),
    /// Nothing matched; the message says what was searched.
    Missing(String),
}

/// Finds a run: `None` or `latest` is the newest top-level run; a workflow file or a workflow
/// name is the newest run of that workflow; otherwise a run id or a unique prefix of one.
pub fn find(data: &Path, target: Option<&str>) -> Lookup {
    let runs = record::list(data);
    let top = |r: &RunRecord| r.parent.is_none();
    let found = |x: Option<&(PathBuf, RunRecord)>| x.cloned().map(|x| Lookup::Found(Box::new(x)));
    match target {
        None | Some("latest") => found(runs.iter().find(|(_, r)| top(r)))
            .unwrap_or_else(|| Lookup::Missing(format!("no runs recorded in {}", data.display()))),
        Some(t) => {
            if let Some(x) = runs.iter().find(|(_, r)| r.run_id == t) {
                return Lookup::Found(Box::new(x.clone()));
            }
            if Path::new(t).is_file() {
                let name = workflow_name(Path::new(t));
                return found(
                    runs.iter()
                        .find(|(_, r)| top(r) && Some(&r.workflow) == name.as_ref()),
                )
                .unwrap_or_else(|| {
                    Lookup::Missing(format!(
                        "no runs of workflow {} ({t}) in {}",
                        name.unwrap_or_default(),
                        data.display()
                    ))
                });
            }
            let prefixed: Vec<&(PathBuf, RunRecord)> = runs
                .iter()
                .filter(|(_, r)| r.run_id.starts_with(t))
                .collect();
            match prefixed.as_slice() {
                [one] => return Lookup::Found(Box::new((*one).clone())),
                [] => {}
                many => {
                    let ids: Vec<&str> = many
                        .iter()
                        .take(5)
                        .map(|(_, r)| r.run_id.as_str())
                        .collect();
                    return Lookup::Missing(format!(
                        "{t:?} matches {} runs ({}{}): give more of the run id",
                        many.len(),
                        ids.join(", "),
                        if many.len() > 5 { ", …" } else { "" }
                    ));
                }
            }
            if let Some(x) = runs.iter().find(|(_, r)| top(r) && r.workflow == t) {
                return Lookup::Found(Box::new(x.clone()));
            }
            Lookup::Missing(format!(
                "no run {t:?} in {} (a run id, a unique prefix of one, `latest`, a workflow file or a workflow name)",
                data.display()
            ))
        }
    }
}

/// `tug status [RUN_ID | FILE] [--json]`.
pub fn status(target: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let data = data_dir();
    let (dir, rec) = match find(&data, target) {
        Lookup::Found(x) => *x,
        Lookup::Missing(why) => {
            crate::report::message(&why);
            return Ok(exit::FAILURE);
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&run_json(&dir, &rec))?);
    } else {
        let view = RunView::of_record(&dir, &rec);
        out!(
            "{}",
            summary::render(&view, Paint::for_stream(Stream::Stdout))
        );
    }
    Ok(exit::SUCCESS)
}

/// A run as the JSON document of `tug status --json` (tug's own field names, stable).
pub fn run_json(dir: &Path, rec: &RunRecord) -> Value {
    let steps: Vec<Value> = rec
        .steps
        .iter()
        .map(|s| {
            let stem = record::safe_name(&s.id);
            json!({
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "exit_code": s.exit_code,
                "error": s.error,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "duration_secs": step_duration(s).map(|d| d.as_secs_f64()),
                "attempts": s.attempts,
                "output": s.output.as_ref().map(|(k, v)| json!({"name": k, "value": v})),
                "stdout_log": dir.join(format!("{stem}.out")).display().to_string(),
                "stderr_log": dir.join(format!("{stem}.err")).display().to_string(),
                "children": s.children.iter().map(|c| json!({
                    "run_id": c.run_id,
                    "workflow": c.workflow,
                    "item": c.item,
                    "status": c.status,
                    "engine_name": c.engine_name,
                    "engine": c.engine,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let params: serde_json::Map<String, Value> = rec
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "run_id": rec.run_id,
        "workflow": rec.workflow,
        "file": rec.file,
        "status": rec.status,
        "live": rec.is_live(),
        "error": rec.error,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "duration_secs": human::between(Some(&rec.started_at), rec.finished_at.as_deref()).map(|d| d.as_secs_f64()),
        "log_dir": dir.display().to_string(),
        "engine": rec.engine,
        "engine_name": rec.engine_name,
        "pid": rec.pid,
        "params": params,
        "parent": rec.parent.as_ref().map(|p| json!({"run_id": p.run_id, "workflow": p.workflow, "step": p.step})),
        "steps": steps,
    })
}
