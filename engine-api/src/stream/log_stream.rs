//! Async output streams: a response body decoded into [`LogChunk`]s or [`Line`]s.
//!
//! [`LogStream`] couples a [`BodyReader`] with a [`LogDecoder`]: chunks are cut straight out of
//! the reader's buffer and handed on, with no copy, no channel and no task in between. Use the
//! inherent [`LogStream::next_chunk`] in a loop for the least overhead, or the
//! [`Stream`] implementation to compose with `futures` combinators.
//!
//! The body is read only when the consumer asks for the next chunk (backpressure reaches the
//! engine through the socket), and dropping the stream closes the connection.
//!
//! [`LogLines`] adds a [`LineFramer`] on top for consumers that want lines.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::io::AsyncRead;

use super::demux::{LogChunk, LogDecoder};
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
    /// The body data not yet decoded.
    input: Bytes,
    done: bool,
}

impl<R: AsyncRead + Unpin> LogStream<R> {
    /// Decodes `body` with `framing` (choose it with [`Framing::choose`]).
    pub fn new(body: BodyReader<R>, framing: Framing) -> LogStream<R> {
        LogStream {
            body,
            decoder: LogDecoder::new(framing),
            input: Bytes::new(),
            done: false,
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

    /// The next chunk of output; `Ok(None)` at the end.
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
        loop {
            if self.done {
                return Poll::Ready(Ok(None));
            }
            if !self.input.is_empty() {
                match self.decoder.decode(&mut self.input) {
                    Ok(Some(chunk)) => return Poll::Ready(Ok(Some(chunk))),
                    Ok(None) => {}
                    Err(e) => {
                        self.done = true;
                        return Poll::Ready(Err(e));
                    }
                }
            }
            match ready!(self.body.poll_next_data(cx)) {
                Ok(Some(data)) => self.input = data,
                Ok(None) => {
                    self.done = true;
                    return Poll::Ready(self.decoder.finish().map(|()| None));
                }
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
