//! The engine task: owns the list of local RFCs and the downloads, and turns
//! [`Command`]s into work.
//!
//! It never waits on the network. Requests to the index server go to the
//! [`conversation`] task, which owns that connection
//! and sends their answers back here as messages; downloads run in their
//! own tasks and report back the same way, after which the engine ADDs what
//! they fetched. So a command (Quit above all) is taken at once, whatever
//! the server is doing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use super::conversation::{self, Answer, Conversation, Job, Purpose};
use super::download::{self, DownloadConfig};
use super::library::{self, LibraryError, LocalRfc};
use super::upload::{self, UploadConfig};
use super::{AdvertiseCause, Command, DownloadEvent, DownloadId, Holder, IndexError, NetEvent, PeerError};
use super::{Reply, Request, Withdrawal};
use crate::protocol::{Limits, P2sResponse, PeerId, Record, RfcNumber};

/// Everything a peer needs to start.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The hostname this peer advertises.
    pub host: String,
    /// Where the upload server listens; port 0 picks a free one.
    pub upload_bind: SocketAddr,
    /// The index servers, `HOST:PORT` each, in order of preference: the
    /// first that answers is used, and when its connection is lost the next
    /// one is tried (round robin). Never empty.
    pub servers: Vec<String>,
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
    /// How long the server must stay quiet before an answer lacking its
    /// final empty line is used as it stands (docs/PROTOCOL.md,
    /// Interoperability); also how long a bad answer's rest is skipped.
    pub answer_grace: Duration,
    /// Longest wait for the server's name to resolve and for a connection.
    pub connect_timeout: Duration,
    /// Shortest wait before reconnecting (the backoff's start): at most one
    /// reconnection per this interval, whatever the server does.
    pub min_backoff: Duration,
    /// Longest wait between reconnection attempts (the backoff's cap).
    pub max_backoff: Duration,
    /// A GET must arrive whole within this time.
    pub upload_request_timeout: Duration,
    pub upload_max_connections: usize,
    /// Upload connections at once from one source address.
    pub upload_max_connections_per_address: usize,
    /// Longest an upload waits for the downloader to take more bytes.
    pub upload_send_timeout: Duration,
    /// Largest file a download accepts (its announced Content-Length).
    pub max_download: u64,
    /// Slowest a holder may send (bytes a second, over each
    /// `download_rate_window`); a slower one fails and the next is tried.
    /// 0: no minimum.
    pub min_download_rate: u64,
    pub download_rate_window: Duration,
    /// Most record lines accepted in one server answer; a longer one (say, a
    /// LIST that never ends) fails its request and the connection is dropped.
    pub max_answer_records: usize,
    /// Most bytes accepted in one server answer, likewise.
    pub max_answer_bytes: usize,
    /// Capacity of the event channel to the front end.
    pub event_capacity: usize,
    /// Watch the folder ([`super::watch`]): a file dropped in is listed
    /// (and ADDed when `advertise_new`), one taken out is withdrawn,
    /// whichever front end runs.
    pub watch: bool,
    /// ADD files that appear in the folder as soon as they do.
    pub advertise_new: bool,
}

impl PeerConfig {
    /// A config with one index server (`HOST:PORT`) and every default.
    pub fn new(host: impl Into<String>, server: impl Into<String>, dir: PathBuf) -> Self {
        PeerConfig {
            host: host.into(),
            upload_bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            servers: vec![server.into()],
            dir,
            rfc_dir: PathBuf::from("RFCs"),
            rfcs: Vec::new(),
            os: os_name(),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(30),
            answer_grace: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            upload_request_timeout: Duration::from_secs(10),
            upload_max_connections: 1024,
            upload_max_connections_per_address: 32,
            upload_send_timeout: Duration::from_secs(30),
            max_download: download::DEFAULT_MAX_SIZE,
            min_download_rate: download::DEFAULT_MIN_RATE,
            download_rate_window: download::DEFAULT_RATE_WINDOW,
            max_answer_records: 1_000_000,
            max_answer_bytes: 256 * 1024 * 1024,
            event_capacity: 4096,
            watch: false,
            advertise_new: false,
        }
    }
}

/// `Linux 6.1.0-18-amd64` and the like: the system and its release.
pub fn os_name() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(release) if !release.trim().is_empty() => format!("Linux {}", release.trim()),
        _ => "Linux".to_owned(),
    }
}

/// Why [`Peer::start`] failed; nothing of the peer is left running. Each
/// says what failed and on what (the folder, the address), so a front end
/// can say it in one line and a caller can tell them apart.
#[derive(Debug, Error)]
pub enum StartError {
    /// [`PeerConfig::servers`] is empty: there is no index to talk to.
    #[error("no index server given")]
    NoIndexServer,
    /// The RFC folder (or the folder starting RFCs come from) is a file, or
    /// something else that is not a folder.
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// The RFC folder could not be created, filled with the starting RFCs
    /// or read; the library's error names the file.
    #[error("preparing the RFC folder")]
    Folder(#[source] LibraryError),
    /// The task preparing the folder panicked.
    #[error("preparing the RFC folder")]
    FolderTask(#[source] tokio::task::JoinError),
    /// The upload server cannot listen on its address (in use, not ours).
    #[error("starting the upload server on {addr}")]
    UploadListener { addr: SocketAddr, source: std::io::Error },
}

/// A running peer, as its front end holds it.
pub struct Peer {
    commands: mpsc::UnboundedSender<Command>,
    /// The hostname it advertises.
    pub host: String,
    /// Where its upload server listens.
    pub upload_addr: SocketAddr,
    /// The index servers it may talk to, as given, joined with commas (the
    /// one in use is named by [`NetEvent::Connected`]).
    pub server: String,
    /// The same, one per entry.
    pub servers: Vec<String>,
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
    pub async fn start(config: PeerConfig) -> Result<(Peer, mpsc::Receiver<NetEvent>), StartError> {
        if config.servers.is_empty() {
            return Err(StartError::NoIndexServer);
        }
        let (dir, src, rfcs) = (config.dir.clone(), config.rfc_dir.clone(), config.rfcs.clone());
        let library::Scan { rfcs: lib, skipped } = tokio::task::spawn_blocking(move || {
            check_folder(&dir)?;
            if !rfcs.is_empty() {
                check_folder(&src)?;
            }
            library::prepare(&dir, &src, &rfcs).map_err(StartError::Folder)
        })
        .await
        .map_err(StartError::FolderTask)??;
        let upload_bind = config.upload_bind;
        let listen_failed = |source| StartError::UploadListener { addr: upload_bind, source };
        let listener = TcpListener::bind(upload_bind).await.map_err(listen_failed)?;
        let upload_addr = listener.local_addr().map_err(listen_failed)?;
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity);
        // The files named like RFCs that are not shared, and why: said once.
        if !skipped.is_empty() {
            let _ = events_tx.try_send(NetEvent::Skipped(skipped.clone()));
        }
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();

        let mut up = UploadConfig::new(config.dir.clone(), config.os.clone());
        up.limits = config.limits;
        up.request_timeout = config.upload_request_timeout;
        up.max_connections = config.upload_max_connections;
        up.max_connections_per_address = config.upload_max_connections_per_address;
        up.send_timeout = config.upload_send_timeout;
        tasks.spawn(upload::run(listener, up, Some(events_tx.clone()), shutdown.clone()));

        let me = PeerId { host: config.host.clone(), port: upload_addr.port() };
        let settings = conversation::Settings {
            me: me.clone(),
            servers: config.servers.clone(),
            request_timeout: config.request_timeout,
            answer_grace: config.answer_grace,
            connect_timeout: config.connect_timeout,
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff,
            max_line: config.limits.max_line,
            max_answer_records: config.max_answer_records,
            max_answer_bytes: config.max_answer_bytes,
        };
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let talk_stop = shutdown.child_token();
        let talk = tasks.spawn(Conversation::new(settings, jobs_rx, answers_tx, talk_stop.clone()).run());

        let talk = Talk { jobs: jobs_tx, answers: answers_rx, stop: talk_stop, task: talk };
        let mut engine = Engine::new(&config, me, lib.clone(), talk, events_tx, shutdown.clone());
        engine.skipped = skipped.into_iter().collect();
        if config.watch {
            // Held by the engine: the watch ends with it.
            match super::watch::start(&config.dir, commands_tx.downgrade(), config.advertise_new) {
                Ok(watch) => engine.watch = Some(watch),
                Err(e) => {
                    let text = format!("{e}; files added or removed are seen only when asked (advertise)");
                    let _ = engine.events.try_send(NetEvent::FolderError(text));
                }
            }
        }
        tasks.spawn(engine.run(commands_rx));
        tasks.close();
        info!(host = %config.host, %upload_addr, servers = ?config.servers, "peer started");
        let peer = Peer {
            commands: commands_tx,
            host: config.host,
            upload_addr,
            server: config.servers.join(","),
            servers: config.servers,
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

/// A folder the peer is given must be a folder, if it exists at all (the
/// library creates a missing one): said plainly, before anything else.
fn check_folder(path: &Path) -> Result<(), StartError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => Err(StartError::NotADirectory { path: path.to_owned() }),
        _ => Ok(()),
    }
}

/// The engine's side of the index conversation.
struct Talk {
    jobs: mpsc::UnboundedSender<Job>,
    answers: mpsc::UnboundedReceiver<Answer>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct Finished {
    id: DownloadId,
    /// Which attempt of it: a cancelled attempt that finished just before
    /// its cancel must not end the retry that followed.
    attempt: u32,
    rfc: RfcNumber,
    result: Option<LocalRfc>,
}

/// What the engine keeps of one download, by id: enough to cancel it while
/// it runs and to retry it once it failed.
#[derive(Debug)]
struct Tracked {
    rfc: RfcNumber,
    /// 1, then one more for each retry.
    attempt: u32,
    /// The holder the last attempt tried first: a retry tries it last.
    first: Option<Holder>,
    /// The task fetching it, once its holders are known.
    task: Option<AbortHandle>,
    /// Under way (not failed, cancelled or done).
    running: bool,
}

/// Most downloads remembered after they ended (for a retry); the oldest go.
const ENDED_KEPT: usize = 256;

/// Most holders one download tries: a LOOKUP answer may name any number
/// (a hostile index, 200,000), and each costs a name lookup and a connection
/// attempt. The first this many distinct ones are kept, in the index's order.
pub const MAX_HOLDERS: usize = 1_000;

/// The holders a download tries, and how many distinct others were left out.
#[derive(Debug, PartialEq, Eq)]
pub struct Picked {
    pub holders: Vec<Holder>,
    pub dropped: usize,
}

/// The chosen holder first (if any), then the index's, each once, never
/// ourselves, at most `cap`: linear in the answer's length (a set, not a
/// search of the list so far for each).
pub fn pick_holders(first: Option<&Holder>, records: &[Record], me: &PeerId, cap: usize) -> Picked {
    let mut seen: HashSet<(&str, u16)> = HashSet::new();
    let mut holders = Vec::new();
    let mut dropped = 0;
    let candidates = first.map(|h| (h.host.as_str(), h.port)).into_iter();
    for (host, port) in candidates.chain(records.iter().map(|r| (r.host.as_str(), r.port))) {
        if (host, port) == (me.host.as_str(), me.port) || !seen.insert((host, port)) {
            continue;
        }
        if holders.len() < cap {
            holders.push(Holder { host: host.to_owned(), port });
        } else {
            dropped += 1;
        }
    }
    Picked { holders, dropped }
}

/// Most titles remembered from the index's answers (for LOOKUP's Title
/// header): enough for any index a person browses, bounded for one that is
/// not browsed but listed whole.
const MAX_TITLES: usize = 65_536;

struct Engine {
    me: PeerId,
    events: mpsc::Sender<NetEvent>,
    shutdown: CancellationToken,
    talk: Talk,
    library: BTreeMap<RfcNumber, LocalRfc>,
    /// The folder's files that are not shared, as last said (each is said
    /// once, when it is first seen).
    skipped: HashSet<library::Skipped>,
    /// Titles the index has told us (LOOKUP and LIST answers, our ADDs):
    /// LOOKUP carries one, as strict servers want it.
    titles: HashMap<RfcNumber, String>,
    downloads: JoinSet<()>,
    /// Downloads under way (their LOOKUP included), so one RFC is fetched once.
    active: HashMap<RfcNumber, DownloadId>,
    /// Every download under way, and the latest that ended, by id.
    tracked: BTreeMap<DownloadId, Tracked>,
    /// Jobs handed to the conversation and not yet answered.
    outstanding: usize,
    /// [`Command::Finish`] came: leave once nothing is outstanding.
    finishing: bool,
    watch: Option<super::watch::FolderWatch>,
    next_download: u64,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    download_config: Arc<DownloadConfig>,
}

impl Engine {
    fn new(
        config: &PeerConfig,
        me: PeerId,
        lib: Vec<LocalRfc>,
        talk: Talk,
        events: mpsc::Sender<NetEvent>,
        shutdown: CancellationToken,
    ) -> Engine {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let mut dl = DownloadConfig::new(config.dir.clone(), config.host.clone(), config.os.clone());
        dl.limits = config.limits;
        dl.max_size = config.max_download;
        dl.min_rate = config.min_download_rate;
        dl.rate_window = config.download_rate_window;
        Engine {
            me,
            events,
            shutdown,
            talk,
            library: lib.into_iter().map(|l| (l.rfc, l)).collect(),
            skipped: HashSet::new(),
            titles: HashMap::new(),
            downloads: JoinSet::new(),
            active: HashMap::new(),
            tracked: BTreeMap::new(),
            outstanding: 0,
            finishing: false,
            watch: None,
            next_download: 1,
            finished_tx,
            finished_rx,
            download_config: Arc::new(dl),
        }
    }

    async fn emit(&self, ev: NetEvent) {
        let _ = self.events.send(ev).await;
    }

    fn ask(&mut self, job: Job) {
        // The conversation lives as long as the engine, but for a panic;
        // every job is answered once.
        if self.talk.jobs.send(job).is_ok() {
            self.outstanding += 1;
        }
    }

    /// Nothing asked is still under way: no job unanswered, no download.
    fn idle(&self) -> bool {
        self.outstanding == 0 && self.active.is_empty()
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            if self.finishing && self.idle() {
                break;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Quit) => break,
                    Some(Command::Finish) => self.finishing = true,
                    Some(cmd) => self.on_command(cmd).await,
                },
                Some(answer) = self.talk.answers.recv() => self.on_answer(answer).await,
                Some(done) = self.finished_rx.recv() => self.on_finished(done).await,
                Some(_) = self.downloads.join_next(), if !self.downloads.is_empty() => {}
            }
        }
        self.watch = None;
        // Leaving: the index connection closes first (the server drops our
        // records at once), then uploads and downloads stop. The
        // conversation watches its stop signal in every wait, so this is
        // quick whatever the server is doing.
        self.talk.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.talk.task).await;
        self.downloads.abort_all();
        while self.downloads.join_next().await.is_some() {}
        self.shutdown.cancel();
        self.emit(NetEvent::Closed).await;
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Advertise => {
                if self.library.is_empty() {
                    self.emit(NetEvent::Notice("no local RFCs to advertise".into())).await;
                    return;
                }
                let all = self.library.values().map(|l| (l.rfc, l.title.clone())).collect();
                self.ask(Job::Advertise(all, AdvertiseCause::Asked));
            }
            Command::Lookup(rfc) => {
                let title = self.title_of(rfc);
                self.ask(Job::Lookup { rfc, title, purpose: Purpose::User });
            }
            Command::List => self.ask(Job::List),
            Command::Download { rfc, from } => self.start_download(rfc, from, None).await,
            Command::CancelDownload(id) => self.cancel_download(id).await,
            Command::RetryDownload(id) => self.retry_download(id).await,
            Command::Rescan { advertise_new } => self.rescan(advertise_new).await,
            Command::Unshare(rfc) => {
                let dir = self.download_config.dir.clone();
                match tokio::task::spawn_blocking(move || library::unshare(&dir, rfc)).await {
                    Ok(Ok(to)) => {
                        self.emit(NetEvent::Unshared { rfc, to }).await;
                        if self.library.remove(&rfc).is_some() {
                            self.emit(NetEvent::Library(self.library.values().cloned().collect())).await;
                        }
                        self.ask(Job::Withdraw(vec![rfc], Withdrawal::Unshared));
                        // Anything else that changed meanwhile.
                        self.rescan(false).await;
                    }
                    Ok(Err(e)) => self.emit(NetEvent::FolderError(e.to_string())).await,
                    Err(e) => {
                        self.emit(NetEvent::FolderError(format!("stopping to share RFC {rfc}: {e}"))).await
                    }
                }
            }
            Command::Finish | Command::Quit => {}
        }
    }

    /// The title to send with a LOOKUP: ours, else the index's, else
    /// `RFC <n>` (docs/PROTOCOL.md, Interoperability).
    fn title_of(&self, rfc: RfcNumber) -> String {
        match self.library.get(&rfc) {
            Some(local) => local.title.clone(),
            None => self.titles.get(&rfc).cloned().unwrap_or_else(|| format!("RFC {rfc}")),
        }
    }

    fn learn_titles(&mut self, records: &[Record]) {
        for r in records {
            if self.titles.len() >= MAX_TITLES && !self.titles.contains_key(&r.rfc) {
                break;
            }
            // A title with a control character would make our own LOOKUP
            // a 400 (PROTOCOL.md, Framing): such a title is not repeated.
            if !r.title.is_empty() && !r.title.contains(|c: char| c.is_control() && c != '\t') {
                self.titles.insert(r.rfc, r.title.clone());
            }
        }
    }

    async fn on_answer(&mut self, answer: Answer) {
        let job = match &answer {
            Answer::Event(_) => false,
            Answer::Advertised { cause, .. } => matches!(
                cause,
                AdvertiseCause::Asked | AdvertiseCause::NewFiles | AdvertiseCause::Downloaded(_)
            ),
            Answer::Lookup { .. } | Answer::List(_) | Answer::Withdrawn { .. } => true,
        };
        if job {
            self.outstanding = self.outstanding.saturating_sub(1);
        }
        match answer {
            Answer::Event(ev) => self.emit(ev).await,
            Answer::Advertised { cause, added, failed, error } => {
                self.learn_titles(&added);
                if let Some(e) = error {
                    self.emit(NetEvent::Error(e)).await;
                }
                self.emit(NetEvent::Reply(Reply::Advertised { cause, added, failed })).await;
            }
            Answer::Withdrawn { rfcs, why, outcome } => {
                self.emit(NetEvent::Withdrawn { rfcs, why, outcome }).await
            }
            Answer::List(result) => match result {
                Ok(r) => {
                    self.learn_titles(&r.records);
                    self.emit(NetEvent::Reply(Reply::List { status: r.status, records: r.records })).await
                }
                Err(e) => self.emit(NetEvent::Error(PeerError::about(Request::List, e))).await,
            },
            Answer::Lookup { rfc, purpose: Purpose::User, result } => match result {
                Ok(r) => {
                    self.learn_titles(&r.records);
                    let reply = Reply::Lookup { rfc, status: r.status, records: r.records };
                    self.emit(NetEvent::Reply(reply)).await
                }
                Err(e) => self.emit(NetEvent::Error(PeerError::about(Request::Lookup(rfc), e))).await,
            },
            Answer::Lookup { rfc, purpose: Purpose::Download { id, from, last }, result } => {
                self.on_download_lookup(rfc, id, from, last, result).await
            }
        }
    }

    /// Starts a download, or (with `retry`) the next attempt of one that
    /// ended: that id, and its last first holder to be tried last.
    async fn start_download(
        &mut self,
        rfc: RfcNumber,
        from: Option<Holder>,
        retry: Option<(DownloadId, u32, Option<Holder>)>,
    ) {
        if let Some(local) = self.library.get(&rfc) {
            let msg = format!("RFC {rfc} is already here: {}", local.path.display());
            self.emit(NetEvent::Notice(msg)).await;
            return;
        }
        if self.active.contains_key(&rfc) {
            self.emit(NetEvent::Notice(format!("RFC {rfc} is already being downloaded"))).await;
            return;
        }
        let (id, attempt, last) = match retry {
            Some(r) => r,
            None => {
                let id = DownloadId(self.next_download);
                self.next_download += 1;
                (id, 1, None)
            }
        };
        self.active.insert(rfc, id);
        self.tracked.insert(id, Tracked { rfc, attempt, first: None, task: None, running: true });
        self.forget_ended();
        self.emit(NetEvent::Download { id, event: DownloadEvent::Queued { rfc, attempt } }).await;
        let title = self.title_of(rfc);
        self.ask(Job::Lookup { rfc, title, purpose: Purpose::Download { id, from, last } });
    }

    /// Keeps at most [`ENDED_KEPT`] ended downloads, dropping the oldest.
    fn forget_ended(&mut self) {
        let ended: Vec<DownloadId> =
            self.tracked.iter().filter(|(_, t)| !t.running).map(|(id, _)| *id).collect();
        for id in ended.iter().take(ended.len().saturating_sub(ENDED_KEPT)) {
            self.tracked.remove(id);
        }
    }

    /// Marks a download ended (failed, cancelled, done).
    fn end_download(&mut self, id: DownloadId, rfc: RfcNumber) {
        if self.active.get(&rfc) == Some(&id) {
            self.active.remove(&rfc);
        }
        if let Some(t) = self.tracked.get_mut(&id) {
            t.running = false;
            t.task = None;
        }
    }

    /// Stops a download under way. Its task is aborted, which drops the
    /// temporary file (it deletes itself); one still looking up its
    /// holders is dropped when the answer comes.
    async fn cancel_download(&mut self, id: DownloadId) {
        let Some(t) = self.tracked.get_mut(&id).filter(|t| t.running) else {
            let msg = format!("download {} is not under way; nothing to cancel", id.0);
            return self.emit(NetEvent::Notice(msg)).await;
        };
        if let Some(task) = t.task.take() {
            task.abort();
        }
        let rfc = t.rfc;
        self.end_download(id, rfc);
        info!(%rfc, id = id.0, "download cancelled");
        self.emit(NetEvent::Download { id, event: DownloadEvent::Cancelled { rfc } }).await;
    }

    /// Tries an ended download again under its id.
    async fn retry_download(&mut self, id: DownloadId) {
        let Some(t) = self.tracked.get(&id) else {
            let msg = format!("download {} is not known (or too old); start it anew", id.0);
            return self.emit(NetEvent::Notice(msg)).await;
        };
        if t.running {
            let msg = format!("RFC {} is already being downloaded", t.rfc);
            return self.emit(NetEvent::Notice(msg)).await;
        }
        let (rfc, attempt, first) = (t.rfc, t.attempt + 1, t.first.clone());
        self.start_download(rfc, None, Some((id, attempt, first))).await;
    }

    /// The holders are known (or the LOOKUP failed): start fetching.
    async fn on_download_lookup(
        &mut self,
        rfc: RfcNumber,
        id: DownloadId,
        from: Option<Holder>,
        last: Option<Holder>,
        result: Result<P2sResponse, IndexError>,
    ) {
        if self.active.get(&rfc) != Some(&id) {
            // Cancelled while its holders were looked up.
            return;
        }
        let records = match result {
            Ok(r) => {
                self.learn_titles(&r.records);
                Some(r)
            }
            Err(e) if from.is_some() => {
                let msg = format!("LOOKUP RFC {rfc} failed ({e}); trying the chosen holder");
                self.emit(NetEvent::Notice(msg)).await;
                None
            }
            Err(e) => {
                self.end_download(id, rfc);
                let reason = super::DownloadError::Lookup(e);
                self.emit(NetEvent::Download { id, event: DownloadEvent::Failed { rfc, reason } }).await;
                return;
            }
        };
        let listed = records.as_ref().map_or(&[][..], |r| &r.records[..]);
        let mut picked = pick_holders(from.as_ref(), listed, &self.me, MAX_HOLDERS);
        // A retry tries the holder the last attempt began with last.
        if let Some(last) = &last
            && let Some(at) = picked.holders.iter().position(|h| h == last)
        {
            let h = picked.holders.remove(at);
            picked.holders.push(h);
        }
        if let Some(r) = records {
            self.emit(NetEvent::Reply(Reply::Lookup { rfc, status: r.status, records: r.records })).await;
        }
        if picked.dropped > 0 {
            let msg = format!(
                "RFC {rfc}: the index named {} more holder(s); only the first {MAX_HOLDERS} are tried",
                picked.dropped
            );
            info!(%rfc, dropped = picked.dropped, kept = MAX_HOLDERS, "holders dropped");
            self.emit(NetEvent::Notice(msg)).await;
        }
        let holders = picked.holders;
        if holders.is_empty() {
            crate::metrics::peer().no_holder();
            self.end_download(id, rfc);
            let event = DownloadEvent::Failed { rfc, reason: super::DownloadError::NoHolder };
            self.emit(NetEvent::Download { id, event }).await;
            return;
        }
        let first = holders.first().cloned();
        let attempt = self.tracked.get(&id).map_or(1, |t| t.attempt);
        let (config, events, done) =
            (self.download_config.clone(), self.events.clone(), self.finished_tx.clone());
        let task = self.downloads.spawn(async move {
            let result = download::run(id, rfc, holders, &config, &events).await;
            let _ = done.send(Finished { id, attempt, rfc, result });
        });
        if let Some(t) = self.tracked.get_mut(&id) {
            t.first = first;
            t.task = Some(task);
        }
    }

    /// Reads the folder again. New RFC files are listed (and ADDed when
    /// `advertise_new`); removed ones stop being listed and are withdrawn
    /// from the index (the conversation's [`Job::Withdraw`]).
    async fn rescan(&mut self, advertise_new: bool) {
        let dir = self.download_config.dir.clone();
        let scan = match tokio::task::spawn_blocking(move || library::scan(&dir)).await {
            Ok(Ok(scan)) => scan,
            Ok(Err(e)) => return self.emit(NetEvent::FolderError(e.to_string())).await,
            Err(e) => return self.emit(NetEvent::FolderError(format!("reading the RFC folder: {e}"))).await,
        };
        let fresh: Vec<library::Skipped> =
            scan.skipped.iter().filter(|s| !self.skipped.contains(*s)).cloned().collect();
        if !fresh.is_empty() {
            self.emit(NetEvent::Skipped(fresh)).await;
        }
        self.skipped = scan.skipped.into_iter().collect();
        let list = scan.rfcs;
        let new: Vec<(RfcNumber, String)> = list
            .iter()
            .filter(|l| !self.library.contains_key(&l.rfc))
            .map(|l| (l.rfc, l.title.clone()))
            .collect();
        let gone: Vec<RfcNumber> =
            self.library.keys().copied().filter(|r| !list.iter().any(|l| l.rfc == *r)).collect();
        if new.is_empty() && gone.is_empty() {
            return;
        }
        self.library = list.into_iter().map(|l| (l.rfc, l)).collect();
        self.emit(NetEvent::Library(self.library.values().cloned().collect())).await;
        if !gone.is_empty() {
            self.ask(Job::Withdraw(gone, Withdrawal::Removed));
        }
        if advertise_new && !new.is_empty() {
            self.ask(Job::Advertise(new, AdvertiseCause::NewFiles));
        }
    }

    async fn on_finished(&mut self, done: Finished) {
        if self.tracked.get(&done.id).is_none_or(|t| t.attempt == done.attempt) {
            self.end_download(done.id, done.rfc);
        }
        // A file that landed is kept and shared, whatever came after.
        let Some(local) = done.result else { return };
        let (rfc, title) = (local.rfc, local.title.clone());
        self.library.insert(rfc, local);
        self.emit(NetEvent::Library(self.library.values().cloned().collect())).await;
        self.ask(Job::Advertise(vec![(rfc, title)], AdvertiseCause::Downloaded(rfc)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: &str, port: u16) -> Record {
        Record { rfc: RfcNumber(1), title: "T".into(), host: host.into(), port }
    }

    #[test]
    fn holders_are_picked_once_each_in_order_without_us_up_to_the_cap() {
        let me = PeerId { host: "me".into(), port: 9 };
        let chosen = Holder { host: "b".into(), port: 2 };
        let records = [rec("a", 1), rec("b", 2), rec("me", 9), rec("a", 1), rec("a", 3), rec("c", 4)];
        let picked = pick_holders(Some(&chosen), &records, &me, 10);
        let names: Vec<String> = picked.holders.iter().map(|h| h.to_string()).collect();
        assert_eq!(names, ["b:2", "a:1", "a:3", "c:4"]);
        assert_eq!(picked.dropped, 0);
        let picked = pick_holders(None, &records, &me, 2);
        assert_eq!(picked.holders.len(), 2);
        assert_eq!(picked.dropped, 2, "a:3 and c:4; duplicates and ourselves are not counted");
        assert_eq!(pick_holders(None, &[rec("me", 9)], &me, 10).holders, vec![]);
    }

    /// Each way a start fails is its own variant, naming what it was about.
    #[tokio::test]
    async fn a_start_that_fails_says_which_part_failed() {
        async fn start_err(config: PeerConfig) -> StartError {
            match Peer::start(config).await {
                Ok(_) => panic!("started"),
                Err(e) => e,
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("me");
        let mut config = PeerConfig::new("me", "127.0.0.1:1", dir.clone());
        config.servers.clear();
        assert!(matches!(start_err(config).await, StartError::NoIndexServer));

        let file = tmp.path().join("a-file");
        std::fs::write(&file, "not a folder").unwrap();
        let config = PeerConfig::new("me", "127.0.0.1:1", file.clone());
        assert!(matches!(start_err(config).await, StartError::NotADirectory { path } if path == file));

        let mut config = PeerConfig::new("me", "127.0.0.1:1", dir.clone());
        (config.rfc_dir, config.rfcs) = (tmp.path().to_owned(), vec![RfcNumber(1234)]);
        let err = start_err(config).await;
        assert!(
            matches!(err, StartError::Folder(LibraryError::Missing { rfc: RfcNumber(1234), .. })),
            "{err:?}"
        );

        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = PeerConfig::new("me", "127.0.0.1:1", dir);
        config.upload_bind = taken.local_addr().unwrap();
        let err = start_err(config).await;
        assert!(
            matches!(err, StartError::UploadListener { addr, .. } if addr == taken.local_addr().unwrap())
        );
        assert!(err.to_string().contains(&taken.local_addr().unwrap().to_string()), "{err}");
    }

    #[test]
    fn a_huge_answer_is_picked_in_linear_time() {
        let me = PeerId { host: "me".into(), port: 9 };
        let records: Vec<Record> = (0..200_000).map(|i| rec(&format!("h{i}.invalid"), 1)).collect();
        let started = std::time::Instant::now();
        let picked = pick_holders(None, &records, &me, MAX_HOLDERS);
        assert_eq!((picked.holders.len(), picked.dropped), (MAX_HOLDERS, 199_000));
        // The old search of the list so far took 42 s here (release).
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
