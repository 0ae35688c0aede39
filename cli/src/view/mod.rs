//! Showing a run while it happens. The runner sends `Event`s; a [`View`] turns them into
//! output: the live terminal view ([`live`]), plain timestamped lines for pipes and logs
//! ([`plain`]), or JSON lines for scripts ([`json`]).

pub mod json;
pub mod lines;
pub mod live;
pub mod plain;
mod renderer;
pub mod tty;

pub use renderer::{owner, View};
