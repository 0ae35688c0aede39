//! Positions in a workflow file.
//!
//! Every node of the YAML tree carries a [`Span`] so that any diagnostic, at load time or later
//! at run time, can point at the exact text it is about.

/// One position in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Offset in characters (not bytes) from the start of the file.
    pub index: usize,
    /// Line, 1-based.
    pub line: usize,
    /// Column in characters, 0-based (rendered 1-based).
    pub col: usize,
}

/// A range of source text: `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First character of the range.
    pub start: Pos,
    /// One past the last character.
    pub end: Pos,
}

impl Span {
    /// A span covering `start..end`.
    pub fn new(start: Pos, end: Pos) -> Self {
        Span { start, end }
    }

    /// The 1-based line of the first character.
    pub fn line(&self) -> usize {
        self.start.line.max(1)
    }

    /// The 1-based column of the first character.
    pub fn column(&self) -> usize {
        self.start.col + 1
    }

    /// The smallest span holding both.
    pub(crate) fn join(self, other: Span) -> Span {
        let start = if other.start.index < self.start.index {
            other.start
        } else {
            self.start
        };
        let end = if other.end.index > self.end.index {
            other.end
        } else {
            self.end
        };
        Span { start, end }
    }
}
