//! Helpers for the `cli_*` tests: running the `tug` binary with an environment of its own,
//! normalising what varies between runs (run ids, times, durations, temporary paths), and
//! comparing whole outputs with the files under `tests/snapshots/`.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p tug-tests --test cli_outputs` rewrites the snapshots
//! from the current output (review the diff before committing it).
//!
//! Included by each `cli_*` test file with `#[path = "cli_support.rs"] mod cli_support;`, so it
//! does not touch the shared `support/lib.rs`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `<workspace>/target/debug/tug` (or under `CARGO_TARGET_DIR`); panics with how to build it.
pub fn tug_path() -> PathBuf {
    let ws = workspace();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_relative() { ws.join(t) } else { t })
        .unwrap_or_else(|| ws.join("target"));
    let bin = target.join("debug").join("tug");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p tug` (scripts/test does)",
        bin.display()
    );
    bin
}

/// A file under `tests/fixtures/cli/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cli")
        .join(name)
}

/// A file under `examples/`.
pub fn example(name: &str) -> PathBuf {
    workspace().join("examples").join(name)
}

/// What one `tug` invocation did.
#[derive(Debug)]
pub struct Output {
    /// The command line, for transcripts (`tug` and its arguments).
    pub command: String,
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Output {
    /// `$ tug …`, the exit code, stdout and stderr, as one text for a snapshot.
    pub fn transcript(&self) -> String {
        let mut s = format!("$ {}\n[exit {}]\n", self.command, code_text(self.code));
        if !self.stdout.is_empty() {
            s.push_str("--- stdout\n");
            s.push_str(&self.stdout);
            if !self.stdout.ends_with('\n') {
                s.push_str("\n[no newline at end]\n");
            }
        }
        if !self.stderr.is_empty() {
            s.push_str("--- stderr\n");
            s.push_str(&self.stderr);
            if !self.stderr.ends_with('\n') {
                s.push_str("\n[no newline at end]\n");
            }
        }
        s
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn assert_code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code of `{}`\n{}",
            self.command,
            self.transcript()
        );
        self
    }
}

fn code_text(code: Option<i32>) -> String {
    code.map(|c| c.to_string())
        .unwrap_or_else(|| "signal".to_string())
}

/// A `tug` command with a clean environment: `PATH`, a `HOME` and `TUG_DATA_DIR` of its own
/// (temporary unless given), no colour unless asked.
#[derive(Debug)]
pub struct Tug {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Tug {
    /// `tug ARGS…` with a fresh data directory.
    pub fn new(args: &[&str]) -> Tug {
        let tmp = tempfile::Builder::new()
            .prefix("tug-cli-")
            .tempdir()
            .expect("temp dir");
        let data = tmp.path().to_path_buf();
        Tug {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            cwd: workspace(),
            data,
            _tmp: Some(tmp),
        }
    }

    /// `tug ARGS…` sharing the data directory `data` (to read runs another command made).
    pub fn with_data(data: &Path, args: &[&str]) -> Tug {
        Tug {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            cwd: workspace(),
            data: data.to_path_buf(),
            _tmp: None,
        }
    }

    /// The data directory (`TUG_DATA_DIR`).
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<str>) -> Tug {
        self.env.push((k.to_string(), v.as_ref().to_string()));
        self
    }

    /// Sets several.
    pub fn envs(mut self, vars: &[(&str, String)]) -> Tug {
        for (k, v) in vars {
            self.env.push((k.to_string(), v.clone()));
        }
        self
    }

    /// Runs in `dir`.
    pub fn cwd(mut self, dir: &Path) -> Tug {
        self.cwd = dir.to_path_buf();
        self
    }

    /// The command, ready to spawn.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(tug_path());
        cmd.args(&self.args);
        cmd.env_clear();
        for keep in ["PATH", "RUST_BACKTRACE", "LANG"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        let home = self.data.join("home");
        let _ = std::fs::create_dir_all(&home);
        cmd.env("HOME", &home)
            .env("TUG_DATA_DIR", &self.data)
            .env("TUG_STOP_GRACE_SEC", "2")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to the end (at most two minutes).
    pub fn run(&self) -> Output {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tug_path().display()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("`tug {}` did not finish within 120 s", self.args.join(" "));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        Output {
            command: format!("tug {}", self.args.join(" ")),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Replaces what varies between runs: the given strings (temporary paths, …) by their names,
/// then `HH:MM:SS.mmm` clocks by `[TIME]`, dates and RFC 3339 timestamps by `[DATE]`,
/// generated run ids by `[RUN]` and human durations (`0.4s`, `2m05s`, `1h02m`) by `[DUR]`.
pub fn normalize(text: &str, replace: &[(&str, &str)]) -> String {
    let mut s = text.to_string();
    let mut replace = replace.to_vec();
    // Longest first, so that a path is replaced before its prefix.
    replace.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    for (from, to) in replace {
        if !from.is_empty() {
            s = s.replace(from, to);
        }
    }
    scrub(&s)
}

fn is_digit(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

/// `pattern`: `9` a digit, `x` a lowercase hex digit, anything else itself.
fn at(b: &[u8], i: usize, pattern: &str) -> bool {
    pattern.bytes().enumerate().all(|(k, p)| {
        let Some(&c) = b.get(i + k) else {
            return false;
        };
        match p {
            b'9' => c.is_ascii_digit(),
            b'x' => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            _ => c == p,
        }
    })
}

fn word_char(b: &[u8], i: usize) -> bool {
    b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn scrub(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(word_char(b, i - 1) || b[i - 1] == b'.');
        if boundary && at(b, i, "9999-99-99T99:99:99") {
            let mut j = i + 19;
            if b.get(j) == Some(&b'.') {
                j += 1;
                while is_digit(b, j) {
                    j += 1;
                }
            }
            if b.get(j) == Some(&b'Z') {
                j += 1;
            } else if at(b, j, "+99:99") || at(b, j, "-99:99") {
                j += 6;
            }
            out.extend_from_slice(b"[DATE]");
            i = j;
            continue;
        }
        if boundary && at(b, i, "9999-99-99 99:99:99") {
            out.extend_from_slice(b"[DATE]");
            i += 19;
            continue;
        }
        if boundary && at(b, i, "99999999-999999-xxxxxx") && !word_char(b, i + 22) {
            out.extend_from_slice(b"[RUN]");
            i += 22;
            continue;
        }
        if boundary && at(b, i, "99:99:99.999") {
            out.extend_from_slice(b"[TIME]");
            i += 12;
            continue;
        }
        if boundary && is_digit(b, i) {
            let mut j = i;
            while is_digit(b, j) {
                j += 1;
            }
            let end = if b.get(j) == Some(&b'.') && is_digit(b, j + 1) {
                let mut k = j + 1;
                while is_digit(b, k) {
                    k += 1;
                }
                (b.get(k) == Some(&b's')).then_some(k + 1)
            } else if at(b, j, "m99s") || at(b, j, "h99m") {
                Some(j + 4)
            } else {
                None
            };
            if let Some(end) = end.filter(|&e| !word_char(b, e)) {
                out.extend_from_slice(b"[DUR]");
                i = end;
                continue;
            }
            out.extend_from_slice(&b[i..j]);
            i = j;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 in, utf-8 out")
}

/// Compares `actual` with `tests/snapshots/<name>.txt`; with `UPDATE_SNAPSHOTS=1` writes it
/// instead.
pub fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshots dir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with UPDATE_SNAPSHOTS=1 to create it from:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{} differs (UPDATE_SNAPSHOTS=1 rewrites it):\n{}",
            path.display(),
            diff(&expected, actual)
        );
    }
}

/// A small line diff: `-` expected, `+` actual, around the first difference.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let mut out = String::new();
    let from = first.saturating_sub(3);
    for line in &e[from..first] {
        out.push_str(&format!("  {line}\n"));
    }
    for line in e.iter().skip(first).take(15) {
        out.push_str(&format!("- {line}\n"));
    }
    for line in a.iter().skip(first).take(15) {
        out.push_str(&format!("+ {line}\n"));
    }
    out.push_str(&format!(
        "(first difference at line {}; expected {} lines, got {})\n--- actual, whole ---\n{actual}",
        first + 1,
        e.len(),
        a.len()
    ));
    out
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn scrubs_what_varies() {
        assert_eq!(
            scrub("16:12:25.061 tug | run 20261124-161225-78ec36 took 0.9s and 2m05s"),
            "[TIME] tug | run [RUN] took [DUR] and [DUR]"
        );
        assert_eq!(
            scrub("at 2026-11-24T16:12:25.061Z and 2026-11-24 16:12:25, v1.2s3"),
            "at [DATE] and [DATE], v1.2s3"
        );
        assert_eq!(scrub("exit 3  1.25s"), "exit 3  [DUR]");
        assert_eq!(scrub("port 8080:80"), "port 8080:80");
    }
}
