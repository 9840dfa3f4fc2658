//! The per-server digest: a cheap summary of one server's records, kept
//! alike in Redis and in every copy, so a difference is seen without
//! comparing the records themselves.
//!
//! A digest is the number of records and the sum of their weights, a weight
//! being a hash of the record's identity (its peer's connection and its
//! RFC) in `1..=2^24`. Sums of weights stay exact in Redis's integers and
//! in Lua's doubles (2^24 × a billion records is under 2^53), and a sum is
//! updated on both sides by adding and taking off, never recomputed. The
//! weight is computed here alone and sent with every ADD, so the scripts
//! need no hash of their own.

use crate::protocol::RfcNumber;

/// What one record adds to its server's digest.
pub(super) fn weight(conn: u64, rfc: RfcNumber) -> i64 {
    // splitmix64's finaliser: any bit of either input moves every bit.
    let mut z = conn.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(rfc.0);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as i64 + 1
}

/// Records and the sum of their weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Digest {
    pub(super) records: i64,
    pub(super) weight: i64,
}

impl Digest {
    pub(super) fn add(&mut self, w: i64) {
        self.records += 1;
        self.weight += w;
    }

    pub(super) fn take(&mut self, other: Digest) {
        self.records -= other.records;
        self.weight -= other.weight;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.records == 0 && self.weight == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_in_range_and_tell_records_apart() {
        let mut seen = std::collections::HashSet::new();
        for conn in 1..200u64 {
            for rfc in 0..50u32 {
                let w = weight(conn, RfcNumber(rfc));
                assert!((1..=1 << 24).contains(&w));
                seen.insert(w);
            }
        }
        // 9,950 records over 16.7M values: almost no two alike.
        assert!(seen.len() > 9_900, "{}", seen.len());
        assert_ne!(weight(1, RfcNumber(2)), weight(2, RfcNumber(1)));
    }

    #[test]
    fn digests_add_and_take_back() {
        let mut d = Digest::default();
        d.add(5);
        d.add(7);
        let mut one = Digest::default();
        one.add(5);
        d.take(one);
        assert_eq!(d, Digest { records: 1, weight: 7 });
        d.take(d);
        assert!(d.is_empty());
    }
}
