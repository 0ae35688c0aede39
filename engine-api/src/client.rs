//! The [`Client`]: one engine endpoint, a connection pool, the negotiated API version and what
//! the engine said about itself.
//!
//! Resource modules (`containers`, `images`, …) add their methods to `Client` in their own
//! files; this module holds what they share: request building (paths with percent-encoded
//! segments, queries, JSON bodies), the version prefix, error mapping and the streaming path.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::endpoint::{ApiVersion, Endpoint, Runtime};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::connect::Connector;
use crate::transport::pool::Pool;
use crate::transport::raw::{self, RawBody, RawOptions, RawRequest, RawResponse};

/// The highest API version this client speaks (the current Docker spec).
pub const MAX_API_VERSION: ApiVersion = ApiVersion::new(1, 56);
/// The lowest API version this client negotiates down to.
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 24);

/// Error bodies are read up to this size, as the docker CLI does.
const MAX_ERROR_BODY: usize = 1 << 20;

/// Timeouts applied by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection (TCP connect and TLS handshake).
    pub connect: Duration,
    /// From sending a request until its response headers arrive (ordinary requests; operations
    /// that legitimately take long, such as stopping a container, extend it by their own
    /// duration).
    pub response: Duration,
    /// On streams: the longest silence between two reads before the stream fails with a
    /// timeout. `None` waits forever (following logs of a quiet container is normal).
    pub stream_idle: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(120),
            stream_idle: None,
        }
    }
}

/// What the engine said about itself when the client first reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIdentity {
    /// The API version every request uses (`/vX.Y` prefix).
    pub api_version: ApiVersion,
    /// Whether the version was pinned by the caller (`DOCKER_API_VERSION`) instead of negotiated.
    pub pinned: bool,
    /// The engine's own maximum API version (its `Api-Version` header).
    pub engine_api_version: Option<ApiVersion>,
    /// True when the engine is Podman (from its `Libpod-Api-Version` or `Server` header).
    pub podman: bool,
    /// The `Server` header (`Docker/20.10.24 (linux)`, `Libpod/4.3.1`).
    pub server: Option<String>,
    /// The `Ostype` header (`linux`).
    pub os_type: Option<String>,
}

impl EngineIdentity {
    /// The runtime the engine turned out to be.
    pub fn runtime(&self) -> Runtime {
        if self.podman {
            Runtime::Podman
        } else {
            Runtime::Docker
        }
    }
}

struct Inner {
    endpoint: Endpoint,
    connector: Connector,
    pool: Pool,
    timeouts: Timeouts,
    identity: OnceCell<EngineIdentity>,
    user_agent: HeaderValue,
    host: HeaderValue,
    /// The endpoint's custom headers, checked once.
    custom: Vec<(http::HeaderName, HeaderValue)>,
}

/// A client for one engine. Cheap to clone; clones share the connection pool.
///
/// ```no_run
/// # async fn demo() -> engine_api::Result<()> {
/// let client = engine_api::Client::from_env()?;
/// let version = client.version().await?;
/// println!("{} {}", version.version.unwrap_or_default(), client.identity().await?.api_version);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.url)
            .field("runtime", &self.inner.endpoint.runtime)
            .field("identity", &self.inner.identity.get())
            .finish()
    }
}

impl Client {
    /// A client for the endpoint the process environment selects (see [`crate::endpoint`]).
    pub fn from_env() -> Result<Client> {
        Client::new(Endpoint::from_env()?)
    }

    /// A client for `endpoint` with default timeouts.
    pub fn new(endpoint: Endpoint) -> Result<Client> {
        Client::with_timeouts(endpoint, Timeouts::default())
    }

    /// A client for `endpoint` with the given timeouts. TLS files are read here, once.
    pub fn with_timeouts(endpoint: Endpoint, timeouts: Timeouts) -> Result<Client> {
        let connector = Connector::new(&endpoint, timeouts.connect)?;
        let pool = Pool::new(&connector);
        let host = HeaderValue::from_str(&endpoint.host_header())
            .map_err(|_| Error::config(format!("invalid host in {}", endpoint.url)))?;
        let mut custom = Vec::new();
        for (name, value) in endpoint.headers.to_send() {
            let bad = || Error::config(format!("custom header {name:?} cannot be sent"));
            custom.push((
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?,
                HeaderValue::from_str(value).map_err(|_| bad())?,
            ));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                endpoint,
                connector,
                pool,
                timeouts,
                identity: OnceCell::new(),
                user_agent: HeaderValue::from_static(concat!(
                    "tug-engine-api/",
                    env!("CARGO_PKG_VERSION")
                )),
                host,
                custom,
            }),
        })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
    }

    /// The engine's identity and the API version in use, reaching the engine on first call
    /// (`GET /_ping`). The result is kept for the client's lifetime.
    pub async fn identity(&self) -> Result<&EngineIdentity> {
        self.inner
            .identity
            .get_or_try_init(|| self.negotiate())
            .await
    }

    /// True when the engine is Podman (reaches the engine on first call).
    pub async fn is_podman(&self) -> Result<bool> {
        Ok(self.identity().await?.podman)
    }

    async fn negotiate(&self) -> Result<EngineIdentity> {
        let (parts, _) = self
            .exchange(Request::get("/_ping").unversioned(), "/_ping".to_string())
            .await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let engine_api_version = header("api-version").and_then(|v| v.parse().ok());
        let server = header("server");
        let podman = header("libpod-api-version").is_some()
            || server
                .as_deref()
                .is_some_and(|s| s.to_ascii_lowercase().starts_with("libpod"));
        let (api_version, pinned) = match self.inner.endpoint.api_version {
            Some(v) => (v, true),
            None => {
                let v = engine_api_version
                    .map(|v: ApiVersion| v.min(MAX_API_VERSION))
                    .unwrap_or(MIN_API_VERSION);
                (v.max(MIN_API_VERSION), false)
            }
        };
        tracing::debug!(endpoint = %self.inner.endpoint.url, %api_version, podman, "negotiated");
        Ok(EngineIdentity {
            api_version,
            pinned,
            engine_api_version,
            podman,
            server,
            os_type: header("ostype"),
        })
    }

    /// The `/vX.Y` prefix for versioned requests.
    pub(crate) async fn path_prefix(&self) -> Result<String> {
        Ok(format!("/v{}", self.identity().await?.api_version))
    }

    /// Builds the full path and query of `req`, versioned unless it opted out.
    pub(crate) async fn path_and_query(&self, req: &Request) -> Result<String> {
        let mut s = String::new();
        if req.versioned {
            s.push_str(&self.path_prefix().await?);
        }
        s.push_str(&req.path);
        if !req.query.0.is_empty() {
            s.push('?');
            s.push_str(&req.query.0);
        }
        Ok(s)
    }

    /// Sends `req` over the pool and reads the whole body; HTTP errors become [`Error::Engine`].
    async fn send_raw(&self, req: Request) -> Result<(http::response::Parts, Bytes)> {
        let pq = self.path_and_query(&req).await?;
        self.exchange(req, pq).await
    }

    /// Sends `req` to the already-built `pq` (path and query).
    async fn exchange(&self, req: Request, pq: String) -> Result<(http::response::Parts, Bytes)> {
        let uri = self.inner.pool.uri(&pq)?;
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(uri)
            .header(HOST, self.inner.host.clone())
            .header(USER_AGENT, self.inner.user_agent.clone());
        for (k, v) in &self.inner.custom {
            builder = builder.header(k, v);
        }
        if req.body.is_some() {
            builder = builder.header(CONTENT_TYPE, req.content_type);
        }
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let http_req = builder
            .body(Full::new(req.body.clone().unwrap_or_default()))
            .map_err(|e| Error::config(format!("cannot build request {pq}: {e}")))?;

        let limit = match req.timeout {
            Timeout::Default => Some(self.inner.timeouts.response),
            Timeout::Extra(d) => Some(self.inner.timeouts.response + d),
            Timeout::None => None,
        };
        let what = format!("{} {}", req.method, req.path);
        let exchange = async {
            let resp = self
                .inner
                .pool
                .send(http_req, &self.inner.connector)
                .await?;
            let (parts, body) = resp.into_parts();
            let bytes = if parts.status.is_success() {
                body.collect()
                    .await
                    .map(|c| c.to_bytes())
                    .map_err(|e| self.lost("while reading the response", Some(Box::new(e))))?
            } else {
                // Error bodies are bounded.
                Limited::new(body, MAX_ERROR_BODY)
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default()
            };
            Ok::<_, Error>((parts, bytes))
        };
        let (parts, bytes) = match limit {
            Some(limit) => {
                tokio::time::timeout(limit, exchange)
                    .await
                    .map_err(|_| Error::Timeout {
                        after: limit,
                        during: "waiting for the engine's response",
                    })??
            }
            None => exchange.await?,
        };
        if parts.status.is_success() || parts.status == StatusCode::SWITCHING_PROTOCOLS {
            Ok((parts, bytes))
        } else if parts.status == StatusCode::BAD_REQUEST
            && bytes.starts_with(b"Client sent an HTTP request to an HTTPS server")
        {
            Err(Error::Connect {
                runtime: self.inner.endpoint.runtime.as_str(),
                endpoint: self.inner.endpoint.url.clone(),
                failure: crate::error::ConnectFailure::Tls,
                hint: "the daemon expects TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem".to_string(),
                source: None,
            })
        } else {
            tracing::debug!(%what, status = parts.status.as_u16(), "engine error");
            Err(engine_error(parts.status.as_u16(), &parts.headers, &bytes))
        }
    }

    pub(crate) fn lost(
        &self,
        during: &'static str,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::ConnectionLost {
            endpoint: self.inner.endpoint.url.clone(),
            during,
            source,
        }
    }

    /// Sends `req` and returns the body.
    pub(crate) async fn send(&self, req: Request) -> Result<Bytes> {
        Ok(self.send_raw(req).await?.1)
    }

    /// Sends `req` and returns the body and headers.
    pub(crate) async fn send_with_headers(&self, req: Request) -> Result<(http::HeaderMap, Bytes)> {
        let (parts, body) = self.send_raw(req).await?;
        Ok((parts.headers, body))
    }

    /// Opens a streaming request on a dedicated connection through the raw HTTP/1.1 path
    /// (logs, attach, exec start, events, pull/push/build progress, archive upload). An error
    /// status becomes [`Error::Engine`]; on success the response's body is not read yet.
    /// `upgrade` asks the engine to hijack the connection (attach, exec start).
    pub(crate) async fn stream(
        &self,
        req: Request,
        body: RawBody,
        upgrade: bool,
    ) -> Result<RawResponse> {
        let pq = self.path_and_query(&req).await?;
        let conn = self.inner.connector.connect().await?;
        let mut raw = RawRequest::new(req.method.clone(), pq)
            .host(self.inner.endpoint.host_header())
            .header(USER_AGENT, self.inner.user_agent.clone());
        for (k, v) in &self.inner.custom {
            raw = raw.header(k.clone(), v.clone());
        }
        if !body.is_empty() {
            raw = raw.header(CONTENT_TYPE, HeaderValue::from_static(req.content_type));
        }
        for (k, v) in req.headers {
            raw = raw.header(k, v);
        }
        if upgrade {
            raw = raw.upgrade();
        }
        let head_timeout = match req.timeout {
            Timeout::Default => Some(self.inner.timeouts.response),
            Timeout::Extra(d) => Some(self.inner.timeouts.response + d),
            Timeout::None => None,
        };
        let options = RawOptions::new(self.inner.endpoint.url.as_str())
            .head_timeout(head_timeout)
            .idle_timeout(self.inner.timeouts.stream_idle);
        let response = raw::send(conn, raw.body(body), &options)
            .await
            .map_err(|e| self.inner.connector.diagnose(e))?;
        response.error_for_status().await
    }

    /// Sends `req` and decodes a JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        let what = format!("{} {}", req.method, req.path);
        let body = self.send(req).await?;
        decode_json(&what, &body)
    }
}

/// Decodes `body` as JSON, keeping a snippet of it when that fails.
pub(crate) fn decode_json<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| Error::Decode {
        what: what.to_string(),
        snippet: snippet(body),
        source,
    })
}

/// The first 200 characters of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(400)]);
    s.chars().take(200).collect()
}

/// Maps an HTTP error status and body to [`Error::Engine`], keeping the engine's message from
/// Docker's `{"message": …}` and Podman's `{"cause": …, "message": …, "response": …}`.
pub(crate) fn engine_error(status: u16, headers: &http::HeaderMap, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        message: Option<String>,
        cause: Option<String>,
    }
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let parsed = if is_json || body.first() == Some(&b'{') {
        serde_json::from_slice::<Body>(body).ok()
    } else {
        None
    };
    let message = match parsed {
        Some(Body {
            message: Some(m), ..
        }) if !m.trim().is_empty() => m.trim().to_string(),
        Some(Body { cause: Some(c), .. }) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                let reason = StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error");
                format!("{status} {}", reason.to_ascii_lowercase())
            } else {
                text.chars().take(4096).collect()
            }
        }
    };
    Error::Engine {
        kind: ErrorKind::classify(status, &message),
        status,
        message,
    }
}

/// One request to the engine, built by the resource modules.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Query,
    pub(crate) body: Option<Bytes>,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) versioned: bool,
    pub(crate) timeout: Timeout,
}

/// How long a request may wait for its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Timeout {
    /// The client's response timeout.
    #[default]
    Default,
    /// The response timeout plus this much (an operation with its own duration, like stop).
    Extra(Duration),
    /// No limit (waiting for a container to exit).
    None,
}

impl Request {
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Query::default(),
            body: None,
            content_type: "application/json",
            headers: Vec::new(),
            versioned: true,
            timeout: Timeout::Default,
        }
    }

    pub(crate) fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub(crate) fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }

    pub(crate) fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::DELETE, path)
    }

    pub(crate) fn unversioned(mut self) -> Request {
        self.versioned = false;
        self
    }

    pub(crate) fn query(mut self, query: Query) -> Request {
        self.query = query;
        self
    }

    pub(crate) fn json_body<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Request> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::config(format!("cannot encode request body: {e}")))?;
        self.body = Some(Bytes::from(bytes));
        self.content_type = "application/json";
        Ok(self)
    }

    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Request {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn timeout(mut self, timeout: Timeout) -> Request {
        self.timeout = timeout;
        self
    }
}

/// A percent-encoded query string. Keys and values from user input can never inject further
/// parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(pub(crate) String);

/// Everything but unreserved characters is encoded.
const QUERY_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Query {
    pub(crate) fn new() -> Query {
        Query::default()
    }

    /// Appends `key=value`.
    pub(crate) fn push(&mut self, key: &str, value: impl fmt::Display) -> &mut Query {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0
            .extend(percent_encoding::utf8_percent_encode(key, QUERY_SET));
        self.0.push('=');
        let v = value.to_string();
        self.0
            .extend(percent_encoding::utf8_percent_encode(&v, QUERY_SET));
        self
    }

    /// Appends `key=value` when `value` is set.
    pub(crate) fn opt(&mut self, key: &str, value: Option<impl fmt::Display>) -> &mut Query {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    /// Appends `key=1` only when `on`.
    pub(crate) fn flag_if(&mut self, key: &str, on: bool) -> &mut Query {
        if on {
            self.push(key, "1");
        }
        self
    }

    /// Appends a `filters` parameter (JSON map of name → values) when non-empty.
    pub(crate) fn filters(&mut self, filters: &crate::Filters) -> &mut Query {
        if !filters.is_empty() {
            self.push("filters", filters.to_json());
        }
        self
    }

    pub(crate) fn done(&mut self) -> Query {
        std::mem::take(self)
    }
}

/// Percent-encodes one path segment (a container name or id, an image reference, …), so user
/// input cannot change the path or add a query.
pub(crate) fn seg(s: &str) -> String {
    const SEG_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b':')
        .remove(b'@');
    match s {
        // A path that cleans `.` or `..` away would reach another endpoint.
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => percent_encoding::utf8_percent_encode(s, SEG_SET).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_cannot_inject_parameters() {
        let mut q = Query::new();
        q.push("name", "evil&force=1 x#y");
        assert_eq!(q.0, "name=evil%26force%3D1%20x%23y");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("abc/../x?y=1"), "abc%2F..%2Fx%3Fy%3D1");
        assert_eq!(seg(".."), "%2E%2E");
        assert_eq!(seg("."), "%2E");
        assert_eq!(
            seg("registry:5000/img@sha256:ab"),
            "registry:5000%2Fimg@sha256:ab"
        );
    }

    #[test]
    fn docker_error_body() {
        let mut h = http::HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let e = engine_error(404, &h, br#"{"message":"No such container: x"}"#);
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "No such container: x");
    }

    #[test]
    fn podman_error_body() {
        let mut h = http::HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let e = engine_error(
            409,
            &h,
            br#"{"cause":"that name is already in use","message":"creating container storage: the container name \"x\" is already in use","response":409}"#,
        );
        assert!(e.is_conflict());
        assert!(e.to_string().contains("already in use"));
    }

    #[test]
    fn plain_text_and_empty_error_bodies() {
        let h = http::HeaderMap::new();
        let e = engine_error(500, &h, b"page not found\n");
        assert_eq!(e.to_string(), "page not found");
        let e = engine_error(304, &h, b"");
        assert!(e.is_not_modified());
        assert_eq!(e.to_string(), "304 not modified");
    }
}
