//! `tug dry FILE`: the plan — the order of the steps, where each runs — and the Engine API
//! requests each would make, with the JSON body of every create and exec request. Contacts no
//! engine. With `--engine`, also which engine runs what.

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;

use executor::run::EnginePool;
use executor::workflow::{EngineCall, LoadOptions, Plan, ProcessHost, Workflow};
use serde_json::Value;

use crate::bodies::{self, Bodies};
use crate::engine_flag::EngineArgs;
use crate::exit;
use crate::style::{Paint, Stream};
use crate::workflow::{load_to_run, parse_params, print_load_error, print_warnings};

/// `tug dry FILE [-- K=V …]`.
pub fn dry(
    file: &Path,
    params: &[String],
    with_bodies: bool,
    engines: &EngineArgs,
    context: Option<&str>,
) -> anyhow::Result<u8> {
    let pool = match engines.pool(context, |k| std::env::var(k).ok()) {
        Ok(p) => p,
        Err(e) => {
            crate::report::message(&e);
            return Ok(exit::USAGE);
        }
    };
    let params = match parse_params(params) {
        Ok(p) => p,
        Err(e) => {
            crate::report::error(&e);
            return Ok(exit::USAGE);
        }
    };
    let options = LoadOptions {
        params,
        ..LoadOptions::default()
    };
    let loaded = match load_to_run(file, &options) {
        Ok(l) => l,
        Err(e) => {
            print_load_error(&e);
            return Ok(exit::USAGE);
        }
    };
    print_warnings(&loaded.warnings);
    let wf = &loaded.workflow;
    let b = if with_bodies {
        bodies::of(wf, &ProcessHost)
    } else {
        Bodies::default()
    };
    let p = Paint::for_stream(Stream::Stdout);
    out!("{}", render(wf, &wf.plan(), &b, p));
    if let Some(pool) = &pool {
        out!("{}", render_engines(wf, pool, p));
    }
    Ok(exit::SUCCESS)
}

/// The engines of a run and what runs where.
fn render_engines(wf: &Workflow, pool: &EnginePool, p: Paint) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", p.bold("engines:"));
    let name_w = pool
        .engines()
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    for (n, e) in pool.engines().iter().enumerate() {
        let what = if n == 0 {
            "  (the run's own steps)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {:<name_w$}  {} {}{}",
            e.name,
            e.endpoint.runtime,
            e.endpoint.url,
            p.dim(what)
        );
    }
    let names: Vec<&str> = pool.engines().iter().map(|e| e.name.as_str()).collect();
    for step in wf.steps.iter().filter(|s| s.parallel.is_some()) {
        let _ = writeln!(
            s,
            "  step {}: parallel children spread {} over {}",
            step.id,
            pool.spread().as_str(),
            names.join(", ")
        );
    }
    s
}

fn call_line(s: &mut String, p: Paint, call: &EngineCall) {
    let _ = writeln!(
        s,
        "    {} {}  {}",
        p.bold(&format!("{:<6}", call.method)),
        call.path,
        p.dim(&format!("({})", call.purpose))
    );
}

fn body(s: &mut String, p: Paint, v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    for line in text.lines() {
        let _ = writeln!(s, "{}", p.dim(&format!("      {line}")));
    }
}

fn is_create(call: &EngineCall) -> bool {
    call.method == "POST" && call.path.starts_with("/containers/create")
}

fn is_exec_create(call: &EngineCall) -> bool {
    call.method == "POST" && call.path.ends_with("/exec") && call.path.starts_with("/containers/")
}

/// The plan as text, bodies under their requests.
pub fn render(wf: &Workflow, plan: &Plan, b: &Bodies, p: Paint) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} ({})",
        p.bold("workflow:"),
        plan.workflow,
        crate::human::count(plan.steps.len(), "step")
    );
    if !plan.setup.is_empty() {
        let _ = writeln!(s, "{}", p.bold("setup (DAG-level container):"));
        for call in &plan.setup {
            call_line(&mut s, p, call);
            if let (true, Some(v)) = (is_create(call), &b.setup) {
                body(&mut s, p, v);
            }
        }
    }
    for (n, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(s, "{} {}", p.bold(&format!("step {}:", n + 1)), step.id);
        if let Some(d) = wf
            .steps
            .get(step.index)
            .and_then(|st| st.description.as_deref())
        {
            let _ = writeln!(s, "  {}", p.dim(d));
        }
        if !step.depends.is_empty() {
            let _ = writeln!(s, "  after:  {}", step.depends.join(", "));
        }
        let _ = writeln!(s, "  runs:   {}", step.target);
        let sb = b.steps.get(step.index);
        let mut exec_n = 0;
        for call in &step.calls {
            call_line(&mut s, p, call);
            let Some(sb) = sb else { continue };
            if is_create(call) {
                if let Some(v) = &sb.create {
                    body(&mut s, p, v);
                }
            } else if is_exec_create(call) {
                if let Some(v) = sb.execs.get(exec_n) {
                    body(&mut s, p, v);
                }
                exec_n += 1;
            }
        }
    }
    if !plan.teardown.is_empty() {
        let _ = writeln!(s, "{}", p.bold("teardown:"));
        for call in &plan.teardown {
            call_line(&mut s, p, call);
        }
    }
    s
}
