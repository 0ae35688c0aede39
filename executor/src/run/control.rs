//! Step controls: `preconditions` (skip a step unless they hold), `retry_policy` (run a failed
//! step again), and `continue_on` (let the run go on past a failure or a skip).

use std::time::Duration;

use super::events::StepStatus;
use super::{FailureKind, RunCtx, StepFailure};
use crate::workflow::{
    expand_env, Escapes, Expected, Precondition, RetryPolicy, Scope, Step, Text,
};

/// Runs `command` on the host through `sh -c` with the workflow's env; returns its exit code
/// and trimmed stdout.
async fn host_command(
    ctx: &RunCtx,
    command: &str,
    scope: &Scope,
) -> Result<(i32, String), StepFailure> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.workflow.working_dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in expand_env(&ctx.workflow.env, scope) {
        cmd.env(k, v);
    }
    let out = tokio::select! {
        o = cmd.output() => o.map_err(|e| StepFailure::message(format!("cannot run precondition {command:?}: {e}")))?,
        _ = ctx.cancel.cancelled() => return Err(StepFailure::interrupted()),
    };
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// A condition's value: `` `command` `` is replaced by the command's output, the rest expanded.
async fn value(ctx: &RunCtx, text: &Text, scope: &Scope) -> Result<String, StepFailure> {
    let expanded = text.expand(scope, Escapes::Literal);
    let t = expanded.trim();
    if t.len() >= 2 && t.starts_with('`') && t.ends_with('`') {
        return Ok(host_command(ctx, &t[1..t.len() - 1], scope).await?.1);
    }
    Ok(expanded)
}

/// True when `value` is `expected` (a literal, or a `re:` pattern that must match).
pub(crate) fn matches(expected: &Expected, value: &str) -> bool {
    match expected {
        Expected::Literal(s) => s == value,
        Expected::Regex(p) => regex::Regex::new(p).is_ok_and(|re| re.is_match(value)),
    }
}

/// `Ok(None)` when every precondition holds, `Ok(Some(reason))` when one does not.
pub(crate) async fn preconditions(
    ctx: &RunCtx,
    step: &Step,
    scope: &Scope,
) -> Result<Option<String>, StepFailure> {
    for p in &step.preconditions {
        match p {
            Precondition::Command { command, negate } => {
                let line = command.expand(scope, Escapes::Shell);
                let (code, _) = host_command(ctx, &line, scope).await?;
                if (code == 0) == *negate {
                    return Ok(Some(format!(
                        "precondition not met: `{line}` exited with {code}{}",
                        if *negate { " (negated)" } else { "" }
                    )));
                }
            }
            Precondition::Compare {
                condition,
                expected,
                negate,
            } => {
                let v = value(ctx, condition, scope).await?;
                if matches(expected, &v) == *negate {
                    let want = match expected {
                        Expected::Literal(s) => format!("{s:?}"),
                        Expected::Regex(p) => format!("re:{p}"),
                    };
                    return Ok(Some(format!(
                        "precondition not met: {} is {v:?}, {}expected {want}",
                        condition.raw,
                        if *negate { "not " } else { "" }
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// The wait before retry number `retry` (1-based), or `None` when no retry is due.
pub(crate) fn retry_delay(
    policy: Option<&RetryPolicy>,
    retry: u32,
    exit_code: Option<i64>,
    failure: Option<FailureKind>,
) -> Option<Duration> {
    let p = policy?;
    if retry > p.limit {
        return None;
    }
    // Interrupts and timeouts are not retried; neither is an unreachable engine.
    if matches!(
        failure,
        Some(FailureKind::Interrupted | FailureKind::EngineUnavailable)
    ) {
        return None;
    }
    if !p.exit_codes.is_empty()
        && !exit_code.is_some_and(|c| p.exit_codes.iter().any(|&e| i64::from(e) == c))
    {
        return None;
    }
    let factor = p.backoff.unwrap_or(1.0).max(1.0).powi(retry as i32 - 1);
    let mut d = p.interval.mul_f64(factor);
    if let Some(max) = p.max_interval {
        d = d.min(max);
    }
    Some(d)
}

/// Whether the run may go on past a step that ended in `status` with `exit_code`, given its
/// stdout tail (for `continue_on.output`).
pub(crate) fn continue_allowed(
    step: &Step,
    status: StepStatus,
    exit_code: Option<i64>,
    stdout_tail: &str,
) -> bool {
    let c = &step.continue_on;
    match status {
        StepStatus::Failed => {
            c.failed
                || exit_code.is_some_and(|code| c.exit_codes.iter().any(|&e| i64::from(e) == code))
                || c.output
                    .iter()
                    .any(|e| stdout_tail.lines().any(|l| matches(e, l)) || matches(e, stdout_tail))
        }
        StepStatus::Skipped => c.skipped,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: u32, codes: Vec<i32>, backoff: Option<f64>) -> RetryPolicy {
        RetryPolicy {
            limit,
            interval: Duration::from_secs(1),
            exit_codes: codes,
            backoff,
            max_interval: Some(Duration::from_secs(3)),
        }
    }

    #[test]
    fn retries_count_codes_and_backoff() {
        let p = policy(3, vec![], Some(2.0));
        assert_eq!(
            retry_delay(Some(&p), 1, Some(1), None),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            retry_delay(Some(&p), 2, Some(1), None),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_delay(Some(&p), 3, Some(1), None),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_delay(Some(&p), 4, Some(1), None), None);
        assert_eq!(retry_delay(None, 1, Some(1), None), None);
        let only = policy(2, vec![75], None);
        assert_eq!(retry_delay(Some(&only), 1, Some(1), None), None);
        assert!(retry_delay(Some(&only), 1, Some(75), None).is_some());
        assert_eq!(
            retry_delay(Some(&p), 1, None, Some(FailureKind::Interrupted)),
            None
        );
    }

    #[test]
    fn expected_values() {
        assert!(matches(&Expected::Literal("a".into()), "a"));
        assert!(!matches(&Expected::Literal("a".into()), "b"));
        assert!(matches(&Expected::Regex("^[0-9]+$".into()), "42"));
        assert!(!matches(&Expected::Regex("^[0-9]+$".into()), "4x"));
    }
}
