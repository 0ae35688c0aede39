//! Deterministic generators for benchmark inputs: multiplexed frames, chunked HTTP bodies and
//! image-pull progress lines.

use engine_api::stream::demux::encode_frame;

/// A small deterministic pseudo-random generator (xorshift64*), so runs are comparable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Printable log-ish payload of `len` bytes ending in `\n`, varied by `seed`.
pub fn line_payload(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut rng = Rng::new(seed.wrapping_add(0x9e37_79b9));
    while out.len() + 1 < len {
        out.push(b' ' + (rng.next_u64() % 94) as u8);
    }
    if len > 0 {
        out.push(b'\n');
    }
    out
}

/// The frames of a stream, as (stream type, payload length) pairs, plus the wire bytes.
#[derive(Debug, Clone)]
pub struct Frames {
    /// The encoded frames, back to back.
    pub wire: Vec<u8>,
    /// Each frame's (start offset in `wire`, total length including the header).
    pub spans: Vec<(usize, usize)>,
    /// The sum of the payload lengths.
    pub payload: usize,
}

/// Frames whose payloads total at least `total_payload` bytes, with payload sizes drawn from
/// `sizes` so that each size contributes an equal share of the bytes (shuffled), alternating
/// stdout and stderr at random (one frame in eight on stderr).
pub fn frames(total_payload: usize, sizes: &[usize], seed: u64) -> Frames {
    let mut rng = Rng::new(seed);
    // Frame counts so that every size carries the same number of bytes.
    let share = total_payload / sizes.len();
    let mut order: Vec<usize> = Vec::new();
    for (i, &s) in sizes.iter().enumerate() {
        order.extend((0..share.div_ceil(s)).map(|_| i));
    }
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let templates: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| line_payload(s, i as u64))
        .collect();
    let wire_len: usize = order.iter().map(|&i| sizes[i] + 8).sum();
    let mut wire = Vec::with_capacity(wire_len);
    let mut spans = Vec::with_capacity(order.len());
    let mut payload = 0;
    for &i in &order {
        let stream = if rng.next_u64() & 7 == 0 { 2 } else { 1 };
        let start = wire.len();
        encode_frame(stream, &templates[i], &mut wire);
        spans.push((start, wire.len() - start));
        payload += sizes[i];
    }
    Frames {
        wire,
        spans,
        payload,
    }
}

/// The body of `frames` with chunked transfer-encoding, one HTTP chunk per frame (what Docker
/// and Podman send for logs), including the final chunk.
pub fn chunked_one_frame_per_chunk(frames: &Frames) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.wire.len() + frames.spans.len() * 8 + 5);
    for &(start, len) in &frames.spans {
        out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        out.extend_from_slice(&frames.wire[start..start + len]);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// About `total` bytes of image-pull progress lines as Docker writes them (`\r\n`-terminated
/// JSON objects), with the number of lines.
pub fn pull_progress(total: usize, seed: u64) -> (Vec<u8>, usize) {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(total + 512);
    let mut lines = 0;
    let statuses = [
        "Downloading",
        "Extracting",
        "Verifying Checksum",
        "Pull complete",
    ];
    while out.len() < total {
        let id = format!("{:012x}", rng.next_u64() & 0xffff_ffff_ffff);
        let total_bytes = 1_000_000 + rng.next_u64() % 50_000_000;
        let current = rng.next_u64() % total_bytes;
        let status = statuses[(rng.next_u64() % 4) as usize];
        let bar = (current * 50 / total_bytes) as usize;
        let line = if status == "Pull complete" {
            format!(r#"{{"status":"{status}","progressDetail":{{}},"id":"{id}"}}"#)
        } else {
            format!(
                r#"{{"status":"{status}","progressDetail":{{"current":{current},"total":{total_bytes}}},"progress":"[{}>{}] {:.1}MB/{:.1}MB","id":"{id}"}}"#,
                "=".repeat(bar),
                " ".repeat(50 - bar),
                current as f64 / 1e6,
                total_bytes as f64 / 1e6
            )
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        lines += 1;
    }
    (out, lines)
}
