//! Shared helpers for the benchmarks: data generators, an in-process fake engine, and the
//! printing of figures beside their bounds.
//!
//! The benchmarks are `harness = false` binaries that time their loops by hand and print a
//! table; they are benchmarks, not tests (STYLE.md §11). Helpers here never panic on slow
//! machines: they report, and the reader compares against the printed targets.

pub mod data;
pub mod engines;
pub mod fake_engine;
pub mod figures;
