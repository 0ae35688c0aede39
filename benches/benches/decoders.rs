//! In-memory throughput of the stream decoders, beside a plain copy of the same bytes.
//!
//! * The multiplexed-frame demuxer over 256 MiB of payload in mixed frame sizes (64 B, 4 KiB,
//!   32 KiB, each a third of the bytes, shuffled), fed in 64 KiB pieces; and over 256 MiB of
//!   64-byte frames fed one piece per frame (what a chunked log body gives it). Through both
//!   APIs — borrowed (`decode_slice`: payloads are slices of the input, as `LogStream::
//!   next_chunk_ref` uses it) and owned (`decode`: payloads are `Bytes`, one reference count
//!   each, as `LogStream::next_chunk`) — and with two consumers: one that only counts the
//!   payload bytes (the decoder's own cost) and one that copies every payload out into a
//!   buffer (comparable with the plain copy).
//! * The JSON-lines decoder over 64 MiB of image-pull progress lines fed in 64 KiB pieces,
//!   beside `serde_json` decoding the same lines pre-split (the floor: the JSON parse itself).
//!
//! Targets (issue 9): demuxer ≥ 8 GB/s on mixed frames; ≥ 4.3 GB/s with one piece per 64-byte
//! frame (10× bollard's 0.43). Figures are GB/s of payload (10^9 bytes per second), best of
//! the rounds. Run with `cargo bench -p tug-benches --bench decoders`.

use std::time::Duration;

use bytes::Bytes;
use engine_api::stream::{Demuxer, JsonLines};
use serde::Deserialize;
use tug_benches::data::{frames, pull_progress};
use tug_benches::figures::{best, gb_s, heading, mb_s, row, time_rounds, verdict};

const MIB: usize = 1024 * 1024;
const ROUNDS: usize = 5;

/// Demuxes `pieces`, counting payload bytes without touching them.
fn demux_count(pieces: &[Bytes]) -> usize {
    let mut d = Demuxer::new();
    let mut n = 0;
    for piece in pieces {
        let mut piece = piece.clone();
        while let Some(chunk) = d.decode(&mut piece).expect("valid frames") {
            n += chunk.data.len();
        }
    }
    d.finish().expect("complete");
    n
}

/// Demuxes `pieces`, copying every payload into `out` (per stream would be the same cost).
fn demux_copy(pieces: &[Bytes], out: &mut [u8]) -> usize {
    let mut d = Demuxer::new();
    let mut at = 0;
    for piece in pieces {
        let mut piece = piece.clone();
        while let Some(chunk) = d.decode(&mut piece).expect("valid frames") {
            out[at..at + chunk.data.len()].copy_from_slice(&chunk.data);
            at += chunk.data.len();
        }
    }
    d.finish().expect("complete");
    at
}

/// Demuxes `pieces` through the borrowed API, counting payload bytes without touching them.
fn demux_slice_count(pieces: &[Bytes]) -> usize {
    let mut d = Demuxer::new();
    let mut n = 0;
    for piece in pieces {
        let mut piece: &[u8] = piece;
        while let Some((_, data)) = d.decode_slice(&mut piece).expect("valid frames") {
            n += data.len();
        }
    }
    d.finish().expect("complete");
    n
}

/// Demuxes `pieces` through the borrowed API, copying every payload into `out`.
fn demux_slice_copy(pieces: &[Bytes], out: &mut [u8]) -> usize {
    let mut d = Demuxer::new();
    let mut at = 0;
    for piece in pieces {
        let mut piece: &[u8] = piece;
        while let Some((_, data)) = d.decode_slice(&mut piece).expect("valid frames") {
            out[at..at + data.len()].copy_from_slice(data);
            at += data.len();
        }
    }
    d.finish().expect("complete");
    at
}

/// Times the four demuxer variants over `pieces` and prints them against `target` GB/s.
fn demux_rows(
    pieces: &[Bytes],
    payload: usize,
    frames: usize,
    dst: &mut [u8],
    target: f64,
    label: &str,
) {
    assert_eq!(demux_count(pieces), payload);
    assert_eq!(demux_slice_count(pieces), payload);
    let variants: [(&str, Duration); 4] = [
        (
            "borrowed (decode_slice), consumer counts bytes",
            best(&time_rounds(ROUNDS, || demux_slice_count(pieces))),
        ),
        (
            "borrowed (decode_slice) + copy every payload out",
            best(&time_rounds(ROUNDS, || demux_slice_copy(pieces, dst))),
        ),
        (
            "owned Bytes (decode), consumer counts bytes",
            best(&time_rounds(ROUNDS, || demux_count(pieces))),
        ),
        (
            "owned Bytes (decode) + copy every payload out",
            best(&time_rounds(ROUNDS, || demux_copy(pieces, dst))),
        ),
    ];
    for (what, d) in variants {
        let g = gb_s(payload, d);
        row(
            &format!(
                "demux {what}, {:.1} ns/frame",
                d.as_nanos() as f64 / frames as f64
            ),
            &fmt_gb(g),
            &format!("target ≥ {target} GB/s{label}: {}", verdict(g >= target)),
        );
    }
}

fn plain_copy(src: &[u8], dst: &mut [u8]) -> usize {
    dst[..src.len()].copy_from_slice(src);
    src.len()
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Progress {
    status: String,
    #[serde(default, rename = "progressDetail")]
    progress_detail: Option<ProgressDetail>,
    #[serde(default)]
    progress: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ProgressDetail {
    #[serde(default)]
    current: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
}

fn fmt_gb(x: f64) -> String {
    format!("{x:.2} GB/s")
}

fn main() {
    heading("demuxer, 256 MiB of payload, mixed frames (64 B / 4 KiB / 32 KiB, equal bytes), 64 KiB pieces");
    let mixed = frames(256 * MIB, &[64, 4096, 32768], 1);
    let wire = Bytes::from(mixed.wire.clone());
    let pieces: Vec<Bytes> = (0..wire.len())
        .step_by(64 * 1024)
        .map(|s| wire.slice(s..(s + 64 * 1024).min(wire.len())))
        .collect();
    let mut dst = vec![1u8; wire.len()];
    let copy = best(&time_rounds(ROUNDS, || plain_copy(&wire, &mut dst)));
    row(
        &format!("plain copy of the same {} MiB (memcpy)", wire.len() / MIB),
        &fmt_gb(gb_s(wire.len(), copy)),
        "(the bound)",
    );
    demux_rows(&pieces, mixed.payload, mixed.spans.len(), &mut dst, 8.0, "");
    drop((pieces, wire, mixed, dst));

    heading("demuxer, 256 MiB of payload in 64-byte frames, one piece per frame");
    let small = frames(256 * MIB, &[64], 2);
    let wire = Bytes::from(small.wire.clone());
    let pieces: Vec<Bytes> = small
        .spans
        .iter()
        .map(|&(s, l)| wire.slice(s..s + l))
        .collect();
    let mut dst = vec![1u8; wire.len()];
    let copy = best(&time_rounds(ROUNDS, || plain_copy(&wire, &mut dst)));
    row(
        &format!("plain copy of the same {} MiB (memcpy)", wire.len() / MIB),
        &fmt_gb(gb_s(wire.len(), copy)),
        "(the bound)",
    );
    demux_rows(
        &pieces,
        small.payload,
        small.spans.len(),
        &mut dst,
        4.3,
        " (10× bollard's 0.43)",
    );
    drop((pieces, wire, small, dst));

    heading("JSON-lines decoder, 64 MiB of image-pull progress lines, 64 KiB pieces");
    let (text, lines) = pull_progress(64 * MIB, 3);
    let text = Bytes::from(text);
    let pieces: Vec<Bytes> = (0..text.len())
        .step_by(64 * 1024)
        .map(|s| text.slice(s..(s + 64 * 1024).min(text.len())))
        .collect();
    let split: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let decode = |pieces: &[Bytes]| {
        let mut d = JsonLines::<Progress>::new("the benchmark stream");
        let mut n = 0;
        for p in pieces {
            d.push(p.clone());
            while let Some(item) = d.next_item().expect("valid lines") {
                std::hint::black_box(&item);
                n += 1;
            }
        }
        n
    };
    assert_eq!(decode(&pieces), lines);
    let ours = best(&time_rounds(ROUNDS, || decode(&pieces)));
    let floor = best(&time_rounds(ROUNDS, || {
        split
            .iter()
            .map(|l| serde_json::from_slice::<Progress>(l).expect("valid"))
            .map(|p| std::hint::black_box(p).status.len())
            .sum::<usize>()
    }));
    let mut dst = vec![1u8; text.len()];
    let copy = best(&time_rounds(ROUNDS, || plain_copy(&text, &mut dst)));
    row(
        &format!("plain copy of the same {} MiB (memcpy)", text.len() / MIB),
        &format!("{:.0} MB/s", mb_s(text.len(), copy)),
        "(the bound)",
    );
    row(
        "serde_json on pre-split lines (parse cost alone)",
        &format!("{:.0} MB/s", mb_s(text.len(), floor)),
        "(the floor of any JSON-lines decoder)",
    );
    row(
        &format!(
            "JsonLines<Progress>, {:.2} M lines/s",
            lines as f64 / ours.as_secs_f64() / 1e6
        ),
        &format!("{:.0} MB/s", mb_s(text.len(), ours)),
        &format!(
            "{:.0}% of the parse-only floor; linear (bollard: quadratic)",
            100.0 * floor.as_secs_f64() / ours.as_secs_f64()
        ),
    );
    // Linearity check: a 4× larger stream should take ~4× as long.
    let quarter = &pieces[..pieces.len() / 4];
    let q = best(&time_rounds(ROUNDS, || decode(quarter)));
    row(
        "time for 64 MiB ÷ time for 16 MiB",
        &format!("{:.2}×", ours.as_secs_f64() / q.as_secs_f64().max(1e-9)),
        "≈ 4 when linear",
    );
}
