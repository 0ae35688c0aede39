//! Steps with no container anywhere: a local process on the host.
//!
//! The command runs through `sh -c` (or the step's `shell`), in the step's `working_dir` (else
//! the workflow's), with an environment built like Dagu's: an allowlist of the process's own
//! variables (PATH, HOME, locale, `DOCKER_HOST` and friends — never `DOCKER_AUTH_CONFIG`),
//! then the workflow's `env`, then the step's. It runs in its own process group, so an
//! interrupt reaches everything it started: the stop signal, the grace period, then SIGKILL.

use std::process::Stdio;
use std::time::Instant;

use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::container::interruptible;
use super::events::OutputStream;
use super::output::StepOutput;
use super::{Interrupt, RunCtx, StepFailure};
use crate::workflow::{expand_env, merge_env, Escapes, Run, Scope, Step};

/// Variables of tug's own environment that host steps inherit.
const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "SHELL",
    "TMPDIR",
    "TERM",
    "EDITOR",
    "VISUAL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "LD_LIBRARY_PATH",
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
];
/// Prefixes of inherited variables.
const ALLOWED_PREFIXES: &[&str] = &["DAGU_", "DAG_", "LC_", "KUBERNETES_", "TUG_"];

fn inherited(name: &str) -> bool {
    (ALLOWED.contains(&name)
        || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
        || (name.starts_with("XDG_") && name.ends_with("_HOME")))
        && name != "DOCKER_AUTH_CONFIG"
}

/// Runs the step on the host; returns its exit code.
pub(crate) async fn run(
    ctx: &RunCtx,
    step: &Step,
    scope: &Scope,
    step_env: &[(String, String)],
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let wf = &ctx.workflow;
    let lines: Vec<String> = match &step.run {
        Run::Command(t) | Run::Script(t) => vec![t.expand(scope, Escapes::Shell)],
        Run::Commands(list) => list
            .iter()
            .map(|t| t.expand(scope, Escapes::Shell))
            .collect(),
        _ => {
            return Err(StepFailure::message(
                "the step has nothing to run: add `run:` (or a container or an action)",
            ))
        }
    };
    let shell: Vec<String> = match &step.shell {
        Some(sh) => sh.argv(scope),
        None => vec!["sh".into(), "-c".into()],
    };
    let workflow_env = expand_env(&wf.env, scope);
    let env = merge_env(&workflow_env, step_env);
    let dir = match &step.working_dir {
        Some(t) => wf.working_dir.join(t.expand(scope, Escapes::Literal)),
        None => wf.working_dir.clone(),
    };
    let mut code = 0;
    for line in lines {
        let mut cmd = tokio::process::Command::new(&shell[0]);
        cmd.args(&shell[1..])
            .arg(&line)
            .current_dir(&dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in std::env::vars() {
            if inherited(&k) {
                cmd.env(k, v);
            }
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        code = run_one(ctx, step, cmd, None, deadline, out).await?;
        if code != 0 {
            break;
        }
    }
    Ok(code)
}

/// Runs `argv` directly (no shell) on the host with `stdin` fed to it; for harness providers.
pub(crate) async fn run_argv(
    ctx: &RunCtx,
    step: &Step,
    argv: Vec<String>,
    stdin: Option<String>,
    step_env: &[(String, String)],
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let wf = &ctx.workflow;
    let scope = &wf.scope;
    let env = merge_env(&expand_env(&wf.env, scope), step_env);
    let dir = match &step.working_dir {
        Some(t) => wf.working_dir.join(t.expand(scope, Escapes::Literal)),
        None => wf.working_dir.clone(),
    };
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(&dir)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    for (k, v) in std::env::vars() {
        if inherited(&k) {
            cmd.env(k, v);
        }
    }
    for (k, v) in &env {
        cmd.env(k, v);
    }
    run_one(ctx, step, cmd, stdin, deadline, out).await
}

async fn run_one(
    ctx: &RunCtx,
    step: &Step,
    mut cmd: tokio::process::Command,
    stdin: Option<String>,
    deadline: Option<Instant>,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let mut child = cmd
        .spawn()
        .map_err(|e| StepFailure::message(format!("cannot start the command: {e}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(text.as_bytes()).await;
            let _ = pipe.shutdown().await;
        });
    }
    let pid = child.id().map(|p| Pid::from_raw(p as i32));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let work = async {
        let mut a = vec![0u8; 64 * 1024];
        let mut b = vec![0u8; 64 * 1024];
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                n = stdout.read(&mut a), if out_open => match n {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => out.write(OutputStream::Stdout, Bytes::copy_from_slice(&a[..n])).await
                        .map_err(|e| StepFailure::message(format!("cannot write the step's log: {e}")))?,
                },
                n = stderr.read(&mut b), if err_open => match n {
                    Ok(0) | Err(_) => err_open = false,
                    Ok(n) => out.write(OutputStream::Stderr, Bytes::copy_from_slice(&b[..n])).await
                        .map_err(|e| StepFailure::message(format!("cannot write the step's log: {e}")))?,
                },
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| StepFailure::message(format!("cannot wait for the command: {e}")))?;
        use std::os::unix::process::ExitStatusExt;
        Ok::<i64, StepFailure>(match (status.code(), status.signal()) {
            (Some(c), _) => i64::from(c),
            (None, Some(sig)) => 128 + i64::from(sig),
            _ => -1,
        })
    };
    match interruptible(ctx, deadline, work).await {
        Ok(r) => r,
        Err(why) => {
            if let Some(pid) = pid {
                let first = if why == Interrupt::Kill {
                    Signal::SIGKILL
                } else {
                    step.signal_on_stop
                        .as_deref()
                        .and_then(parse_signal)
                        .unwrap_or(Signal::SIGTERM)
                };
                let _ = killpg(pid, first);
                if first != Signal::SIGKILL {
                    // The step is over when its own process is reaped: polling the group with
                    // signal 0 would go on succeeding while the child is an unreaped zombie.
                    tokio::select! {
                        _ = child.wait() => {}
                        _ = tokio::time::sleep(ctx.grace) => {}
                        _ = ctx.cancel.reached(super::cancel::CancelLevel::Kill) => {}
                    }
                }
                // Whatever the group still holds (background jobs of the command, or the whole
                // group when the grace period ran out) goes now.
                let _ = killpg(pid, Signal::SIGKILL);
            }
            // Reaps the child, even one that left the group (kill_on_drop alone would leave a
            // zombie until tokio's orphan reaper gets to it).
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(why.failure(&step.id))
        }
    }
}

fn parse_signal(s: &str) -> Option<Signal> {
    let name = s.trim().to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_allowlist() {
        assert!(inherited("PATH"));
        assert!(inherited("DOCKER_HOST"));
        assert!(inherited("XDG_DATA_HOME"));
        assert!(!inherited("DOCKER_AUTH_CONFIG"));
        assert!(!inherited("AWS_SECRET_ACCESS_KEY"));
    }

    #[test]
    fn signals_parse_with_or_without_prefix() {
        assert_eq!(parse_signal("SIGINT"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("term"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("nope"), None);
    }
}
