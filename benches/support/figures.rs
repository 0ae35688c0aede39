//! Timing and printing helpers: best-of and median timings, throughput figures, and a table
//! that shows each figure beside its bound.

use std::time::{Duration, Instant};

/// Runs `f` `rounds` times and returns every duration (after one untimed warm-up run).
pub fn time_rounds<T>(rounds: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    std::hint::black_box(f());
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect()
}

/// The median of some durations.
pub fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

/// The smallest of some durations.
pub fn best(d: &[Duration]) -> Duration {
    d.iter().copied().min().unwrap_or_default()
}

/// Bytes per second as GB/s (10^9).
pub fn gb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

/// Bytes per second as MB/s (10^6).
pub fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// A printed table row: what was measured, the figure, and the bound beside it.
pub fn row(what: &str, figure: &str, bound: &str) {
    // Benchmarks are binaries whose output is the report.
    #[allow(clippy::print_stdout)]
    {
        println!("  {what:<58} {figure:>14}   {bound}");
    }
}

/// A section heading.
pub fn heading(text: &str) {
    #[allow(clippy::print_stdout)]
    {
        println!("\n{text}");
    }
}

/// `met` or `BELOW TARGET`.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "BELOW TARGET"
    }
}
