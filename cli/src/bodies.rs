//! The JSON bodies `tug dry` shows under its create and exec requests, built from the same
//! resolved settings and with the runner's own `create_body`, without an engine. What the
//! runner adds around it (labels, the keep-alive entrypoint, `Cmd` from `run`, exec settings)
//! is mirrored here.
//!
//! What only a run knows is shown as a placeholder: `{run-id}` and `{pid}` in labels and exec
//! tokens, and `${VAR}` for a step output a later step uses. The keep-alive helper of a
//! DAG-level container is shown as the runner uses it when a helper fits the image's
//! architecture (otherwise the runner falls back to a shell loop).

use engine_api::containers::{ContainerCreate, RestartPolicy as ApiRestart};
use engine_api::exec::ExecCreate;
use executor::run::{
    apply_exec_options, create_body, health, keepalive, LABEL_HOST, LABEL_KEEP, LABEL_MACHINE,
    LABEL_PID, LABEL_RUN, LABEL_STEP, LABEL_WORKFLOW,
};
use executor::workflow::{
    command_argv, expand_env, merge_env, resolve_volume, Action, Container, Escapes, Host,
    ImageContainer, ResolvedImage, Run, Scope, Shell, Startup, Step, Text, Workflow,
};
use serde_json::{json, Value};

/// Placeholder for the run id.
const RUN_ID: &str = "{run-id}";
/// Placeholder for tug's process id.
const PID: &str = "{pid}";
/// Placeholder for the host name of tug's machine.
const HOST: &str = "{host}";
/// Placeholder for tug's machine id and PID namespace.
const MACHINE: &str = "{machine}";

/// The bodies of one step's requests.
#[derive(Debug, Default)]
pub struct StepBodies {
    /// `POST /containers/create`, when the step creates a container.
    pub create: Option<Value>,
    /// `POST /containers/{id}/exec`, one per command.
    pub execs: Vec<Value>,
}

impl StepBodies {
    fn for_each_body(&mut self, mut f: impl FnMut(&mut Value)) {
        if let Some(c) = &mut self.create {
            f(c);
        }
        self.execs.iter_mut().for_each(f);
    }
}

/// The bodies of a whole plan.
#[derive(Debug, Default)]
pub struct Bodies {
    /// The DAG-level container's create request.
    pub setup: Option<Value>,
    /// Per step, by index into `Workflow::steps`.
    pub steps: Vec<StepBodies>,
}

/// Builds the bodies of every request of `wf` that has one.
pub fn of(wf: &Workflow, host: &dyn Host) -> Bodies {
    let shared = match &wf.container {
        Some(Container::Image(spec)) => Some(resolve(spec, wf, host, &[])),
        _ => None,
    };
    let setup = match (&wf.container, &shared) {
        (Some(Container::Image(spec)), Some(r)) => Some(match r {
            Ok(r) => dag_create(wf, spec, r),
            Err(e) => unknown(e),
        }),
        _ => None,
    };
    let mut steps: Vec<StepBodies> = wf
        .steps
        .iter()
        .map(|s| step_bodies(wf, s, host, shared.as_ref().and_then(|r| r.as_ref().ok())))
        .collect();
    let mut setup = setup;
    // Secrets never reach the screen: env values named like secrets are redacted.
    if let Some(v) = &mut setup {
        redact(v);
    }
    for s in &mut steps {
        s.for_each_body(redact);
    }
    Bodies { setup, steps }
}

/// Replaces the values of secret-named entries in every `Env` list of a request body.
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match child {
                    Value::Array(items) if k.eq_ignore_ascii_case("env") => {
                        for item in items.iter_mut() {
                            if let Value::String(s) = item {
                                *s = executor::redact::env_entry(s);
                            }
                        }
                    }
                    _ => redact(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn unknown(why: &str) -> Value {
    json!({ "(known only at run time)": why })
}

fn resolve(
    spec: &ImageContainer,
    wf: &Workflow,
    host: &dyn Host,
    step_env: &[(String, String)],
) -> Result<ResolvedImage, String> {
    spec.resolve(&wf.scope, host, &wf.working_dir, step_env)
        .map_err(|d| {
            d.iter()
                .map(|x| x.message().to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

fn labels(c: &mut ContainerCreate, wf: &Workflow, step: &str, keep: bool) {
    for (k, v) in [
        (LABEL_RUN, RUN_ID),
        (LABEL_WORKFLOW, wf.name.as_str()),
        (LABEL_STEP, step),
        (LABEL_PID, PID),
        (LABEL_HOST, HOST),
        (LABEL_MACHINE, MACHINE),
    ] {
        c.config.labels.insert(k.to_string(), v.to_string());
    }
    if keep {
        c.config
            .labels
            .insert(LABEL_KEEP.to_string(), "1".to_string());
    }
}

fn dag_create(wf: &Workflow, spec: &ImageContainer, r: &ResolvedImage) -> Value {
    let mut c = create_body(r);
    labels(&mut c, wf, "", spec.keep_container);
    c.host_config.init = Some(true);
    if let Some(h) = &spec.healthcheck {
        c.config.healthcheck = Some(health(h));
    }
    if let Some(p) = spec.restart_policy {
        c.host_config.restart_policy = Some(ApiRestart::named(p.name()));
    }
    match spec.startup {
        Startup::Keepalive => {
            c.config.entrypoint = Some(vec![keepalive::HELPER_PATH.to_string()]);
            c.config.cmd = Some(vec![]);
        }
        Startup::Entrypoint => {
            if let Some(cmd) = &r.command {
                c.config.cmd = Some(cmd.clone());
            }
        }
        Startup::Command => c.config.cmd = r.command.clone(),
        _ => {}
    }
    c.body()
}

/// The command lines of a step.
fn commands(step: &Step) -> Vec<&Text> {
    match &step.run {
        Run::Command(t) | Run::Script(t) => vec![t],
        Run::Commands(list) => list.iter().collect(),
        _ => Vec::new(),
    }
}

/// argv of one command line, as the runner builds it (the same function).
fn argv(text: &Text, scope: &Scope, shell: Option<&Shell>) -> Vec<String> {
    command_argv(text, scope, shell).unwrap_or_else(|_| vec![text.expand(scope, Escapes::Literal)])
}

fn exec_body(
    step: &Step,
    argv: Vec<String>,
    env: Vec<String>,
    user: Option<String>,
    wd: Option<String>,
) -> Value {
    serde_json::to_value(exec_create(step, argv, env, user, wd)).unwrap_or(Value::Null)
}

/// The exec the runner creates for `argv` (before any `with.exec` options).
fn exec_create(
    step: &Step,
    argv: Vec<String>,
    env: Vec<String>,
    user: Option<String>,
    wd: Option<String>,
) -> ExecCreate {
    let mut e = ExecCreate::new(argv);
    e.env = env;
    e.env.push(format!("TUG_EXEC_ID={RUN_ID}-{}", step.id));
    e.user = user;
    e.working_dir = wd;
    e
}

fn pairs(env: &[(String, String)]) -> Vec<String> {
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn step_bodies(
    wf: &Workflow,
    step: &Step,
    host: &dyn Host,
    shared: Option<&ResolvedImage>,
) -> StepBodies {
    let scope = &wf.scope;
    let step_env = expand_env(&step.env, scope);
    let lines = commands(step);
    let mut out = StepBodies::default();
    match &step.action {
        Action::DockerRun(d) => {
            let lit = |t: &Text| t.expand(scope, Escapes::Literal);
            let cmd = d.argv(lines.first().copied(), scope).unwrap_or_else(|_| {
                lines
                    .first()
                    .map(|t| vec![t.expand(scope, Escapes::Literal)])
            });
            match &d.image {
                Some(image) => {
                    let mut c = ContainerCreate::new(lit(image));
                    c.name = d.container_name.as_ref().map(lit);
                    c.platform = d.platform.as_ref().map(lit);
                    c.config.cmd = cmd;
                    c.config.working_dir = d.working_dir.as_ref().map(lit);
                    c.config.env = pairs(&step_env);
                    for v in &d.volumes {
                        if let Ok(m) = resolve_volume(v, scope, host, &wf.working_dir) {
                            c.host_config.binds.push(m.to_bind());
                        }
                    }
                    c.extra_config = d.container.clone();
                    let mut h = d.host.clone();
                    h.retain(|k, _| !k.eq_ignore_ascii_case("AutoRemove"));
                    c.extra_host_config = h;
                    if let Some(Value::Object(eps)) = d
                        .network
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("EndpointsConfig"))
                        .map(|(_, v)| v)
                    {
                        for (k, v) in eps {
                            c.endpoints.insert(k.clone(), v.clone());
                        }
                    }
                    labels(&mut c, wf, &step.id, !d.auto_remove);
                    c.config.attach_stdout = true;
                    c.config.attach_stderr = true;
                    out.create = Some(c.body());
                }
                None => {
                    if let Some(cmd) = cmd {
                        let mut e = exec_create(
                            step,
                            cmd,
                            pairs(&step_env),
                            None,
                            d.working_dir.as_ref().map(lit),
                        );
                        apply_exec_options(&mut e, &d.exec);
                        out.execs
                            .push(serde_json::to_value(&e).unwrap_or(Value::Null));
                    }
                }
            }
        }
        Action::Command => match step.container.as_ref().or(wf.container.as_ref()) {
            None => {}
            Some(Container::Exec(e)) => {
                let env = pairs(&merge_env(&step_env, &expand_env(&e.env, scope)));
                let user = e.user.as_ref().map(|t| t.expand(scope, Escapes::Literal));
                let wd = e
                    .working_dir
                    .as_ref()
                    .map(|t| t.expand(scope, Escapes::Literal));
                for line in &lines {
                    out.execs.push(exec_body(
                        step,
                        argv(line, scope, e.shell.as_ref()),
                        env.clone(),
                        user.clone(),
                        wd.clone(),
                    ));
                }
            }
            Some(Container::Image(spec)) if step.container.is_none() => {
                let Some(r) = shared else { return out };
                let env: Vec<String> = step_env
                    .iter()
                    .filter(|(k, _)| !r.env.iter().any(|(ck, _)| ck == k))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                for line in &lines {
                    out.execs.push(exec_body(
                        step,
                        argv(line, scope, spec.shell.as_ref()),
                        env.clone(),
                        r.user.clone(),
                        r.working_dir.clone(),
                    ));
                }
            }
            Some(Container::Image(spec)) => {
                let r = match resolve(spec, wf, host, &step_env) {
                    Ok(r) => r,
                    Err(e) => {
                        out.create = Some(unknown(&e));
                        return out;
                    }
                };
                let mut c = create_body(&r);
                if let Some(h) = &spec.healthcheck {
                    c.config.healthcheck = Some(health(h));
                }
                labels(&mut c, wf, &step.id, false);
                match lines.as_slice() {
                    [] => {
                        if let Some(cmd) = &r.command {
                            c.config.cmd = Some(cmd.clone());
                        }
                        c.config.attach_stdout = true;
                        c.config.attach_stderr = true;
                    }
                    [one] => {
                        c.config.cmd = Some(argv(one, scope, spec.shell.as_ref()));
                        c.config.attach_stdout = true;
                        c.config.attach_stderr = true;
                    }
                    many => {
                        c.config.entrypoint = Some(vec![keepalive::HELPER_PATH.to_string()]);
                        c.config.cmd = Some(vec![]);
                        c.host_config.init = Some(true);
                        for line in many {
                            out.execs.push(exec_body(
                                step,
                                argv(line, scope, spec.shell.as_ref()),
                                Vec::new(),
                                c.config.user.clone(),
                                c.config.working_dir.clone(),
                            ));
                        }
                    }
                }
                out.create = Some(c.body());
            }
            Some(_) => {}
        },
        _ => {}
    }
    out
}
