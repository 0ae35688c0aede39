//! Connections to the engine and the two request paths over them.
//!
//! * [`connect`] opens a [`Conn`] to an [`Endpoint`](crate::Endpoint): a unix socket, plain TCP,
//!   TLS (client certificate presented, server verified against the configured CA), or the
//!   stdio of `ssh … docker system dial-stdio` ([`ssh`]).
//! * Ordinary JSON requests go through a pooled hyper client with keep-alive (`http`).
//! * Streaming endpoints (logs, attach, exec, events, pull/push/build progress) use [`raw`]: a
//!   dedicated connection on which the request is written by hand and the response body is
//!   decoded linearly (chunked or length-delimited) straight into the stream decoders, with no
//!   per-chunk task handoff. Hijacked (upgraded) connections come out of the same path.

pub mod connect;
pub(crate) mod pool;
pub mod raw;
pub mod ssh;
pub(crate) mod tls;

pub use connect::Conn;
