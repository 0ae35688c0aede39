//! Fuzzes the JSON-lines decoder: any bytes, cut into any pieces, with any line limit, must
//! decode exactly as a whole-input reference does (split at `\n`, trim, skip blank lines,
//! error-probe, parse), item for item and error kind for error kind, and never panic.
//!
//! Shared by the cargo-fuzz target (`fuzz_targets/json_lines.rs`) and the stable replay of the
//! committed corpus (`engine-api/tests/fuzz_corpus.rs`).

use bytes::Bytes;
use engine_api::stream::{stream_error, JsonLines};
use engine_api::Error;
use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Item {
    Value(Value),
    Stream(String),
    Decode,
    TooLong,
}

fn item(r: Result<Value, Error>) -> Item {
    match r {
        Ok(v) => Item::Value(v),
        Err(Error::Stream { message }) => Item::Stream(message),
        Err(Error::Decode { .. }) => Item::Decode,
        Err(Error::Protocol { .. }) => Item::TooLong,
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

fn reference(input: &[u8], max: usize) -> Vec<Item> {
    let mut out = Vec::new();
    for line in input.split(|&b| b == b'\n') {
        if line.len() > max {
            out.push(Item::TooLong);
            continue;
        }
        let trimmed = {
            let mut l = line;
            while let [f, r @ ..] = l {
                if f.is_ascii_whitespace() || *f == 0x1e {
                    l = r;
                } else {
                    break;
                }
            }
            while let [r @ .., last] = l {
                if last.is_ascii_whitespace() {
                    l = r;
                } else {
                    break;
                }
            }
            l
        };
        if trimmed.is_empty() {
            continue;
        }
        if let Some(m) = stream_error(trimmed) {
            out.push(Item::Stream(m));
            continue;
        }
        out.push(match serde_json::from_slice::<Value>(trimmed) {
            Ok(v) => Item::Value(v),
            Err(_) => Item::Decode,
        });
    }
    out
}

/// Checks one input; panics on a bug.
pub fn run(data: &[u8]) {
    let [a, b, input @ ..] = data else { return };
    let max = usize::from(*a) + 1;
    let step = usize::from(*b % 32) + 1;
    let mut d = JsonLines::<Value>::new("the fuzzed stream").max_line(max);
    let mut got = Vec::new();
    let whole = Bytes::copy_from_slice(input);
    let mut at = 0;
    while at < whole.len() {
        let end = (at + step).min(whole.len());
        d.push(whole.slice(at..end));
        at = end;
        loop {
            match d.next_item() {
                Ok(Some(v)) => got.push(Item::Value(v)),
                Ok(None) => break,
                Err(e) => got.push(item(Err(e))),
            }
        }
    }
    loop {
        match d.finish() {
            Ok(Some(v)) => got.push(Item::Value(v)),
            Ok(None) => break,
            Err(e) => got.push(item(Err(e))),
        }
    }
    assert_eq!(got, reference(input, max));
}
