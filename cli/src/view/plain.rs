//! Plain output, for pipes, files and CI logs: one line per thing that happened, each with the
//! time and the step it concerns, no cursor movement and no control characters (colour only
//! when stdout is a terminal and colour is allowed).
//!
//! ```text
//! 15:59:08.123 tug   | running hello (run 20261124-155908-63fa44, logs in /…/runs/hello/…)
//! 15:59:08.200 write | started
//! 15:59:08.301 write | hello from the shared container
//! 15:59:08.420 write | succeeded in 0.2s
//! ```

#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use executor::run::{Event, StepStatus};

use super::lines::Lines;
use super::{owner, View};
use crate::human;
use crate::style::{sanitize, Paint, Stream};

/// The plain renderer.
#[derive(Debug)]
pub struct PlainView {
    steps: Vec<String>,
    quiet: bool,
    paint: Paint,
    width: usize,
    lines: Lines,
    started: HashMap<String, Instant>,
    pulling: HashMap<String, String>,
    colors: HashMap<String, usize>,
}

impl PlainView {
    /// A view of a run of the steps `steps` (ids in file order).
    pub fn new(steps: Vec<String>, quiet: bool) -> PlainView {
        let width = steps
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(3, 24);
        PlainView {
            steps,
            quiet,
            paint: Paint::for_stream(Stream::Stdout),
            width,
            lines: Lines::default(),
            started: HashMap::new(),
            pulling: HashMap::new(),
            colors: HashMap::new(),
        }
    }

    /// Child-run output shares its step's colour; other names get colours of their own.
    fn color_of(&mut self, who: &str) -> usize {
        if let Some(i) = owner(&self.steps, who) {
            return i;
        }
        let next = self.steps.len() + self.colors.len();
        *self.colors.entry(who.to_string()).or_insert(next)
    }

    fn line(&mut self, who: &str, text: &str) {
        // Names of child-run steps may be longer: widen once, keep the columns aligned after.
        self.width = self.width.max(who.chars().count().min(40));
        let color = self.color_of(who);
        let name = format!("{who:<w$} |", w = self.width);
        let prefix = if who == "tug" {
            self.paint.bold(&name)
        } else {
            self.paint.step(color, &name)
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{} {prefix} {text}", self.paint.dim(&human::clock()));
    }

    fn output_line(&mut self, who: &str, text: &str) {
        let clean = sanitize(text, false);
        self.line(who, &clean);
    }
}

impl View for PlainView {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                run_id,
                workflow,
                dir,
            } => {
                let text = format!("running {workflow} (run {run_id}, logs in {dir})");
                self.line("tug", &text);
            }
            Event::Step {
                step,
                status,
                exit_code,
                error,
            } => {
                for (who, _, text) in self.lines.flush_step(step) {
                    if !self.quiet {
                        self.output_line(&who, &text);
                    }
                }
                let took = self
                    .started
                    .get(step)
                    .map(|t| format!(" in {}", human::duration(t.elapsed())))
                    .unwrap_or_default();
                let code = exit_code
                    .filter(|_| *status != StepStatus::Succeeded)
                    .map(|c| format!(" (exit code {c})"))
                    .unwrap_or_default();
                let text = match status {
                    StepStatus::Running => {
                        self.started.insert(step.clone(), Instant::now());
                        "started".to_string()
                    }
                    StepStatus::Succeeded => self.paint.green(&format!("succeeded{took}")),
                    StepStatus::Failed => {
                        let first = error
                            .as_deref()
                            .map(|e| super::super::summary::split_error(e).0)
                            .and_then(|m| m.lines().next())
                            .filter(|m| !m.starts_with("exit status"))
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default();
                        self.paint.red(&format!("failed{code}{took}{first}"))
                    }
                    StepStatus::Skipped => {
                        let why = error
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default();
                        self.paint.dim(&format!("skipped{why}"))
                    }
                    StepStatus::Cancelled => self.paint.yellow(&format!("cancelled{took}")),
                    other => other.as_str().to_string(),
                };
                self.line(step, &text);
            }
            Event::Output { step, stream, data } => {
                let lines = self.lines.push(step, *stream, data);
                if !self.quiet {
                    for l in lines {
                        self.output_line(step, &l);
                    }
                }
            }
            Event::Pull {
                step,
                image,
                status,
                ..
            } => {
                let who = step.clone().unwrap_or_else(|| "tug".into());
                if self.pulling.get(&who) != Some(image) {
                    self.pulling.insert(who.clone(), image.clone());
                    self.line(&who, &format!("pulling {image}"));
                }
                if let Some(result) = status.strip_prefix("Status: ") {
                    self.line(&who, result);
                }
            }
            Event::Notice { step, message } => {
                let who = step.clone().unwrap_or_else(|| "tug".into());
                for l in message.lines() {
                    self.line(&who, &sanitize(l, false));
                }
            }
            Event::RunFinished { .. } => self.finish(),
            _ => {}
        }
    }

    fn interrupted(&mut self, _kill: bool, message: &str) {
        let text = self.paint.yellow(message);
        self.line("tug", &text);
    }

    fn finish(&mut self) {
        for (who, _, text) in self.lines.flush_all() {
            if !self.quiet {
                self.output_line(&who, &text);
            }
        }
    }
}
