//! Colour and terminal decisions, made once per process.
//!
//! Colour is on when the stream is a terminal, `TERM` is not `dumb` and `NO_COLOR` is unset or
//! empty (<https://no-color.org>); `--color always|never` overrides all of that. Every styled
//! string in the binary goes through [`Paint`], so one switch governs them all.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on terminals, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    /// Always colour (even into a pipe).
    Always,
    /// Never colour.
    Never,
}

#[derive(Debug, Clone, Copy)]
struct Decided {
    stdout: bool,
    stderr: bool,
}

static DECIDED: OnceLock<Decided> = OnceLock::new();

/// Decides colour for stdout and stderr from `choice` and the environment. Call once, early.
pub fn init(choice: ColorChoice) {
    let env_allows = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb");
    let decide = |tty: bool| match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && env_allows,
    };
    let d = Decided {
        stdout: decide(std::io::stdout().is_terminal()),
        stderr: decide(std::io::stderr().is_terminal()),
    };
    console::set_colors_enabled(d.stdout);
    console::set_colors_enabled_stderr(d.stderr);
    let _ = DECIDED.set(d);
}

fn decided() -> Decided {
    *DECIDED.get().unwrap_or(&Decided {
        stdout: false,
        stderr: false,
    })
}

/// True when both stdout and stderr are terminals and `TERM` is not `dumb`: the condition for
/// the live view of `tug start`.
pub fn interactive() -> bool {
    std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Where a styled string goes (each stream has its own colour decision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// ANSI styling that is a no-op when colour is off for the stream.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Styling for `stream`, as decided by [`init`].
    pub fn for_stream(stream: Stream) -> Paint {
        let d = decided();
        Paint {
            on: match stream {
                Stream::Stdout => d.stdout,
                Stream::Stderr => d.stderr,
            },
        }
    }

    /// True when colour is on.
    pub fn enabled(self) -> bool {
        self.on
    }

    /// `text` wrapped in the SGR sequence `code` (e.g. `"1;31"`).
    pub fn sgr(self, code: &str, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Bold.
    pub fn bold(self, t: &str) -> String {
        self.sgr("1", t)
    }

    /// Dim.
    pub fn dim(self, t: &str) -> String {
        self.sgr("2", t)
    }

    /// Red (failures).
    pub fn red(self, t: &str) -> String {
        self.sgr("31", t)
    }

    /// Bold red.
    pub fn red_bold(self, t: &str) -> String {
        self.sgr("1;31", t)
    }

    /// Green (successes).
    pub fn green(self, t: &str) -> String {
        self.sgr("32", t)
    }

    /// Yellow (warnings, partial success, cancellation).
    pub fn yellow(self, t: &str) -> String {
        self.sgr("33", t)
    }

    /// Cyan (activity).
    pub fn cyan(self, t: &str) -> String {
        self.sgr("36", t)
    }

    /// The colour of the `n`th step's prefix, as docker compose gives each service its own.
    pub fn step(self, n: usize, t: &str) -> String {
        self.sgr(STEP_COLORS[n % STEP_COLORS.len()], t)
    }
}

/// Step prefix colours: distinct, readable on dark and light backgrounds, red left for errors.
const STEP_COLORS: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// Removes control characters from step output before it reaches the screen or a log: all of
/// them but tab when `keep_sgr` is false; on a terminal (`keep_sgr`), SGR colour sequences
/// (`ESC [ … m`) survive, while cursor movement and the like, which would wreck the live view,
/// do not. A carriage return keeps only what follows it, as a terminal would show it.
pub fn sanitize(text: &str, keep_sgr: bool) -> String {
    let text = text.strip_suffix('\r').unwrap_or(text);
    let text = match text.rfind('\r') {
        Some(i) => &text[i + 1..],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Swallow an escape sequence: CSI (ESC [ params final) or a two-byte one.
            if chars.peek() == Some(&'[') {
                chars.next();
                let mut seq = String::new();
                let mut fin = None;
                for d in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&d) {
                        fin = Some(d);
                        break;
                    }
                    seq.push(d);
                }
                if keep_sgr
                    && fin == Some('m')
                    && seq.chars().all(|d| d.is_ascii_digit() || d == ';')
                {
                    out.push_str("\x1b[");
                    out.push_str(&seq);
                    out.push('m');
                }
            } else {
                chars.next();
            }
            continue;
        }
        if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    if keep_sgr && out.contains('\x1b') {
        // Never let a step's colour bleed into tug's own text.
        out.push_str("\x1b[0m");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_controls_and_keeps_colour_on_request() {
        assert_eq!(sanitize("a\x07b\tc", false), "ab\tc");
        assert_eq!(sanitize("\x1b[31mred\x1b[0m", false), "red");
        assert_eq!(
            sanitize("\x1b[31mred\x1b[0m", true),
            "\x1b[31mred\x1b[0m\x1b[0m"
        );
        assert_eq!(sanitize("\x1b[2Jclear\x1b[1A", true), "clear");
        assert_eq!(sanitize("10%\r50%\r100%", false), "100%");
        assert_eq!(sanitize("line\r", false), "line");
    }

    #[test]
    fn paint_off_is_plain() {
        let p = Paint { on: false };
        assert_eq!(p.red("x"), "x");
        let p = Paint { on: true };
        assert_eq!(p.red("x"), "\x1b[31mx\x1b[0m");
        assert_eq!(p.red(""), "");
    }
}
