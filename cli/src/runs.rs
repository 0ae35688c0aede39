//! `tug status` and `tug gc`: reading run records, and removing what dead runs left behind.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use engine_api::containers::{ListContainers, RemoveOptions};
use engine_api::{Client, Endpoint, Filters};
use executor::run::{record, RunRecord, RunStatus, LABEL_KEEP, LABEL_PID, LABEL_RUN};

use crate::exit;

fn data_dir() -> PathBuf {
    record::data_dir(|k| std::env::var(k).ok())
}

/// `tug status [RUN_ID | FILE] [--json]`.
pub fn status(target: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let data = data_dir();
    let found = match target {
        None => record::list(&data).into_iter().next(),
        Some(t) if Path::new(t).is_file() => {
            let name = workflow_name(Path::new(t));
            record::list(&data)
                .into_iter()
                .find(|(_, r)| Some(&r.workflow) == name.as_ref())
        }
        Some(id) => record::find(&data, id),
    };
    let Some((dir, rec)) = found else {
        match target {
            Some(t) => eprintln!("error: no run {t:?} in {}", data.display()),
            None => eprintln!("error: no runs recorded in {}", data.display()),
        }
        return Ok(exit::FAILURE);
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
    } else {
        print!("{}", render_status(&dir, &rec));
    }
    Ok(exit::SUCCESS)
}

fn workflow_name(file: &Path) -> Option<String> {
    executor::workflow::load_file(file, &Default::default())
        .ok()
        .map(|l| l.workflow.name)
}

/// A run's status as text.
pub fn render_status(dir: &Path, rec: &RunRecord) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let state = if rec.status == RunStatus::Running && !rec.is_live() {
        "running, but its tug process is gone (crashed or killed): `tug gc` removes its containers"
            .to_string()
    } else {
        rec.status.as_str().to_string()
    };
    let _ = writeln!(s, "{} (run {})", rec.workflow, rec.run_id);
    let _ = writeln!(s, "status:   {state}");
    let _ = writeln!(s, "started:  {}", rec.started_at);
    if let Some(f) = &rec.finished_at {
        let _ = writeln!(s, "finished: {f}");
    }
    if let Some(e) = &rec.engine {
        let _ = writeln!(s, "engine:   {e}");
    }
    let _ = writeln!(s, "logs:     {}", dir.display());
    for (n, step) in rec.steps.iter().enumerate() {
        let last = n + 1 == rec.steps.len();
        let code = step
            .exit_code
            .map(|c| format!(" (exit code {c})"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{} {}: {}{code}",
            if last { "└─" } else { "├─" },
            step.id,
            step.status.as_str()
        );
        if let Some(e) = &step.error {
            for line in e.lines() {
                let _ = writeln!(s, "{}   {line}", if last { "   " } else { "│  " });
            }
        }
    }
    if let Some(e) = &rec.error {
        let _ = writeln!(s, "error: {e}");
    }
    s
}

/// `tug gc [--dry-run]`: removes containers of runs whose tug process is gone.
pub async fn gc(dry_run: bool) -> anyhow::Result<u8> {
    let endpoint = Endpoint::from_env()?;
    let client = Client::new(endpoint.clone())?;
    let containers = client
        .list_containers(&ListContainers::all(Filters::new().label(LABEL_RUN)))
        .await?;
    let data = data_dir();
    let mut removed = 0;
    let mut kept = 0;
    for c in containers {
        let run = c.labels.get(LABEL_RUN).cloned().unwrap_or_default();
        let pid_alive = c
            .labels
            .get(LABEL_PID)
            .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        let live = pid_alive && record::find(&data, &run).is_some_and(|(_, r)| r.is_live());
        if live || c.labels.get(LABEL_KEEP).is_some_and(|v| v == "1") {
            kept += 1;
            continue;
        }
        let name = c
            .names
            .first()
            .map(|n| n.trim_start_matches('/'))
            .unwrap_or("");
        if dry_run {
            println!(
                "would remove {name} ({}) of run {run}",
                &c.id[..12.min(c.id.len())]
            );
        } else {
            match client.remove_container(&c.id, RemoveOptions::force()).await {
                Ok(()) => println!(
                    "removed {name} ({}) of run {run}",
                    &c.id[..12.min(c.id.len())]
                ),
                Err(e) if e.is_not_found() => {}
                Err(e) => eprintln!("error: cannot remove {name}: {e}"),
            }
        }
        removed += 1;
    }
    // Records of runs whose process died mid-run are marked as such.
    if !dry_run {
        for (dir, mut rec) in record::list(&data) {
            if rec.status == RunStatus::Running && !rec.is_live() {
                rec.status = RunStatus::Failed;
                rec.error = Some(
                    "the tug process running it ended without finishing (found by tug gc)".into(),
                );
                let _ = record::write(&dir, &rec);
            }
        }
    }
    println!(
        "{} {removed} container(s) of ended runs on {}; {kept} of live runs or kept on purpose left alone",
        if dry_run { "would remove" } else { "removed" },
        endpoint.url
    );
    Ok(exit::SUCCESS)
}
