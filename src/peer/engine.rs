//! The engine task: owns the long-lived index-server connection and the list
//! of local RFCs, and turns [`Command`]s into protocol exchanges.
//!
//! Requests go out one at a time and each answer is awaited before the next
//! (PROTOCOL.md, The system); that waiting happens here, never in a front
//! end. Downloads run in their own tasks and report back through an internal
//! channel, after which the engine ADDs what they fetched. When the server
//! connection drops, the engine says so, reconnects with backoff and
//! re-advertises everything it had advertised, without being asked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use super::download::{self, DownloadConfig};
use super::library::{self, LocalRfc};
use super::upload::{self, UploadConfig};
use super::{
    Command, Direction, DownloadEvent, DownloadId, Holder, Link, NetEvent, PeerError, Reply, Request,
    WireMessage,
};
use crate::protocol::response::P2sResponseDecoder;
use crate::protocol::{Limits, P2sMethod, P2sRequest, P2sResponse, PeerId, RfcNumber, Status};

/// Everything a peer needs to start.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The hostname this peer advertises.
    pub host: String,
    /// Where the upload server listens; port 0 picks a free one.
    pub upload_bind: SocketAddr,
    /// The index server, `HOST:PORT`.
    pub server: String,
    /// This peer's own RFC folder.
    pub dir: PathBuf,
    /// Where starting RFCs are copied from.
    pub rfc_dir: PathBuf,
    /// Starting RFCs.
    pub rfcs: Vec<RfcNumber>,
    /// The `OS` header value.
    pub os: String,
    pub limits: Limits,
    /// Longest wait for a server answer.
    pub request_timeout: Duration,
    /// Longest wait between reconnection attempts (the backoff's cap).
    pub max_backoff: Duration,
    /// A GET must arrive whole within this time.
    pub upload_request_timeout: Duration,
    pub upload_max_connections: usize,
    /// Longest an upload waits for the downloader to take more bytes.
    pub upload_send_timeout: Duration,
    /// Most record lines accepted in one server answer; a longer one (say, a
    /// LIST that never ends) is refused and the connection dropped.
    pub max_answer_records: usize,
    /// Most bytes accepted in one server answer, likewise.
    pub max_answer_bytes: usize,
    /// Capacity of the event channel to the front end.
    pub event_capacity: usize,
}

impl PeerConfig {
    pub fn new(host: impl Into<String>, server: impl Into<String>, dir: PathBuf) -> Self {
        PeerConfig {
            host: host.into(),
            upload_bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            server: server.into(),
            dir,
            rfc_dir: PathBuf::from("RFCs"),
            rfcs: Vec::new(),
            os: os_name(),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(5),
            upload_request_timeout: Duration::from_secs(10),
            upload_max_connections: 1024,
            upload_send_timeout: Duration::from_secs(30),
            max_answer_records: 1_000_000,
            max_answer_bytes: 256 * 1024 * 1024,
            event_capacity: 4096,
        }
    }
}

/// `Linux 6.1.0-18-amd64` and the like: the system and its release.
pub fn os_name() -> String {
    let sys = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    };
    match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(release) if !release.trim().is_empty() => format!("{sys} {}", release.trim()),
        _ => sys.to_owned(),
    }
}

/// A running peer, as its front end holds it.
pub struct Peer {
    commands: mpsc::UnboundedSender<Command>,
    /// The hostname it advertises.
    pub host: String,
    /// Where its upload server listens.
    pub upload_addr: SocketAddr,
    /// The index server it talks to.
    pub server: String,
    /// Its RFC folder.
    pub dir: PathBuf,
    /// The RFCs it held at start.
    pub library: Vec<LocalRfc>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Peer {
    /// Prepares the folder, starts the upload server and the engine. The
    /// server need not be up: the engine keeps trying and reports meanwhile.
    pub async fn start(config: PeerConfig) -> anyhow::Result<(Peer, mpsc::Receiver<NetEvent>)> {
        let (dir, src, rfcs) = (config.dir.clone(), config.rfc_dir.clone(), config.rfcs.clone());
        let lib = tokio::task::spawn_blocking(move || library::prepare(&dir, &src, &rfcs))
            .await
            .context("preparing the RFC folder")??;
        let listener = TcpListener::bind(config.upload_bind)
            .await
            .with_context(|| format!("starting the upload server on {}", config.upload_bind))?;
        let upload_addr = listener.local_addr()?;
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity);
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();

        let mut up = UploadConfig::new(config.dir.clone(), config.os.clone());
        up.limits = config.limits;
        up.request_timeout = config.upload_request_timeout;
        up.max_connections = config.upload_max_connections;
        up.send_timeout = config.upload_send_timeout;
        tasks.spawn(upload::run(listener, up, Some(events_tx.clone()), shutdown.clone()));

        let engine = Engine::new(&config, upload_addr.port(), lib.clone(), events_tx, shutdown.clone());
        tasks.spawn(engine.run(commands_rx));
        tasks.close();
        info!(host = %config.host, %upload_addr, "peer started");
        let peer = Peer {
            commands: commands_tx,
            host: config.host,
            upload_addr,
            server: config.server,
            dir: config.dir,
            library: lib,
            shutdown,
            tasks,
        };
        Ok((peer, events_rx))
    }

    /// Queues a command; never blocks. Fails only once the engine is gone.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// A sender for commands, for front ends that hand it to another task.
    pub fn commands(&self) -> mpsc::UnboundedSender<Command> {
        self.commands.clone()
    }

    /// Leaves: asks the engine to quit, then stops everything and waits (at
    /// most `grace`) for the tasks to end. Partial downloads are removed.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.commands.send(Command::Quit);
        // The engine closes the index connection first, then cancels the rest.
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            self.shutdown.cancel();
            let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        }
    }
}

/// The index connection: the socket, unread bytes and the response decoder
/// (kept here so a read dropped by `select!` loses nothing).
struct ServerConn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: P2sResponseDecoder,
}

struct Finished {
    id: DownloadId,
    rfc: RfcNumber,
    result: Option<LocalRfc>,
}

struct Engine {
    me: PeerId,
    server: String,
    request_timeout: Duration,
    max_backoff: Duration,
    limits: Limits,
    max_answer_records: usize,
    max_answer_bytes: usize,
    events: mpsc::Sender<NetEvent>,
    shutdown: CancellationToken,
    conn: Option<ServerConn>,
    /// When to try connecting next, while disconnected.
    retry_at: Instant,
    backoff: Duration,
    library: BTreeMap<RfcNumber, LocalRfc>,
    /// What was ADDed over this or an earlier connection: re-ADDed on reconnect.
    advertised: BTreeSet<RfcNumber>,
    downloads: JoinSet<()>,
    active: HashMap<RfcNumber, DownloadId>,
    next_download: u64,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    download_config: Arc<DownloadConfig>,
}

const MIN_BACKOFF: Duration = Duration::from_millis(200);

impl Engine {
    fn new(
        config: &PeerConfig,
        upload_port: u16,
        lib: Vec<LocalRfc>,
        events: mpsc::Sender<NetEvent>,
        shutdown: CancellationToken,
    ) -> Engine {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let mut dl = DownloadConfig::new(config.dir.clone(), config.host.clone(), config.os.clone());
        dl.limits = config.limits;
        Engine {
            me: PeerId { host: config.host.clone(), port: upload_port },
            server: config.server.clone(),
            request_timeout: config.request_timeout,
            max_backoff: config.max_backoff,
            limits: config.limits,
            max_answer_records: config.max_answer_records,
            max_answer_bytes: config.max_answer_bytes,
            events,
            shutdown,
            conn: None,
            retry_at: Instant::now(),
            backoff: MIN_BACKOFF,
            library: lib.into_iter().map(|l| (l.rfc, l)).collect(),
            advertised: BTreeSet::new(),
            downloads: JoinSet::new(),
            active: HashMap::new(),
            next_download: 1,
            finished_tx,
            finished_rx,
            download_config: Arc::new(dl),
        }
    }

    async fn emit(&self, ev: NetEvent) {
        let _ = self.events.send(ev).await;
    }

    async fn wire(&self, direction: Direction, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.emit(NetEvent::Wire(WireMessage { at: SystemTime::now(), direction, link: Link::Server, text }))
            .await;
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.connect().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Quit) => break,
                    Some(cmd) => self.on_command(cmd).await,
                },
                Some(done) = self.finished_rx.recv() => self.on_finished(done).await,
                // Between requests the server has nothing to say: bytes or EOF
                // here mean the connection is broken or closed.
                closed = watch(&mut self.conn) => {
                    self.drop_conn(closed).await;
                }
                _ = tokio::time::sleep_until(self.retry_at), if self.conn.is_none() => {
                    self.connect().await;
                }
                Some(_) = self.downloads.join_next(), if !self.downloads.is_empty() => {}
            }
        }
        // Leaving: close the index connection first (the server drops our
        // records at once), then stop uploads and downloads.
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.stream.shutdown().await;
        }
        self.downloads.abort_all();
        while self.downloads.join_next().await.is_some() {}
        self.shutdown.cancel();
        self.emit(NetEvent::Closed).await;
    }

    async fn connect(&mut self) {
        let attempt = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&self.server)).await;
        match attempt {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let decoder = P2sResponseDecoder::new(self.limits.max_line, self.max_answer_records);
                self.conn = Some(ServerConn { stream, buf: BytesMut::with_capacity(16 * 1024), decoder });
                self.backoff = MIN_BACKOFF;
                info!(server = %self.server, "connected");
                self.emit(NetEvent::Connected { server: self.server.clone() }).await;
                if !self.advertised.is_empty() {
                    let again: Vec<RfcNumber> = self.advertised.iter().copied().collect();
                    let n = again.len();
                    self.emit(NetEvent::Notice(format!("re-advertising {n} RFC(s) after reconnecting")))
                        .await;
                    let reply = self.advertise(&again).await;
                    self.emit(NetEvent::Reply(reply)).await;
                }
            }
            Ok(Err(e)) => self.schedule_retry(format!("cannot connect to {}: {e}", self.server)).await,
            Err(_) => self.schedule_retry(format!("cannot connect to {}: timed out", self.server)).await,
        }
    }

    async fn schedule_retry(&mut self, reason: String) {
        let wait = self.backoff;
        self.retry_at = Instant::now() + wait;
        self.backoff = (self.backoff * 2).min(self.max_backoff);
        debug!(%reason, ?wait, "index server unavailable");
        self.emit(NetEvent::Disconnected { reason, retry_in: Some(wait) }).await;
    }

    async fn drop_conn(&mut self, reason: String) {
        self.conn = None;
        self.backoff = MIN_BACKOFF;
        self.schedule_retry(reason).await;
    }

    /// Sends one request and waits for its answer. On any failure the
    /// connection is dropped (a reconnect is scheduled) and the reason given.
    async fn request(&mut self, method: P2sMethod) -> Result<P2sResponse, String> {
        let not_connected = || format!("not connected to the index server {}", self.server);
        if self.conn.is_none() {
            return Err(not_connected());
        }
        let mut out = Vec::new();
        P2sRequest { method, peer: self.me.clone() }.encode(&mut out);
        self.wire(Direction::Sent, &out).await;
        let Some(conn) = self.conn.as_mut() else { return Err(not_connected()) };
        let answer = exchange(conn, &out, self.max_answer_bytes);
        let failure = match tokio::time::timeout(self.request_timeout, answer).await {
            Ok(Ok((resp, raw))) => {
                self.wire(Direction::Received, &raw).await;
                return Ok(resp);
            }
            Ok(Err(e)) => e,
            Err(_) => format!("no answer from the index server within {:?}", self.request_timeout),
        };
        self.drop_conn(failure.clone()).await;
        Err(failure)
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Advertise => {
                let all: Vec<RfcNumber> = self.library.keys().copied().collect();
                if all.is_empty() {
                    self.emit(NetEvent::Notice("no local RFCs to advertise".into())).await;
                    return;
                }
                let reply = self.advertise(&all).await;
                self.emit(NetEvent::Reply(reply)).await;
            }
            Command::Lookup(rfc) => match self.request(P2sMethod::Lookup { rfc, title: None }).await {
                Ok(r) => {
                    self.emit(NetEvent::Reply(Reply::Lookup { rfc, status: r.status, records: r.records }))
                        .await
                }
                Err(e) => self.emit(NetEvent::Error(PeerError::about(Request::Lookup(rfc), e))).await,
            },
            Command::List => match self.request(P2sMethod::List).await {
                Ok(r) => {
                    self.emit(NetEvent::Reply(Reply::List { status: r.status, records: r.records })).await
                }
                Err(e) => self.emit(NetEvent::Error(PeerError::about(Request::List, e))).await,
            },
            Command::Download { rfc, from } => self.start_download(rfc, from).await,
            Command::Rescan { advertise_new } => self.rescan(advertise_new).await,
            Command::Unshare(rfc) => {
                let dir = self.download_config.dir.clone();
                match tokio::task::spawn_blocking(move || library::unshare(&dir, rfc)).await {
                    Ok(Ok(to)) => {
                        let msg = format!("RFC {rfc} is no longer shared (moved to {})", to.display());
                        self.emit(NetEvent::Notice(msg)).await;
                        self.rescan(false).await;
                    }
                    Ok(Err(e)) => self.emit(NetEvent::Error(e.to_string().as_str().into())).await,
                    Err(e) => self.emit(NetEvent::Error(e.to_string().as_str().into())).await,
                }
            }
            Command::Quit => {}
        }
    }

    /// ADDs each RFC in turn; those that fail are reported, not retried.
    async fn advertise(&mut self, rfcs: &[RfcNumber]) -> Reply {
        let mut added = Vec::new();
        let mut failed = Vec::new();
        for &rfc in rfcs {
            let Some(local) = self.library.get(&rfc) else { continue };
            let title = local.title.clone();
            match self.request(P2sMethod::Add { rfc, title }).await {
                Ok(r) if r.status == Status::Ok => {
                    self.advertised.insert(rfc);
                    added.extend(r.records);
                }
                Ok(r) => failed.push((rfc, r.status)),
                Err(e) => {
                    self.emit(NetEvent::Error(PeerError::about(Request::Add(rfc), e))).await;
                    // The connection is gone; the rest would fail the same way,
                    // and reconnecting re-advertises them.
                    self.advertised.extend(rfcs.iter().filter(|r| self.library.contains_key(r)));
                    break;
                }
            }
        }
        Reply::Advertised { added, failed }
    }

    async fn start_download(&mut self, rfc: RfcNumber, from: Option<Holder>) {
        if let Some(local) = self.library.get(&rfc) {
            let msg = format!("RFC {rfc} is already here: {}", local.path.display());
            self.emit(NetEvent::Notice(msg)).await;
            return;
        }
        if self.active.contains_key(&rfc) {
            self.emit(NetEvent::Notice(format!("RFC {rfc} is already being downloaded"))).await;
            return;
        }
        let mut holders: Vec<Holder> = from.into_iter().collect();
        match self.request(P2sMethod::Lookup { rfc, title: None }).await {
            Ok(r) => {
                self.emit(NetEvent::Reply(Reply::Lookup {
                    rfc,
                    status: r.status,
                    records: r.records.clone(),
                }))
                .await;
                for h in r.records.iter().map(Holder::from) {
                    if !holders.contains(&h) {
                        holders.push(h);
                    }
                }
            }
            Err(e) if !holders.is_empty() => {
                self.emit(NetEvent::Notice(format!(
                    "LOOKUP RFC {rfc} failed ({e}); trying the chosen holder"
                )))
                .await
            }
            Err(e) => {
                self.emit(NetEvent::Error(PeerError::about(Request::Lookup(rfc), e))).await;
                return;
            }
        }
        // Never download from ourselves.
        holders.retain(|h| !(h.host == self.me.host && h.port == self.me.port));
        let id = DownloadId(self.next_download);
        self.next_download += 1;
        if holders.is_empty() {
            let event = DownloadEvent::Failed { rfc, reason: "no other peer holds it".into() };
            self.emit(NetEvent::Download { id, event }).await;
            return;
        }
        self.active.insert(rfc, id);
        let (config, events, done) =
            (self.download_config.clone(), self.events.clone(), self.finished_tx.clone());
        self.downloads.spawn(async move {
            let result = download::run(id, rfc, holders, &config, &events).await;
            let _ = done.send(Finished { id, rfc, result });
        });
    }

    /// Reads the folder again. New RFC files are listed (and ADDed when
    /// `advertise_new`). Removed ones stop being listed; if any of them was
    /// advertised, the index connection is closed and opened again, which
    /// drops every record of this peer on the server, and the rest are ADDed
    /// anew: P2P-CI has no message that removes one record.
    async fn rescan(&mut self, advertise_new: bool) {
        let dir = self.download_config.dir.clone();
        let list = match tokio::task::spawn_blocking(move || library::scan(&dir)).await {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => return self.emit(NetEvent::Error(e.to_string().as_str().into())).await,
            Err(e) => return self.emit(NetEvent::Error(e.to_string().as_str().into())).await,
        };
        let new: Vec<RfcNumber> =
            list.iter().map(|l| l.rfc).filter(|r| !self.library.contains_key(r)).collect();
        let gone: Vec<RfcNumber> =
            self.library.keys().copied().filter(|r| !list.iter().any(|l| l.rfc == *r)).collect();
        if new.is_empty() && gone.is_empty() {
            return;
        }
        self.library = list.into_iter().map(|l| (l.rfc, l)).collect();
        self.emit(NetEvent::Library(self.library.values().cloned().collect())).await;
        let withdrawn: Vec<RfcNumber> = gone.into_iter().filter(|r| self.advertised.remove(r)).collect();
        if !withdrawn.is_empty()
            && let Some(mut conn) = self.conn.take()
        {
            let names: Vec<String> = withdrawn.iter().map(|r| r.to_string()).collect();
            let rest = match self.advertised.len() {
                0 => "nothing else to re-advertise".to_owned(),
                n => format!("then re-advertising the other {n}"),
            };
            let msg = format!("withdrawing RFC {} from the index: reconnecting, {rest}", names.join(", "));
            self.emit(NetEvent::Notice(msg)).await;
            let _ = conn.stream.shutdown().await;
            // connect() ADDs everything still advertised.
            self.connect().await;
        }
        if advertise_new && !new.is_empty() {
            let reply = self.advertise(&new).await;
            self.emit(NetEvent::Reply(reply)).await;
        }
    }

    async fn on_finished(&mut self, done: Finished) {
        if self.active.get(&done.rfc) == Some(&done.id) {
            self.active.remove(&done.rfc);
        }
        let Some(local) = done.result else { return };
        let (rfc, title) = (local.rfc, local.title.clone());
        self.library.insert(rfc, local);
        self.emit(NetEvent::Library(self.library.values().cloned().collect())).await;
        self.advertised.insert(rfc);
        match self.request(P2sMethod::Add { rfc, title }).await {
            Ok(r) => {
                let (added, failed) = if r.status == Status::Ok {
                    (r.records, vec![])
                } else {
                    (vec![], vec![(rfc, r.status)])
                };
                self.emit(NetEvent::Reply(Reply::Advertised { added, failed })).await;
            }
            Err(e) => self.emit(NetEvent::Error(PeerError::about(Request::Add(rfc), e))).await,
        }
    }
}

/// Resolves when the idle connection reports EOF, an error or stray bytes;
/// pending forever while there is no connection.
async fn watch(conn: &mut Option<ServerConn>) -> String {
    let Some(conn) = conn.as_mut() else {
        return std::future::pending().await;
    };
    // read_buf is cancel-safe: a dropped read has consumed nothing.
    match conn.stream.read_buf(&mut conn.buf).await {
        Ok(0) => "the index server closed the connection".into(),
        Ok(_) => "the index server sent data nobody asked for".into(),
        Err(e) => format!("lost the index server: {e}"),
    }
}

/// Writes one request and reads exactly one response of at most
/// `max_bytes`; returns it and its raw bytes (for the log).
async fn exchange(
    conn: &mut ServerConn,
    request: &[u8],
    max_bytes: usize,
) -> Result<(P2sResponse, Vec<u8>), String> {
    conn.stream.write_all(request).await.map_err(|e| format!("lost the index server: {e}"))?;
    let mut raw = Vec::new();
    loop {
        let (used, resp) =
            conn.decoder.decode(&conn.buf).map_err(|e| format!("bad answer from the index server: {e}"))?;
        raw.extend_from_slice(&conn.buf[..used]);
        let _ = conn.buf.split_to(used);
        if let Some(resp) = resp {
            return Ok((resp, raw));
        }
        if raw.len() > max_bytes {
            return Err(format!("bad answer from the index server: longer than {max_bytes} bytes"));
        }
        match conn.stream.read_buf(&mut conn.buf).await {
            Ok(0) => return Err("the index server closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("lost the index server: {e}")),
        }
    }
}
