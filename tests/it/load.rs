//! Load on loopback, bounded in count and time: many simultaneous peers on
//! one server (a child process of the real binary, so that it has its own
//! file-descriptor table), then churn. The index must be exact throughout
//! and empty at the end.
//!
//! Sizes: `P2PCI_LOAD_PEERS` (default 10,000 connections of 10 records
//! each) and `P2PCI_CHURN_PEERS` (default 5,000 joining and leaving).

/// Every client here shares 127.0.0.1, past the default share of one
/// address (256); that cap has its own tests (tests/it/per_address.rs).
const ONE_ADDRESS: &[&str] = &["--max-connections-per-address", "1000000"];

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::protocol::{Record, Status};
use tokio::sync::Semaphore;

/// The two load tests share the machine's ports and cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn bounded<T>(what: &str, secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s: {what}"),
    }
}

fn host(i: usize) -> String {
    format!("peer{i}")
}

fn port(i: usize) -> u16 {
    (10_000 + i % 50_000) as u16
}

/// The RFCs peer `i` holds: 10 of 1,000, overlapping between peers.
fn rfcs_of(i: usize, n: usize) -> Vec<u32> {
    (0..n).map(|k| ((i * 7 + k * 101) % 1000) as u32).collect()
}

async fn join(addr: std::net::SocketAddr, i: usize, n: usize) -> Raw {
    let mut c = Raw::connect(addr).await;
    let mut batch = String::new();
    for rfc in rfcs_of(i, n) {
        batch += &add(rfc, &host(i), port(i), &format!("Title of {rfc}"));
    }
    c.send(&batch).await;
    for _ in 0..n {
        assert_eq!(c.response().await.status, Status::Ok);
    }
    c
}

fn key(r: &Record) -> (u32, String, u16) {
    (r.rfc.0, r.host.clone(), r.port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_peers_with_ten_records_each() {
    let _one = ONE_AT_A_TIME.lock().await;
    let peers = env_size("P2PCI_LOAD_PEERS", 10_000);
    const PER_PEER: usize = 10;
    let limit = raise_fd_limit();
    assert!(limit as usize > peers + 500, "open-file limit {limit} too low for {peers} peers");
    let server = ChildServer::spawn(ONE_ADDRESS);
    let addr = server.addr;

    // Everyone joins (at most 256 joining at once) and stays connected.
    let t = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..peers {
        let gate = gate.clone();
        tasks.spawn(async move {
            let _p = gate.acquire().await.unwrap();
            (i, join(addr, i, PER_PEER).await)
        });
    }
    let mut conns: Vec<Option<Raw>> = (0..peers).map(|_| None).collect();
    bounded("all peers joined", 300, async {
        while let Some(r) = tasks.join_next().await {
            let (i, c) = r.unwrap();
            conns[i] = Some(c);
        }
    })
    .await;
    let joined = t.elapsed();

    // LOOKUP is exact: every holder of a few RFCs, newest first per peer order.
    let mut want: BTreeMap<u32, BTreeSet<(u32, String, u16)>> = BTreeMap::new();
    for i in 0..peers {
        for rfc in rfcs_of(i, PER_PEER) {
            want.entry(rfc).or_default().insert((rfc, host(i), port(i)));
        }
    }
    let t = Instant::now();
    let probe = conns[0].as_mut().unwrap();
    for rfc in [0u32, 1, 500, 999] {
        probe.send(lookup(rfc, &host(0), port(0))).await;
        let got = probe.response().await;
        let got: BTreeSet<_> = got.records.iter().map(key).collect();
        assert_eq!(got, want.get(&rfc).cloned().unwrap_or_default(), "LOOKUP RFC {rfc}");
    }
    let lookups = t.elapsed();

    // LIST is exact: all 100,000 records, each peer's newest first.
    let t = Instant::now();
    probe.send(list(&host(0), port(0))).await;
    let all = bounded("LIST", 60, probe.response()).await.records;
    let listed = t.elapsed();
    assert_eq!(all.len(), peers * PER_PEER);
    let got: BTreeSet<_> = all.iter().map(key).collect();
    let everything: BTreeSet<_> = want.values().flatten().cloned().collect();
    assert_eq!(got, everything);
    let mut seen_per_host: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for r in &all {
        seen_per_host.entry(&r.host).or_default().push(r.rfc.0);
    }
    for (h, rfcs) in seen_per_host {
        let i: usize = h["peer".len()..].parse().unwrap();
        let mut mine = rfcs_of(i, PER_PEER);
        mine.reverse();
        assert_eq!(rfcs, mine, "{h}: newest first");
    }

    // Everyone leaves: half politely, half with a reset (a crash).
    let t = Instant::now();
    for (i, c) in conns.into_iter().enumerate() {
        let c = c.unwrap();
        if i % 2 == 0 { drop(c) } else { c.reset() }
    }
    bounded("every record gone", 60, async {
        loop {
            if list_of(addr).await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let emptied = t.elapsed();
    eprintln!(
        "load: {peers} peers x {PER_PEER} records: joined in {joined:.2?}, 4 LOOKUPs in {lookups:.2?}, \
         LIST of {} in {listed:.2?}, empty {emptied:.2?} after they left",
        all.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_with_lookups_in_flight_leaves_the_index_exact() {
    let _one = ONE_AT_A_TIME.lock().await;
    let churners = env_size("P2PCI_CHURN_PEERS", 5_000);
    const STAYERS: usize = 50;
    const PER_PEER: usize = 5;
    raise_fd_limit();
    let server = ChildServer::spawn(ONE_ADDRESS);
    let addr = server.addr;
    let t = Instant::now();

    // Stayers hold their records through the whole run.
    let mut stayers = Vec::new();
    for i in 0..STAYERS {
        stayers.push(join(addr, i, PER_PEER).await);
    }
    let stable: BTreeSet<_> = (0..STAYERS)
        .flat_map(|i| rfcs_of(i, PER_PEER).into_iter().map(move |r| (r, host(i), port(i))))
        .collect();

    // Churners join, look something up, and leave, 200 at a time; while they
    // do, lookup tasks check that the stayers' records are always there and
    // every answer is well formed.
    let gate = Arc::new(Semaphore::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    for i in STAYERS..STAYERS + churners {
        let gate = gate.clone();
        tasks.spawn(async move {
            let _p = gate.acquire().await.unwrap();
            let mut c = join(addr, i, PER_PEER).await;
            let rfc = ((i * 13) % 1000) as u32;
            c.send(lookup(rfc, &host(i), port(i))).await;
            let r = c.response().await;
            assert!(matches!(r.status, Status::Ok | Status::NotFound));
            if i % 2 == 0 { drop(c) } else { c.reset() }
        });
    }
    let checker = {
        let stable = stable.clone();
        tokio::spawn(async move {
            let mut c = Raw::connect(addr).await;
            let mut checks = 0;
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                for rfc in (0..1000u32).step_by(37) {
                    c.send(lookup(rfc, "checker", 1)).await;
                    let got: BTreeSet<_> = c.response().await.records.iter().map(key).collect();
                    let want: BTreeSet<_> = stable.iter().filter(|k| k.0 == rfc).cloned().collect();
                    assert!(want.is_subset(&got), "LOOKUP RFC {rfc} lost a stayer's record");
                    checks += 1;
                }
                if checks >= 2_000 {
                    break;
                }
            }
            checks
        })
    };
    bounded("churn done", 300, async {
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    })
    .await;
    let checks = bounded("checker", 150, checker).await.unwrap();
    let churned = t.elapsed();

    // At the end: exactly the stayers' records, then nothing.
    bounded("only the stayers are left", 60, async {
        loop {
            let got: BTreeSet<_> = list_of(addr).await.iter().map(key).collect();
            if got == stable {
                break;
            }
            assert!(stable.is_subset(&got), "a stayer's record vanished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    drop(stayers);
    bounded("empty at the end", 30, async {
        while !list_of(addr).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    eprintln!(
        "churn: {churners} peers joined and left around {STAYERS} stayers in {churned:.2?}, {checks} LOOKUP checks"
    );
}
