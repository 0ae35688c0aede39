//! Runs a command in a new container, like a small `docker run --rm`.
//!
//! ```text
//! cargo run -p engine-api --example run -- [--label KEY=VALUE]... IMAGE [CMD [ARG]...]
//! ```
//!
//! The container is created from `IMAGE` (which must be present: see the `pull` example) and
//! started; its stdout and stderr are copied to this process's stdout and stderr as they
//! arrive; the example waits for it to exit, removes it and exits with the container's exit
//! code. The container is removed on every path: success, a failed start, a broken stream and
//! Ctrl-C (exit code 130; a second Ctrl-C while removing gives up and says what was left).
//! Every container it creates carries the label `engine-api.example=run`, plus any given with
//! `--label`. stdin is not forwarded and no TTY is allocated.
//!
//! The engine is chosen from the environment, as the docker CLI does: `DOCKER_HOST`,
//! `DOCKER_CONTEXT`, `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`, or `DAGU_CONTAINER_RUNTIME=podman`
//! with `DAGU_PODMAN_HOST`.
//!
//! Exit codes: the container's own (0–255); 125 when the example itself failed (the engine
//! refused, the connection broke, the exit code was out of range); 130 on Ctrl-C; 2 for bad
//! arguments.

// Examples are binaries: reporting on the terminal is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io::Write;
use std::pin::pin;
use std::process::ExitCode;

use engine_api::containers::{ContainerCreate, ContainerExit, RemoveOptions, WaitCondition};
use engine_api::containers_io::LogsOptions;
use engine_api::stream::StreamKind;
use engine_api::Client;

const USAGE: &str = "usage: run [--label KEY=VALUE]... IMAGE [CMD [ARG]...]";

/// Exit code when the example itself failed, as `docker run` uses.
const EXIT_FAILED: u8 = 125;
/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The command line, parsed.
struct Args {
    labels: BTreeMap<String, String>,
    image: String,
    cmd: Vec<String>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut labels = BTreeMap::new();
        labels.insert("engine-api.example".to_string(), "run".to_string());
        let image = loop {
            match args.next() {
                None => return Err("missing IMAGE".to_string()),
                Some(flag) if flag == "--label" => {
                    let label = args.next().ok_or("--label needs KEY=VALUE")?;
                    let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
                    if key.is_empty() {
                        return Err(format!("--label {label:?}: the key is empty"));
                    }
                    labels.insert(key.to_string(), value.to_string());
                }
                Some(flag) if flag == "-h" || flag == "--help" => return Err(String::new()),
                Some(flag) if flag.starts_with('-') => {
                    return Err(format!("unknown option {flag:?}"))
                }
                Some(image) => break image,
            }
        };
        Ok(Args {
            labels,
            image,
            cmd: args.collect(),
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("run: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let client = match Client::from_env() {
        Ok(client) => client,
        Err(e) => {
            report("cannot choose the engine", &e);
            return ExitCode::from(EXIT_FAILED);
        }
    };

    let mut create = ContainerCreate::new(&args.image);
    create.config.labels = args.labels;
    if !args.cmd.is_empty() {
        create.config.cmd = Some(args.cmd);
    }

    // Ctrl-C is watched from here on. During the create request it is only noted: dropping
    // the request half-way could leave a container we never learn the id of.
    let mut ctrl_c = pin!(tokio::signal::ctrl_c());
    let mut interrupted = false;
    let mut creating = pin!(client.create_container(&create));
    let created = loop {
        tokio::select! {
            created = &mut creating => break created,
            _ = &mut ctrl_c, if !interrupted => interrupted = true,
        }
    };
    let id = match created {
        Ok(created) => created.id,
        Err(e) => {
            report("cannot create the container", &e);
            if e.is_not_found() {
                eprintln!(
                    "hint: is {} present? the `pull` example fetches it",
                    args.image
                );
            }
            return ExitCode::from(if interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_FAILED
            });
        }
    };

    // Start, stream and wait, unless Ctrl-C comes first. A request dropped half-way is
    // harmless here: whatever state the container is in, it is removed below.
    let outcome = if interrupted {
        Outcome::Interrupted
    } else {
        tokio::select! {
            result = run_to_exit(&client, &id) => match result {
                Ok(exit) => Outcome::Exited(exit),
                Err(e) => Outcome::Failed(e),
            },
            _ = tokio::signal::ctrl_c() => Outcome::Interrupted,
        }
    };

    // Containers are not child processes: nothing removes this one unless we do.
    let removed = tokio::select! {
        removed = client.remove_container(&id, RemoveOptions::force()) => removed,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("run: interrupted again: container {} is left behind", short(&id));
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    };
    let removed_ok = match removed {
        Ok(()) => true,
        Err(e) if e.is_not_found() => true,
        Err(e) => {
            report(&format!("cannot remove container {}", short(&id)), &e);
            false
        }
    };

    match outcome {
        Outcome::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        Outcome::Failed(e) => {
            report(&format!("container {}", short(&id)), &*e);
            ExitCode::from(EXIT_FAILED)
        }
        Outcome::Exited(exit) => {
            if let Some(message) = &exit.error {
                eprintln!("run: the engine reported while waiting: {message}");
            }
            match u8::try_from(exit.status_code) {
                Ok(code) if removed_ok => ExitCode::from(code),
                Ok(_) => ExitCode::from(EXIT_FAILED),
                Err(_) => {
                    eprintln!(
                        "run: the engine reported exit code {}, which is not a process exit code",
                        exit.status_code
                    );
                    ExitCode::from(EXIT_FAILED)
                }
            }
        }
    }
}

/// How the container's run ended.
enum Outcome {
    Exited(ContainerExit),
    Failed(BoxError),
    Interrupted,
}

/// Starts the container, copies its output until it stops, and returns its exit.
async fn run_to_exit(client: &Client, id: &str) -> Result<ContainerExit, BoxError> {
    client
        .start_container(id)
        .await
        .map_err(|e| context("cannot start it", e))?;

    // Logs with `follow` replay everything from the start and end when the container stops,
    // so nothing written before this request is lost. The container has no TTY: say so, and
    // the client need not inspect it to choose the framing.
    let opts = LogsOptions {
        tty: Some(false),
        ..LogsOptions::follow()
    };
    let mut logs = client
        .container_logs(id, &opts)
        .await
        .map_err(|e| context("cannot follow its output", e))?;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    // `next_chunk_ref` lends each piece out of the read buffer: written at once, never copied.
    while let Some(chunk) = logs
        .next_chunk_ref()
        .await
        .map_err(|e| context("cannot read its output", e))?
    {
        let out: &mut dyn Write = match chunk.stream {
            StreamKind::Stderr => &mut stderr,
            StreamKind::Stdout | StreamKind::Stdin => &mut stdout,
        };
        // Flushed piece by piece, so a partial line shows up as soon as it was written.
        out.write_all(chunk.data)
            .and_then(|()| out.flush())
            .map_err(|e| context("cannot write its output here", e))?;
    }

    client
        .wait_container(id, WaitCondition::NotRunning)
        .await
        .map_err(|e| context("cannot wait for it", e))
}

/// An error with what was being done; the original stays reachable through `source()`.
#[derive(Debug)]
struct Context {
    what: &'static str,
    source: BoxError,
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

impl StdError for Context {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

fn context(what: &'static str, source: impl Into<BoxError>) -> BoxError {
    Box::new(Context {
        what,
        source: source.into(),
    })
}

/// Prints `error: WHAT: ERROR`, then each underlying cause on a line of its own.
fn report(what: &str, error: &(dyn StdError + 'static)) {
    eprintln!("run: error: {what}: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        eprintln!("  caused by: {e}");
        cause = e.source();
    }
}

/// The first 12 characters of an id, as the docker CLI shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
