//! How a server reaches its Redis: one Redis at a fixed address (plain or
//! TLS), or the master a set of Sentinels names.
//!
//! Every connection the store opens starts from [`Connector::client`]. For
//! one Redis that is always the same client. Through Sentinel it asks the
//! Sentinels which node is the master *now* (redis-rs checks that node
//! answers `ROLE` as a master), so a connection opened after a failover
//! goes to the promoted replica. The store opens a new connection after
//! any error that may have spoilt the old one, a `READONLY` answer
//! included (a demoted master), so following a failover needs nothing
//! more: the old master's connections fail, the next ones go to the new.

use std::time::Duration;

use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{Client, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates};
use tokio::sync::Mutex;

use super::config::{RedisConfig, SentinelTarget, Target, TlsFiles, redact};
use super::error::{Result, StoreError};

/// Small requests and answers, one after another: Nagle's algorithm would
/// only hold them back.
fn tcp() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Makes the clients the store's connections start from.
pub(super) struct Connector {
    how: How,
    timeout: Duration,
    /// For the log: the URL without its password.
    shown: String,
}

enum How {
    Direct(Client),
    Sentinel {
        /// A tokio mutex: the lookup awaits the Sentinels while holding it
        /// (redis-rs keeps one cached connection per Sentinel in it).
        sentinel: Mutex<Sentinel>,
        master: String,
        node: SentinelNodeConnectionInfo,
    },
}

impl Connector {
    /// Checks the URL and reads the TLS files; connects to nothing yet.
    pub(super) fn new(config: &RedisConfig) -> Result<Connector> {
        let target = Target::parse(&config.url).map_err(StoreError::Config)?;
        let shown = redact(&config.url);
        let how = match target {
            Target::Direct { url, tls } => {
                if !tls && !config.tls.is_empty() {
                    return Err(StoreError::Config(format!(
                        "a CA or client certificate was given, but {shown} is not a TLS URL (rediss://)"
                    )));
                }
                let info = url.as_str().into_connection_info()?.set_tcp_settings(tcp());
                How::Direct(if tls {
                    install_crypto();
                    Client::build_with_tls(info, certificates(&config.tls)?)?
                } else {
                    Client::open(info)?
                })
            }
            Target::Sentinel(t) => {
                if !config.tls.is_empty() {
                    return Err(StoreError::Config(
                        "TLS files were given, but TLS through Sentinel is not supported".into(),
                    ));
                }
                sentinel(t)?
            }
        };
        Ok(Connector { how, timeout: config.timeout, shown })
    }

    /// A client for the Redis to use now: the one Redis, or the master the
    /// Sentinels name (asked within the store's timeout).
    pub(super) async fn client(&self) -> Result<Client> {
        match &self.how {
            How::Direct(client) => Ok(client.clone()),
            How::Sentinel { sentinel, master, node } => {
                let lookup = async {
                    let mut s = sentinel.lock().await;
                    s.async_master_for(master, Some(node)).await
                };
                match tokio::time::timeout(self.timeout, lookup).await {
                    Ok(client) => Ok(client?),
                    Err(_) => Err(StoreError::Timeout(self.timeout)),
                }
            }
        }
    }

    /// What the log calls this Redis (no password).
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }
}

fn sentinel(t: SentinelTarget) -> Result<How> {
    let addrs: Vec<String> = t
        .sentinels
        .iter()
        .map(|(host, port)| match host.contains(':') {
            true => format!("redis://[{host}]:{port}"),
            false => format!("redis://{host}:{port}"),
        })
        .collect();
    let mut redis = RedisConnectionInfo::default().set_db(t.db);
    if let Some(user) = &t.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &t.password {
        redis = redis.set_password(password);
    }
    let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(redis).set_tcp_settings(tcp());
    Ok(How::Sentinel { sentinel: Mutex::new(Sentinel::build(addrs)?), master: t.master, node })
}

/// rustls with *ring*, for every TLS connection of the process (the first
/// call installs it; a provider already installed is kept).
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The PEM files read now, so a missing or unreadable one fails the start
/// with its name rather than the first connection with a TLS error.
fn certificates(files: &TlsFiles) -> Result<TlsCertificates> {
    // `holds`: what a PEM block's label must contain ("-----BEGIN <label>").
    let read = |what: &str, path: &std::path::Path, holds: &str| {
        let pem = std::fs::read(path)
            .map_err(|e| StoreError::Config(format!("cannot read the {what} {}: {e}", path.display())))?;
        let text = String::from_utf8_lossy(&pem);
        let found = text
            .match_indices("-----BEGIN ")
            .any(|(i, _)| text[i + 11..].split("-----").next().is_some_and(|label| label.contains(holds)));
        if !found {
            return Err(StoreError::Config(format!(
                "the {what} {} holds no {} (PEM)",
                path.display(),
                holds.to_lowercase()
            )));
        }
        Ok(pem)
    };
    let client_tls = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read("client certificate", cert, "CERTIFICATE")?,
            client_key: read("client key", key, "PRIVATE KEY")?,
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Config(
                "a client certificate needs its key, and a key its certificate".into(),
            ));
        }
    };
    let root_cert = files.ca.as_deref().map(|ca| read("CA file", ca, "CERTIFICATE")).transpose()?;
    Ok(TlsCertificates { client_tls, root_cert })
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, RedisError, ServerErrorKind};

    use super::*;

    fn err(kind: ErrorKind) -> StoreError {
        StoreError::Redis(RedisError::from((kind, "test")))
    }

    /// A demoted master answering READONLY (should its connection survive
    /// the demotion: Redis 7 closes them) sends the next call to a new
    /// connection, which asks the Sentinels again.
    #[test]
    fn readonly_means_a_new_connection() {
        assert!(err(ErrorKind::Server(ServerErrorKind::ReadOnly)).spoils_connection());
        assert!(err(ErrorKind::Io).spoils_connection());
        assert!(!err(ErrorKind::Server(ServerErrorKind::ResponseError)).spoils_connection());
    }

    #[test]
    fn refusals_are_fatal_and_outages_are_not() {
        for kind in [
            ErrorKind::AuthenticationFailed,
            ErrorKind::Server(ServerErrorKind::NoPerm),
            ErrorKind::MasterNameNotFoundBySentinel,
            ErrorKind::InvalidClientConfig,
        ] {
            assert!(err(kind).is_fatal(), "{kind:?}");
        }
        for kind in [ErrorKind::Io, ErrorKind::Server(ServerErrorKind::BusyLoading)] {
            assert!(!err(kind).is_fatal(), "{kind:?}");
        }
        assert!(!StoreError::Timeout(Duration::from_secs(1)).is_fatal());
        assert!(StoreError::Config("bad".into()).is_fatal());
    }

    #[test]
    fn tls_files_are_checked_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let mut config = RedisConfig::new("rediss://127.0.0.1:1");
        config.tls.ca = Some(key.clone());
        let e = Connector::new(&config).err().expect("a key is no CA");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        config.tls = TlsFiles { ca: None, cert: Some(key), key: None };
        let e = Connector::new(&config).err().expect("a certificate needs its key");
        assert!(e.to_string().contains("needs its key"), "{e}");
        let mut plain = RedisConfig::new("redis://127.0.0.1:1");
        plain.tls.ca = Some(dir.path().join("ca.pem"));
        assert!(
            Connector::new(&plain).err().expect("TLS files, plain URL").to_string().contains("not a TLS URL")
        );
    }
}
