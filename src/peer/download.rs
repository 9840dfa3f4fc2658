//! Downloads: one task per RFC, trying its holders in turn.
//!
//! Each attempt is a short-lived connection: one GET, the head, then exactly
//! Content-Length bytes into a temporary file in the peer's folder, renamed
//! into place only when complete (PROTOCOL.md, Peer to peer). The temporary
//! file deletes itself when dropped, so a failed, cut or cancelled transfer
//! (an aborted task drops its future) leaves nothing behind.
//!
//! Every GET asks for the file's SHA-256 (PROTOCOL.md, Extension: content
//! digest). An uploader that sends one has the body hashed as it arrives and
//! checked before the rename, so a lying or corrupt holder fails like a cut
//! transfer and the next one is tried; an uploader that does not know the
//! extension is checked by Content-Length alone, as before. Failures are
//! [`DownloadError`]s: front ends and tests match the variant, users read
//! its message.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use sha2::Digest as _;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::events::Lossy;
use super::library::{self, LocalRfc};
use super::{DownloadEvent, DownloadId, Holder, Link, NetEvent, WireMessage};
use crate::protocol::{
    GetRequest, GetResponseHead, LimitError, Limits, ResponseError, RfcNumber, Sha256Digest, Status,
    parse_head,
};

/// The default for [`DownloadConfig::max_size`]: 256 MiB, far above any RFC.
pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;

/// The default for [`DownloadConfig::min_rate`]: 1 KiB/s, an RFC of 100 KiB
/// in under two minutes from the slowest holder we keep.
pub const DEFAULT_MIN_RATE: u64 = 1024;

/// The default for [`DownloadConfig::rate_window`].
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(10);

/// What every download of one peer shares.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    /// Where files land.
    pub dir: PathBuf,
    /// This peer's hostname, sent as `Host`.
    pub host: String,
    /// Sent as `OS`.
    pub os: String,
    pub limits: Limits,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes (head or body) before giving up.
    pub idle_timeout: Duration,
    /// Largest file accepted; a bigger Content-Length is refused before a
    /// byte is written, so a hostile uploader cannot fill the disk.
    pub max_size: u64,
    /// Longest wait for the system resolver.
    pub resolve_timeout: Duration,
    /// Slowest a holder may send, in bytes a second, averaged over each
    /// [`rate_window`](Self::rate_window) from the connection on (head and
    /// body): a holder that trickles (a byte a second is never silent, so
    /// the idle timeout never fires) fails, and the next one is tried. 0
    /// turns the check off.
    pub min_rate: u64,
    /// The span the rate is averaged over.
    pub rate_window: Duration,
    /// Ask uploaders for the file's SHA-256 and check it before keeping the
    /// file (PROTOCOL.md, Extension: content digest). Uploaders that do not
    /// know the extension answer as before, and their files are kept
    /// unchecked.
    pub want_digest: bool,
    /// Holders' names looked up lately, and what they gave: a made-up demo
    /// name (`hostA`) can cost a resolver timeout, which we pay once, not
    /// per GET. Bounded ([`NameCache`]).
    names: Arc<Mutex<NameCache>>,
    /// Counts log events dropped because the front end was behind, across
    /// all downloads.
    lossy: Lossy,
}

/// How long a name's lookup is remembered (an address, or that it did not
/// resolve and goes straight to the loopback).
const NAME_TTL: Duration = Duration::from_secs(60);

/// Most names remembered: a hostile index can name any number of holders,
/// so the cache must not grow with them.
const NAME_CACHE_CAP: usize = 1024;

/// Lookups of holders' names: host → (the address it gave, or `None` when
/// it did not resolve; when). Every operation is O(1) but an insert into a
/// full cache, which first drops what has expired and then, if that freed
/// nothing, the oldest entry: O(cap), at most once per lookup made.
#[derive(Debug, Default)]
pub struct NameCache {
    entries: HashMap<String, (Option<IpAddr>, Instant)>,
}

impl NameCache {
    /// What `host` gave within the TTL; `None` when it must be looked up.
    pub fn get(&self, host: &str, now: Instant) -> Option<Option<IpAddr>> {
        match self.entries.get(host) {
            Some((ip, at)) if now.duration_since(*at) < NAME_TTL => Some(*ip),
            _ => None,
        }
    }

    pub fn put(&mut self, host: &str, ip: Option<IpAddr>, now: Instant) {
        if self.entries.len() >= NAME_CACHE_CAP && !self.entries.contains_key(host) {
            self.entries.retain(|_, (_, at)| now.duration_since(*at) < NAME_TTL);
            if self.entries.len() >= NAME_CACHE_CAP
                && let Some(oldest) =
                    self.entries.iter().min_by_key(|(_, (_, at))| *at).map(|(h, _)| h.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(host.to_owned(), (ip, now));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl DownloadConfig {
    pub fn new(dir: PathBuf, host: String, os: String) -> Self {
        DownloadConfig {
            dir,
            host,
            os,
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_size: DEFAULT_MAX_SIZE,
            resolve_timeout: Duration::from_secs(2),
            min_rate: DEFAULT_MIN_RATE,
            rate_window: DEFAULT_RATE_WINDOW,
            want_digest: true,
            names: Arc::default(),
            lossy: Lossy::new(None, "downloads"),
        }
    }
}

/// Why one holder could not deliver a file (or, as [`DownloadError::AllFailed`],
/// why a download failed). The messages are what a user reads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DownloadError {
    #[error("no other peer holds it")]
    NoHolder,
    /// Its holders could not be looked up (and none was chosen).
    #[error("cannot look up its holders: {0}")]
    Lookup(super::IndexError),
    #[error("cannot connect to {addr}: {cause}")]
    Connect { addr: SocketAddr, cause: IoCause },
    #[error("no answer from {addr} within {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    #[error("sending GET: {0}")]
    Send(IoCause),
    /// The answer's head broke a size limit.
    #[error("bad answer: {0}")]
    HeadTooLarge(#[from] LimitError),
    /// The answer's head could not be understood.
    #[error("bad answer: {0}")]
    BadAnswer(#[from] ResponseError),
    #[error("connection closed before the answer was complete")]
    ClosedBeforeAnswer,
    /// The uploader answered with an error status (404: it no longer has it).
    #[error("answered {0}")]
    Refused(Status),
    #[error("announced {}, above the {} limit", Size(*announced), Size(*limit))]
    TooLarge { announced: u64, limit: u64 },
    #[error("connection broke: {0}")]
    Broken(IoCause),
    #[error("nothing received for {0:?}")]
    Stalled(Duration),
    /// Bytes kept coming, but slower than the minimum rate.
    #[error(
        "too slow: {} in the last {window:?}, below the minimum of {}/s",
        Size(*received),
        Size(*min_rate)
    )]
    TooSlow { received: u64, window: Duration, min_rate: u64 },
    #[error("connection closed after {} of {}", Size(*received), Size(*total))]
    Cut { received: u64, total: u64 },
    /// The uploader announced an empty file (Content-Length: 0): nothing
    /// worth keeping or sharing, so the next holder is tried.
    #[error("announced an empty file")]
    Empty,
    #[error("sent more than the {} announced", Size(*total))]
    TooLong { total: u64 },
    /// The file does not hash to the `Repr-Digest` the uploader sent.
    #[error("content digest mismatch: announced sha-256={announced}, received sha-256={received}")]
    DigestMismatch { announced: Sha256Digest, received: Sha256Digest },
    /// This peer's own folder could not take the file.
    #[error("cannot write in {}: {cause}", dir.display())]
    Write { dir: PathBuf, cause: IoCause },
    /// Every holder failed; the last one's reason.
    #[error("{}{last}: {error}", if *tried > 1 { format!("all {tried} holders failed; the last, ") } else { String::new() })]
    AllFailed { tried: usize, last: Holder, error: Box<DownloadError> },
}

/// An I/O error as a value that can be cloned and compared (an
/// [`io::Error`] can be neither): its kind, to match on, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoCause {
    pub kind: io::ErrorKind,
    message: String,
}

impl From<io::Error> for IoCause {
    fn from(e: io::Error) -> Self {
        IoCause { kind: e.kind(), message: e.to_string() }
    }
}

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub use crate::human::Size;

/// One download's reports. Steps (started, failed, done) are awaited: a
/// front end must see each, and there are few. Raw messages and progress
/// never wait ([`Lossy`]), so a slow screen cannot slow a transfer.
struct Reporter<'a> {
    id: DownloadId,
    events: &'a mpsc::Sender<NetEvent>,
    lossy: Lossy,
}

impl Reporter<'_> {
    async fn download(&self, event: DownloadEvent) {
        let _ = self.events.send(NetEvent::Download { id: self.id, event }).await;
    }
    fn progress(&self, received: u64, total: u64) {
        let id = self.id;
        self.lossy
            .emit_latest(|| NetEvent::Download { id, event: DownloadEvent::Progress { received, total } });
    }
    fn notice(&self, text: String) {
        self.lossy.emit(|| NetEvent::Notice(text));
    }
    fn wire(&self, direction: super::Direction, from: &Holder, bytes: &[u8]) {
        self.lossy.emit(|| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            NetEvent::Wire(WireMessage {
                at: SystemTime::now(),
                direction,
                link: Link::Download(from.clone()),
                request: None,
                text,
            })
        });
    }
}

/// Downloads `rfc` from the first holder that delivers it whole. Reports
/// every step; returns the file as now held, or `None` if all failed.
pub async fn run(
    id: DownloadId,
    rfc: RfcNumber,
    holders: Vec<Holder>,
    config: &DownloadConfig,
    events: &mpsc::Sender<NetEvent>,
) -> Option<LocalRfc> {
    let report = Reporter { id, events, lossy: config.lossy.with_sender(events.clone()) };
    let begun = Instant::now();
    let mut last = None;
    for (i, from) in holders.iter().enumerate() {
        report.download(DownloadEvent::Started { rfc, from: from.clone() }).await;
        let started = Instant::now();
        match fetch(rfc, from, config, &report).await {
            Ok(local) => {
                crate::metrics::peer().download_done(local.size, begun.elapsed());
                let ev = DownloadEvent::Done {
                    rfc,
                    from: from.clone(),
                    path: local.path.clone(),
                    bytes: local.size,
                    elapsed: started.elapsed(),
                };
                report.download(ev).await;
                return Some(local);
            }
            Err(reason) => {
                crate::metrics::peer().holder_failed();
                let retrying = i + 1 < holders.len();
                let ev = DownloadEvent::HolderFailed { from: from.clone(), reason: reason.clone(), retrying };
                report.download(ev).await;
                last = Some((from.clone(), reason));
            }
        }
    }
    let reason = match last {
        Some((last, error)) => {
            DownloadError::AllFailed { tried: holders.len(), last, error: Box::new(error) }
        }
        None => DownloadError::NoHolder,
    };
    crate::metrics::peer().download_failed(begun.elapsed());
    report.download(DownloadEvent::Failed { rfc, reason }).await;
    None
}

/// Resolves a holder's hostname, here in the download's task (never on the
/// engine's or the upload server's path), bounded by the resolve timeout and
/// cached ([`NameCache`]). A name the resolver does not know falls back to
/// the loopback address (PROTOCOL.md, Hostnames), which is said.
async fn resolve(from: &Holder, config: &DownloadConfig, report: &Reporter<'_>) -> SocketAddr {
    let cached = config.names.lock().unwrap_or_else(|p| p.into_inner()).get(&from.host, Instant::now());
    let ip = match cached {
        Some(ip) => ip,
        None => {
            let lookup = tokio::net::lookup_host((from.host.as_str(), from.port));
            let ip = match tokio::time::timeout(config.resolve_timeout, lookup).await {
                Ok(Ok(mut addrs)) => addrs.next().map(|a| a.ip()),
                _ => None,
            };
            config.names.lock().unwrap_or_else(|p| p.into_inner()).put(&from.host, ip, Instant::now());
            ip
        }
    };
    if let Some(ip) = ip {
        return SocketAddr::new(ip, from.port);
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, from.port));
    report.notice(format!("{} does not resolve; trying {addr}", from.host));
    addr
}

async fn fetch(
    rfc: RfcNumber,
    from: &Holder,
    config: &DownloadConfig,
    report: &Reporter<'_>,
) -> Result<LocalRfc, DownloadError> {
    let addr = resolve(from, config, report).await;
    let stream = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(DownloadError::Connect { addr, cause: e.into() }),
        Err(_) => return Err(DownloadError::ConnectTimeout { addr, after: config.connect_timeout }),
    };
    let _ = stream.set_nodelay(true);
    let mut stream = Paced::new(stream, config);
    let mut out = Vec::new();
    let request = GetRequest {
        rfc,
        host: config.host.clone(),
        os: Some(config.os.clone()),
        want_digest: config.want_digest,
    };
    request.encode(&mut out);
    report.wire(super::Direction::Sent, from, &out);
    stream.stream.write_all(&out).await.map_err(|e| DownloadError::Send(e.into()))?;
    report.download(DownloadEvent::Waiting { from: from.clone(), announced: None }).await;

    let mut buf = BytesMut::with_capacity(16 * 1024);
    let head = loop {
        if let Some((head, used)) = parse_head(&buf, &config.limits)? {
            let parsed = GetResponseHead::from_head(&head);
            report.wire(super::Direction::Received, from, &buf[..used]);
            let _ = buf.split_to(used);
            break parsed?;
        }
        if stream.read(&mut buf).await? == 0 {
            return Err(DownloadError::ClosedBeforeAnswer);
        }
    };
    if head.status != Status::Ok {
        return Err(DownloadError::Refused(head.status));
    }
    let total = head.content_length.unwrap_or(0);
    if total > config.max_size {
        return Err(DownloadError::TooLarge { announced: total, limit: config.max_size });
    }
    if total == 0 {
        return Err(DownloadError::Empty);
    }
    report.download(DownloadEvent::Waiting { from: from.clone(), announced: Some(total) }).await;
    let body = Body { rfc, total, digest: head.repr_digest };
    receive_body(body, buf, &mut stream, config, report).await
}

/// The connection to a holder, with its two bounds on reads: no read waits
/// longer than the idle timeout, and every rate window (from the connection
/// on) must bring at least the minimum rate's worth of bytes.
struct Paced {
    stream: TcpStream,
    idle: Duration,
    min_rate: u64,
    window: Duration,
    /// Where the current window began, and how many bytes had come by then.
    window_start: Instant,
    at_window_start: u64,
    /// Bytes received on the connection so far.
    received: u64,
}

impl Paced {
    fn new(stream: TcpStream, config: &DownloadConfig) -> Paced {
        Paced {
            stream,
            idle: config.idle_timeout,
            min_rate: config.min_rate,
            window: config.rate_window,
            window_start: Instant::now(),
            at_window_start: 0,
            received: 0,
        }
    }

    /// When the current window ends, if the rate is checked.
    fn window_end(&self) -> Option<Instant> {
        (self.min_rate > 0).then(|| self.window_start + self.window)
    }

    /// At a window's end: fails if it brought too few bytes, else starts
    /// the next one. The rate is over the time that really passed.
    fn check_rate(&mut self, now: Instant) -> Result<(), DownloadError> {
        let Some(end) = self.window_end() else { return Ok(()) };
        if now < end {
            return Ok(());
        }
        let got = self.received - self.at_window_start;
        let needed = self.min_rate as f64 * now.duration_since(self.window_start).as_secs_f64();
        if (got as f64) < needed {
            return Err(DownloadError::TooSlow {
                received: got,
                window: self.window,
                min_rate: self.min_rate,
            });
        }
        self.window_start = now;
        self.at_window_start = self.received;
        Ok(())
    }

    /// Reads what there is into `buf`; 0 at the end of the stream.
    async fn read(&mut self, buf: &mut BytesMut) -> Result<usize, DownloadError> {
        let idle_until = Instant::now() + self.idle;
        loop {
            let until = self.window_end().map_or(idle_until, |end| end.min(idle_until));
            let read = tokio::time::timeout_at(until.into(), self.stream.read_buf(buf)).await;
            let now = Instant::now();
            match read {
                Ok(Ok(n)) => {
                    self.received += n as u64;
                    if n > 0 {
                        self.check_rate(now)?;
                    }
                    return Ok(n);
                }
                Ok(Err(e)) => return Err(DownloadError::Broken(e.into())),
                Err(_) if now >= idle_until => return Err(DownloadError::Stalled(self.idle)),
                // The window ended with the read still waiting: `read_buf`
                // is cancel-safe, so nothing was lost; it is asked again.
                Err(_) => self.check_rate(now)?,
            }
        }
    }
}

/// What the head announced about the body.
struct Body {
    rfc: RfcNumber,
    /// Content-Length.
    total: u64,
    /// Repr-Digest, when the uploader sent one.
    digest: Option<Sha256Digest>,
}

/// Receives exactly `total` body bytes (some may already be in `buf`) into a
/// temporary file, checks the digest if one was announced, then renames the
/// file to `rfc<N>.txt`.
async fn receive_body(
    body: Body,
    mut buf: BytesMut,
    stream: &mut Paced,
    config: &DownloadConfig,
    report: &Reporter<'_>,
) -> Result<LocalRfc, DownloadError> {
    let Body { rfc, total, digest } = body;
    let dir = &config.dir;
    let write_error = |e: io::Error| DownloadError::Write { dir: dir.clone(), cause: e.into() };
    let target = dir.join(rfc.file_name());
    let tmp = temp_file(dir, rfc).map_err(write_error)?;
    let std_file = tmp.as_file().try_clone().map_err(write_error)?;
    let mut file = tokio::fs::File::from_std(std_file);
    // Hashed as it arrives, so checking costs no second pass over the file.
    let mut hasher = digest.map(|_| sha2::Sha256::new());
    let mut received: u64 = 0;
    let mut last_report = Instant::now();
    report.progress(received, total);
    loop {
        if !buf.is_empty() {
            if received + buf.len() as u64 > total {
                return Err(DownloadError::TooLong { total });
            }
            file.write_all(&buf).await.map_err(write_error)?;
            if let Some(h) = hasher.as_mut() {
                h.update(&buf);
            }
            let first = received == 0;
            received += buf.len() as u64;
            buf.clear();
            // The first bytes are reported at once: they end the wait.
            if first || last_report.elapsed() >= Duration::from_millis(100) || received == total {
                last_report = Instant::now();
                report.progress(received, total);
            }
        }
        if received == total {
            break;
        }
        if stream.read(&mut buf).await? == 0 {
            return Err(DownloadError::Cut { received, total });
        }
    }
    // The uploader closes after the last byte; anything more is not the file.
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), stream.stream.read_buf(&mut buf)).await
        && n > 0
    {
        return Err(DownloadError::TooLong { total });
    }
    if let (Some(announced), Some(h)) = (digest, hasher) {
        let got = Sha256Digest(h.finalize().into());
        if got != announced {
            return Err(DownloadError::DigestMismatch { announced, received: got });
        }
    }
    file.flush().await.map_err(write_error)?;
    file.sync_data().await.map_err(write_error)?;
    drop(file);
    let persisted = tokio::task::spawn_blocking(move || {
        tmp.persist(&target).map_err(|e| e.error)?;
        library::load(rfc, &target).map_err(io::Error::other)
    })
    .await
    .map_err(io::Error::other)
    .and_then(|r| r);
    persisted.map_err(write_error)
}

fn temp_file(dir: &Path, rfc: RfcNumber) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".rfc{rfc}.");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".part");
    // Shared files are readable by all, like the ones copied in at start.
    b.permissions(std::fs::Permissions::from_mode(0o644));
    b.tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_cache_remembers_for_a_while_and_stays_bounded() {
        let mut c = NameCache::default();
        let t0 = Instant::now();
        let ip: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
        c.put("a", Some(ip), t0);
        c.put("bad", None, t0);
        assert_eq!(c.get("a", t0), Some(Some(ip)));
        assert_eq!(c.get("bad", t0), Some(None));
        assert_eq!(c.get("new", t0), None);
        assert_eq!(c.get("a", t0 + NAME_TTL), None, "expired");
        for i in 0..3 * NAME_CACHE_CAP {
            c.put(&format!("h{i}.invalid"), None, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(c.len(), NAME_CACHE_CAP);
        let last = format!("h{}.invalid", 3 * NAME_CACHE_CAP - 1);
        assert_eq!(c.get(&last, t0 + Duration::from_secs(1)), Some(None), "the newest stay");
        assert_eq!(c.get("a", t0), None, "the oldest went");
    }

    #[test]
    fn messages_read_well() {
        let e = DownloadError::TooLarge { announced: 405_623_566, limit: DEFAULT_MAX_SIZE };
        assert_eq!(e.to_string(), "announced 387 MiB, above the 256 MiB limit");
        let last = Holder { host: "hostC".into(), port: 40777 };
        let one = DownloadError::AllFailed {
            tried: 1,
            last: last.clone(),
            error: Box::new(DownloadError::Refused(Status::NotFound)),
        };
        assert_eq!(one.to_string(), "hostC:40777: answered 404 Not Found");
        let three = DownloadError::AllFailed {
            tried: 3,
            last,
            error: Box::new(DownloadError::Stalled(Duration::from_secs(30))),
        };
        assert_eq!(
            three.to_string(),
            "all 3 holders failed; the last, hostC:40777: nothing received for 30s"
        );
        let cut = DownloadError::Cut { received: 100, total: 3 * 1024 };
        assert_eq!(cut.to_string(), "connection closed after 100 bytes of 3 KiB");
    }
}
