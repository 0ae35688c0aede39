//! Step output arrives in chunks of any size; people read lines. [`Lines`] cuts each step's
//! streams into whole lines, keeping the unfinished tail of each until its newline (or the
//! step's end) arrives, so a step-name prefix always lands at the start of a line.

use std::collections::HashMap;

use executor::run::OutputStream;

/// A line longer than this is shown in pieces rather than held without bound.
const MAX_PARTIAL: usize = 64 * 1024;

/// Unfinished lines per step and stream.
#[derive(Debug, Default)]
pub struct Lines {
    partial: HashMap<(String, bool), Vec<u8>>,
    /// Streams whose last line was shown in pieces: the newline that ends it must not show as
    /// an empty line of its own.
    split: std::collections::HashSet<(String, bool)>,
}

fn key(step: &str, stream: OutputStream) -> (String, bool) {
    (step.to_string(), stream == OutputStream::Stderr)
}

fn stream_of(is_err: bool) -> OutputStream {
    if is_err {
        OutputStream::Stderr
    } else {
        OutputStream::Stdout
    }
}

impl Lines {
    /// Adds a chunk; returns the lines it completed (without their newline).
    pub fn push(&mut self, step: &str, stream: OutputStream, data: &[u8]) -> Vec<String> {
        let k = key(step, stream);
        let mut buf = self.partial.remove(&k).unwrap_or_default();
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut start = 0;
        let continues = self.split.remove(&k);
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            // The newline ending a line already shown in pieces ends it; nothing more to show.
            if !(continues && start == 0 && nl == 0) {
                out.push(String::from_utf8_lossy(&buf[start..start + nl]).into_owned());
            }
            start += nl + 1;
        }
        buf.drain(..start);
        if buf.len() > MAX_PARTIAL {
            out.push(String::from_utf8_lossy(&buf).into_owned());
            buf.clear();
            self.split.insert(k.clone());
        } else if continues && start == 0 && buf.is_empty() {
            self.split.insert(k.clone());
        }
        if !buf.is_empty() {
            self.partial.insert(k, buf);
        }
        out
    }

    /// The unfinished lines of `step` and of the child runs it started (`step[…]`, `step/…`).
    pub fn flush_step(&mut self, step: &str) -> Vec<(String, OutputStream, String)> {
        let keys: Vec<(String, bool)> = self
            .partial
            .keys()
            .filter(|(s, _)| {
                s == step
                    || s.strip_prefix(step)
                        .is_some_and(|r| r.starts_with('[') || r.starts_with('/'))
            })
            .cloned()
            .collect();
        self.take(keys)
    }

    /// Every unfinished line.
    pub fn flush_all(&mut self) -> Vec<(String, OutputStream, String)> {
        let keys: Vec<(String, bool)> = self.partial.keys().cloned().collect();
        self.take(keys)
    }

    fn take(&mut self, mut keys: Vec<(String, bool)>) -> Vec<(String, OutputStream, String)> {
        keys.sort();
        keys.into_iter()
            .filter_map(|k| {
                self.split.remove(&k);
                let buf = self.partial.remove(&k)?;
                Some((
                    k.0,
                    stream_of(k.1),
                    String::from_utf8_lossy(&buf).into_owned(),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_lines() {
        let mut l = Lines::default();
        assert!(l.push("a", OutputStream::Stdout, b"hel").is_empty());
        assert_eq!(
            l.push("a", OutputStream::Stdout, b"lo\nwor"),
            vec!["hello".to_string()]
        );
        assert_eq!(
            l.push("a", OutputStream::Stderr, b"e1\ne2\n"),
            vec!["e1".to_string(), "e2".to_string()]
        );
        assert!(l.push("a[0]/x", OutputStream::Stdout, b"child").is_empty());
        assert!(l.push("b", OutputStream::Stdout, b"other").is_empty());
        let flushed = l.flush_step("a");
        assert_eq!(
            flushed,
            vec![
                ("a".to_string(), OutputStream::Stdout, "wor".to_string()),
                (
                    "a[0]/x".to_string(),
                    OutputStream::Stdout,
                    "child".to_string()
                ),
            ]
        );
        assert_eq!(l.flush_all().len(), 1);
    }

    #[test]
    fn a_long_line_comes_in_pieces_and_its_newline_adds_no_empty_line() {
        let mut l = Lines::default();
        let long = vec![b'x'; MAX_PARTIAL + 10];
        // Podman: the whole line in one chunk, its newline in the next.
        let pieces = l.push("a", OutputStream::Stdout, &long);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].len(), MAX_PARTIAL + 10);
        assert!(l.push("a", OutputStream::Stdout, b"").is_empty());
        assert_eq!(
            l.push("a", OutputStream::Stdout, b"\nnext\n"),
            vec!["next".to_string()]
        );
        // A real empty line after an ordinary one still shows.
        assert_eq!(
            l.push("a", OutputStream::Stdout, b"\n"),
            vec![String::new()]
        );
        // The rest of a long line after a piece is shown as the next piece.
        let _ = l.push("a", OutputStream::Stdout, &long);
        assert_eq!(
            l.push("a", OutputStream::Stdout, b"tail\n"),
            vec!["tail".to_string()]
        );
    }

    #[test]
    fn multibyte_characters_split_across_chunks_survive() {
        let mut l = Lines::default();
        let text = "größe\n".as_bytes();
        assert!(l.push("a", OutputStream::Stdout, &text[..3]).is_empty());
        assert_eq!(
            l.push("a", OutputStream::Stdout, &text[3..]),
            vec!["größe".to_string()]
        );
    }
}
