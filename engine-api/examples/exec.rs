//! Runs a command in a running container and reports its exit code: a small `docker exec`.
//!
//! ```text
//! cargo run -p engine-api --example exec -- CONTAINER CMD [ARG]...
//! ```
//!
//! The command's stdout and stderr are copied to this process's stdout and stderr as they
//! arrive; then `exit code: N` is printed on stderr and the example exits with `N`. stdin is
//! not forwarded and no TTY is allocated. The engine is chosen from the environment as the
//! docker CLI does (`DOCKER_HOST`, `DOCKER_CONTEXT`, …, or `DAGU_CONTAINER_RUNTIME=podman`).
//!
//! The Engine API has no way to signal an exec'd process: Ctrl-C ends this example, but the
//! command goes on in the container until it finishes or the container stops.
//!
//! Exit codes: the command's own (0–255); 125 when the example itself failed (no such
//! container, the container is not running, the connection broke); 2 for bad arguments.

// Examples are binaries: reporting on the terminal is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error as StdError;
use std::io::Write;
use std::process::ExitCode;

use engine_api::exec::ExecCreate;
use engine_api::stream::StreamKind;
use engine_api::Client;

const USAGE: &str = "usage: exec CONTAINER CMD [ARG]...";

/// Exit code when the example itself failed, as `docker exec` uses.
const EXIT_FAILED: u8 = 125;

type BoxError = Box<dyn StdError + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (container, cmd) = match args.as_slice() {
        [container, cmd @ ..] if !cmd.is_empty() && !container.starts_with('-') => {
            (container.as_str(), cmd)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match exec(container, cmd).await {
        Ok(code) => {
            eprintln!("exit code: {code}");
            match u8::try_from(code) {
                Ok(code) => ExitCode::from(code),
                Err(_) => ExitCode::from(EXIT_FAILED),
            }
        }
        Err(e) => {
            report(
                &format!("cannot run {:?} in {container}", cmd.join(" ")),
                &*e,
            );
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Runs `cmd` in `container`, copying its output here, and returns its exit code.
async fn exec(container: &str, cmd: &[String]) -> Result<i64, BoxError> {
    let client = Client::from_env()?;
    let exec = client
        .create_exec(container, &ExecCreate::new(cmd.iter().cloned()))
        .await?;
    // Started attached: the connection is hijacked and carries the output (and stdin, had the
    // exec been created `with_stdin`). `false`: no TTY, so stdout and stderr arrive apart.
    let mut attached = client.start_exec(&exec, false).await?;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some(chunk) = attached.output.next_chunk_ref().await? {
        let out: &mut dyn Write = match chunk.stream {
            StreamKind::Stderr => &mut stderr,
            StreamKind::Stdout | StreamKind::Stdin => &mut stdout,
        };
        out.write_all(chunk.data)?;
        out.flush()?;
    }

    // The output ends when the process does, but the engine may record the exit code a moment
    // later (Podman says "not running" a little after the stream ends): ask until it has one.
    Ok(client.wait_exec(&exec).await?)
}

/// Prints `error: WHAT: ERROR`, then each underlying cause on a line of its own.
fn report(what: &str, error: &(dyn StdError + 'static)) {
    eprintln!("exec: error: {what}: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        eprintln!("  caused by: {e}");
        cause = e.source();
    }
}
