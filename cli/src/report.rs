//! Printing errors the way users expect: `error: …` and its causes below, no debug formatting.

#![allow(clippy::print_stderr)]

use crate::style::{Paint, Stream};

/// Prints `error: <message>` and each cause on its own `  caused by:` line.
pub fn error(e: &anyhow::Error) {
    eprint!("{}", render(e, Paint::for_stream(Stream::Stderr)));
}

/// Prints `error: <message>` (a message with no cause chain).
pub fn message(text: &str) {
    let p = Paint::for_stream(Stream::Stderr);
    eprintln!("{} {text}", p.red_bold("error:"));
}

/// Prints `warning: <message>`.
pub fn warning(text: &str) {
    let p = Paint::for_stream(Stream::Stderr);
    eprintln!("{} {text}", p.yellow("warning:"));
}

/// The text [`error`] prints.
pub fn render(e: &anyhow::Error, p: Paint) -> String {
    let mut out = format!("{} {e}\n", p.red_bold("error:"));
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        // Skip causes whose text the previous level already showed.
        if !last.contains(&text) {
            for (n, line) in text.lines().enumerate() {
                if n == 0 {
                    out.push_str(&format!("  caused by: {line}\n"));
                } else {
                    out.push_str(&format!("             {line}\n"));
                }
            }
        }
        last = text;
    }
    out
}

/// Writes to stdout for a reporting command (see `out!`): a closed pipe ends the process with
/// the shell's SIGPIPE status (141) and no message, any other failure with exit 1 and the error.
pub fn stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        message(&format!("cannot write to stdout: {e}"));
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_below_without_repeats() {
        let e = anyhow::anyhow!("connection refused")
            .context("cannot reach the engine")
            .context("cannot start the run");
        let p = Paint::for_stream(Stream::Stderr);
        assert_eq!(
            render(&e, p),
            "error: cannot start the run\n  caused by: cannot reach the engine\n  caused by: connection refused\n"
        );
    }
}
