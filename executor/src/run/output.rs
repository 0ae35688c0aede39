//! One step's output: to the live event stream, to its log files, to its `output:` variable
//! (bounded by `max_output_size`) and to its artifact file — in bounded memory whatever the
//! volume, with nothing lost or reordered within a stream.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::events::{Event, EventSink, OutputStream};

/// How much of stderr is kept for the failure message.
const STDERR_TAIL: usize = 8 * 1024;
/// Lines of stderr shown in a failure message.
pub(crate) const STDERR_TAIL_LINES: usize = 20;

/// The sinks of one step's output.
#[derive(Debug)]
pub(crate) struct StepOutput {
    step: String,
    events: EventSink,
    out: BufWriter<tokio::fs::File>,
    err: BufWriter<tokio::fs::File>,
    artifact: Option<(PathBuf, BufWriter<tokio::fs::File>)>,
    capture: Option<Capture>,
    stderr_tail: VecDeque<u8>,
    stdout_bytes: u64,
    last_flush: std::time::Instant,
}

/// Log files are flushed at least this often while a step writes, so `tug logs --follow`
/// sees output as it comes.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Debug)]
struct Capture {
    buf: Vec<u8>,
    limit: u64,
    overflow: bool,
}

/// `output:` captured more than `max_output_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutputTooLarge {
    pub(crate) limit: u64,
}

impl StepOutput {
    /// Opens `<dir>/<step>.out` and `.err`, and the artifact file if any (its directories are
    /// created; the path must stay inside `artifacts_dir`).
    pub(crate) async fn create(
        dir: &Path,
        file_stem: &str,
        step: &str,
        events: EventSink,
        capture_limit: Option<u64>,
        artifact: Option<PathBuf>,
    ) -> std::io::Result<StepOutput> {
        let open = |p: PathBuf| async move {
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .await
                .map(|f| BufWriter::with_capacity(64 * 1024, f))
        };
        let out = open(dir.join(format!("{file_stem}.out"))).await?;
        let err = open(dir.join(format!("{file_stem}.err"))).await?;
        let artifact = match artifact {
            Some(p) => {
                if let Some(parent) = p.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                let f = tokio::fs::File::create(&p).await?;
                Some((p, BufWriter::with_capacity(256 * 1024, f)))
            }
            None => None,
        };
        Ok(StepOutput {
            step: step.to_string(),
            events,
            out,
            err,
            artifact,
            capture: capture_limit.map(|limit| Capture {
                buf: Vec::new(),
                limit,
                overflow: false,
            }),
            stderr_tail: VecDeque::with_capacity(STDERR_TAIL),
            stdout_bytes: 0,
            last_flush: std::time::Instant::now(),
        })
    }

    /// Takes one piece of output.
    pub(crate) async fn write(&mut self, stream: OutputStream, data: Bytes) -> std::io::Result<()> {
        match stream {
            OutputStream::Stdout => {
                self.stdout_bytes += data.len() as u64;
                if let Some(c) = &mut self.capture {
                    if !c.overflow {
                        if (c.buf.len() + data.len()) as u64 > c.limit {
                            c.overflow = true;
                            c.buf = Vec::new();
                        } else {
                            c.buf.extend_from_slice(&data);
                        }
                    }
                }
                if let Some((_, f)) = &mut self.artifact {
                    // stdout goes to the artifact instead of the log and the screen.
                    return f.write_all(&data).await;
                }
                self.out.write_all(&data).await?;
            }
            OutputStream::Stderr => {
                let keep = data.len().min(STDERR_TAIL);
                let excess = (self.stderr_tail.len() + keep).saturating_sub(STDERR_TAIL);
                self.stderr_tail.drain(..excess);
                self.stderr_tail.extend(&data[data.len() - keep..]);
                self.err.write_all(&data).await?;
            }
        }
        self.events
            .send(Event::Output {
                step: self.step.clone(),
                stream,
                data,
            })
            .await;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.out.flush().await?;
            self.err.flush().await?;
            self.last_flush = std::time::Instant::now();
        }
        Ok(())
    }

    /// Flushes every file.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().await?;
        self.err.flush().await?;
        if let Some((_, f)) = &mut self.artifact {
            f.flush().await?;
        }
        Ok(())
    }

    /// The captured stdout, trimmed, or the overflow.
    pub(crate) fn captured(&self) -> Option<Result<String, OutputTooLarge>> {
        self.capture.as_ref().map(|c| {
            if c.overflow {
                Err(OutputTooLarge { limit: c.limit })
            } else {
                Ok(String::from_utf8_lossy(&c.buf).trim().to_string())
            }
        })
    }

    /// The last lines of stderr.
    pub(crate) fn stderr_tail(&self, lines: usize) -> String {
        let bytes: Vec<u8> = self.stderr_tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Bytes of stdout seen.
    #[allow(dead_code)]
    pub(crate) fn stdout_bytes(&self) -> u64 {
        self.stdout_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_trims_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = StepOutput::create(dir.path(), "s", "s", EventSink::none(), Some(10), None)
            .await
            .unwrap();
        o.write(OutputStream::Stdout, Bytes::from_static(b"  hi\n"))
            .await
            .unwrap();
        assert_eq!(o.captured(), Some(Ok("hi".into())));
        o.write(OutputStream::Stdout, Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        assert_eq!(o.captured(), Some(Err(OutputTooLarge { limit: 10 })));
        o.flush().await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("s.out")).unwrap(),
            b"  hi\n0123456789"
        );
    }

    #[tokio::test]
    async fn stderr_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = StepOutput::create(dir.path(), "s", "s", EventSink::none(), None, None)
            .await
            .unwrap();
        for i in 0..5000 {
            o.write(OutputStream::Stderr, Bytes::from(format!("line {i}\n")))
                .await
                .unwrap();
        }
        assert_eq!(o.stderr_tail(2), "line 4998\nline 4999");
    }

    #[tokio::test]
    async fn artifact_takes_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let art = dir.path().join("artifacts/reports/x.txt");
        let mut o = StepOutput::create(
            dir.path(),
            "s",
            "s",
            EventSink::none(),
            None,
            Some(art.clone()),
        )
        .await
        .unwrap();
        o.write(OutputStream::Stdout, Bytes::from_static(b"data"))
            .await
            .unwrap();
        o.flush().await.unwrap();
        assert_eq!(std::fs::read(art).unwrap(), b"data");
        assert_eq!(std::fs::read(dir.path().join("s.out")).unwrap(), b"");
    }
}
