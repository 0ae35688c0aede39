//! The `ssh://` transport: the Engine API spoken over the stdin and stdout of
//! `ssh … docker system dial-stdio`, as the docker CLI does.
//!
//! Each connection is one `ssh` process (the user's OpenSSH client, so `~/.ssh/config`, agents,
//! `ProxyJump`, an existing `ControlMaster` connection and known hosts all apply):
//!
//! ```text
//! ssh [-F $TUG_SSH_CONFIG] -o ConnectTimeout=<connect timeout> -o BatchMode=yes \
//!     -o ControlMaster=no -T \
//!     [-l USER] [-p PORT] -- HOST docker [--host=unix:///PATH] system dial-stdio
//! ```
//!
//! * `--host=unix://PATH` is passed when the address has a socket path, as the docker CLI does;
//!   remote arguments are quoted for the remote shell.
//! * `BatchMode=yes`: tug is a runner, so ssh never prompts (a passphrase or an unknown host
//!   key fails at once with ssh's own message instead of waiting on a terminal). Use keys from
//!   an agent or unencrypted keys, and put the host in `known_hosts` first.
//! * `ControlMaster=no`: tug kills its ssh processes when it drops a connection, so none of
//!   them may become the master that other sessions multiplex over (as the first would with
//!   the user's `ControlMaster auto` and no `ControlPersist`). A master that is already running
//!   is still used.
//! * The process runs in its own process group, so a Ctrl-C at the terminal reaches tug, which
//!   still needs these connections to clean up, and not ssh.
//! * [`SshStream`] is an `AsyncRead + AsyncWrite` over the child's pipes, so the pooled hyper
//!   path and the raw streaming path use it like a socket. `shutdown()` closes ssh's stdin,
//!   which `dial-stdio` turns into a half-close towards the engine (stdin EOF of an exec).
//! * Dropping the stream kills the process; a task reaps it.
//! * When ssh ends with a failure status, or its output ends before the engine sent anything
//!   (whatever its status: a `ForceCommand` or a restricted key exits 0), reads and writes
//!   fail with [`SshExited`], which carries ssh's status and stderr. Before the engine answered anything this becomes
//!   [`Error::Connect`] with [`ConnectFailure::Ssh`] ([`diagnose`]); later it is
//!   [`Error::ConnectionLost`] with the same cause.
//! * At most [`MAX_CONCURRENT_HANDSHAKES`] ssh processes of this process log in to one target
//!   (`user@host:port`) at a time, whatever the number of clients (tug makes one per run and
//!   per fan-out child): sshd drops unauthenticated connections beyond `MaxStartups` (10 by
//!   default), which a burst of parallel steps would otherwise reach. The wait for a slot does
//!   not count against the connect timeout; a slot is freed when the engine's first bytes
//!   arrive, when ssh ends or fails a write, when the stream is dropped, or after
//!   [`HANDSHAKE_SLOT_MAX`].
//!
//! # Example
//!
//! An engine reached over ssh, with an ssh configuration of its own (otherwise ssh reads
//! `~/.ssh/config`; [`Endpoint::from_env`](crate::Endpoint::from_env) takes it from
//! `TUG_SSH_CONFIG`):
//!
//! ```no_run
//! use engine_api::{Client, Endpoint};
//!
//! # async fn demo() -> engine_api::Result<()> {
//! let endpoint = Endpoint::parse("ssh://deploy@build-host:2222", None)?
//!     .with_ssh_config("/etc/tug/ssh_config");
//! let client = Client::new(endpoint)?;
//! // A failed login is a connect error whose message carries ssh's stderr
//! // ("… exited with status 255: deploy@build-host: Permission denied (publickey).").
//! client.ping().await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::endpoint::SshAddress;
use crate::error::{ConnectFailure, Error};

/// How many ssh processes of this process may be logging in to one target at once. A process
/// counts until the engine's first bytes arrive through it, it ends, a write to it fails, its
/// stream is dropped, or [`HANDSHAKE_SLOT_MAX`] passes.
pub const MAX_CONCURRENT_HANDSHAKES: usize = 8;
/// The longest one ssh process holds a handshake slot.
pub const HANDSHAKE_SLOT_MAX: Duration = Duration::from_secs(3);
/// How much of ssh's stderr is kept for the error message.
const MAX_STDERR: usize = 8 * 1024;
/// After ssh has exited, how long its stderr may still take to reach EOF (a descendant may hold
/// it open).
const STDERR_AFTER_EXIT: Duration = Duration::from_millis(200);
/// After ssh's stdout ends, how long to wait for its exit status before taking the end as a
/// clean close.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The login slots of each ssh target (`user@host:port`), shared by every client of this
/// process.
fn handshake_slots(target: &str) -> Arc<Semaphore> {
    static SLOTS: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    let mut slots = SLOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(
        slots
            .entry(target.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES))),
    )
}

/// A slot to log in to an ssh target ([`SshDialer::login_slot`]), held by the ssh process
/// started with it until its login is over.
#[derive(Debug)]
pub struct LoginSlot(OwnedSemaphorePermit);

/// Starts `ssh … docker system dial-stdio` processes for one `ssh://` address.
#[derive(Debug)]
pub struct SshDialer {
    program: OsString,
    args: Vec<OsString>,
    target: String,
    handshakes: Arc<Semaphore>,
}

impl SshDialer {
    /// A dialer for `address`, with `config` as `ssh -F` when given and `connect_timeout` as
    /// ssh's `ConnectTimeout` (whole seconds, at least 1).
    pub fn new(address: &SshAddress, config: Option<&Path>, connect_timeout: Duration) -> Self {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(config) = config {
            args.push("-F".into());
            args.push(config.as_os_str().to_owned());
        }
        let timeout = connect_timeout.as_secs().max(1);
        for opt in [
            format!("ConnectTimeout={timeout}"),
            "BatchMode=yes".to_string(),
            // Killing a master would cut every session multiplexed over it; see the module doc.
            "ControlMaster=no".to_string(),
        ] {
            args.push("-o".into());
            args.push(opt.into());
        }
        args.push("-T".into());
        if let Some(user) = &address.user {
            args.push("-l".into());
            args.push(user.into());
        }
        if let Some(port) = address.port {
            args.push("-p".into());
            args.push(port.to_string().into());
        }
        args.push("--".into());
        args.push(address.host.clone().into());
        for word in remote_command(address) {
            args.push(word.into());
        }
        let mut target = String::new();
        if let Some(user) = &address.user {
            target.push_str(user);
            target.push('@');
        }
        if address.host.contains(':') {
            target.push_str(&format!("[{}]", address.host));
        } else {
            target.push_str(&address.host);
        }
        if let Some(port) = address.port {
            target.push_str(&format!(":{port}"));
        }
        SshDialer {
            program: "ssh".into(),
            args,
            handshakes: handshake_slots(&target),
            target,
        }
    }

    /// The full command line, for diagnostics (`ssh -o … -- host docker system dial-stdio`).
    pub fn command_line(&self) -> String {
        let mut line = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            line.push(' ');
            line.push_str(&a.to_string_lossy());
        }
        line
    }

    /// Waits for a slot to log in to this dialer's target (see [`MAX_CONCURRENT_HANDSHAKES`]).
    /// Slots are held for at most [`HANDSHAKE_SLOT_MAX`], so the wait is bounded; it is not
    /// part of connecting, and a connect timeout should not cover it.
    pub async fn login_slot(&self) -> LoginSlot {
        let permit = Arc::clone(&self.handshakes)
            .acquire_owned()
            .await
            .expect("the handshake semaphore is never closed");
        LoginSlot(permit)
    }

    /// Waits for a login slot, then starts one ssh process ([`SshDialer::spawn`]).
    pub async fn dial(&self) -> io::Result<SshStream> {
        let slot = self.login_slot().await;
        self.spawn(slot)
    }

    /// Starts one ssh process, which holds `slot` while it logs in, and returns its stdio as a
    /// stream. Only a failure to start ssh is reported here; a failure to log in shows on the
    /// first read or write.
    pub fn spawn(&self, slot: LoginSlot) -> io::Result<SshStream> {
        let permit = slot.0;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("ssh started without a stdout pipe"))?;
        let stderr = child.stderr.take();

        let slot = Arc::new(Mutex::new(Some(permit)));
        // The timer only holds a weak reference: a dropped stream frees its slot at once.
        let timer_slot = Arc::downgrade(&slot);
        tokio::spawn(async move {
            tokio::time::sleep(HANDSHAKE_SLOT_MAX).await;
            if let Some(slot) = timer_slot.upgrade() {
                release(&slot);
            }
        });

        let (exit_tx, exit_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        tokio::spawn(supervise(
            child,
            stderr,
            Arc::clone(&slot),
            exit_tx,
            kill_rx,
        ));

        Ok(SshStream {
            stdin,
            stdout,
            target: self.target.clone().into(),
            received: false,
            slot: Some(slot),
            exit_rx: Some(exit_rx),
            exit: None,
            grace: None,
            _kill: kill_tx,
        })
    }
}

/// Checks the user and host of an ssh destination before they reach ssh's command line.
/// Beyond option injection (a leading `-`), ssh substitutes them into a `ProxyCommand`'s `%h`
/// and `%r`, which a shell runs unquoted (OpenSSH before 9.6 does not refuse shell
/// metacharacters there), and addresses can come from a Docker context's `meta.json`. So the
/// host is limited to letters, digits and `. _ - % :` (the colons of an IPv6 address, written
/// in brackets in the URL, and `%` for its zone), the user to letters, digits and `. _ - @`.
/// The error says what is wrong and what is allowed.
pub(crate) fn check_destination(user: Option<&str>, host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host name is empty".to_string());
    }
    if host.starts_with('-') {
        return Err(format!("the host name {host:?} cannot start with -"));
    }
    if let Some(bad) = host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "._-%:".contains(c)))
    {
        return Err(format!(
            "the host name {host:?} contains {bad:?}; allowed are ASCII letters, digits, '.', '_', '-', '%' and ':' (an IPv6 address in brackets: ssh://[::1]:22)"
        ));
    }
    if let Some(user) = user {
        if user.is_empty() {
            return Err("the user before @ is empty".to_string());
        }
        if user.starts_with('-') {
            return Err(format!("the user {user:?} cannot start with -"));
        }
        if let Some(bad) = user
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "._-@".contains(c)))
        {
            return Err(format!(
                "the user {user:?} contains {bad:?}; allowed are ASCII letters, digits, '.', '_', '-' and '@'"
            ));
        }
    }
    Ok(())
}

/// `docker [--host=unix://PATH] system dial-stdio`, each word quoted for the remote shell.
fn remote_command(address: &SshAddress) -> Vec<String> {
    let mut words = vec!["docker".to_string()];
    if let Some(socket) = &address.socket {
        words.push(format!("--host=unix://{}", socket.display()));
    }
    words.push("system".to_string());
    words.push("dial-stdio".to_string());
    words.into_iter().map(|w| shell_quote(&w)).collect()
}

/// Quotes `word` for a POSIX shell unless it is made of characters that need none.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn release(slot: &Mutex<Option<OwnedSemaphorePermit>>) {
    if let Ok(mut s) = slot.lock() {
        s.take();
    }
}

/// Owns the child: collects its stderr, reports its exit, or kills it when the stream is
/// dropped first.
///
/// The exit is awaited alongside the stderr drain, not after it: a descendant of ssh (a
/// `ProxyCommand`, an old OpenSSH's `ControlPersist` master) can hold stderr open long after
/// ssh itself has ended. Once ssh has exited, stderr gets at most [`STDERR_AFTER_EXIT`] more.
async fn supervise(
    mut child: Child,
    stderr: Option<tokio::process::ChildStderr>,
    slot: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    exit_tx: oneshot::Sender<SshExit>,
    mut kill_rx: oneshot::Receiver<()>,
) {
    let mut kept = Vec::new();
    let status = {
        let mut drain = Box::pin(async {
            if let Some(mut stderr) = stderr {
                let _ = (&mut stderr)
                    .take(MAX_STDERR as u64)
                    .read_to_end(&mut kept)
                    .await;
                // Keep draining so ssh never blocks on a full stderr pipe.
                let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            }
        });
        let mut drained = false;
        let status = loop {
            tokio::select! {
                _ = &mut kill_rx => {
                    drop(drain);
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return;
                }
                status = child.wait() => break status,
                _ = &mut drain, if !drained => drained = true,
            }
        };
        // ssh is no longer logging in.
        release(&slot);
        if !drained {
            let _ = tokio::time::timeout(STDERR_AFTER_EXIT, &mut drain).await;
        }
        drop(drain);
        status
    };
    let exit = SshExit {
        status: status.ok(),
        stderr: String::from_utf8_lossy(&kept).trim().to_string(),
    };
    let _ = exit_tx.send(exit);
}

/// How an ssh process ended.
#[derive(Debug, Clone)]
struct SshExit {
    status: Option<ExitStatus>,
    stderr: String,
}

impl SshExit {
    fn failed(&self) -> bool {
        !self.status.is_some_and(|s| s.success())
    }
}

/// The ssh process behind a connection ended with a failure: the cause of a connect or
/// connection-lost error on an `ssh://` endpoint. Its message includes ssh's stderr.
#[derive(Debug, Clone)]
pub struct SshExited {
    target: Arc<str>,
    exit: SshExit,
    before_response: bool,
}

impl SshExited {
    /// What ssh wrote to stderr (trimmed, at most 8 KiB).
    pub fn stderr(&self) -> &str {
        &self.exit.stderr
    }

    /// The exit code, when ssh exited rather than being killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.exit.status.and_then(|s| s.code())
    }

    /// True when ssh ended before the engine sent anything through it (a failed login, an
    /// unreachable host, no `docker` on the remote host, no daemon there).
    pub fn before_response(&self) -> bool {
        self.before_response
    }
}

impl fmt::Display for SshExited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssh to {} ", self.target)?;
        match self.exit.status {
            Some(s) => match s.code() {
                Some(code) => write!(f, "exited with status {code}")?,
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    match s.signal() {
                        Some(sig) => write!(f, "was killed by signal {sig}")?,
                        None => write!(f, "ended ({s})")?,
                    }
                }
            },
            None => write!(f, "ended with an unknown status")?,
        }
        let clean = self.exit.status.is_some_and(|s| s.success());
        if self.before_response && clean {
            // A failure status explains itself; a success needs saying why it is an error.
            write!(f, " before the engine answered")?;
        }
        if self.exit.stderr.is_empty() {
            write!(f, " and printed nothing on stderr")?;
            if self.before_response && clean {
                write!(
                    f,
                    " (is `docker system dial-stdio` refused there, e.g. by a ForceCommand or a command= restriction on the key?)"
                )?;
            }
            Ok(())
        } else {
            // One line: ssh's messages joined, so the error stays readable in logs.
            let joined: Vec<&str> = self
                .exit
                .stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            write!(f, ": {}", joined.join(" | "))
        }
    }
}

impl std::error::Error for SshExited {}

/// One connection through `ssh … docker system dial-stdio`.
pub struct SshStream {
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    target: Arc<str>,
    received: bool,
    slot: Option<Arc<Mutex<Option<OwnedSemaphorePermit>>>>,
    exit_rx: Option<oneshot::Receiver<SshExit>>,
    exit: Option<SshExit>,
    grace: Option<Pin<Box<Sleep>>>,
    /// Dropped with the stream: the supervising task then kills ssh.
    _kill: oneshot::Sender<()>,
}

impl fmt::Debug for SshStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshStream")
            .field("target", &self.target)
            .field("received", &self.received)
            .field("stdin_open", &self.stdin.is_some())
            .finish()
    }
}

impl Drop for SshStream {
    fn drop(&mut self) {
        self.release_slot();
    }
}

impl SshStream {
    fn release_slot(&mut self) {
        if let Some(slot) = self.slot.take() {
            release(&slot);
        }
    }

    /// Waits (up to [`EXIT_GRACE`]) for ssh's exit; `None` if it did not say in time.
    fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<Option<SshExit>> {
        if let Some(exit) = &self.exit {
            return Poll::Ready(Some(exit.clone()));
        }
        let Some(rx) = self.exit_rx.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(exit)) => {
                self.exit_rx = None;
                self.exit = Some(exit.clone());
                return Poll::Ready(Some(exit));
            }
            Poll::Ready(Err(_)) => {
                self.exit_rx = None;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        let grace = self
            .grace
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(EXIT_GRACE)));
        ready!(grace.as_mut().poll(cx));
        Poll::Ready(None)
    }

    fn exited(&self, exit: SshExit) -> io::Error {
        let kind = if self.received {
            io::ErrorKind::ConnectionReset
        } else {
            io::ErrorKind::ConnectionAborted
        };
        io::Error::new(
            kind,
            SshExited {
                target: Arc::clone(&self.target),
                exit,
                before_response: !self.received,
            },
        )
    }

    /// After a failed read or write (or EOF), the ssh failure behind it, if ssh failed.
    fn poll_failure(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Error>> {
        let exit = ready!(self.poll_exit(cx));
        Poll::Ready(exit.filter(SshExit::failed).map(|e| self.exited(e)))
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match ready!(Pin::new(&mut this.stdout).poll_read(cx, buf)) {
            Ok(()) if buf.filled().len() > before => {
                this.received = true;
                this.release_slot();
                Poll::Ready(Ok(()))
            }
            Ok(()) => {
                this.release_slot();
                let exit = ready!(this.poll_exit(cx));
                if !this.received {
                    // EOF before the engine said anything is never a clean close, whatever
                    // ssh's status: a ForceCommand or a restricted key ends the remote command
                    // at once with status 0, and hyper would only say "incomplete message".
                    let exit = exit.unwrap_or(SshExit {
                        status: None,
                        stderr: String::new(),
                    });
                    return Poll::Ready(Err(this.exited(exit)));
                }
                // EOF after a response: a clean close if ssh exits successfully, its failure
                // otherwise.
                match exit.filter(SshExit::failed) {
                    Some(exit) => Poll::Ready(Err(this.exited(exit))),
                    None => Poll::Ready(Ok(())),
                }
            }
            Err(e) => {
                this.release_slot();
                let failure = ready!(this.poll_failure(cx));
                Poll::Ready(Err(failure.unwrap_or(e)))
            }
        }
    }
}

impl SshStream {
    /// One write to ssh's stdin; a failed write frees the login slot and reports ssh's own
    /// failure when it has one (a broken pipe says less than ssh's exit and stderr).
    fn poll_stdin_write(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut ChildStdin>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown of an ssh connection",
            )));
        };
        match ready!(write(Pin::new(stdin), cx)) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => {
                self.release_slot();
                let failure = ready!(self.poll_failure(cx));
                Poll::Ready(Err(failure.unwrap_or(e)))
            }
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_stdin_write(cx, |stdin, cx| stdin.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_stdin_write(cx, |stdin, cx| stdin.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stdin.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Closes ssh's stdin: `dial-stdio` half-closes the engine connection, whose output keeps
    /// coming on stdout.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stdin = None;
        Poll::Ready(Ok(()))
    }
}

/// Turns a connection-lost error whose cause is an ssh process that failed before the engine
/// answered into the connect error it really is (the hint is ssh's own message). Other errors
/// pass through.
pub(crate) fn diagnose(err: Error, runtime: &'static str) -> Error {
    match err {
        Error::ConnectionLost {
            endpoint,
            during,
            source: Some(source),
        } => {
            let failed_login = find_exit(source.as_ref())
                .filter(|x| x.before_response)
                .map(|x| x.to_string());
            match failed_login {
                // The hint is ssh's whole message; the chain below it would only repeat it.
                Some(hint) => Error::Connect {
                    runtime,
                    endpoint,
                    failure: ConnectFailure::Ssh,
                    hint,
                    source: None,
                },
                None => Error::ConnectionLost {
                    endpoint,
                    during,
                    source: Some(source),
                },
            }
        }
        other => other,
    }
}

/// The [`SshExited`] in an error's chain, looking inside `io::Error`s too (their `source()`
/// skips the error they wrap).
pub fn find_exit<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a SshExited> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(x) = e.downcast_ref::<SshExited>() {
            return Some(x);
        }
        if let Some(x) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<SshExited>())
        {
            return Some(x);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn addr(user: Option<&str>, port: Option<u16>, socket: Option<&str>) -> SshAddress {
        SshAddress {
            user: user.map(str::to_string),
            host: "build.example.com".into(),
            port,
            socket: socket.map(PathBuf::from),
        }
    }

    #[test]
    fn the_command_line_matches_the_docker_cli() {
        let d = SshDialer::new(&addr(None, None, None), None, Duration::from_secs(10));
        assert_eq!(
            d.command_line(),
            "ssh -o ConnectTimeout=10 -o BatchMode=yes -o ControlMaster=no -T -- build.example.com docker system dial-stdio"
        );
        let d = SshDialer::new(
            &addr(Some("me"), Some(2222), Some("/run/user/1000/docker.sock")),
            Some(Path::new("/etc/tug/ssh_config")),
            Duration::from_millis(200),
        );
        assert_eq!(
            d.command_line(),
            "ssh -F /etc/tug/ssh_config -o ConnectTimeout=1 -o BatchMode=yes -o ControlMaster=no -T -l me -p 2222 -- build.example.com docker --host=unix:///run/user/1000/docker.sock system dial-stdio"
        );
        assert_eq!(d.target, "me@build.example.com:2222");
    }

    #[test]
    fn destinations_are_limited_to_characters_no_shell_reads() {
        for (user, host) in [
            (None, "build.example.com"),
            (Some("deploy"), "build-host_2"),
            (Some("ci.bot@corp"), "10.0.0.7"),
            (None, "::1"),
            (None, "fe80::1%eth0"),
        ] {
            assert_eq!(check_destination(user, host), Ok(()), "{user:?} {host}");
        }
        for (user, host, why) in [
            (None, "", "the host name is empty"),
            (None, "-oProxyCommand=x", "cannot start with -"),
            (None, "h;touch x", "contains ';'"),
            (None, "$(reboot)", "contains '$'"),
            (None, "a`id`", "contains '`'"),
            (None, "h|x", "allowed are ASCII letters"),
            (Some("me;x"), "h", "the user \"me;x\" contains ';'"),
            (Some("-l"), "h", "cannot start with -"),
            (
                Some("a b"),
                "h",
                "allowed are ASCII letters, digits, '.', '_', '-' and '@'",
            ),
        ] {
            let msg = check_destination(user, host).unwrap_err();
            assert!(msg.contains(why), "{user:?} {host}: {msg}");
        }
    }

    #[test]
    fn remote_words_are_quoted_for_the_remote_shell() {
        assert_eq!(shell_quote("dial-stdio"), "dial-stdio");
        assert_eq!(
            shell_quote("--host=unix:///tmp/my dir/d.sock"),
            "'--host=unix:///tmp/my dir/d.sock'"
        );
        assert_eq!(shell_quote("a'b;rm"), r"'a'\''b;rm'");
    }

    #[test]
    fn exited_messages_keep_stderr_on_one_line() {
        use std::os::unix::process::ExitStatusExt;
        let x = SshExited {
            target: "root@127.0.0.1:1".into(),
            exit: SshExit {
                status: Some(ExitStatus::from_raw(255 << 8)),
                stderr: "ssh: connect to host 127.0.0.1 port 1: Connection refused\n".into(),
            },
            before_response: true,
        };
        assert_eq!(
            x.to_string(),
            "ssh to root@127.0.0.1:1 exited with status 255: ssh: connect to host 127.0.0.1 port 1: Connection refused"
        );
        assert_eq!(x.code(), Some(255));
        let io = io::Error::new(io::ErrorKind::ConnectionAborted, x);
        let lost = Error::ConnectionLost {
            endpoint: "ssh://root@127.0.0.1:1".into(),
            during: "during a request",
            source: Some(Box::new(io)),
        };
        let e = diagnose(lost, "docker");
        assert!(matches!(
            e,
            Error::Connect {
                failure: ConnectFailure::Ssh,
                ..
            }
        ));
        assert!(e.to_string().contains("Connection refused"), "{e}");
        assert!(e.is_connect());
    }

    #[tokio::test]
    async fn login_slots_are_per_target_across_dialers_and_freed_on_drop() {
        let mut a = addr(Some("slots"), Some(2200), None);
        a.host = "slots.example.com".into();
        let mut d1 = SshDialer::new(&a, None, Duration::from_secs(1));
        let d2 = SshDialer::new(&a, Some(Path::new("/x")), Duration::from_secs(5));
        assert!(Arc::ptr_eq(&d1.handshakes, &d2.handshakes));
        a.port = Some(2201);
        let other = SshDialer::new(&a, None, Duration::from_secs(1));
        assert!(!Arc::ptr_eq(&d1.handshakes, &other.handshakes));

        // `sleep` stands in for an ssh that is still logging in.
        d1.program = "sleep".into();
        d1.args = vec!["30".into()];
        let s = d1.dial().await.unwrap();
        assert_eq!(
            d2.handshakes.available_permits(),
            MAX_CONCURRENT_HANDSHAKES - 1
        );
        drop(s);
        assert_eq!(d2.handshakes.available_permits(), MAX_CONCURRENT_HANDSHAKES);
    }

    #[tokio::test]
    async fn a_missing_ssh_binary_fails_at_dial() {
        let mut d = SshDialer::new(&addr(None, None, None), None, Duration::from_secs(1));
        d.program = "/nonexistent/ssh".into();
        let err = d.dial().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_failing_process_surfaces_its_stderr_on_read() {
        // `sh` stands in for ssh: it fails the way ssh does when it cannot log in.
        let mut d = SshDialer::new(&addr(None, None, None), None, Duration::from_secs(1));
        d.program = "sh".into();
        d.args = vec![
            "-c".into(),
            "echo 'Permission denied (publickey).' >&2; exit 255".into(),
        ];
        let mut s = d.dial().await.unwrap();
        let mut buf = Vec::new();
        let err = s.read_to_end(&mut buf).await.unwrap_err();
        let x = find_exit(&err).expect("an SshExited cause");
        assert!(x.before_response());
        assert_eq!(x.stderr(), "Permission denied (publickey).");
        assert!(err.to_string().contains("status 255"), "{err}");
    }

    #[tokio::test]
    async fn a_descendant_holding_stderr_open_does_not_hide_the_failure() {
        // The background `sleep` keeps stdout and stderr open after the shell exits, as a
        // ProxyCommand or a ControlPersist master can.
        let mut d = SshDialer::new(&addr(None, None, None), None, Duration::from_secs(1));
        d.program = "sh".into();
        d.args = vec![
            "-c".into(),
            "echo 'Connection closed by UNKNOWN port 65535' >&2; sleep 10 >/dev/null & exit 255"
                .into(),
        ];
        let mut s = d.dial().await.unwrap();
        let mut buf = [0u8; 16];
        let err = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the failure is reported while stderr is still open")
            .unwrap_err();
        let x = find_exit(&err).expect("an SshExited cause");
        assert_eq!(x.code(), Some(255));
        assert_eq!(x.stderr(), "Connection closed by UNKNOWN port 65535");
    }

    #[tokio::test]
    async fn an_eof_before_any_byte_is_an_ssh_failure_even_with_status_0() {
        // A ForceCommand or a restricted key: the remote command ends at once, status 0.
        let mut d = SshDialer::new(&addr(None, None, None), None, Duration::from_secs(1));
        d.program = "true".into();
        d.args = vec![];
        let mut s = d.dial().await.unwrap();
        let mut buf = Vec::new();
        let err = s.read_to_end(&mut buf).await.unwrap_err();
        let x = find_exit(&err).expect("an SshExited cause");
        assert!(x.before_response());
        assert_eq!(x.code(), Some(0));
        assert_eq!(
            x.to_string(),
            "ssh to build.example.com exited with status 0 before the engine answered and printed nothing on stderr (is `docker system dial-stdio` refused there, e.g. by a ForceCommand or a command= restriction on the key?)"
        );
    }

    #[tokio::test]
    async fn a_clean_exit_is_a_clean_eof_and_shutdown_closes_stdin() {
        use tokio::io::AsyncWriteExt;
        // `cat` echoes until its stdin closes, then exits 0: like dial-stdio after a half-close.
        let mut d = SshDialer::new(&addr(None, None, None), None, Duration::from_secs(1));
        d.program = "cat".into();
        d.args = vec![];
        let mut s = d.dial().await.unwrap();
        s.write_all(b"hello").await.unwrap();
        s.shutdown().await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"hello");
    }
}
