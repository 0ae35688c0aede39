//! The pooled hyper client for ordinary (non-streaming) requests.
//!
//! Unix endpoints go through hyperlocal's connector (the socket path travels in the URI's
//! host); TCP, TLS and ssh endpoints through our [`Connector`]. Either way connections are kept
//! alive and reused, so a run of small JSON requests costs one connect (and one TLS handshake,
//! or one ssh login). Concurrent requests each get a connection of their own.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use super::connect::Connector;
use crate::endpoint::Address;
use crate::error::{Error, Result};

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Unix {
        client: HyperClient<hyperlocal::UnixConnector, Full<Bytes>>,
        socket: std::path::PathBuf,
    },
    Net {
        client: HyperClient<Connector, Full<Bytes>>,
        base: String,
    },
}

impl Pool {
    pub(crate) fn new(connector: &Connector) -> Pool {
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(8);
        match &connector.endpoint().address {
            Address::Unix(path) => Pool::Unix {
                client: builder.build(hyperlocal::UnixConnector),
                socket: path.clone(),
            },
            Address::Tcp { .. } | Address::Ssh(_) => Pool::Net {
                client: builder.build(connector.clone()),
                base: format!("http://{}", connector.endpoint().host_header()),
            },
        }
    }

    /// The URI for `path_and_query` on this pool's endpoint.
    pub(crate) fn uri(&self, path_and_query: &str) -> Result<http::Uri> {
        match self {
            Pool::Unix { socket, .. } => Ok(hyperlocal::Uri::new(socket, path_and_query).into()),
            Pool::Net { base, .. } => format!("{base}{path_and_query}").parse().map_err(|e| {
                Error::config(format!("invalid request path {path_and_query:?}: {e}"))
            }),
        }
    }

    /// Sends a request; connection failures are mapped by `connector`.
    pub(crate) async fn send(
        &self,
        req: Request<Full<Bytes>>,
        connector: &Connector,
    ) -> Result<Response<Incoming>> {
        let result = match self {
            Pool::Unix { client, .. } => client.request(req).await,
            Pool::Net { client, .. } => client.request(req).await,
        };
        result.map_err(|e| connector.diagnose(map_error(e, connector)))
    }
}

/// Turns a hyper-util error into ours: a failure to connect keeps its diagnosis (missing
/// socket, TLS, …); anything after that is a lost connection.
fn map_error(e: hyper_util::client::legacy::Error, connector: &Connector) -> Error {
    // Our connector's own error travels inside hyper's.
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(Error::Connect {
            runtime,
            endpoint,
            failure,
            hint,
            ..
        }) = s.downcast_ref::<Error>()
        {
            return Error::Connect {
                runtime,
                endpoint: endpoint.clone(),
                failure: *failure,
                hint: hint.clone(),
                source: None,
            };
        }
        if e.is_connect() {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return connector.io_error(std::io::Error::new(io.kind(), io.to_string()));
            }
        }
        source = s.source();
    }
    Error::ConnectionLost {
        endpoint: connector.endpoint().url.clone(),
        during: "during a request",
        source: Some(Box::new(e)),
    }
}
