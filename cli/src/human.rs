//! Durations and times the way people read them: `0.4s`, `12.3s`, `2m05s`, `1h02m`; record
//! timestamps (RFC 3339, UTC) shown in local time.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};

/// A duration for people: tenths of a second below a minute, then minutes and seconds, then
/// hours and minutes.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        // Round down at the last tenth so that 59.96 s does not print as "60.0s".
        let tenths = (secs * 10.0).floor() / 10.0;
        format!("{tenths:.1}s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Parses an RFC 3339 timestamp from a run record.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The time between two record timestamps (`end` defaults to now, for what still runs).
pub fn between(start: Option<&str>, end: Option<&str>) -> Option<Duration> {
    let start = parse_time(start?)?;
    let end = match end {
        Some(e) => parse_time(e)?,
        None => Utc::now(),
    };
    (end - start).to_std().ok()
}

/// A record timestamp in local time, `2026-11-24 15:59:08`.
pub fn local_time(s: &str) -> String {
    match parse_time(s) {
        Some(t) => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => s.to_string(),
    }
}

/// The clock for plain-output line prefixes, `15:59:08.123`.
pub fn clock() -> String {
    Local::now().format("%H:%M:%S%.3f").to_string()
}

/// `n` and the noun, pluralised with an `s`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Splits `text` into lines of at most `width` characters, at spaces (a longer word gets a
/// line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The width to lay text out in on stdout: the terminal's (at most 120), else 100.
pub fn text_width() -> usize {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        if let Some((_, cols)) = console::Term::stdout().size_checked() {
            return usize::from(cols).clamp(60, 120);
        }
    }
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(Duration::from_millis(0)), "0.0s");
        assert_eq!(duration(Duration::from_millis(430)), "0.4s");
        assert_eq!(duration(Duration::from_millis(59_960)), "59.9s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn between_record_times() {
        let d = between(
            Some("2026-11-24T15:59:08.000Z"),
            Some("2026-11-24T15:59:10.500Z"),
        );
        assert_eq!(d, Some(Duration::from_millis(2500)));
        assert_eq!(between(None, None), None);
        assert_eq!(between(Some("garbage"), None), None);
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 6), vec![""]);
        assert_eq!(wrap("toolongword x", 4), vec!["toolongword", "x"]);
    }

    #[test]
    fn counts() {
        assert_eq!(count(1, "step"), "1 step");
        assert_eq!(count(3, "step"), "3 steps");
    }
}
