//! tug's executor: the workflow model, and running it.
//!
//! - [`workflow`]: load a Dagu-compatible workflow file, validate it with diagnostics that point
//!   at the file (line, column, caret, "did you mean"), expand variables, and plan it. Pure and
//!   synchronous.
//!
//! The library never prints and never exits: it returns values (and, when running, events)
//! that the CLI renders.

pub mod workflow;

pub mod redact;
pub mod run;
