//! Container I/O over the streaming path: logs, attach, exec start, and archive upload.
//!
//! Output is decoded as multiplexed frames or passed through raw (TTY), chosen from the
//! response's media type when the engine sends one (API 1.42+), else from the container's or
//! exec's `Tty` setting — never by guessing from the bytes.
//!
//! Following logs on Podman does not use Podman's `follow=1`, which loses data (it skips
//! ranges of the log file under fast output and stops early once the container exits); it
//! polls complete reads instead and makes them one stream (see `stream::catch_up`).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::client::{seg, Client, Query, Request, Timeout};
use crate::error::{Error, Result};
use crate::stream::catch_up::{CatchUp, CatchUpMode, ReopenArgs, Reopened};
use crate::stream::{Framing, LogChunk, LogStream, StreamMediaType};
use crate::transport::raw::{RawBody, RawResponse};
use crate::transport::Conn;

/// Options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    /// Keep the stream open and deliver new output as it comes.
    pub follow: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only output since this Unix time (seconds; fractional allowed as a string by the API).
    pub since: Option<i64>,
    /// Only output before this Unix time.
    pub until: Option<i64>,
    /// Prefix every line with an RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last N lines (`None`: all).
    pub tail: Option<u64>,
    /// Whether the container has a TTY, when the caller knows; otherwise it is inspected if
    /// the engine does not declare the stream's media type.
    pub tty: Option<bool>,
}

impl Default for LogsOptions {
    fn default() -> LogsOptions {
        LogsOptions {
            follow: false,
            stdout: true,
            stderr: true,
            since: None,
            until: None,
            timestamps: false,
            tail: None,
            tty: None,
        }
    }
}

impl LogsOptions {
    /// stdout and stderr, following.
    pub fn follow() -> LogsOptions {
        LogsOptions {
            follow: true,
            ..LogsOptions::default()
        }
    }
}

/// Options of `POST /containers/{id}/attach`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Attach stdin (the container needs `OpenStdin`).
    pub stdin: bool,
    /// Attach stdout.
    pub stdout: bool,
    /// Attach stderr.
    pub stderr: bool,
    /// Replay the output produced so far before streaming.
    pub logs: bool,
    /// Whether the container has a TTY, when the caller knows.
    pub tty: Option<bool>,
}

impl Default for AttachOptions {
    fn default() -> AttachOptions {
        AttachOptions {
            stdin: false,
            stdout: true,
            stderr: true,
            logs: false,
            tty: None,
        }
    }
}

/// A hijacked attach or exec connection: output in, stdin out.
#[derive(Debug)]
pub struct Attached {
    /// The output, decoded.
    pub output: LogStream<ReadHalf<Conn>>,
    /// stdin. Write to it, then [`Attached::close_stdin`] (or shut it down) to send EOF while
    /// the output keeps flowing.
    pub input: WriteHalf<Conn>,
}

impl Attached {
    /// The next piece of output, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<LogChunk>> {
        self.output.next_chunk().await
    }

    /// Writes `data` to the process's stdin.
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<()> {
        self.input
            .write_all(data)
            .await
            .map_err(|e| Error::io("cannot write to the container's stdin", e))
    }

    /// Half-closes the connection: the process sees EOF on stdin; output still arrives.
    pub async fn close_stdin(&mut self) -> Result<()> {
        self.input
            .shutdown()
            .await
            .map_err(|e| Error::io("cannot close the container's stdin", e))
    }
}

/// The smallest window of a log's last frames a poll asks for on Podman.
const MIN_WINDOW: u64 = 1024;
/// Past this many frames a poll reads `since` the newest second instead of a window:
/// Podman 4.3's `tail` costs more than linear time (measured here on a 24 MB log: 1024
/// lines 0.02 s, 8192 lines 0.15 s, 65 536 lines 5.2 s, 200 000 lines 48 s; the whole log 2.6 s).
const MAX_WINDOW: u64 = 8192;

/// Whether a container may still write output: running, paused or restarting.
fn is_live(state: &crate::containers::ContainerState) -> bool {
    state.running || state.paused || state.restarting
}

fn hijacked(response: RawResponse, tty: bool) -> Result<Attached> {
    let framing = Framing::choose(response.stream_media_type(), tty);
    let (body, input) = response.into_upgraded()?.split();
    Ok(Attached {
        output: LogStream::new(body, framing),
        input,
    })
}

impl Client {
    async fn container_tty(&self, id: &str) -> Result<bool> {
        Ok(self.inspect_container(id).await?.config.tty)
    }

    fn logs_request(id: &str, opts: &LogsOptions) -> Request {
        let mut q = Query::new();
        q.flag_if("follow", opts.follow)
            .flag_if("stdout", opts.stdout)
            .flag_if("stderr", opts.stderr)
            .opt("since", opts.since)
            .opt("until", opts.until)
            .flag_if("timestamps", opts.timestamps)
            .push(
                "tail",
                opts.tail
                    .map_or_else(|| "all".to_string(), |n| n.to_string()),
            );
        Request::get(format!("/containers/{}/logs", seg(id)))
            .query(q.done())
            .timeout(Timeout::Default)
    }

    /// `GET /containers/{id}/logs` as a stream of stdout/stderr pieces.
    ///
    /// With `follow` the stream lasts until the container stops. On Podman, whose own follow
    /// loses data, it is made of complete reads polled while the container runs (see the
    /// [module docs](self)): every byte arrives once, in order within each stream, a poll
    /// interval (100 ms to 1 s) late at most. After the first read, a poll reads a window of
    /// the log's last lines when a small one (≤ 8192 lines) reaches back far enough, so
    /// polling a large, slowly growing log costs what is new, not the whole file; otherwise it
    /// reads from the second of the newest line delivered (`since`), which Podman serves by
    /// a pass over the whole file. With a TTY, or with `timestamps` or `since` set, every poll
    /// reads from the start. With `tail` set Podman's own follow is used as it is.
    pub async fn container_logs(&self, id: &str, opts: &LogsOptions) -> Result<LogStream> {
        if opts.follow && opts.tail.is_none() && self.is_podman().await? {
            return self.poll_podman_logs(id, opts).await;
        }
        let req = Client::logs_request(id, opts);
        let response = self.stream(req, RawBody::empty(), false).await?;
        // Only a multiplexed-stream label settles it: older engines and Podman label every
        // output stream raw-stream (see `stream::framing`), so otherwise the Tty decides.
        let tty = match (response.stream_media_type(), opts.tty) {
            (Some(StreamMediaType::Multiplexed), _) => false,
            (_, Some(tty)) => tty,
            (_, None) => self.container_tty(id).await?,
        };
        Ok(response.into_log_stream(tty))
    }

    /// Follows logs on Podman by reading them without `follow` until the container has
    /// stopped, the reads joined by a [`CatchUp`].
    async fn poll_podman_logs(&self, id: &str, opts: &LogsOptions) -> Result<LogStream> {
        let inspect = self.inspect_container(id).await?;
        let tty = opts.tty.unwrap_or(inspect.config.tty);
        // Frames can be told by their timestamps only without a TTY, and only if the caller
        // does not want the timestamps itself.
        let mode = if tty || opts.timestamps {
            CatchUpMode::Replay
        } else {
            CatchUpMode::Timestamps
        };
        let read = LogsOptions {
            follow: false,
            timestamps: opts.timestamps || mode == CatchUpMode::Timestamps,
            ..opts.clone()
        };
        let running = is_live(&inspect.state);
        let response = self
            .stream(Client::logs_request(id, &read), RawBody::empty(), false)
            .await?;
        let client = self.clone();
        let id = id.to_string();
        let windows = mode == CatchUpMode::Timestamps && opts.since.is_none();
        let mut idle = 0u32;
        let mut window = 0u64;
        let reopen = Box::new(move |args: ReopenArgs| {
            let client = client.clone();
            let id = id.clone();
            let mut read = read.clone();
            let mut check = None;
            match args.since {
                // The log's last frames, enough to reach back before second L.
                Some(second) if windows => {
                    window = if args.window_missed {
                        window.saturating_mul(8)
                    } else {
                        (2 * args.recent_frames).max(MIN_WINDOW)
                    };
                    if window <= MAX_WINDOW && window <= args.total_frames {
                        read.tail = Some(window);
                        check = Some(second);
                    } else {
                        // A larger window costs Podman more than a pass over the whole file,
                        // and one as large as the log (all of which may lie in second L, where
                        // no window starts earlier) cannot be checked.
                        read.since = Some(second);
                    }
                }
                Some(second) => {
                    read.since = Some(read.since.map_or(second, |s| s.max(second)));
                }
                None => {}
            }
            idle = if args.progressed || args.window_missed {
                0
            } else {
                idle + 1
            };
            // 100 ms after new output, doubling to 1 s while there is none; a window that
            // started too late is asked for again at once.
            let pause = if args.window_missed {
                Duration::ZERO
            } else {
                Duration::from_millis(100 << idle.min(4)).min(Duration::from_secs(1))
            };
            Box::pin(async move {
                tokio::time::sleep(pause).await;
                let state = match client.inspect_container(&id).await {
                    Ok(i) => i.state,
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e),
                };
                // Read once more after the container has stopped: that read is complete.
                let last = !is_live(&state);
                let response = client
                    .stream(Client::logs_request(&id, &read), RawBody::empty(), false)
                    .await?;
                Ok(Some(Reopened {
                    body: response.into_body(),
                    last,
                    window: check,
                }))
            }) as crate::stream::catch_up::ReopenFuture<Conn>
        });
        Ok(response
            .into_log_stream(tty)
            .with_catch_up(CatchUp::new(mode, !running, reopen)))
    }

    /// `POST /containers/{id}/attach` with `stream=1`: a hijacked duplex connection.
    pub async fn attach_container(&self, id: &str, opts: &AttachOptions) -> Result<Attached> {
        let tty = match opts.tty {
            Some(t) => t,
            None => self.container_tty(id).await?,
        };
        let mut q = Query::new();
        q.push("stream", "1")
            .flag_if("stdin", opts.stdin)
            .flag_if("stdout", opts.stdout)
            .flag_if("stderr", opts.stderr)
            .flag_if("logs", opts.logs);
        let req = Request::post(format!("/containers/{}/attach", seg(id))).query(q.done());
        let response = self.stream(req, RawBody::empty(), true).await?;
        hijacked(response, tty)
    }

    /// `POST /exec/{id}/start`, attached: a hijacked duplex connection carrying the exec's
    /// output (and its stdin, if the exec was created with `AttachStdin`). `tty` must match
    /// the exec's `Tty`.
    pub async fn start_exec(&self, exec: &str, tty: bool) -> Result<Attached> {
        let body = serde_json::json!({ "Detach": false, "Tty": tty });
        let req = Request::post(format!("/exec/{}/start", seg(exec))).json_body(&body)?;
        let bytes = req.body.clone().unwrap_or_default();
        let response = self.stream(req, RawBody::bytes(bytes), true).await?;
        hijacked(response, tty)
    }

    /// `PUT /containers/{id}/archive`: extracts a tar stream into the container at `path`.
    /// The tar is streamed from `tar` in chunks, never held whole in memory.
    pub async fn upload_archive(
        &self,
        id: &str,
        path: &str,
        tar: impl AsyncRead + Send + 'static,
    ) -> Result<()> {
        let q = Query::new().push("path", path).done();
        let mut req = Request::new(
            http::Method::PUT,
            format!("/containers/{}/archive", seg(id)),
        )
        .query(q)
        .timeout(Timeout::Extra(Duration::from_secs(600)));
        req.content_type = "application/x-tar";
        let response = self.stream(req, RawBody::reader(tar), false).await?;
        response.into_body().collect(1 << 20).await.map(drop)
    }
}
