//! Waits between attempts to reach something that is away: one copy for
//! the peer's reconnections and the Redis store's.
//!
//! Doubling from a minimum to a cap, with jitter, so that clients that lost
//! the same server in the same instant do not all come back in the same
//! instant.

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// Delays before the next attempt: doubling from `min` to `max`, with
/// jitter (±20 %, never below `min` nor above `max`).
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A cap below the minimum wins.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.min(max);
        Backoff { min, max, next: min }
    }

    /// The delay before the next attempt; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        // Any source of variety will do here.
        let r = std::hash::RandomState::new().hash_one(Instant::now());
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.8 + 0.4 * unit).clamp(self.min, self.max)
    }

    /// After a success: the next delay is the minimum again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(5));
        let mut b = Backoff::new(min, max);
        let bounds = [(1.0, 1.2), (1.6, 2.4), (3.2, 4.8), (4.0, 5.0), (4.0, 5.0)];
        for (lo, hi) in bounds {
            let d = b.next_delay().as_secs_f64();
            assert!(d >= lo - 1e-9 && d <= hi + 1e-9, "{d} not in [{lo}, {hi}]");
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(1201));
        // Never below the minimum: at most one reconnection per minimum.
        for _ in 0..1000 {
            b.reset();
            assert!(b.next_delay() >= min);
        }
        // A cap below the minimum wins.
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_millis(200));
        assert_eq!(b.next_delay(), Duration::from_millis(200));
    }

    #[test]
    fn jitter_spreads() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            seen.insert(
                Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).next_delay().as_nanos() / 1000,
            );
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            b.next_delay();
            seen.insert(b.next_delay().as_nanos() / 1000);
        }
        assert!(seen.len() > 10, "{seen:?}");
    }

    #[test]
    fn the_stores_delays_stay_within_bounds() {
        // The Redis store's reconnection: 100 ms doubling to 2 s.
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut b = Backoff::new(min, max);
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(d >= min && d <= max, "{d:?}");
            last = d;
        }
        assert!(last >= max.mul_f64(0.8), "{last:?}");
    }
}
