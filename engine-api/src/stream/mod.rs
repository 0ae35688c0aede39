//! Incremental decoders for the Engine API's streaming bodies.
//!
//! Each decoder is a plain state machine fed [`bytes::Bytes`] pieces, usable without any I/O
//! (and fuzzed that way); the async adapters couple them with the raw HTTP path's
//! [`BodyReader`](crate::transport::raw::BodyReader):
//!
//! * [`demux`]: multiplexed stdout/stderr frames ([`Demuxer`]), and the raw TTY passthrough,
//!   behind [`LogDecoder`]; [`framing`] chooses between them from the response's media type and
//!   the `Tty` setting.
//! * [`lines`]: optional line framing on top ([`LineFramer`]).
//! * [`json_lines`]: JSON-lines progress and event streams ([`JsonLines`]).
//! * [`log_stream`] and [`json_stream`]: the async streams ([`LogStream`], [`LogLines`],
//!   [`JsonStream`]).
//! * `catch_up`: several reads of one log made into one stream, for engines whose own `follow`
//!   is not complete (Podman 4.x).

pub(crate) mod catch_up;
pub mod demux;
pub mod framing;
pub mod json_lines;
pub mod json_stream;
pub mod lines;
pub mod log_stream;
pub(crate) mod search;

pub use demux::{Demuxer, LogChunk, LogDecoder, StreamKind};
pub use framing::{Framing, StreamMediaType};
pub use json_lines::{stream_error, JsonLines};
pub use json_stream::JsonStream;
pub use lines::{Line, LineEnd, LineFramer};
pub use log_stream::{LogLines, LogRef, LogStream};
