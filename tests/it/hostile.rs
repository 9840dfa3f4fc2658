//! Security: what a hostile party can and cannot do. No request names a
//! path; a connection's records are its own; a connection cannot change who
//! it is; a hostile index server cannot make a peer grow without bound,
//! hang or panic.

use std::time::Duration;

use crate::common::*;
use p2pci::peer::{Command, IndexError, NetEvent, PeerError, Reply, Request};
use p2pci::protocol::{ResponseError, RfcNumber, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BAD_GET: &[u8] = b"P2P-CI/1.0 400 Bad Request\r\n\r\n";
const NOT_FOUND_GET: &[u8] = b"P2P-CI/1.0 404 Not Found\r\n\r\n";

/// Only a plain decimal RFC number reaches the file system: every other
/// target is 400, a number with no file is 404, and a file that is there but
/// not named `rfc<N>.txt` can never be fetched.
#[tokio::test]
async fn no_get_can_name_a_path() {
    let server = TestServer::start().await;
    let peer = TestPeer::start(server.addr, "victim", &[8600]).await;
    // Files a path trick would like to reach.
    std::fs::write(peer.dir.join("secret.txt"), "secret").unwrap();
    std::fs::write(peer.dir.parent().unwrap().join("rfc1.txt"), "outside").unwrap();
    std::fs::create_dir(peer.dir.join("rfc2.txt")).unwrap();
    let bad = [
        "../rfc1",
        "../rfc1.txt",
        "..%2Frfc1",
        "/etc/passwd",
        "secret",
        "secret.txt",
        "8600/../8600",
        "8600.txt",
        "rfc8600",
        "-8600",
        "+8600",
        "0x2198",
        "8600\0",
        "8 600",
        "4294967296",
        "99999999999999999999999",
        "８６００",
        "٨٦٠٠",
        "*",
        "~",
        "",
    ];
    for target in bad {
        let mut c = Raw::connect(peer.upload_addr).await;
        c.send(format!("GET RFC {target} P2P-CI/1.0\r\nHost: x\r\n\r\n")).await;
        assert_eq!(c.until_closed().await, BAD_GET, "GET RFC {target:?}");
    }
    // A directory named like an RFC, and RFCs that are not here: 404.
    for n in ["2", "1", "0", "4294967295"] {
        let mut c = Raw::connect(peer.upload_addr).await;
        c.send(format!("GET RFC {n} P2P-CI/1.0\r\nHost: x\r\n\r\n")).await;
        assert_eq!(c.until_closed().await, NOT_FOUND_GET, "GET RFC {n}");
    }
    // Leading zeros are still the number: the real file.
    let mut c = Raw::connect(peer.upload_addr).await;
    c.send("GET RFC 008600 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
    assert!(c.until_closed().await.ends_with(&shipped(8600)));
}

/// Another connection that claims the very same Host and Port is another
/// peer: it cannot overwrite, remove or take over the first one's records.
#[tokio::test]
async fn records_belong_to_their_connection() {
    let server = TestServer::start().await;
    let mut owner = Raw::connect(server.addr).await;
    owner.send(add(1, "h", 1000, "Original")).await;
    owner.response().await;
    let mut thief = Raw::connect(server.addr).await;
    // Same identity, same RFC, another title: a second record, not a change.
    thief.send(add(1, "h", 1000, "Forged")).await;
    assert_eq!(thief.response().await.records, [rec(1, "Forged", "h", 1000)]);
    assert_eq!(server.records(), [rec(1, "Forged", "h", 1000), rec(1, "Original", "h", 1000)]);
    // Its leaving removes its own record only, however it leaves.
    thief.reset();
    server.until("forged record gone", |c| c.records == 1).await;
    assert_eq!(server.records(), [rec(1, "Original", "h", 1000)]);
    // The owner re-ADDing is idempotent: the original title stays.
    owner.send(add(1, "h", 1000, "Changed")).await;
    assert_eq!(owner.response().await.records, [rec(1, "Original", "h", 1000)]);
}

/// A connection cannot switch identity mid-stream: its first ADD makes it a
/// peer, an ADD under another Host or Port is refused and changes nothing,
/// and the connection keeps its first identity (and its records) to the end.
/// Reads register nothing and are answered whatever Host and Port they
/// carry; hostnames compare case-insensitively (PROTOCOL.md, Peer to server).
#[tokio::test]
async fn a_connection_cannot_switch_identity() {
    let server = TestServer::start().await;
    let mut other = Raw::connect(server.addr).await;
    other.send(add(5, "other", 2, "Theirs")).await;
    other.response().await;
    let mut c = Raw::connect(server.addr).await;
    // Reads first, under several names: none of them registers.
    c.send(list("reader", 1)).await;
    assert_eq!(c.response().await.status, Status::Ok);
    c.send(lookup(5, "someone", 9)).await;
    assert_eq!(c.response().await.status, Status::Ok);
    assert_eq!(server.peer_count(), 1);
    c.send(add(6, "me", 1, "Mine")).await;
    assert_eq!(c.response().await.status, Status::Ok);
    for req in [add(5, "other", 2, "Mine now"), add(7, "me", 2, "t"), add(7, "other", 1, "t")] {
        c.send(&req).await;
        assert_eq!(c.response().await.status, Status::BadRequest, "{req:?}");
    }
    // Still answered: reads under any name, an ADD under the same name in
    // other letters.
    c.send(lookup(5, "other", 2)).await;
    assert_eq!(c.response().await.status, Status::Ok);
    c.send(add(8, "ME", 1, "Mine too")).await;
    assert_eq!(c.response().await.status, Status::Ok);
    assert_eq!(
        server.records(),
        [rec(8, "Mine too", "me", 1), rec(6, "Mine", "me", 1), rec(5, "Theirs", "other", 2)]
    );
    drop(c);
    server.until("my records gone", |c| c.records == 1).await;
    assert_eq!(server.records(), [rec(5, "Theirs", "other", 2)]);
}

/// A fake index server that answers every request with `answer` (called
/// with the connection's number), then keeps the connection open.
async fn fake_index<F, Fut>(answer: F) -> std::net::SocketAddr
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((s, _)) = listener.accept().await {
            n += 1;
            tokio::spawn(answer(s, n));
        }
    });
    addr
}

async fn hostile_peer(
    server: std::net::SocketAddr,
    tune: impl FnOnce(&mut p2pci::peer::PeerConfig),
) -> TestPeer {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = peer_config(server, "me", &[], tmp.path().join("me"));
    config.request_timeout = Duration::from_millis(500);
    tune(&mut config);
    TestPeer::with_config(config, tmp).await
}

async fn expect_error(peer: &mut TestPeer, needle: &str) -> PeerError {
    match peer.expect("an error", |e| matches!(e, NetEvent::Error(_))).await {
        NetEvent::Error(e) => {
            let text = e.to_string();
            assert!(text.contains(needle), "{text}");
            e
        }
        _ => unreachable!(),
    }
}

/// A LIST answer that never ends hits the record cap; the peer drops the
/// connection, says why, reconnects, and still works.
#[tokio::test]
async fn an_endless_list_answer_hits_the_record_cap() {
    let server = fake_index(|mut s, n| async move {
        if read_head(&mut s).await.is_none() {
            return;
        }
        if n == 1 {
            let _ = s.write_all(b"P2P-CI/1.0 200 OK\r\n\r\n").await;
            // Bounded here so the test ends even if the peer would not.
            for _ in 0..1_000_000 {
                if s.write_all(b"RFC 1 Endless h 1\r\nRFC 2 Endless h 1\r\n").await.is_err() {
                    return;
                }
            }
        } else {
            let _ = s.write_all(b"P2P-CI/1.0 200 OK\r\n\r\nRFC 1 Fine h 1\r\n\r\n").await;
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    })
    .await;
    let mut peer = hostile_peer(server, |c| c.max_answer_records = 1000).await;
    peer.send(Command::List);
    let e = expect_error(&mut peer, "more than 1000 records").await;
    assert_eq!(e.reason, IndexError::BadAnswer(ResponseError::TooManyRecords(1000)));
    peer.expect("reconnected", |e| matches!(e, NetEvent::Connected { .. })).await;
    peer.send(Command::List);
    let ev = peer.expect("list", |e| matches!(e, NetEvent::Reply(Reply::List { .. }))).await;
    assert!(matches!(ev, NetEvent::Reply(Reply::List { ref records, .. }) if records.len() == 1), "{ev:?}");
}

/// The same with huge lines kept under the line limit: the byte cap holds.
#[tokio::test]
async fn a_huge_answer_hits_the_byte_cap() {
    let server = fake_index(|mut s, _| async move {
        if read_head(&mut s).await.is_none() {
            return;
        }
        let _ = s.write_all(b"P2P-CI/1.0 200 OK\r\n\r\n").await;
        let line = format!("RFC 1 {} h 1\r\n", "t".repeat(8000));
        for _ in 0..100_000 {
            if s.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut peer = hostile_peer(server, |c| c.max_answer_bytes = 1024 * 1024).await;
    peer.send(Command::List);
    let e = expect_error(&mut peer, "longer than 1048576 bytes").await;
    assert_eq!(e.reason, IndexError::AnswerTooLong(1024 * 1024));
}

/// Stray bytes between answers, garbage, a bad status line, a bad record
/// line: each is a clear error or notice, and the connection stays up. An
/// over-long line and silence are errors that cost the connection (a
/// reconnection follows). Never a panic or a hang.
#[tokio::test]
async fn malformed_or_missing_server_answers_are_errors_not_crashes() {
    let server = fake_index(|mut s, n| async move {
        if n == 1 {
            // Unasked-for bytes while idle.
            let _ = s.write_all(b"hello\r\n").await;
        }
        let mut request = 0;
        while read_head(&mut s).await.is_some() {
            request += 1;
            let answer: Vec<u8> = match (n, request) {
                (1, 1) => b"\xff\xfe garbage\r\n\r\n".to_vec(),
                (1, 2) => b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
                (1, 3) => b"P2P-CI/1.0 200 OK\r\n\r\nRFC one t h 1\r\n\r\n".to_vec(),
                (1, _) => format!("P2P-CI/1.0 200 OK\r\n\r\nRFC 1 {}", "x".repeat(100_000)).into_bytes(),
                (2, _) => continue, // silence
                _ => b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n".to_vec(),
            };
            if s.write_all(&answer).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut peer = hostile_peer(server, |_| {}).await;
    let ev = peer.expect("stray bytes noticed", |e| matches!(e, NetEvent::Notice(_))).await;
    assert_eq!(
        ev,
        NetEvent::Notice("ignored 7 byte(s) the index server sent while no request was waiting".into())
    );
    let bad = |e: &IndexError| match e {
        IndexError::BadAnswer(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    for (i, needle) in
        ["not UTF-8", "bad status line \"HTTP/1.1 200 OK\"", "bad record line \"RFC one t h 1\""]
            .into_iter()
            .enumerate()
    {
        peer.send(Command::Lookup(RfcNumber(1)));
        let e = expect_error(&mut peer, needle).await;
        assert_eq!(e.request, Some(Request::Lookup(RfcNumber(1))));
        let r = bad(&e.reason);
        assert!(!r.is_limit(), "{i}: {r:?}");
    }
    // The line past the limit costs the connection; so does silence.
    peer.send(Command::Lookup(RfcNumber(1)));
    let e = expect_error(&mut peer, "line longer than").await;
    assert!(bad(&e.reason).is_limit());
    let ev = peer
        .expect("dropped", |e| matches!(e, NetEvent::Disconnected { .. } | NetEvent::Connected { .. }))
        .await;
    assert!(matches!(ev, NetEvent::Disconnected { reason: IndexError::BadAnswer(_), .. }), "{ev:?}");
    peer.expect("reconnected", |e| matches!(e, NetEvent::Connected { .. })).await;
    peer.send(Command::Lookup(RfcNumber(1)));
    let e = expect_error(&mut peer, "no answer from the index server within 500ms").await;
    assert_eq!(e.reason, IndexError::Silent(Duration::from_millis(500)));
    peer.expect("reconnected", |e| matches!(e, NetEvent::Connected { .. })).await;
    // Still alive and answering commands.
    peer.send(Command::Lookup(RfcNumber(1)));
    let ev = peer.expect("an answer", |e| matches!(e, NetEvent::Error(_) | NetEvent::Reply(_))).await;
    assert!(matches!(ev, NetEvent::Reply(Reply::Lookup { status: Status::NotFound, .. })), "{ev:?}");
}
