//! An index shared by several servers through Redis.
//!
//! Each server keeps a full local copy of the index (a [`View`]: the same
//! [`Index`](crate::index::Index) the in-memory store uses) and answers
//! LOOKUP and LIST from it alone, so reads cost what they cost in memory.
//! Redis is the source of truth and carries the changes between servers:
//!
//! * an ADD is placed in the server's own copy at once (so the peer sees it
//!   on its connection, whatever happens next) and handed to a writer task,
//!   which sends this server's changes to Redis many at a time: one Lua
//!   script stores each record under the next global sequence number and
//!   appends that sequence to a change log (a Redis Stream), atomically,
//!   within the shared index's memory budget (or refuses it: the ADD is
//!   then answered 400 and the record leaves the local copy). The ADD is
//!   answered once Redis has it, so an ADD answered on one server is older
//!   than any ADD sent afterwards to any server (LIST's one global order);
//!   while Redis is away it is answered at once and written later;
//! * a peer's removal is a change like an ADD (its records go, one log
//!   entry), never sent ahead of that peer's ADDs;
//! * every server follows the log (`XREAD BLOCK`), reads the records it
//!   names (`HMGET`) and applies each entry to its copy; every entry
//!   carries the global sequence, so a gap (a trimmed log, a Redis that
//!   lost data) is seen and the copy is rebuilt from a snapshot (the
//!   records hash, scanned);
//! * each server holds a lease key with a TTL and renews it; every server
//!   reaps, atomically, the peers of any server whose lease has expired;
//! * every record in Redis belongs to one server incarnation (its random
//!   id), and only that server writes it: every write is fenced with a
//!   token that only grows, so a late write does nothing; twice a lease
//!   the server's writer checks a digest of what Redis holds under its id
//!   and reconciles it with its live peers when it differs (whatever the
//!   fault was: Redis restarted, flushed, back in time, or this server
//!   reaped during a partition); twice a lease every follower checks its
//!   copy against every server's digest, and rebuilds when it differs or
//!   the sequence went back.
//!
//! A server's own peers are known to it alone (`View::own`), and Redis only
//! mirrors them: that is what lets it answer and accept ADDs while Redis is
//! away and put Redis right afterwards. Keys share one hash tag, so in a
//! Redis Cluster they all live in one slot (docs/store.md says what Cluster
//! would change).
//!
//! One file per job: `config` (what the server is told), `error` (why a
//! call failed), `keys` and `scripts` (the layout in Redis and the atomic
//! steps on it), `view` (the local copy), `writer`, `lease`, `follower` and
//! `resync` (the tasks and the rebuild), `reconcile` and `digest` (Redis
//! put right about this server's peers, and the digests that tell when),
//! `values` (decoding answers), and
//! `index_store` (the [`IndexStore`](super::IndexStore) methods). This file
//! holds what they share: the store's state and the connection to Redis.

mod config;
mod connect;
mod digest;
mod error;
mod follower;
mod index_store;
mod keys;
mod lease;
mod reconcile;
mod resync;
mod scripts;
mod values;
mod view;
mod writer;

pub use self::config::{RedisConfig, SentinelTarget, Target, TlsFiles, redact};
pub use self::error::StoreError;

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use self::connect::Connector;
use self::error::Result;
use self::keys::Keys;
use self::scripts::Scripts;
use self::view::View;
use self::writer::Change;
use super::Counts;
use crate::backoff::Backoff;

/// Reconnection backoff ([`Backoff`], with jitter): the first snapshot's
/// retries, the follower's and the reconcile's (capped at half the lease,
/// [`Shared::backoff_max`], so a fault is put right within the lease after
/// it ends).
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The shortest call timeout, however short the lease.
const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// The index kept in Redis, with a local copy answering reads.
pub struct RedisStore {
    shared: Arc<Shared>,
    tasks: TaskTracker,
}

/// What the store's tasks and its connections share.
struct Shared {
    config: RedisConfig,
    /// This server's id, random per process: a restarted server is a new one.
    id: u64,
    id_hex: String,
    keys: Keys,
    /// Where new connections go (the one Redis, or Sentinel's master now).
    connector: Connector,
    /// Set while a spoilt shared connection is being replaced, so calls
    /// failing together ask the Sentinels once.
    replacing: AtomicBool,
    manager: ConnectionManagerConfig,
    /// The multiplexed connection every write and lease call shares;
    /// replaced by a fresh one after an error that may have spoilt it
    /// ([`StoreError::spoils_connection`]). A std mutex: held only to clone
    /// or swap it.
    conn: Mutex<ConnectionManager>,
    view: Mutex<View>,
    up: AtomicBool,
    /// Set while Redis may not hold exactly this server's live peers: the
    /// writer sends no batches until its reconcile has put Redis right.
    dirty: AtomicBool,
    /// Asks the writer to reconcile now (the lease was found lapsed).
    check_now: Notify,
    /// Whether the lease was renewed once (the first finds none).
    renewed: AtomicBool,
    /// When the copy was last known to be up to date with the log.
    synced: Mutex<Instant>,
    /// Whole loads of the index: the first, then each rebuild.
    loads: AtomicU64,
    cancel: CancellationToken,
    scripts: Scripts,
    /// The memory budget of the whole shared index, sent with every write.
    budget: AtomicU64,
    /// To the writer task.
    changes: mpsc::UnboundedSender<Change>,
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    h.finish()
}

impl RedisStore {
    /// Connects to Redis and loads the whole index before returning, so
    /// the server serves all of it from its first request. Retries with
    /// backoff while Redis cannot be reached (logging it once), until
    /// `give_up` passes; then it fails. An error that trying again cannot
    /// mend ([`StoreError::is_fatal`]: refused credentials, an untrusted
    /// certificate, an unknown Sentinel master) fails it at once.
    pub async fn connect(mut config: RedisConfig, give_up: Duration) -> Result<Self> {
        // A call that waits longer than half a lease (a connection cut off
        // by a partition) would hold the repair past the bound of
        // 2 × lease + 1 s after the fault ends (docs/store.md).
        config.timeout = config.timeout.min(config.lease / 2).max(MIN_TIMEOUT);
        let connector = Connector::new(&config)?;
        let manager = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(BACKOFF_MAX);
        let deadline = Instant::now() + give_up;
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        // Through Sentinel, the master must be found before anything else.
        let client = loop {
            match connector.client().await {
                Ok(client) => break client,
                Err(e) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if e.is_fatal() || left.is_zero() {
                        return Err(e);
                    }
                    debug!("redis not reached yet: {e}");
                    tokio::time::sleep(backoff.next_delay().min(left)).await;
                }
            }
        };
        let conn = ConnectionManager::new_lazy_with_config(client, manager.clone())?;
        let id = random_u64();
        let (changes, to_write) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            changes,
            id,
            id_hex: format!("{id:016x}"),
            keys: Keys::new(),
            connector,
            replacing: AtomicBool::new(false),
            manager,
            conn: Mutex::new(conn),
            view: Mutex::new(View::default()),
            up: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            check_now: Notify::new(),
            renewed: AtomicBool::new(false),
            synced: Mutex::new(Instant::now()),
            loads: AtomicU64::new(0),
            cancel: CancellationToken::new(),
            scripts: Scripts::new(),
            budget: AtomicU64::new(u64::MAX),
            config,
        });
        // The first snapshot, before serving.
        let start = loop {
            let loaded = match shared.check_layout().await {
                Ok(()) => match shared.renew().await {
                    Ok(()) => shared.sync().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match loaded {
                Ok(start) => break start,
                Err(e) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if e.is_fatal() || left.is_zero() {
                        return Err(e);
                    }
                    shared.down("loading the index", &e);
                    tokio::time::sleep(backoff.next_delay().min(left)).await;
                }
            }
        };
        let counts = shared.counts();
        info!(server = %shared.id_hex, peers = counts.peers, records = counts.records,
            "index loaded from {}", shared.connector.shown());
        let tasks = TaskTracker::new();
        tasks.spawn(shared.clone().follow(start));
        tasks.spawn(shared.clone().keep_lease());
        tasks.spawn(shared.clone().publish(to_write));
        tasks.close();
        Ok(RedisStore { shared, tasks })
    }

    /// This server's id in Redis (part of every peer's identity there).
    pub fn server_id(&self) -> u64 {
        self.shared.id
    }

    /// Whether Redis answered last time it was asked.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// How often this server has loaded the whole index from Redis: once
    /// to start, then once per rebuild (a gap in the log, a copy that
    /// differed). Each costs a scan of every record, so a count that keeps
    /// growing is a Redis that keeps losing data.
    pub fn loads(&self) -> u64 {
        self.shared.loads.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn counts(&self) -> Counts {
        let v = self.view();
        Counts { peers: v.index.peer_count(), records: v.index.record_count() }
    }

    fn down(&self, doing: &str, e: &StoreError) {
        if self.up.swap(false, Ordering::Relaxed) {
            warn!(server = %self.id_hex, "redis unavailable while {doing}: {e}; answering from the local copy, reconnecting");
        } else {
            debug!("redis still unavailable while {doing}: {e}");
        }
        metrics::gauge!("p2pci_store_up").set(0.0);
    }

    fn up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            info!(server = %self.id_hex, "redis available");
        }
        metrics::gauge!("p2pci_store_up").set(1.0);
    }

    /// Refuses a Redis that servers of an older version write to: they
    /// kept what a peer's records cost and weigh in shared hashes (gone
    /// since those moved into the peer's own hash), and the two layouts
    /// would each leave records the other never removes.
    async fn check_layout(&self) -> Result<()> {
        let old = [format!("{}peerbytes", self.keys.prefix), format!("{}peerdig", self.keys.prefix)];
        let mut c = self.conn();
        let n: u64 = self.call("layout", redis::cmd("EXISTS").arg(&old).query_async(&mut c)).await?;
        if n > 0 {
            return Err(StoreError::Layout(format!(
                "redis holds an index written by an older p2pci ({} exists): stop those servers (or \
                 delete the {{p2pci}} keys) before starting this one",
                old.join(" or ")
            )));
        }
        Ok(())
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// The cap of every reconnection backoff: at most half the lease.
    fn backoff_max(&self) -> Duration {
        BACKOFF_MAX.min(self.config.lease / 2).max(BACKOFF_MIN)
    }

    /// The shared connection (a cheap handle).
    fn conn(&self) -> ConnectionManager {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs one Redis call within the timeout, timing it; after an error
    /// that may have spoilt the connection, the next call gets a new one.
    async fn call<T>(&self, op: &'static str, f: impl Future<Output = redis::RedisResult<T>>) -> Result<T> {
        let started = Instant::now();
        let r = tokio::time::timeout(self.config.timeout, f).await;
        metrics::histogram!("p2pci_store_roundtrip_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        let r = match r {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.config.timeout)),
        };
        if let Err(e) = &r
            && e.spoils_connection()
            && !self.replacing.swap(true, Ordering::AcqRel)
        {
            self.replace_conn().await;
            self.replacing.store(false, Ordering::Release);
        }
        r
    }

    /// A new shared connection, to where the connector says Redis is now
    /// (through Sentinel: the master after a failover). Lazy: it connects
    /// on its first use. While the Sentinels cannot say, the old one stays,
    /// and the next failing call asks again.
    async fn replace_conn(&self) {
        let fresh =
            self.connector.client().await.and_then(|client| {
                Ok(ConnectionManager::new_lazy_with_config(client, self.manager.clone())?)
            });
        match fresh {
            Ok(fresh) => *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
            Err(e) => debug!("could not set up a new redis connection: {e}"),
        }
    }
}
