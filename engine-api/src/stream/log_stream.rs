//! Async output streams: a response body decoded into [`LogChunk`]s or [`Line`]s.
//!
//! [`LogStream`] couples a [`BodyReader`] with a [`LogDecoder`]: the demuxer runs on the
//! reader's buffer in place, and chunks are handed on with no copy, no channel and no task in
//! between. Three ways to read, cheapest first:
//!
//! * [`LogStream::next_chunk_ref`] lends each chunk out of the read buffer until the next
//!   call: no allocation and no reference count per chunk;
//! * [`LogStream::next_chunk`] gives owned [`LogChunk`]s: large payloads as zero-copy
//!   [`Bytes`](bytes::Bytes) slices of the buffer, small ones (log lines) gathered with their
//!   already-buffered neighbours of the same stream;
//! * the [`Stream`] implementation, to compose with `futures` combinators.
//!
//! The body is read only when the consumer asks for the next chunk (backpressure reaches the
//! engine through the socket), and dropping the stream closes the connection.
//!
//! [`LogLines`] adds a [`LineFramer`] on top for consumers that want lines.
//!
//! A stream may be made of several reads of the same log (see [`super::catch_up`]): when one
//! body ends, the next is opened and what was delivered already is dropped, so the consumer
//! sees one uninterrupted stream. `Client::container_logs` follows logs on Podman that way.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use futures_core::Stream;
use tokio::io::AsyncRead;

use super::catch_up::CatchUp;
use super::demux::{LogChunk, LogDecoder, Step, StreamKind};
use super::framing::Framing;
use super::lines::{Line, LineFramer};
use crate::error::Result;
use crate::transport::raw::BodyReader;
use crate::transport::Conn;

/// A container's output (logs, attach, exec) as a stream of [`LogChunk`]s.
///
/// After the end of the output or an error, it yields nothing more.
#[derive(Debug)]
pub struct LogStream<R = Conn> {
    body: BodyReader<R>,
    decoder: LogDecoder,
    /// Bytes at the front of the body's buffer lent out by the last
    /// [`next_chunk_ref`](Self::next_chunk_ref), consumed on the next call.
    lent: usize,
    /// A payload piece already decoded (by the look-ahead of `next_chunk`) and waiting at the
    /// front of the body's buffer: its stream and length.
    held: Option<(StreamKind, usize)>,
    /// An error met by the look-ahead, reported on the next call.
    held_error: Option<crate::Error>,
    /// Where `next_chunk` gathers small payloads.
    batch: BytesMut,
    /// Further reads of the same log (boxed: most streams have none).
    catch_up: Option<Box<CatchUp<R>>>,
    done: bool,
}

/// Payloads smaller than this are gathered by [`LogStream::next_chunk`] rather than sliced.
const SMALL_PAYLOAD: usize = 256;
/// The most bytes gathered into one chunk.
const MAX_BATCH: usize = 64 * 1024;

/// A piece of output borrowed from the stream's read buffer (see [`LogStream::next_chunk_ref`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRef<'a> {
    /// The stream the bytes were written to.
    pub stream: StreamKind,
    /// The bytes (never empty).
    pub data: &'a [u8],
}

impl<R: AsyncRead + Unpin> LogStream<R> {
    /// Decodes `body` with `framing` (choose it with [`Framing::choose`]).
    pub fn new(body: BodyReader<R>, framing: Framing) -> LogStream<R> {
        LogStream {
            body,
            decoder: LogDecoder::new(framing),
            lent: 0,
            held: None,
            held_error: None,
            batch: BytesMut::new(),
            catch_up: None,
            done: false,
        }
    }

    /// Makes the stream go on through further reads of the same log when its body ends (see
    /// [`super::catch_up`]).
    pub(crate) fn with_catch_up(mut self, catch_up: CatchUp<R>) -> LogStream<R> {
        self.catch_up = Some(Box::new(catch_up));
        self
    }

    /// Passes a decoded payload piece (`len` bytes at the front of the body's buffer) through
    /// the catch-up, if any: what is left of it to deliver.
    #[inline]
    fn account(&mut self, stream: StreamKind, len: usize) -> Result<usize> {
        match self.catch_up.as_deref_mut() {
            None => Ok(len),
            Some(c) => {
                let frame_start = self.decoder.piece_starts_frame(len);
                c.account(&mut self.body, frame_start, stream, len)
            }
        }
    }

    /// The framing being decoded.
    pub fn framing(&self) -> Framing {
        self.decoder.framing()
    }

    /// The body reader (to change its idle timeout, say).
    pub fn body_mut(&mut self) -> &mut BodyReader<R> {
        &mut self.body
    }

    /// The next chunk of output; `Ok(None)` at the end. The caller owns the data.
    ///
    /// A payload of 256 bytes or more is a zero-copy slice of the read buffer. Small payloads
    /// (log lines: engines send one frame per line) are gathered instead: the chunk holds the
    /// payloads of consecutive frames of the same stream that are *already buffered* (up to
    /// 64 KiB; it never waits for more), copied once. One small copy costs less than a
    /// reference-counted slice per line, and the consumer handles one chunk per batch. Order
    /// between stdout and stderr is kept: a batch ends where the stream changes.
    ///
    /// # Errors
    ///
    /// Those of [`BodyReader::next_data`] and of the [`Demuxer`](super::demux::Demuxer): a
    /// system-error frame is [`Error::Stream`](crate::Error::Stream), bad or truncated framing
    /// [`Error::Protocol`](crate::Error::Protocol).
    pub async fn next_chunk(&mut self) -> Result<Option<LogChunk>> {
        poll_fn(|cx| self.poll_next_chunk(cx)).await
    }

    /// Poll form of [`next_chunk`](Self::next_chunk).
    pub fn poll_next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<LogChunk>>> {
        let (stream, len) = match ready!(self.poll_step(cx)) {
            Ok(Some(found)) => found,
            Ok(None) => return Poll::Ready(Ok(None)),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if len >= SMALL_PAYLOAD {
            return Poll::Ready(Ok(Some(LogChunk {
                stream,
                data: self.body.take(len),
            })));
        }
        if self.batch.capacity() < MAX_BATCH {
            // Reuses the previous batch's allocation once the consumer has dropped it.
            self.batch.reserve(MAX_BATCH);
        }
        self.batch.extend_from_slice(self.body.front(len));
        self.body.consume(len);
        // Look ahead in what is buffered, without reading.
        while self.batch.len() < MAX_BATCH {
            if self.catch_up.as_deref().is_some_and(CatchUp::abandoned) {
                break;
            }
            let Ok(Some(available)) = self.body.buffered_data() else {
                // The end, or an error that the next read reports again.
                break;
            };
            match self.decoder.step(self.body.front(available)) {
                Ok(Step::Payload {
                    stream: next,
                    start,
                    len,
                }) => {
                    self.body.consume(start);
                    let len = match self.account(next, len) {
                        Ok(0) => continue,
                        Ok(len) => len,
                        Err(e) => {
                            self.held_error = Some(e);
                            break;
                        }
                    };
                    if next == stream && len < SMALL_PAYLOAD && self.batch.len() + len <= MAX_BATCH
                    {
                        self.batch.extend_from_slice(self.body.front(len));
                        self.body.consume(len);
                    } else {
                        self.held = Some((next, len));
                        break;
                    }
                }
                Ok(Step::NeedMore) => self.body.consume(available),
                Err(e) => {
                    self.held_error = Some(e);
                    break;
                }
            }
        }
        Poll::Ready(Ok(Some(LogChunk {
            stream,
            data: self.batch.split().freeze(),
        })))
    }

    /// The next chunk of output borrowed from the read buffer, valid until the next call;
    /// `Ok(None)` at the end.
    ///
    /// This is the cheapest way to consume output that is written somewhere at once (a file,
    /// a terminal, a hash): no copy, no allocation and no reference counting per chunk.
    ///
    /// # Errors
    ///
    /// As [`next_chunk`](Self::next_chunk).
    pub async fn next_chunk_ref(&mut self) -> Result<Option<LogRef<'_>>> {
        let found = poll_fn(|cx| self.poll_step(cx)).await?;
        Ok(found.map(|(stream, len)| {
            self.lent = len;
            LogRef {
                stream,
                data: self.body.front(len),
            }
        }))
    }

    /// Decodes up to the next payload piece, leaving it at the front of the body's buffer:
    /// its stream and length.
    #[inline]
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<(StreamKind, usize)>>> {
        if self.lent > 0 {
            self.body.consume(self.lent);
            self.lent = 0;
        }
        if let Some(held) = self.held.take() {
            return Poll::Ready(Ok(Some(held)));
        }
        if let Some(e) = self.held_error.take() {
            self.done = true;
            return Poll::Ready(Err(e));
        }
        loop {
            if self.done {
                return Poll::Ready(Ok(None));
            }
            // A catch-up may drop a read part way (its window started too late).
            let abandoned = self.catch_up.as_deref().is_some_and(CatchUp::abandoned);
            let available = if abandoned {
                0
            } else {
                match ready!(self.body.poll_available(cx)) {
                    Ok(n) => n,
                    Err(e) => {
                        self.done = true;
                        return Poll::Ready(Err(e));
                    }
                }
            };
            if available == 0 {
                if let Some(c) = self.catch_up.as_deref_mut() {
                    let checked = if abandoned || c.reopening() {
                        Ok(())
                    } else {
                        self.decoder.finish()
                    };
                    let next = match checked {
                        Ok(()) => ready!(c.poll_reopen(cx)),
                        Err(e) => Err(e),
                    };
                    match next {
                        Ok(Some(body)) => {
                            self.body = body;
                            self.decoder = LogDecoder::new(self.decoder.framing());
                            continue;
                        }
                        Ok(None) if abandoned => {
                            self.done = true;
                            return Poll::Ready(Ok(None));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.done = true;
                            return Poll::Ready(Err(e));
                        }
                    }
                }
                self.done = true;
                return Poll::Ready(self.decoder.finish().map(|()| None));
            }
            match self.decoder.step(self.body.front(available)) {
                Ok(Step::Payload { stream, start, len }) => {
                    self.body.consume(start);
                    match self.account(stream, len) {
                        Ok(0) => continue,
                        Ok(len) => return Poll::Ready(Ok(Some((stream, len)))),
                        Err(e) => {
                            self.done = true;
                            return Poll::Ready(Err(e));
                        }
                    }
                }
                Ok(Step::NeedMore) => self.body.consume(available),
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Frames the output into lines of at most `max_line` bytes (see [`LineFramer`]).
    pub fn lines(self, max_line: usize) -> LogLines<R> {
        LogLines {
            chunks: self,
            framer: LineFramer::new(max_line),
            ended: false,
        }
    }
}

impl<R: AsyncRead + Unpin> Stream for LogStream<R> {
    type Item = Result<LogChunk>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_chunk(cx).map(Result::transpose)
    }
}

/// A container's output as a stream of [`Line`]s, per stream. See [`LineFramer`] for how long
/// lines and the unterminated last line are reported.
#[derive(Debug)]
pub struct LogLines<R = Conn> {
    chunks: LogStream<R>,
    framer: LineFramer,
    ended: bool,
}

impl<R: AsyncRead + Unpin> LogLines<R> {
    /// The next line; `Ok(None)` at the end.
    ///
    /// # Errors
    ///
    /// As [`LogStream::next_chunk`]. Lines completed before an error are delivered first;
    /// partial lines pending at an error are dropped.
    pub async fn next_line(&mut self) -> Result<Option<Line>> {
        poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// Poll form of [`next_line`](Self::next_line).
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Line>>> {
        loop {
            if let Some(line) = self.framer.next_line() {
                return Poll::Ready(Ok(Some(line)));
            }
            if self.ended {
                return Poll::Ready(Ok(self.framer.finish()));
            }
            match ready!(self.chunks.poll_next_chunk(cx)) {
                Ok(Some(chunk)) => self.framer.push(chunk),
                Ok(None) => self.ended = true,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<R: AsyncRead + Unpin> Stream for LogLines<R> {
    type Item = Result<Line>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}
