//! The live view of `tug start` on a terminal: one line per step at the bottom of the screen,
//! redrawn in place — pending, pulling (with a progress bar), running (with elapsed time),
//! done, failed — under a header with the run's progress; step output scrolls above it with a
//! coloured `step |` prefix, as `docker compose up` shows its services.
//!
//! ```text
//! build  | compiling…
//! test   | ok 12 tests
//! ⠹ ci · 1/3 steps done · 4.2s · run 20261124-155908-63fa44
//!   ✔ build   succeeded  1.1s
//!   ⠹ test    running    3.1s
//!   · deploy  pending    after test
//! ```
//!
//! With more steps than fit in half the screen, only the active ones get a line, and each step
//! that ends prints one line above. When the run ends the live area is cleared, leaving the
//! output and the summary.

#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use executor::run::{Event, StepStatus};
use executor::workflow::Workflow;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::lines::Lines;
use super::{owner, View};
use crate::human;
use crate::style::{sanitize, Paint, Stream};
use crate::summary::{paint_step, step_mark};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

#[derive(Debug, Clone)]
struct Pull {
    image: String,
    status: String,
    current: Option<u64>,
    total: Option<u64>,
}

#[derive(Debug)]
struct LiveStep {
    id: String,
    status: StepStatus,
    bar: Option<ProgressBar>,
    since: Option<Instant>,
    took: Option<Duration>,
    exit_code: Option<i64>,
    after: Vec<usize>,
    pull: Option<Pull>,
    note: Option<String>,
}

/// Where the lines above the live area go.
enum Sink {
    /// The process's stdout.
    Stdout,
    /// Kept, for tests.
    #[cfg(test)]
    Memory(std::sync::Arc<std::sync::Mutex<Vec<String>>>),
}

/// The live renderer.
pub struct LiveView {
    multi: MultiProgress,
    header: ProgressBar,
    steps: Vec<LiveStep>,
    ids: Vec<String>,
    workflow: String,
    run_id: Option<String>,
    quiet: bool,
    out: Paint,
    err: Paint,
    lines: Lines,
    queued: Vec<String>,
    started: Instant,
    frame: usize,
    compact: bool,
    name_w: usize,
    colors: HashMap<String, usize>,
    stopping: Option<String>,
    dag_pull: Option<Pull>,
    text_style: ProgressStyle,
    pull_style: ProgressStyle,
    tty: super::tty::Quiet,
    sink: Sink,
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView")
            .field("workflow", &self.workflow)
            .field("steps", &self.steps)
            .field("compact", &self.compact)
            .finish_non_exhaustive()
    }
}

impl LiveView {
    /// A live view of `workflow`'s run on stderr; `quiet` hides step output.
    pub fn new(workflow: &Workflow, quiet: bool) -> LiveView {
        let rows = console::Term::stderr().size().0 as usize;
        LiveView::with_target(
            workflow,
            quiet,
            ProgressDrawTarget::stderr_with_hz(20),
            rows,
            Sink::Stdout,
        )
    }

    fn with_target(
        workflow: &Workflow,
        quiet: bool,
        target: ProgressDrawTarget,
        rows: usize,
        sink: Sink,
    ) -> LiveView {
        let multi = MultiProgress::with_draw_target(target);
        let text_style = ProgressStyle::with_template("{wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let pull_style = ProgressStyle::with_template("{prefix} {bar:20.cyan/blue} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("━╸─");
        let n = workflow.steps.len();
        let compact = n + 1 > rows / 2;
        let header = multi.add(ProgressBar::new_spinner().with_style(text_style.clone()));
        let ids: Vec<String> = workflow.steps.iter().map(|s| s.id.clone()).collect();
        let steps = workflow
            .steps
            .iter()
            .map(|s| LiveStep {
                id: s.id.clone(),
                status: StepStatus::Pending,
                bar: (!compact)
                    .then(|| multi.add(ProgressBar::new(1).with_style(text_style.clone()))),
                since: None,
                took: None,
                exit_code: None,
                after: s.depends.clone(),
                pull: None,
                note: None,
            })
            .collect();
        let name_w = ids
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .min(24);
        let mut view = LiveView {
            multi,
            header,
            steps,
            ids,
            workflow: workflow.name.clone(),
            run_id: None,
            quiet,
            out: Paint::for_stream(Stream::Stdout),
            err: Paint::for_stream(Stream::Stderr),
            lines: Lines::default(),
            queued: Vec::new(),
            started: Instant::now(),
            frame: 0,
            compact,
            name_w,
            colors: HashMap::new(),
            stopping: None,
            dag_pull: None,
            text_style,
            pull_style,
            tty: match sink {
                Sink::Stdout => super::tty::Quiet::new(),
                #[cfg(test)]
                Sink::Memory(_) => super::tty::Quiet::none(),
            },
            sink,
        };
        view.redraw();
        view
    }

    fn color_of(&mut self, who: &str) -> usize {
        if let Some(i) = owner(&self.ids, who) {
            return i;
        }
        let next = self.ids.len() + self.colors.len();
        *self.colors.entry(who.to_string()).or_insert(next)
    }

    /// Queues a line for the scrolling area above the live view.
    fn above(&mut self, who: &str, text: &str) {
        self.name_w = self.name_w.max(who.chars().count().min(40));
        let color = self.color_of(who);
        let name = format!("{who:<w$} |", w = self.name_w);
        let prefix = if who == "tug" {
            self.out.bold(&name)
        } else {
            self.out.step(color, &name)
        };
        self.queued.push(format!("{prefix} {text}"));
    }

    fn spinner(&self) -> &'static str {
        SPINNER[self.frame % SPINNER.len()]
    }

    fn step_line(&self, s: &LiveStep) -> String {
        let p = self.err;
        let name = format!("{:<w$}", s.id, w = self.name_w);
        let word = |st: StepStatus| paint_step(p, st, &format!("{:<9}", st.as_str()));
        match s.status {
            StepStatus::Pending => {
                let waiting: Vec<&str> = s
                    .after
                    .iter()
                    .filter(|&&d| !self.steps[d].status.is_final())
                    .map(|&d| self.steps[d].id.as_str())
                    .collect();
                let after = if waiting.is_empty() {
                    String::new()
                } else {
                    format!("  after {}", waiting.join(", "))
                };
                format!(
                    "  {} {name}  {}{}",
                    p.dim("·"),
                    word(s.status),
                    p.dim(&after)
                )
            }
            StepStatus::Running | StepStatus::Pulling => {
                let elapsed = s
                    .since
                    .map(|t| human::duration(t.elapsed()))
                    .unwrap_or_default();
                let note = s
                    .note
                    .as_deref()
                    .map(|n| format!("  {}", p.dim(n)))
                    .unwrap_or_default();
                match &s.pull {
                    Some(pull) => format!(
                        "  {} {name}  {}  {}",
                        p.cyan(self.spinner()),
                        word(StepStatus::Pulling),
                        pull_text(pull)
                    ),
                    None => format!(
                        "  {} {name}  {}  {elapsed}{note}",
                        p.cyan(self.spinner()),
                        word(StepStatus::Running)
                    ),
                }
            }
            st => {
                let code = match (st, s.exit_code) {
                    (StepStatus::Failed, Some(c)) => format!("  exit {c}"),
                    _ => String::new(),
                };
                let took = s
                    .took
                    .map(|d| format!("  {}", human::duration(d)))
                    .unwrap_or_default();
                format!(
                    "  {} {name}  {}{code}{took}",
                    paint_step(p, st, step_mark(st)),
                    word(st)
                )
            }
        }
    }

    fn header_line(&self) -> String {
        let p = self.err;
        let done = self.steps.iter().filter(|s| s.status.is_final()).count();
        let mut text = format!(
            "{} {} · {}/{} steps done · {}",
            p.cyan(self.spinner()),
            p.bold(&self.workflow),
            done,
            self.steps.len(),
            human::duration(self.started.elapsed())
        );
        if let Some(id) = &self.run_id {
            text.push_str(&p.dim(&format!(" · run {id}")));
        }
        if let Some(pull) = &self.dag_pull {
            text.push_str(&format!("  {} {}", p.cyan("pulling"), pull_text(pull)));
        }
        if let Some(s) = &self.stopping {
            text.push_str(&format!("  {}", p.yellow(s)));
        }
        text
    }

    /// Updates every bar's text (drawing is rate-limited by indicatif).
    fn redraw(&mut self) {
        self.header.set_message(self.header_line());
        for i in 0..self.steps.len() {
            let line = self.step_line(&self.steps[i]);
            let s = &self.steps[i];
            let Some(bar) = &s.bar else { continue };
            match s.pull.as_ref().and_then(|p| p.total.map(|t| (p, t))) {
                Some((pull, total)) if !s.status.is_final() => {
                    bar.set_style(self.pull_style.clone());
                    bar.set_length(total.max(1));
                    bar.set_position(pull.current.unwrap_or(0).min(total));
                    bar.set_prefix(format!(
                        "  {} {:<w$}  {}",
                        self.err.cyan(SPINNER[self.frame % SPINNER.len()]),
                        s.id,
                        self.err.cyan("pulling  "),
                        w = self.name_w
                    ));
                    bar.set_message(pull_detail(pull));
                }
                _ => {
                    bar.set_style(self.text_style.clone());
                    bar.set_message(line);
                }
            }
        }
    }

    fn print_queued(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.queued);
        match &self.sink {
            Sink::Stdout => self.multi.suspend(|| {
                let mut out = std::io::stdout().lock();
                for l in &lines {
                    let _ = writeln!(out, "{l}");
                }
                let _ = out.flush();
            }),
            #[cfg(test)]
            Sink::Memory(kept) => kept.lock().unwrap().extend(lines),
        }
    }

    fn output(&mut self, who: &str, text: &str) {
        if !self.quiet {
            let clean = sanitize(text, self.out.enabled());
            self.above(who, &clean);
        }
    }

    fn step_index(&self, name: &str) -> Option<usize> {
        self.ids.iter().position(|s| s == name)
    }

    fn set_status(&mut self, i: usize, status: StepStatus, exit_code: Option<i64>) {
        let s = &mut self.steps[i];
        if status == StepStatus::Running {
            s.since = Some(Instant::now());
            s.took = None;
            if self.compact && s.bar.is_none() {
                let bar = self
                    .multi
                    .add(ProgressBar::new(1).with_style(self.text_style.clone()));
                s.bar = Some(bar);
            }
        }
        s.status = status;
        s.exit_code = exit_code;
        if status.is_final() {
            s.pull = None;
            s.note = None;
            s.took = s.since.map(|t| t.elapsed());
            if self.compact {
                if let Some(bar) = s.bar.take() {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let line = self.step_line(&self.steps[i]);
                self.queued.push(line.trim_start().to_string());
            }
        }
    }
}

fn pull_text(pull: &Pull) -> String {
    format!("{} {}", pull.image, pull_detail(pull))
}

fn pull_detail(pull: &Pull) -> String {
    match (pull.current, pull.total) {
        (Some(c), Some(t)) => format!(
            "{} / {}  {}",
            HumanBytes(c.min(t)),
            HumanBytes(t),
            pull.status
        ),
        _ => pull.status.clone(),
    }
}

impl View for LiveView {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run_id, .. } => self.run_id = Some(run_id.clone()),
            Event::Step {
                step,
                status,
                exit_code,
                ..
            } => {
                for (who, _, text) in self.lines.flush_step(step) {
                    self.output(&who, &text);
                }
                if let Some(i) = self.step_index(step) {
                    self.set_status(i, *status, *exit_code);
                }
            }
            Event::Output { step, stream, data } => {
                for l in self.lines.push(step, *stream, data) {
                    self.output(step, &l);
                }
                if let Some(i) = owner(&self.ids, step) {
                    // Output means the pull (if any) is over.
                    self.steps[i].pull = None;
                }
            }
            Event::Pull {
                step,
                image,
                status,
                current,
                total,
                ..
            } => {
                let done = status.starts_with("Status:") || status.starts_with("Digest:");
                let pull = (!done).then(|| Pull {
                    image: image.clone(),
                    status: status.clone(),
                    current: *current,
                    total: *total,
                });
                match step.as_deref().and_then(|s| owner(&self.ids, s)) {
                    Some(i) => {
                        let keep_bytes = self.steps[i]
                            .pull
                            .as_ref()
                            .filter(|_| current.is_none())
                            .map(|p| (p.current, p.total));
                        self.steps[i].pull = pull.map(|mut p| {
                            if let Some((c, t)) = keep_bytes {
                                p.current = c;
                                p.total = t;
                            }
                            p
                        });
                    }
                    None => self.dag_pull = pull,
                }
            }
            Event::Notice { step, message } => {
                let who = step.clone().unwrap_or_else(|| "tug".into());
                for l in message.lines() {
                    let text = self.out.dim(&sanitize(l, false));
                    self.above(&who, &text);
                }
                if let Some(i) = step.as_deref().and_then(|s| self.step_index(s)) {
                    let first = message.lines().next().unwrap_or("").to_string();
                    self.steps[i].note = Some(first);
                }
            }
            Event::RunFinished { .. } => {
                for (who, _, text) in self.lines.flush_all() {
                    self.output(&who, &text);
                }
            }
            _ => {}
        }
    }

    fn interrupted(&mut self, kill: bool, message: &str) {
        self.stopping = Some(if kill {
            "killing…".to_string()
        } else {
            "stopping… (Ctrl-C again to kill now)".to_string()
        });
        let text = self.out.yellow(message);
        self.above("tug", &text);
        self.flush();
    }

    fn tick(&mut self) {
        self.frame += 1;
        self.redraw();
    }

    fn flush(&mut self) {
        self.print_queued();
        self.redraw();
    }

    fn finish(&mut self) {
        for (who, _, text) in self.lines.flush_all() {
            self.output(&who, &text);
        }
        self.print_queued();
        for s in &mut self.steps {
            if let Some(bar) = s.bar.take() {
                bar.finish_and_clear();
            }
        }
        self.header.finish_and_clear();
        let _ = self.multi.clear();
        self.tty.restore();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use executor::run::{OutputStream, RunStatus};
    use executor::workflow::{load_str, LoadOptions};
    use indicatif::InMemoryTerm;

    use super::*;

    const WORKFLOW: &str = "name: ci\nsteps:\n  - id: build\n    run: make\n  - id: test\n    depends: build\n    run: make test\n";

    fn view(rows: u16) -> (LiveView, InMemoryTerm, Arc<Mutex<Vec<String>>>) {
        let wf = load_str(WORKFLOW, "ci.yaml", &LoadOptions::default())
            .unwrap()
            .workflow;
        let term = InMemoryTerm::new(rows, 80);
        let kept = Arc::new(Mutex::new(Vec::new()));
        let v = LiveView::with_target(
            &wf,
            false,
            ProgressDrawTarget::term_like(Box::new(term.clone())),
            usize::from(rows),
            Sink::Memory(kept.clone()),
        );
        (v, term, kept)
    }

    fn step(id: &str, status: StepStatus, code: Option<i64>) -> Event {
        Event::Step {
            step: id.into(),
            status,
            exit_code: code,
            error: None,
        }
    }

    fn screen(v: &mut LiveView, term: &InMemoryTerm) -> String {
        v.flush();
        // Redraws are rate-limited: tick until the latest state is drawn.
        std::thread::sleep(std::time::Duration::from_millis(60));
        v.tick();
        term.contents()
    }

    #[test]
    fn states_progress_bar_output_and_a_clean_end() {
        let (mut v, term, kept) = view(30);
        v.event(&Event::RunStarted {
            run_id: "r1".into(),
            workflow: "ci".into(),
            dir: "/d".into(),
        });
        let s = screen(&mut v, &term);
        assert!(s.contains("ci · 0/2 steps done"), "{s}");
        assert!(s.contains("run r1"), "{s}");
        assert!(s.contains("· build  pending"), "{s}");
        assert!(s.contains("· test   pending    after build"), "{s}");

        v.event(&step("build", StepStatus::Running, None));
        v.event(&Event::Pull {
            step: Some("build".into()),
            image: "alpine:3".into(),
            layer: Some("4abcf2066143".into()),
            status: "Downloading".into(),
            current: Some(1_048_576),
            total: Some(4_194_304),
        });
        let s = screen(&mut v, &term);
        let line = s.lines().find(|l| l.contains("build")).unwrap();
        assert!(line.contains("pulling"), "{s}");
        assert!(
            line.contains("━━━━━"),
            "a quarter of the bar is full: {line}"
        );
        assert!(line.contains("1.00 MiB / 4.00 MiB  Downloading"), "{line}");

        v.event(&Event::Output {
            step: "build".into(),
            stream: OutputStream::Stdout,
            data: Bytes::from_static(b"compiling\npart"),
        });
        let s = screen(&mut v, &term);
        let line = s.lines().find(|l| l.contains("build")).unwrap();
        assert!(line.contains("running"), "output ends the pull: {s}");
        assert_eq!(kept.lock().unwrap().as_slice(), ["build | compiling"]);

        v.event(&step("build", StepStatus::Succeeded, Some(0)));
        v.event(&step("test", StepStatus::Running, None));
        v.event(&step("test", StepStatus::Failed, Some(3)));
        let s = screen(&mut v, &term);
        assert!(s.contains("ci · 2/2 steps done"), "{s}");
        assert!(s.contains("✔ build  succeeded"), "{s}");
        assert!(s.contains("✘ test   failed     exit 3"), "{s}");
        // The unfinished line was flushed when its step ended.
        assert_eq!(
            kept.lock().unwrap().as_slice(),
            ["build | compiling", "build | part"]
        );

        v.interrupted(false, "stopping");
        v.event(&Event::RunFinished {
            status: RunStatus::Failed,
            duration: Duration::from_secs(1),
        });
        v.finish();
        assert_eq!(term.contents().trim(), "", "the live area is cleared");
        assert_eq!(kept.lock().unwrap().last().unwrap(), "tug   | stopping");
    }

    #[test]
    fn compact_when_the_steps_do_not_fit() {
        let (mut v, term, kept) = view(4);
        assert!(v.compact);
        let s = screen(&mut v, &term);
        assert!(!s.contains("pending"), "pending steps get no line: {s}");
        v.event(&step("build", StepStatus::Running, None));
        let s = screen(&mut v, &term);
        assert!(s.contains("build  running"), "{s}");
        v.event(&step("build", StepStatus::Succeeded, Some(0)));
        let s = screen(&mut v, &term);
        assert!(
            !s.contains("build"),
            "a finished step leaves the live area: {s}"
        );
        let above = kept.lock().unwrap().join("\n");
        assert!(above.contains("✔ build  succeeded"), "{above}");
    }
}
