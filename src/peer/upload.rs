//! The upload server: answers GET from other peers, one task per connection.
//!
//! Shaped like the index server (`run(listener, …, shutdown)`): a capped
//! number of connections, each of which must send its whole GET within the
//! request timeout (PROTOCOL.md, Limits), gets one answer and is closed. Only
//! a parsed [`RfcNumber`] ever reaches the file system, as `rfc<N>.txt` in the
//! peer's own folder, so no request can name a path. Files are never read
//! whole: on Linux the body goes with `sendfile(2)` (page cache to socket, no
//! copy through user space) and the head is sent with `MSG_MORE` so that
//! head and body leave in the same packets; elsewhere the file is copied in
//! chunks. The file is opened and stat'ed on the runtime thread, as a
//! static file server does: both are short syscalls on a local folder, and
//! cheaper than a hop to the blocking pool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::{Direction, Link, NetEvent, WireMessage};
use crate::accept::accept_loop;
use crate::protocol::{GetResponseHead, Limits, RfcNumber, Status, parse_get};

/// How an upload server behaves; every limit is configurable.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// The folder whose `rfc<N>.txt` files are served.
    pub dir: PathBuf,
    /// The `OS` header value.
    pub os: String,
    pub limits: Limits,
    /// A connection must deliver its whole GET within this time.
    pub request_timeout: Duration,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Longest a write may wait for the downloader to take more bytes; a
    /// downloader that stops reading would otherwise hold its slot forever.
    pub send_timeout: Duration,
}

impl UploadConfig {
    pub fn new(dir: PathBuf, os: String) -> Self {
        UploadConfig {
            dir,
            os,
            limits: Limits::default(),
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves until `shutdown` is cancelled, then waits for the connections it
/// started to finish (they stop at their next step).
pub async fn run(
    listener: TcpListener,
    config: UploadConfig,
    events: Option<mpsc::Sender<NetEvent>>,
    shutdown: CancellationToken,
) {
    let config = Arc::new(config);
    let tracker = TaskTracker::new();
    let refused = &crate::metrics::peer().uploads_refused;
    accept_loop(
        &listener,
        config.max_connections,
        &shutdown,
        &tracker,
        "upload server",
        refused,
        |stream, addr| {
            let (config, events, shutdown) = (config.clone(), events.clone(), shutdown.clone());
            async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = serve(stream, addr, &config, events.as_ref()) => {}
                }
            }
        },
    )
    .await;
    tracker.close();
    tracker.wait().await;
}

async fn emit(events: Option<&mpsc::Sender<NetEvent>>, ev: NetEvent) {
    if let Some(tx) = events {
        let _ = tx.send(ev).await;
    }
}

async fn wire(events: Option<&mpsc::Sender<NetEvent>>, direction: Direction, addr: SocketAddr, bytes: &[u8]) {
    if events.is_some() {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let msg = WireMessage { at: SystemTime::now(), direction, link: Link::Upload(addr), text };
        emit(events, NetEvent::Wire(msg)).await;
    }
}

/// Reads one GET within the deadline. `Err(Some(status))` is an answer to
/// send; `Err(None)` means close without one (timed out or gone).
async fn read_request(
    stream: &mut TcpStream,
    addr: SocketAddr,
    config: &UploadConfig,
    events: Option<&mpsc::Sender<NetEvent>>,
) -> Result<RfcNumber, Option<Status>> {
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        match parse_get(&buf, &config.limits) {
            Err(e) => {
                debug!(%addr, "upload request: {e}");
                wire(events, Direction::Received, addr, &buf).await;
                return Err(Some(Status::BadRequest));
            }
            Ok(Some((parsed, used))) => {
                // Only the number is used: no copies of the text.
                let parsed = parsed.map(|req| req.rfc);
                wire(events, Direction::Received, addr, &buf[..used]).await;
                return parsed.map_err(|e| {
                    debug!(%addr, "upload request: {e}");
                    Some(e.status())
                });
            }
            Ok(None) => {}
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err(None),
            Err(_) => {
                debug!(%addr, "upload request not complete within {:?}", config.request_timeout);
                return Err(None);
            }
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    config: &UploadConfig,
    events: Option<&mpsc::Sender<NetEvent>>,
) {
    let _ = stream.set_nodelay(true);
    let (rfc, status, bytes) = match read_request(&mut stream, addr, config, events).await {
        Ok(rfc) => match send_file(&mut stream, addr, rfc, config, events).await {
            Ok(sent) => (Some(rfc), Status::Ok, sent),
            Err(status) => (Some(rfc), status, 0),
        },
        Err(None) => return,
        Err(Some(status)) => (None, status, 0),
    };
    if status != Status::Ok {
        let mut out = Vec::new();
        GetResponseHead::error(status).encode(&mut out);
        wire(events, Direction::Sent, addr, &out).await;
        let _ = tokio::time::timeout(config.send_timeout, stream.write_all(&out)).await;
    }
    let _ = stream.shutdown().await;
    crate::metrics::peer().uploaded(status, bytes);
    emit(events, NetEvent::Uploaded { to: addr, rfc, status, bytes }).await;
}

/// Sends the head and the file. `Err(status)` when nothing was sent yet and
/// an error answer is due; once the head is out, a failure just ends the
/// connection short, which the downloader detects by Content-Length.
async fn send_file(
    stream: &mut TcpStream,
    addr: SocketAddr,
    rfc: RfcNumber,
    config: &UploadConfig,
    events: Option<&mpsc::Sender<NetEvent>>,
) -> Result<u64, Status> {
    let path = config.dir.join(rfc.file_name());
    let file = std::fs::File::open(&path).map_err(|_| Status::NotFound)?;
    let meta = file.metadata().map_err(|_| Status::NotFound)?;
    if !meta.is_file() {
        return Err(Status::NotFound);
    }
    let len = meta.len();
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let mut out = Vec::with_capacity(256);
    GetResponseHead::ok(SystemTime::now(), &config.os, modified, len).encode(&mut out);
    wire(events, Direction::Sent, addr, &out).await;
    // Exactly `len` bytes: a file that grew since is cut at its announced
    // size. Each write must make progress within `send_timeout`, or the
    // transfer ends short (the downloader sees fewer than Content-Length bytes).
    Ok(body::send(stream, &out, file, len, config.send_timeout).await)
}

#[cfg(target_os = "linux")]
mod body {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use tokio::io::Interest;
    use tokio::net::TcpStream;
    use tracing::debug;

    /// Sends `head`, then the first `len` bytes of `file`; returns the body
    /// bytes sent (fewer if the file shrank, the downloader went away or
    /// took nothing for `idle`).
    pub async fn send(stream: &mut TcpStream, head: &[u8], file: File, len: u64, idle: Duration) -> u64 {
        let mut at = 0;
        while at < head.len() {
            let more = if len > 0 { libc::MSG_MORE } else { 0 };
            let res = retry(stream, idle, || {
                let rest = &head[at..];
                // SAFETY: the socket is open for the call and `rest` is a
                // live buffer of the length passed.
                let n = unsafe {
                    libc::send(
                        stream.as_raw_fd(),
                        rest.as_ptr().cast(),
                        rest.len(),
                        more | libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            })
            .await;
            match res {
                Ok(n) if n > 0 => at += n,
                _ => return 0,
            }
        }
        let mut offset: libc::off_t = 0;
        let mut sent = 0u64;
        while sent < len {
            // At most 1 GiB per call (the kernel caps a call near 2 GiB).
            let chunk = (len - sent).min(1 << 30) as usize;
            let res = retry(stream, idle, || {
                // SAFETY: both descriptors are open for the call, and
                // `offset` is a live local the kernel advances.
                let n = unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut offset, chunk) };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            })
            .await;
            match res {
                Ok(n) if n > 0 => sent += n as u64,
                Ok(_) => break,
                Err(e) => {
                    debug!("upload ended short: {e}");
                    break;
                }
            }
        }
        sent
    }

    /// Runs a non-blocking socket call until it does not say "would block",
    /// waiting (at most `idle` each time) for writability in between; tokio
    /// keeps the readiness right.
    async fn retry(
        stream: &TcpStream,
        idle: Duration,
        mut call: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        loop {
            match tokio::time::timeout(idle, stream.writable()).await {
                Ok(r) => r?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "downloader took nothing")),
            }
            match stream.try_io(Interest::WRITABLE, &mut call) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod body {
    use std::fs::File;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tracing::debug;

    pub async fn send(stream: &mut TcpStream, head: &[u8], file: File, len: u64, idle: Duration) -> u64 {
        if !matches!(tokio::time::timeout(idle, stream.write_all(head)).await, Ok(Ok(()))) {
            return 0;
        }
        let file = tokio::fs::File::from_std(file).take(len);
        let body = tokio::io::BufReader::with_capacity(128 * 1024, file);
        send_body(body, stream, idle).await
    }

    /// Copies the body; each write must make progress within `idle`.
    async fn send_body(mut body: impl AsyncBufRead + Unpin, stream: &mut TcpStream, idle: Duration) -> u64 {
        let mut sent = 0u64;
        loop {
            let chunk = match body.fill_buf().await {
                Ok(chunk) if !chunk.is_empty() => chunk,
                _ => return sent,
            };
            match tokio::time::timeout(idle, stream.write(chunk)).await {
                Ok(Ok(n)) if n > 0 => {
                    body.consume(n);
                    sent += n as u64;
                }
                Ok(_) => return sent,
                Err(_) => {
                    debug!("downloader took nothing for {idle:?}; giving up");
                    return sent;
                }
            }
        }
    }
}
