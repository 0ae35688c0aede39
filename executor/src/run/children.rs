//! `action: dag.run` and `parallel:` fan-out: a step that runs sub-workflows as child runs.
//!
//! Each child is a run of its own — its own run id, record directory, logs and status, with a
//! link to its parent — started with the parameters of `with.params` (expanded in the parent's
//! scope, with `${ITEM}` / `${ITEM.field}` for fan-out items). Children do not inherit the
//! parent's `env`. Every item runs (no fail-fast), at most `max_concurrent` at once; the step
//! fails if any child failed, naming them, and its stdout is a JSON summary.
//!
//! With several engines (`tug start --engine …`, see [`super::spread`]) each `parallel` child
//! takes its engine from the run's pool as it starts and keeps it to its end; a `dag.run`
//! child without `parallel` runs on its parent's engine. The records name the engine.

use std::path::Path;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};

use super::events::{Event, EventSink, OutputStream, RunStatus};
use super::output::StepOutput;
use super::record::{self, ChildRun, ParentRef};
use super::spread::Lease;
use super::{Cancel, RunCtx, RunOptions, RunSummary, StepFailure};
use crate::workflow::{
    load_file, DagRun, Escapes, LoadOptions, Parallel, ParallelItems, Scope, Step, SubWorkflowRef,
    Workflow, MAX_PARALLEL_ITEMS,
};

/// Finds the sub-workflow `d` names: a later document of the same file, or another file
/// (relative to the workflow's directory).
fn target(ctx: &RunCtx, d: &DagRun, scope: &Scope) -> Result<Arc<Workflow>, StepFailure> {
    let wf = &ctx.workflow;
    let by_name = |name: &str| -> Result<Arc<Workflow>, StepFailure> {
        if let Some(w) = wf.sub_workflows.get(name) {
            return Ok(w.clone());
        }
        let path = wf.working_dir.join(name);
        let path = if path.exists() || Path::new(name).extension().is_some() {
            path
        } else {
            wf.working_dir.join(format!("{name}.yaml"))
        };
        load(&path)
    };
    match &d.target {
        SubWorkflowRef::Local(name) => by_name(name),
        SubWorkflowRef::File(path) => load(&wf.working_dir.join(path)),
        SubWorkflowRef::Deferred(text) => by_name(&text.expand(scope, Escapes::Literal)),
    }
}

fn load(path: &Path) -> Result<Arc<Workflow>, StepFailure> {
    match load_file(path, &LoadOptions::default()) {
        Ok(l) => Ok(Arc::new(l.workflow)),
        Err(e) => Err(StepFailure::message(match e.diagnostics() {
            Some(d) => d.render(),
            None => format!("cannot load sub-workflow {}: {e}", path.display()),
        })),
    }
}

/// The parameters for a child, expanded in `scope`.
fn params(d: &DagRun, scope: &Scope) -> Vec<(String, String)> {
    d.params
        .iter()
        .map(|(k, v)| (k.clone(), v.expand(scope, Escapes::Literal)))
        .collect()
}

/// The engine a child runs on: its parent's, or one leased from the run's pool.
enum ChildEngine {
    Parent,
    Leased(Lease),
}

impl ChildEngine {
    /// The engine for the next `parallel` child: from the pool when engines were named.
    fn for_item(ctx: &RunCtx) -> ChildEngine {
        match &ctx.options.engines {
            Some(pool) => ChildEngine::Leased(pool.acquire()),
            None => ChildEngine::Parent,
        }
    }

    /// The engine's name, when engines were named.
    fn name<'a>(&'a self, ctx: &'a RunCtx) -> Option<&'a str> {
        match self {
            ChildEngine::Parent => ctx.options.engine_name.as_deref(),
            ChildEngine::Leased(l) => Some(&l.engine().name),
        }
    }

    /// The engine's endpoint, for the parent's record of its children (only when engines were
    /// named: without `--engine` the children list stays as it was).
    fn url(&self, ctx: &RunCtx) -> Option<String> {
        self.name(ctx)?;
        match self {
            ChildEngine::Parent => ctx.options.endpoint.as_ref().ok().map(|e| e.url.clone()),
            ChildEngine::Leased(l) => Some(l.engine().endpoint.url.clone()),
        }
    }
}

/// Runs one child to the end; its events reach the parent's sink as output of the parent step
/// (`step[item]/child-step | …`) and notices.
#[allow(clippy::too_many_arguments)]
async fn run_child(
    ctx: &RunCtx,
    cancel: &Cancel,
    step: &Step,
    index: Option<usize>,
    child: Arc<Workflow>,
    params: Vec<(String, String)>,
    run_id: String,
    label: String,
    mut engine: ChildEngine,
) -> (RunSummary, Option<(String, Option<String>)>) {
    loop {
        let summary = run_child_once(
            ctx,
            cancel,
            step,
            index,
            &child,
            params.clone(),
            &run_id,
            &label,
            &engine,
        )
        .await;
        let engine_name = engine.name(ctx).map(str::to_string);
        if let ChildEngine::Leased(lease) = &engine {
            if summary.engine_unreachable {
                // Later children go to the engines that still answer.
                if lease.mark_unreachable() {
                    ctx.events
                        .notice(
                            Some(step.id.as_str()),
                            format!(
                                "engine {} does not answer: the next children go to the other engines",
                                lease.engine().name
                            ),
                        )
                        .await;
                }
                // Nothing of this child ran: it runs again on an engine that still answers.
                if summary.nothing_ran && !cancel.is_cancelled() {
                    if let Some(pool) = &ctx.options.engines {
                        let next = pool.acquire();
                        if !next.is_down() {
                            ctx.events
                                .notice(
                                    Some(step.id.as_str()),
                                    format!(
                                        "{label}: engine {} did not answer before anything ran; running it on engine {}",
                                        lease.engine().name,
                                        next.engine().name
                                    ),
                                )
                                .await;
                            // The old lease is dropped here: its engine no longer counts it.
                            engine = ChildEngine::Leased(next);
                            continue;
                        }
                    }
                }
            }
        }
        let ran_on = match &engine {
            ChildEngine::Leased(_) => engine_name.clone().map(|n| (n, engine.url(ctx))),
            ChildEngine::Parent => None,
        };
        // The engine counts the child as running until here (teardown included).
        drop(engine);
        ctx.events
            .send(Event::Child {
                step: step.id.clone(),
                index,
                run_id: run_id.clone(),
                workflow: child.name.clone(),
                status: summary.status,
                engine: engine_name,
            })
            .await;
        return (summary, ran_on);
    }
}

/// One attempt at a child run on `engine`.
#[allow(clippy::too_many_arguments)]
async fn run_child_once(
    ctx: &RunCtx,
    cancel: &Cancel,
    step: &Step,
    index: Option<usize>,
    child: &Arc<Workflow>,
    params: Vec<(String, String)>,
    run_id: &str,
    label: &str,
    engine: &ChildEngine,
) -> RunSummary {
    let engine_name = engine.name(ctx).map(str::to_string);
    ctx.events
        .send(Event::Child {
            step: step.id.clone(),
            index,
            run_id: run_id.to_string(),
            workflow: child.name.clone(),
            status: RunStatus::Running,
            engine: engine_name.clone(),
        })
        .await;
    let mut wf = (**child).clone();
    wf.scope = child.scope_with_params(&params, ctx.host.as_ref());
    let mut options = RunOptions {
        run_id: Some(run_id.to_string()),
        params,
        source_file: None,
        parent: Some(ParentRef {
            run_id: ctx.engine.run_id.clone(),
            workflow: ctx.workflow.name.clone(),
            step: step.id.clone(),
        }),
        ..ctx.options.clone()
    };
    if let ChildEngine::Leased(lease) = engine {
        options.endpoint = Ok(lease.engine().endpoint.clone());
        options.engine_name = Some(lease.engine().name.clone());
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(256);
    let parent = ctx.events.clone();
    let on_engine = engine_name.clone();
    let label = label.to_string();
    let forward = async move {
        while let Some(event) = rx.recv().await {
            forward(&parent, &label, on_engine.as_deref(), event).await;
        }
    };
    // Boxed: a child run is a run, and runs contain steps that may start children.
    let child_run = super::run_boxed(Arc::new(wf), options, EventSink::new(tx), cancel.clone());
    let (summary, ()) = tokio::join!(child_run, forward);
    summary
}

/// Passes a child's event on to the parent's sink; `engine` is the child's engine's name, when
/// engines were named.
async fn forward(parent: &EventSink, label: &str, engine: Option<&str>, event: Event) {
    match event {
        Event::Output { step, stream, data } => {
            parent
                .send(Event::Output {
                    step: format!("{label}/{step}"),
                    stream,
                    data,
                })
                .await
        }
        Event::Step {
            step,
            status,
            exit_code,
            ..
        } if status.is_final() => {
            let code = exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default();
            parent
                .notice(Some(label), format!("{step}: {}{code}", status.as_str()))
                .await
        }
        Event::Notice { step, message } => {
            let who = match step {
                Some(s) => format!("{label}/{s}"),
                None => label.to_string(),
            };
            parent.notice(Some(&who), message).await
        }
        Event::Pull {
            image,
            layer,
            status,
            current,
            total,
            ..
        } => {
            parent
                .send(Event::Pull {
                    step: Some(label.to_string()),
                    image,
                    layer,
                    status,
                    current,
                    total,
                })
                .await
        }
        Event::RunStarted { run_id, dir, .. } => {
            let on = engine
                .map(|e| format!(" on engine {e}"))
                .unwrap_or_default();
            parent
                .notice(
                    Some(label),
                    format!("child run {run_id} started{on} (logs in {dir})"),
                )
                .await
        }
        _ => {}
    }
}

/// The outputs a finished child exposes.
fn outputs(summary: &RunSummary) -> Value {
    let map: serde_json::Map<String, Value> = summary
        .steps
        .iter()
        .filter_map(|s| s.output.clone())
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Value::Object(map)
}

fn child_ok(summary: &RunSummary) -> bool {
    matches!(
        summary.status,
        RunStatus::Succeeded | RunStatus::PartiallySucceeded
    )
}

/// `action: dag.run` without `parallel`: one child.
pub(crate) async fn dag_run(
    ctx: &RunCtx,
    cancel: &Cancel,
    index: usize,
    step: &Step,
    d: &DagRun,
    scope: &Scope,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let child = target(ctx, d, scope)?;
    let run_id = record::safe_name(&format!("{}.{}", ctx.engine.run_id, step.id));
    let engine = ChildEngine::Parent;
    ctx.update(|r| {
        r.steps[index].children = vec![ChildRun {
            run_id: run_id.clone(),
            workflow: child.name.clone(),
            item: None,
            status: RunStatus::Running,
            engine_name: engine.name(ctx).map(str::to_string),
            engine: engine.url(ctx),
        }]
    });
    let (summary, _) = run_child(
        ctx,
        cancel,
        step,
        None,
        child.clone(),
        params(d, scope),
        run_id,
        step.id.clone(),
        engine,
    )
    .await;
    ctx.update(|r| r.steps[index].children[0].status = summary.status);
    let doc = json!({
        "run_id": summary.run_id,
        "dag": child.name,
        "status": summary.status.as_str(),
        "outputs": outputs(&summary),
    });
    out.write(OutputStream::Stdout, format!("{doc}\n").into())
        .await
        .map_err(|e| StepFailure::message(format!("cannot write the step's log: {e}")))?;
    if summary.status == RunStatus::Cancelled {
        return Err(StepFailure::interrupted());
    }
    if child_ok(&summary) {
        Ok(0)
    } else {
        Err(StepFailure::message(format!(
            "sub-workflow {} failed (run {}){}",
            child.name,
            summary.run_id,
            summary
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )))
    }
}

/// The items of a `parallel:` step.
fn items(p: &Parallel, scope: &Scope) -> Result<Vec<Value>, StepFailure> {
    let items = match &p.items {
        ParallelItems::List(v) => v.clone(),
        ParallelItems::Variable(t) => {
            let text = t.expand(scope, Escapes::Literal);
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(v)) => v,
                Ok(other) => {
                    return Err(StepFailure::message(format!(
                        "parallel.items: {} must hold a JSON array, but holds {other}",
                        t.raw
                    )))
                }
                Err(e) => {
                    return Err(StepFailure::message(format!(
                        "parallel.items: {} must hold a JSON array ({e}): {text:?}",
                        t.raw
                    )))
                }
            }
        }
    };
    if items.len() > MAX_PARALLEL_ITEMS {
        return Err(StepFailure::message(format!(
            "parallel.items: {} items, more than the maximum of {MAX_PARALLEL_ITEMS}",
            items.len()
        )));
    }
    Ok(items)
}

/// `parallel:` with `dag.run`: one child per item, at most `max_concurrent` at once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn parallel(
    ctx: &RunCtx,
    cancel: &Cancel,
    index: usize,
    step: &Step,
    d: &DagRun,
    p: &Parallel,
    scope: &Scope,
    out: &mut StepOutput,
) -> Result<i64, StepFailure> {
    let child = target(ctx, d, scope)?;
    let items = items(p, scope)?;
    let total = items.len();
    let ids: Vec<String> = (0..total)
        .map(|n| record::safe_name(&format!("{}.{}.{n}", ctx.engine.run_id, step.id)))
        .collect();
    ctx.update(|r| {
        r.steps[index].children = items
            .iter()
            .zip(&ids)
            .map(|(item, id)| ChildRun {
                run_id: id.clone(),
                workflow: child.name.clone(),
                item: Some(item.clone()),
                status: RunStatus::Running,
                engine_name: None,
                engine: None,
            })
            .collect()
    });
    let limit = p.max_concurrent.max(1) as usize;
    let mut pending = items.iter().cloned().enumerate();
    let mut running = FuturesUnordered::new();
    let mut results: Vec<Option<RunSummary>> = vec![None; total];
    // The engine each started item runs on, when engines were named.
    let mut engines: Vec<Option<String>> = vec![None; total];
    loop {
        while running.len() < limit && !cancel.is_cancelled() {
            let Some((n, item)) = pending.next() else {
                break;
            };
            let mut item_scope = scope.clone();
            item_scope.set_item(item);
            let params = params(d, &item_scope);
            let child = child.clone();
            let id = ids[n].clone();
            let label = format!("{}[{n}]", step.id);
            // Taken as the child starts, so that least-busy sees the children running now.
            let engine = ChildEngine::for_item(ctx);
            if let ChildEngine::Leased(_) = engine {
                let (name, url) = (engine.name(ctx).map(str::to_string), engine.url(ctx));
                engines[n].clone_from(&name);
                ctx.update(|r| {
                    let c = &mut r.steps[index].children[n];
                    c.engine_name = name;
                    c.engine = url;
                });
            }
            running.push(async move {
                (
                    n,
                    run_child(ctx, cancel, step, Some(n), child, params, id, label, engine).await,
                )
            });
        }
        let Some((n, (summary, ran_on))) = running.next().await else {
            break;
        };
        // The engine it ended on (another than it started on when its first did not answer).
        if let Some((name, url)) = ran_on {
            engines[n] = Some(name.clone());
            ctx.update(|r| {
                let c = &mut r.steps[index].children[n];
                c.engine_name = Some(name);
                c.engine = url;
            });
        }
        ctx.update(|r| r.steps[index].children[n].status = summary.status);
        results[n] = Some(summary);
    }
    // Items never started (the run was stopped first) are recorded as cancelled.
    ctx.update(|r| {
        for (n, result) in results.iter().enumerate() {
            if result.is_none() {
                r.steps[index].children[n].status = RunStatus::Cancelled;
            }
        }
    });
    let mut per_item = Vec::with_capacity(total);
    let mut all_outputs = Vec::with_capacity(total);
    let (mut succeeded, mut failed) = (0, Vec::new());
    for (n, (item, result)) in items.iter().zip(&results).enumerate() {
        let (status, run_id, outs) = match result {
            Some(s) => (s.status.as_str(), s.run_id.clone(), outputs(s)),
            None => ("not started", ids[n].clone(), json!({})),
        };
        if result.as_ref().is_some_and(child_ok) {
            succeeded += 1;
        } else {
            let on = engines[n]
                .as_ref()
                .map(|e| format!(" on {e}"))
                .unwrap_or_default();
            failed.push(format!("item {n} ({run_id}{on}: {status})"));
        }
        let mut entry = json!({
            "index": n,
            "item": item,
            "run_id": run_id,
            "status": status,
            "outputs": outs,
        });
        if let Some(e) = &engines[n] {
            entry["engine"] = json!(e);
        }
        per_item.push(entry);
        all_outputs.push(outs);
    }
    let doc = json!({
        "summary": { "total": total, "succeeded": succeeded, "failed": failed.len() },
        "results": per_item,
        "outputs": all_outputs,
    });
    out.write(OutputStream::Stdout, format!("{doc}\n").into())
        .await
        .map_err(|e| StepFailure::message(format!("cannot write the step's log: {e}")))?;
    if cancel.is_cancelled() {
        return Err(StepFailure::interrupted());
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(StepFailure::message(format!(
            "parallel execution failed: {} sub dag(s) failed: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}
