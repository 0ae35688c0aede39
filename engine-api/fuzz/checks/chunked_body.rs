//! Fuzzes the raw path's body reader without sockets, over an in-memory connection that hands
//! out the input in fuzzer-chosen pieces:
//!
//! * any bytes as a chunked, length-delimited or until-close body: no panic, and the same
//!   result (data and error kind) whatever the read sizes and whichever API reads it
//!   (`next_data` or `fill_buf`/`consume`);
//! * a round trip: payload pieces encoded as chunks (with extensions, bare `\n` line endings
//!   and trailers) decode back to exactly the payload.
//!
//! Shared by the cargo-fuzz target (`fuzz_targets/chunked_body.rs`) and the stable replay of the
//! committed corpus (`engine-api/tests/fuzz_corpus.rs`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use engine_api::transport::raw::{BodyFraming, BodyReader, RawOptions};
use engine_api::Error;
use tokio::io::{AsyncRead, ReadBuf};

/// An in-memory connection returning at most `step` bytes per read (cycling 1..=max_step).
struct Pieces {
    data: Vec<u8>,
    at: usize,
    step: usize,
    max_step: usize,
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .step
            .min(self.data.len() - self.at)
            .min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        self.step = self.step % self.max_step + 1;
        Poll::Ready(Ok(()))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Ok,
    Protocol,
    Lost,
}

fn end_of(e: Option<Error>) -> End {
    match e {
        None => End::Ok,
        Some(Error::Protocol { .. }) => End::Protocol,
        Some(Error::ConnectionLost { .. }) => End::Lost,
        Some(other) => panic!("unexpected error kind: {other:?}"),
    }
}

fn reader(data: &[u8], max_step: usize, framing: BodyFraming) -> BodyReader<Pieces> {
    let pieces = Pieces {
        data: data.to_vec(),
        at: 0,
        step: 1,
        max_step,
    };
    BodyReader::new(pieces, Bytes::new(), framing, &RawOptions::default())
}

fn read_owned(mut body: BodyReader<Pieces>) -> (Vec<u8>, End) {
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    let mut out = Vec::new();
    loop {
        match body.poll_next_data(&mut cx) {
            Poll::Ready(Ok(Some(d))) => {
                assert!(!d.is_empty());
                out.extend_from_slice(&d);
            }
            Poll::Ready(Ok(None)) => return (out, End::Ok),
            Poll::Ready(Err(e)) => return (out, end_of(Some(e))),
            Poll::Pending => unreachable!("in-memory reads are always ready"),
        }
    }
}

fn read_borrowed(mut body: BodyReader<Pieces>, take: usize) -> (Vec<u8>, End) {
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    let mut out = Vec::new();
    loop {
        let n = match body.poll_fill_buf(&mut cx) {
            Poll::Ready(Ok([])) => return (out, End::Ok),
            Poll::Ready(Ok(data)) => {
                let n = data.len().min(take);
                out.extend_from_slice(&data[..n]);
                n
            }
            Poll::Ready(Err(e)) => return (out, end_of(Some(e))),
            Poll::Pending => unreachable!("in-memory reads are always ready"),
        };
        body.consume(n);
    }
}

/// Checks one input; panics on a bug.
pub fn run(data: &[u8]) {
    let [mode, step, input @ ..] = data else {
        return;
    };
    let max_step = usize::from(*step % 64) + 1;
    let framing = match mode % 4 {
        0 | 1 => BodyFraming::Chunked,
        2 => BodyFraming::Length(u64::from(*step) * 3),
        _ => BodyFraming::UntilClose,
    };

    // Any bytes: the same outcome whatever the read sizes and the API.
    let whole = read_owned(reader(input, usize::MAX, framing));
    let pieces = read_owned(reader(input, max_step, framing));
    let borrowed = read_borrowed(reader(input, max_step, framing), max_step + 3);
    assert_eq!(pieces, whole);
    assert_eq!(borrowed, whole);

    // Round trip: the input as payload, cut into chunks and encoded with variations.
    if mode % 4 == 1 {
        let mut wire = Vec::new();
        let mut at = 0;
        let mut size = 1;
        while at < input.len() {
            let n = size.min(input.len() - at);
            match size % 3 {
                0 => wire.extend_from_slice(format!("{n:X};ext=\"v\"\r\n").as_bytes()),
                1 => wire.extend_from_slice(format!("{n:x}\n").as_bytes()),
                _ => wire.extend_from_slice(format!("{n:04x}\r\n").as_bytes()),
            }
            wire.extend_from_slice(&input[at..at + n]);
            wire.extend_from_slice(if size % 2 == 0 { b"\r\n" } else { b"\n" });
            at += n;
            size = size % max_step + 1;
        }
        wire.extend_from_slice(b"0\r\nX-Fuzz: 1\r\n\r\n");
        let (out, end) = read_owned(reader(&wire, max_step, BodyFraming::Chunked));
        assert_eq!(end, End::Ok);
        assert_eq!(out, input);
    }
}
