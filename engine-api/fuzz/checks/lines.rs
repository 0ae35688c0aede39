//! Fuzzes the line framer: any output of any streams, cut into any chunks, with any maximum
//! line length, must come back whole — per stream, the emitted pieces joined with `\n` after
//! each `Newline` piece equal the input — with every piece within the limit, and no panic.
//!
//! Shared by the cargo-fuzz target (`fuzz_targets/lines.rs`) and the stable replay of the
//! committed corpus (`engine-api/tests/fuzz_corpus.rs`).

use bytes::Bytes;
use engine_api::stream::{LineEnd, LineFramer, LogChunk, StreamKind};

/// Checks one input; panics on a bug.
pub fn run(data: &[u8]) {
    let [max, rest @ ..] = data else { return };
    let max = usize::from(*max % 64) + 1;
    let mut framer = LineFramer::new(max);
    let mut input: [Vec<u8>; 3] = Default::default();
    let mut output: [Vec<u8>; 3] = Default::default();
    let mut open_split = [false; 3];
    let mut check = |line: engine_api::stream::Line, output: &mut [Vec<u8>; 3]| {
        let i = match line.stream {
            StreamKind::Stdin => 0,
            StreamKind::Stdout => 1,
            _ => 2,
        };
        assert!(line.data.len() <= max);
        assert!(!line.data.contains(&b'\n'));
        output[i].extend_from_slice(&line.data);
        match line.end {
            LineEnd::Newline => {
                output[i].push(b'\n');
                open_split[i] = false;
            }
            LineEnd::Split => {
                assert_eq!(line.data.len(), max);
                open_split[i] = true;
            }
            _ => {}
        }
    };
    // Records: [header byte: stream in the low 2 bits, length in the high 6] [bytes].
    let mut rest = rest;
    while let [h, tail @ ..] = rest {
        let stream = match h & 3 {
            0 => StreamKind::Stdin,
            1 => StreamKind::Stdout,
            _ => StreamKind::Stderr,
        };
        let len = usize::from(h >> 2).min(tail.len());
        let (piece, tail) = tail.split_at(len);
        rest = tail;
        input[match stream {
            StreamKind::Stdin => 0,
            StreamKind::Stdout => 1,
            _ => 2,
        }]
        .extend_from_slice(piece);
        framer.push(LogChunk {
            stream,
            data: Bytes::copy_from_slice(piece),
        });
        while let Some(line) = framer.next_line() {
            check(line, &mut output);
        }
    }
    while let Some(line) = framer.finish() {
        assert_ne!(line.end, LineEnd::Split);
        check(line, &mut output);
    }
    assert_eq!(output, input);
}
