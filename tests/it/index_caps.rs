//! What one party can make the index hold is bounded (PROTOCOL.md,
//! Limits): records per peer, the whole index's memory budget, memory that
//! comes back when a flood's connection ends, and answers streamed so that
//! a client that asks and never reads costs the server a bounded amount.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use p2pci::index::{Caps, peer_cost, record_cost};
use p2pci::protocol::{RfcNumber, Status};
use p2pci::server::ServerConfig;

async fn capped(caps: Caps) -> TestServer {
    TestServer::with_config(ServerConfig { print: false, caps, ..ServerConfig::default() }).await
}

async fn add_status(c: &mut Raw, rfc: u32, host: &str, port: u16, title: &str) -> Status {
    c.send(add(rfc, host, port, title)).await;
    c.response().await.status
}

#[tokio::test]
async fn a_peer_past_its_record_cap_gets_400_and_keeps_its_connection() {
    let server = capped(Caps { records_per_peer: 5, memory: u64::MAX }).await;
    let mut a = Raw::connect(server.addr).await;
    for rfc in 1..=5 {
        assert_eq!(add_status(&mut a, rfc, "ha", 1, "T").await, Status::Ok);
    }
    assert_eq!(add_status(&mut a, 6, "ha", 1, "T").await, Status::BadRequest);
    // Nothing stored, and the connection goes on: a read, then an ADD of
    // an RFC it holds already (no new record: answered as before).
    a.send(lookup(6, "ha", 1)).await;
    assert_eq!(a.response().await.status, Status::NotFound);
    a.send(add(5, "ha", 1, "Other title")).await;
    let again = a.response().await;
    assert_eq!((again.status, again.records), (Status::Ok, vec![rec(5, "T", "ha", 1)]));
    assert_eq!(server.records().len(), 5);
    // Another peer has a share of its own.
    let mut b = Raw::connect(server.addr).await;
    assert_eq!(add_status(&mut b, 6, "hb", 2, "T").await, Status::Ok);
    assert_eq!(server.lookup(RfcNumber(6)), [rec(6, "T", "hb", 2)]);
}

#[tokio::test]
async fn the_memory_budget_holds_for_the_whole_index_and_comes_back() {
    let title = "x".repeat(1000);
    let one = record_cost(RfcNumber(100), &title, "ha", 1);
    // Room for two peers and ten records of this size, not eleven.
    let budget = 2 * peer_cost("ha") + 10 * one;
    let server = capped(Caps { records_per_peer: 1000, memory: budget }).await;
    let (mut a, mut b) = (Raw::connect(server.addr).await, Raw::connect(server.addr).await);
    for rfc in 100..105 {
        assert_eq!(add_status(&mut a, rfc, "ha", 1, &title).await, Status::Ok);
        assert_eq!(add_status(&mut b, rfc, "hb", 1, &title).await, Status::Ok);
    }
    assert_eq!(server.store.bytes(), budget);
    assert_eq!(add_status(&mut a, 200, "ha", 1, &title).await, Status::BadRequest);
    assert_eq!(add_status(&mut b, 200, "hb", 1, &title).await, Status::BadRequest);
    // A short record does not fit either, nor a newcomer's.
    assert_eq!(add_status(&mut b, 201, "hb", 1, "t").await, Status::BadRequest);
    let mut c = Raw::connect(server.addr).await;
    assert_eq!(add_status(&mut c, 201, "hc", 1, "t").await, Status::BadRequest);
    assert_eq!(server.peer_count(), 2);
    // Re-ADDs of held RFCs are answered and cost nothing.
    assert_eq!(add_status(&mut a, 104, "ha", 1, &title).await, Status::Ok);
    assert_eq!(server.store.bytes(), budget);
    assert_eq!(server.records().len(), 10);
    // When a peer goes, its room is free again.
    drop(a);
    server.until("a's records gone", |n| n.records == 5).await;
    assert_eq!(server.store.bytes(), budget - peer_cost("ha") - 5 * one);
    assert_eq!(add_status(&mut c, 201, "hc", 1, &title).await, Status::Ok);
}

/// `GET /metrics`, bounded; the body.
fn scrape(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    all.split_once("\r\n\r\n").unwrap().1.to_owned()
}

fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[tokio::test]
async fn refusals_are_counted_by_reason_and_logged_at_debug() {
    let mut server = ChildServer::spawn_with(
        &["--metrics", "127.0.0.1:0", "--max-records-per-peer", "2", "--max-index-memory", "4KiB"],
        |cmd| {
            cmd.env("RUST_LOG", "p2pci=debug");
        },
    );
    let (m, addr) = (server.metrics(), server.addr);
    let zero = scrape(m);
    assert_eq!(counter(&zero, "p2pci_adds_refused_total{reason=\"records_per_peer\"}"), 0.0);
    assert_eq!(counter(&zero, "p2pci_adds_refused_total{reason=\"index_memory\"}"), 0.0);

    let mut a = Raw::connect(addr).await;
    assert_eq!(add_status(&mut a, 1, "ha", 1, "t").await, Status::Ok);
    assert_eq!(add_status(&mut a, 2, "ha", 1, "t").await, Status::Ok);
    assert_eq!(add_status(&mut a, 3, "ha", 1, "t").await, Status::BadRequest);
    server
        .proc
        .wait_err("the per-peer reason", |l| l.contains("DEBUG") && l.contains("the most one peer may hold"));
    let mut b = Raw::connect(addr).await;
    let long = "y".repeat(3500);
    assert_eq!(add_status(&mut b, 4, "hb", 1, &long).await, Status::BadRequest);
    assert_eq!(add_status(&mut b, 4, "hb", 1, &long).await, Status::BadRequest);
    server.proc.wait_err("the budget reason", |l| {
        l.contains("DEBUG") && l.contains("at its memory budget of 4096 bytes")
    });
    // b is still served.
    assert_eq!(add_status(&mut b, 4, "hb", 1, "short").await, Status::Ok);
    let text = scrape(m);
    assert_eq!(counter(&text, "p2pci_adds_refused_total{reason=\"records_per_peer\"}"), 1.0);
    assert_eq!(counter(&text, "p2pci_adds_refused_total{reason=\"index_memory\"}"), 2.0);
    assert_eq!(counter(&text, "p2pci_server_requests_total{method=\"ADD\",status=\"400\"}"), 3.0);
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One flood: a connection ADDs `n` distinct RFCs with 8 KiB titles,
/// pipelined 50 at a time, past the budget; returns how many were taken.
async fn title_flood(addr: SocketAddr, n: u32) -> (Raw, usize) {
    let title = "F".repeat(8 * 1024 - 100);
    let mut c = Raw::connect(addr).await;
    let mut taken = 0;
    for start in (0..n).step_by(50) {
        let batch: String =
            (start..(start + 50).min(n)).map(|r| add(10_000 + r, "flood", 1, &title)).collect();
        c.send(batch).await;
        for _ in start..(start + 50).min(n) {
            if c.response().await.status == Status::Ok {
                taken += 1;
            }
        }
    }
    (c, taken)
}

/// Memory freed when a flood's records go is used again: a second
/// identical flood, after the first one's connection closed, grows the
/// server's resident set by at most 10 % over the first one's peak.
#[tokio::test]
async fn a_second_flood_reuses_the_memory_of_the_first() {
    for threads in ["1", "2"] {
        let server = ChildServer::spawn(&["--max-index-memory", "4MiB", "--threads", threads]);
        let pid = server.proc.pid();
        let idle = rss_kib(pid);
        let mut peaks = Vec::new();
        for round in 0..3 {
            let (c, taken) = title_flood(server.addr, 1000).await;
            // 4 MiB holds about 490 of them.
            assert!((400..520).contains(&taken), "round {round}: {taken} taken");
            peaks.push(rss_kib(pid));
            drop(c);
            within("the flood's records gone", async {
                while !list_of(server.addr).await.is_empty() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
        }
        eprintln!("--threads {threads}: idle {idle} KiB, peaks {peaks:?} KiB");
        for later in &peaks[1..] {
            assert!(*later as f64 <= peaks[0] as f64 * 1.10, "--threads {threads}: peaks {peaks:?} KiB");
        }
    }
}

/// A peer that pipelines large ADDs and then waits for the answers is
/// answered in full on a server of several threads too. (A short read
/// used to forget the socket's readiness even when another thread had
/// just marked it readable again: the bytes that had arrived meanwhile sat
/// unread, and both sides waited for ever.)
#[tokio::test]
async fn pipelined_floods_are_answered_on_several_threads() {
    let server = ChildServer::spawn(&["--threads", "2"]);
    for round in 0..3 {
        let (c, taken) = title_flood(server.addr, 600).await;
        assert_eq!(taken, 600, "round {round}");
        drop(c);
    }
}

/// The server's resident set once it has stopped changing (for half a
/// second), in KiB.
async fn settled(pid: u32) -> u64 {
    let (mut last, mut stable) = (0, 0);
    within("the server's memory settles", async {
        while stable < 5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = rss_kib(pid);
            stable = if now == last { stable + 1 } else { 0 };
            last = now;
        }
    })
    .await;
    last
}

/// A LOOKUP of an RFC with many holders with long titles is streamed, as
/// LIST is: clients that ask and never read cost the server at most 1 MiB
/// each, where each answer is about 5 MB; a client that reads gets every
/// holder, newest first, twice over when it asks twice in one write.
#[tokio::test]
async fn a_lookup_nobody_reads_costs_a_bounded_amount() {
    raise_fd_limit();
    // Every holder connects from 127.0.0.1: past the per-address cap.
    let server = ChildServer::spawn(&["--max-connections-per-address", "1000"]);
    let pid = server.proc.pid();
    const HOLDERS: u16 = 600;
    let mut holders = Vec::new();
    let mut want = Vec::new();
    for i in 0..HOLDERS {
        let (host, title) = (format!("holder{i}"), format!("{i} {}", "T".repeat(8000)));
        let mut c = Raw::connect(server.addr).await;
        assert_eq!(add_status(&mut c, 8600, &host, 1000 + i, &title).await, Status::Ok);
        want.insert(0, rec(8600, &title, &host, 1000 + i));
        holders.push(c);
    }
    let mut reader = Raw::connect(server.addr).await;
    reader.send(lookup(8600, "reader", 1)).await;
    assert_eq!(reader.response().await.records, want);
    let idle = rss_kib(pid);

    let mut silent = Vec::new();
    let mut grown = Vec::new();
    // Ten silent LOOKUPs, then five silent LISTs (as long: the index holds
    // those holders alone).
    for (count, request) in [(10, lookup(8600, "silent", 1)), (5, list("silent", 1))] {
        let before = settled(pid).await;
        for _ in 0..count {
            let mut c = Raw::connect(server.addr).await;
            c.send(&request).await;
            silent.push(c);
        }
        grown.push((count, settled(pid).await.saturating_sub(before)));
    }
    eprintln!("idle {idle} KiB; grown by (silent clients, KiB): {grown:?}, for answers of 5 MB each");
    for (count, kib) in grown {
        assert!(kib <= count * 1024, "grew {kib} KiB for {count} silent clients");
    }

    // The readers are still served in full, the silent ones waiting.
    reader.send(format!("{}{}", lookup(8600, "reader", 1), lookup(8600, "reader", 1))).await;
    assert_eq!(reader.response().await.records, want);
    assert_eq!(reader.response().await.records, want);
    // And a silent one that starts reading gets all of it.
    let mut late = silent.swap_remove(0);
    let answer = late.response().await;
    assert_eq!((answer.status, answer.records.len()), (Status::Ok, want.len()));
    assert_eq!(answer.records, want);
    drop(holders);
}
