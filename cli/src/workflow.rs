//! `tug validate` and `tug dry`: check workflow files and show what a run would do, without
//! contacting an engine.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::path::PathBuf;

use executor::workflow::{load_file, LoadError, LoadOptions, Plan};

use crate::exit;

/// Parses `K=V` parameters given after `--` or with `-p 'K=V …'`.
pub fn parse_params(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in pairs {
        for word in pair.split_whitespace() {
            let Some((k, v)) = word.split_once('=') else {
                anyhow::bail!("invalid parameter {word:?}: expected NAME=VALUE");
            };
            out.push((k.to_string(), v.to_string()));
        }
    }
    Ok(out)
}

/// `tug validate FILE…`: every file is checked; all diagnostics are printed.
pub fn validate(files: &[PathBuf]) -> anyhow::Result<u8> {
    let mut failed = 0;
    for file in files {
        match load_file(file, &LoadOptions::default()) {
            Ok(loaded) => {
                if !loaded.warnings.is_empty() {
                    eprint!("{}", loaded.warnings.render());
                }
                let steps = loaded.workflow.plan().steps.len();
                println!(
                    "{}: valid ({steps} step{})",
                    file.display(),
                    if steps == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                failed += 1;
                print_load_error(&e);
            }
        }
    }
    Ok(if failed == 0 {
        exit::SUCCESS
    } else {
        exit::USAGE
    })
}

pub fn print_load_error(e: &LoadError) {
    match e.diagnostics() {
        Some(d) => eprint!("{}", d.render()),
        None => crate::report::error(&anyhow::Error::new(ErrorChain(
            e.to_string(),
            e.source_text(),
        ))),
    }
}

/// A load error's text and its cause, for the common error printer.
#[derive(Debug)]
struct ErrorChain(String, Option<String>);

impl std::fmt::Display for ErrorChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.1 {
            Some(cause) => write!(f, "{}: {cause}", self.0),
            None => f.write_str(&self.0),
        }
    }
}

impl std::error::Error for ErrorChain {}

trait SourceText {
    fn source_text(&self) -> Option<String>;
}

impl SourceText for LoadError {
    fn source_text(&self) -> Option<String> {
        std::error::Error::source(self).map(|s| s.to_string())
    }
}

/// `tug dry FILE [-- K=V …]`: the plan and the Engine API requests each step would make.
pub fn dry(file: &std::path::Path, params: &[String]) -> anyhow::Result<u8> {
    let options = LoadOptions {
        params: parse_params(params)?,
        ..LoadOptions::default()
    };
    let loaded = match load_file(file, &options) {
        Ok(l) => l,
        Err(e) => {
            print_load_error(&e);
            return Ok(exit::USAGE);
        }
    };
    if !loaded.warnings.is_empty() {
        eprint!("{}", loaded.warnings.render());
    }
    print!("{}", render_plan(&loaded.workflow.plan()));
    Ok(exit::SUCCESS)
}

/// The plan as text.
pub fn render_plan(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "workflow: {}", plan.workflow);
    if !plan.setup.is_empty() {
        let _ = writeln!(s, "setup (DAG-level container):");
        for call in &plan.setup {
            let _ = writeln!(s, "    {call}");
        }
    }
    for (n, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(s, "step {}: {}", n + 1, step.id);
        if !step.depends.is_empty() {
            let _ = writeln!(s, "  after:  {}", step.depends.join(", "));
        }
        let _ = writeln!(s, "  runs:   {}", step.target);
        for call in &step.calls {
            let _ = writeln!(s, "    {call}");
        }
    }
    if !plan.teardown.is_empty() {
        let _ = writeln!(s, "teardown:");
        for call in &plan.teardown {
            let _ = writeln!(s, "    {call}");
        }
    }
    s
}
