//! Lists containers, running or not, as a table: a small `docker ps -a`.
//!
//! ```text
//! cargo run -p engine-api --example ps -- [--filter NAME=VALUE]...
//! ```
//!
//! Filters are passed to the engine as they are (`label=KEY`, `label=KEY=VALUE`, `name=NAME`,
//! `status=exited`, `ancestor=IMAGE`, …); how a repeated filter combines is the engine's rule,
//! as in `docker ps`. The engine is chosen from the environment as the docker CLI does
//! (`DOCKER_HOST`, `DOCKER_CONTEXT`, …, or `DAGU_CONTAINER_RUNTIME=podman`).
//!
//! Exit codes: 0 on success, 1 when the engine could not be asked, 2 for bad arguments.

// Examples are binaries: reporting on the terminal is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error as StdError;
use std::io::Write;
use std::process::ExitCode;

use engine_api::containers::{ContainerSummary, ListContainers};
use engine_api::{Client, Filters};

const USAGE: &str = "usage: ps [--filter NAME=VALUE]...";

fn parse_filters(mut args: impl Iterator<Item = String>) -> Result<Filters, String> {
    let mut filters = Filters::new();
    while let Some(arg) = args.next() {
        let filter = match arg.as_str() {
            "--filter" | "-f" => args.next().ok_or("--filter needs NAME=VALUE")?,
            "-h" | "--help" => return Err(String::new()),
            _ => match arg.strip_prefix("--filter=") {
                Some(filter) => filter.to_string(),
                None => return Err(format!("unexpected argument {arg:?}")),
            },
        };
        // `label=team=infra` is the filter `label` with the value `team=infra`.
        match filter.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                filters.add(name, value);
            }
            _ => return Err(format!("--filter {filter:?}: expected NAME=VALUE")),
        }
    }
    Ok(filters)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let filters = match parse_filters(std::env::args().skip(1)) {
        Ok(filters) => filters,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("ps: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let containers = match list(filters).await {
        Ok(containers) => containers,
        Err(e) => {
            report("cannot list containers", &e);
            return ExitCode::FAILURE;
        }
    };
    // Written with `write!`, not `println!`: `ps | head -1` closes the pipe early, which is
    // not worth a panic.
    let mut out = std::io::stdout().lock();
    match out
        .write_all(table(&containers).as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            report("cannot write the table", &e);
            ExitCode::FAILURE
        }
    }
}

async fn list(filters: Filters) -> engine_api::Result<Vec<ContainerSummary>> {
    let client = Client::from_env()?;
    let mut containers = client
        .list_containers(&ListContainers::all(filters))
        .await?;
    // Newest first, as `docker ps` shows them (Podman answers oldest first).
    containers.sort_by_key(|c| std::cmp::Reverse(c.created));
    Ok(containers)
}

/// The table: a header and a row per container, columns padded to their widest cell.
fn table(containers: &[ContainerSummary]) -> String {
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".to_string(),
        "STATUS".to_string(),
        "NAMES".to_string(),
    ]];
    for c in containers {
        // Docker names start with `/`; the human status is empty on some engines' answers
        // for a container that never ran, the state word is not.
        let names: Vec<&str> = c.names.iter().map(|n| n.trim_start_matches('/')).collect();
        let status = if c.status.is_empty() {
            c.state.as_str().to_string()
        } else {
            c.status.clone()
        };
        rows.push([
            c.id.get(..12).unwrap_or(&c.id).to_string(),
            c.image.clone(),
            status,
            names.join(","),
        ]);
    }
    let mut widths = [0usize; 4];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str(cell);
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Prints `error: WHAT: ERROR`, then each underlying cause on a line of its own.
fn report(what: &str, error: &(dyn StdError + 'static)) {
    eprintln!("ps: error: {what}: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        eprintln!("  caused by: {e}");
        cause = e.source();
    }
}
