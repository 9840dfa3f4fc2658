//! Downloads: one task per RFC, trying its holders in turn.
//!
//! Each attempt is a short-lived connection: one GET, the head, then exactly
//! Content-Length bytes into a temporary file in the peer's folder, renamed
//! into place only when complete (PROTOCOL.md, Peer to peer). The temporary
//! file deletes itself when dropped, so a failed, cut or cancelled transfer
//! (an aborted task drops its future) leaves nothing behind.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::library::{self, LocalRfc};
use super::{DownloadEvent, DownloadId, Holder, Link, NetEvent, WireMessage};
use crate::protocol::{GetRequest, GetResponseHead, Limits, RfcNumber, Status, parse_head};

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
    /// Names the resolver did not know, and when: a made-up demo name
    /// (`hostA`) can cost a resolver timeout, which we pay once, not per GET.
    unresolvable: Arc<Mutex<HashMap<String, Instant>>>,
}

/// How long a name that did not resolve goes straight to the loopback.
const UNRESOLVABLE_FOR: Duration = Duration::from_secs(60);

impl DownloadConfig {
    pub fn new(dir: PathBuf, host: String, os: String) -> Self {
        DownloadConfig {
            dir,
            host,
            os,
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_size: 256 * 1024 * 1024,
            resolve_timeout: Duration::from_secs(2),
            unresolvable: Arc::default(),
        }
    }
}

struct Reporter<'a> {
    id: DownloadId,
    events: &'a mpsc::Sender<NetEvent>,
}

impl Reporter<'_> {
    async fn send(&self, ev: NetEvent) {
        let _ = self.events.send(ev).await;
    }
    async fn download(&self, event: DownloadEvent) {
        self.send(NetEvent::Download { id: self.id, event }).await;
    }
    async fn wire(&self, direction: super::Direction, from: &Holder, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let msg = WireMessage { at: SystemTime::now(), direction, link: Link::Download(from.clone()), text };
        self.send(NetEvent::Wire(msg)).await;
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
    let report = Reporter { id, events };
    let begun = Instant::now();
    let mut last_reason = String::from("no peer holds it");
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
                last_reason = format!("{from}: {reason}");
            }
        }
    }
    crate::metrics::peer().download_failed(begun.elapsed());
    report.download(DownloadEvent::Failed { rfc, reason: last_reason }).await;
    None
}

/// Resolves a holder's hostname; a name the resolver does not know falls
/// back to the loopback address (PROTOCOL.md, Hostnames), which is said.
async fn resolve(from: &Holder, config: &DownloadConfig, report: &Reporter<'_>) -> SocketAddr {
    let known_bad = {
        let mut bad = config.unresolvable.lock().unwrap_or_else(|p| p.into_inner());
        bad.retain(|_, since| since.elapsed() < UNRESOLVABLE_FOR);
        bad.contains_key(&from.host)
    };
    if !known_bad {
        let lookup = tokio::net::lookup_host((from.host.as_str(), from.port));
        if let Ok(Ok(mut addrs)) = tokio::time::timeout(config.resolve_timeout, lookup).await
            && let Some(addr) = addrs.next()
        {
            return addr;
        }
        let mut bad = config.unresolvable.lock().unwrap_or_else(|p| p.into_inner());
        bad.insert(from.host.clone(), Instant::now());
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, from.port));
    report.send(NetEvent::Notice(format!("{} does not resolve; trying {addr}", from.host))).await;
    addr
}

async fn fetch(
    rfc: RfcNumber,
    from: &Holder,
    config: &DownloadConfig,
    report: &Reporter<'_>,
) -> Result<LocalRfc, String> {
    let addr = resolve(from, config, report).await;
    let mut stream = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => return Err(format!("no answer from {addr} within {:?}", config.connect_timeout)),
    };
    let _ = stream.set_nodelay(true);
    let mut out = Vec::new();
    GetRequest { rfc, host: config.host.clone(), os: Some(config.os.clone()) }.encode(&mut out);
    report.wire(super::Direction::Sent, from, &out).await;
    stream.write_all(&out).await.map_err(|e| format!("sending GET: {e}"))?;

    let mut buf = BytesMut::with_capacity(16 * 1024);
    let head = loop {
        match parse_head(&buf, &config.limits) {
            Err(e) => return Err(format!("bad answer: {e}")),
            Ok(Some((head, used))) => {
                let parsed = GetResponseHead::from_head(&head).map_err(|e| format!("bad answer: {e}"));
                report.wire(super::Direction::Received, from, &buf[..used]).await;
                let _ = buf.split_to(used);
                break parsed?;
            }
            Ok(None) => {}
        }
        let n = read_some(&mut stream, &mut buf, config.idle_timeout).await?;
        if n == 0 {
            return Err("connection closed before the answer was complete".into());
        }
    };
    if head.status != Status::Ok {
        return Err(format!("answered {}", head.status));
    }
    let total = head.content_length.unwrap_or(0);
    if total > config.max_size {
        return Err(format!("announced {total} bytes, more than the {} accepted", config.max_size));
    }
    receive_body(rfc, total, buf, &mut stream, config, report).await
}

async fn read_some(stream: &mut TcpStream, buf: &mut BytesMut, idle: Duration) -> Result<usize, String> {
    match tokio::time::timeout(idle, stream.read_buf(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(format!("connection broke: {e}")),
        Err(_) => Err(format!("nothing received for {idle:?}")),
    }
}

/// Receives exactly `total` body bytes (some may already be in `buf`) into a
/// temporary file, then renames it to `rfc<N>.txt`.
async fn receive_body(
    rfc: RfcNumber,
    total: u64,
    mut buf: BytesMut,
    stream: &mut TcpStream,
    config: &DownloadConfig,
    report: &Reporter<'_>,
) -> Result<LocalRfc, String> {
    let target = config.dir.join(rfc.file_name());
    let tmp =
        temp_file(&config.dir, rfc).map_err(|e| format!("cannot write in {}: {e}", config.dir.display()))?;
    let std_file = tmp.as_file().try_clone().map_err(|e| format!("temporary file: {e}"))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut received: u64 = 0;
    let mut last_report = Instant::now();
    report.download(DownloadEvent::Progress { received, total }).await;
    loop {
        if !buf.is_empty() {
            if received + buf.len() as u64 > total {
                return Err(format!("sent more than the {total} bytes announced"));
            }
            file.write_all(&buf).await.map_err(|e| format!("writing {}: {e}", config.dir.display()))?;
            received += buf.len() as u64;
            buf.clear();
            if last_report.elapsed() >= Duration::from_millis(100) || received == total {
                last_report = Instant::now();
                report.download(DownloadEvent::Progress { received, total }).await;
            }
        }
        if received == total {
            break;
        }
        if read_some(stream, &mut buf, config.idle_timeout).await? == 0 {
            return Err(format!("connection closed after {received} of {total} bytes"));
        }
    }
    // The uploader closes after the last byte; anything more is not the file.
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), stream.read_buf(&mut buf)).await
        && n > 0
    {
        return Err(format!("sent more than the {total} bytes announced"));
    }
    file.flush().await.map_err(|e| format!("writing: {e}"))?;
    file.sync_data().await.map_err(|e| format!("writing: {e}"))?;
    drop(file);
    let persisted = tokio::task::spawn_blocking(move || {
        tmp.persist(&target).map_err(|e| e.error)?;
        library::load(rfc, &target).map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| format!("saving: {e}"))?;
    persisted.map_err(|e| format!("saving: {e}"))
}

fn temp_file(dir: &Path, rfc: RfcNumber) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".rfc{rfc}.");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".part");
    // Shared files are readable by all, like the ones copied in at start.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b.tempfile_in(dir)
}
