//! The multiplexed stdout/stderr frame decoder, and the raw (TTY) passthrough.
//!
//! Without a TTY, the engine interleaves stdout and stderr on one byte stream as frames:
//!
//! ```text
//! [type, 0, 0, 0, len (u32, big-endian)] [len bytes of payload]
//! type: 0 stdin, 1 stdout, 2 stderr, 3 system error (the payload is the engine's message)
//! ```
//!
//! [`Demuxer`] decodes that incrementally from whatever pieces the body arrives in: a frame
//! header split across pieces is collected in an 8-byte array, and a payload is handed on as it
//! arrives — a payload split across pieces is yielded in pieces, so memory stays bounded however
//! long a frame claims to be. Payloads are zero-copy slices of the input [`Bytes`]; when a
//! payload is the rest of its piece (the usual case: engines send one HTTP chunk per frame) the
//! piece itself is handed on, without even a reference-count increment.
//!
//! What moby's `stdcopy` tolerates silently is an error here: an unknown stream type is
//! [`Error::Protocol`], a stream that ends inside a header or a payload is
//! [`Error::Protocol`], and a system-error frame is [`Error::Stream`] with the engine's message.
//! Nothing panics, whatever the input.
//!
//! [`LogDecoder`] puts the demuxer and the raw passthrough behind one interface, chosen by
//! [`Framing`]; raw data is handed on the moment it arrives, never held back waiting for a
//! newline.

use bytes::{Buf, Bytes};

use super::framing::Framing;
use crate::error::{Error, Result};

/// The length of a multiplexed frame header.
pub const FRAME_HEADER_LEN: usize = 8;

/// How much of a system-error frame's payload is kept for the error message.
const MAX_SYSTEM_ERROR: usize = 64 * 1024;

/// Which of the container's streams a piece of output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Stream type 0. Engines do not normally send it; moby's `stdcopy` writes it to stdout.
    Stdin,
    /// Stream type 1, and all of a raw (TTY) stream.
    Stdout,
    /// Stream type 2.
    Stderr,
}

impl StreamKind {
    /// `stdin`, `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Stdin => "stdin",
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }

    /// A dense index (0, 1, 2) for per-stream state.
    pub(crate) fn index(self) -> usize {
        match self {
            StreamKind::Stdin => 0,
            StreamKind::Stdout => 1,
            StreamKind::Stderr => 2,
        }
    }
}

/// A piece of a container's output: the bytes as the engine sent them, tagged with their stream.
///
/// One frame may come as several chunks (when it was split across reads); chunks carry no
/// line structure — see [`LineFramer`](super::lines::LineFramer) for lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The stream the bytes were written to.
    pub stream: StreamKind,
    /// The bytes (never empty).
    pub data: Bytes,
}

/// What one decoding step found in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A payload piece at `input[start..start + len]`; `input[..start]` was framing.
    Payload {
        stream: StreamKind,
        start: usize,
        len: usize,
    },
    /// All of the input was framing.
    NeedMore,
}

/// Incremental decoder of multiplexed frames. See the [module docs](self).
#[derive(Debug)]
pub struct Demuxer {
    /// A frame header collected across input pieces.
    header: [u8; FRAME_HEADER_LEN],
    /// How many bytes of `header` are filled (0 when not inside a header).
    header_len: usize,
    /// Payload bytes still to come of the current frame.
    remaining: u32,
    /// The current frame's declared payload length (for messages).
    frame_len: u32,
    /// The current frame's stream.
    stream: StreamKind,
    /// The payload of a system-error frame being collected.
    system_error: Option<Vec<u8>>,
    /// A framing error was reported: the byte stream cannot be resynchronised.
    failed: bool,
}

impl Default for Demuxer {
    fn default() -> Self {
        Demuxer::new()
    }
}

impl Demuxer {
    /// A decoder at the start of a stream.
    pub fn new() -> Demuxer {
        Demuxer {
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            remaining: 0,
            frame_len: 0,
            stream: StreamKind::Stdout,
            system_error: None,
            failed: false,
        }
    }

    /// Decodes the next piece of output from the front of `input`, consuming what it uses.
    ///
    /// Returns `Ok(None)` once `input` is used up (a partial header is kept for the next call);
    /// it never returns `Ok(None)` while `input` still holds bytes. Empty frames are skipped.
    /// The payload is a zero-copy slice of `input` (or `input` itself when the payload is all
    /// that is left of it).
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] for a system-error frame (type 3) with the engine's message;
    /// [`Error::Protocol`] for an unknown stream type. After an error every call fails: a
    /// multiplexed stream cannot be resynchronised.
    #[inline]
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<LogChunk>> {
        if input.is_empty() {
            return self.check_usable().map(|()| None);
        }
        match self.step(input)? {
            Step::Payload { stream, start, len } => {
                input.advance(start);
                let data = if len == input.len() {
                    // The usual case: the payload is the rest of the piece. Hand it on.
                    std::mem::take(input)
                } else {
                    input.split_to(len)
                };
                Ok(Some(LogChunk { stream, data }))
            }
            Step::NeedMore => {
                input.clear();
                Ok(None)
            }
        }
    }

    /// Like [`decode`](Self::decode) on a borrowed slice: the next payload piece as a slice of
    /// `input`, advancing `input` past it. No reference counting at all.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    #[inline]
    pub fn decode_slice<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<(StreamKind, &'a [u8])>> {
        if input.is_empty() {
            return self.check_usable().map(|()| None);
        }
        match self.step(input)? {
            Step::Payload { stream, start, len } => {
                let data = &input[start..start + len];
                *input = &input[start + len..];
                Ok(Some((stream, data)))
            }
            Step::NeedMore => {
                *input = &[];
                Ok(None)
            }
        }
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            Err(Error::protocol(
                "multiplexed stream read again after a framing error",
            ))
        } else {
            Ok(())
        }
    }

    /// One decoding step over non-empty `input`: the next payload piece's position, or
    /// `NeedMore` when all of `input` was framing (a header, or part of one, or a system-error
    /// message being collected).
    #[inline]
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<Step> {
        self.check_usable()?;
        let mut at = 0;
        loop {
            if self.remaining > 0 {
                let avail = input.len() - at;
                if avail == 0 {
                    return Ok(Step::NeedMore);
                }
                let n = avail.min(self.remaining as usize);
                self.remaining -= n as u32;
                if let Some(message) = &mut self.system_error {
                    let room = MAX_SYSTEM_ERROR.saturating_sub(message.len());
                    message.extend_from_slice(&input[at..at + n.min(room)]);
                    at += n;
                    if self.remaining == 0 {
                        return Err(self.system_error_done(false));
                    }
                    continue;
                }
                return Ok(Step::Payload {
                    stream: self.stream,
                    start: at,
                    len: n,
                });
            }

            // At a frame header.
            let rest = &input[at..];
            let header = if self.header_len == 0 && rest.len() >= FRAME_HEADER_LEN {
                at += FRAME_HEADER_LEN;
                [
                    rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6], rest[7],
                ]
            } else {
                if rest.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let take = (FRAME_HEADER_LEN - self.header_len).min(rest.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&rest[..take]);
                at += take;
                self.header_len += take;
                if self.header_len < FRAME_HEADER_LEN {
                    return Ok(Step::NeedMore);
                }
                self.header_len = 0;
                self.header
            };
            self.start_frame(header)?;
        }
    }

    fn start_frame(&mut self, header: [u8; FRAME_HEADER_LEN]) -> Result<()> {
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        self.stream = match header[0] {
            0 => StreamKind::Stdin,
            1 => StreamKind::Stdout,
            2 => StreamKind::Stderr,
            3 => {
                self.system_error = Some(Vec::with_capacity((len as usize).min(1024)));
                if len == 0 {
                    return Err(self.system_error_done(false));
                }
                StreamKind::Stderr
            }
            other => {
                self.failed = true;
                return Err(Error::protocol(format!(
                    "unknown stream type {other} in a multiplexed frame header {header:02x?} \
                     (expected 0, 1, 2 or 3)"
                )));
            }
        };
        self.remaining = len;
        self.frame_len = len;
        Ok(())
    }

    fn system_error_done(&mut self, truncated: bool) -> Error {
        self.failed = true;
        let payload = self.system_error.take().unwrap_or_default();
        let mut message = String::from_utf8_lossy(&payload).trim_end().to_owned();
        if message.is_empty() {
            message = "the engine reported an error in the stream without a message".into();
        }
        if truncated {
            message.push_str(" (message truncated: the stream ended inside it)");
        }
        Error::Stream { message }
    }

    /// Checks that the stream ended at a frame boundary. Call it at the end of the body.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the stream ended inside a frame header or payload;
    /// [`Error::Stream`] when it ended inside a system-error frame (with what arrived of the
    /// message).
    pub fn finish(&mut self) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        if self.header_len > 0 {
            self.failed = true;
            return Err(Error::protocol(format!(
                "the multiplexed stream ended inside a frame header ({} of {FRAME_HEADER_LEN} bytes)",
                self.header_len
            )));
        }
        if self.remaining > 0 {
            if self.system_error.is_some() {
                return Err(self.system_error_done(true));
            }
            self.failed = true;
            return Err(Error::protocol(format!(
                "the multiplexed stream ended inside a {} frame ({} of {} payload bytes missing)",
                self.stream.as_str(),
                self.remaining,
                self.frame_len
            )));
        }
        Ok(())
    }
}

/// Decodes an output stream of either framing into [`LogChunk`]s.
#[derive(Debug)]
pub enum LogDecoder {
    /// Multiplexed frames.
    Multiplexed(Demuxer),
    /// Raw (TTY) bytes, handed on as stdout the moment they arrive.
    Raw,
}

impl LogDecoder {
    /// A decoder for `framing`.
    pub fn new(framing: Framing) -> LogDecoder {
        match framing {
            Framing::Multiplexed => LogDecoder::Multiplexed(Demuxer::new()),
            Framing::Raw => LogDecoder::Raw,
        }
    }

    /// The framing this decoder reads.
    pub fn framing(&self) -> Framing {
        match self {
            LogDecoder::Multiplexed(_) => Framing::Multiplexed,
            LogDecoder::Raw => Framing::Raw,
        }
    }

    /// Like [`Demuxer::decode`]: the next chunk from the front of `input`, `Ok(None)` once
    /// `input` is used up.
    #[inline]
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<LogChunk>> {
        match self {
            LogDecoder::Multiplexed(d) => d.decode(input),
            LogDecoder::Raw if input.is_empty() => Ok(None),
            LogDecoder::Raw => Ok(Some(LogChunk {
                stream: StreamKind::Stdout,
                data: std::mem::take(input),
            })),
        }
    }

    /// Like [`Demuxer::decode_slice`].
    #[inline]
    pub fn decode_slice<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<(StreamKind, &'a [u8])>> {
        match self {
            LogDecoder::Multiplexed(d) => d.decode_slice(input),
            LogDecoder::Raw if input.is_empty() => Ok(None),
            LogDecoder::Raw => Ok(Some((StreamKind::Stdout, std::mem::take(input)))),
        }
    }

    /// One step over non-empty `input` (see [`Demuxer::step`]).
    #[inline]
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<Step> {
        match self {
            LogDecoder::Multiplexed(d) => d.step(input),
            LogDecoder::Raw => Ok(Step::Payload {
                stream: StreamKind::Stdout,
                start: 0,
                len: input.len(),
            }),
        }
    }

    /// Whether the payload piece of `len` bytes the last [`step`](Self::step) found is the
    /// first of its frame (raw streams have no frames: never).
    #[inline]
    pub(crate) fn piece_starts_frame(&self, len: usize) -> bool {
        match self {
            LogDecoder::Multiplexed(d) => d.frame_len - d.remaining == len as u32,
            LogDecoder::Raw => false,
        }
    }

    /// Like [`Demuxer::finish`]; always `Ok` for raw streams.
    pub fn finish(&mut self) -> Result<()> {
        match self {
            LogDecoder::Multiplexed(d) => d.finish(),
            LogDecoder::Raw => Ok(()),
        }
    }
}

/// Encodes one multiplexed frame (for tests, fakes and benchmarks).
pub fn encode_frame(stream_type: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(stream_type);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(list: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (t, p) in list {
            encode_frame(*t, p, &mut out);
        }
        out
    }

    /// Feeds `wire` in pieces cut at `cuts` and collects (stdout, stderr, result of finish).
    fn run(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, Vec<u8>)> {
        let whole = Bytes::copy_from_slice(wire);
        let mut d = Demuxer::new();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
            let mut piece = whole.slice(start..end);
            start = end;
            while let Some(c) = d.decode(&mut piece)? {
                assert!(!c.data.is_empty());
                match c.stream {
                    StreamKind::Stderr => err.extend_from_slice(&c.data),
                    _ => out.extend_from_slice(&c.data),
                }
            }
            assert!(piece.is_empty());
        }
        d.finish()?;
        Ok((out, err))
    }

    #[test]
    fn any_split_point_gives_the_same_output() {
        let wire = frames(&[
            (1, b"hello "),
            (2, b"oops\n"),
            (1, b""),
            (1, b"world\n"),
            (0, b"in"),
        ]);
        let expected = (b"hello world\nin".to_vec(), b"oops\n".to_vec());
        for a in 0..=wire.len() {
            for b in a..=wire.len() {
                assert_eq!(run(&wire, &[a, b]).unwrap(), expected, "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn the_slice_api_agrees_with_the_bytes_api() {
        let wire = frames(&[(1, b"hello "), (2, b"oops\n"), (1, b""), (1, b"world\n")]);
        for cut in 0..=wire.len() {
            let mut d = Demuxer::new();
            let mut got = Vec::new();
            for piece in [&wire[..cut], &wire[cut..]] {
                let mut piece = piece;
                while let Some((stream, data)) = d.decode_slice(&mut piece).unwrap() {
                    got.push((stream, data.to_vec()));
                }
                assert!(piece.is_empty());
            }
            d.finish().unwrap();
            let joined: Vec<u8> = got
                .iter()
                .filter(|(s, _)| *s == StreamKind::Stdout)
                .flat_map(|(_, d)| d.clone())
                .collect();
            assert_eq!(joined, b"hello world\n", "cut {cut}");
        }
    }

    #[test]
    fn whole_frame_pieces_are_handed_on_without_slicing() {
        let wire = Bytes::from(frames(&[(1, b"abcdef")]));
        let mut piece = wire.clone();
        let c = Demuxer::new().decode(&mut piece).unwrap().unwrap();
        assert_eq!(c.data.as_ptr(), wire[8..].as_ptr());
        assert!(piece.is_empty());
    }

    #[test]
    fn system_error_frames_become_stream_errors_even_when_split() {
        let wire = frames(&[(1, b"ok"), (3, b"container died\n")]);
        for cut in 0..wire.len() {
            let e = run(&wire, &[cut]).unwrap_err();
            assert!(matches!(&e, Error::Stream { message } if message == "container died"));
        }
    }

    #[test]
    fn unknown_types_are_protocol_errors_and_stick() {
        let mut input = Bytes::from(frames(&[(7, b"x")]));
        let mut d = Demuxer::new();
        let e = d.decode(&mut input).unwrap_err();
        assert!(e.is_protocol(), "{e}");
        assert!(e.to_string().contains("unknown stream type 7"), "{e}");
        assert!(d
            .decode(&mut Bytes::from_static(b"\x01\0\0\0\0\0\0\x01a"))
            .is_err());
    }

    #[test]
    fn truncation_is_an_error() {
        let e = run(&[1, 0, 0, 0, 0], &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("inside a frame header (5 of 8 bytes)"),
            "{e}"
        );
        let e = run(&frames(&[(2, b"abcdef")])[..10], &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("stderr frame (4 of 6 payload bytes missing)"),
            "{e}"
        );
        let e = run(&frames(&[(3, b"boom")])[..10], &[]).unwrap_err();
        assert!(matches!(&e, Error::Stream { message } if message.starts_with("bo")));
    }

    #[test]
    fn long_frames_stream_through_in_pieces() {
        // A frame claiming 4 GiB - 1 bytes: nothing is allocated for it; pieces pass through.
        let mut d = Demuxer::new();
        let mut head = Bytes::from_static(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(d.decode(&mut head).unwrap().is_none());
        let piece = Bytes::from(vec![7u8; 1 << 16]);
        for _ in 0..4 {
            let mut p = piece.clone();
            assert_eq!(d.decode(&mut p).unwrap().unwrap().data.len(), 1 << 16);
        }
        assert!(d.finish().is_err());
    }

    #[test]
    fn raw_passes_everything_through_at_once() {
        let mut d = LogDecoder::new(Framing::Raw);
        // TTY output that starts like a frame header is still raw.
        let mut input = Bytes::from_static(b"\x01\x00\x00\x00no newline");
        let c = d.decode(&mut input).unwrap().unwrap();
        assert_eq!(c.stream, StreamKind::Stdout);
        assert_eq!(&c.data[..], b"\x01\x00\x00\x00no newline");
        assert!(d.decode(&mut input).unwrap().is_none());
        d.finish().unwrap();
    }
}
