//! The index server over real TCP, byte for byte (PROTOCOL.md, Peer to server).

use std::time::Duration;

use crate::common::*;
use p2pci::protocol::{Limits, Status};
use p2pci::server::ServerConfig;

const OK_EMPTY: &[u8] = b"P2P-CI/1.0 200 OK\r\n\r\n\r\n";
const BAD: &[u8] = b"P2P-CI/1.0 400 Bad Request\r\n\r\n\r\n";
const NOT_FOUND: &[u8] = b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n";
const VERSION: &[u8] = b"P2P-CI/1.0 505 P2P-CI Version Not Supported\r\n\r\n\r\n";

#[tokio::test]
async fn exact_bytes_of_each_answer() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    c.send(list("a.example", 5678)).await;
    assert_eq!(c.bytes(OK_EMPTY.len()).await, OK_EMPTY, "empty LIST is 200 with no records");
    c.send(add(123, "a.example", 5678, "A Proferred Official ICP")).await;
    let want = b"P2P-CI/1.0 200 OK\r\n\r\nRFC 123 A Proferred Official ICP a.example 5678\r\n\r\n";
    assert_eq!(c.bytes(want.len()).await, want);
    c.send(lookup(123, "a.example", 5678)).await;
    assert_eq!(c.bytes(want.len()).await, want);
    c.send(lookup(124, "a.example", 5678)).await;
    assert_eq!(c.bytes(NOT_FOUND.len()).await, NOT_FOUND);
    c.send(list("a.example", 5678)).await;
    assert_eq!(c.bytes(want.len()).await, want);
}

#[tokio::test]
async fn every_error_status_keeps_the_connection() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    let cases: Vec<(String, &[u8])> = vec![
        ("ADD RFC 1 P2P-CI/2.0\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n".into(), VERSION),
        ("LIST ALL P2P-CI/1.1\r\nHost: h\r\nPort: 1\r\n\r\n".into(), VERSION),
        ("ADD RFC 1 HTTP/1.1\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n".into(), BAD),
        ("ADD RFC one P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n".into(), BAD),
        ("ADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\n\r\n".into(), BAD),
        ("ADD RFC 1 P2P-CI/1.0\r\nPort: 1\r\nTitle: t\r\n\r\n".into(), BAD),
        ("LOOKUP RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n".into(), BAD),
        ("LOOKUP RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 70000\r\n\r\n".into(), BAD),
        ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: 0\r\n\r\n".into(), BAD),
        ("LIST SOME P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\n\r\n".into(), BAD),
        ("DELETE RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\n\r\n".into(), BAD),
        ("GET RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n".into(), BAD),
        ("LIST ALL P2P-CI/1.0\r\nHost h\r\nPort: 1\r\n\r\n".into(), BAD),
        ("LOOKUP RFC 77 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\n\r\n".into(), NOT_FOUND),
    ];
    for (req, want) in cases {
        c.send(&req).await;
        assert_eq!(c.bytes(want.len()).await, want, "for {req:?}");
    }
    c.send(b"LIST ALL P2P-CI/1.0\r\nHost: \xc3\x28\r\nPort: 1\r\n\r\n").await;
    assert_eq!(c.bytes(BAD.len()).await, BAD, "bad UTF-8");
    // Still usable after all of that, and nothing was stored by the failures.
    c.send(list("h", 1)).await;
    assert_eq!(c.bytes(OK_EMPTY.len()).await, OK_EMPTY);
    assert!(server.records().is_empty());
}

/// An ADD whose Host carries a terminal escape (set the window title, clear
/// the screen) is refused and stored nowhere, so no LOOKUP or LIST can echo
/// it to another peer's screen; the server's transcript shows it escaped.
#[test]
fn control_characters_get_400_and_are_printed_escaped() {
    let mut srv = ChildServer::printing(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = Raw::connect(srv.addr).await;
        for evil in [
            "ADD RFC 1 P2P-CI/1.0\r\nHost: ev\x1b]0;pwned\x07\x1b[2J\r\nPort: 1\r\nTitle: t\r\n\r\n",
            "ADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: a\x00b\x7f\r\n\r\n",
            "LOOKUP RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: \x1b[31mred\r\n\r\n",
        ] {
            c.send(evil).await;
            assert_eq!(c.bytes(BAD.len()).await, BAD, "for {evil:?}");
        }
        // The connection stays usable, a tab is allowed, and nothing of the
        // refused requests was stored.
        c.send(add(2, "h", 1, "tab\there")).await;
        assert_eq!(c.response().await.records, vec![rec(2, "tab\there", "h", 1)]);
        assert_eq!(list_of(srv.addr).await, vec![rec(2, "tab\there", "h", 1)]);
    });
    let line = srv.proc.wait_out("the escaped Host", |l| l.starts_with("Host: ev"));
    assert_eq!(line, "Host: ev\\x1b]0;pwned\\x07\\x1b[2J");
    srv.proc.wait_out("the escaped Title", |l| l.starts_with("Title: a"));
}

/// The server's own logs (`--log-format text` and `json`, at debug level,
/// where refused requests are described) never carry a received control
/// byte raw: text logs quote it Rust-escaped, JSON escapes it as JSON does.
#[test]
fn logs_never_print_received_control_bytes_raw() {
    for format in ["text", "json"] {
        let args = ChildServer::args(&["--log-format", format]);
        let mut proc = Proc::spawn_with(args, |c| {
            c.env("RUST_LOG", "debug");
        });
        let line = proc.wait_err("the listening line", |l| l.contains("listening on"));
        let after = &line[line.find("listening on ").unwrap() + "listening on ".len()..];
        let addr: std::net::SocketAddr = after.split(['"', ' ']).next().unwrap().parse().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut c = Raw::connect(addr).await;
            for evil in [
                "\x1b[2JADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n",
                "ADD RFC 1\x1b]0;x\x07 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n",
                "ADD RFC 1 P2P-CI/\x1b[31m\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n",
            ] {
                c.send(evil).await;
                assert_eq!(c.bytes(BAD.len()).await, BAD, "for {evil:?}");
            }
            c.send("ADD RFC 1 P2P-CI/1.0\r\nHost: h\x1b\r\nPort: 1\r\nTitle: t\r\n\r\n").await;
            assert_eq!(c.bytes(BAD.len()).await, BAD);
        });
        // Three refusals described; none of the lines holds a raw ESC or BEL.
        let mut described = 0;
        while described < 3 {
            let l = proc.wait_err("a refusal described", |l| l.contains("400") || l.contains('\x1b'));
            assert!(!l.contains(['\x1b', '\x07']), "{format}: raw control byte in {l:?}");
            described += usize::from(l.contains("400"));
        }
    }
}

#[tokio::test]
async fn lenient_framing_bare_lf_and_header_case() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    c.send("ADD RFC 9 P2P-CI/1.0\nport: 7\nTITLE:   Spaced Title  \nhost: x\nX-Extra: ignored\n\n").await;
    let r = c.response().await;
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.records, [rec(9, "Spaced Title", "x", 7)]);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    let mut batch = String::new();
    for n in 1..=20 {
        batch += &add(n, "p", 9, &format!("Title {n}"));
    }
    batch += &lookup(5, "p", 9);
    batch += "BOGUS\r\n\r\n";
    batch += &lookup(500, "p", 9);
    batch += &list("p", 9);
    c.send(&batch).await;
    for n in 1..=20 {
        let r = c.response().await;
        assert_eq!(r.records, [rec(n, &format!("Title {n}"), "p", 9)]);
    }
    assert_eq!(c.response().await.records, [rec(5, "Title 5", "p", 9)]);
    assert_eq!(c.response().await.status, Status::BadRequest);
    assert_eq!(c.response().await.status, Status::NotFound);
    let all = c.response().await.records;
    let numbers: Vec<u32> = all.iter().map(|r| r.rfc.0).collect();
    assert_eq!(numbers, (1..=20).rev().collect::<Vec<_>>(), "newest first");
}

#[tokio::test]
async fn a_request_trickled_one_byte_at_a_time() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    c.trickle(add(8600, "slow", 4000, "Trickled Title")).await;
    assert_eq!(c.response().await.records, [rec(8600, "Trickled Title", "slow", 4000)]);
    c.trickle(list("slow", 4000)).await;
    assert_eq!(c.response().await.records.len(), 1);
}

#[tokio::test]
async fn newest_first_several_records_per_rfc_and_idempotent_add() {
    let server = TestServer::start().await;
    let mut a = Raw::connect(server.addr).await;
    let mut b = Raw::connect(server.addr).await;
    a.send(add(1, "a", 1, "One")).await;
    a.response().await;
    b.send(add(1, "b", 2, "One")).await;
    b.response().await;
    a.send(add(2, "a", 1, "Two")).await;
    a.response().await;
    // Again: no second record, same answer.
    a.send(add(1, "a", 1, "One")).await;
    assert_eq!(a.response().await.records, [rec(1, "One", "a", 1)]);
    a.send(lookup(1, "a", 1)).await;
    assert_eq!(a.response().await.records, [rec(1, "One", "b", 2), rec(1, "One", "a", 1)]);
    a.send(list("a", 1)).await;
    assert_eq!(
        a.response().await.records,
        [rec(2, "Two", "a", 1), rec(1, "One", "b", 2), rec(1, "One", "a", 1)]
    );
}

#[tokio::test]
async fn one_connection_is_one_peer() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    c.send(add(1, "me", 10, "T")).await;
    assert_eq!(c.response().await.status, Status::Ok);
    for other in [add(2, "me", 11, "T"), add(2, "you", 10, "T")] {
        c.send(&other).await;
        assert_eq!(c.response().await.status, Status::BadRequest, "{other:?}");
    }
    // Reads register nothing, so any Host and Port will do.
    for read in [lookup(1, "me", 10), lookup(1, "you", 99), list("you", 99)] {
        c.send(&read).await;
        assert_eq!(c.response().await.status, Status::Ok, "{read:?}");
    }
    assert_eq!(server.records(), [rec(1, "T", "me", 10)]);
}

#[tokio::test]
async fn same_hostname_different_ports_are_kept_apart() {
    let server = TestServer::start().await;
    let mut a = Raw::connect(server.addr).await;
    let mut b = Raw::connect(server.addr).await;
    a.send(add(7, "twin", 1000, "Seven")).await;
    a.response().await;
    b.send(add(7, "twin", 2000, "Seven")).await;
    b.response().await;
    assert_eq!(server.records().len(), 2);
    a.reset();
    server.until("a's record removed", |c| c.records == 1).await;
    assert_eq!(server.records(), [rec(7, "Seven", "twin", 2000)]);
    b.send(lookup(7, "twin", 2000)).await;
    assert_eq!(b.response().await.records, [rec(7, "Seven", "twin", 2000)]);
}

#[tokio::test]
async fn records_go_when_the_connection_closes_politely_or_not() {
    let server = TestServer::start().await;
    let mut polite = Raw::connect(server.addr).await;
    let mut crash = Raw::connect(server.addr).await;
    let mut stays = Raw::connect(server.addr).await;
    for (c, host) in [(&mut polite, "polite"), (&mut crash, "crash"), (&mut stays, "stays")] {
        for n in 0..5 {
            c.send(add(100 + n, host, 1, "T")).await;
            c.response().await;
        }
    }
    assert_eq!(server.records().len(), 15);
    assert_eq!(server.peer_count(), 3);
    drop(polite);
    crash.reset();
    server.until("both peers gone", |c| c.peers == 1 && c.records == 5).await;
    assert!(server.records().iter().all(|r| r.host == "stays"));
}

#[tokio::test]
async fn a_limit_breach_gets_400_and_a_close() {
    let limits = Limits { max_line: 100, max_head: 300, max_headers: 4 };
    let server =
        TestServer::with_config(ServerConfig { limits, print: false, ..ServerConfig::default() }).await;
    let long_line = format!("ADD RFC 1 P2P-CI/1.0\r\nTitle: {}\r\n", "x".repeat(200));
    let many_headers = format!("LIST ALL P2P-CI/1.0\r\n{}\r\n", "A: b\r\n".repeat(5));
    let big_head = format!(
        "LIST ALL P2P-CI/1.0\r\n{}",
        "Abcdefghij: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n".repeat(4)
    );
    for req in [long_line, many_headers, big_head, "x".repeat(500)] {
        let mut c = Raw::connect(server.addr).await;
        c.send(add(1, "h", 1, "t")).await;
        c.response().await;
        c.send(&req).await;
        let rest = c.until_closed().await;
        assert_eq!(rest, BAD, "for {:?}", &req[..40]);
    }
    server.until("records of closed connections removed", |c| c.records == 0).await;
}

#[tokio::test]
async fn an_unfinished_request_times_out_but_an_idle_peer_does_not() {
    let timeout = Duration::from_millis(300);
    let config = ServerConfig { request_timeout: timeout, print: false, ..ServerConfig::default() };
    let server = TestServer::with_config(config).await;
    let mut idle = Raw::connect(server.addr).await;
    idle.send(add(1, "idle", 1, "t")).await;
    idle.response().await;
    let idle_since = tokio::time::Instant::now();
    let mut stuck = Raw::connect(server.addr).await;
    stuck.send(add(2, "stuck", 2, "t")).await;
    stuck.response().await;
    stuck.send("LIST ALL P2P-CI/1.0\r\nHost: stuck\r\n").await;
    // The stuck one is closed and its record removed; no answer is sent.
    assert_eq!(stuck.until_closed().await, b"");
    server.until("stuck peer removed", |c| c.peers == 1).await;
    // Idle for twice the timeout at least (a lower bound only: a slow
    // machine makes it longer, which proves more), and still served.
    tokio::time::sleep_until(idle_since + timeout * 2).await;
    idle.send(list("idle", 1)).await;
    assert_eq!(idle.response().await.records, [rec(1, "t", "idle", 1)]);
}

#[tokio::test]
async fn blank_lines_between_requests_are_tolerated() {
    let server = TestServer::start().await;
    let mut c = Raw::connect(server.addr).await;
    c.send(format!("\r\n\r\n{}\r\n{}", list("h", 1), list("h", 1))).await;
    assert_eq!(c.bytes(OK_EMPTY.len() * 2).await, [OK_EMPTY, OK_EMPTY].concat());
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let config = ServerConfig { max_connections: 2, print: false, ..ServerConfig::default() };
    let server = TestServer::with_config(config).await;
    let mut a = Raw::connect(server.addr).await;
    let mut b = Raw::connect(server.addr).await;
    a.send(add(1, "a", 1, "T")).await;
    a.response().await;
    b.send(add(1, "b", 1, "T")).await;
    b.response().await;
    let mut c = Raw::connect(server.addr).await;
    assert_eq!(c.until_closed().await, b"", "third connection refused");
    drop(a);
    server.until("a gone", |c| c.peers == 1).await;
    // A slot is free again.
    let mut d = Raw::connect(server.addr).await;
    d.send(list("d", 1)).await;
    assert_eq!(d.response().await.status, Status::Ok);
}

#[tokio::test]
async fn a_large_list_is_exact_and_newest_first() {
    let server = TestServer::start().await;
    let mut peers = Vec::new();
    for p in 0..20u16 {
        let mut c = Raw::connect(server.addr).await;
        let mut batch = String::new();
        for n in 0..250u32 {
            batch += &add(n, &format!("h{p}"), 1000 + p, &format!("Title {n} of peer {p}"));
        }
        c.send(&batch).await;
        for _ in 0..250 {
            c.response().await;
        }
        peers.push(c);
    }
    let mut c = Raw::connect(server.addr).await;
    c.send(list("reader", 1)).await;
    let got = c.response().await.records;
    assert_eq!(got.len(), 5000);
    let mut want = Vec::new();
    for p in 0..20u16 {
        for n in 0..250u32 {
            want.push(rec(n, &format!("Title {n} of peer {p}"), &format!("h{p}"), 1000 + p));
        }
    }
    want.reverse();
    assert_eq!(got, want);
}
