//! Every Redis fault of issue 18, one after another, against real
//! `redis-server` processes and three real servers (the binary), each while
//! peers join and leave and one server takes ADD load: after each fault
//! ends, every server's LIST must be exactly the records of the test's own
//! live connections, no more (no ghost), no less, no duplicate, within
//! 2 × lease + 1 s. Each server reaches Redis through its own
//! [`CutProxy`], which can cut it off, deliver its old connections' bytes
//! late, and move it to a promoted replica.

use crate::common::cut_proxy::CutProxy;
use crate::common::redis_server::RedisServer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::protocol::{Record, Status};
use tokio::io::AsyncWriteExt;

const LEASE: Duration = Duration::from_secs(1);
/// The bound after a fault ends.
const BOUND: Duration = Duration::from_secs(3);
const SERVERS: usize = 3;
/// Connections of ADD load on server 0, and ADDs each makes before it
/// leaves and another takes its place.
const LOAD_SLOTS: usize = 6;
const LOAD_ADDS: usize = 60;

struct Peer {
    conn: Raw,
    server: usize,
    records: Vec<Record>,
}

/// Peer names, unique over the whole test.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn next_name() -> (String, u16) {
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    (format!("h{i}"), 1000 + (i % 60_000) as u16)
}

/// A peer joins `server` and advertises two RFCs.
async fn join(addr: SocketAddr, server: usize) -> Peer {
    let (host, port) = next_name();
    let mut conn = Raw::connect(addr).await;
    let mut records = Vec::new();
    for rfc in [port as u32 % 7, 100 + port as u32 % 11] {
        let title = format!("T{rfc}");
        conn.send(add(rfc, &host, port, &title)).await;
        assert_eq!(conn.response().await.status, Status::Ok, "ADD by {host}");
        records.push(rec(rfc, &title, &host, port));
    }
    Peer { conn, server, records }
}

/// ADD load on one server: connections that each ADD `LOAD_ADDS` RFCs one
/// after another, then leave (every other one with a reset) and are
/// replaced, until stopped or told to leave.
struct Load {
    stop: Arc<AtomicBool>,
    leave: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Option<Peer>>>,
}

impl Load {
    fn start(addr: SocketAddr, server: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let leave = Arc::new(AtomicBool::new(false));
        let tasks = (0..LOAD_SLOTS)
            .map(|slot| {
                let (stop, leave) = (stop.clone(), leave.clone());
                tokio::spawn(async move {
                    for generation in 0.. {
                        let (host, port) = next_name();
                        let mut conn = Raw::connect(addr).await;
                        let mut records = Vec::new();
                        for k in 0..LOAD_ADDS as u32 {
                            if stop.load(Ordering::Relaxed) {
                                return Some(Peer { conn, server, records });
                            }
                            if leave.swap(false, Ordering::Relaxed) {
                                break;
                            }
                            let rfc = 10_000 + k;
                            // The server may be killed under it.
                            if conn.stream.write_all(add(rfc, &host, port, "Load").as_bytes()).await.is_err()
                            {
                                return None;
                            }
                            match conn.try_response().await {
                                Some(r) if r.status == Status::Ok => {
                                    records.push(rec(rfc, "Load", &host, port))
                                }
                                Some(_) => {}
                                None => return None,
                            }
                        }
                        if (slot + generation) % 2 == 0 {
                            conn.reset();
                        }
                    }
                    None
                })
            })
            .collect();
        Load { stop, leave, tasks }
    }

    /// Makes one of the load's connections leave at once.
    fn one_leaves(&self) {
        self.leave.store(true, Ordering::Relaxed);
    }

    /// Stops it; the connections open then stay, as peers.
    async fn stop(self) -> Vec<Peer> {
        self.stop.store(true, Ordering::Relaxed);
        let mut peers = Vec::new();
        for t in self.tasks {
            // A task whose server was killed under it has no peer left.
            if let Ok(Ok(Some(p))) = tokio::time::timeout(WAIT, t).await {
                peers.push(p);
            }
        }
        peers
    }
}

struct World {
    redis: RedisServer,
    proxies: Vec<CutProxy>,
    servers: Vec<ChildServer>,
    addrs: Vec<SocketAddr>,
    peers: Vec<Peer>,
    load: Option<Load>,
}

impl World {
    fn spawn_server(proxy: &CutProxy, port: u16) -> ChildServer {
        ChildServer::respawn(port, &["--store", &proxy.url(), "--lease", "1"])
    }

    /// Some peers join (on every server), some leave (every other one
    /// with a reset), all at once.
    async fn churn(&mut self, joins: usize, leaves: usize) {
        for i in 0..leaves.min(self.peers.len()) {
            let p = self.peers.remove((i * 7) % self.peers.len());
            if i % 2 == 0 {
                p.conn.reset();
            }
        }
        let addrs = self.addrs.clone();
        let joined =
            futures::future::join_all((0..joins).map(|i| join(addrs[i % SERVERS], i % SERVERS))).await;
        self.peers.extend(joined);
        if let Some(load) = &self.load {
            load.one_leaves();
        }
    }

    fn start_load(&mut self) {
        self.load = Some(Load::start(self.addrs[0], 0));
    }

    async fn stop_load(&mut self) {
        if let Some(load) = self.load.take() {
            let peers = load.stop().await;
            self.peers.extend(peers);
        }
    }

    /// Every server lists exactly the live peers' records within the bound
    /// after `ended`; returns how long that took.
    async fn converged(&self, fault: &str, ended: Instant) -> Duration {
        let want = sorted(self.peers.iter().flat_map(|p| p.records.clone()).collect());
        for &addr in &self.addrs {
            loop {
                let got = sorted(list_of(addr).await);
                if got == want {
                    break;
                }
                assert!(
                    ended.elapsed() <= BOUND,
                    "{fault}: server {addr} lists {} records {:?} after the fault ended, want {}; \
                     extra {:?}, missing {:?}",
                    got.len(),
                    ended.elapsed(),
                    want.len(),
                    got.iter().filter(|r| !want.contains(r)).take(5).collect::<Vec<_>>(),
                    want.iter().filter(|r| !got.contains(r)).take(5).collect::<Vec<_>>(),
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let took = ended.elapsed();
        eprintln!("{fault}: exact on every server {took:?} after it ended ({} records)", want.len());
        took
    }

    /// A round: load and churn, the fault (which churns too and returns
    /// when it ended), then the check.
    async fn round(&mut self, fault: &str, run: impl AsyncFnOnce(&mut World) -> Instant) -> Duration {
        self.start_load();
        self.churn(4, 3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ended = run(self).await;
        self.stop_load().await;
        self.converged(fault, ended).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_is_exact_after_every_redis_fault() {
    raise_fd_limit();
    let Some(redis) = RedisServer::start_saving() else { return };
    let started = Instant::now();
    let mut proxies = Vec::new();
    for _ in 0..SERVERS {
        proxies.push(CutProxy::start(redis.addr()).await);
    }
    let servers: Vec<ChildServer> = proxies.iter().map(|p| World::spawn_server(p, 0)).collect();
    let addrs = servers.iter().map(|s| s.addr).collect();
    let mut w = World { redis, proxies, servers, addrs, peers: Vec::new(), load: None };
    w.churn(9, 0).await;
    let mut took = Vec::new();

    took.push(
        w.round("FLUSHALL", async |w| {
            w.redis.cmd(&["FLUSHALL"]).await;
            let ended = Instant::now();
            w.churn(3, 2).await;
            ended
        })
        .await,
    );

    took.push(
        w.round("redis SIGKILLed and restarted empty", async |w| {
            w.redis.restart_empty();
            let ended = Instant::now();
            w.churn(3, 2).await;
            ended
        })
        .await,
    );

    took.push(
        w.round("redis restarted from an older dump", async |w| {
            assert_eq!(w.redis.cmd(&["SAVE"]).await, redis::Value::Okay);
            let old = w.redis.dump().with_extension("old");
            std::fs::copy(w.redis.dump(), &old).unwrap();
            // Changes the dump does not have: peers leave (their records
            // come back with the dump) and join.
            w.churn(4, 6).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            w.redis.kill();
            std::fs::copy(&old, w.redis.dump()).unwrap();
            w.redis.restart();
            Instant::now()
        })
        .await,
    );

    took.push(
        w.round("redis SIGSTOPped for 3 leases", async |w| {
            w.redis.signal("STOP");
            let stopped = Instant::now();
            w.churn(3, 4).await;
            tokio::time::sleep((3 * LEASE).saturating_sub(stopped.elapsed())).await;
            w.redis.signal("CONT");
            Instant::now()
        })
        .await,
    );

    let late = Duration::from_millis(1500);
    took.push(
        w.round("the loaded server cut from redis for 3 leases, its old bytes delivered late", async |w| {
            w.proxies[0].cut();
            let cut = Instant::now();
            w.churn(3, 4).await;
            tokio::time::sleep(LEASE).await;
            w.churn(0, 2).await;
            tokio::time::sleep((3 * LEASE).saturating_sub(cut.elapsed())).await;
            w.proxies[0].heal(late);
            Instant::now()
        })
        .await,
    );
    // The old connections' bytes have landed by now: they changed nothing.
    tokio::time::sleep(late).await;
    w.converged("after the late bytes", Instant::now()).await;

    took.push(
        w.round("the loaded server SIGKILLed mid-batch", async |w| {
            tokio::time::sleep(Duration::from_millis(200)).await;
            w.servers[0].proc.kill();
            let ended = Instant::now();
            w.peers.retain(|p| p.server != 0);
            let port = w.addrs[0].port();
            w.servers[0] = World::spawn_server(&w.proxies[0], port);
            ended
        })
        .await,
    );

    took.push(
        w.round("a replica that missed writes promoted", async |w| {
            let replica = RedisServer::replica_of(&w.redis).await;
            // It stops following here: all that comes after, it misses.
            assert_eq!(replica.cmd(&["REPLICAOF", "NO", "ONE"]).await, redis::Value::Okay);
            w.churn(4, 6).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            w.redis.kill();
            for p in &w.proxies {
                p.retarget(replica.addr());
            }
            w.redis = replica;
            Instant::now()
        })
        .await,
    );

    // And Redis holds exactly the live records too.
    let want = w.peers.iter().map(|p| p.records.len()).sum::<usize>();
    eventually("redis holds the live records", || async {
        w.redis.cmd(&["HLEN", "{p2pci}:rec"]).await == redis::Value::Int(want as i64)
    })
    .await;
    eprintln!(
        "all faults: worst {:?} after a fault ended; {:?} in all",
        took.iter().max(),
        started.elapsed()
    );
}

/// The fence itself (`fence` in scripts/lib.lua, run as the scripts run
/// it): a token at or below the last applied does nothing and leaves the
/// last in place (a late write must not lower it, or a later late one
/// would pass); a token after one that never arrived says writes were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_turns_late_writes_into_nothing_and_keeps_the_latest() {
    let Some(redis) = RedisServer::start() else { return };
    let script = format!(
        "{}\nlocal r = fence(KEYS[1], ARGV[1], ARGV[2])\nif r == nil then return -1 end\nreturn r",
        include_str!("../../src/store/redis/scripts/lib.lua")
    );
    let fence = async |token: &str, prev: &str| -> redis::Value {
        redis.cmd(&["EVAL", &script, "1", "{p2pci}:fence:test", token, prev]).await
    };
    use redis::Value::Int;
    assert_eq!(fence("5", "0").await, Int(0), "the first write, in order");
    assert_eq!(fence("6", "5").await, Int(0), "the next, in order");
    assert_eq!(fence("4", "3").await, Int(-1), "an older token: late");
    assert_eq!(fence("6", "5").await, Int(-1), "the same token again: late");
    let last = redis.cmd(&["GET", "{p2pci}:fence:test"]).await;
    assert_eq!(last, redis::Value::BulkString(b"6".to_vec()), "late writes leave the last token");
    assert_eq!(fence("5", "4").await, Int(-1), "still late after a late one");
    assert_eq!(fence("8", "7").await, Int(1), "after a token that never arrived: lost");
    assert_eq!(fence("9", "8").await, Int(0));
}
