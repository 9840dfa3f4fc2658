//! What a server is told about its Redis: where it is (one Redis, or a
//! master found through Sentinel), how to trust its TLS certificate, and
//! the timings.
//!
//! Plain data and the strict parsing of `--store`: `src/cli.rs` checks a
//! URL with [`Target::parse`] (a malformed one is a usage error, exit 2),
//! `src/main.rs` fills the config, and the tests set short timings
//! directly. Connecting is `connect.rs`.

use std::path::PathBuf;
use std::time::Duration;

use redis::IntoConnectionInfo;

/// How a server uses Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://…`, `rediss://…` (TLS) or `redis+sentinel://…` (see
    /// [`Target::parse`]).
    pub url: String,
    /// Whom to trust for `rediss://`, and this server's own certificate.
    pub tls: TlsFiles,
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
            tls: TlsFiles::default(),
            lease: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            log_len: 100_000,
            follow_pause: Duration::from_millis(1),
        }
    }
}

/// PEM files for a `rediss://` connection. Without a CA the system's trust
/// store is used (rustls-native-certs: `SSL_CERT_FILE` / `SSL_CERT_DIR`
/// when set, else the distribution's bundle).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificates to trust instead of the system's (one or more).
    pub ca: Option<PathBuf>,
    /// This server's certificate (chain) and key, for a Redis that asks
    /// clients for one (`tls-auth-clients yes`, Redis's default).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }
}

/// Where the Redis is, from `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One Redis: `redis://` or, with TLS, `rediss://` (redis-rs's URL
    /// form: `[USER:PASSWORD@]HOST[:PORT][/DB]`).
    Direct { url: String, tls: bool },
    /// The master Sentinel names, asked again after every connection error.
    Sentinel(SentinelTarget),
}

/// `redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/MASTER_NAME[/DB]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelTarget {
    /// The Sentinels (host, port), asked in this order.
    pub sentinels: Vec<(String, u16)>,
    /// The name the Sentinels monitor the master under.
    pub master: String,
    pub db: i64,
    /// Credentials for the master (and nothing else: the Sentinels are
    /// asked without any).
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SentinelTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelTarget")
            .field("sentinels", &self.sentinels)
            .field("master", &self.master)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The port Sentinel listens on when an address names none.
pub const SENTINEL_PORT: u16 = 26379;

const SENTINEL_SCHEME: &str = "redis+sentinel://";

impl Target {
    /// Parses a store URL strictly: every part that is there must be
    /// well formed, and nothing is ignored. The error says what is wrong
    /// in words an operator can act on (it never repeats a password).
    pub fn parse(url: &str) -> Result<Target, String> {
        if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            return parse_sentinel(rest).map(Target::Sentinel);
        }
        if url.starts_with("rediss+sentinel://") {
            return Err("TLS to Sentinel and its master is not supported: use redis+sentinel:// \
                        or one Redis over rediss://"
                .into());
        }
        let tls = url.starts_with("rediss://");
        if !tls && !url.starts_with("redis://") {
            return Err(format!(
                "{:?} is not a Redis URL (redis://, rediss:// or redis+sentinel://)",
                redact(url)
            ));
        }
        if url.contains(',') {
            return Err("a redis:// URL names one Redis; for several Sentinels use \
                        redis+sentinel://HOST:PORT,HOST:PORT/MASTER_NAME"
                .into());
        }
        // redis-rs's own parser, the one that will connect: it checks the
        // host, port, DB and credentials.
        match url.into_connection_info() {
            Ok(_) => Ok(Target::Direct { url: url.to_owned(), tls }),
            Err(e) => Err(format!("{}: {}", redact(url), e.detail().unwrap_or(&e.to_string()))),
        }
    }
}

fn parse_sentinel(rest: &str) -> Result<SentinelTarget, String> {
    const FORM: &str = "redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER_NAME[/DB]";
    if rest.contains(['?', '#']) {
        return Err(format!("a Sentinel URL takes no query or fragment ({FORM})"));
    }
    let Some((authority, path)) = rest.split_once('/') else {
        return Err(format!("no master name: expected {FORM}"));
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let Some((user, pass)) = u.split_once(':') else {
                return Err(format!("credentials are USER:PASSWORD@ or :PASSWORD@ ({FORM})"));
            };
            let user = percent_decode(user).ok_or("the user name is badly percent-encoded")?;
            let pass = percent_decode(pass).ok_or("the password is badly percent-encoded")?;
            ((!user.is_empty()).then_some(user), (!pass.is_empty()).then_some(pass))
        }
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',') {
        sentinels.push(parse_host_port(host).map_err(|e| format!("{e} ({FORM})"))?);
    }
    let mut segments = path.split('/');
    let master = segments.next().unwrap_or_default();
    if master.is_empty() || master.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!("the master name is empty or has blanks ({FORM})"));
    }
    let db = match segments.next() {
        None => 0,
        Some(db) => match db.parse::<i64>() {
            Ok(n) if n >= 0 && db.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("the DB must be a number, not {db:?} ({FORM})")),
        },
    };
    if segments.next().is_some() {
        return Err(format!("too many path parts after the master name ({FORM})"));
    }
    Ok(SentinelTarget { sentinels, master: master.to_owned(), db, username, password })
}

/// `HOST[:PORT]` or `[V6][:PORT]`, the port Sentinel's when absent.
fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    if s.is_empty() {
        return Err("an empty Sentinel address".into());
    }
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("{p:?} is not a port, in Sentinel address {s:?}")),
    };
    let (host, p) = if let Some(v6) = s.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err(format!("{s:?}: an IPv6 address needs its closing ]"));
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{s:?}: {host:?} is not an IPv6 address"));
        }
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err(format!("{s:?}: expected :PORT after the ]")),
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let ok_host = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !ok_host {
        return Err(format!("{s:?} is not HOST[:PORT]"));
    }
    Ok((host.to_owned(), p.map(port).transpose()?.unwrap_or(SENTINEL_PORT)))
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are
/// not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The URL without its password, for logs and `--print-config`: what is
/// between `://` and the last `@` of the authority (`USER:PASSWORD`)
/// becomes `USER:***` (or `***` when there is no user name).
pub fn redact(url: &str) -> String {
    let Some(s) = url.find("://").map(|s| s + 3) else { return url.to_owned() };
    let end = url[s..].find('/').map_or(url.len(), |e| s + e);
    let Some(at) = url[s..end].rfind('@').map(|a| s + a) else { return url.to_owned() };
    let user = match url[s..at].split_once(':') {
        Some((user, _)) => user,
        None => "",
    };
    let sep = if user.is_empty() { "" } else { ":" };
    format!("{}{user}{sep}***{}", &url[..s], &url[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://app:secret@host:6379/0"), "redis://app:***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("redis://host:6379/0?x=a@b"), "redis://host:6379/0?x=a@b");
        assert_eq!(redact("redis+sentinel://:p@ss@a:1,b:2/m"), "redis+sentinel://***@a:1,b:2/m");
        assert_eq!(redact("rediss://u:p@h"), "rediss://u:***@h");
    }

    fn sentinel(url: &str) -> SentinelTarget {
        match Target::parse(url) {
            Ok(Target::Sentinel(t)) => t,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn sentinel_urls() {
        let t = sentinel("redis+sentinel://127.0.0.1:26380,localhost,[::1]:5/mymaster");
        assert_eq!(
            t.sentinels,
            [("127.0.0.1".into(), 26380), ("localhost".into(), SENTINEL_PORT), ("::1".into(), 5)]
        );
        assert_eq!((t.master.as_str(), t.db, &t.username, &t.password), ("mymaster", 0, &None, &None));
        let t = sentinel("redis+sentinel://app:p%40ss@h:1/m/3");
        assert_eq!((t.db, t.username.as_deref(), t.password.as_deref()), (3, Some("app"), Some("p@ss")));
        let t = sentinel("redis+sentinel://:secret@h/m");
        assert_eq!((t.username.as_deref(), t.password.as_deref()), (None, Some("secret")));
        assert!(!format!("{t:?}").contains("secret"));
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        let bad = [
            ("redis+sentinel://h:1", "no master name"),
            ("redis+sentinel://h:1/", "master name is empty"),
            ("redis+sentinel:///m", "empty Sentinel address"),
            ("redis+sentinel://a,,b/m", "empty Sentinel address"),
            ("redis+sentinel://h:0/m", "not a port"),
            ("redis+sentinel://h:99999/m", "not a port"),
            ("redis+sentinel://h:+1/m", "not a port"),
            ("redis+sentinel://h:x/m", "not a port"),
            ("redis+sentinel://[::1/m", "closing ]"),
            ("redis+sentinel://[zz]:1/m", "not an IPv6"),
            ("redis+sentinel://h h/m", "not HOST[:PORT]"),
            ("redis+sentinel://h/m/x", "DB must be a number"),
            ("redis+sentinel://h/m/-1", "DB must be a number"),
            ("redis+sentinel://h/m/1/2", "too many path parts"),
            ("redis+sentinel://h/m?db=1", "no query"),
            ("redis+sentinel://secret@h/m", "USER:PASSWORD@"),
            ("redis+sentinel://:%zz@h/m", "percent-encoded"),
            ("rediss+sentinel://h/m", "not supported"),
            ("redis://a:1,b:2", "names one Redis"),
            ("redis://:secret@h:notaport", "redis://***@h:notaport"),
            ("postgres://:secret@x", "not a Redis URL"),
        ];
        for (url, want) in bad {
            let e = Target::parse(url).expect_err(url);
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("secret"), "{url}: {e}");
        }
    }

    #[test]
    fn direct_urls() {
        for (url, tls) in [("redis://127.0.0.1:6379/2", false), ("rediss://:pw@h:6380", true)] {
            assert_eq!(Target::parse(url), Ok(Target::Direct { url: url.into(), tls }));
        }
    }
}
