//! Prometheus metrics: the exporter, and the handles the server and the peer
//! count through.
//!
//! Counting goes through the `metrics` facade, rendered by
//! `metrics-exporter-prometheus` (the shared Redis store records through the
//! same facade). Two rules keep counting out of the benchmarks:
//!
//! * **No registry look-ups on the hot path.** Every series the server and
//!   the peer touch is resolved once, into [`ServerMetrics`] and
//!   [`PeerMetrics`] (statics, built on first use), so counting a request is
//!   an atomic add through a handle that is already there.
//! * **Off means off.** Without `--metrics` no recorder is installed: the
//!   handles are the facade's no-op handles (one branch each), and
//!   [`enabled`] is false, which the server checks before it reads a clock.
//!
//! The handles are resolved against the recorder installed when they are
//! first used, so [`start`] must run before the server or peer starts.
//!
//! Gauges that describe state held elsewhere (peers and records in the
//! store, the transcript's backlog) are read when Prometheus scrapes, by the
//! collectors registered with [`on_scrape`], rather than kept up to date on
//! every request. `/metrics` is served by a small HTTP/1.1 responder on the
//! process's own runtime: one GET, one answer, then close.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::index::CapExceeded;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::accept::{Caps, accept_loop};
use crate::protocol::Status;

/// Why metrics could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot install the metrics recorder")]
    Install(#[from] metrics_exporter_prometheus::BuildError),
}

/// The installed exporter's handle, once [`start`] has run.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether metrics are being recorded (a recorder was installed by [`start`]).
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// How often histogram samples are folded into their buckets. The exporter
/// keeps every sample until then, so at hundreds of thousands of requests a
/// second this bounds that memory to about a second's worth.
const UPKEEP: Duration = Duration::from_secs(1);
/// A scrape request must arrive whole within this time.
const SCRAPE_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and its answer be taken within this time.
const SCRAPE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest scrape request head read.
const SCRAPE_HEAD_MAX: usize = 8 * 1024;
/// Scrapes served at once.
const SCRAPE_CONNECTIONS: usize = 16;

/// Request durations: from tens of microseconds (a LOOKUP in memory) to
/// seconds (a huge LIST to a slow peer).
const REQUEST_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Store round trips: a Redis call on a LAN.
const STORE_BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Downloads: an RFC on loopback to a large file over a slow link.
const DOWNLOAD_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Every series' name, once: what is described is what is recorded.
pub mod name {
    pub const ADDS_REFUSED_TOTAL: &str = "p2pci_adds_refused_total";
    pub const PEER_DOWNLOAD_DURATION_SECONDS: &str = "p2pci_peer_download_duration_seconds";
    pub const PEER_DOWNLOAD_HOLDER_FAILURES_TOTAL: &str = "p2pci_peer_download_holder_failures_total";
    pub const PEER_DOWNLOADED_BYTES_TOTAL: &str = "p2pci_peer_downloaded_bytes_total";
    pub const PEER_DOWNLOADS_TOTAL: &str = "p2pci_peer_downloads_total";
    pub const PEER_INDEX_RECONNECTS_TOTAL: &str = "p2pci_peer_index_reconnects_total";
    pub const PEER_INDEX_UP: &str = "p2pci_peer_index_up";
    pub const PEER_UPLOADED_BYTES_TOTAL: &str = "p2pci_peer_uploaded_bytes_total";
    pub const PEER_UPLOADS_REFUSED_TOTAL: &str = "p2pci_peer_uploads_refused_total";
    pub const PEER_UPLOADS_TOTAL: &str = "p2pci_peer_uploads_total";
    pub const SERVER_CONNECTIONS_CLOSED_TOTAL: &str = "p2pci_server_connections_closed_total";
    pub const SERVER_CONNECTIONS_OPEN: &str = "p2pci_server_connections_open";
    pub const SERVER_CONNECTIONS_REFUSED_TOTAL: &str = "p2pci_server_connections_refused_total";
    pub const SERVER_CONNECTIONS_TOTAL: &str = "p2pci_server_connections_total";
    pub const SERVER_PEERS: &str = "p2pci_server_peers";
    pub const SERVER_RECEIVED_BYTES_TOTAL: &str = "p2pci_server_received_bytes_total";
    pub const SERVER_RECORDS: &str = "p2pci_server_records";
    pub const SERVER_REQUEST_DURATION_SECONDS: &str = "p2pci_server_request_duration_seconds";
    pub const SERVER_REQUESTS_TOTAL: &str = "p2pci_server_requests_total";
    pub const SERVER_SENT_BYTES_TOTAL: &str = "p2pci_server_sent_bytes_total";
    pub const SERVER_TRANSCRIPT_LAG_SECONDS: &str = "p2pci_server_transcript_lag_seconds";
    pub const SERVER_TRANSCRIPT_PENDING_BYTES: &str = "p2pci_server_transcript_pending_bytes";
    pub const SERVER_TRANSCRIPT_WAITS_TOTAL: &str = "p2pci_server_transcript_waits_total";
    pub const STORE_LEASE_EXPIRIES_TOTAL: &str = "p2pci_store_lease_expiries_total";
    pub const STORE_LEASE_RENEWALS_TOTAL: &str = "p2pci_store_lease_renewals_total";
    pub const STORE_REPAIRS_TOTAL: &str = "p2pci_store_repairs_total";
    pub const STORE_ROUNDTRIP_SECONDS: &str = "p2pci_store_roundtrip_seconds";
    pub const STORE_STALENESS_SECONDS: &str = "p2pci_store_staleness_seconds";
    pub const STORE_UP: &str = "p2pci_store_up";
}

/// Installs the Prometheus recorder for the whole process and serves
/// `/metrics` on `addr` until `shutdown`. Returns the address bound (useful
/// with port 0). Call it before the server or peer starts.
pub async fn start(addr: SocketAddr, shutdown: CancellationToken) -> Result<SocketAddr, MetricsError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| MetricsError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| MetricsError::Bind { addr, source })?;
    let handle = PrometheusBuilder::new()
        // Every histogram is a real Prometheus histogram (aggregatable
        // across servers), never a client-side summary.
        .set_buckets(REQUEST_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(name::STORE_ROUNDTRIP_SECONDS.into()), STORE_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(name::PEER_DOWNLOAD_DURATION_SECONDS.into()), DOWNLOAD_BUCKETS)?
        .install_recorder()?;
    describe();
    let handle = HANDLE.get_or_init(|| handle).clone();
    // Folding samples in costs time in proportion to the traffic: it runs on
    // a thread of its own, never on the event loop that serves peers.
    let upkeep = handle.clone();
    let stop = shutdown.clone();
    let _ = std::thread::Builder::new().name("p2pci-metrics".into()).spawn(move || {
        while !stop.is_cancelled() {
            std::thread::sleep(UPKEEP);
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(serve(listener, handle, shutdown));
    Ok(bound)
}

/// A function run before each scrape, to set gauges from state held
/// elsewhere. Dropping the returned guard unregisters it.
pub fn on_scrape(collect: impl Fn() + Send + Sync + 'static) -> Collector {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    collectors().push((id, Arc::new(collect)));
    Collector(id)
}

/// Keeps a scrape-time collector registered; see [`on_scrape`].
#[must_use = "the collector is unregistered when this is dropped"]
pub struct Collector(u64);

impl Drop for Collector {
    fn drop(&mut self) {
        collectors().retain(|(id, _)| *id != self.0);
    }
}

type Collect = Arc<dyn Fn() + Send + Sync>;

fn collectors() -> std::sync::MutexGuard<'static, Vec<(u64, Collect)>> {
    static COLLECTORS: Mutex<Vec<(u64, Collect)>> = Mutex::new(Vec::new());
    COLLECTORS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the collectors, then renders every series.
fn render(handle: &PrometheusHandle) -> String {
    // Cloned out so a collector never runs under the registry's lock.
    let now: Vec<Collect> = collectors().iter().map(|(_, c)| c.clone()).collect();
    for collect in now {
        collect();
    }
    handle.render()
}

async fn serve(listener: TcpListener, handle: PrometheusHandle, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    let refused = Counter::noop();
    accept_loop(
        &listener,
        Caps::total(SCRAPE_CONNECTIONS),
        &shutdown,
        &tracker,
        "metrics",
        &refused,
        |stream, addr| {
            let handle = handle.clone();
            async move {
                if let Err(e) = answer_scrape(stream, &handle).await {
                    debug!(%addr, "metrics request: {e}");
                }
            }
        },
    )
    .await;
    tracker.close();
}

/// One HTTP exchange: `GET /metrics` is answered with the exposition, any
/// other path 404, any other method 405; then the connection is closed.
async fn answer_scrape(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let read = async {
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            if head.len() > SCRAPE_HEAD_MAX {
                return Err(std::io::Error::other("request head too large"));
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    };
    let response = match tokio::time::timeout(SCRAPE_REQUEST_TIMEOUT, read).await {
        Ok(Ok(())) => respond(&head, handle),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
        Ok(Err(_)) => {
            http_answer("431 Request Header Fields Too Large", "text/plain", b"request too large\n")
        }
        Err(_) => return Ok(()),
    };
    match tokio::time::timeout(SCRAPE_WRITE_TIMEOUT, stream.write_all(&response)).await {
        Ok(r) => r?,
        Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
    }
    stream.shutdown().await
}

/// The answer to one request head: `/metrics`, `/healthz` (the process
/// answers) and `/readyz` (it serves: see [`set_readiness`]), by GET or
/// HEAD.
fn respond(head: &[u8], handle: &PrometheusHandle) -> Vec<u8> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if !matches!(method, "GET" | "HEAD") {
        return http_answer(
            "405 Method Not Allowed",
            "text/plain",
            b"use GET /metrics, /healthz or /readyz\n",
        );
    }
    let body;
    let (status, content_type, text): (_, _, &[u8]) = match path {
        "/metrics" => {
            body = render(handle);
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body.as_bytes())
        }
        "/healthz" => ("200 OK", "text/plain", b"ok\n"),
        "/readyz" => match readiness() {
            Ok(()) => ("200 OK", "text/plain", b"ready\n"),
            Err(why) => {
                body = format!("not ready: {why}\n");
                ("503 Service Unavailable", "text/plain", body.as_bytes())
            }
        },
        _ => ("404 Not Found", "text/plain", b"this serves /metrics, /healthz and /readyz\n"),
    };
    let mut out = http_answer(status, content_type, text);
    if method == "HEAD" {
        out.truncate(out.len() - text.len());
    }
    out
}

/// What `/readyz` asks: `Ok` when the process serves, else why not.
type ReadyCheck = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

fn ready_check() -> std::sync::MutexGuard<'static, Option<ReadyCheck>> {
    static CHECK: Mutex<Option<ReadyCheck>> = Mutex::new(None);
    CHECK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes `/readyz` answer by `check` (`Ok`: 200; `Err(why)`: 503 and why).
/// Until it is set the process is starting (the index is not loaded yet)
/// and `/readyz` answers 503, so a load balancer sends no peer to a
/// server that would not serve it.
pub fn set_readiness(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) {
    *ready_check() = Some(Box::new(check));
}

fn readiness() -> Result<(), String> {
    match &*ready_check() {
        Some(check) => check(),
        None => Err("starting: the index is not loaded yet".into()),
    }
}

fn http_answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The HELP text and unit of every series this crate records, including the
/// shared store's.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(name::SERVER_PEERS, "Peers registered in the index (connections that have ADDed).");
    describe_gauge!(name::SERVER_RECORDS, "Records in the index.");
    describe_gauge!(name::SERVER_CONNECTIONS_OPEN, "Peer connections open now.");
    describe_counter!(name::SERVER_CONNECTIONS_TOTAL, "Peer connections accepted.");
    describe_counter!(
        name::SERVER_CONNECTIONS_REFUSED_TOTAL,
        "Connections closed on arrival because --max-connections were already open."
    );
    describe_counter!(
        name::SERVER_CONNECTIONS_CLOSED_TOTAL,
        "Peer connections ended, by reason: peer (closed by the peer), limits (a request broke the size \
         limits), request_timeout, write_timeout, error, shutdown."
    );
    describe_counter!(name::SERVER_REQUESTS_TOTAL, "Requests answered, by method and status.");
    describe_counter!(
        name::ADDS_REFUSED_TOTAL,
        "ADDs answered 400 because of a cap, by reason: records_per_peer (--max-records-per-peer), \
         index_memory (--max-index-memory, the whole index's budget)."
    );
    describe_histogram!(
        name::SERVER_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from reading a whole request to handing its answer to the socket, by method."
    );
    describe_counter!(name::SERVER_RECEIVED_BYTES_TOTAL, Unit::Bytes, "Bytes read from peers.");
    describe_counter!(name::SERVER_SENT_BYTES_TOTAL, Unit::Bytes, "Bytes written to peers.");
    describe_gauge!(
        name::SERVER_TRANSCRIPT_PENDING_BYTES,
        Unit::Bytes,
        "Transcript bytes not yet written to standard output."
    );
    describe_gauge!(
        name::SERVER_TRANSCRIPT_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest transcript message not yet written to standard output (0 when caught up)."
    );
    describe_counter!(
        name::SERVER_TRANSCRIPT_WAITS_TOTAL,
        "Times a connection waited for a transcript that had fallen too far behind."
    );
    describe_counter!(
        name::PEER_UPLOADS_TOTAL,
        "GET requests this peer's upload server answered, by status."
    );
    describe_counter!(
        name::PEER_UPLOADS_REFUSED_TOTAL,
        "Upload connections closed on arrival because the upload server was full."
    );
    describe_counter!(name::PEER_UPLOADED_BYTES_TOTAL, Unit::Bytes, "File bytes uploaded to other peers.");
    describe_counter!(
        name::PEER_DOWNLOADS_TOTAL,
        "Downloads finished, by outcome: done, failed (every holder failed), no_holder."
    );
    describe_histogram!(
        name::PEER_DOWNLOAD_DURATION_SECONDS,
        Unit::Seconds,
        "Time a download took, from the first GET to the file in place or the last holder failing, by outcome."
    );
    describe_counter!(name::PEER_DOWNLOADED_BYTES_TOTAL, Unit::Bytes, "File bytes of completed downloads.");
    describe_counter!(
        name::PEER_DOWNLOAD_HOLDER_FAILURES_TOTAL,
        "Holders that failed to deliver a file (another may have been tried next)."
    );
    describe_gauge!(name::PEER_INDEX_UP, "1 while the connection to the index server is up.");
    describe_counter!(
        name::PEER_INDEX_RECONNECTS_TOTAL,
        "Times the peer connected to the index server again after losing it."
    );
    describe_histogram!(
        name::STORE_ROUNDTRIP_SECONDS,
        Unit::Seconds,
        "Round-trip time of the shared store's calls, by operation."
    );
    describe_counter!(name::STORE_LEASE_RENEWALS_TOTAL, "Peer leases renewed in the shared store.");
    describe_counter!(
        name::STORE_LEASE_EXPIRIES_TOTAL,
        "Expired leases of peers (of servers that died) whose records this server removed."
    );
    describe_counter!(
        name::STORE_REPAIRS_TOTAL,
        "Times this server re-wrote its peers' records after the store lost them (a Redis restart)."
    );
    describe_gauge!(name::STORE_UP, "1 while the shared store answers.");
    describe_gauge!(
        name::STORE_STALENESS_SECONDS,
        Unit::Seconds,
        "Age of the local view of the shared store."
    );
}

/// A P2S method, as labelled; `other` is a request whose method was not
/// understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Add = 0,
    Lookup = 1,
    List = 2,
    Other = 3,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Add, Method::Lookup, Method::List, Method::Other];

    /// Its label.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Add => "ADD",
            Method::Lookup => "LOOKUP",
            Method::List => "LIST",
            Method::Other => "other",
        }
    }

    /// The method a request that could not be parsed was probably meant to
    /// be, from its first word.
    pub fn guess(raw: &[u8]) -> Method {
        let raw = &raw[crate::protocol::head::leading_blank_len(raw)..];
        if raw.starts_with(b"ADD ") {
            Method::Add
        } else if raw.starts_with(b"LOOKUP ") {
            Method::Lookup
        } else if raw.starts_with(b"LIST ") {
            Method::List
        } else {
            Method::Other
        }
    }
}

fn status_index(status: Status) -> usize {
    match status {
        Status::Ok => 0,
        Status::BadRequest => 1,
        Status::NotFound => 2,
        Status::VersionNotSupported => 3,
    }
}

/// Why a peer connection ended, as labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Peer = 0,
    Limits = 1,
    RequestTimeout = 2,
    WriteTimeout = 3,
    Error = 4,
    Shutdown = 5,
}

impl Closed {
    pub const ALL: [Closed; 6] = [
        Closed::Peer,
        Closed::Limits,
        Closed::RequestTimeout,
        Closed::WriteTimeout,
        Closed::Error,
        Closed::Shutdown,
    ];

    /// Its label.
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Peer => "peer",
            Closed::Limits => "limits",
            Closed::RequestTimeout => "request_timeout",
            Closed::WriteTimeout => "write_timeout",
            Closed::Error => "error",
            Closed::Shutdown => "shutdown",
        }
    }
}

/// The index server's series, resolved once.
pub struct ServerMetrics {
    /// Whether anything is recorded: checked before reading a clock.
    pub enabled: bool,
    requests: [[Counter; 4]; 4],
    durations: [Histogram; 4],
    pub received_bytes: Counter,
    pub sent_bytes: Counter,
    pub connections: Counter,
    pub connections_open: Gauge,
    pub connections_refused: Counter,
    closed: [Counter; 6],
    adds_refused: [Counter; 2],
    pub peers: Gauge,
    pub records: Gauge,
    pub transcript_pending: Gauge,
    pub transcript_lag: Gauge,
    pub transcript_waits: Counter,
}

impl ServerMetrics {
    fn resolve() -> ServerMetrics {
        use metrics::{counter, gauge, histogram};
        ServerMetrics {
            enabled: enabled(),
            requests: Method::ALL.map(|m| {
                Status::ALL.map(|s| {
                    counter!(name::SERVER_REQUESTS_TOTAL, "method" => m.as_str(), "status" => status_label(s))
                })
            }),
            durations: Method::ALL
                .map(|m| histogram!(name::SERVER_REQUEST_DURATION_SECONDS, "method" => m.as_str())),
            received_bytes: counter!(name::SERVER_RECEIVED_BYTES_TOTAL),
            sent_bytes: counter!(name::SERVER_SENT_BYTES_TOTAL),
            connections: counter!(name::SERVER_CONNECTIONS_TOTAL),
            connections_open: gauge!(name::SERVER_CONNECTIONS_OPEN),
            connections_refused: counter!(name::SERVER_CONNECTIONS_REFUSED_TOTAL),
            closed: Closed::ALL
                .map(|c| counter!(name::SERVER_CONNECTIONS_CLOSED_TOTAL, "reason" => c.as_str())),
            adds_refused: CapExceeded::REASONS.map(|r| counter!(name::ADDS_REFUSED_TOTAL, "reason" => r)),
            peers: gauge!(name::SERVER_PEERS),
            records: gauge!(name::SERVER_RECORDS),
            transcript_pending: gauge!(name::SERVER_TRANSCRIPT_PENDING_BYTES),
            transcript_lag: gauge!(name::SERVER_TRANSCRIPT_LAG_SECONDS),
            transcript_waits: counter!(name::SERVER_TRANSCRIPT_WAITS_TOTAL),
        }
    }

    /// One request answered.
    #[inline]
    pub fn request(&self, method: Method, status: Status) {
        self.requests[method as usize][status_index(status)].increment(1);
    }

    /// `count` requests of `method` whose answers took `took`.
    #[inline]
    pub fn durations(&self, method: Method, took: Duration, count: u32) {
        self.durations[method as usize].record_many(took.as_secs_f64(), count as usize);
    }

    pub fn closed(&self, why: Closed) {
        self.closed[why as usize].increment(1);
    }

    /// An ADD refused by `cap`.
    pub fn add_refused(&self, cap: &CapExceeded) {
        self.adds_refused[cap.index()].increment(1);
    }
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Ok => "200",
        Status::BadRequest => "400",
        Status::NotFound => "404",
        Status::VersionNotSupported => "505",
    }
}

/// The index server's series (resolved on first use).
pub fn server() -> &'static ServerMetrics {
    static SERVER: LazyLock<ServerMetrics> = LazyLock::new(ServerMetrics::resolve);
    &SERVER
}

/// How a download ended, as labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The file is in place.
    Done = 0,
    /// Every holder failed.
    Failed = 1,
    /// No other peer holds it; nothing was tried.
    NoHolder = 2,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Done, Outcome::Failed, Outcome::NoHolder];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::NoHolder => "no_holder",
        }
    }
}

/// The peer's series, resolved once.
pub struct PeerMetrics {
    uploads: [Counter; 4],
    pub uploads_refused: Counter,
    uploaded_bytes: Counter,
    downloads: [Counter; 3],
    /// For `done` and `failed`: nothing is timed without a holder.
    download_durations: [Histogram; 2],
    downloaded_bytes: Counter,
    holder_failures: Counter,
    index_up: Gauge,
    reconnects: Counter,
    /// The index server was reached once: the next connection is a reconnect.
    /// (A process runs one peer.)
    connected_once: AtomicBool,
}

impl PeerMetrics {
    fn resolve() -> PeerMetrics {
        use metrics::{counter, gauge, histogram};
        PeerMetrics {
            uploads: Status::ALL.map(|s| counter!(name::PEER_UPLOADS_TOTAL, "status" => status_label(s))),
            uploads_refused: counter!(name::PEER_UPLOADS_REFUSED_TOTAL),
            uploaded_bytes: counter!(name::PEER_UPLOADED_BYTES_TOTAL),
            downloads: Outcome::ALL.map(|o| counter!(name::PEER_DOWNLOADS_TOTAL, "outcome" => o.as_str())),
            download_durations: [Outcome::Done, Outcome::Failed]
                .map(|o| histogram!(name::PEER_DOWNLOAD_DURATION_SECONDS, "outcome" => o.as_str())),
            downloaded_bytes: counter!(name::PEER_DOWNLOADED_BYTES_TOTAL),
            holder_failures: counter!(name::PEER_DOWNLOAD_HOLDER_FAILURES_TOTAL),
            index_up: gauge!(name::PEER_INDEX_UP),
            reconnects: counter!(name::PEER_INDEX_RECONNECTS_TOTAL),
            connected_once: AtomicBool::new(false),
        }
    }

    /// The upload server answered a GET with `status`, sending `bytes` of file.
    pub fn uploaded(&self, status: Status, bytes: u64) {
        self.uploads[status_index(status)].increment(1);
        self.uploaded_bytes.increment(bytes);
    }

    /// A download is complete: `bytes` in `took`, from its first GET.
    pub fn download_done(&self, bytes: u64, took: Duration) {
        self.downloads[Outcome::Done as usize].increment(1);
        self.download_durations[Outcome::Done as usize].record(took.as_secs_f64());
        self.downloaded_bytes.increment(bytes);
    }

    /// Every holder of a download failed, after `took`.
    pub fn download_failed(&self, took: Duration) {
        self.downloads[Outcome::Failed as usize].increment(1);
        self.download_durations[Outcome::Failed as usize].record(took.as_secs_f64());
    }

    /// A download was asked for that no other peer could serve.
    pub fn no_holder(&self) {
        self.downloads[Outcome::NoHolder as usize].increment(1);
    }

    /// One holder failed to deliver.
    pub fn holder_failed(&self) {
        self.holder_failures.increment(1);
    }

    /// The index connection is up.
    pub fn index_connected(&self) {
        if self.connected_once.swap(true, Ordering::Relaxed) {
            self.reconnects.increment(1);
        }
        self.index_up.set(1.0);
    }

    /// The index connection is down (lost, or an attempt failed).
    pub fn index_down(&self) {
        self.index_up.set(0.0);
    }
}

/// The peer's series (resolved on first use).
pub fn peer() -> &'static PeerMetrics {
    static PEER: LazyLock<PeerMetrics> = LazyLock::new(PeerMetrics::resolve);
    &PEER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_the_method_of_a_bad_request() {
        assert_eq!(Method::guess(b"ADD RFC x P2P-CI/1.0\r\n"), Method::Add);
        assert_eq!(Method::guess(b"\r\nLOOKUP RFC 1 P2P-CI/2.0\r\n"), Method::Lookup);
        assert_eq!(Method::guess(b"LIST ALL"), Method::List);
        assert_eq!(Method::guess(b"GET / HTTP/1.1"), Method::Other);
        assert_eq!(Method::guess(b""), Method::Other);
    }

    #[test]
    fn answers_metrics_health_and_readiness() {
        let handle = PrometheusBuilder::new().build_recorder().handle();
        let get = |head: &str| String::from_utf8(respond(head.as_bytes(), &handle)).unwrap();
        let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(get("GET /metrics?x=1 HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200 OK\r\n"));
        let head = get("HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(get("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        assert!(get("\x16\x03\x01").starts_with("HTTP/1.1 405 "));
        let health = get("GET /healthz HTTP/1.1\r\n\r\n");
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("\r\n\r\nok\n"), "{health}");
        // Not ready until told how; then as the check says, with its reason.
        let starting = get("GET /readyz HTTP/1.1\r\n\r\n");
        assert!(
            starting.starts_with("HTTP/1.1 503 ")
                && starting.ends_with("not ready: starting: the index is not loaded yet\n"),
            "{starting}"
        );
        let up = Arc::new(AtomicBool::new(false));
        let seen = up.clone();
        set_readiness(move || {
            if seen.load(Ordering::Relaxed) { Ok(()) } else { Err("the store does not answer".into()) }
        });
        assert!(
            get("GET /readyz HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nnot ready: the store does not answer\n")
        );
        up.store(true, Ordering::Relaxed);
        let ready = get("GET /readyz HTTP/1.1\r\n\r\n");
        assert!(ready.starts_with("HTTP/1.1 200 OK\r\n") && ready.ends_with("\r\n\r\nready\n"), "{ready}");
        let head = get("HEAD /readyz HTTP/1.1\r\n\r\n");
        assert!(head.ends_with("Content-Length: 6\r\nConnection: close\r\n\r\n"), "{head}");
    }

    #[test]
    fn nothing_is_recorded_without_start() {
        // No recorder is installed in unit tests: the handles are no-ops.
        assert!(!enabled());
        let s = server();
        assert!(!s.enabled);
        s.request(Method::Add, Status::Ok);
        peer().uploaded(Status::Ok, 10);
    }
}
