//! `tug`: run Dagu-style YAML workflows in Docker or Podman containers.
//!
//! This crate owns everything user-facing: argument parsing, terminal rendering, signals and
//! exit codes. The libraries (`engine-api`, `executor`) never print.

mod engine;
mod exit;
mod report;
mod runs;
mod start;
mod workflow;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run Dagu-style YAML workflows with each step in a Docker or Podman container.
///
/// The engine is chosen from the environment as Dagu and the docker CLI do:
/// DAGU_CONTAINER_RUNTIME (docker | podman), DAGU_PODMAN_HOST, DOCKER_HOST,
/// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION.
#[derive(Debug, Parser)]
#[command(name = "tug", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow: each step in its container (or on the host), with live output, a
    /// record of the run, and every container removed at the end.
    ///
    /// Examples:
    ///   tug start workflow.yaml
    ///   tug start workflow.yaml -- IMAGE=busybox:latest
    ///   DAGU_CONTAINER_RUNTIME=podman tug start workflow.yaml
    #[command(visible_alias = "run")]
    Start(start::StartArgs),
    /// Show a run: its status, each step's status and exit code, where its logs are.
    ///
    /// Examples:
    ///   tug status                  # the latest run
    ///   tug status 20261124-155908-63fa44
    ///   tug status workflow.yaml    # the latest run of that workflow
    Status {
        /// A run id or a workflow file (default: the latest run).
        target: Option<String>,
        /// Print the run record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove containers left by runs whose tug process is gone (a crash, a kill -9).
    ///
    /// Examples:
    ///   tug gc --dry-run
    ///   DAGU_CONTAINER_RUNTIME=podman tug gc
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check workflow files and print every problem with its file, line and column.
    ///
    /// Examples:
    ///   tug validate workflow.yaml
    ///   tug validate dags/*.yaml
    Validate {
        /// Workflow files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Show the plan: the order of the steps, where each runs and the Engine API requests it
    /// would make. Contacts no engine.
    ///
    /// Examples:
    ///   tug dry workflow.yaml
    ///   tug dry workflow.yaml -- IMAGE=busybox:latest
    Dry {
        /// The workflow file.
        file: std::path::PathBuf,
        /// Parameters, `NAME=VALUE` (several may be given in one quoted string).
        #[arg(short = 'p', long = "params")]
        params: Vec<String>,
        /// Parameters after `--`, `NAME=VALUE`.
        #[arg(last = true)]
        rest: Vec<String>,
    },
    /// Inspect the container engine tug would use.
    #[command(subcommand)]
    Engine(engine::EngineCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report::error(&anyhow::Error::new(e).context("cannot start the async runtime"));
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Engine(cmd) => engine::run(cmd).await,
            Command::Start(args) => start::start(args).await,
            Command::Status { target, json } => runs::status(target.as_deref(), json),
            Command::Gc { dry_run } => runs::gc(dry_run).await,
            Command::Validate { files } => workflow::validate(&files),
            Command::Dry { file, params, rest } => {
                let all: Vec<String> = params.into_iter().chain(rest).collect();
                workflow::dry(&file, &all)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report::error(&e);
            ExitCode::from(exit::code_for(&e))
        }
    }
}
