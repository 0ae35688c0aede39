//! The crate's error type.
//!
//! One opaque-ish enum, `#[non_exhaustive]`, with predicates (`is_not_found()`, …) so callers
//! branch on meaning rather than on HTTP status codes. `Display` prints one level; the cause hangs
//! off `source()`. Messages are lowercase fragments that read well after "failed to …".

use std::fmt;
use std::time::Duration;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an HTTP failure from the engine means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the engine rejected the request's arguments.
    BadRequest,
    /// 401: authentication is required or failed (registry credentials, usually).
    Unauthorized,
    /// 403: the engine refused the operation.
    Forbidden,
    /// 404: no such container, image, network, volume or exec.
    NotFound,
    /// 304: the object was already in the requested state (start a running container, …).
    NotModified,
    /// 409: a name conflict or an operation that conflicts with the object's state.
    Conflict,
    /// 412: a precondition failed.
    PreconditionFailed,
    /// 429: too many requests.
    TooManyRequests,
    /// 501: the engine does not implement this endpoint.
    NotImplemented,
    /// 503: the engine is not available (swarm endpoints on Podman, a daemon shutting down).
    Unavailable,
    /// 500 and anything else in 5xx.
    Server,
    /// Any other status.
    Other,
}

impl ErrorKind {
    /// Maps an HTTP status code to its kind.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            304 => ErrorKind::NotModified,
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            412 => ErrorKind::PreconditionFailed,
            429 => ErrorKind::TooManyRequests,
            501 => ErrorKind::NotImplemented,
            503 => ErrorKind::Unavailable,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

impl ErrorKind {
    /// The kind of an error answer, from its status and the engine's message. Podman answers
    /// some conflicts (a container name in use) with a 500; its message says what it is.
    pub fn classify(status: u16, message: &str) -> ErrorKind {
        let kind = ErrorKind::from_status(status);
        if kind == ErrorKind::Server {
            let m = message.to_ascii_lowercase();
            if m.contains("is already in use") || m.contains("name is already in use") {
                return ErrorKind::Conflict;
            }
            if m.contains("no such container") || m.contains("no such image") {
                return ErrorKind::NotFound;
            }
        }
        kind
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::BadRequest => "bad request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not found",
            ErrorKind::NotModified => "not modified",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PreconditionFailed => "precondition failed",
            ErrorKind::TooManyRequests => "too many requests",
            ErrorKind::NotImplemented => "not implemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Server => "server error",
            ErrorKind::Other => "unexpected status",
        })
    }
}

/// Why a connection to the engine could not be made or kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The unix socket does not exist: the daemon is not running, or the path is wrong.
    SocketMissing,
    /// The unix socket exists but this user may not open it.
    PermissionDenied,
    /// Nothing listens at the address (connection refused).
    Refused,
    /// The connection attempt did not finish in time.
    TimedOut,
    /// The host name did not resolve.
    Resolve,
    /// The TLS handshake failed: the server's certificate did not verify, or ours was rejected.
    Tls,
    /// `ssh` could not be run, or it ended before the engine answered (login refused, host
    /// unreachable or unknown, no `docker` or no daemon on the remote host); the hint carries
    /// ssh's stderr.
    Ssh,
    /// Any other I/O failure.
    Io,
}

/// An error from the engine client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint configuration (environment, certificates, URL) is invalid.
    #[error("invalid engine configuration: {message}")]
    Config {
        /// What is wrong and what is allowed.
        message: String,
    },

    /// The connection to the engine could not be established.
    #[error("cannot connect to the {runtime} engine at {endpoint}: {hint}")]
    Connect {
        /// `docker` or `podman`.
        runtime: &'static str,
        /// The endpoint as the user wrote it (`unix:///var/run/docker.sock`, …).
        endpoint: String,
        /// What kind of failure it was.
        failure: ConnectFailure,
        /// What to check, in the spirit of the "Runtime Checks" tables.
        hint: String,
        /// The underlying I/O or TLS error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The connection broke during a request or a stream (the engine died or closed it).
    #[error("lost the connection to the engine at {endpoint} {during}")]
    ConnectionLost {
        /// The endpoint.
        endpoint: String,
        /// What was going on (`while reading the response`, `mid-stream`, …).
        during: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The engine answered with an HTTP error status.
    #[error("{message}")]
    Engine {
        /// The meaning of the status.
        kind: ErrorKind,
        /// The HTTP status code.
        status: u16,
        /// The engine's own message (Docker's `message`, Podman's `message`/`cause`).
        message: String,
    },

    /// The engine reported an error inside a 200 stream (pull, push, build progress, or a
    /// system-error frame in a log stream).
    #[error("{message}")]
    Stream {
        /// The engine's message.
        message: String,
    },

    /// A stream did not follow its framing (unknown frame type, truncated frame, bad chunk).
    #[error("malformed stream from the engine: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },

    /// A response body could not be decoded.
    #[error("cannot decode the engine's response to {what}: {source} (body starts: {snippet:?})")]
    Decode {
        /// The request the body answered.
        what: String,
        /// The first bytes of the body, for diagnosis.
        snippet: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// A configured timeout fired.
    #[error("timed out after {after:?} {during}")]
    Timeout {
        /// The configured duration.
        after: Duration,
        /// What was being waited for.
        during: &'static str,
    },

    /// A pull or push that the engine reported failed partway, for a reason other than
    /// credentials or a missing image: a layer download cut short, an error the registry
    /// answered for a blob. Engines report these inside their progress stream with only their
    /// own words ("unexpected EOF", "unknown blob"), so the image is added here.
    #[error("{operation} of {image}: {message}")]
    Transfer {
        /// `pull` or `push`.
        operation: &'static str,
        /// The image, as `repository:tag` (or `repository@digest`).
        image: String,
        /// The registry host.
        registry: String,
        /// The engine's message.
        message: String,
    },

    /// A registry credential could not be found or used.
    #[error("registry credentials for {registry}: {message}")]
    Auth {
        /// The registry host.
        registry: String,
        /// What went wrong (never the secret itself).
        message: String,
    },

    /// Local I/O (reading a file to upload, a certificate, a credential helper).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The HTTP kind, for errors the engine answered with a status.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Engine { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The HTTP status, for errors the engine answered with a status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Engine { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The engine said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }

    /// The engine reported a conflict (name in use, …).
    pub fn is_conflict(&self) -> bool {
        self.kind() == Some(ErrorKind::Conflict)
    }

    /// The object was already in the requested state.
    pub fn is_not_modified(&self) -> bool {
        self.kind() == Some(ErrorKind::NotModified)
    }

    /// Authentication failed or is required.
    pub fn is_unauthorized(&self) -> bool {
        self.kind() == Some(ErrorKind::Unauthorized)
            || matches!(self, Error::Auth { .. })
            || matches!(self, Error::Stream { message } if looks_unauthorized(message))
    }

    /// The engine rejected the request's arguments.
    pub fn is_bad_request(&self) -> bool {
        self.kind() == Some(ErrorKind::BadRequest)
    }

    /// The engine could not be reached, or the connection to it was lost.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::ConnectionLost { .. })
    }

    /// The connection broke mid-request or mid-stream.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::ConnectionLost { .. })
    }

    /// A TLS handshake or verification failure.
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            Error::Connect {
                failure: ConnectFailure::Tls,
                ..
            }
        )
    }

    /// A timeout fired.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Connect {
                    failure: ConnectFailure::TimedOut,
                    ..
                }
        )
    }

    /// The stream violated its framing.
    pub fn is_protocol(&self) -> bool {
        matches!(self, Error::Protocol { .. })
    }

    /// The engine's own message, for errors that carry one.
    pub fn engine_message(&self) -> Option<&str> {
        match self {
            Error::Engine { message, .. }
            | Error::Stream { message }
            | Error::Transfer { message, .. }
            | Error::Auth { message, .. } => Some(message),
            _ => None,
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::Protocol {
            message: message.into(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Registries answer a failed login inside a 200 pull stream; recognise the usual phrasings so
/// callers can tell a wrong password from a missing image.
fn looks_unauthorized(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("no basic auth credentials")
        || m.contains("incorrect username or password")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(ErrorKind::from_status(404), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_status(409), ErrorKind::Conflict);
        assert_eq!(ErrorKind::from_status(304), ErrorKind::NotModified);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::Server);
        assert_eq!(ErrorKind::from_status(418), ErrorKind::Other);
    }

    #[test]
    fn unauthorized_inside_a_stream_is_recognised() {
        let e = Error::Stream {
            message: "Head \"http://127.0.0.1:5000/v2/x/manifests/latest\": unauthorized: authentication required".into(),
        };
        assert!(e.is_unauthorized());
    }
}
