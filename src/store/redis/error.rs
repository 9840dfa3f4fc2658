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
    /// A script of this server's was fenced: Redis had applied a later one.
    #[error("a later write of this server is in redis already")]
    Fenced,
    /// Not tried: Redis is known to be away, or being caught up with.
    #[error("redis unavailable")]
    Unavailable,
    /// The store was told something unusable (a URL, a TLS file).
    #[error("{0}")]
    Config(String),
    /// Redis holds an index in a layout this version does not write: servers
    /// of an older version share it.
    #[error("{0}")]
    Layout(String),
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
            // READONLY: this node was a master and is a replica now (a
            // failover); through Sentinel a new connection finds the new one.
            StoreError::Redis(e) => match e.kind() {
                redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly) => true,
                redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => false,
                _ => true,
            },
            StoreError::Timeout(_) => true,
            StoreError::Garbage(_)
            | StoreError::Fenced
            | StoreError::Unavailable
            | StoreError::Config(_)
            | StoreError::Layout(_) => false,
        }
    }

    /// Whether trying again cannot help: Redis refused this server's
    /// credentials or rights (a wrong password, an unknown ACL user, one
    /// without the commands the store needs), its TLS certificate is not
    /// trusted (or it refused ours), Sentinel knows no such master, or the
    /// configuration is unusable. A server meeting one of these at start
    /// exits with it instead of waiting for a Redis that will never do.
    pub fn is_fatal(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                matches!(
                    e.kind(),
                    redis::ErrorKind::AuthenticationFailed
                        | redis::ErrorKind::InvalidClientConfig
                        | redis::ErrorKind::MasterNameNotFoundBySentinel
                        | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
                ) || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
                    || tls_refused(e)
            }
            StoreError::Config(_) | StoreError::Layout(_) => true,
            StoreError::Timeout(_)
            | StoreError::Garbage(_)
            | StoreError::Fenced
            | StoreError::Unavailable => false,
        }
    }
}

/// A TLS handshake that failed over certificates: theirs not trusted (or
/// not for this host name), or ours refused. rustls's error sits inside
/// the I/O error redis-rs reports, which redis-rs keeps in an `Arc` (so
/// the chain shows the `Arc`, not the error in it).
fn tls_refused(e: &redis::RedisError) -> bool {
    use std::error::Error;
    use std::sync::Arc;

    use rustls::AlertDescription as A;
    let mut source: Option<&(dyn Error + 'static)> = e.source();
    while let Some(s) = source {
        let s: &(dyn Error + 'static) = match s.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            Some(inner) => &**inner,
            None => s,
        };
        let tls = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref())
        });
        if let Some(t) = tls {
            return matches!(
                t,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(
                        A::BadCertificate
                            | A::CertificateRequired
                            | A::UnknownCA
                            | A::CertificateUnknown
                            | A::AccessDenied
                    )
            );
        }
        source = s.source();
    }
    false
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
