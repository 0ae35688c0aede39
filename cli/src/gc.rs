//! `tug gc [--dry-run]`: removes containers left by runs whose tug process is gone (a crash, a
//! kill -9), and marks their records as failed.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use anyhow::Context;
use engine_api::containers::{ListContainers, RemoveOptions};
use engine_api::{Client, Endpoint, Filters};
use executor::run::{record, RunStatus, LABEL_KEEP, LABEL_PID, LABEL_RUN};

use crate::exit;
use crate::runs::data_dir;

/// `tug gc`.
pub async fn gc(dry_run: bool) -> anyhow::Result<u8> {
    let endpoint = Endpoint::from_env().context("cannot select the container engine")?;
    let client = Client::new(endpoint.clone())?;
    let containers = client
        .list_containers(&ListContainers::all(Filters::new().label(LABEL_RUN)))
        .await
        .with_context(|| format!("cannot list the containers on {}", endpoint.url))?;
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
        let short = &c.id[..12.min(c.id.len())];
        if dry_run {
            println!("would remove {name} ({short}) of run {run}");
        } else {
            match client.remove_container(&c.id, RemoveOptions::force()).await {
                Ok(()) => println!("removed {name} ({short}) of run {run}"),
                Err(e) if e.is_not_found() => {}
                Err(e) => crate::report::message(&format!("cannot remove {name}: {e}")),
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
