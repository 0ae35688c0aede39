//! `tug logs RUN [STEP] [--follow]`: a run's output from its log files (`<step>.out`,
//! `<step>.err` in the run's directory).
//!
//! With a STEP, its stdout goes to stdout and its stderr to stderr, byte for byte. Without,
//! every step's lines are shown in step order, each prefixed with `step |` (stderr lines on
//! stderr). `--follow` keeps reading while the run is live (`RunRecord::is_live`), then shows
//! what was written last and exits.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use executor::run::{record, RunRecord};

use crate::exit;
use crate::runs::{data_dir, find, Lookup};
use crate::style::{sanitize, Paint, Stream};

/// How often `--follow` looks for more.
const POLL: Duration = Duration::from_millis(200);

/// One log file being read.
#[derive(Debug)]
struct Tail {
    step: String,
    path: PathBuf,
    stderr: bool,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// New bytes since the last read.
    fn read_new(&mut self) -> Vec<u8> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated or replaced: start again.
            self.offset = 0;
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let _ = (&mut f).take(len - self.offset).read_to_end(&mut buf);
        self.offset += buf.len() as u64;
        buf
    }
}

/// Prints lines with a `step |` prefix, or raw bytes for a single step.
#[derive(Debug)]
struct Printer {
    prefixed: bool,
    width: usize,
    colors: HashMap<String, usize>,
    out: Paint,
    err: Paint,
}

impl Printer {
    fn emit(&mut self, tail: &mut Tail, data: Vec<u8>, at_end: bool) {
        if !self.prefixed {
            let r = if tail.stderr {
                std::io::stderr().lock().write_all(&data)
            } else {
                std::io::stdout().lock().write_all(&data)
            };
            let _ = r;
            return;
        }
        tail.partial.extend_from_slice(&data);
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(nl) = tail.partial[start..].iter().position(|&b| b == b'\n') {
            lines.push(String::from_utf8_lossy(&tail.partial[start..start + nl]).into_owned());
            start += nl + 1;
        }
        tail.partial.drain(..start);
        if at_end && !tail.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&tail.partial).into_owned());
            tail.partial.clear();
        }
        if lines.is_empty() {
            return;
        }
        let n = self.colors.len();
        let color = *self.colors.entry(tail.step.clone()).or_insert(n);
        let name = format!("{:<w$} |", tail.step, w = self.width);
        if tail.stderr {
            let prefix = self.err.step(color, &name);
            let mut e = std::io::stderr().lock();
            for l in lines {
                let _ = writeln!(e, "{prefix} {}", sanitize(&l, self.err.enabled()));
            }
        } else {
            let prefix = self.out.step(color, &name);
            let mut o = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(o, "{prefix} {}", sanitize(&l, self.out.enabled()));
            }
        }
    }
}

/// `tug logs RUN [STEP] [--follow]`.
pub async fn logs(run: &str, step: Option<&str>, follow: bool) -> anyhow::Result<u8> {
    let data = data_dir();
    let (dir, rec) = match find(&data, Some(run)) {
        Lookup::Found(x) => *x,
        Lookup::Missing(why) => {
            crate::report::message(&why);
            return Ok(exit::FAILURE);
        }
    };
    let steps: Vec<String> = match step {
        Some(s) => match rec.steps.iter().find(|x| x.id == s || x.name == s) {
            Some(x) => vec![x.id.clone()],
            None => {
                let ids: Vec<&str> = rec.steps.iter().map(|x| x.id.as_str()).collect();
                crate::report::message(&format!(
                    "run {} has no step {s:?} (steps: {})",
                    rec.run_id,
                    ids.join(", ")
                ));
                return Ok(exit::USAGE);
            }
        },
        None => rec.steps.iter().map(|x| x.id.clone()).collect(),
    };
    let mut tails: Vec<Tail> = Vec::new();
    for s in &steps {
        for stderr in [false, true] {
            let ext = if stderr { "err" } else { "out" };
            tails.push(Tail {
                step: s.clone(),
                path: dir.join(format!("{}.{ext}", record::safe_name(s))),
                stderr,
                offset: 0,
                partial: Vec::new(),
            });
        }
    }
    let mut printer = Printer {
        prefixed: step.is_none(),
        width: steps.iter().map(|s| s.chars().count()).max().unwrap_or(0),
        colors: HashMap::new(),
        out: Paint::for_stream(Stream::Stdout),
        err: Paint::for_stream(Stream::Stderr),
    };
    let mut live = follow && rec.is_live();
    loop {
        for t in &mut tails {
            let data = t.read_new();
            printer.emit(t, data, !live);
        }
        if !live {
            break;
        }
        tokio::time::sleep(POLL).await;
        live = still_live(&dir);
    }
    let _ = std::io::stdout().flush();
    // Child runs (dag.run, parallel) keep their own logs.
    let p = Paint::for_stream(Stream::Stderr);
    for s in rec.steps.iter().filter(|s| steps.contains(&s.id)) {
        for c in &s.children {
            eprintln!(
                "{}",
                p.dim(&format!(
                    "{}: child run {} ({}) has its own logs: tug logs {}",
                    s.id, c.run_id, c.workflow, c.run_id
                ))
            );
        }
    }
    Ok(exit::SUCCESS)
}

fn still_live(dir: &Path) -> bool {
    record::read(dir).is_ok_and(|r: RunRecord| r.is_live())
}
