//! A typed, streaming client for the Docker Engine API, spoken by Docker and by Podman's
//! Docker-compatible service.
//!
//! The crate is split the way the API is:
//!
//! * [`endpoint`] resolves which engine to talk to from the process environment, the way the
//!   docker CLI does (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`,
//!   `DOCKER_API_VERSION`), plus Dagu's runtime selection (`DAGU_CONTAINER_RUNTIME`,
//!   `DAGU_PODMAN_HOST`); [`context`] reads Docker contexts (`DOCKER_CONTEXT`,
//!   `currentContext`).
//! * [`transport`] opens connections (unix socket, TCP, TLS, ssh) and carries two request paths:
//!   ordinary JSON requests over a pooled hyper client, and a raw HTTP/1.1 path for streaming
//!   endpoints that decodes chunked bodies straight into the stream decoders.
//! * [`stream`] holds the incremental decoders: multiplexed stdout/stderr frames, line framing
//!   and JSON-lines progress streams.
//! * [`Client`] is the entry point; it negotiates the API version and detects Podman.
//!
//! The library never prints and never exits; it reports through [`Error`] and `tracing`.
//!
//! # A container round trip
//!
//! ```no_run
//! use engine_api::containers::{ContainerCreate, RemoveOptions, WaitCondition};
//! use engine_api::containers_io::LogsOptions;
//! use engine_api::stream::StreamKind;
//! use engine_api::Client;
//!
//! # async fn demo() -> engine_api::Result<()> {
//! // DOCKER_HOST, DOCKER_TLS_VERIFY, … or DAGU_CONTAINER_RUNTIME=podman pick the engine.
//! let client = Client::from_env()?;
//!
//! let mut create = ContainerCreate::new("busybox:latest");
//! create.config.cmd = Some(vec!["sh".into(), "-c".into(), "echo hi; echo oops >&2; exit 3".into()]);
//! let id = client.create_container(&create).await?.id;
//! client.start_container(&id).await?;
//!
//! // Follow the output until the container exits: stdout and stderr arrive tagged.
//! let mut logs = client.container_logs(&id, &LogsOptions::follow()).await?;
//! while let Some(chunk) = logs.next_chunk().await? {
//!     match chunk.stream {
//!         StreamKind::Stderr => eprint!("{}", String::from_utf8_lossy(&chunk.data)),
//!         _ => print!("{}", String::from_utf8_lossy(&chunk.data)),
//!     }
//! }
//!
//! // A non-zero exit is a value, not an error.
//! let exit = client.wait_container(&id, WaitCondition::NotRunning).await?;
//! assert_eq!(exit.status_code, 3);
//!
//! // Containers are not child processes: remove what you create.
//! client.remove_container(&id, RemoveOptions::force()).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod client;
pub mod containers;
pub mod containers_io;
pub mod context;
pub mod endpoint;
pub mod error;
pub mod exec;
mod filters;
pub mod headers;
pub mod images;
pub mod networks;
pub mod redact;
pub mod reference;
mod serde_util;
pub mod stream;
pub mod system;
pub mod transport;
pub mod volumes;

pub use client::{Client, EngineIdentity, Timeouts, MAX_API_VERSION, MIN_API_VERSION};
pub use endpoint::{ApiVersion, Endpoint, Runtime};
pub use error::{Error, ErrorKind, Result};
pub use filters::Filters;
