//! `tug gc [--dry-run] [--engine NAME=ADDRESS …]`: removes containers left by runs whose tug
//! process is gone (a crash, a kill -9), on the environment's engine or on each named one, and
//! marks their records as failed. Containers created by tug on another machine (`tug.host`) are
//! left alone: whether their run is live can only be told there.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use anyhow::Context;
use engine_api::containers::{ListContainers, RemoveOptions};
use engine_api::{Client, Endpoint, Filters};
use executor::run::{
    record, this_host, this_machine, RunStatus, StepStatus, LABEL_HOST, LABEL_KEEP, LABEL_MACHINE,
    LABEL_PID, LABEL_RUN,
};

use crate::engine_flag::{self, EngineFlag};
use crate::exit;
use crate::runs::data_dir;

/// What one engine's sweep found.
#[derive(Debug, Default)]
struct Sweep {
    removed: usize,
    live_or_kept: usize,
    other_hosts: usize,
    /// Removals the engine refused.
    failed: usize,
}

/// `tug gc`: the environment's engine, then each `--engine` one.
pub async fn gc(
    dry_run: bool,
    engines: &[EngineFlag],
    context: Option<&str>,
) -> anyhow::Result<u8> {
    let mut endpoints = Vec::new();
    // With --engine, the environment's engine is swept only when it is one of them.
    if engines.is_empty() {
        endpoints.push(
            crate::engine::environment(context).context("cannot select the container engine")?,
        );
    } else {
        match engine_flag::resolve(engines, context, |k| std::env::var(k).ok()) {
            Ok(named) => endpoints.extend(named.into_iter().map(|n| n.endpoint)),
            Err(e) => {
                crate::report::message(&e);
                return Ok(exit::USAGE);
            }
        }
    }
    let data = data_dir();
    let mut failed = false;
    let mut refused_any = false;
    for endpoint in &endpoints {
        match sweep(&data, endpoint, dry_run).await {
            Ok(s) => {
                let other = if s.other_hosts > 0 {
                    format!(
                        "; {} created by tug on other machines or in other PID namespaces left alone (run tug gc there)",
                        s.other_hosts
                    )
                } else {
                    String::new()
                };
                let refused = if s.failed > 0 {
                    refused_any = true;
                    format!("; {} could not be removed", s.failed)
                } else {
                    String::new()
                };
                outln!(
                    "{} {} container(s) of ended runs on {}; {} of live runs or kept on purpose left alone{other}{refused}",
                    if dry_run { "would remove" } else { "removed" },
                    s.removed,
                    endpoint.url,
                    s.live_or_kept,
                );
            }
            Err(e) => {
                // One unreachable engine does not stop the sweep of the others.
                crate::report::error(&e);
                failed = true;
            }
        }
    }
    // Records of runs whose process died mid-run are marked as such.
    if !dry_run {
        for (dir, mut rec) in record::list(&data) {
            if rec.status == RunStatus::Running && !rec.is_live() {
                rec.status = RunStatus::Failed;
                rec.error = Some(
                    "the tug process running it ended without finishing (found by tug gc)".into(),
                );
                // Closed as of now: its steps are not running any more, and its duration stops.
                rec.finished_at = Some(record::now());
                for step in &mut rec.steps {
                    match step.status {
                        StepStatus::Running | StepStatus::Pulling => {
                            step.status = StepStatus::Failed;
                            step.error.get_or_insert_with(|| {
                                "ended with the tug process running it (found by tug gc)".into()
                            });
                        }
                        StepStatus::Pending => step.status = StepStatus::Skipped,
                        _ => {}
                    }
                }
                let _ = record::write(&dir, &rec);
            }
        }
    }
    Ok(if failed {
        exit::ENGINE_UNREACHABLE
    } else if refused_any {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// Removes the containers of ended runs on one engine.
async fn sweep(data: &Path, endpoint: &Endpoint, dry_run: bool) -> anyhow::Result<Sweep> {
    let client = Client::new(endpoint.clone())?;
    let containers = client
        .list_containers(&ListContainers::all(Filters::new().label(LABEL_RUN)))
        .await
        .with_context(|| format!("cannot list the containers on {}", endpoint.url))?;
    let mut found = Sweep::default();
    for c in containers {
        let run = c.labels.get(LABEL_RUN).cloned().unwrap_or_default();
        if c.labels.get(LABEL_KEEP).is_some_and(|v| v == "1") {
            found.live_or_kept += 1;
            continue;
        }
        // `tug.pid` means something only on the machine (and in the PID namespace) that wrote
        // it: `tug.machine` says which; containers from before that label by their host name,
        // and containers from before both count as this machine's.
        let foreign = match (c.labels.get(LABEL_MACHINE), c.labels.get(LABEL_HOST)) {
            (Some(m), _) => m.as_str() != this_machine(),
            (None, Some(h)) => h.as_str() != this_host(),
            (None, None) => false,
        };
        if foreign {
            found.other_hosts += 1;
            continue;
        }
        let creator_alive = c
            .labels
            .get(LABEL_PID)
            .and_then(|p| p.parse().ok())
            .is_some_and(is_tug_process);
        // A run recorded in this data directory is live while its record says so; one recorded
        // elsewhere (another TUG_DATA_DIR, another user's HOME) is live while the tug process
        // that created the container is.
        let live = creator_alive && record::find(data, &run).is_none_or(|(_, r)| r.is_live());
        if live {
            found.live_or_kept += 1;
            continue;
        }
        let name = c
            .names
            .first()
            .map(|n| n.trim_start_matches('/'))
            .unwrap_or("");
        let short = &c.id[..12.min(c.id.len())];
        if dry_run {
            outln!("would remove {name} ({short}) of run {run}");
        } else {
            match client.remove_container(&c.id, RemoveOptions::force()).await {
                Ok(()) => outln!("removed {name} ({short}) of run {run}"),
                // Gone already (another gc, its own run's teardown): nothing left to do.
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    crate::report::message(&format!("cannot remove {name} ({short}): {e}"));
                    found.failed += 1;
                    continue;
                }
            }
        }
        found.removed += 1;
    }
    Ok(found)
}

/// True when `pid` is a live tug process on this machine: its command name or `argv[0]` is
/// `tug` or the name this binary runs under. A pid reused by some other program is not, nor is
/// a zombie (a killed tug whose parent has not reaped it).
fn is_tug_process(pid: u32) -> bool {
    let proc = Path::new("/proc").join(pid.to_string());
    // `pid (comm) S …`: the state follows the last `)`.
    let running = std::fs::read(proc.join("stat")).is_ok_and(|stat| {
        let after = stat
            .iter()
            .rposition(|&b| b == b')')
            .map_or(&[][..], |i| &stat[i + 1..]);
        !matches!(after.trim_ascii_start().first(), None | Some(b'Z' | b'X'))
    });
    if !running {
        return false;
    }
    let mut names = vec![std::ffi::OsString::from("tug")];
    if let Some(own) = std::env::current_exe()
        .ok()
        .and_then(|e| e.file_name().map(ToOwned::to_owned))
    {
        names.push(own);
    }
    // The kernel keeps the first 15 bytes of the command name.
    let comm_matches = std::fs::read(proc.join("comm")).is_ok_and(|comm| {
        let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
        names.iter().any(|n| {
            let n = n.as_encoded_bytes();
            !comm.is_empty() && n[..n.len().min(15)] == *comm
        })
    });
    let argv0_matches = std::fs::read(proc.join("cmdline")).is_ok_and(|cmdline| {
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or_default();
        names.iter().any(|n| n.as_encoded_bytes() == base)
    });
    comm_matches || argv0_matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_counts_as_tug_and_others_do_not() {
        assert!(is_tug_process(std::process::id()));
        let mut sleep = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("spawn sleep");
        assert!(!is_tug_process(sleep.id()));
        let _ = sleep.kill();
        let _ = sleep.wait();
        // A process whose argv[0] is `tug` counts until it is a zombie (killed, not reaped).
        let mut named_tug = std::process::Command::new("bash")
            .args(["-c", "exec -a tug sleep 10"])
            .spawn()
            .expect("spawn bash");
        let pid = named_tug.id();
        let until = |want: bool| {
            let start = std::time::Instant::now();
            while is_tug_process(pid) != want && start.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            is_tug_process(pid) == want
        };
        assert!(until(true), "bash never exec'd `sleep` as `tug`");
        let _ = named_tug.kill();
        assert!(until(false), "a zombie counted as a live tug");
        let _ = named_tug.wait();
        // No process has this pid (above pid_max's largest value).
        assert!(!is_tug_process(u32::MAX));
    }
}
