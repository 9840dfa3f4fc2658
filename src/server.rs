//! The index server: an accept loop and one task per peer connection.
//!
//! Shaped like mini-redis: [`run`] takes a bound listener, an index store
//! and a shutdown token, caps the number of connections (past the cap a
//! connection is closed at once rather than the server falling over), and
//! backs off when accept fails. Each connection task has two halves:
//!
//! * [`Connection`] owns the socket and its buffers. It reads until a whole
//!   request is there, holding a started request to the request deadline,
//!   and writes answers within the write timeout. Both also give way to
//!   shutdown, so no client, however slow, holds its slot or the server's
//!   exit hostage.
//! * [`Handler`] turns each request into its answer through the
//!   [`IndexStore`], and prints the transcript.
//!
//! Every request, byte and closed connection is counted in
//! [`ServerMetrics`], through handles resolved once; with metrics off they
//! are no-ops and no clock is read.
//!
//! Requests that arrive together (pipelined) are answered together, in one
//! write. A LIST, and a LOOKUP with more holders than fit a page, are
//! written a page at a time, flushed as they go: a huge answer is never
//! built whole in memory nor holds the store's lock for long, and a peer
//! that asks and never reads holds at most a page and the pending output
//! (about 128 KiB) until the write timeout closes it.
//!
//! An ADD is held to the store's caps ([`ServerConfig::caps`]): past them
//! it is answered 400 and counted in `p2pci_adds_refused_total`, and the
//! connection goes on.
//!
//! A connection is a peer's identity (PROTOCOL.md, The system): when the
//! conversation ends, for whatever reason (goodbye, reset, timeout,
//! shutdown), the task removes all of the peer's records, and a guard does
//! it if the task panics instead.

mod pending;
mod transcript;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, debug_span, info, warn};

use self::pending::Pending;
use self::transcript::Transcript;
use crate::accept::{self, accept_loop, close_gracefully};
use crate::index::{AddError, Caps, ConnId, Cursor, HolderCursor};
use crate::metrics::{Closed, Method, ServerMetrics};
use crate::protocol::head::leading_blank_len;
use crate::protocol::response::{encode_p2s_end, encode_p2s_head};
use crate::protocol::{
    LimitError, Limits, P2sMethodRef, P2sRequestRef, RequestError, RfcNumber, Status, parse_p2s,
};
use crate::store::{IndexStore, NewRecord, PeerGuard};

/// How the server behaves; every limit is configurable.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub limits: Limits,
    /// A peer that has started a request must finish it within this time.
    pub request_timeout: Duration,
    /// An answer must be taken by the peer within this time.
    pub write_timeout: Duration,
    /// After a 400 that closes the connection, how long the peer's further
    /// input is read and dropped so the 400 is not lost to a reset.
    pub linger: Duration,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Connections served at once from one source address (IP address,
    /// port ignored); more from it are closed at once, while other
    /// addresses are still admitted.
    pub max_connections_per_address: usize,
    /// Print every request and response, raw, on standard output.
    pub print: bool,
    /// How long shutdown waits for connection tasks to end.
    pub shutdown_grace: Duration,
    /// What one peer and the whole index may hold; set on the store when
    /// the server starts.
    pub caps: Caps,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
            max_connections: 16_384,
            max_connections_per_address: 256,
            print: true,
            shutdown_grace: Duration::from_secs(5),
            caps: Caps::DEFAULT,
        }
    }
}

/// Bytes of record lines per page when writing a LIST or a long LOOKUP
/// (a page ends after the line that reaches it).
const PAGE_BYTES: usize = 32 * 1024;
/// Output is written out once this much is pending.
const FLUSH_AT: usize = 64 * 1024;
/// A read is given at least this much room, and room is made this much at a time.
const READ_MIN: usize = 1024;
const READ_CHUNK: usize = 8 * 1024;
/// Room for the answers to one read's requests, made when a read brings some.
const OUT_INITIAL: usize = 1024;

/// Serves until `shutdown` is cancelled, then waits (bounded) for the
/// connections to end and closes the store.
pub async fn run<S: IndexStore>(
    listener: TcpListener,
    config: ServerConfig,
    store: Arc<S>,
    shutdown: CancellationToken,
) {
    let config = Arc::new(config);
    store.set_caps(config.caps);
    let metrics = crate::metrics::server();
    let (_printer, transcript) = transcript::start(config.print, std::io::stdout());
    // Peers, records and the transcript's backlog are read when scraped.
    let _collector = metrics.enabled.then(|| {
        let (store, transcript) = (Arc::downgrade(&store), transcript.clone());
        crate::metrics::on_scrape(move || {
            if let Some(store) = store.upgrade() {
                let counts = store.counts();
                metrics.peers.set(counts.peers as f64);
                metrics.records.set(counts.records as f64);
            }
            let (pending, lag) = transcript.backlog();
            metrics.transcript_pending.set(pending as f64);
            metrics.transcript_lag.set(lag.as_secs_f64());
        })
    });
    let ids = AtomicU64::new(1);
    let tracker = TaskTracker::new();
    let refused = &metrics.connections_refused;
    accept_loop(
        &listener,
        accept::Caps { total: config.max_connections, per_address: config.max_connections_per_address },
        &shutdown,
        &tracker,
        "index server",
        refused,
        |stream, addr| {
            let conn = ConnId(ids.fetch_add(1, Ordering::Relaxed));
            let handler = Handler {
                conn,
                addr,
                store: store.clone(),
                config: config.clone(),
                metrics,
                tag: if transcript.enabled() { format!("peer {conn} ({addr})").into() } else { "".into() },
                transcript: transcript.clone(),
            };
            // A debug span: entering a span on every poll is a measurable
            // share of a request, so at the default level the few info lines
            // carry the connection themselves.
            handler.run(stream, shutdown.clone()).instrument(debug_span!("conn", id = conn.0, %addr))
        },
    )
    .await;
    tracker.close();
    if tokio::time::timeout(config.shutdown_grace, tracker.wait()).await.is_err() {
        warn!("connections still open after {:?}; leaving them", config.shutdown_grace);
    }
    store.close().await;
}

/// Why a conversation ended.
#[derive(Debug)]
enum Ended {
    /// The peer closed its side.
    Closed,
    /// A request broke the size limits; it was answered 400.
    Refused(LimitError),
    /// A started request was not finished within the request timeout.
    RequestTimeout,
    /// The peer did not take an answer within the write timeout.
    WriteTimeout,
    Shutdown,
    Io(std::io::Error),
}

/// A peer's socket with its read and write buffers.
///
/// The buffers live here, not in a read future, so a read abandoned by
/// `select!` (shutdown, deadline) loses nothing. An idle peer holds no
/// buffer: connections are long-lived by design and must cost little while
/// they wait.
struct Connection {
    stream: TcpStream,
    buf: BytesMut,
    out: Vec<u8>,
    /// When the request now in `buf` began: the request timeout runs from here.
    started: Option<Instant>,
    metrics: &'static ServerMetrics,
    /// When the last read completed (metrics on only): a request's duration
    /// runs from the read that completed it to the write of its answer.
    read_at: Option<std::time::Instant>,
    /// Requests answered into `out` since the last write, by method.
    answered: [u32; 4],
    /// ADDs answered in `out` that still wait for a shared index.
    pending: Pending,
}

/// What the read buffer holds next.
enum Next<'a> {
    /// Not a whole request yet.
    Partial,
    /// One request (understood, or with the status to answer), its raw bytes
    /// and the output buffer to answer into.
    Request {
        request: Result<P2sRequestRef<'a>, RequestError>,
        raw: &'a [u8],
        out: &'a mut Vec<u8>,
        pending: &'a mut Pending,
    },
    /// Bytes that break the size limits (all that is buffered).
    TooLarge { error: LimitError, raw: &'a [u8] },
}

impl Connection {
    fn new(stream: TcpStream, metrics: &'static ServerMetrics) -> Self {
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            buf: BytesMut::new(),
            out: Vec::new(),
            started: None,
            metrics,
            read_at: None,
            answered: [0; 4],
            pending: Pending::default(),
        }
    }

    /// Waits until the peer sends something and reads it into the buffer.
    /// A started request must be finished by its deadline; shutdown ends any
    /// wait.
    async fn read(
        &mut self,
        request_timeout: Duration,
        shutdown: &mut Pin<&mut WaitForCancellationFuture<'_>>,
    ) -> Result<(), Ended> {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
            self.out = Vec::new();
        }
        let deadline = self.started.map(|t| t + request_timeout);
        loop {
            tokio::select! {
                // Readiness first: a busy connection then finds it ready and
                // polls nothing else; the others are looked at when it waits.
                biased;
                r = self.stream.readable() => r.map_err(Ended::Io)?,
                _ = shutdown.as_mut() => return Err(Ended::Shutdown),
                _ = sleep_until(deadline) => return Err(Ended::RequestTimeout),
            }
            if self.buf.capacity() - self.buf.len() < READ_MIN {
                self.buf.reserve(READ_CHUNK);
            }
            let n = match self.read_draining() {
                Some(Ok(0)) => return Err(Ended::Closed),
                Some(Ok(n)) => n,
                Some(Err(e)) => return Err(Ended::Io(e)),
                None => continue,
            };
            self.metrics.received_bytes.increment(n as u64);
            if self.metrics.enabled {
                self.read_at = Some(std::time::Instant::now());
            }
            if self.out.capacity() == 0 {
                self.out.reserve(OUT_INITIAL);
            }
            return Ok(());
        }
    }

    /// Reads what the socket holds into the buffer (`None`: nothing yet).
    ///
    /// A read that does not fill the room took everything there was, so
    /// its readiness is forgotten at once instead of paying a second read
    /// that would block. The read runs inside `try_io`, which forgets the
    /// readiness only if the I/O driver has not raised it again since the
    /// read began: bytes that arrive meanwhile, seen by the driver on
    /// another thread, are never forgotten (a peer that pipelines and
    /// waits for its answers would otherwise wait for ever).
    fn read_draining(&mut self) -> Option<std::io::Result<usize>> {
        use std::io::ErrorKind::WouldBlock;
        let Connection { stream, buf, .. } = self;
        let mut outcome = None;
        let _ = stream.try_io(Interest::READABLE, || {
            let spare = buf.spare_capacity_mut();
            let room = spare.len();
            match socket2::SockRef::from(&*stream).recv(spare) {
                Ok(n) => {
                    // SAFETY: recv initialised the first `n` bytes of the
                    // spare capacity.
                    unsafe { buf.set_len(buf.len() + n) };
                    outcome = Some(Ok(n));
                    if n > 0 && n < room { Err(WouldBlock.into()) } else { Ok(()) }
                }
                Err(e) if e.kind() == WouldBlock => Err(e),
                // Tried again by the caller, the readiness kept.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
                Err(e) => {
                    outcome = Some(Err(e));
                    Ok(())
                }
            }
        });
        outcome
    }

    /// The next request in the buffer, borrowed from it.
    fn next(&mut self, limits: &Limits) -> Next<'_> {
        let Connection { buf, out, pending, .. } = self;
        match parse_p2s(buf, limits) {
            Ok(None) => Next::Partial,
            Ok(Some((request, used))) => Next::Request { request, raw: &buf[..used], out, pending },
            Err(error) => Next::TooLarge { error, raw: buf },
        }
    }

    /// Drops a request that has been answered from the buffer.
    fn consume(&mut self, used: usize) {
        self.buf.advance(used);
    }

    /// Notes a request whose answer is now in `out`, for its duration.
    fn answered(&mut self, method: Method) {
        self.answered[method as usize] += 1;
    }

    /// After a read's requests are answered: a request left unfinished in
    /// the buffer keeps the time it began, or starts now.
    fn note_pending(&mut self, answered: bool) {
        let pending = self.buf.len() > leading_blank_len(&self.buf);
        self.started = match (pending, answered, self.started) {
            (false, _, _) => None,
            (true, true, _) | (true, false, None) => Some(Instant::now()),
            (true, false, Some(t)) => Some(t),
        };
    }

    /// Writes out what is pending. An answer that fits the socket's buffer
    /// goes at once; the rest waits for the peer, within `timeout`, unless
    /// the server is shutting down.
    async fn flush(&mut self, timeout: Duration, shutdown: &CancellationToken) -> Result<(), Ended> {
        let result = self.write_out(timeout, shutdown).await;
        if result.is_ok() {
            self.metrics.sent_bytes.increment(self.out.len() as u64);
            if let Some(read_at) = self.read_at {
                let took = read_at.elapsed();
                for (method, count) in [Method::Add, Method::Lookup, Method::List, Method::Other]
                    .into_iter()
                    .zip(self.answered)
                    .filter(|(_, n)| *n > 0)
                {
                    self.metrics.durations(method, took, count);
                }
            }
        }
        self.answered = [0; 4];
        self.out.clear();
        result
    }

    async fn write_out(&mut self, timeout: Duration, shutdown: &CancellationToken) -> Result<(), Ended> {
        let sent = match self.stream.try_write(&self.out) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(Ended::Io(e)),
        };
        if sent == self.out.len() {
            return Ok(());
        }
        let rest = &self.out[sent..];
        tokio::select! {
            r = tokio::time::timeout(timeout, self.stream.write_all(rest)) => match r {
                Ok(r) => r.map_err(Ended::Io),
                Err(_) => Err(Ended::WriteTimeout),
            },
            _ = shutdown.cancelled() => Err(Ended::Shutdown),
        }
    }
}

/// Answers one peer's requests.
struct Handler<S> {
    conn: ConnId,
    addr: SocketAddr,
    store: Arc<S>,
    config: Arc<ServerConfig>,
    metrics: &'static ServerMetrics,
    transcript: Transcript,
    /// How the transcript names this peer (empty when not printing).
    tag: Box<str>,
}

impl<S: IndexStore> Handler<S> {
    async fn run(self, stream: TcpStream, shutdown: CancellationToken) {
        debug!("connected");
        let guard = PeerGuard::new(self.store.clone(), self.conn);
        self.metrics.connections.increment(1);
        let _open = OpenConnection::new(self.metrics);
        let mut conn = Connection::new(stream, self.metrics);
        let ended = self.converse(&mut conn, &shutdown).await;
        self.metrics.closed(match &ended {
            Ended::Closed => Closed::Peer,
            Ended::Refused(_) => Closed::Limits,
            Ended::RequestTimeout => Closed::RequestTimeout,
            Ended::WriteTimeout => Closed::WriteTimeout,
            Ended::Shutdown => Closed::Shutdown,
            Ended::Io(_) => Closed::Error,
        });
        match &ended {
            Ended::Closed => debug!("closed by peer"),
            Ended::Refused(e) => debug!("400 and close: {e}"),
            Ended::RequestTimeout => info!(conn = %self.conn, addr = %self.addr,
                "request not finished within {:?}; closing", self.config.request_timeout),
            Ended::WriteTimeout => info!(conn = %self.conn, addr = %self.addr,
                "answer not taken within {:?}; closing", self.config.write_timeout),
            Ended::Shutdown => debug!("shutting down"),
            Ended::Io(e) => debug!("connection failed: {e}"),
        }
        // The peer's records go before a lingering close, so they never
        // outlive the conversation.
        let removed = guard.remove().await;
        info!(conn = %self.conn, addr = %self.addr, removed, "peer left");
        if let Ended::Refused(_) = ended {
            close_gracefully(conn.stream, self.config.linger).await;
        }
    }

    /// Reads and answers requests until the conversation ends.
    async fn converse(&self, conn: &mut Connection, shutdown: &CancellationToken) -> Ended {
        // Registered once, not once per wait.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            if let Err(ended) = conn.read(self.config.request_timeout, &mut cancelled).await {
                return ended;
            }
            let mut answered = false;
            loop {
                match conn.next(&self.config.limits) {
                    Next::Partial => break,
                    Next::Request { request, raw, out, pending } => {
                        let used = raw.len();
                        self.transcript.print("received from", &self.tag, raw).await;
                        let answer = self.answer(request, raw, out, pending).await;
                        conn.consume(used);
                        answered = true;
                        let method = match answer {
                            Answer::Done(method) => method,
                            Answer::List => {
                                if let Err(ended) = self.list(conn, shutdown).await {
                                    return ended;
                                }
                                self.metrics.request(Method::List, Status::Ok);
                                Method::List
                            }
                            Answer::Holders(rfc, cursor) => {
                                if let Err(ended) = self.holders(conn, rfc, cursor, shutdown).await {
                                    return ended;
                                }
                                Method::Lookup
                            }
                        };
                        conn.answered(method);
                    }
                    Next::TooLarge { error, raw } => {
                        self.transcript.print("received from", &self.tag, raw).await;
                        let method = Method::guess(raw);
                        self.metrics.request(method, Status::BadRequest);
                        answer_status(Status::BadRequest, &mut conn.out);
                        conn.answered(method);
                        return match self.flush(conn, shutdown).await {
                            Ok(()) => Ended::Refused(error),
                            Err(ended) => ended,
                        };
                    }
                }
                // Pipelined requests are answered together, but the answers
                // pending at once stay bounded: many LOOKUPs of a popular RFC
                // in one read would otherwise pile up here.
                if conn.out.len() >= FLUSH_AT
                    && let Err(ended) = self.flush(conn, shutdown).await
                {
                    return ended;
                }
            }
            if let Err(ended) = self.flush(conn, shutdown).await {
                return ended;
            }
            conn.note_pending(answered);
        }
    }

    /// Prints and writes what is pending.
    async fn flush(&self, conn: &mut Connection, shutdown: &CancellationToken) -> Result<(), Ended> {
        if !conn.pending.is_empty() {
            conn.pending.settle(&mut conn.out, self.metrics).await;
        }
        if conn.out.is_empty() {
            return Ok(());
        }
        self.transcript.print("sent to", &self.tag, &conn.out).await;
        conn.flush(self.config.write_timeout, shutdown).await
    }

    /// Answers ADD, LOOKUP and any rejection into `out`, counts it and
    /// says what is left to write: nothing, a LIST (the caller writes it a
    /// page at a time), or the rest of a LOOKUP whose first page is in
    /// `out`. An error status leaves the connection usable. An ADD that
    /// waits for a shared index joins `pending` (settled before `out` is
    /// written); any other request, and an ADD of an RFC waiting there,
    /// is answered once they are settled, as if each had been awaited.
    async fn answer(
        &self,
        request: Result<P2sRequestRef<'_>, RequestError>,
        raw: &[u8],
        out: &mut Vec<u8>,
        pending: &mut Pending,
    ) -> Answer {
        let independent = matches!(&request, Ok(r) if matches!(r.method, P2sMethodRef::Add { rfc, .. } if !pending.holds(rfc)));
        if !independent && !pending.is_empty() {
            pending.settle(out, self.metrics).await;
        }
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                debug!("400: {e}");
                let method = Method::guess(raw);
                self.metrics.request(method, e.status());
                answer_status(e.status(), out);
                return Answer::Done(method);
            }
        };
        match request.method {
            P2sMethodRef::Add { rfc, title } => {
                let at = out.len();
                encode_p2s_head(Status::Ok, out);
                let peer = request.peer;
                let new = NewRecord { conn: self.conn, host: peer.host, port: peer.port, rfc, title };
                match self.store.add_started(new, out) {
                    Ok(None) => {
                        encode_p2s_end(out);
                        self.metrics.request(Method::Add, Status::Ok);
                    }
                    Ok(Some(placed)) => {
                        encode_p2s_end(out);
                        pending.push(at, out.len(), rfc, placed);
                    }
                    Err(e) => {
                        debug!("400: {e}");
                        if let AddError::Cap(cap) = &e {
                            self.metrics.add_refused(cap);
                        }
                        out.truncate(at);
                        answer_status(Status::BadRequest, out);
                        self.metrics.request(Method::Add, Status::BadRequest);
                    }
                }
                Answer::Done(Method::Add)
            }
            // Reads register nothing: they are answered whatever Host and
            // Port they carry (PROTOCOL.md, Peer to server).
            P2sMethodRef::Lookup { rfc, .. } => {
                let at = out.len();
                encode_p2s_head(Status::Ok, out);
                let (found, more) = self.store.lookup_page(rfc, HolderCursor::START, PAGE_BYTES, out).await;
                let status = if found == 0 {
                    out.truncate(at);
                    encode_p2s_head(Status::NotFound, out);
                    Status::NotFound
                } else {
                    Status::Ok
                };
                self.metrics.request(Method::Lookup, status);
                if let Some(cursor) = more {
                    return Answer::Holders(rfc, cursor);
                }
                encode_p2s_end(out);
                Answer::Done(Method::Lookup)
            }
            P2sMethodRef::List => Answer::List,
        }
    }

    /// Writes the rest of a LOOKUP answer from `cursor`, a page at a time,
    /// flushing along the way.
    async fn holders(
        &self,
        conn: &mut Connection,
        rfc: RfcNumber,
        cursor: HolderCursor,
        shutdown: &CancellationToken,
    ) -> Result<(), Ended> {
        let mut cursor = Some(cursor);
        while let Some(c) = cursor {
            if conn.out.len() >= FLUSH_AT {
                self.flush(conn, shutdown).await?;
            }
            cursor = self.store.lookup_page(rfc, c, PAGE_BYTES, &mut conn.out).await.1;
        }
        encode_p2s_end(&mut conn.out);
        Ok(())
    }

    /// Writes a LIST answer a page at a time, flushing along the way.
    async fn list(&self, conn: &mut Connection, shutdown: &CancellationToken) -> Result<(), Ended> {
        encode_p2s_head(Status::Ok, &mut conn.out);
        let mut cursor = Some(Cursor::START);
        while let Some(c) = cursor {
            cursor = self.store.list_page(c, PAGE_BYTES, &mut conn.out).await;
            if conn.out.len() >= FLUSH_AT {
                self.flush(conn, shutdown).await?;
            }
        }
        encode_p2s_end(&mut conn.out);
        Ok(())
    }
}

/// What is left to write of an answer once [`Handler::answer`] is done.
enum Answer {
    /// Nothing: the whole answer is in the output.
    Done(Method),
    /// A LIST, all of it.
    List,
    /// The holders of a LOOKUP below the cursor, and its end.
    Holders(RfcNumber, HolderCursor),
}

/// Counts a connection as open for as long as it lives (a panicking task
/// included).
struct OpenConnection(&'static ServerMetrics);

impl OpenConnection {
    fn new(metrics: &'static ServerMetrics) -> Self {
        metrics.connections_open.increment(1.0);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.decrement(1.0);
    }
}

/// An answer with no records.
fn answer_status(status: Status, out: &mut Vec<u8>) {
    encode_p2s_head(status, out);
    encode_p2s_end(out);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
