//! Reading bytes a word at a time ("SIMD within a register"), for the
//! checks a request's every byte goes through: finding line ends, telling
//! ASCII from the rest, finding blanks. Requests are lines of tens of bytes,
//! too short for a general-purpose SIMD search to pay off its setup, and
//! long enough that a branch per byte shows.

pub(super) const LANES: usize = 8;
pub(super) const HIGH: u64 = u64::from_ne_bytes([0x80; LANES]);
const LOW7: u64 = u64::from_ne_bytes([0x7f; LANES]);

/// `b` in every byte.
#[inline(always)]
pub(super) const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; LANES])
}

/// Eight bytes as a word, the first byte lowest.
#[inline(always)]
pub(super) fn word(bytes: &[u8]) -> u64 {
    let mut lanes = [0u8; LANES];
    lanes.copy_from_slice(&bytes[..LANES]);
    u64::from_le_bytes(lanes)
}

/// 0x80 in each byte of `x` that is zero, and in no other (exact, so the
/// lowest one is a position; the shorter classic test is only a yes/no).
#[inline(always)]
pub(super) fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// 0x80 in the bytes of `w` that are below `n` (n <= 0x80). The lowest
/// flag is exact; flags above it may be false (a borrow), so a caller checks
/// each flagged byte, or takes a flag to mean "look closer".
#[inline(always)]
pub(super) fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(splat(n)) & !w & HIGH
}

/// [`below`], and every byte that is not ASCII.
#[inline(always)]
pub(super) fn below_or_high(w: u64, n: u8) -> u64 {
    below(w, n) | (w & HIGH)
}

/// True when every byte of `bytes` is printable ASCII other than space
/// (0x21..=0x7E or DEL): then it holds no whitespace of any kind.
#[inline]
pub(super) fn is_graphic_ascii(bytes: &[u8]) -> bool {
    let mut flags = 0u64;
    let mut chunks = bytes.chunks_exact(LANES);
    for chunk in &mut chunks {
        flags |= below_or_high(word(chunk), 0x21);
    }
    flags == 0 && chunks.remainder().iter().all(|&b| (0x21..0x80).contains(&b))
}

/// 0x80 in each byte of `w` that is a control character (a C0 control
/// other than tab, or DEL), and in no other: exact, so the lowest is a
/// position.
#[inline(always)]
pub(super) fn control_bytes(w: u64) -> u64 {
    let c0 = zero_bytes(w & splat(0xe0));
    (c0 & !zero_bytes(w ^ splat(b'\t'))) | zero_bytes(w ^ splat(0x7f))
}

/// Bit masks of the LF bytes, the control bytes ([`control_bytes`]: CR
/// among them) and the non-ASCII bytes among the first sixteen of `chunk`
/// (bit i for byte i).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn sse2_classify(chunk: &[u8]) -> (u32, u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    assert!(chunk.len() >= 16);
    // SAFETY: SSE2 is part of the x86-64 baseline, and the load reads
    // sixteen bytes that the assert just proved are in `chunk` (an
    // unaligned load, which `loadu` allows).
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let lf = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u32;
        // Unsigned v <= 0x1f: max(v, 0x1f) is 0x1f.
        let c0 = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
        let tab = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\t' as i8));
        let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
        let control = _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(tab, c0), del)) as u32;
        (lf, control, _mm_movemask_epi8(v) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_bytes_is_exact() {
        for i in 0..LANES {
            for fill in [0x01u8, 0x7f, 0x80, 0xff] {
                let mut lanes = [fill; LANES];
                lanes[i] = 0;
                assert_eq!(zero_bytes(u64::from_le_bytes(lanes)), 0x80 << (8 * i), "{i} {fill:#x}");
            }
        }
        assert_eq!(zero_bytes(splat(1)), 0);
        assert_eq!(zero_bytes(0), HIGH);
    }

    #[test]
    fn below_flags_the_lowest_exactly_and_misses_none() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for chunk in bytes.windows(LANES) {
            let flags = below(word(chunk), b'!');
            for (i, &b) in chunk.iter().enumerate() {
                if b < b'!' {
                    assert_ne!(flags & (0x80 << (8 * i)), 0, "{chunk:?} {i}");
                }
            }
            if let Some(first) = chunk.iter().position(|&b| b < b'!') {
                assert_eq!(flags.trailing_zeros() as usize / 8, first, "{chunk:?}");
            } else {
                assert_eq!(flags, 0, "{chunk:?}");
            }
        }
    }

    #[test]
    fn control_bytes_is_exact() {
        for i in 0..LANES {
            for b in 0..=255u8 {
                for fill in [b'a', 0x00, 0x09, 0x7f, 0xff] {
                    let mut lanes = [fill; LANES];
                    lanes[i] = b;
                    let want: u64 = lanes
                        .iter()
                        .enumerate()
                        .filter(|&(_, &x)| (x < 0x20 && x != b'\t') || x == 0x7f)
                        .map(|(j, _)| 0x80 << (8 * j))
                        .sum();
                    assert_eq!(control_bytes(u64::from_le_bytes(lanes)), want, "{lanes:?}");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_classify_agrees_with_a_byte_loop() {
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut chunk = [b'a'; 16];
                chunk[at] = b;
                let (lf, control, high) = sse2_classify(&chunk);
                let bit = |yes: bool| if yes { 1u32 << at } else { 0 };
                assert_eq!(lf, bit(b == b'\n'), "{b:#x}");
                assert_eq!(control, bit((b < 0x20 && b != b'\t') || b == 0x7f), "{b:#x}");
                assert_eq!(high, bit(b >= 0x80), "{b:#x}");
            }
        }
    }

    #[test]
    fn graphic_ascii() {
        for len in 0..40 {
            let good = vec![b'a'; len];
            assert!(is_graphic_ascii(&good));
            for at in 0..len {
                for bad in [b' ', b'\t', 0x0b, 0x0c, 0x00, 0x20, 0x80, 0xff] {
                    let mut v = good.clone();
                    v[at] = bad;
                    assert!(!is_graphic_ascii(&v), "{len} {at} {bad:#x}");
                }
            }
        }
        assert!(is_graphic_ascii(b"!~thishost.example.org:[::1]"));
    }
}
