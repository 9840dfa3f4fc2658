//! The upload server: answers GET from other peers, one task per connection.
//!
//! Shaped as mini-redis is: [`run`] accepts; a `Connection` owns the
//! socket and its read buffer, reads one request within its deadline and
//! writes with a time limit on every step; a `Handler` turns a request
//! into an `Answer` (a file to send, or a status). Each connection gets
//! one answer and is closed (PROTOCOL.md, Peer to peer).
//!
//! * **Slots.** Connections are capped, in all and per source address, and
//!   at the cap the oldest one that has not sent its whole GET is closed to
//!   admit a newcomer ([`accept_loop_evicting`]): silent or half-sent
//!   sockets cannot lock real downloads out, however many there are.
//! * **Paths.** Only a parsed [`RfcNumber`] ever reaches the file system, as
//!   `rfc<N>.txt` in the peer's own folder, so no request can name a path;
//!   and only a regular file that lies in the folder is served
//!   ([`Folder::open_shared`]: opened relative to the folder without
//!   leaving it, non-blocking, then judged by `fstat`): a link leading out,
//!   a FIFO, a device or a directory is 404, and none can block the server.
//! * **Speed.** Files are never read whole: the body goes with `sendfile(2)`
//!   (page cache to socket, no copy through user space) and the head is
//!   sent with `MSG_MORE` so head and body leave in the same packets. The
//!   file is opened and stat'ed on the runtime thread, as a static file
//!   server does: both are short syscalls on a local folder, cheaper than a
//!   hop to the blocking pool, and the open is non-blocking (a FIFO cannot
//!   hold it). Linux only, as the whole project is.
//! * **Errors.** An error answer is followed by a graceful close
//!   ([`close_gracefully`]): a client still writing an oversized request
//!   reads its 400 instead of a reset.
//! * **Digests.** A GET that asks (`Want-Repr-Digest`) gets the file's
//!   SHA-256, computed once per file version and cached (`DigestCache`).
//! * **Events.** Reports go to the front end without waiting
//!   (`peer::events`): a slow screen never slows an upload.

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::events::Lossy;
use super::library::Folder;
use super::{Direction, Link, NetEvent, WireMessage};
use crate::accept::{Admission, Caps, accept_loop_evicting, close_gracefully};
use crate::protocol::{GetResponseHead, Limits, RfcNumber, Sha256Digest, Status, parse_get};

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
    /// Connections served at once. At the cap, the oldest connection that
    /// has not sent its whole GET yet is closed for a newcomer; when every
    /// one has, newcomers are closed at once.
    pub max_connections: usize,
    /// Connections served at once from one source address; more from it
    /// are closed on arrival.
    pub max_connections_per_address: usize,
    /// Longest a write may wait for the downloader to take more bytes; a
    /// downloader that stops reading would otherwise hold its slot forever.
    pub send_timeout: Duration,
    /// After an error answer, how long the rest of a request is read and
    /// dropped before closing, so the answer is not lost to a reset.
    pub linger: Duration,
}

impl UploadConfig {
    pub fn new(dir: PathBuf, os: String) -> Self {
        UploadConfig {
            dir,
            os,
            limits: Limits::default(),
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_address: 32,
            send_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
        }
    }
}

/// What every connection of one upload server shares.
struct Shared {
    config: UploadConfig,
    digests: DigestCache,
    events: Reporter,
}

/// Serves until `shutdown` is cancelled, then waits for the connections it
/// started to finish (they stop at their next step).
pub async fn run(
    listener: TcpListener,
    config: UploadConfig,
    events: Option<mpsc::Sender<NetEvent>>,
    shutdown: CancellationToken,
) {
    let caps = Caps { total: config.max_connections, per_address: config.max_connections_per_address };
    let shared = Arc::new(Shared {
        config,
        digests: DigestCache::default(),
        events: Reporter(Lossy::new(events, "upload server")),
    });
    let tracker = TaskTracker::new();
    let refused = &crate::metrics::peer().uploads_refused;
    accept_loop_evicting(
        &listener,
        caps,
        &shutdown,
        &tracker,
        "upload server",
        refused,
        |stream, addr, admission| {
            let (shared, shutdown) = (shared.clone(), shutdown.clone());
            async move {
                let conn = Connection::new(stream, addr, admission);
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = serve(conn, &shared) => {}
                }
            }
        },
    )
    .await;
    tracker.close();
    tracker.wait().await;
}

/// One connection: read a GET, answer it, close.
async fn serve(mut conn: Connection, shared: &Shared) {
    let (config, addr) = (&shared.config, conn.addr);
    let request = match conn.read_request(&config.limits, config.request_timeout, &shared.events).await {
        Ok(r) => r,
        Err(Unanswered::Gone) => return,
        Err(Unanswered::Refused(status)) => {
            conn.refuse(status, config, &shared.events).await;
            shared.events.uploaded(addr, None, status, 0);
            return;
        }
    };
    let handler = Handler { config, digests: &shared.digests };
    match handler.answer(request).await {
        Answer::File { head, file, len } => {
            shared.events.wire(Direction::Sent, addr, &head);
            let sent = conn.send_file(&head, file, len, config.send_timeout).await;
            conn.finish().await;
            shared.events.uploaded(addr, Some(request.rfc), Status::Ok, sent);
        }
        Answer::Refuse(status) => {
            conn.refuse(status, config, &shared.events).await;
            shared.events.uploaded(addr, Some(request.rfc), status, 0);
        }
    }
}

/// The part of a GET the handler needs; the text is not copied.
#[derive(Debug, Clone, Copy)]
struct Request {
    rfc: RfcNumber,
    want_digest: bool,
}

/// Why no request came out of a connection.
enum Unanswered {
    /// Closed, silent past the deadline, or evicted: nothing to answer.
    Gone,
    /// Malformed or oversized: answer this status, then close.
    Refused(Status),
}

/// What the handler decided.
enum Answer {
    /// A 200: the encoded head, then the first `len` bytes of `file`.
    File { head: Vec<u8>, file: File, len: u64 },
    /// An error answer: status line, empty line, close.
    Refuse(Status),
}

/// A socket and its read buffer. The buffer lives here, so a read dropped
/// by `select!` (shutdown, eviction) loses nothing it had taken in.
struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    buf: BytesMut,
    admission: Admission,
}

impl Connection {
    fn new(stream: TcpStream, addr: SocketAddr, admission: Admission) -> Connection {
        let _ = stream.set_nodelay(true);
        Connection { stream, addr, buf: BytesMut::with_capacity(1024), admission }
    }

    /// Reads one GET, whole, within `timeout` of the connection's start.
    async fn read_request(
        &mut self,
        limits: &Limits,
        timeout: Duration,
        events: &Reporter,
    ) -> Result<Request, Unanswered> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match parse_get(&self.buf, limits) {
                Err(e) => {
                    debug!(addr = %self.addr, "upload request: {e}");
                    events.wire(Direction::Received, self.addr, &self.buf);
                    return Err(Unanswered::Refused(Status::BadRequest));
                }
                Ok(Some((parsed, used))) => {
                    // The head is in: from now on the connection keeps its
                    // slot. One chosen for eviction meanwhile is about to
                    // be dropped.
                    if parsed.is_ok() && !self.admission.request_read() {
                        return Err(Unanswered::Gone);
                    }
                    events.wire(Direction::Received, self.addr, &self.buf[..used]);
                    return parsed.map(|r| Request { rfc: r.rfc, want_digest: r.want_digest }).map_err(|e| {
                        debug!(addr = %self.addr, "upload request: {e}");
                        Unanswered::Refused(e.status())
                    });
                }
                Ok(None) => {}
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Err(Unanswered::Gone),
                Err(_) => {
                    debug!(addr = %self.addr, "upload request not complete within {timeout:?}");
                    return Err(Unanswered::Gone);
                }
            }
        }
    }

    /// Sends the head, then exactly `len` bytes of the file (a file that
    /// grew since is cut at its announced size). Each write must make
    /// progress within `idle`, or the transfer ends short, which the
    /// downloader detects by Content-Length. Returns the body bytes sent.
    async fn send_file(&mut self, head: &[u8], file: File, len: u64, idle: Duration) -> u64 {
        body::send(&self.stream, head, file, len, idle).await
    }

    /// Ends a transfer: the downloader reads to the end of the stream.
    async fn finish(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Sends an error answer, then closes gracefully.
    async fn refuse(mut self, status: Status, config: &UploadConfig, events: &Reporter) {
        let mut out = Vec::with_capacity(64);
        GetResponseHead::error(status).encode(&mut out);
        events.wire(Direction::Sent, self.addr, &out);
        if let Ok(Ok(())) = tokio::time::timeout(config.send_timeout, self.stream.write_all(&out)).await {
            close_gracefully(self.stream, config.linger).await;
        }
    }
}

/// Turns a request into an answer: finds the file and builds the head.
struct Handler<'a> {
    config: &'a UploadConfig,
    digests: &'a DigestCache,
}

impl Handler<'_> {
    async fn answer(&self, request: Request) -> Answer {
        let name = request.rfc.file_name();
        // The folder is opened anew for each GET (one short syscall), so
        // what is served is what its path holds now: a folder renamed or
        // replaced after the start is not served from its old place.
        let folder = match Folder::open(&self.config.dir) {
            Ok(f) => f,
            Err(e) => {
                debug!("GET RFC {}: cannot open {}: {e}", request.rfc, self.config.dir.display());
                return Answer::Refuse(Status::NotFound);
            }
        };
        // Only a regular file inside the folder is served; anything else
        // (a link leading out, a FIFO, a device, a directory) is as if it
        // were not there. Judged on the open descriptor: nothing to race.
        let (file, meta) = match folder.open_shared(&name) {
            Ok(opened) => opened,
            Err(why) => {
                debug!("GET RFC {}: {name}: {why}", request.rfc);
                return Answer::Refuse(Status::NotFound);
            }
        };
        let len = meta.len();
        // An empty file is not shared (it is not advertised either).
        if len == 0 {
            debug!("GET RFC {}: {name} is empty", request.rfc);
            return Answer::Refuse(Status::NotFound);
        }
        let path = self.config.dir.join(name);
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mut head = GetResponseHead::ok(SystemTime::now(), &self.config.os, modified, len);
        if request.want_digest {
            match self.digests.digest(path, &file, &meta).await {
                Ok(d) => head.repr_digest = Some(d),
                // The file went away or cannot be read: as if it were not here.
                Err(e) => {
                    debug!("digest of RFC {}: {e}", request.rfc);
                    return Answer::Refuse(Status::NotFound);
                }
            }
        }
        let mut out = Vec::with_capacity(256);
        head.encode(&mut out);
        Answer::File { head: out, file, len }
    }
}

/// The SHA-256 of each served file, computed the first time a GET asks and
/// kept until the file changes. A version is known by its inode, size,
/// modification and change times: rewriting, replacing or touching a file
/// makes a new entry. File times advance in coarse ticks, so a file written
/// again within the tick it was hashed in would look unchanged; as git does
/// with its index, a file changed in the last second is hashed but not
/// remembered. A std `Mutex`, held only to look up or insert; the hashing
/// runs on the blocking pool without it (two first requests for the same
/// file may both hash it, which is harmless).
#[derive(Default)]
struct DigestCache {
    known: Mutex<HashMap<PathBuf, (Version, Sha256Digest)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// A file changed this recently may change again unseen (see `DigestCache`).
const RACY_SECS: i64 = 1;

impl Version {
    fn of(meta: &std::fs::Metadata) -> Version {
        Version {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Written or changed within the last `RACY_SECS` (or in the future).
    fn changed_lately(&self) -> bool {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        now - self.mtime.0.max(self.ctime.0) <= RACY_SECS
    }
}

/// Past this many files the cache starts over rather than grow.
const DIGEST_CACHE_MAX: usize = 4096;

impl DigestCache {
    /// The digest of the open `file`, whose metadata is `meta`.
    async fn digest(
        &self,
        path: PathBuf,
        file: &File,
        meta: &std::fs::Metadata,
    ) -> std::io::Result<Sha256Digest> {
        let version = Version::of(meta);
        if let Some((v, d)) = self.lock().get(&path)
            && *v == version
        {
            return Ok(*d);
        }
        let file = file.try_clone()?;
        let len = version.len;
        let digest =
            tokio::task::spawn_blocking(move || hash(&file, len)).await.map_err(std::io::Error::other)??;
        if version.changed_lately() {
            return Ok(digest);
        }
        let mut known = self.lock();
        if known.len() >= DIGEST_CACHE_MAX {
            known.clear();
        }
        known.insert(path, (version, digest));
        Ok(digest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Version, Sha256Digest)>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// SHA-256 of the first `len` bytes of `file` (what is sent), read at
/// explicit offsets so the descriptor's own offset is not touched.
fn hash(file: &File, len: u64) -> std::io::Result<Sha256Digest> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut at = 0u64;
    while at < len {
        let want = (len - at).min(chunk.len() as u64) as usize;
        let n = file.read_at(&mut chunk[..want], at)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while hashed"));
        }
        hasher.update(&chunk[..n]);
        at += n as u64;
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// The upload server's reports, sent without waiting ([`Lossy`]).
struct Reporter(Lossy);

impl Reporter {
    fn wire(&self, direction: Direction, addr: SocketAddr, bytes: &[u8]) {
        self.0.emit(|| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            NetEvent::Wire(WireMessage {
                at: SystemTime::now(),
                direction,
                link: Link::Upload(addr),
                request: None,
                text,
            })
        });
    }

    fn uploaded(&self, to: SocketAddr, rfc: Option<RfcNumber>, status: Status, bytes: u64) {
        crate::metrics::peer().uploaded(status, bytes);
        self.0.emit(|| NetEvent::Uploaded { to, rfc, status, bytes });
    }
}

/// The body, with `sendfile(2)`.
mod body {
    use std::fs::File;
    use std::io;
    use std::time::Duration;

    use rustix::net::SendFlags;
    use tokio::io::Interest;
    use tokio::net::TcpStream;
    use tracing::debug;

    /// Sends `head`, then the first `len` bytes of `file`; returns the body
    /// bytes sent (fewer if the file shrank, the downloader went away or
    /// took nothing for `idle`).
    pub async fn send(stream: &TcpStream, head: &[u8], file: File, len: u64, idle: Duration) -> u64 {
        let flags = if len > 0 { SendFlags::MORE | SendFlags::NOSIGNAL } else { SendFlags::NOSIGNAL };
        let mut at = 0;
        while at < head.len() {
            let res = retry(stream, idle, || Ok(rustix::net::send(stream, &head[at..], flags)?)).await;
            match res {
                Ok(n) if n > 0 => at += n,
                _ => return 0,
            }
        }
        // The kernel advances `offset`, not the file's own position.
        let mut offset = 0u64;
        let mut sent = 0u64;
        while sent < len {
            // At most 1 GiB per call (the kernel caps a call near 2 GiB).
            let chunk = (len - sent).min(1 << 30) as usize;
            let res =
                retry(stream, idle, || Ok(rustix::fs::sendfile(stream, &file, Some(&mut offset), chunk)?))
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
