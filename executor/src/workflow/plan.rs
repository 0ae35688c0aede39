//! The plan: steps in dependency order, where each one runs, and the Engine API calls it will
//! make. `tug validate` and `tug dry` print it; the runner follows the same targets.

use std::fmt;

use super::expand::{Escapes, Scope};
use super::model::{
    Action, Container, DagRun, ParallelItems, PullPolicy, Run, Startup, Step, SubWorkflowRef, Text,
    WaitFor, Workflow,
};

/// Where a step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A local process on the host.
    Host,
    /// By exec in the DAG-level container shared by the run.
    SharedContainer {
        /// Its image (as far as known before the run).
        image: String,
    },
    /// In the DAG-level container, which is an existing container named `container`.
    SharedExec {
        /// The container's name.
        container: String,
    },
    /// In a fresh container of its own, created from `image`.
    Image {
        /// The image.
        image: String,
        /// The name given to the container, if any.
        name: Option<String>,
    },
    /// By exec in an existing container.
    Exec {
        /// The container's name or id.
        container: String,
    },
    /// As a sub-workflow run (once, or once per `parallel` item).
    SubWorkflow {
        /// The sub-workflow's name or file.
        dag: String,
        /// Number of items when known before the run; `None` for a `${VAR}` list.
        items: Option<usize>,
        /// `parallel.max_concurrent`, when fanning out.
        max_concurrent: Option<u32>,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Host => f.write_str("host"),
            Target::SharedContainer { image } => write!(f, "shared DAG-level container ({image})"),
            Target::SharedExec { container } => {
                write!(f, "exec in existing container `{container}` (DAG level)")
            }
            Target::Image { image, name: None } => write!(f, "new container from {image}"),
            Target::Image {
                image,
                name: Some(n),
            } => write!(f, "new container `{n}` from {image}"),
            Target::Exec { container } => write!(f, "exec in existing container `{container}`"),
            Target::SubWorkflow {
                dag,
                items: None,
                max_concurrent: None,
            } => write!(f, "sub-workflow `{dag}`"),
            Target::SubWorkflow {
                dag,
                items,
                max_concurrent,
            } => {
                let n = items.map(|n| n.to_string()).unwrap_or_else(|| "N".into());
                write!(
                    f,
                    "sub-workflow `{dag}` × {n} items, at most {} at once",
                    max_concurrent.unwrap_or(1)
                )
            }
        }
    }
}

/// One Engine API request, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineCall {
    /// HTTP method.
    pub method: &'static str,
    /// Path and query, with `{id}` for ids known only at run time.
    pub path: String,
    /// Why.
    pub purpose: String,
}

impl EngineCall {
    fn new(method: &'static str, path: impl Into<String>, purpose: impl Into<String>) -> Self {
        EngineCall {
            method,
            path: path.into(),
            purpose: purpose.into(),
        }
    }
}

impl fmt::Display for EngineCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<6} {}  ({})", self.method, self.path, self.purpose)
    }
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    /// Index into [`Workflow::steps`].
    pub index: usize,
    /// The step's id.
    pub id: String,
    /// Ids of the steps it waits for.
    pub depends: Vec<String>,
    /// Where it runs.
    pub target: Target,
    /// The Engine API calls it makes, in order.
    pub calls: Vec<EngineCall>,
}

/// A validated workflow turned into what will happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The workflow's name.
    pub workflow: String,
    /// Calls that start the DAG-level container before the first step.
    pub setup: Vec<EngineCall>,
    /// Steps in an order that respects `depends` (independent steps may overlap).
    pub steps: Vec<PlannedStep>,
    /// Calls that stop and remove the DAG-level container after the last step.
    pub teardown: Vec<EngineCall>,
}

impl Plan {
    /// Plans `workflow`. Cannot fail: validation already rejected cycles and bad targets.
    pub fn new(workflow: &Workflow) -> Plan {
        let scope = &workflow.scope;
        let mut setup = Vec::new();
        let mut teardown = Vec::new();
        match &workflow.container {
            Some(Container::Image(c)) => {
                let image = show(&c.image, scope);
                setup.extend(pull_calls(&image, c.pull_policy));
                let name = c.name.as_ref().map(|n| show(n, scope));
                if let Some(n) = &name {
                    setup.push(EngineCall::new(
                        "GET",
                        format!("/containers/{}/json", enc(n)),
                        "fail if a container with this name exists",
                    ));
                }
                let create = match &name {
                    Some(n) => format!("/containers/create?name={}", enc(n)),
                    None => "/containers/create".into(),
                };
                let cmd = match c.startup {
                    Startup::Keepalive => "keep-alive helper as its command",
                    Startup::Entrypoint => "the image's entrypoint",
                    Startup::Command => "`command`",
                };
                setup.push(EngineCall::new(
                    "POST",
                    create,
                    format!("create the shared container, running {cmd}"),
                ));
                if c.startup == Startup::Keepalive {
                    setup.push(EngineCall::new(
                        "PUT",
                        "/containers/{id}/archive?path=/",
                        "copy in the keep-alive helper",
                    ));
                }
                setup.push(EngineCall::new(
                    "POST",
                    "/containers/{id}/start",
                    "start it",
                ));
                if c.log_pattern.is_some() {
                    setup.push(EngineCall::new(
                        "GET",
                        "/containers/{id}/logs?follow=1&stdout=1&stderr=1",
                        "wait for a log line matching `log_pattern`",
                    ));
                }
                let wait = match c.wait_for {
                    WaitFor::Running => "poll until running",
                    WaitFor::Healthy => "poll until healthy",
                };
                setup.push(EngineCall::new("GET", "/containers/{id}/json", wait));
                teardown.push(EngineCall::new(
                    "POST",
                    "/containers/{id}/stop",
                    "stop the shared container",
                ));
                if !c.keep_container {
                    teardown.push(EngineCall::new(
                        "DELETE",
                        "/containers/{id}?force=1",
                        "remove it",
                    ));
                }
            }
            Some(Container::Exec(e)) => {
                let name = show(&e.container, scope);
                setup.push(EngineCall::new(
                    "GET",
                    format!("/containers/{}/json", enc(&name)),
                    "wait up to 120 s for it to be running",
                ));
            }
            None => {}
        }
        let steps = workflow
            .order
            .iter()
            .map(|&i| plan_step(workflow, &workflow.steps[i], i))
            .collect();
        Plan {
            workflow: workflow.name.clone(),
            setup,
            steps,
            teardown,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "workflow `{}`: {} step(s)",
            self.workflow,
            self.steps.len()
        )?;
        if !self.setup.is_empty() {
            writeln!(f, "  before the first step:")?;
            for c in &self.setup {
                writeln!(f, "    {c}")?;
            }
        }
        for (n, s) in self.steps.iter().enumerate() {
            write!(f, "  {}. {} — {}", n + 1, s.id, s.target)?;
            if !s.depends.is_empty() {
                write!(f, " (after {})", s.depends.join(", "))?;
            }
            writeln!(f)?;
            for c in &s.calls {
                writeln!(f, "    {c}")?;
            }
        }
        if !self.teardown.is_empty() {
            writeln!(f, "  after the last step:")?;
            for c in &self.teardown {
                writeln!(f, "    {c}")?;
            }
        }
        Ok(())
    }
}

/// A text for display: expanded where the static scope knows the names; as written when that
/// gives nothing (a sub-workflow's params are set by its caller).
fn show(t: &Text, scope: &Scope) -> String {
    let v = t.expand(scope, Escapes::Literal);
    if v.trim().is_empty() {
        t.raw.clone()
    } else {
        v
    }
}

/// Minimal escaping for a name in a URL path or query.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'~' | b':' | b'/' | b'$' | b'{' | b'}'
            )
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pull_calls(image: &str, policy: PullPolicy) -> Vec<EngineCall> {
    let pull = EngineCall::new(
        "POST",
        format!("/images/create?fromImage={}", enc(image)),
        "pull the image",
    );
    let inspect = |why: &str| {
        EngineCall::new(
            "GET",
            format!("/images/{}/json", enc(image)),
            why.to_string(),
        )
    };
    match policy {
        PullPolicy::Always => vec![pull],
        PullPolicy::Missing => vec![
            inspect("is the image present?"),
            EngineCall {
                purpose: "pull the image if it is missing".into(),
                ..pull
            },
        ],
        PullPolicy::Never => vec![inspect("the image must be present: pull_policy is never")],
        PullPolicy::Fallback => vec![
            EngineCall {
                purpose: "try to pull the image".into(),
                ..pull
            },
            inspect("if the pull failed, use the local image"),
        ],
    }
}

fn exec_calls(container: &str, commands: usize) -> Vec<EngineCall> {
    let mut calls = Vec::new();
    for k in 0..commands.max(1) {
        let what = if commands > 1 {
            format!(" command {}", k + 1)
        } else {
            String::new()
        };
        calls.push(EngineCall::new(
            "POST",
            format!("/containers/{container}/exec"),
            format!("create exec{what}"),
        ));
        calls.push(EngineCall::new(
            "POST",
            "/exec/{id}/start",
            "run it, streaming output",
        ));
        calls.push(EngineCall::new(
            "GET",
            "/exec/{id}/json",
            "read its exit code",
        ));
    }
    calls
}

fn command_count(step: &Step) -> usize {
    match &step.run {
        Run::Commands(c) => c.len(),
        _ => 1,
    }
}

/// The calls of a step that creates its own container.
fn fresh_container_calls(
    image: &str,
    name: Option<&str>,
    policy: PullPolicy,
    commands: usize,
    remove: bool,
) -> Vec<EngineCall> {
    let mut calls = Vec::new();
    if let Some(n) = name {
        calls.push(EngineCall::new(
            "GET",
            format!("/containers/{}/json", enc(n)),
            "fail if a container with this name exists",
        ));
    }
    calls.extend(pull_calls(image, policy));
    let create = match name {
        Some(n) => format!("/containers/create?name={}", enc(n)),
        None => "/containers/create".into(),
    };
    if commands > 1 {
        calls.push(EngineCall::new(
            "POST",
            create,
            "create the step's container with a keep-alive command",
        ));
        calls.push(EngineCall::new(
            "PUT",
            "/containers/{id}/archive?path=/",
            "copy in the keep-alive helper",
        ));
        calls.push(EngineCall::new(
            "POST",
            "/containers/{id}/start",
            "start it",
        ));
        calls.extend(exec_calls("{id}", commands));
        calls.push(EngineCall::new("POST", "/containers/{id}/stop", "stop it"));
    } else {
        calls.push(EngineCall::new(
            "POST",
            create,
            "create the step's container",
        ));
        calls.push(EngineCall::new(
            "POST",
            "/containers/{id}/attach?stream=1&stdout=1&stderr=1",
            "attach before start, so no output is missed",
        ));
        calls.push(EngineCall::new(
            "POST",
            "/containers/{id}/start",
            "start it",
        ));
        calls.push(EngineCall::new(
            "GET",
            "/containers/{id}/json",
            "read its exit code once its output ends (wait if it is still running)",
        ));
    }
    if remove {
        calls.push(EngineCall::new(
            "DELETE",
            "/containers/{id}?force=1",
            "remove it",
        ));
    }
    calls
}

fn plan_step(wf: &Workflow, step: &Step, index: usize) -> PlannedStep {
    let scope = &wf.scope;
    let depends = step
        .depends
        .iter()
        .map(|&d| wf.steps[d].id.clone())
        .collect();
    let commands = command_count(step);
    let (target, calls) = match &step.action {
        Action::DagRun(DagRun { dag, target, .. }) => {
            let name = match target {
                SubWorkflowRef::Local(n) => n.clone(),
                SubWorkflowRef::File(p) => p.display().to_string(),
                SubWorkflowRef::Deferred(_) => show(dag, scope),
            };
            let (items, max) = match &step.parallel {
                Some(p) => (
                    match &p.items {
                        ParallelItems::List(l) => Some(l.len()),
                        ParallelItems::Variable(_) => None,
                    },
                    Some(p.max_concurrent),
                ),
                None => (None, None),
            };
            (
                Target::SubWorkflow {
                    dag: name,
                    items,
                    max_concurrent: max,
                },
                Vec::new(),
            )
        }
        Action::DockerRun(d) => match (&d.image, &d.container_name) {
            (Some(image), name) => {
                let image = show(image, scope);
                let name = name.as_ref().map(|n| show(n, scope));
                let calls =
                    fresh_container_calls(&image, name.as_deref(), d.pull, commands, d.auto_remove);
                (Target::Image { image, name }, calls)
            }
            (None, Some(name)) => {
                let name = show(name, scope);
                let mut calls = vec![EngineCall::new(
                    "GET",
                    format!("/containers/{}/json", enc(&name)),
                    "wait up to 120 s for it to be running",
                )];
                calls.extend(exec_calls(&enc(&name), commands));
                (Target::Exec { container: name }, calls)
            }
            (None, None) => (Target::Host, Vec::new()),
        },
        Action::Command | Action::HarnessRun(_) => match (&step.container, &wf.container) {
            (Some(Container::Image(c)), _) => {
                let image = show(&c.image, scope);
                let name = c.name.as_ref().map(|n| show(n, scope));
                let calls =
                    fresh_container_calls(&image, name.as_deref(), c.pull_policy, commands, true);
                (Target::Image { image, name }, calls)
            }
            (Some(Container::Exec(e)), _) => {
                let name = show(&e.container, scope);
                let mut calls = vec![EngineCall::new(
                    "GET",
                    format!("/containers/{}/json", enc(&name)),
                    "wait up to 120 s for it to be running",
                )];
                calls.extend(exec_calls(&enc(&name), commands));
                (Target::Exec { container: name }, calls)
            }
            (None, Some(Container::Image(c))) => (
                Target::SharedContainer {
                    image: show(&c.image, scope),
                },
                exec_calls("{id}", commands),
            ),
            (None, Some(Container::Exec(e))) => {
                let name = show(&e.container, scope);
                let calls = exec_calls(&enc(&name), commands);
                (Target::SharedExec { container: name }, calls)
            }
            (None, None) => (Target::Host, Vec::new()),
        },
    };
    PlannedStep {
        index,
        id: step.id.clone(),
        depends,
        target,
        calls,
    }
}

impl Workflow {
    /// The plan of this workflow (see [`Plan::new`]).
    pub fn plan(&self) -> Plan {
        Plan::new(self)
    }
}
