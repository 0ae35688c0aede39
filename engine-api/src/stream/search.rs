//! Byte search used by the line-oriented decoders.
//!
//! The line framer and the JSON-lines decoder look for `\n` in every byte they receive, once.
//! A byte-at-a-time loop is the slowest part of them on long lines, so this looks at eight bytes
//! per step with the usual "has a zero byte" word trick (no `unsafe`, no dependency).

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The index of the first `needle` byte in `hay`.
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let w = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]) ^ pattern;
        // A byte of `w` is zero where `hay` holds the needle. The lowest flagged byte is always a
        // true match (false positives only appear above a true zero byte), and little-endian
        // order makes the lowest byte the first one in memory.
        let found = w.wrapping_sub(LO) & !w & HI;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| base + i)
}

#[inline]
fn load(hay: &[u8], at: usize) -> u64 {
    let w = &hay[at..at + 8];
    u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

/// Flags (high bit of each byte) the bytes of `w` that are zero; the flags may include false
/// positives above a true zero byte, never false negatives.
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// Whether `needle` occurs in `hay`: a pre-filter on lines, so it must cost little on lines
/// without it. Candidates are positions where the needle's first *two* bytes both match
/// (eight positions tested per step), each then verified.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let (a, b) = match needle {
        [] => return true,
        [a] => return find_byte(*a, hay).is_some(),
        [a, b, ..] => (*a, *b),
    };
    let Some(last) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let (ra, rb) = (LO.wrapping_mul(u64::from(a)), LO.wrapping_mul(u64::from(b)));
    let mut i = 0;
    while i + 9 <= hay.len() && i <= last {
        let mut m = zero_bytes(load(hay, i) ^ ra) & zero_bytes(load(hay, i + 1) ^ rb);
        while m != 0 {
            let at = i + (m.trailing_zeros() / 8) as usize;
            if at <= last && hay[at..].starts_with(needle) {
                return true;
            }
            m &= m - 1;
        }
        i += 8;
    }
    (i..=last).any(|at| hay[at..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_match_at_every_position_and_alignment() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b'\n';
                if at + 3 < len {
                    hay[at + 3] = b'\n';
                }
                assert_eq!(find_byte(b'\n', &hay), Some(at), "len {len} at {at}");
                assert_eq!(find_byte(b'\n', &hay[at + 1..]).map(|i| i + at + 1), {
                    if at + 3 < len {
                        Some(at + 3)
                    } else {
                        None
                    }
                });
            }
            assert_eq!(find_byte(b'\n', &vec![b'x'; len]), None);
        }
    }

    #[test]
    fn high_bytes_are_not_false_matches() {
        let hay = [0x8a, 0x0b, 0x09, 0xff, 0x80, 0x0a ^ 0x80, 0x01, 0x00, 0x0a];
        assert_eq!(find_byte(b'\n', &hay), Some(8));
    }

    #[test]
    fn substring_search_agrees_with_a_naive_one() {
        let mut rng = 0x1234_5678_u64;
        for len in 0..70 {
            for _ in 0..50 {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        b"\"erxo"[(rng % 5) as usize]
                    })
                    .collect();
                for needle in [&b"\"error"[..], b"\"e", b"er", b"x", b""] {
                    let naive = needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle);
                    assert_eq!(contains(&hay, needle), naive, "{hay:?} {needle:?}");
                }
            }
        }
    }

    #[test]
    fn substring_search() {
        assert!(contains(br#"{"errorDetail":{}}"#, b"\"error"));
        assert!(!contains(br#"{"status":"err"}"#, b"\"error"));
        assert!(contains(b"aaab", b"ab"));
        assert!(!contains(b"", b"a"));
    }
}
