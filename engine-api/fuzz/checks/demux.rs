//! Fuzzes the multiplexed-frame demuxer: any bytes, cut into any pieces, through both APIs
//! (`decode` on `Bytes`, `decode_slice` on slices), must give exactly what a whole-input
//! reference decoder gives — the same bytes per stream and the same kind of error — and never
//! panic.
//!
//! Shared by the cargo-fuzz target (`fuzz_targets/demux.rs`) and the stable replay of the
//! committed corpus (`engine-api/tests/fuzz_corpus.rs`).

use bytes::Bytes;
use engine_api::stream::{Demuxer, StreamKind};
use engine_api::Error;

#[derive(Debug, PartialEq, Eq)]
enum End {
    Ok,
    Protocol,
    Stream(String),
}

fn end_of(r: Result<(), Error>) -> End {
    match r {
        Ok(()) => End::Ok,
        Err(Error::Protocol { .. }) => End::Protocol,
        Err(Error::Stream { message }) => End::Stream(message),
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

/// Decodes the whole input at once: per-stream bytes and how it ended.
fn reference(mut input: &[u8]) -> ([Vec<u8>; 3], End) {
    let mut out: [Vec<u8>; 3] = Default::default();
    loop {
        if input.is_empty() {
            return (out, End::Ok);
        }
        if input.len() < 8 {
            return (out, End::Protocol);
        }
        let kind = input[0];
        let len = u32::from_be_bytes([input[4], input[5], input[6], input[7]]) as usize;
        input = &input[8..];
        let n = len.min(input.len());
        let (payload, rest) = input.split_at(n);
        input = rest;
        match kind {
            0..=2 => out[kind as usize].extend_from_slice(payload),
            3 => {
                let mut message = String::from_utf8_lossy(&payload[..n.min(64 * 1024)])
                    .trim_end()
                    .to_owned();
                if message.is_empty() {
                    message = "the engine reported an error in the stream without a message".into();
                }
                if n < len {
                    message.push_str(" (message truncated: the stream ended inside it)");
                }
                return (out, End::Stream(message));
            }
            _ => return (out, End::Protocol),
        }
        if n < len {
            return (out, End::Protocol);
        }
    }
}

fn index(s: StreamKind) -> usize {
    match s {
        StreamKind::Stdin => 0,
        StreamKind::Stdout => 1,
        _ => 2,
    }
}

/// Checks one input; panics on a bug.
pub fn run(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // Cut points from the seed: piece sizes cycle through 1..=seed+1.
    let mut cuts = Vec::new();
    let mut at = 0;
    let mut step = 1usize;
    while at < input.len() {
        at = (at + step).min(input.len());
        cuts.push(at);
        step = step % (seed as usize + 1) + 1;
    }
    let whole = Bytes::copy_from_slice(input);

    let mut owned: [Vec<u8>; 3] = Default::default();
    let mut d = Demuxer::new();
    let mut end = None;
    let mut start = 0;
    'owned: for &cut in &cuts {
        let mut piece = whole.slice(start..cut);
        start = cut;
        loop {
            match d.decode(&mut piece) {
                Ok(Some(c)) => {
                    assert!(!c.data.is_empty());
                    owned[index(c.stream)].extend_from_slice(&c.data);
                }
                Ok(None) => {
                    assert!(piece.is_empty());
                    break;
                }
                Err(e) => {
                    end = Some(end_of(Err(e)));
                    break 'owned;
                }
            }
        }
    }
    let end = end.unwrap_or_else(|| end_of(d.finish()));

    let mut borrowed: [Vec<u8>; 3] = Default::default();
    let mut d = Demuxer::new();
    let mut end2 = None;
    let mut start = 0;
    'borrowed: for &cut in &cuts {
        let mut piece = &input[start..cut];
        start = cut;
        loop {
            match d.decode_slice(&mut piece) {
                Ok(Some((stream, data))) => borrowed[index(stream)].extend_from_slice(data),
                Ok(None) => break,
                Err(e) => {
                    end2 = Some(end_of(Err(e)));
                    break 'borrowed;
                }
            }
        }
    }
    let end2 = end2.unwrap_or_else(|| end_of(d.finish()));

    let (expected, expected_end) = reference(input);
    assert_eq!(owned, expected);
    assert_eq!(end, expected_end);
    assert_eq!(borrowed, expected);
    assert_eq!(end2, expected_end);
}
