//! Async JSON-lines streams: a response body decoded into items of type `T`.
//!
//! [`JsonStream`] couples a [`BodyReader`] with a [`JsonLines`] decoder for pull, push, build,
//! import and events. Read with the inherent [`JsonStream::next_item`] or as a [`Stream`].
//! As with [`LogStream`](super::log_stream::LogStream), the body is read only on demand and
//! dropping the stream closes the connection.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use serde::de::DeserializeOwned;
use tokio::io::AsyncRead;

use super::json_lines::JsonLines;
use crate::error::{Error, Result};
use crate::transport::raw::BodyReader;
use crate::transport::Conn;

/// A JSON-lines response body as a stream of `T`.
///
/// A line that fails to decode ([`Error::Decode`]) is reported and reading can go on; any other
/// error (an error reported by the engine in the stream, a broken connection) ends the stream.
#[derive(Debug)]
pub struct JsonStream<T, R = Conn> {
    body: BodyReader<R>,
    decoder: JsonLines<T>,
    ended: bool,
    done: bool,
}

impl<T: DeserializeOwned, R: AsyncRead + Unpin> JsonStream<T, R> {
    /// Decodes `body` with `decoder` (configure its limit and error check there).
    pub fn new(body: BodyReader<R>, decoder: JsonLines<T>) -> JsonStream<T, R> {
        JsonStream {
            body,
            decoder,
            ended: false,
            done: false,
        }
    }

    /// The body reader (to change its idle timeout, say).
    pub fn body_mut(&mut self) -> &mut BodyReader<R> {
        &mut self.body
    }

    /// The next item; `Ok(None)` at the end.
    ///
    /// # Errors
    ///
    /// Those of [`JsonLines::next_item`] and [`BodyReader::next_data`].
    pub async fn next_item(&mut self) -> Result<Option<T>> {
        poll_fn(|cx| self.poll_next_item(cx)).await
    }

    /// Poll form of [`next_item`](Self::next_item).
    pub fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>>> {
        loop {
            if self.done {
                return Poll::Ready(Ok(None));
            }
            if self.ended {
                let r = self.decoder.finish();
                if !matches!(r, Err(Error::Decode { .. }) | Ok(Some(_))) {
                    self.done = true;
                }
                return Poll::Ready(r);
            }
            match self.decoder.next_item() {
                Ok(Some(item)) => return Poll::Ready(Ok(Some(item))),
                Ok(None) => {}
                Err(e) => {
                    if !matches!(e, Error::Decode { .. }) {
                        self.done = true;
                    }
                    return Poll::Ready(Err(e));
                }
            }
            match ready!(self.body.poll_next_data(cx)) {
                Ok(Some(data)) => self.decoder.push(data),
                Ok(None) => self.ended = true,
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }
}

impl<T: DeserializeOwned, R: AsyncRead + Unpin> Stream for JsonStream<T, R> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_item(cx).map(Result::transpose)
    }
}
