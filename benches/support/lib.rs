//! Shared helpers for the benchmarks (data generators, fake engine, figures).
