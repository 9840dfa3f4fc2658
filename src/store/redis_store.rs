//! An index shared by several servers through Redis.
//!
//! Each server keeps a full local copy of the index (a [`View`]: the same
//! [`Index`] the in-memory store uses) and answers LOOKUP and LIST from it
//! alone, so reads cost what they cost in memory. Redis is the source of
//! truth and carries the changes between servers:
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
//! * an epoch key tells a Redis that lost its data (restart, FLUSHALL,
//!   failover to a replica that missed writes): a server that finds the
//!   epoch gone or changed, or its own lease gone, re-publishes its live
//!   peers' records and rebuilds its copy.
//!
//! A server's own peers are known to it alone (`View::own`), and Redis only
//! mirrors them: that is what lets it answer and accept ADDs while Redis is
//! away and put Redis right afterwards. Keys share one hash tag, so in a
//! Redis Cluster they all live in one slot (docs/store.md says what Cluster
//! would change).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, Script, Value};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::{AddError, CapExceeded, Caps, Counts, IndexStore};
use crate::index::{ConnId, Cursor, HolderCursor, Index, record_cost};
use crate::protocol::RfcNumber;

/// How a server uses Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// A server that stops renewing its lease for this long is dead, and
    /// its peers' records are removed by the others.
    pub lease: Duration,
    /// One Redis command (or script) must be answered within this time.
    pub timeout: Duration,
    /// Entries the change log keeps (roughly); a server further behind
    /// rebuilds its copy from a snapshot.
    pub log_len: u64,
    /// After reading news from the log, the follower waits this long before
    /// it asks again, so that entries arriving meanwhile come in one read:
    /// far fewer reads and wake-ups (on the thread that also answers peers)
    /// under load, for about this much more staleness (docs/store.md has
    /// both measured). Zero: read again at once.
    pub follow_pause: Duration,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            lease: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            log_len: 100_000,
            follow_pause: Duration::from_millis(1),
        }
    }
}

/// Why talking to Redis failed; logged with what the server was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not marked as the source: redis-rs repeats its message in its own
    /// source chain, and the text may hold whatever the other end sent.
    #[error("redis: {}", one_line(&.0.to_string()))]
    Redis(redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from redis: {0}")]
    Garbage(String),
    /// Not tried: Redis is known to be away, or being caught up with.
    #[error("redis unavailable")]
    Unavailable,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Redis(e)
    }
}

impl StoreError {
    /// Whether the connection that saw this error may be unusable from now
    /// on. redis-rs's `ConnectionManager` reconnects by itself after I/O
    /// errors only: a connection whose handshake met junk keeps failing, and
    /// one to a peer that stopped answering stays open (a half-open TCP
    /// connection would stay until the kernel gives up, minutes later). An
    /// error reply from Redis itself leaves the connection fine.
    fn spoils_connection(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                !matches!(e.kind(), redis::ErrorKind::Server(_) | redis::ErrorKind::Extension)
            }
            StoreError::Timeout(_) => true,
            StoreError::Garbage(_) | StoreError::Unavailable => false,
        }
    }
}

/// Text from the other end, made fit for one log line: control characters
/// escaped, at most about 200 characters.
fn one_line(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Between reaps of dead servers: the bound on "lease + 1 s" needs it well
/// under a second.
const REAP_EVERY: Duration = Duration::from_millis(250);
/// How long one `XREAD` waits for news before the follower looks around.
const BLOCK_MS: u64 = 1000;
/// Entries read from the log at once.
const READ_COUNT: usize = 4096;
/// Records fetched per `HSCAN` step of a snapshot.
const SCAN_COUNT: usize = 10_000;
/// Reconnection backoff.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Own records not yet in Redis are numbered from here on.
const PROVISIONAL: u64 = 1 << 62;
/// Changes written to Redis in one script at most.
const WRITE_BATCH: usize = 256;
/// Batches on their way to Redis at once.
const WRITES_IN_FLIGHT: usize = 8;

/// Remote peers get connection ids from this range, so they never meet the
/// ids this server gives its own connections.
const REMOTE: u64 = 1 << 63;

/// The keys, all under one hash tag.
#[derive(Debug)]
struct Keys {
    /// `{p2pci}:`, the prefix the scripts build per-server keys from.
    prefix: String,
    /// The global sequence (INCR): orders records and log entries.
    seq: String,
    /// Every record: sequence → `server conn rfc port host title`.
    rec: String,
    /// The change log (a Stream).
    log: String,
    /// Servers that may hold peers (each has, or had, a lease).
    servers: String,
    /// Changes when Redis lost its data.
    epoch: String,
    /// What every server's records cost, as the memory budget counts it
    /// ([`record_cost`]): the shared index's budget is held against it.
    bytes: String,
    /// What each peer's records cost: `server:conn` → bytes, taken off
    /// `bytes` when the peer goes.
    peer_bytes: String,
}

impl Keys {
    fn new() -> Self {
        let prefix = "{p2pci}:".to_string();
        Keys {
            seq: format!("{prefix}seq"),
            rec: format!("{prefix}rec"),
            log: format!("{prefix}log"),
            servers: format!("{prefix}servers"),
            epoch: format!("{prefix}epoch"),
            bytes: format!("{prefix}bytes"),
            peer_bytes: format!("{prefix}peerbytes"),
            prefix,
        }
    }
    fn lease(&self, server: &str) -> String {
        format!("{}lease:{server}", self.prefix)
    }
    fn peers(&self, server: &str) -> String {
        format!("{}peers:{server}", self.prefix)
    }
    fn peer(&self, server: &str, conn: u64) -> String {
        format!("{}peer:{server}:{conn}", self.prefix)
    }
}

/// A batch of this server's changes: ADDs (idempotent per peer and RFC; the
/// record, its peer's entry and its log entry go together) and peer
/// removals (its records and one log entry). Returns each ADD's sequence
/// (0 for a removal, and for an ADD refused because the shared index is at
/// its memory budget). A server writing is alive: a Redis that lost its
/// lease (restarted empty) gets it back here, so the others do not reap
/// this server before its next renewal.
///
/// The budget holds for every server at once: the cost of every record
/// held (as the local index counts it, [`record_cost`], sent with each
/// ADD) is added up in `bytes` by the script that stores the record, and
/// taken off by the one that removes it (this one, or the reaper), so no
/// two servers can both take the last room. Each peer's share is kept in
/// `peerbytes` for its removal.
///
/// The log entry of an ADD carries its sequence alone, not the record
/// (followers read the record from `rec`): the log keeps `log_len`
/// entries, and with the records in them it would hold up to that many
/// more titles, beyond the budget.
///
/// The ADDs are written first, then the removals: a peer's ADDs always come
/// before its removal, and different peers' changes do not depend on each
/// other. Per batch, not per ADD: one `INCRBY` reserves the new records'
/// sequences, one `HSET` stores them, one `SADD` registers their peers, one
/// `XTRIM` bounds the log; per ADD there remain the idempotence check, the
/// peer's entry and the log entry.
///
/// KEYS: seq, rec, this server's peers, servers, log, lease, bytes,
/// peerbytes, then one peer hash per change. ARGV: server, log length,
/// lease ms, memory budget, then seven per change: kind (a or d), conn,
/// rfc, port, host, title, cost.
const BATCH: &str = r"
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[3])
  redis.call('SADD', KEYS[4], ARGV[1])
end
local budget = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[7]) or '0')
local out, new, first, dup = {}, {}, {}, {}
for i = 1, #KEYS - 8 do
  local a = 4 + (i - 1) * 7
  out[i] = 0
  if ARGV[a + 1] == 'a' then
    local ph, rfc = KEYS[8 + i], ARGV[a + 3]
    local held = redis.call('HGET', ph, rfc)
    if held then
      out[i] = tonumber(held)
    elseif first[ph..' '..rfc] then
      dup[i] = first[ph..' '..rfc]
    elseif used + tonumber(ARGV[a + 7]) <= budget then
      used = used + tonumber(ARGV[a + 7])
      first[ph..' '..rfc] = i
      new[#new + 1] = i
    end
  end
end
local logged = false
if #new > 0 then
  local base = redis.call('INCRBY', KEYS[1], #new) - #new
  local recs, conns, seen, spent, total = {}, {}, {}, {}, 0
  for j, i in ipairs(new) do
    local a = 4 + (i - 1) * 7
    local n = base + j
    local conn, rfc, cost = ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 7])
    local v = ARGV[1]..' '..conn..' '..rfc..' '..ARGV[a + 4]..' '..ARGV[a + 5]..' '..ARGV[a + 6]
    recs[2 * j - 1] = n
    recs[2 * j] = v
    redis.call('HSET', KEYS[8 + i], rfc, n)
    redis.call('XADD', KEYS[5], '*', 'n', n, 'a', '')
    if not seen[conn] then
      seen[conn] = true
      conns[#conns + 1] = conn
      spent[conn] = 0
    end
    spent[conn] = spent[conn] + cost
    total = total + cost
    out[i] = n
  end
  redis.call('HSET', KEYS[2], unpack(recs))
  redis.call('SADD', KEYS[3], unpack(conns))
  redis.call('INCRBY', KEYS[7], total)
  for _, conn in ipairs(conns) do
    redis.call('HINCRBY', KEYS[8], ARGV[1]..':'..conn, spent[conn])
  end
  logged = true
end
for i, f in pairs(dup) do out[i] = out[f] end
for i = 1, #KEYS - 8 do
  local a = 4 + (i - 1) * 7
  if ARGV[a + 1] == 'd' then
    local conn, ph = ARGV[a + 2], KEYS[8 + i]
    local seqs = redis.call('HVALS', ph)
    redis.call('SREM', KEYS[3], conn)
    local spent = tonumber(redis.call('HGET', KEYS[8], ARGV[1]..':'..conn) or '0')
    if spent > 0 then
      redis.call('DECRBY', KEYS[7], spent)
      redis.call('HDEL', KEYS[8], ARGV[1]..':'..conn)
    end
    if #seqs > 0 then
      for j = 1, #seqs, 1000 do
        redis.call('HDEL', KEYS[2], unpack(seqs, j, math.min(j + 999, #seqs)))
      end
      redis.call('DEL', ph)
      local n = redis.call('INCR', KEYS[1])
      redis.call('XADD', KEYS[5], '*', 'n', n, 'd', ARGV[1]..' '..conn)
      logged = true
    end
  end
end
if logged then
  redis.call('XTRIM', KEYS[5], 'MAXLEN', '~', ARGV[2])
end
return out
";

/// Renews this server's lease and reads the epoch (setting it when Redis
/// has none). Returns whether the lease was still there, and the epoch.
const RENEW: &str = r"
local had = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
local e = redis.call('GET', KEYS[3])
if not e then
  redis.call('SET', KEYS[3], ARGV[3])
  e = ARGV[3]
end
return {had, e}
";

/// Removes the peers of every server whose lease has expired, one log
/// entry per peer, and takes what their records cost off the shared
/// budget. The per-server keys are built here from the prefix: they share
/// the hash tag, so they live in the same slot as the declared keys.
///
/// KEYS: servers, seq, rec, log, bytes, peerbytes. ARGV: prefix, log length.
const REAP: &str = r"
local reaped = 0
for _, srv in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1]..'lease:'..srv) == 0 then
    local set = ARGV[1]..'peers:'..srv
    for _, conn in ipairs(redis.call('SMEMBERS', set)) do
      local spent = tonumber(redis.call('HGET', KEYS[6], srv..':'..conn) or '0')
      if spent > 0 then
        redis.call('DECRBY', KEYS[5], spent)
        redis.call('HDEL', KEYS[6], srv..':'..conn)
      end
      local ph = ARGV[1]..'peer:'..srv..':'..conn
      local seqs = redis.call('HVALS', ph)
      for i = 1, #seqs, 1000 do
        redis.call('HDEL', KEYS[3], unpack(seqs, i, math.min(i + 999, #seqs)))
      end
      redis.call('DEL', ph)
      if #seqs > 0 then
        local n = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'n', n, 'd', srv..' '..conn)
      end
    end
    redis.call('DEL', set)
    redis.call('SREM', KEYS[1], srv)
    reaped = reaped + 1
  end
end
return reaped
";

/// Where a snapshot starts following the log: the sequence and the log's
/// last entry, read together.
const MARK: &str = r"
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {seq, id}
";

/// One of this server's peers, as it registered, and the RFCs it
/// advertised (their titles are in the local copy, which always holds
/// every own record: kept once, not twice, they cost what the memory
/// budget counts).
#[derive(Debug, Clone)]
struct Own {
    host: String,
    port: u16,
    rfcs: Vec<RfcNumber>,
}

/// One of this server's changes, on its way to Redis.
#[derive(Debug)]
enum Change {
    /// `done` hears when Redis has the record (`true`), or refused it
    /// because the shared index is at its budget (`false`); it is dropped
    /// when Redis could not be asked.
    Add {
        conn: ConnId,
        host: String,
        port: u16,
        rfc: RfcNumber,
        title: Box<str>,
        done: Option<oneshot::Sender<bool>>,
    },
    Remove(ConnId),
}

impl Change {
    fn conn(&self) -> ConnId {
        match self {
            Change::Add { conn, .. } | Change::Remove(conn) => *conn,
        }
    }
}

/// The local copy of the index and what this server alone knows.
#[derive(Debug, Default)]
struct View {
    index: Index,
    /// Peers of other servers: (server, connection) → local id.
    remote: HashMap<(u64, u64), ConnId>,
    next_remote: u64,
    /// This server's live peers (their local ids are their connections).
    own: HashMap<ConnId, Own>,
    /// Own peers gone while Redis could not be told.
    gone: Vec<ConnId>,
    /// Sequences for own records not yet in Redis: above every global one,
    /// so they are the newest until Redis gives them their place.
    next_provisional: u64,
}

impl View {
    /// Stores an own record at once, with a provisional sequence.
    fn hold(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> bool {
        self.next_provisional += 1;
        self.index.insert_at(conn, rfc, title, PROVISIONAL + self.next_provisional).is_some()
    }

    /// Gives an own record its global sequence (placing it if a rebuild
    /// left it out), for a peer still here.
    fn place(&mut self, conn: ConnId, rfc: RfcNumber, title: &str, seq: u64) {
        if !self.own.contains_key(&conn) {
            return;
        }
        match self.index.seq_of(conn, rfc) {
            Some(s) if s == seq => {}
            Some(_) => {
                self.index.move_to(conn, rfc, seq);
            }
            None => {
                self.index.insert_at(conn, rfc, title, seq);
            }
        }
    }

    /// Forgets an own record Redis refused (the shared index is at its
    /// budget).
    fn drop_refused(&mut self, conn: ConnId, rfc: RfcNumber) {
        self.index.remove(conn, rfc);
        if let Some(o) = self.own.get_mut(&conn)
            && let Some(i) = o.rfcs.iter().rposition(|r| *r == rfc)
        {
            o.rfcs.swap_remove(i);
        }
    }

    fn remote_id(&mut self, key: (u64, u64)) -> ConnId {
        let next = &mut self.next_remote;
        *self.remote.entry(key).or_insert_with(|| {
            *next += 1;
            ConnId(REMOTE | *next)
        })
    }
}

/// A record as Redis holds it.
#[derive(Debug, PartialEq)]
struct Stored<'a> {
    server: u64,
    conn: u64,
    rfc: RfcNumber,
    port: u16,
    host: &'a str,
    title: &'a str,
}

impl<'a> Stored<'a> {
    /// Parses `server conn rfc port host title`; `None` for anything else,
    /// including text that could not go on the wire as it is.
    fn parse(v: &'a str) -> Option<Self> {
        let mut it = v.splitn(6, ' ');
        let server = u64::from_str_radix(it.next()?, 16).ok()?;
        let conn = it.next()?.parse().ok()?;
        let rfc = RfcNumber(it.next()?.parse().ok()?);
        let port = it.next()?.parse().ok()?;
        let host = it.next()?;
        let title = it.next()?;
        let clean = |s: &str| !s.bytes().any(|b| b.is_ascii_control());
        (!host.is_empty() && clean(host) && clean(title) && !host.contains(' ')).then_some(Stored {
            server,
            conn,
            rfc,
            port,
            host,
            title,
        })
    }
}

/// The index kept in Redis, with a local copy answering reads.
pub struct RedisStore {
    shared: Arc<Shared>,
    tasks: TaskTracker,
}

struct Shared {
    config: RedisConfig,
    /// This server's id, random per process: a restarted server is a new one.
    id: u64,
    id_hex: String,
    keys: Keys,
    client: Client,
    manager: ConnectionManagerConfig,
    /// The multiplexed connection every write and lease call shares;
    /// replaced by a fresh one after an error that may have spoilt it
    /// ([`StoreError::spoils_connection`]). A std mutex: held only to clone
    /// or swap it.
    conn: Mutex<ConnectionManager>,
    view: Mutex<View>,
    up: AtomicBool,
    /// Set when the copy or Redis may be wrong: the follower re-publishes
    /// this server's peers and rebuilds its copy.
    resync: AtomicBool,
    wake: Notify,
    /// The epoch this server last saw.
    epoch: Mutex<Option<String>>,
    /// When the copy was last known to be up to date with the log.
    synced: Mutex<Instant>,
    cancel: CancellationToken,
    scripts: Scripts,
    /// The memory budget of the whole shared index, sent with every write.
    budget: std::sync::atomic::AtomicU64,
    /// To the writer task.
    changes: mpsc::UnboundedSender<Change>,
}

struct Scripts {
    batch: Script,
    renew: Script,
    reap: Script,
    mark: Script,
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
    /// `give_up` passes; then it fails.
    pub async fn connect(config: RedisConfig, give_up: Duration) -> Result<Self> {
        // Small requests and answers, one after another: Nagle's algorithm
        // would only hold them back.
        let info = config
            .url
            .as_str()
            .into_connection_info()?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = Client::open(info)?;
        let manager = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(BACKOFF_MAX);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager.clone())?;
        let id = random_u64();
        let (changes, to_write) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            changes,
            id,
            id_hex: format!("{id:016x}"),
            keys: Keys::new(),
            client,
            manager,
            conn: Mutex::new(conn),
            view: Mutex::new(View::default()),
            up: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            wake: Notify::new(),
            epoch: Mutex::new(None),
            synced: Mutex::new(Instant::now()),
            cancel: CancellationToken::new(),
            scripts: Scripts {
                batch: Script::new(BATCH),
                renew: Script::new(RENEW),
                reap: Script::new(REAP),
                mark: Script::new(MARK),
            },
            budget: std::sync::atomic::AtomicU64::new(u64::MAX),
            config,
        });
        // The first snapshot, before serving.
        let deadline = Instant::now() + give_up;
        let mut backoff = BACKOFF_MIN;
        let start = loop {
            match shared.sync().await {
                Ok(start) => break start,
                Err(e) if Instant::now() + backoff < deadline => {
                    shared.down("loading the index", &e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Err(e) => return Err(e),
            }
        };
        let counts = shared.counts();
        info!(server = %shared.id_hex, peers = counts.peers, records = counts.records,
            "index loaded from {}", redact(&shared.config.url));
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
}

/// The URL without a password, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
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

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    fn ask_resync(&self) {
        self.resync.store(true, Ordering::Relaxed);
        self.wake.notify_one();
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
        {
            // Lazy: it connects on its first use. Failing here would only
            // mean a bad URL, which `connect` has already refused.
            match ConnectionManager::new_lazy_with_config(self.client.clone(), self.manager.clone()) {
                Ok(fresh) => *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
                Err(e) => debug!("could not set up a new redis connection: {e}"),
            }
        }
        r
    }

    /// Writes a batch of this server's changes to Redis, in one script;
    /// returns each change's sequence (0 for a removal).
    async fn write(&self, changes: &[Change]) -> Result<Vec<u64>> {
        let k = &self.keys;
        let mut inv = self.scripts.batch.prepare_invoke();
        inv.key(&k.seq).key(&k.rec).key(k.peers(&self.id_hex)).key(&k.servers).key(&k.log);
        inv.key(k.lease(&self.id_hex)).key(&k.bytes).key(&k.peer_bytes);
        inv.arg(&self.id_hex).arg(self.config.log_len).arg(self.lease_ms());
        inv.arg(self.budget.load(Ordering::Relaxed));
        for c in changes {
            inv.key(k.peer(&self.id_hex, c.conn().0));
            match c {
                Change::Add { conn, host, port, rfc, title, .. } => {
                    let cost = record_cost(*rfc, title, host, *port);
                    inv.arg("a").arg(conn.0).arg(rfc.0).arg(*port).arg(host.as_str()).arg(&**title).arg(cost)
                }
                Change::Remove(conn) => inv.arg("d").arg(conn.0).arg(0).arg(0).arg("").arg("").arg(0),
            };
        }
        let mut c = self.conn();
        let v: Value = self.call("write", inv.invoke_async(&mut c)).await?;
        let garbage = || StoreError::Garbage(format!("write script answered {}", preview(&v)));
        let Value::Array(items) = &v else { return Err(garbage()) };
        if items.len() != changes.len() {
            return Err(garbage());
        }
        items.iter().map(|i| as_u64(i).ok_or_else(garbage)).collect()
    }

    /// Writes this server's changes as they come, many at a time, and gives
    /// each record its global sequence in the local copy. While Redis is
    /// away the changes wait in the local copy (a resync publishes them).
    ///
    /// Several batches may be on their way at once (Redis runs them in the
    /// order they were sent: each is queued on the connection before the
    /// next is made), except that a batch removing a peer waits for the
    /// batches before it: a removal must never overtake its peer's ADDs.
    /// The batches in flight are futures this task polls, not tasks of their
    /// own, so a batch costs no extra wake-up.
    async fn publish(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<Change>) {
        let me = &*self;
        let mut inflight = FuturesUnordered::new();
        loop {
            let next = tokio::select! {
                biased;
                Some(()) = inflight.next(), if !inflight.is_empty() => continue,
                c = changes.recv(), if inflight.len() < WRITES_IN_FLIGHT => c,
                // Drain what connections queued before the server stopped.
                _ = me.cancel.cancelled() => changes.try_recv().ok(),
            };
            let Some(first) = next else { break };
            let mut batch = Vec::with_capacity(WRITE_BATCH);
            batch.push(first);
            while batch.len() < WRITE_BATCH
                && let Ok(c) = changes.try_recv()
            {
                batch.push(c);
            }
            if batch.iter().any(|c| matches!(c, Change::Remove(_))) {
                while inflight.next().await.is_some() {}
            }
            let mut write = Box::pin(me.write_batch(batch));
            // One poll queues the command on the connection, in order.
            if futures::poll!(write.as_mut()).is_pending() {
                inflight.push(write);
            }
        }
        while inflight.next().await.is_some() {}
    }

    /// Writes one batch and gives its records their place; on failure the
    /// resync takes over.
    async fn write_batch(&self, mut batch: Vec<Change>) {
        let written = if self.up.load(Ordering::Relaxed) && !self.resync.load(Ordering::Relaxed) {
            self.write(&batch).await
        } else {
            Err(StoreError::Unavailable)
        };
        match written {
            Ok(seqs) => {
                let mut v = self.view();
                for (c, seq) in batch.iter_mut().zip(seqs) {
                    if let Change::Add { conn, rfc, title, done, .. } = c {
                        if seq == 0 {
                            debug!(%conn, rfc = rfc.0, "ADD refused by redis: the shared index is at its memory budget");
                            v.drop_refused(*conn, *rfc);
                        } else {
                            v.place(*conn, *rfc, title, seq);
                        }
                        if let Some(done) = done.take() {
                            let _ = done.send(seq != 0);
                        }
                    }
                }
            }
            Err(e) => {
                if !matches!(e, StoreError::Unavailable) {
                    self.down("writing to redis", &e);
                }
                // Removals wait in `gone`; records stay in `own`: the
                // resync writes both.
                let mut v = self.view();
                for c in &batch {
                    if let Change::Remove(conn) = c {
                        v.gone.push(*conn);
                    }
                }
                drop(v);
                self.ask_resync();
            }
        }
    }

    /// Renews the lease; asks for a resync when Redis lost this server's
    /// lease or its data (the epoch changed) since last time.
    async fn renew(&self) -> Result<()> {
        let k = &self.keys;
        let mut c = self.conn();
        let lease_ms = self.lease_ms();
        let candidate = format!("{:016x}", random_u64());
        let v: Value = self
            .call(
                "renew",
                self.scripts
                    .renew
                    .key(k.lease(&self.id_hex))
                    .key(&k.servers)
                    .key(&k.epoch)
                    .arg(&self.id_hex)
                    .arg(lease_ms)
                    .arg(candidate)
                    .invoke_async(&mut c),
            )
            .await?;
        let garbage = || StoreError::Garbage(format!("lease script answered {v:?}"));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let [had, epoch] = items.as_slice() else { return Err(garbage()) };
        let had = as_u64(had).ok_or_else(garbage)? == 1;
        let epoch = as_string(epoch).ok_or_else(garbage)?;
        metrics::counter!("p2pci_store_lease_renewals_total").increment(1);
        let mut known = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        match known.as_deref() {
            None => *known = Some(epoch),
            Some(e) if e != epoch => {
                warn!(server = %self.id_hex, "redis lost its data (new epoch); re-publishing this server's peers");
                *known = Some(epoch);
                drop(known);
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                self.ask_resync();
            }
            Some(_) if !had => {
                drop(known);
                warn!(server = %self.id_hex, "this server's lease had lapsed; re-publishing its peers");
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                self.ask_resync();
            }
            Some(_) => {}
        }
        Ok(())
    }

    async fn reap(&self) -> Result<u64> {
        let k = &self.keys;
        let mut c = self.conn();
        let v: Value = self
            .call(
                "reap",
                self.scripts
                    .reap
                    .key(&k.servers)
                    .key(&k.seq)
                    .key(&k.rec)
                    .key(&k.log)
                    .key(&k.bytes)
                    .key(&k.peer_bytes)
                    .arg(&k.prefix)
                    .arg(self.config.log_len)
                    .invoke_async(&mut c),
            )
            .await?;
        as_u64(&v).ok_or_else(|| StoreError::Garbage(format!("reap script answered {v:?}")))
    }

    /// Renews the lease every third of it, and reaps dead servers often
    /// enough that their peers go within lease + 1 s.
    async fn keep_lease(self: Arc<Self>) {
        let renew_every = (self.config.lease / 3).max(Duration::from_millis(50));
        let mut last_renew = Instant::now();
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(REAP_EVERY) => {}
            }
            let synced = *self.synced.lock().unwrap_or_else(|p| p.into_inner());
            metrics::gauge!("p2pci_store_staleness_seconds").set(synced.elapsed().as_secs_f64());
            if last_renew.elapsed() >= renew_every {
                match self.renew().await {
                    Ok(()) => {
                        last_renew = Instant::now();
                        self.up();
                    }
                    Err(e) => {
                        self.down("renewing the lease", &e);
                        continue;
                    }
                }
            }
            match self.reap().await {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("p2pci_store_lease_expiries_total").increment(n);
                    info!(server = %self.id_hex, servers = n, "removed the peers of servers whose lease expired");
                }
                Err(e) => self.down("reaping expired servers", &e),
            }
        }
    }

    /// Puts Redis right about this server's peers, then loads a snapshot
    /// into a fresh copy and installs it. Returns where to follow the log.
    async fn sync(&self) -> Result<(String, u64)> {
        self.resync.store(false, Ordering::Relaxed);
        self.renew().await?;
        self.resync.store(false, Ordering::Relaxed);
        // Peers that left while Redis could not be told, then every record
        // of this server's live peers (idempotent in Redis).
        let mut changes: Vec<Change> =
            std::mem::take(&mut self.view().gone).into_iter().map(Change::Remove).collect();
        let gone = changes.len();
        {
            let v = self.view();
            changes.extend(v.own.iter().flat_map(|(&conn, o)| {
                let index = &v.index;
                o.rfcs.iter().filter_map(move |&rfc| {
                    Some(Change::Add {
                        conn,
                        host: o.host.clone(),
                        port: o.port,
                        rfc,
                        title: index.held(conn, rfc)?.title().into(),
                        done: None,
                    })
                })
            }));
        }
        let mut refused = 0;
        for (i, chunk) in changes.chunks(WRITE_BATCH).enumerate() {
            match self.write(chunk).await {
                Ok(seqs) => {
                    // Records taken while Redis was away, for which the
                    // shared index has no room now: they go here too.
                    let mut v = self.view();
                    for (c, _) in chunk.iter().zip(seqs).filter(|(_, s)| *s == 0) {
                        if let Change::Add { conn, rfc, .. } = c {
                            v.drop_refused(*conn, *rfc);
                            refused += 1;
                        }
                    }
                }
                Err(e) => {
                    let unwritten = changes[(i * WRITE_BATCH).min(gone)..gone].iter().map(Change::conn);
                    self.view().gone.extend(unwritten);
                    return Err(e);
                }
            }
        }
        if refused > 0 {
            warn!(server = %self.id_hex, refused,
                "records taken while redis was away dropped: the shared index is at its memory budget");
        }
        let started = Instant::now();
        let (seq, last_id) = self.mark().await?;
        let mut index = Index::with_caps(self.view().index.caps());
        let mut remote = HashMap::new();
        let mut next_remote = 0;
        let mut mine = Vec::new();
        let mut cursor = "0".to_string();
        let mut c = self.conn();
        loop {
            let v: Value = self
                .call(
                    "snapshot",
                    redis::cmd("HSCAN")
                        .arg(&self.keys.rec)
                        .arg(&cursor)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(&mut c),
                )
                .await?;
            let garbage = || StoreError::Garbage(format!("HSCAN answered {}", preview(&v)));
            let Value::Array(parts) = &v else { return Err(garbage()) };
            let [next, items] = parts.as_slice() else { return Err(garbage()) };
            let Value::Array(items) = items else { return Err(garbage()) };
            for pair in items.chunks_exact(2) {
                let (Some(seq), Some(text)) = (as_u64(&pair[0]), as_str(&pair[1])) else {
                    return Err(garbage());
                };
                let Some(r) = Stored::parse(text) else {
                    warn!(seq, "skipping a record redis holds in a form not understood: {text:?}");
                    continue;
                };
                if r.server == self.id {
                    mine.push((seq, r.conn, r.rfc, r.title.to_owned()));
                    continue;
                }
                let id = *remote.entry((r.server, r.conn)).or_insert_with(|| {
                    next_remote += 1;
                    ConnId(REMOTE | next_remote)
                });
                if index.admit_as(id, r.host, r.port).is_ok() {
                    index.insert_at(id, r.rfc, r.title, seq);
                }
            }
            cursor = as_string(next).ok_or_else(garbage)?;
            if cursor == "0" {
                break;
            }
        }
        // Install it, with this server's live peers in it.
        {
            let mut v = self.view();
            for (&conn, o) in &v.own {
                let _ = index.admit_as(conn, &o.host, o.port);
            }
            for (seq, conn, rfc, title) in mine {
                if v.own.contains_key(&ConnId(conn)) {
                    index.insert_at(ConnId(conn), rfc, &title, seq);
                }
            }
            // Own records added since the write above, titles from the
            // copy being replaced: held here until the writer gives them
            // their place.
            let missing: Vec<(ConnId, RfcNumber, Box<str>)> = v
                .own
                .iter()
                .flat_map(|(&c, o)| o.rfcs.iter().map(move |&r| (c, r)))
                .filter(|&(c, r)| index.held(c, r).is_none())
                .filter_map(|(c, r)| Some((c, r, v.index.held(c, r)?.title().into())))
                .collect();
            v.index = index;
            v.remote = remote;
            v.next_remote = next_remote;
            for (c, r, t) in missing {
                v.hold(c, r, &t);
            }
        }
        let counts = self.counts();
        metrics::histogram!("p2pci_store_roundtrip_seconds", "op" => "load")
            .record(started.elapsed().as_secs_f64());
        debug!(records = counts.records, took = ?started.elapsed(), "snapshot loaded");
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.up();
        Ok((last_id, seq))
    }

    async fn mark(&self) -> Result<(u64, String)> {
        let mut c = self.conn();
        let v: Value = self
            .call("mark", self.scripts.mark.key(&self.keys.seq).key(&self.keys.log).invoke_async(&mut c))
            .await?;
        let garbage = || StoreError::Garbage(format!("mark script answered {v:?}"));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let [seq, id] = items.as_slice() else { return Err(garbage()) };
        Ok((as_u64(seq).ok_or_else(garbage)?, as_string(id).ok_or_else(garbage)?))
    }

    /// Follows the log until stopped; on trouble (a gap, an error, a resync
    /// asked for) it rebuilds from a snapshot, backing off while Redis is away.
    async fn follow(self: Arc<Self>, start: (String, u64)) {
        let (mut id, mut seq) = start;
        let mut backoff = BACKOFF_MIN;
        let mut reader: Option<MultiplexedConnection> = None;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let step = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.read_log(&mut reader, &mut id, &mut seq) => r,
            };
            let failed = match step {
                Ok(Some(news)) => {
                    backoff = BACKOFF_MIN;
                    if news > 0 && !self.config.follow_pause.is_zero() {
                        tokio::select! {
                            _ = self.cancel.cancelled() => return,
                            _ = tokio::time::sleep(self.config.follow_pause) => {}
                        }
                    }
                    continue;
                }
                // A gap or a resync asked for.
                Ok(None) => None,
                Err(e) => {
                    reader = None;
                    Some(e)
                }
            };
            if let Some(e) = &failed {
                self.down("following the change log", e);
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            let synced = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.sync() => r,
            };
            match synced {
                Ok((i, s)) => {
                    (id, seq) = (i, s);
                    backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    self.down("rebuilding the local copy", &e);
                    // Try again after a backoff.
                    self.resync.store(true, Ordering::Relaxed);
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Reads and applies one batch of the log; returns how many entries it
    /// applied. `Ok(None)`: the copy must be
    /// rebuilt (a gap in the sequence, or a resync asked for).
    async fn read_log(
        &self,
        reader: &mut Option<MultiplexedConnection>,
        id: &mut String,
        seq: &mut u64,
    ) -> Result<Option<usize>> {
        if self.resync.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let r = match reader {
            Some(r) => r,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.config.timeout))
                    .set_response_timeout(Some(self.config.timeout + Duration::from_millis(BLOCK_MS)));
                let c = tokio::time::timeout(
                    self.config.timeout,
                    self.client.get_multiplexed_async_connection_with_config(&config),
                )
                .await
                .map_err(|_| StoreError::Timeout(self.config.timeout))??;
                reader.insert(c)
            }
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.keys.log)
            .arg(id.as_str());
        let read = cmd.query_async::<Value>(r);
        let v = tokio::select! {
            r = tokio::time::timeout(self.config.timeout + Duration::from_millis(BLOCK_MS), read) => match r {
                Ok(v) => v?,
                Err(_) => return Err(StoreError::Timeout(self.config.timeout)),
            },
            _ = self.wake.notified() => return Ok((!self.resync.load(Ordering::Relaxed)).then_some(0)),
        };
        let entries = log_entries(&v)?;
        let news = entries.len();
        let added = self.added_records(r, &entries).await?;
        let mut view = self.view();
        for (entry_id, fields) in entries {
            let n = fields.iter().find(|(k, _)| *k == "n").and_then(|(_, v)| v.parse::<u64>().ok());
            let Some(n) = n else {
                return Err(StoreError::Garbage(format!("log entry {entry_id} without a sequence")));
            };
            if n != *seq + 1 {
                drop(view);
                info!(server = %self.id_hex, expected = *seq + 1, got = n, "gap in the change log; reloading the index");
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                return Ok(None);
            }
            for (k, v) in &fields {
                match *k {
                    // The record, from `rec`; gone already if its peer
                    // has left since (its removal follows in the log).
                    "a" if v.is_empty() => {
                        if let Some(text) = added.get(&n) {
                            self.apply_add(&mut view, n, text);
                        }
                    }
                    // A record in the entry itself (written by an older
                    // server).
                    "a" => self.apply_add(&mut view, n, v),
                    "d" => self.apply_remove(&mut view, v),
                    _ => {}
                }
            }
            *seq = n;
            *id = entry_id.to_owned();
        }
        drop(view);
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.up();
        Ok(Some(news))
    }

    /// The records the ADD entries in `entries` name (sequence → record
    /// as `rec` holds it), read from `rec` in one call; records gone since
    /// are absent.
    async fn added_records(
        &self,
        r: &mut MultiplexedConnection,
        entries: &[LogEntry<'_>],
    ) -> Result<HashMap<u64, String>> {
        let seqs: Vec<u64> = entries
            .iter()
            .filter(|(_, fields)| fields.iter().any(|(k, v)| *k == "a" && v.is_empty()))
            .filter_map(|(_, fields)| fields.iter().find(|(k, _)| *k == "n")?.1.parse().ok())
            .collect();
        if seqs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.keys.rec).arg(&seqs);
        let read = cmd.query_async::<Value>(r);
        let v = match tokio::time::timeout(self.config.timeout, read).await {
            Ok(v) => v?,
            Err(_) => return Err(StoreError::Timeout(self.config.timeout)),
        };
        let garbage = || StoreError::Garbage(format!("HMGET answered {}", preview(&v)));
        let Value::Array(values) = &v else { return Err(garbage()) };
        if values.len() != seqs.len() {
            return Err(garbage());
        }
        let mut out = HashMap::with_capacity(seqs.len());
        for (&seq, value) in seqs.iter().zip(values) {
            match value {
                Value::Nil => {}
                v => {
                    out.insert(seq, as_str(v).ok_or_else(garbage)?.to_owned());
                }
            }
        }
        Ok(out)
    }

    fn apply_add(&self, view: &mut View, seq: u64, text: &str) {
        let Some(r) = Stored::parse(text) else {
            warn!(seq, "skipping a log entry not understood: {text:?}");
            return;
        };
        if r.server == self.id {
            // Its own record, back from the log: its place in the global
            // order, for a peer still here (one that left is not brought back).
            view.place(ConnId(r.conn), r.rfc, r.title, seq);
            return;
        }
        let id = view.remote_id((r.server, r.conn));
        if view.index.admit_as(id, r.host, r.port).is_ok() {
            view.index.insert_at(id, r.rfc, r.title, seq);
        }
    }

    fn apply_remove(&self, view: &mut View, text: &str) {
        let mut it = text.split(' ');
        let (Some(server), Some(conn)) = (it.next(), it.next()) else { return };
        let (Ok(server), Ok(conn)) = (u64::from_str_radix(server, 16), conn.parse::<u64>()) else { return };
        // This server's own peers leave through it alone; one reaped while
        // its lease lapsed is still here and is re-published.
        if server == self.id {
            return;
        }
        if let Some(id) = view.remote.remove(&(server, conn)) {
            view.index.remove_peer(id);
        }
    }
}

/// A log entry: its id and its fields.
type LogEntry<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// `[(id, [(field, value)])]` from an XREAD answer (RESP2 or RESP3); none
/// when the wait ended with nothing new.
fn log_entries(v: &Value) -> Result<Vec<LogEntry<'_>>> {
    let garbage = || StoreError::Garbage(format!("XREAD answered {}", preview(v)));
    let streams: Vec<&Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Ok(&kv[1]),
                _ => Err(garbage()),
            })
            .collect::<Result<_>>()?,
        Value::Map(kv) => kv.iter().map(|(_, v)| v).collect(),
        _ => return Err(garbage()),
    };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(entries) = s else { return Err(garbage()) };
        for e in entries {
            let Value::Array(parts) = e else { return Err(garbage()) };
            let [id, fields] = parts.as_slice() else { return Err(garbage()) };
            let id = as_str(id).ok_or_else(garbage)?;
            let Value::Array(fields) = fields else { return Err(garbage()) };
            let mut kv = Vec::with_capacity(fields.len() / 2);
            for pair in fields.chunks_exact(2) {
                kv.push((as_str(&pair[0]).ok_or_else(garbage)?, as_str(&pair[1]).ok_or_else(garbage)?));
            }
            out.push((id, kv));
        }
    }
    Ok(out)
}

fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::Int(n) => Some(n.to_string()),
        _ => as_str(v).map(str::to_owned),
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => as_str(v)?.parse().ok(),
    }
}

/// The start of an answer, for an error message.
fn preview(v: &Value) -> String {
    let mut s = format!("{v:?}");
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl IndexStore for RedisStore {
    /// The record is stored in the local copy at once, newest of all (the
    /// peer sees it on its connection), and handed to the writer task; the
    /// answer waits until Redis has it and has given it its place in the
    /// global order, for at most the store's timeout. Past that it is
    /// answered anyway: a record lives as long as its peer's connection to
    /// this server, so this server's memory is as good a home for it as
    /// Redis, which only has to pass it on to the others once it is back.
    async fn add(
        &self,
        conn: ConnId,
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), AddError> {
        if let Some(written) = self.add_now(conn, host, port, rfc, title, out)? {
            // Answered once Redis has it, so an ADD answered here is older
            // than any ADD sent afterwards, on any server. A Redis that does
            // not take it in time does not hold the peer up (should it then
            // refuse the record, the record goes, unanswered for).
            if let Ok(Ok(false)) = tokio::time::timeout(self.shared.config.timeout, written).await {
                return Err(CapExceeded::IndexMemory(self.shared.budget.load(Ordering::Relaxed)).into());
            }
        }
        Ok(())
    }

    fn lookup_page(
        &self,
        rfc: RfcNumber,
        cursor: HolderCursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = (usize, Option<HolderCursor>)> + Send {
        let page = self
            .shared
            .view()
            .index
            .lookup_page(rfc, cursor, max_bytes, |r| out.extend_from_slice(r.line().as_bytes()));
        std::future::ready(page)
    }

    fn list_page(
        &self,
        cursor: Cursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Option<Cursor>> + Send {
        let next = self.shared.view().index.list_page_bytes(cursor, super::PAGE_RECORDS, max_bytes, |r| {
            out.extend_from_slice(r.line().as_bytes())
        });
        std::future::ready(next)
    }

    /// The caps hold for this server's own peers here, and the memory
    /// budget for the whole shared index in Redis as well (the same
    /// budget on every server keeps the whole index within it).
    fn set_caps(&self, caps: Caps) {
        self.shared.budget.store(caps.memory, Ordering::Relaxed);
        self.shared.view().index.set_caps(caps);
    }

    fn remove_peer(&self, conn: ConnId) -> impl Future<Output = usize> + Send {
        let s = &*self.shared;
        let (removed, freed) = {
            let mut v = s.view();
            if v.own.remove(&conn).is_some() {
                let before = v.index.bytes();
                let removed = v.index.remove_peer(conn);
                if s.changes.send(Change::Remove(conn)).is_err() {
                    // The writer has stopped (the server is closing).
                    v.gone.push(conn);
                }
                (removed, before - v.index.bytes())
            } else {
                (0, 0)
            }
        };
        super::released(freed);
        std::future::ready(removed)
    }

    fn counts(&self) -> Counts {
        self.shared.counts()
    }

    /// Stops following and renewing, writes what is still queued, then
    /// gives up the lease so the others need not wait for it.
    async fn close(&self) {
        let s = &*self.shared;
        s.cancel.cancel();
        self.tasks.wait().await;
        let gone: Vec<Change> = std::mem::take(&mut s.view().gone).into_iter().map(Change::Remove).collect();
        for chunk in gone.chunks(WRITE_BATCH) {
            if let Err(e) = s.write(chunk).await {
                warn!(server = %s.id_hex, "could not remove peers from redis ({e}); the others reap them when the lease expires");
                break;
            }
        }
        let mut c = s.conn();
        let lease = s.keys.lease(&s.id_hex);
        let r: Result<Value> = s
            .call(
                "close",
                redis::pipe().atomic().del(&lease).srem(&s.keys.servers, &s.id_hex).query_async(&mut c),
            )
            .await;
        if let Err(e) = r {
            warn!(server = %s.id_hex, "could not give up the lease ({e}); the others reap it when it expires");
        }
    }
}

impl RedisStore {
    fn add_now(
        &self,
        conn: ConnId,
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
        out: &mut Vec<u8>,
    ) -> Result<Option<oneshot::Receiver<bool>>, AddError> {
        let s = &*self.shared;
        let mut v = s.view();
        // The identity rule, as in memory; the peer is this server's own.
        v.index.check_identity(conn, host, port)?;
        if let Some(r) = v.index.held(conn, rfc) {
            out.extend_from_slice(r.line().as_bytes());
            return Ok(None);
        }
        // The caps, against the local copy of the whole shared index first
        // (Redis holds the budget against every server's records at once).
        v.index.room(conn, host, port, rfc, title)?;
        v.index.admit_as(conn, host, port)?;
        if !v.hold(conn, rfc, title) {
            return Err(AddError::Full);
        }
        let o = v.own.entry(conn).or_insert_with(|| Own { host: host.to_owned(), port, rfcs: Vec::new() });
        o.rfcs.push(rfc);
        let Some(r) = v.index.held(conn, rfc) else { return Err(AddError::Full) };
        out.extend_from_slice(r.line().as_bytes());
        drop(v);
        // The writer outlives every connection; should it have stopped, the
        // record is in `own` and a resync would write it.
        let up = s.up.load(Ordering::Relaxed) && !s.resync.load(Ordering::Relaxed);
        // While Redis is away the answer does not wait for it.
        let (done, written) = if up {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let change = Change::Add { conn, host: host.to_owned(), port, rfc, title: title.into(), done };
        if s.changes.send(change).is_err() {
            s.ask_resync();
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_records_parse_strictly() {
        let r = Stored::parse("00000000000000ff 7 8600 5000 hostA A title, with spaces").unwrap();
        assert_eq!(
            r,
            Stored {
                server: 255,
                conn: 7,
                rfc: RfcNumber(8600),
                port: 5000,
                host: "hostA",
                title: "A title, with spaces"
            }
        );
        for bad in
            ["", "zz 1 2 3 h t", "ff 1 2 99999 h t", "ff 1 2 3", "ff 1 2 3 h t\r\nRFC 1", "ff x 2 3 h t"]
        {
            assert_eq!(Stored::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn log_answers_parse_or_fail() {
        let entry = |id: &str, kv: &[&str]| {
            Value::Array(vec![
                Value::BulkString(id.into()),
                Value::Array(kv.iter().map(|s| Value::BulkString(s.as_bytes().to_vec())).collect()),
            ])
        };
        let v = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"log".to_vec()),
            Value::Array(vec![entry("1-0", &["n", "1", "a", "x"]), entry("2-0", &["n", "2", "d", "ff 1"])]),
        ])]);
        let got = log_entries(&v).unwrap();
        assert_eq!(got, [("1-0", vec![("n", "1"), ("a", "x")]), ("2-0", vec![("n", "2"), ("d", "ff 1")])]);
        assert!(log_entries(&Value::Nil).unwrap().is_empty());
        for bad in [Value::Int(3), Value::Array(vec![Value::Int(1)]), Value::Okay] {
            assert!(matches!(log_entries(&bad), Err(StoreError::Garbage(_))));
        }
    }

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
