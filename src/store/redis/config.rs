//! What a server is told about its Redis: the URL and the timings.
//!
//! Plain data: `src/main.rs` fills it from the command line, and the
//! tests set short timings directly.

use std::time::Duration;

/// How a server uses Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// A server that stops renewing its lease for this long is dead, and
    /// its peers' records are removed by the others.
    pub lease: Duration,
    /// One Redis command (or script) must be answered within this time.
    pub timeout: Duration,
    /// Entries the change log keeps (roughly); a server further behind
    /// rebuilds its copy from a snapshot.
    pub log_len: u64,
    /// After reading news from the log, the follower waits this long before
    /// it asks again, so that entries arriving meanwhile come in one read:
    /// far fewer reads and wake-ups (on the thread that also answers peers)
    /// under load, for about this much more staleness (docs/store.md has
    /// both measured). Zero: read again at once.
    pub follow_pause: Duration,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            lease: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            log_len: 100_000,
            follow_pause: Duration::from_millis(1),
        }
    }
}

/// The URL without a password, for the log.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
