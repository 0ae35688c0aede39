//! Opening connections: unix socket, TCP, TLS and ssh (`docker system dial-stdio`).
//!
//! Failures are turned into [`Error::Connect`] with a hint saying what to check, in the spirit
//! of the seeds' "Runtime Checks" tables: a missing socket asks whether the daemon runs, a
//! refused permission names the socket, a TLS failure names the CA file.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use super::ssh::{SshDialer, SshStream};
use super::tls;
use crate::endpoint::{Address, Endpoint, Runtime};
use crate::error::{ConnectFailure, Error, Result};

/// One connection to the engine, whatever the transport.
#[derive(Debug)]
pub enum Conn {
    /// A unix domain socket.
    Unix(UnixStream),
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// The stdio of `ssh … docker system dial-stdio`.
    Ssh(SshStream),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Ssh(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Ssh(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Conn::Ssh(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Unix(s) => s.is_write_vectored(),
            Conn::Tcp(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
            Conn::Ssh(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Ssh(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// Half-closes the write side (`CloseWrite`): the engine sees EOF on stdin while the read
    /// side stays open for the remaining output.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Ssh(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Opens connections to one endpoint. TLS material is loaded once, when the connector is made.
#[derive(Clone)]
pub struct Connector {
    endpoint: std::sync::Arc<Endpoint>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    ssh: Option<std::sync::Arc<SshDialer>>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("endpoint", &self.endpoint.url)
            .field("tls", &self.tls.is_some())
            .field("ssh", &self.ssh.as_ref().map(|d| d.command_line()))
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// TCP keepalive on every TCP connection, as the docker CLI sets on hijacked ones: a dead peer
/// is noticed even on an idle attach.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

impl Connector {
    /// Prepares a connector for `endpoint`, reading its TLS files now. For an `ssh://`
    /// endpoint the ssh configuration file is the endpoint's `ssh_config`, else
    /// `TUG_SSH_CONFIG` from the process environment (for endpoints built with
    /// [`Endpoint::parse`]), else ssh's own default.
    pub fn new(endpoint: &Endpoint, connect_timeout: Duration) -> Result<Connector> {
        let ssh = match &endpoint.address {
            Address::Ssh(_) if endpoint.runtime == Runtime::Podman => {
                return Err(Error::config(format!(
                    "engine address {}: ssh:// runs `docker system dial-stdio` on the remote host and works in Docker mode only; for Podman, forward its socket (ssh -L /tmp/podman.sock:/run/podman/podman.sock HOST) and use unix:///tmp/podman.sock",
                    endpoint.url
                )))
            }
            Address::Ssh(address) => {
                // Parsed addresses are checked already; this covers hand-built ones.
                super::ssh::check_destination(address.user.as_deref(), &address.host).map_err(
                    |why| {
                        Error::config(format!("invalid engine address {}: {why}", endpoint.url))
                    },
                )?;
                let config = endpoint.ssh_config.clone().or_else(|| {
                    std::env::var_os("TUG_SSH_CONFIG")
                        .filter(|v| !v.is_empty())
                        .map(std::path::PathBuf::from)
                });
                Some(std::sync::Arc::new(SshDialer::new(
                    address,
                    config.as_deref(),
                    connect_timeout,
                )))
            }
            _ => None,
        };
        let tls = match (&endpoint.address, &endpoint.tls) {
            (Address::Tcp { host, .. }, Some(settings)) => {
                let config = tls::client_config(settings)?;
                let name = ServerName::try_from(host.clone()).map_err(|_| {
                    Error::config(format!(
                        "invalid TLS server name {host:?} in {}",
                        endpoint.url
                    ))
                })?;
                Some((TlsConnector::from(std::sync::Arc::new(config)), name))
            }
            _ => None,
        };
        Ok(Connector {
            endpoint: std::sync::Arc::new(endpoint.clone()),
            tls,
            ssh,
            connect_timeout,
        })
    }

    /// The endpoint this connector reaches.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Opens a new connection.
    pub async fn connect(&self) -> Result<Conn> {
        if let Some(dialer) = &self.ssh {
            // Waiting for an ssh login slot (shared by every client of this process) is not
            // the engine being slow, so the connect timeout does not cover it; starting ssh
            // is immediate and its login is bounded by ssh's own ConnectTimeout.
            let slot = dialer.login_slot().await;
            return dialer
                .spawn(slot)
                .map(Conn::Ssh)
                .map_err(|e| self.io_error(e));
        }
        match tokio::time::timeout(self.connect_timeout, self.connect_inner()).await {
            Ok(r) => r,
            Err(_) => Err(self.connect_error(
                ConnectFailure::TimedOut,
                format!(
                    "no connection within {:?}: is the daemon reachable at this address?",
                    self.connect_timeout
                ),
                None,
            )),
        }
    }

    async fn connect_inner(&self) -> Result<Conn> {
        match &self.endpoint.address {
            Address::Unix(path) => UnixStream::connect(path)
                .await
                .map(Conn::Unix)
                .map_err(|e| self.io_error(e)),
            Address::Tcp { host, port } => {
                let tcp = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| self.io_error(e))?;
                let _ = tcp.set_nodelay(true);
                let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
                let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
                match &self.tls {
                    None => Ok(Conn::Tcp(tcp)),
                    Some((connector, name)) => connector
                        .connect(name.clone(), tcp)
                        .await
                        .map(|s| Conn::Tls(Box::new(s)))
                        .map_err(|e| self.tls_error(e)),
                }
            }
            Address::Ssh(_) => unreachable!("ssh endpoints connect through their dialer"),
        }
    }

    /// Turns a lost connection caused by an ssh process that failed before the engine answered
    /// into the connect error it is (ssh's stderr in the hint).
    pub(crate) fn diagnose(&self, err: Error) -> Error {
        match self.endpoint.address {
            Address::Ssh(_) => super::ssh::diagnose(err, self.endpoint.runtime.as_str()),
            _ => err,
        }
    }

    pub(crate) fn io_error(&self, e: io::Error) -> Error {
        let runtime = self.endpoint.runtime;
        let daemon = match runtime {
            Runtime::Docker => "the Docker daemon",
            Runtime::Podman => "the Podman API service",
        };
        // Where the address came from says what to fix: the variable, or the caller's own
        // setting (`source` names it, e.g. a command-line flag).
        let source = self.endpoint.source.as_str();
        let fix = if source.starts_with("DOCKER_HOST")
            || source.starts_with("DAGU_PODMAN_HOST")
            || source.starts_with("default")
            || source == "given"
        {
            match runtime {
                Runtime::Docker => "point DOCKER_HOST at a running daemon".to_string(),
                Runtime::Podman => "point DAGU_PODMAN_HOST at its socket".to_string(),
            }
        } else {
            format!("correct the address from {source}")
        };
        let start = match runtime {
            Runtime::Docker => format!("start dockerd, or {fix}"),
            Runtime::Podman => format!(
                "start it with `podman system service` (or `systemctl enable --now podman.socket`), or {fix}"
            ),
        };
        let (failure, hint) = match (&self.endpoint.address, e.kind()) {
            (Address::Unix(path), io::ErrorKind::NotFound) => (
                ConnectFailure::SocketMissing,
                format!(
                    "socket {} does not exist: is {daemon} running? ({start})",
                    path.display()
                ),
            ),
            (Address::Unix(path), io::ErrorKind::PermissionDenied) => (
                ConnectFailure::PermissionDenied,
                format!(
                    "permission denied on socket {}: run as a user allowed to use it (root, or a member of the socket's group)",
                    path.display()
                ),
            ),
            (Address::Unix(path), io::ErrorKind::ConnectionRefused) => (
                ConnectFailure::Refused,
                format!(
                    "nothing listens on socket {}: is {daemon} running? ({start})",
                    path.display()
                ),
            ),
            (Address::Tcp { host, port }, io::ErrorKind::ConnectionRefused) => (
                ConnectFailure::Refused,
                format!("connection refused by {host}:{port}: is {daemon} listening there?"),
            ),
            (Address::Ssh(_), io::ErrorKind::NotFound) => (
                ConnectFailure::Ssh,
                "cannot run `ssh`: it is not on PATH (install the OpenSSH client, e.g. Debian's openssh-client)".to_string(),
            ),
            (Address::Ssh(_), _) => (ConnectFailure::Ssh, format!("cannot run `ssh`: {e}")),
            (Address::Tcp { host, .. }, _) if is_resolve_error(&e) => (
                ConnectFailure::Resolve,
                format!("cannot resolve host {host:?}: check the host name"),
            ),
            (_, io::ErrorKind::TimedOut) => (
                ConnectFailure::TimedOut,
                "the connection timed out: is the daemon reachable from here?".to_string(),
            ),
            _ => (ConnectFailure::Io, format!("{e}")),
        };
        self.connect_error(failure, hint, Some(Box::new(e)))
    }

    fn tls_error(&self, e: io::Error) -> Error {
        let settings = self.endpoint.tls.as_ref();
        let ca = settings
            .map(|s| s.ca_file.display().to_string())
            .unwrap_or_default();
        let detail = e
            .get_ref()
            .map(|inner| inner.to_string())
            .unwrap_or_else(|| e.to_string());
        let lower = detail.to_ascii_lowercase();
        let system_roots = settings.is_some_and(|s| s.uses_system_roots());
        let hint = if lower.contains("unknownissuer")
            || lower.contains("unknown issuer")
            || lower.contains("badsignature")
            || lower.contains("invalid peer certificate")
        {
            if system_roots {
                format!(
                    "TLS verification failed ({detail}): the daemon's certificate does not chain to a CA in the system's trust store, used because {ca} does not exist; put the daemon's CA there or check DOCKER_CERT_PATH"
                )
            } else {
                format!(
                    "TLS verification failed ({detail}): the daemon's certificate was not signed by the CA in {ca}; check DOCKER_CERT_PATH"
                )
            }
        } else if lower.contains("certificate") && lower.contains("alert") {
            format!(
                "TLS handshake failed ({detail}): the daemon rejected our client certificate; check cert.pem and key.pem in DOCKER_CERT_PATH"
            )
        } else {
            format!("TLS handshake failed ({detail}): is this a TLS endpoint, and is DOCKER_CERT_PATH right?")
        };
        self.connect_error(ConnectFailure::Tls, hint, Some(Box::new(e)))
    }

    fn connect_error(
        &self,
        failure: ConnectFailure,
        hint: String,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Connect {
            runtime: self.endpoint.runtime.as_str(),
            endpoint: self.endpoint.url.clone(),
            failure,
            hint,
            source,
        }
    }
}

fn is_resolve_error(e: &io::Error) -> bool {
    let s = e.to_string();
    s.contains("failed to lookup address") || s.contains("Name or service not known")
}

impl hyper_util::client::legacy::connect::Connection for Conn {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

/// The connector as a tower service, for hyper's pooled client on TCP and TLS endpoints.
impl tower_service::Service<http::Uri> for Connector {
    type Response = hyper_util::rt::TokioIo<Conn>;
    type Error = Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect().await.map(hyper_util::rt::TokioIo::new) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_in_podman_mode_is_refused_with_the_alternative() {
        let endpoint = Endpoint::parse("ssh://me@host", None)
            .unwrap()
            .with_runtime(Runtime::Podman);
        let err = Connector::new(&endpoint, Duration::from_secs(1)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Config { .. }), "{msg}");
        assert!(msg.contains("Docker mode only"), "{msg}");
        assert!(msg.contains("ssh -L"), "{msg}");
    }

    #[test]
    fn ssh_config_comes_from_the_endpoint() {
        let endpoint = Endpoint::parse("ssh://me@host:2200/run/d.sock", None)
            .unwrap()
            .with_ssh_config("/etc/tug/ssh_config");
        let connector = Connector::new(&endpoint, Duration::from_secs(5)).unwrap();
        let line = connector.ssh.as_ref().unwrap().command_line();
        assert_eq!(
            line,
            "ssh -F /etc/tug/ssh_config -o ConnectTimeout=5 -o BatchMode=yes -o ControlMaster=no -T -l me -p 2200 -- host docker --host=unix:///run/d.sock system dial-stdio"
        );
    }
}
