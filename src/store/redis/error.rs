//! Why a call to Redis failed, and whether the connection survived it.
//!
//! Every Redis call in this store ends in a [`StoreError`]; the caller logs
//! it with what it was doing and falls back on the local copy. The message
//! is one log line whatever the other end sent.

use std::time::Duration;

/// Why talking to Redis failed; logged with what the server was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not marked as the source: redis-rs repeats its message in its own
    /// source chain, and the text may hold whatever the other end sent.
    #[error("redis: {}", one_line(&.0.to_string()))]
    Redis(redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from redis: {0}")]
    Garbage(String),
    /// Not tried: Redis is known to be away, or being caught up with.
    #[error("redis unavailable")]
    Unavailable,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Redis(e)
    }
}

impl StoreError {
    /// Whether the connection that saw this error may be unusable from now
    /// on. redis-rs's `ConnectionManager` reconnects by itself after I/O
    /// errors only: a connection whose handshake met junk keeps failing, and
    /// one to a peer that stopped answering stays open (a half-open TCP
    /// connection would stay until the kernel gives up, minutes later). An
    /// error reply from Redis itself leaves the connection fine.
    pub(super) fn spoils_connection(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                !matches!(e.kind(), redis::ErrorKind::Server(_) | redis::ErrorKind::Extension)
            }
            StoreError::Timeout(_) => true,
            StoreError::Garbage(_) | StoreError::Unavailable => false,
        }
    }
}

/// Text from the other end, made fit for one log line: control characters
/// escaped, at most about 200 characters.
fn one_line(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) type Result<T, E = StoreError> = std::result::Result<T, E>;
