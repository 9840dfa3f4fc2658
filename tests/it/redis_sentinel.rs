//! Redis Sentinel, for real: a master, two replicas and three
//! `redis-sentinel` processes; three servers (the real binary) on
//! `--store redis+sentinel://…/mymaster`. The master is SIGKILLed while
//! peers join and leave; the Sentinels promote a replica, the servers
//! follow it, and within 2 × lease + 1 s of the failover (once the churn has
//! stopped) every server lists exactly the live peers' records. Then a
//! failover asked of the Sentinels (`SENTINEL FAILOVER`, as for
//! maintenance) demotes that master alive, under churn again: the servers,
//! answered `READONLY` by it, move to the next one, and are exact again.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use p2pci::protocol::{Record, Status};
use redis::Value;

use crate::common::redis_server::{RedisProc, free_port, redis_args};
use crate::common::*;

const LEASE: Duration = Duration::from_secs(1);
const MASTER: &str = "mymaster";

/// One command to the Redis or Sentinel on `port`, within 2 s.
async fn ask(port: u16, args: &[&str]) -> Option<Value> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let fut = async {
        let mut c = client.get_multiplexed_async_connection().await.ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async::<Value>(&mut c).await.ok()
    };
    tokio::time::timeout(Duration::from_secs(2), fut).await.ok().flatten()
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

/// The port the Sentinel on `sentinel` names as the master's.
async fn master_port(sentinel: u16) -> Option<u16> {
    match ask(sentinel, &["SENTINEL", "get-master-addr-by-name", MASTER]).await? {
        Value::Array(a) if a.len() == 2 => text(&a[1]).parse().ok(),
        _ => None,
    }
}

fn sentinel_conf(dir: &Path, port: u16, master: u16) -> String {
    let path = dir.join(format!("sentinel-{port}.conf"));
    // Short timings so the test stays short: the master is down for the
    // Sentinels after 1 s without an answer.
    let conf = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
         sentinel monitor {MASTER} 127.0.0.1 {master} 2\n\
         sentinel down-after-milliseconds {MASTER} 1000\n\
         sentinel failover-timeout {MASTER} 5000\n\
         sentinel parallel-syncs {MASTER} 1\n",
        dir = dir.display()
    );
    std::fs::write(&path, conf).unwrap();
    path.to_string_lossy().into_owned()
}

/// The records of the peers still there.
fn expected(live: &[Option<Live>]) -> Vec<Record> {
    sorted(live.iter().flatten().flat_map(|l| l.records.clone()).collect())
}

struct Live {
    conn: Raw,
    records: Vec<Record>,
}

/// Peer `i` joins server `addr` with two records. Its ADDs are answered
/// even while Redis is away (the server holds them and writes them later).
async fn join(addr: SocketAddr, i: usize) -> Live {
    let host = format!("s{i}");
    let port = 2000 + i as u16;
    let mut conn = Raw::connect(addr).await;
    let mut records = Vec::new();
    for rfc in [(i % 5) as u32, 200 + (i % 13) as u32] {
        let title = format!("T{rfc}");
        conn.send(add(rfc, &host, port, &title)).await;
        assert_eq!(conn.response().await.status, Status::Ok, "peer {i}'s ADD");
        records.push(rec(rfc, &title, &host, port));
    }
    Live { conn, records }
}

/// Every server's LIST, until all equal `want` (returns when) or
/// `deadline` passes (fails, saying what is wrong where).
async fn exact_by(addrs: &[SocketAddr], want: &[Record], deadline: Instant, what: &str) -> Instant {
    loop {
        let mut lists = Vec::new();
        for &a in addrs {
            lists.push(sorted(list_of(a).await));
        }
        if lists.iter().all(|l| l == want) {
            return Instant::now();
        }
        if Instant::now() > deadline {
            for (i, l) in lists.iter().enumerate() {
                let ghosts: Vec<_> = l.iter().filter(|r| !want.contains(r)).collect();
                let missing: Vec<_> = want.iter().filter(|r| !l.contains(r)).collect();
                eprintln!(
                    "server {i}: {} listed, {} ghosts {ghosts:?}, {} missing {missing:?}",
                    l.len(),
                    ghosts.len(),
                    missing.len()
                );
            }
            panic!("not exact within 2 x lease + 1 s of {what} ({} records expected)", want.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Churns until the Sentinels name a master other than `old` (at most
/// 30 s), then 500 ms more; returns (the new master's port, when it was
/// named, when the churn ended, changes made).
async fn churn_over_failover(
    addrs: &[SocketAddr],
    live: &mut Vec<Option<Live>>,
    sentinel: u16,
    old: u16,
) -> (u16, Instant, Instant, usize) {
    let began = Instant::now();
    let mut changes = 0;
    let (port, at) = loop {
        changes += churn(addrs, live, Instant::now() + Duration::from_millis(100)).await;
        if let Some(p) = master_port(sentinel).await
            && p != old
        {
            break (p, Instant::now());
        }
        assert!(began.elapsed() < Duration::from_secs(30), "no failover within 30 s");
    };
    changes += churn(addrs, live, Instant::now() + Duration::from_millis(500)).await;
    (port, at, Instant::now(), changes)
}

/// Until `stop`: a peer joins every few milliseconds, and every third
/// one that is there leaves again (every other one by a reset).
async fn churn(addrs: &[SocketAddr], live: &mut Vec<Option<Live>>, stop: Instant) -> usize {
    let mut changes = 0;
    while Instant::now() < stop {
        let i = live.len();
        live.push(Some(join(addrs[i % addrs.len()], i).await));
        changes += 1;
        if i % 3 == 2 {
            let leaving = (i * 7) % live.len();
            if let Some(l) = live[leaving].take() {
                if i.is_multiple_of(2) {
                    l.conn.reset()
                } else {
                    drop(l.conn)
                }
                changes += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    changes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_follow_sentinel_failovers_and_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let pm = ports[0];
    let mut nodes = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let (port_s, pm_s) = (port.to_string(), pm.to_string());
        let replica = ["--replicaof", "127.0.0.1", &pm_s];
        let args = redis_args(&port_s, if i > 0 { &replica } else { &[] });
        let log = dir.path().join(format!("redis-{port}.log"));
        let Some(node) = RedisProc::start("redis-server", port, &args, &log) else { return };
        nodes.push(node);
    }
    let sentinel_ports = [free_port(), free_port(), free_port()];
    let mut sentinels = Vec::new();
    for &port in &sentinel_ports {
        let conf = sentinel_conf(dir.path(), port, pm);
        let log = dir.path().join(format!("sentinel-{port}.log"));
        let Some(s) = RedisProc::start("redis-sentinel", port, &[&conf], &log) else { return };
        sentinels.push(s);
    }
    // Before the fault: the replicas in sync, and every Sentinel knowing
    // them and the two others (they find each other through the master,
    // every 2 s), or no majority could elect a leader for the failover.
    let ready = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ok = true;
        for &r in &ports[1..] {
            ok &= ask(r, &["INFO", "replication"])
                .await
                .is_some_and(|v| text(&v).contains("master_link_status:up"));
        }
        for &s in &sentinel_ports {
            let replicas =
                ask(s, &["SENTINEL", "replicas", MASTER]).await.map(|v| text(&v)).unwrap_or_default();
            let others = ask(s, &["SENTINEL", "sentinels", MASTER]).await;
            ok &= ports[1..].iter().all(|r| replicas.contains(&r.to_string()))
                && matches!(others, Some(Value::Array(ref a)) if a.len() == 2);
        }
        if ok {
            break;
        }
        assert!(Instant::now() < ready, "the Sentinels did not settle within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hosts: Vec<String> = sentinel_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    // A master name the Sentinels do not know: the start fails at once.
    let unknown = format!("redis+sentinel://{}/nosuchmaster", hosts.join(","));
    let started = Instant::now();
    let f = Proc::spawn(ChildServer::args(&["--store", &unknown])).finish();
    assert_eq!(f.status.code(), Some(1), "{}", f.stderr);
    assert!(f.stderr.contains("not found in sentinel"), "{}", f.stderr);
    assert!(!f.stderr.contains("listening") && started.elapsed() < Duration::from_secs(10), "{}", f.stderr);
    let url = format!("redis+sentinel://{}/{MASTER}", hosts.join(","));
    let lease = format!("{}", LEASE.as_secs_f64());
    let servers: Vec<ChildServer> =
        (0..3).map(|_| ChildServer::spawn(&["--store", &url, "--lease", &lease])).collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();

    let mut live: Vec<Option<Live>> = Vec::new();
    let before = churn(&addrs, &mut live, Instant::now() + Duration::from_secs(2)).await;
    let want = expected(&live);
    exact_by(&addrs, &want, Instant::now() + WAIT, "the start").await;

    // The fault, under churn: the master dies; churn goes on until the
    // Sentinels have promoted a replica, and a little after. The bound:
    // 2 × lease + 1 s from the end of the fault (the failover, and the
    // churn that went on over it).
    nodes[0].kill();
    let killed = Instant::now();
    let (first, failed_over, churn_ended, during) =
        churn_over_failover(&addrs, &mut live, sentinel_ports[0], pm).await;
    let want = expected(&live);
    let converged =
        exact_by(&addrs, &want, churn_ended + 2 * LEASE + Duration::from_secs(1), "the failover").await;
    // Every server now works against the promoted replica.
    let on_new = ask(first, &["SCARD", "{p2pci}:servers"]).await.map(|v| text(&v));
    assert_eq!(on_new.as_deref(), Some("3"), "the promoted replica holds every server's membership");
    // And it stays exact: nothing comes back a lease later.
    tokio::time::sleep(LEASE + Duration::from_millis(500)).await;
    exact_by(&addrs, &want, Instant::now(), "a lease after the failover").await;
    eprintln!(
        "sentinel failover (SIGKILL): promoted {:.2} s after the kill; exact {:.2} s after that \
         ({:.2} s after the churn ended); {before} changes before, {during} during; {} live records",
        (failed_over - killed).as_secs_f64(),
        (converged - failed_over).as_secs_f64(),
        converged.saturating_duration_since(churn_ended).as_secs_f64(),
        want.len()
    );

    // A failover asked for, the master alive: it is demoted and answers
    // the servers' writes READONLY. The other replica must have caught up
    // with the new master first (the Sentinels moved it there).
    let other = *ports[1..].iter().find(|&&p| p != first).unwrap();
    let synced = Instant::now() + Duration::from_secs(20);
    while !ask(other, &["INFO", "replication"]).await.is_some_and(|v| {
        let t = text(&v);
        t.contains(&format!("master_port:{first}")) && t.contains("master_link_status:up")
    }) {
        if Instant::now() >= synced {
            // Say what Redis and the Sentinels were doing: a Redis-side
            // failure here is not the servers', but must be readable.
            let info = ask(other, &["INFO", "replication"]).await.map(|v| text(&v)).unwrap_or_default();
            let tail = |name: String| {
                let all = std::fs::read_to_string(dir.path().join(&name)).unwrap_or_default();
                let lines: Vec<&str> = all.lines().collect();
                format!("--- {name}:\n{}", lines[lines.len().saturating_sub(25)..].join("\n"))
            };
            let mut logs = vec![tail(format!("redis-{other}.log")), tail(format!("redis-{first}.log"))];
            logs.extend(sentinel_ports.iter().map(|p| tail(format!("sentinel-{p}.log"))));
            panic!(
                "the other replica ({other}) did not follow the new master ({first}) within 20 s\n{info}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asked = Instant::now();
    let ok = ask(sentinel_ports[1], &["SENTINEL", "FAILOVER", MASTER]).await;
    assert!(matches!(ok, Some(Value::Okay)), "SENTINEL FAILOVER: {ok:?}");
    let (second, moved, churn_ended, during) =
        churn_over_failover(&addrs, &mut live, sentinel_ports[0], first).await;
    assert_eq!(second, other);
    let want = expected(&live);
    let converged =
        exact_by(&addrs, &want, churn_ended + 2 * LEASE + Duration::from_secs(1), "the demotion").await;
    let on_new = ask(second, &["SCARD", "{p2pci}:servers"]).await.map(|v| text(&v));
    assert_eq!(on_new.as_deref(), Some("3"), "the new master holds every server's membership");
    eprintln!(
        "sentinel failover (asked, old master demoted): {:.2} s; exact {:.2} s after it; {during} changes; \
         {} live records",
        (moved - asked).as_secs_f64(),
        (converged - moved).as_secs_f64(),
        want.len()
    );
}
