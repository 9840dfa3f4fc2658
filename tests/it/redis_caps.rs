//! The memory budget with `--store redis`: it holds for the whole shared
//! index, every server's records together, in Redis as well as in each
//! server's copy; what a peer's records cost comes back when it leaves, or
//! when its server dies and is reaped.

use crate::common::redis_server as shared;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use p2pci::index::{Caps, peer_cost, record_cost};
use p2pci::protocol::{RfcNumber, Status};
use p2pci::server::ServerConfig;
use p2pci::store::{IndexStore, RedisConfig, RedisStore};
use shared::RedisServer;
use tokio_util::sync::CancellationToken;

/// An index server on `url` held to `caps`, in this process; stopped when
/// the token is dropped.
struct Capped {
    addr: SocketAddr,
    store: Arc<RedisStore>,
    _stop: tokio_util::sync::DropGuard,
}

async fn capped(url: &str, caps: Caps) -> Capped {
    let mut config = RedisConfig::new(url);
    config.lease = Duration::from_secs(1);
    config.timeout = Duration::from_secs(2);
    let store = within("index loaded", RedisStore::connect(config, Duration::from_secs(5))).await.unwrap();
    let store = Arc::new(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = ServerConfig { print: false, caps, ..ServerConfig::default() };
    tokio::spawn(p2pci::server::run(listener, config, store.clone(), stop.clone()));
    Capped { addr, store, _stop: stop.drop_guard() }
}

async fn redis_int(redis: &RedisServer, args: &[&str]) -> i64 {
    match redis.cmd(args).await {
        redis::Value::Int(n) => n,
        redis::Value::Nil => 0,
        redis::Value::BulkString(b) => String::from_utf8(b).unwrap().parse().unwrap(),
        v => panic!("{args:?} answered {v:?}"),
    }
}

/// Pipelines ADDs of `rfcs` by `host` on `c`, 50 at a time (then their
/// answers); returns how many were 200 (the others must be 400).
async fn flood(c: &mut Raw, host: &str, rfcs: std::ops::Range<u32>, title: &str) -> usize {
    let rfcs: Vec<u32> = rfcs.collect();
    let mut ok = 0;
    for batch in rfcs.chunks(50) {
        let all: String = batch.iter().map(|&r| add(r, host, 1, title)).collect();
        c.send(all).await;
        for _ in batch {
            match c.response().await.status {
                Status::Ok => ok += 1,
                Status::BadRequest => {}
                s => panic!("ADD answered {s:?}"),
            }
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_together_stay_within_one_budget() {
    let Some(redis) = RedisServer::start() else { return };
    let title = "x".repeat(1000);
    // Every host is two letters and every RFC four digits: one size.
    let one = record_cost(RfcNumber(1000), &title, "ha", 1);
    let budget = 2 * peer_cost("ha") + 30 * one;
    let caps = Caps { records_per_peer: 1000, memory: budget };
    let (a, b) = (capped(&redis.url(), caps).await, capped(&redis.url(), caps).await);
    let (mut pa, mut pb) = (Raw::connect(a.addr).await, Raw::connect(b.addr).await);
    // Both at once: neither server's copy knows what the other takes.
    let (oka, okb) =
        tokio::join!(flood(&mut pa, "ha", 1000..1040, &title), flood(&mut pb, "hb", 2000..2040, &title));
    eprintln!("accepted {oka} on a, {okb} on b");
    assert_eq!(oka + okb, 30, "a {oka} + b {okb}");
    assert_eq!(redis_int(&redis, &["HLEN", "{p2pci}:rec"]).await, 30);
    assert_eq!(redis_int(&redis, &["GET", "{p2pci}:bytes"]).await, 30 * one as i64);
    for s in [&a, &b] {
        eventually("each copy holds what Redis holds", || async { list_of(s.addr).await.len() == 30 }).await;
        assert!(s.store.counts().records == 30);
    }
    // Re-ADDs of held RFCs are answered and cost nothing, on either side.
    if oka > 0 {
        assert_eq!(flood(&mut pa, "ha", 1000..1001, &title).await, 1);
    }
    assert_eq!(redis_int(&redis, &["GET", "{p2pci}:bytes"]).await, 30 * one as i64);

    // a's peer leaves: its share comes back, for b's peer to take.
    drop(pa);
    eventually("a's share back in redis", || async {
        redis_int(&redis, &["GET", "{p2pci}:bytes"]).await == okb as i64 * one as i64
    })
    .await;
    eventually("b's copy without a's records", || async { b.store.counts().records == okb }).await;
    assert_eq!(flood(&mut pb, "hb", 3000..3040, &title).await, 30 - okb);
    assert_eq!(redis_int(&redis, &["GET", "{p2pci}:bytes"]).await, 30 * one as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_servers_share_comes_back_when_it_is_reaped() {
    let Some(redis) = RedisServer::start() else { return };
    let title = "y".repeat(500);
    let one = record_cost(RfcNumber(1000), &title, "hv", 1);
    let budget = 2 * peer_cost("hv") + 20 * one;
    let caps = Caps { records_per_peer: 1000, memory: budget };
    let survivor = capped(&redis.url(), caps).await;
    let budget_arg = budget.to_string();
    let mut victim =
        ChildServer::spawn(&["--store", &redis.url(), "--lease", "1", "--max-index-memory", &budget_arg]);
    let mut pv = Raw::connect(victim.addr).await;
    assert_eq!(flood(&mut pv, "hv", 1000..1025, &title).await, 20);
    assert_eq!(redis_int(&redis, &["GET", "{p2pci}:bytes"]).await, 20 * one as i64);
    let mut ps = Raw::connect(survivor.addr).await;
    eventually("the victim's records on the survivor", || async { survivor.store.counts().records == 20 })
        .await;
    assert_eq!(flood(&mut ps, "hs", 2000..2001, &title).await, 0);
    victim.proc.kill();
    eventually("the dead server reaped", || async {
        redis_int(&redis, &["GET", "{p2pci}:bytes"]).await == 0
    })
    .await;
    // Nothing of the dead server's peers is left: no peer hash, no record.
    let left = redis.cmd(&["KEYS", "{p2pci}:peer:*"]).await;
    assert!(matches!(&left, redis::Value::Array(keys) if keys.is_empty()), "{left:?}");
    assert_eq!(redis_int(&redis, &["HLEN", "{p2pci}:rec"]).await, 0);
    eventually("the survivor's copy emptied", || async { survivor.store.counts().records == 0 }).await;
    assert_eq!(flood(&mut ps, "hs", 2000..2025, &title).await, 20);
}

/// Redis's `used_memory`, in bytes.
async fn used_memory(redis: &RedisServer) -> u64 {
    let redis::Value::BulkString(info) = redis.cmd(&["INFO", "memory"]).await else { panic!("INFO") };
    let info = String::from_utf8(info).unwrap();
    let line = info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap();
    line.trim().parse().unwrap()
}

/// Redis does not grow past the budget either: the change log carries the
/// sequence of each record added, not the record (it keeps up to 100,000
/// entries, as many titles again otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holds_the_budget_not_twice_it() {
    let Some(redis) = RedisServer::start() else { return };
    let empty = used_memory(&redis).await;
    let budget = 16 << 20;
    let a = capped(&redis.url(), Caps { records_per_peer: 20_000, memory: budget }).await;
    let b = capped(&redis.url(), Caps { records_per_peer: 20_000, memory: budget }).await;
    let title = "z".repeat(8000);
    let (mut pa, mut pb) = (Raw::connect(a.addr).await, Raw::connect(b.addr).await);
    let (oka, okb) = tokio::join!(
        flood(&mut pa, "ha", 10_000..11_500, &title),
        flood(&mut pb, "hb", 20_000..21_500, &title)
    );
    // The records and their entries in the log are all there is.
    for s in [&a, &b] {
        eventually("each copy holds every record", || async { s.store.counts().records == oka + okb }).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = used_memory(&redis).await - empty;
    eprintln!(
        "{} records of 8 KiB titles: redis grew by {} KiB for a budget of {} KiB",
        oka + okb,
        used >> 10,
        budget >> 10
    );
    assert!((2000..2100).contains(&(oka + okb)), "{oka} + {okb}");
    assert!(used <= budget + budget / 5, "redis grew by {used} bytes for a budget of {budget}");
}

/// Pipelined ADDs through a shared index wait together, yet each is
/// answered as if awaited alone: when Redis refuses some (the shared index
/// fills up behind this server's back), exactly those are `400`, in their
/// place, and a LOOKUP later in the same write sees only what was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_adds_refused_by_redis_are_answered_in_their_place() {
    let Some(redis) = RedisServer::start() else { return };
    let one = record_cost(RfcNumber(10), "t", "hp", 1);
    let budget = 1 << 20;
    let a = capped(&redis.url(), Caps { records_per_peer: 1000, memory: budget }).await;
    // Another party took all but room for five records (Redis counts
    // records only).
    let taken = budget - 5 * one;
    redis.cmd(&["SET", "{p2pci}:bytes", &taken.to_string()]).await;
    let mut c = Raw::connect(a.addr).await;
    let mut all = add(10, "hp", 1, "t");
    all += &(0..11).map(|i| add(11 + i, "hp", 1, "t")).collect::<String>();
    all += &lookup(11, "hp", 1);
    c.send(all).await;
    let mut statuses = Vec::new();
    for i in 0..12u32 {
        let r = c.response().await;
        if r.status == Status::Ok {
            let want = 10 + i;
            assert_eq!(r.records.iter().map(|r| r.rfc.0).collect::<Vec<_>>(), [want], "answer {i}");
        }
        statuses.push(r.status);
    }
    let ok = statuses.iter().filter(|s| **s == Status::Ok).count();
    assert_eq!(ok, 5, "{statuses:?}");
    assert!(
        statuses[..5].iter().all(|s| *s == Status::Ok)
            && statuses[5..].iter().all(|s| *s == Status::BadRequest),
        "{statuses:?}"
    );
    let lookup = c.response().await;
    assert_eq!(lookup.records.len(), 1, "the LOOKUP sees RFC 11, taken");
    let mut held: Vec<u32> = list_of(a.addr).await.iter().map(|r| r.rfc.0).collect();
    held.sort_unstable();
    assert_eq!(held, [10, 11, 12, 13, 14]);
}
