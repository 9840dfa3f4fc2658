//! The index server: an accept loop and one task per peer connection.
//!
//! Shaped like mini-redis: [`run`] takes a bound listener and a shutdown
//! token, caps the number of connections (past the cap a connection is
//! closed at once rather than the server falling over), and backs off when
//! accept fails. Each connection answers its requests in order; requests that
//! arrive together (pipelined) are answered together, in one write.
//!
//! The index is the one piece of shared state: `Arc<std::sync::Mutex<Index>>`.
//! A std mutex, not tokio's, because every critical section is short and
//! never awaits; a LIST is encoded a page at a time with the lock released
//! between pages, so a huge index never stalls other peers nor builds one
//! huge answer in memory.
//!
//! A connection is a peer's identity (PROTOCOL.md, The system): a guard owned
//! by the connection task removes all of its records when the task ends, for
//! whatever reason (goodbye, reset, timeout, shutdown, panic).

mod transcript;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, debug_span, info, warn};

use self::transcript::Transcript;
use crate::accept::accept_loop;
use crate::index::{ConnId, Cursor, Index};
use crate::protocol::head::leading_blank_len;
use crate::protocol::response::{encode_p2s_end, encode_p2s_head};
use crate::protocol::{Limits, P2sMethodRef, P2sRequestRef, RequestError, Status, parse_p2s};

/// How the server behaves; every limit is configurable.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub limits: Limits,
    /// A peer that has started a request must finish it within this time.
    pub request_timeout: Duration,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Print every request and response, raw, on standard output.
    pub print: bool,
    /// How long shutdown waits for connection tasks to end.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            max_connections: 16_384,
            print: true,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Records per lock when streaming a LIST.
const LIST_PAGE: usize = 256;
/// Output is written out once this much is pending.
const FLUSH_AT: usize = 64 * 1024;
/// A read is given at least this much room, and room is made this much at a time.
const READ_MIN: usize = 1024;
const READ_CHUNK: usize = 8 * 1024;
/// Room for the answers to one read's requests, made when a read brings some.
const OUT_INITIAL: usize = 1024;

type SharedIndex = Arc<Mutex<Index>>;

fn lock(index: &SharedIndex) -> MutexGuard<'_, Index> {
    // A panic while holding the lock cannot leave the index half-updated in
    // a way that matters more than stopping service would; keep serving.
    index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves until `shutdown` is cancelled, then waits (bounded) for the
/// connections to end. Returns the index as it is at the end (for tests).
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: CancellationToken) -> SharedIndex {
    let index: SharedIndex = Arc::new(Mutex::new(Index::new()));
    serve(listener, config, index.clone(), shutdown).await;
    index
}

/// Like [`run`], on an index the caller holds (tests watch it live).
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    index: SharedIndex,
    shutdown: CancellationToken,
) {
    let config = Arc::new(config);
    let (_printer, transcript) = transcript::start(config.print, std::io::stdout());
    let ids = AtomicU64::new(1);
    let tracker = TaskTracker::new();
    accept_loop(&listener, config.max_connections, &shutdown, &tracker, "index server", |stream, addr| {
        let conn = ConnId(ids.fetch_add(1, Ordering::Relaxed));
        let task = Connection {
            conn,
            addr,
            index: index.clone(),
            config: config.clone(),
            tag: if transcript.enabled() { format!("peer {conn} ({addr})").into() } else { "".into() },
            transcript: transcript.clone(),
            shutdown: shutdown.clone(),
        };
        // A debug span: entering a span on every poll is a measurable
        // share of a request, so at the default level the few info lines
        // carry the connection themselves.
        task.run(stream).instrument(debug_span!("conn", id = conn.0, %addr))
    })
    .await;
    tracker.close();
    if tokio::time::timeout(config.shutdown_grace, tracker.wait()).await.is_err() {
        warn!("connections still open after {:?}; leaving them", config.shutdown_grace);
    }
}

/// Removes a peer's records when its connection task ends, however it ends.
struct PeerGuard {
    conn: ConnId,
    addr: SocketAddr,
    index: SharedIndex,
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        let removed = lock(&self.index).remove_peer(self.conn);
        info!(conn = %self.conn, addr = %self.addr, removed, "peer left");
    }
}

struct Connection {
    conn: ConnId,
    addr: SocketAddr,
    index: SharedIndex,
    config: Arc<ServerConfig>,
    transcript: Transcript,
    /// How the transcript names this peer (empty when not printing).
    tag: Box<str>,
    shutdown: CancellationToken,
}

enum Flow {
    Continue,
    Close,
}

impl Connection {
    async fn run(self, mut stream: TcpStream) {
        debug!("connected");
        let _ = stream.set_nodelay(true);
        let _guard = PeerGuard { conn: self.conn, addr: self.addr, index: self.index.clone() };
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // When the request now in `buf` began: the 30 s rule runs from here.
        let mut started: Option<Instant> = None;
        // The peer this connection was admitted as, once it was.
        let mut admitted: Option<(Box<str>, u16)> = None;
        // Registered once, not once per wait.
        let cancelled = self.shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            // A peer that is idle between requests (nothing pending) waits
            // holding no buffers: idle connections are long-lived by design
            // and must cost little memory.
            if buf.is_empty() && buf.capacity() > 0 {
                buf = BytesMut::new();
                out = Vec::new();
            }
            let deadline = started.map(|t| t + self.config.request_timeout);
            tokio::select! {
                // Readiness first: a busy connection then finds it ready and
                // polls nothing else; the others are looked at when it waits.
                biased;
                r = stream.readable() => if let Err(e) = r {
                    debug!("read failed: {e}");
                    return;
                },
                _ = &mut cancelled => return,
                _ = sleep_until(deadline) => {
                    info!(conn = %self.conn, addr = %self.addr,
                        "request not finished within {:?}; closing", self.config.request_timeout);
                    return;
                }
            }
            if buf.capacity() - buf.len() < READ_MIN {
                buf.reserve(READ_CHUNK);
            }
            let room = buf.capacity() - buf.len();
            match stream.try_read_buf(&mut buf) {
                Ok(0) => {
                    debug!("closed by peer");
                    return;
                }
                // A read that did not fill the room took everything there
                // was: the next bytes raise a new readiness event, so forget
                // this one now instead of paying a read that would block.
                Ok(n) if n < room => clear_read_readiness(&stream),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    debug!("read failed: {e}");
                    return;
                }
            }
            if out.capacity() == 0 {
                out.reserve(OUT_INITIAL);
            }
            let mut answered = false;
            loop {
                let flow = match parse_p2s(&buf, &self.config.limits) {
                    Ok(None) => break,
                    Ok(Some((request, used))) => {
                        self.transcript.print("received from", &self.tag, &buf[..used]).await;
                        // Borrowed from `buf`: answered before `buf` moves on,
                        // with no copies (the index copies a new title itself).
                        let list = self.answer_at_once(request, &mut admitted, &mut out);
                        buf.advance(used);
                        answered = true;
                        if list { self.stream_list(&mut stream, &mut out).await } else { Flow::Continue }
                    }
                    Err(e) => {
                        debug!("closing: {e}");
                        self.transcript.print("received from", &self.tag, &buf).await;
                        self.answer(Status::BadRequest, &mut out);
                        Flow::Close
                    }
                };
                if let Flow::Close = flow {
                    let _ = self.flush(&mut stream, &mut out).await;
                    return;
                }
                // Pipelined requests are answered together, but the answers
                // pending at once stay bounded: many LOOKUPs of a popular RFC
                // in one read would otherwise pile up here.
                if out.len() >= FLUSH_AT && self.flush(&mut stream, &mut out).await.is_err() {
                    return;
                }
            }
            if self.flush(&mut stream, &mut out).await.is_err() {
                return;
            }
            let pending = buf.len() > leading_blank_len(&buf);
            started = match (pending, answered, started) {
                (false, _, _) => None,
                (true, true, _) | (true, false, None) => Some(Instant::now()),
                (true, false, Some(t)) => Some(t),
            };
        }
    }

    fn answer(&self, status: Status, out: &mut Vec<u8>) {
        encode_p2s_head(status, out);
        encode_p2s_end(out);
    }

    async fn flush(&self, stream: &mut TcpStream, out: &mut Vec<u8>) -> std::io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        self.transcript.print("sent to", &self.tag, out).await;
        let res = stream.write_all(out).await;
        out.clear();
        res
    }

    /// Streams the answer to an admitted LIST into `out`, flushing along the
    /// way for a long one.
    async fn stream_list(&self, stream: &mut TcpStream, out: &mut Vec<u8>) -> Flow {
        // LIST: streamed a page at a time, the lock released between pages.
        encode_p2s_head(Status::Ok, out);
        let mut cursor = Some(Cursor::START);
        while let Some(c) = cursor {
            cursor =
                lock(&self.index).list_page(c, LIST_PAGE, |r| out.extend_from_slice(r.line().as_bytes()));
            if out.len() >= FLUSH_AT && self.flush(stream, out).await.is_err() {
                return Flow::Close;
            }
        }
        encode_p2s_end(out);
        Flow::Continue
    }

    /// Answers ADD, LOOKUP and any rejection into `out`, under one lock,
    /// encoding straight from the index without copies. Returns true for an
    /// admitted LIST, which the caller streams. An error status leaves the
    /// connection usable.
    fn answer_at_once(
        &self,
        request: Result<P2sRequestRef<'_>, RequestError>,
        admitted: &mut Option<(Box<str>, u16)>,
        out: &mut Vec<u8>,
    ) -> bool {
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                debug!("rejected: {e}");
                self.answer(e.status(), out);
                return false;
            }
        };
        let mut index = lock(&self.index);
        // The index knows this connection's peer; so does the connection,
        // after its first request, which spares a map probe per request.
        let known =
            admitted.as_ref().is_some_and(|(h, p)| **h == *request.peer.host && *p == request.peer.port);
        if !known {
            if let Err(e) = index.admit_as(self.conn, request.peer.host, request.peer.port) {
                drop(index);
                debug!("rejected: {e}");
                self.answer(Status::BadRequest, out);
                return false;
            }
            *admitted = Some((request.peer.host.into(), request.peer.port));
        }
        match request.method {
            P2sMethodRef::Add { rfc, title } => match index.add_ref(self.conn, rfc, title) {
                Some(r) => {
                    encode_p2s_head(Status::Ok, out);
                    out.extend_from_slice(r.line().as_bytes());
                    encode_p2s_end(out);
                }
                None => self.answer(Status::BadRequest, out),
            },
            P2sMethodRef::Lookup { rfc, .. } => {
                let at = out.len();
                encode_p2s_head(Status::Ok, out);
                let found = index.lookup_each(rfc, |r| out.extend_from_slice(r.line().as_bytes()));
                if found == 0 {
                    out.truncate(at);
                    encode_p2s_head(Status::NotFound, out);
                }
                encode_p2s_end(out);
            }
            P2sMethodRef::List => return true,
        }
        false
    }
}

/// Forgets the socket's read readiness without a system call.
fn clear_read_readiness(stream: &TcpStream) {
    let _ = stream.try_io(Interest::READABLE, || Err::<(), _>(std::io::ErrorKind::WouldBlock.into()));
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
