//! Line framing on top of [`LogChunk`]s, for consumers that want whole lines.
//!
//! [`LineFramer`] splits each stream's output at `\n`, separately for stdout and stderr (a line
//! started on stdout is continued by the next stdout chunk, whatever stderr did in between).
//!
//! * **Linear.** Every input byte is searched for `\n` once and copied at most once: a line that
//!   lies whole inside one chunk is a zero-copy slice of it; only a line split across chunks is
//!   gathered into a per-stream buffer.
//! * **Bounded.** A line is at most `max_line` bytes. A longer line is emitted in pieces of
//!   exactly `max_line` bytes marked [`LineEnd::Split`], and its remainder (1 to `max_line`
//!   bytes) as an ordinary line. A line of exactly `max_line` bytes is not split. So memory per
//!   stream never exceeds `max_line`, and concatenating the pieces of a line gives it back.
//! * **Nothing lost.** At the end of the stream, [`LineFramer::finish`] emits each stream's
//!   unterminated last line, marked [`LineEnd::EndOfStream`].
//!
//! The `\n` is removed from the line; a `\r` before it (TTY output, Windows programs) is kept,
//! since it is the program's byte, not the framing's.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::demux::{LogChunk, StreamKind};
use super::search::find_byte;

/// The default longest line, 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// How a [`Line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineEnd {
    /// At a `\n` (not included in the data).
    Newline,
    /// The line reached the maximum length; the next line of the same stream continues it.
    Split,
    /// The stream ended without a final `\n`.
    EndOfStream,
}

/// A line of one stream's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The stream it was written to.
    pub stream: StreamKind,
    /// The line's bytes, without the `\n`.
    pub data: Bytes,
    /// How it ended.
    pub end: LineEnd,
}

impl Line {
    /// Whether this is not a whole `\n`-terminated line: a max-length piece of a longer line, or
    /// the unterminated end of the stream.
    pub fn is_partial(&self) -> bool {
        self.end != LineEnd::Newline
    }
}

/// Splits [`LogChunk`]s into [`Line`]s. See the [module docs](self).
#[derive(Debug)]
pub struct LineFramer {
    max_line: usize,
    input: VecDeque<LogChunk>,
    /// The start of each stream's current line, when it began in an earlier chunk.
    pending: [BytesMut; 3],
}

impl LineFramer {
    /// A framer emitting lines of at most `max_line` bytes (at least 1).
    pub fn new(max_line: usize) -> LineFramer {
        LineFramer {
            max_line: max_line.max(1),
            input: VecDeque::new(),
            pending: Default::default(),
        }
    }

    /// The maximum line length.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Queues a chunk of output. Lines come out of [`next_line`](Self::next_line).
    pub fn push(&mut self, chunk: LogChunk) {
        if !chunk.data.is_empty() {
            self.input.push_back(chunk);
        }
    }

    /// The next complete line (or max-length piece) from the queued input; `None` when the
    /// queued input holds no more complete lines.
    pub fn next_line(&mut self) -> Option<Line> {
        while let Some(chunk) = self.input.front_mut() {
            let stream = chunk.stream;
            let data = &mut chunk.data;
            if data.is_empty() {
                self.input.pop_front();
                continue;
            }
            let pending = &mut self.pending[stream.index()];
            // Invariant: pending.len() <= max_line. With room == 0 the window is one byte: a `\n`
            // ends a line of exactly max_line bytes, anything else splits it.
            let room = self.max_line - pending.len();
            let window = data.len().min(room + 1);
            if let Some(i) = find_byte(b'\n', &data[..window]) {
                let line = if pending.is_empty() {
                    let line = data.split_to(i);
                    data.advance(1);
                    line
                } else {
                    pending.extend_from_slice(&data[..i]);
                    data.advance(i + 1);
                    pending.split().freeze()
                };
                return Some(Line {
                    stream,
                    data: line,
                    end: LineEnd::Newline,
                });
            }
            if data.len() > room {
                // No newline within the longest line: emit a max-length piece.
                let line = if pending.is_empty() {
                    data.split_to(room)
                } else {
                    pending.extend_from_slice(&data[..room]);
                    data.advance(room);
                    pending.split().freeze()
                };
                return Some(Line {
                    stream,
                    data: line,
                    end: LineEnd::Split,
                });
            }
            // The chunk ends inside a line: keep its start for the next chunk of this stream.
            if pending.capacity() - pending.len() < data.len() {
                pending.reserve(data.len().max(256).min(self.max_line));
            }
            pending.extend_from_slice(data);
            self.input.pop_front();
        }
        None
    }

    /// At the end of the stream, once [`next_line`](Self::next_line) has returned `None`: the
    /// unterminated last line of each stream (stdin, stdout, then stderr), one per call, then
    /// `None`.
    pub fn finish(&mut self) -> Option<Line> {
        if let Some(line) = self.next_line() {
            return Some(line);
        }
        for stream in [StreamKind::Stdin, StreamKind::Stdout, StreamKind::Stderr] {
            let pending = &mut self.pending[stream.index()];
            if !pending.is_empty() {
                return Some(Line {
                    stream,
                    data: pending.split().freeze(),
                    end: LineEnd::EndOfStream,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(stream: StreamKind, data: &[u8]) -> LogChunk {
        LogChunk {
            stream,
            data: Bytes::copy_from_slice(data),
        }
    }

    fn drain(f: &mut LineFramer, finish: bool) -> Vec<(StreamKind, String, LineEnd)> {
        let mut out = Vec::new();
        loop {
            let l = if finish { f.finish() } else { f.next_line() };
            let Some(l) = l else { break };
            out.push((l.stream, String::from_utf8(l.data.to_vec()).unwrap(), l.end));
        }
        out
    }

    use LineEnd::*;
    use StreamKind::*;

    #[test]
    fn streams_keep_their_own_partial_lines() {
        let mut f = LineFramer::new(100);
        f.push(chunk(Stdout, b"out-a"));
        f.push(chunk(Stderr, b"err-a\nerr"));
        f.push(chunk(Stdout, b"-b\nout2\n"));
        f.push(chunk(Stderr, b"-b"));
        assert_eq!(
            drain(&mut f, false),
            vec![
                (Stderr, "err-a".into(), Newline),
                (Stdout, "out-a-b".into(), Newline),
                (Stdout, "out2".into(), Newline),
            ]
        );
        assert_eq!(
            drain(&mut f, true),
            vec![(Stderr, "err-b".into(), EndOfStream)]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        let text = b"alpha\n\nbeta gamma\r\ndelta";
        let expected = vec![
            (Stdout, "alpha".to_string(), Newline),
            (Stdout, String::new(), Newline),
            (Stdout, "beta gamma\r".to_string(), Newline),
            (Stdout, "delta".to_string(), EndOfStream),
        ];
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let mut f = LineFramer::new(64);
                let mut got = Vec::new();
                for piece in [&text[..a], &text[a..b], &text[b..]] {
                    f.push(chunk(Stdout, piece));
                    got.extend(drain(&mut f, false));
                }
                got.extend(drain(&mut f, true));
                assert_eq!(got, expected, "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn long_lines_come_in_max_size_pieces() {
        for split in 1..12 {
            let mut f = LineFramer::new(4);
            let text = b"abcdefghij\nabcd\nabcde";
            let mut got = Vec::new();
            for piece in text.chunks(split) {
                f.push(chunk(Stdout, piece));
                got.extend(drain(&mut f, false));
            }
            got.extend(drain(&mut f, true));
            assert_eq!(
                got,
                vec![
                    (Stdout, "abcd".into(), Split),
                    (Stdout, "efgh".into(), Split),
                    (Stdout, "ij".into(), Newline),
                    (Stdout, "abcd".into(), Newline),
                    (Stdout, "abcd".into(), Split),
                    (Stdout, "e".into(), EndOfStream),
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn lines_inside_one_chunk_are_not_copied() {
        let data = Bytes::from_static(b"one\ntwo\n");
        let mut f = LineFramer::new(16);
        f.push(LogChunk {
            stream: Stdout,
            data: data.clone(),
        });
        let l = f.next_line().unwrap();
        assert_eq!(l.data.as_ptr(), data.as_ptr());
        assert!(!l.is_partial());
    }
}
