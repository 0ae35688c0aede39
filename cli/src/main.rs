//! `tug`: run Dagu-style YAML workflows in Docker or Podman containers.
//!
//! This crate owns everything user-facing: argument parsing, terminal rendering, signals and
//! exit codes. The libraries (`engine-api`, `executor`) never print.
//!
//! | module | command |
//! |---|---|
//! | `start` (+ `engine_flag`, `view`, `summary`) | `tug start` / `tug run` |
//! | `dry` (+ `bodies`) | `tug dry` |
//! | `workflow` | `tug validate` |
//! | `runs` | `tug status` |
//! | `logs` | `tug logs` |
//! | `history` | `tug history` |
//! | `gc` | `tug gc` |
//! | `engine` | `tug engine info` |
//! | `bench` | `tug bench logs` |
//! | `schema` | `tug schema` |

/// `print!` for commands that only report: a reader that goes away (`tug history | head`) ends
/// tug quietly instead of a panic, and a failed write (a full disk) is an error message. `tug
/// start` and `tug logs` write through their own views, which keep running to clean up.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::report::stdout(format_args!($($arg)*))
    };
}

/// `println!` with [`out!`]'s handling of a closed or failing stdout.
macro_rules! outln {
    () => {
        $crate::report::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::report::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod bench;
mod bodies;
mod dry;
mod engine;
mod engine_flag;
mod exit;
mod gc;
mod help;
mod history;
mod human;
mod logs;
mod report;
mod runs;
mod schema;
mod start;
mod style;
mod summary;
mod view;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Run Dagu-style YAML workflows with each step in a Docker or Podman container.
#[derive(Debug, Parser)]
#[command(
    name = "tug",
    version,
    propagate_version = true,
    after_help = help::TUG,
    max_term_width = 100
)]
struct Cli {
    /// When to use colour: auto (terminals, unless NO_COLOR is set), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = style::ColorChoice::Auto,
        value_name = "WHEN",
        hide_possible_values = true
    )]
    color: style::ColorChoice,
    /// Use this Docker context's endpoint and TLS files (as `docker --context NAME`); it wins
    /// over DOCKER_HOST, DOCKER_CONTEXT and currentContext. `default` is the environment's.
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow: each step in its container (or on the host), with live output, a record
    /// of the run, and every container removed at the end.
    #[command(visible_alias = "run")]
    Start(start::StartArgs),
    /// Show the plan: the order of the steps, where each runs, and the Engine API requests
    /// (with their JSON bodies) it would make. Contacts no engine.
    #[command(after_help = help::DRY)]
    Dry {
        /// The workflow file.
        file: PathBuf,
        /// Parameters, `NAME=VALUE` (several may be given in one quoted string).
        #[arg(short = 'p', long = "params", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Show only the requests, not their bodies.
        #[arg(long)]
        no_bodies: bool,
        /// Engines the run would use (as `tug start --engine`), shown in the plan.
        #[command(flatten)]
        engine: engine_flag::EngineArgs,
        /// Parameters after `--`, `NAME=VALUE`.
        #[arg(last = true, value_name = "NAME=VALUE")]
        rest: Vec<String>,
    },
    /// Check workflow files and print every problem with its file, line and column.
    #[command(after_help = help::VALIDATE)]
    Validate {
        /// Workflow files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show a run: its status, each step's status, exit code and duration, where its logs are.
    #[command(after_help = help::STATUS)]
    Status {
        /// A run id (or a unique prefix), `latest`, a workflow file or a workflow name
        /// (default: the latest run).
        target: Option<String>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Show a run's output, from its log files; --follow keeps reading while it runs.
    #[command(after_help = help::LOGS)]
    Logs {
        /// A run id (or a unique prefix), `latest`, a workflow file or a workflow name.
        run: String,
        /// Only this step (its stdout on stdout, its stderr on stderr, as written).
        step: Option<String>,
        /// Keep printing new output while the run is live.
        #[arg(short, long)]
        follow: bool,
    },
    /// List recorded runs, newest first: run id, workflow, status, start and duration.
    #[command(after_help = help::HISTORY)]
    History {
        /// Only the runs of this workflow (a workflow file or a workflow name).
        workflow: Option<String>,
        /// How many runs to show.
        #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// Also list the child runs of `dag.run` and `parallel` steps.
        #[arg(short, long)]
        all: bool,
        /// Print one JSON document (a list).
        #[arg(long)]
        json: bool,
    },
    /// Remove containers left by runs whose tug process is gone (a crash, a kill -9).
    #[command(after_help = help::GC)]
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Sweep this engine instead of the environment's (repeatable): `NAME=ADDRESS`,
        /// `NAME=podman:ADDRESS`, `NAME=docker`, `NAME=podman`, `NAME=context:CONTEXT`, or a NAME
        /// from tug's engines file,
        /// as for `tug start --engine`.
        #[arg(long = "engine", value_name = "NAME=ADDRESS", value_parser = engine_flag::parse)]
        engines: Vec<engine_flag::EngineFlag>,
    },
    /// Inspect the container engine tug would use.
    #[command(subcommand, after_help = help::ENGINE_INFO)]
    Engine(engine::EngineCommand),
    /// Measure the engine and tug's client: log-stream throughput beside a raw socket read.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Show the fields a workflow file accepts, at a dot-separated path (as `dagu schema`).
    #[command(after_help = help::SCHEMA)]
    Schema {
        /// A path such as `steps`, `steps.container`, `container.healthcheck` (default: the
        /// top level).
        path: Option<String>,
        /// Print a JSON Schema instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    #[command(after_help = help::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and succeed; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    style::init(cli.color);
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
    let context = cli.context.as_deref();
    let result = runtime.block_on(async {
        match cli.command {
            Command::Engine(cmd) => engine::run(cmd, context).await,
            Command::Bench(cmd) => bench::run(cmd, context).await,
            Command::Start(args) => start::start(args, context).await,
            Command::Status { target, json } => runs::status(target.as_deref(), json),
            Command::Logs { run, step, follow } => logs::logs(&run, step.as_deref(), follow).await,
            Command::History {
                workflow,
                limit,
                all,
                json,
            } => history::history(workflow.as_deref(), limit, all, json),
            Command::Gc { dry_run, engines } => gc::gc(dry_run, &engines, context).await,
            Command::Validate { files } => workflow::validate(&files),
            Command::Dry {
                file,
                params,
                no_bodies,
                engine,
                rest,
            } => {
                let all: Vec<String> = params.into_iter().chain(rest).collect();
                dry::dry(&file, &all, !no_bodies, &engine, context)
            }
            Command::Schema { path, json } => schema::run(path.as_deref(), json),
            Command::Completions { shell } => {
                let mut cmd = Cli::command();
                clap_complete::generate(shell, &mut cmd, "tug", &mut std::io::stdout());
                Ok(exit::SUCCESS)
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
