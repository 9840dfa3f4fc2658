//! Several servers, one index in a real Redis: each point of issue 11's
//! "what must hold", with servers in this process (and, where a crash must
//! be real, the binary killed with SIGKILL).

use crate::common::redis_server as shared;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::protocol::{Record, Status};
use p2pci::store::IndexStore;
use shared::{RedisServer, SharedServer};

const LEASE: Duration = Duration::from_secs(1);

async fn lookup_of(addr: SocketAddr, rfc: u32) -> Vec<Record> {
    let mut c = Raw::connect(addr).await;
    c.send(lookup(rfc, "observer", 1)).await;
    c.response().await.records
}

async fn added(c: &mut Raw, rfc: u32, host: &str, port: u16) {
    c.send(add(rfc, host, port, &format!("Title {rfc}"))).await;
    let r = c.response().await;
    assert_eq!(r.status, Status::Ok, "ADD {rfc} by {host}");
}

/// Two servers sharing `redis`.
async fn two_servers(redis: &RedisServer) -> (SharedServer, SharedServer) {
    (SharedServer::start(&redis.url(), LEASE).await, SharedServer::start(&redis.url(), LEASE).await)
}

/// A peer on each server with one record: RFC 1 by `ha` on `a`, RFC 2 by
/// `hb` on `b`.
async fn a_record_on_each(a: &SharedServer, b: &SharedServer) -> (Raw, Raw) {
    let mut pa = Raw::connect(a.addr).await;
    let mut pb = Raw::connect(b.addr).await;
    added(&mut pa, 1, "ha", 1).await;
    added(&mut pb, 2, "hb", 2).await;
    (pa, pb)
}

/// 1. Every server answers LOOKUP and LIST with the records added through
/// every server, LIST in one global order, newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_sees_every_record_in_one_order() {
    let Some(redis) = RedisServer::start() else { return };
    let servers = [
        SharedServer::start(&redis.url(), LEASE).await,
        SharedServer::start(&redis.url(), LEASE).await,
        SharedServer::start(&redis.url(), LEASE).await,
    ];
    let mut peers = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        peers.push(Raw::connect(s.addr).await);
        let _ = i;
    }
    // Interleaved across servers; each ADD answered before the next is sent.
    let mut want = Vec::new();
    for round in 0..4u32 {
        for (i, p) in peers.iter_mut().enumerate() {
            let host = format!("h{i}");
            added(p, 100 + round % 2, &host, 5000 + i as u16).await;
            want.insert(
                0,
                rec(100 + round % 2, &format!("Title {}", 100 + round % 2), &host, 5000 + i as u16),
            );
            // Same peer, same RFC twice: one record (round 2 and 3 repeat 0 and 1).
            if round >= 2 {
                want.remove(0);
            }
        }
    }
    for s in &servers {
        eventually("every record on every server", || async { list_of(s.addr).await.len() == want.len() })
            .await;
        assert_eq!(list_of(s.addr).await, want, "LIST newest first on {}", s.addr);
        let want_100: Vec<Record> = want.iter().filter(|r| r.rfc.0 == 100).cloned().collect();
        assert_eq!(lookup_of(s.addr, 100).await, want_100);
    }
}

/// 2. A peer sees its own ADD at once on its connection; the others see it
/// soon after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_add_at_once_and_elsewhere_soon() {
    let Some(redis) = RedisServer::start() else { return };
    let (a, b) = two_servers(&redis).await;
    let mut pa = Raw::connect(a.addr).await;
    let mut pb = Raw::connect(b.addr).await;
    for n in 0..50u32 {
        added(&mut pa, n, "ha", 1).await;
        // Pipelined on the same connection right after: no waiting.
        pa.send(lookup(n, "ha", 1)).await;
        assert_eq!(pa.response().await.records, [rec(n, &format!("Title {n}"), "ha", 1)]);
    }
    let started = Instant::now();
    within("the last ADD visible on the other server", async {
        loop {
            pb.send(lookup(49, "hb", 2)).await;
            if pb.response().await.records.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    eprintln!("visible on the other server after {:?}", started.elapsed());
}

/// 3. A peer that leaves, politely or not, is gone from every server; two
/// servers' connections never collide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_peers_are_gone_everywhere_and_identities_do_not_collide() {
    let Some(redis) = RedisServer::start() else { return };
    let (a, b) = two_servers(&redis).await;
    // The first connection on each server: the same connection number.
    let mut pa = Raw::connect(a.addr).await;
    let mut pb = Raw::connect(b.addr).await;
    added(&mut pa, 7, "same", 1).await;
    added(&mut pb, 7, "same", 1).await;
    for s in [&a, &b] {
        eventually("both records", || async { lookup_of(s.addr, 7).await.len() == 2 }).await;
    }
    pa.reset();
    for s in [&a, &b] {
        eventually("the reset peer's record gone", || async { lookup_of(s.addr, 7).await.len() == 1 }).await;
    }
    // The other one is untouched, and leaving politely removes it too.
    assert_eq!(pb.stream.peer_addr().unwrap(), b.addr);
    drop(pb);
    for s in [&a, &b] {
        eventually("the closed peer's record gone", || async { lookup_of(s.addr, 7).await.is_empty() }).await;
    }
    assert_eq!(a.store.counts().records, 0);
}

/// 4. A server killed with SIGKILL: its peers' records are removed by the
/// others within lease + 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_servers_peers_go_within_the_lease() {
    let Some(redis) = RedisServer::start() else { return };
    let survivor = SharedServer::start(&redis.url(), LEASE).await;
    let mut victim = ChildServer::spawn(&["--store", &redis.url(), "--lease", "1"]);
    let mut p = Raw::connect(victim.addr).await;
    added(&mut p, 8600, "doomed", 1).await;
    eventually("the record on the survivor", || async { lookup_of(survivor.addr, 8600).await.len() == 1 })
        .await;
    let killed = Instant::now();
    victim.proc.kill();
    eventually("the dead server's record gone", || async { lookup_of(survivor.addr, 8600).await.is_empty() })
        .await;
    let took = killed.elapsed();
    eprintln!("reaped {took:?} after the kill");
    assert!(took <= LEASE + Duration::from_secs(1), "took {took:?}");
    // And from Redis itself: nothing of it is left.
    assert_eq!(redis.cmd(&["HLEN", "{p2pci}:rec"]).await, redis::Value::Int(0));
}

/// 5. Redis emptied (FLUSHALL, then a restart): every server re-publishes
/// its live peers' records; while Redis is down nobody is disconnected and
/// the servers keep answering, and an ADD made then reaches the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_its_data_or_going_away_is_repaired() {
    let Some(mut redis) = RedisServer::start() else { return };
    let (a, b) = two_servers(&redis).await;
    let (mut pa, mut pb) = a_record_on_each(&a, &b).await;
    let both = sorted(vec![rec(1, "Title 1", "ha", 1), rec(2, "Title 2", "hb", 2)]);
    let views_are = |want: Vec<Record>| {
        let (a, b) = (a.addr, b.addr);
        async move {
            let want = sorted(want);
            eventually("both servers' views", || {
                let want = want.clone();
                async move { sorted(list_of(a).await) == want && sorted(list_of(b).await) == want }
            })
            .await
        }
    };
    views_are(both.clone()).await;

    redis.cmd(&["FLUSHALL"]).await;
    eventually("records back in redis after FLUSHALL", || async {
        redis.cmd(&["HLEN", "{p2pci}:rec"]).await == redis::Value::Int(2)
    })
    .await;
    views_are(both.clone()).await;

    redis.kill();
    // Peers stay connected and are answered from the local views.
    added(&mut pa, 3, "ha", 1).await;
    pb.send(lookup(1, "hb", 2)).await;
    assert_eq!(pb.response().await.records, [rec(1, "Title 1", "ha", 1)]);
    redis.restart_empty();
    let mut all = both.clone();
    all.push(rec(3, "Title 3", "ha", 1));
    views_are(all.clone()).await;
    eventually("every record back in redis", || async {
        redis.cmd(&["HLEN", "{p2pci}:rec"]).await == redis::Value::Int(3)
    })
    .await;
    // The connections survived all of it.
    pa.send(lookup(2, "ha", 1)).await;
    assert_eq!(pa.response().await.records, [rec(2, "Title 2", "hb", 2)]);
    assert!(a.store.is_up() && b.store.is_up());
}

/// 6. A server started later serves the whole index from its first request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_server_serves_everything_at_once() {
    let Some(redis) = RedisServer::start() else { return };
    let a = SharedServer::start(&redis.url(), LEASE).await;
    let mut p = Raw::connect(a.addr).await;
    let mut batch = String::new();
    for n in 0..2000u32 {
        batch += &add(n, "early", 1, "A title");
    }
    p.send(batch).await;
    for _ in 0..2000 {
        assert_eq!(p.response().await.status, Status::Ok);
    }
    // Answered ADDs reach Redis a moment later (as they reach the other
    // servers); once they are there, a new server has them all at once.
    eventually("every record in redis", || async {
        redis.cmd(&["HLEN", "{p2pci}:rec"]).await == redis::Value::Int(2000)
    })
    .await;
    let late = SharedServer::start(&redis.url(), LEASE).await;
    let got = list_of(late.addr).await;
    assert_eq!(got.len(), 2000);
    assert_eq!(got, list_of(a.addr).await);
}

/// 7. A Redis that answers garbage, or nothing, is an error with context:
/// no panic, no hang. Garbage inside a healthy Redis is skipped or repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_silence_from_redis_are_errors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Answers every command with a bulk string no command expects.
    let liar = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let liar_addr = liar.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = liar.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(b"*3\r\n:1\r\n$3\r\nabc\r\n+OK\r\n").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    // Accepts and never answers.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_addr = mute.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = mute.accept().await {
            held.push(s);
        }
    });
    for addr in [liar_addr, mute_addr] {
        let mut config = p2pci::store::RedisConfig::new(format!("redis://{addr}"));
        config.timeout = Duration::from_millis(300);
        let r = within("connect gives up", p2pci::store::RedisStore::connect(config, Duration::from_secs(1)))
            .await;
        let e = r.err().expect("an error");
        eprintln!("{addr}: {e}");
    }

    let Some(redis) = RedisServer::start() else { return };
    let (a, b) = two_servers(&redis).await;
    let mut p = Raw::connect(a.addr).await;
    added(&mut p, 1, "ha", 1).await;
    // A record no server wrote, and a log entry out of sequence.
    redis.cmd(&["HSET", "{p2pci}:rec", "999999", "not a record\r\nRFC 1 x y 2"]).await;
    redis.cmd(&["XADD", "{p2pci}:log", "*", "n", "999999", "a", "garbage"]).await;
    added(&mut p, 2, "ha", 1).await;
    for s in [&a, &b] {
        eventually("the good records, and only them", || async {
            sorted(list_of(s.addr).await) == [rec(1, "Title 1", "ha", 1), rec(2, "Title 2", "ha", 1)]
        })
        .await;
    }
    // Still following after the repair.
    added(&mut p, 3, "ha", 1).await;
    eventually("a later record on the other server", || async { lookup_of(b.addr, 3).await.len() == 1 })
        .await;
    // Entries naming more sequences than any batch: a follower that took
    // them at their word would fetch (and hold) up to 2^64 of them.
    for last in ["18446744073709551615", "70000"] {
        redis.cmd(&["XADD", "{p2pci}:log", "*", "n", last, "f", "1", "a", ""]).await;
    }
    added(&mut p, 4, "ha", 1).await;
    for s in [&a, &b] {
        eventually("every record after the wide entries", || async { list_of(s.addr).await.len() == 4 })
            .await;
    }
}

/// A server that stops normally removes its peers and gives up its lease:
/// the others drop its records at once, without waiting for the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopping_normally_does_not_wait_for_its_lease() {
    let Some(redis) = RedisServer::start() else { return };
    // A lease far longer than the test allows.
    let a = SharedServer::start(&redis.url(), Duration::from_secs(600)).await;
    let b = SharedServer::start(&redis.url(), Duration::from_secs(600)).await;
    let mut p = Raw::connect(a.addr).await;
    added(&mut p, 5, "leaving", 1).await;
    eventually("the record on the other server", || async { lookup_of(b.addr, 5).await.len() == 1 }).await;
    a.stop().await;
    eventually("the record gone with its server", || async { lookup_of(b.addr, 5).await.is_empty() }).await;
    eventually("the stopped server gone from the servers", || async {
        redis.cmd(&["SCARD", "{p2pci}:servers"]).await == redis::Value::Int(1)
    })
    .await;
    assert_eq!(redis.cmd(&["HLEN", "{p2pci}:rec"]).await, redis::Value::Int(0));
}

/// 7b. A Redis replaced for a while by something answering junk, or
/// nothing, on its address: once a real Redis is back there (empty), every
/// server writes to it again and re-publishes its peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_reconnect_after_a_junk_or_mute_redis() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(mut redis) = RedisServer::start() else { return };
    let (a, b) = two_servers(&redis).await;
    let (mut pa, _pb) = a_record_on_each(&a, &b).await;
    // Two records, then one more per round.
    for (records, junk) in (2..).zip([true, false]) {
        redis.kill();
        let standin = tokio::net::TcpListener::bind(("127.0.0.1", redis.port)).await.unwrap();
        let task = tokio::spawn(async move {
            // Dropped with the task: the connections close, as when a
            // process dies.
            let mut held = tokio::task::JoinSet::new();
            while let Ok((mut s, _)) = standin.accept().await {
                if junk {
                    held.spawn(async move {
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 || s.write_all(b"*2\r\n:zz\r\n$-7\r\n%%%\x00\xff\r\n").await.is_err() {
                                break;
                            }
                        }
                    });
                } else {
                    held.spawn(async move {
                        let _s = s;
                        std::future::pending::<()>().await
                    });
                }
            }
        });
        // Long enough for every task (writer, lease, follower) to meet it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        task.abort();
        let _ = task.await;
        redis.restart_empty();
        eventually("every record back in redis", || async {
            redis.cmd(&["HLEN", "{p2pci}:rec"]).await == redis::Value::Int(records)
        })
        .await;
        added(&mut pa, 10 + u32::from(junk), "ha", 1).await;
        eventually("a new ADD on the other server", || async {
            lookup_of(b.addr, 10 + u32::from(junk)).await.len() == 1
        })
        .await;
    }
}

/// A Redis whose records of a server do not add up to that server's
/// digest (here: one record overwritten with text no server writes) makes
/// a new server's copy differ from the digest however often it reloads.
/// It reloads once more, then bears the difference, saying so, and
/// follows on: it does not load the whole index again every half lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_difference_a_reload_cannot_mend_is_borne_not_reloaded_forever() {
    let Some(redis) = RedisServer::start() else { return };
    let a = SharedServer::start(&redis.url(), LEASE).await;
    let mut p = Raw::connect(a.addr).await;
    for rfc in 1..=3 {
        added(&mut p, rfc, "ha", 1).await;
    }
    eventually("three records in redis", || async {
        redis.cmd(&["HLEN", "{p2pci}:rec"]).await == redis::Value::Int(3)
    })
    .await;
    let redis::Value::Array(all) = redis.cmd(&["HGETALL", "{p2pci}:rec"]).await else { panic!("HGETALL") };
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("{other:?}"),
    };
    let seq_of_2 = all
        .chunks(2)
        .find(|kv| text(&kv[1]).split(' ').nth(2) == Some("2"))
        .map(|kv| text(&kv[0]))
        .expect("RFC 2's record");
    redis.cmd(&["HSET", "{p2pci}:rec", &seq_of_2, "not a record"]).await;

    let late = SharedServer::start(&redis.url(), LEASE).await;
    assert_eq!(sorted(list_of(late.addr).await), [rec(1, "Title 1", "ha", 1), rec(3, "Title 3", "ha", 1)]);
    // Six checks (one every half lease): one reload, then none.
    tokio::time::sleep(LEASE * 3).await;
    let loads = late.store.loads();
    assert!(loads <= 2, "the new server loaded the whole index {loads} times in 3 leases");
    // Still following: a later ADD reaches it, and the owner keeps its own.
    added(&mut p, 4, "ha", 1).await;
    eventually("a later record on the new server", || async { lookup_of(late.addr, 4).await.len() == 1 })
        .await;
    assert_eq!(list_of(a.addr).await.len(), 4);
    assert_eq!(late.store.loads(), loads);
}
