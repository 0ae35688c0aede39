//! Catching up: one output stream made of several reads of the same log, each re-read
//! dropping what an earlier one delivered.
//!
//! Podman 4.x cannot be trusted to follow a log: its `follow=1` reader skips ranges of the log
//! file while the container writes fast (measured here on 4.3.1: lines 151 869 to 157 597 of
//! 400 000 missing, then more gaps) and stops once the container exits (26 of 71 MB
//! delivered). A read *without* `follow` returns the log as it is on disk, complete. So
//! `Client::container_logs` follows on Podman by polling: it reads without `follow` until the
//! end of what is written, then again while the container runs, and once more after it has
//! stopped. [`CatchUp`] makes those reads one stream, in one of two ways ([`CatchUpMode`]):
//!
//! * **timestamps** (multiplexed output, the usual case): every read asks for `timestamps=1`.
//!   Each frame's `<RFC 3339 time> ` prefix is parsed and stripped. A re-read covers the log
//!   from the second of the newest frame delivered, L: frames older than L are dropped, and
//!   per stream the bytes already delivered within L. Podman writes its log in time order, so
//!   nothing older than L can be missing. The re-read is `since=L`, or, when a small one
//!   will do, a *window* of the log's last frames (`tail=K`, which Podman serves from the
//!   file's end, where `since` makes it parse the whole file: 3.8 s for 128 MiB of logs here,
//!   on every poll). A window is complete only if its first frame is older than L, so one
//!   whose first frame is not is dropped at once and asked for again, larger. A re-read costs
//!   at most one second of output again.
//! * **replay** (TTY output, whose lines cannot be told apart from partial ones, or when the
//!   caller wants the timestamps): every read starts at the beginning and the bytes already
//!   delivered are dropped, per stream.
//!
//! Per stream because Podman's reads of a finished container return all of stdout and then
//! all of stderr: the order between the streams may change from one read to the next, the
//! order within each does not.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::demux::StreamKind;
use super::search::find_byte;
use crate::error::{Error, Result};
use crate::transport::raw::BodyReader;

/// The longest timestamp prefix accepted (RFC 3339 with nanoseconds and an offset is 35).
const MAX_PREFIX: usize = 64;

/// How the reads of a catch-up stream line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatchUpMode {
    /// Every read replays the output from its start.
    Replay,
    /// Every frame starts with its timestamp and a space; a re-read starts at a whole second.
    Timestamps,
}

/// What the next read should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReopenArgs {
    /// Whether the read that ended delivered a new byte.
    pub(crate) progressed: bool,
    /// Timestamps mode: the second the next read must cover from (L); `None` before any
    /// frame.
    pub(crate) since: Option<i64>,
    /// Timestamps mode: how many frames of second `since` were delivered (a window must
    /// hold at least these, and whatever came after).
    pub(crate) recent_frames: u64,
    /// Timestamps mode: how many frames were delivered in all (a window as large holds the
    /// whole log as far as it is known: reading it all costs no more).
    pub(crate) total_frames: u64,
    /// The read that ended was a window that started too late, and was dropped.
    pub(crate) window_missed: bool,
}

/// The body continuing a stream after its previous body ended.
#[derive(Debug)]
pub(crate) struct Reopened<R> {
    /// The next read of the output.
    pub(crate) body: BodyReader<R>,
    /// When this body ends, the stream ends.
    pub(crate) last: bool,
    /// Timestamps mode: the body is a window of the log's last frames, complete only if its
    /// first frame is older than this second.
    pub(crate) window: Option<i64>,
}

/// A future opening the next read, or `None` when the output is complete.
pub(crate) type ReopenFuture<R> = Pin<Box<dyn Future<Output = Result<Option<Reopened<R>>>> + Send>>;

/// Opens the next read.
pub(crate) type Reopen<R> = Box<dyn FnMut(ReopenArgs) -> ReopenFuture<R> + Send>;

/// The state of a stream made of several reads (see the [module docs](self)).
pub(crate) struct CatchUp<R> {
    mode: CatchUpMode,
    /// Per stream: payload bytes delivered (replay: in all; timestamps: within `second`).
    delivered: [u64; 3],
    /// Per stream, timestamps mode: the second of the newest frame delivered.
    second: [Option<i64>; 3],
    /// Per stream: payload bytes of the current read still to drop.
    skip: [u64; 3],
    /// Timestamps mode: the second the current read starts at (where `skip` applies).
    skip_second: Option<i64>,
    /// Timestamps mode: the current frame's prefix is still being read.
    in_prefix: bool,
    /// Timestamps mode: the prefix read so far.
    prefix: Vec<u8>,
    /// Timestamps mode: the current frame's second.
    frame_second: i64,
    /// Timestamps mode: frames older than this second are dropped whole.
    floor: Option<i64>,
    /// The rest of the current frame is dropped.
    dropping: bool,
    /// Timestamps mode: the current read is a window that must start before this second.
    window: Option<i64>,
    /// The current read was dropped part way: its window started too late.
    abandoned: bool,
    /// Timestamps mode: the newest second delivered, and how many frames of it were.
    newest: Option<i64>,
    newest_frames: u64,
    total_frames: u64,
    progressed: bool,
    last: bool,
    reopen: Reopen<R>,
    pending: Option<ReopenFuture<R>>,
}

impl<R> fmt::Debug for CatchUp<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatchUp")
            .field("mode", &self.mode)
            .field("delivered", &self.delivered)
            .field("second", &self.second)
            .field("skip", &self.skip)
            .field("last", &self.last)
            .field("reopening", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl<R> CatchUp<R> {
    /// A stream whose first read is under way; `last` if it is the only one.
    pub(crate) fn new(mode: CatchUpMode, last: bool, reopen: Reopen<R>) -> CatchUp<R> {
        CatchUp {
            mode,
            delivered: [0; 3],
            second: [None; 3],
            skip: [0; 3],
            skip_second: None,
            in_prefix: false,
            prefix: Vec::new(),
            frame_second: 0,
            floor: None,
            dropping: false,
            window: None,
            abandoned: false,
            newest: None,
            newest_frames: 0,
            total_frames: 0,
            progressed: false,
            last,
            reopen,
            pending: None,
        }
    }

    /// Whether a reopen is under way (the previous body has been checked to end cleanly).
    pub(crate) fn reopening(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether the current read is being dropped (a window that started too late): its
    /// body is not to be read further, and the next read follows.
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// Takes a decoded payload piece of `len` bytes at the front of `body` (`frame_start`: it
    /// begins a frame): strips a timestamp prefix, drops what an earlier read delivered, and
    /// returns how much of it is left to deliver, at the front of `body`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a frame that does not start with a timestamp in timestamps
    /// mode.
    #[inline]
    pub(crate) fn account(
        &mut self,
        body: &mut BodyReader<R>,
        frame_start: bool,
        stream: StreamKind,
        mut len: usize,
    ) -> Result<usize> {
        let i = stream.index();
        if self.mode == CatchUpMode::Timestamps {
            if frame_start {
                self.in_prefix = true;
                self.dropping = false;
                self.prefix.clear();
            }
            if self.dropping {
                body.consume(len);
                return Ok(0);
            }
            if self.in_prefix {
                let piece = body.front(len);
                let (take, complete) = match find_byte(b' ', piece) {
                    Some(p) => (p + 1, true),
                    None => (len, false),
                };
                if self.prefix.len() + take > MAX_PREFIX {
                    return Err(Error::protocol(
                        "a log frame does not start with a timestamp (asked for with timestamps=1)",
                    ));
                }
                self.prefix.extend_from_slice(&piece[..take]);
                body.consume(take);
                len -= take;
                if complete {
                    self.in_prefix = false;
                    self.frame_second = rfc3339_second(&self.prefix[..self.prefix.len() - 1])
                        .ok_or_else(|| {
                            Error::protocol(format!(
                                "a log frame starts with {:?}, not an RFC 3339 timestamp",
                                String::from_utf8_lossy(&self.prefix)
                            ))
                        })?;
                    if let Some(limit) = self.window.take() {
                        if self.frame_second >= limit {
                            // The window may miss frames of second `limit`: drop this read.
                            self.abandoned = true;
                            body.consume(len);
                            return Ok(0);
                        }
                    }
                    if self.floor.is_some_and(|f| self.frame_second < f) {
                        // Older than the re-read's first second: delivered already.
                        self.dropping = true;
                        body.consume(len);
                        return Ok(0);
                    }
                    if self.skip[i] > 0 && Some(self.frame_second) != self.skip_second {
                        // Past the second being re-read: nothing more of it to drop.
                        self.skip[i] = 0;
                    }
                    if self.second[i].is_none_or(|s| self.frame_second > s) {
                        self.second[i] = Some(self.frame_second);
                        self.delivered[i] = 0;
                    }
                    if self.skip[i] == 0 {
                        // A frame not delivered before: count it for the next window.
                        self.total_frames += 1;
                        if self.newest.is_none_or(|n| self.frame_second > n) {
                            self.newest = Some(self.frame_second);
                            self.newest_frames = 0;
                        }
                        if self.newest == Some(self.frame_second) {
                            self.newest_frames += 1;
                        }
                    }
                }
                if len == 0 {
                    return Ok(0);
                }
            }
        }
        let dropped = self.skip[i].min(len as u64) as usize;
        if dropped > 0 {
            self.skip[i] -= dropped as u64;
            body.consume(dropped);
            len -= dropped;
        }
        if len > 0 {
            self.delivered[i] += len as u64;
            self.progressed = true;
        }
        Ok(len)
    }

    /// At the clean end of a body: the next body, or `None` when the stream is complete.
    pub(crate) fn poll_reopen(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<BodyReader<R>>>> {
        if self.last && !self.abandoned {
            return Poll::Ready(Ok(None));
        }
        if self.in_prefix && !self.abandoned {
            return Poll::Ready(Err(Error::protocol(
                "the log ended inside a frame's timestamp",
            )));
        }
        let since = match self.mode {
            CatchUpMode::Replay => None,
            CatchUpMode::Timestamps => self.second.iter().flatten().copied().max(),
        };
        let pending = self.pending.get_or_insert_with(|| {
            (self.reopen)(ReopenArgs {
                progressed: std::mem::take(&mut self.progressed),
                since,
                recent_frames: self.newest_frames,
                total_frames: self.total_frames,
                window_missed: self.abandoned,
            })
        });
        let reopened = ready!(pending.as_mut().poll(cx));
        self.pending = None;
        // The dropped body stays dropped until now: the stream must not read it meanwhile.
        self.abandoned = false;
        let Some(Reopened { body, last, window }) = reopened? else {
            return Poll::Ready(Ok(None));
        };
        self.last = last;
        self.window = window;
        self.floor = since;
        self.in_prefix = false;
        self.dropping = false;
        match self.mode {
            CatchUpMode::Replay => self.skip = self.delivered,
            CatchUpMode::Timestamps => {
                self.skip_second = since;
                for i in 0..3 {
                    self.skip[i] = if since.is_some() && self.second[i] == since {
                        self.delivered[i]
                    } else {
                        0
                    };
                }
            }
        }
        Poll::Ready(Ok(Some(body)))
    }
}

/// The Unix second of an RFC 3339 timestamp (`2024-05-01T12:00:00Z`,
/// `2024-05-01T14:00:00.123456789+02:00`), rounded down; `None` if it is not one.
pub(crate) fn rfc3339_second(text: &[u8]) -> Option<i64> {
    fn num(b: &[u8]) -> Option<i64> {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(b.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    }
    if text.len() < 20 || text[4] != b'-' || text[7] != b'-' || text[13] != b':' {
        return None;
    }
    if !matches!(text[10], b'T' | b't' | b' ') || text[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(&text[0..4])?, num(&text[5..7])?, num(&text[8..10])?);
    let (hour, minute, second) = (
        num(&text[11..13])?,
        num(&text[14..16])?,
        num(&text[17..19])?,
    );
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = num(&[*h1, *h2])? * 60 + num(&[*m1, *m2])?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(60) - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_seconds() {
        assert_eq!(rfc3339_second(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_second(b"2026-11-24T16:55:12Z"), Some(1_795_539_312));
        assert_eq!(
            rfc3339_second(b"2026-11-24T18:55:12.999999999+02:00"),
            Some(1_795_539_312)
        );
        assert_eq!(
            rfc3339_second(b"2000-02-29T23:59:59-01:00"),
            Some(951_872_399)
        );
        for bad in [
            &b""[..],
            b"2026-11-24",
            b"2026-11-24T16:55:12",
            b"2026-11-24T16:55:12.Z",
            b"2026-13-24T16:55:12Z",
            b"hello world, this is not a time",
        ] {
            assert_eq!(
                rfc3339_second(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
