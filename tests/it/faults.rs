//! Faults: peers and servers that crash, uploaders that lie or die, files
//! that vanish, folders that cannot be written (PROTOCOL.md, The system and
//! Peer to peer). Every test ends with the system in a known state.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use p2pci::peer::download::{self, DownloadConfig};
use p2pci::peer::{Command, DownloadError, DownloadEvent, DownloadId, Holder, NetEvent, Reply};
use p2pci::protocol::{ResponseError, RfcNumber, Status};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// How a fake uploader misbehaves once it has read the GET.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fake {
    /// Announces the real size, sends half, closes.
    Short,
    /// Announces the real size, sends a little, then resets (a crash).
    Dies,
    /// Answers with bytes that are not a P2P-CI answer.
    Garbage,
    /// Sends more bytes than it announced.
    TooLong,
    /// Announces the size, then sends nothing more and keeps the line open.
    Stalls,
    /// Announces a huge file.
    Huge,
    /// A 200 with no Content-Length.
    NoLength,
}

/// A raw uploader that answers every GET the `how` way; returns its port.
async fn fake_uploader(how: Fake, body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(answer(stream, how, body));
        }
    });
    port
}

async fn answer(mut s: TcpStream, how: Fake, body: Vec<u8>) {
    if read_head(&mut s).await.is_none() {
        return;
    }
    let head = |len: usize| {
        format!("P2P-CI/1.0 200 OK\r\nContent-Length: {len}\r\nContent-Type: text/plain\r\n\r\n")
    };
    let _ = match how {
        Fake::Short => {
            let _ = s.write_all(head(body.len()).as_bytes()).await;
            s.write_all(&body[..body.len() / 2]).await
        }
        Fake::Dies => {
            let _ = s.write_all(head(body.len()).as_bytes()).await;
            let _ = s.write_all(&body[..100]).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let std = s.into_std().unwrap();
            socket2::SockRef::from(&std).set_linger(Some(Duration::ZERO)).unwrap();
            drop(std);
            return;
        }
        Fake::Garbage => s.write_all(b"\x00\xffHTTP/1.1 200 OK\r\nwhatever\r\n\r\nmore junk").await,
        Fake::TooLong => {
            let _ = s.write_all(head(body.len() - 10).as_bytes()).await;
            s.write_all(&body).await
        }
        Fake::Stalls => {
            let _ = s.write_all(head(body.len()).as_bytes()).await;
            let _ = s.write_all(&body[..10]).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
        Fake::Huge => s.write_all(head(usize::MAX).as_bytes()).await,
        Fake::NoLength => s.write_all(b"P2P-CI/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody").await,
    };
    let _ = s.shutdown().await;
}

fn holder(port: u16) -> Holder {
    Holder { host: "127.0.0.1".into(), port }
}

fn assert_no_partial(dir: &Path) {
    assert_eq!(
        partial_files(dir),
        Vec::<std::path::PathBuf>::new(),
        "partial files left in {}",
        dir.display()
    );
}

#[tokio::test]
async fn bad_uploaders_leave_nothing_behind_and_the_next_holder_delivers() {
    let server = TestServer::start().await;
    let mut real = TestPeer::start(server.addr, "real", &[8600]).await;
    real.advertise().await;
    let body = shipped(8600);
    // Fakes advertised after the real holder, so LOOKUP (newest first) names
    // them first; each has its own index connection, as a peer would.
    let fakes = [Fake::Short, Fake::Dies, Fake::Garbage, Fake::TooLong, Fake::NoLength];
    let mut ports = Vec::new();
    let mut conns = Vec::new();
    for how in fakes {
        let port = fake_uploader(how, body.clone()).await;
        let mut c = Raw::connect(server.addr).await;
        c.send(add(8600, "127.0.0.1", port, "fake")).await;
        assert_eq!(c.response().await.status, Status::Ok);
        ports.push((how, port));
        conns.push(c);
    }
    let mut me = TestPeer::start(server.addr, "me", &[]).await;
    me.send(Command::Download { rfc: RfcNumber(8600), from: None });
    let (failures, last) = me.download_outcome().await;
    let len = body.len() as u64;
    let expected = |how: Fake, reason: &DownloadError| match how {
        Fake::Short => *reason == DownloadError::Cut { received: len / 2, total: len },
        // A reset, seen as a broken read, or as the end of the stream.
        Fake::Dies => matches!(reason, DownloadError::Broken(_) | DownloadError::Cut { received: 100, .. }),
        Fake::Garbage => matches!(reason, DownloadError::BadAnswer(_)),
        Fake::TooLong => *reason == DownloadError::TooLong { total: len - 10 },
        Fake::NoLength => *reason == DownloadError::BadAnswer(ResponseError::MissingHeader("Content-Length")),
        _ => unreachable!(),
    };
    assert_eq!(failures.len(), fakes.len(), "{failures:?}");
    for ((how, port), (from, reason)) in ports.iter().rev().zip(&failures) {
        assert_eq!(*from, holder(*port), "{how:?}");
        assert!(expected(*how, reason), "{how:?}: {reason:?}");
    }
    match last {
        DownloadEvent::Done { from, bytes, .. } => {
            assert_eq!(from.host, "real");
            assert_eq!(bytes, body.len() as u64);
        }
        other => panic!("expected Done, got {other:?}"),
    }
    assert_eq!(std::fs::read(me.dir.join("rfc8600.txt")).unwrap(), body);
    assert_no_partial(&me.dir);
}

#[tokio::test]
async fn when_every_holder_fails_nothing_is_kept_and_the_reason_is_given() {
    let server = TestServer::start().await;
    let port = fake_uploader(Fake::Short, shipped(8601)).await;
    let mut c = Raw::connect(server.addr).await;
    c.send(add(8601, "127.0.0.1", port, "fake")).await;
    c.response().await;
    let mut me = TestPeer::start(server.addr, "me", &[]).await;
    me.send(Command::Download { rfc: RfcNumber(8601), from: None });
    let (failures, last) = me.download_outcome().await;
    assert_eq!(failures.len(), 1);
    match last {
        DownloadEvent::Failed { rfc, reason } => {
            assert_eq!(rfc, RfcNumber(8601));
            let DownloadError::AllFailed { tried: 1, last, error } = &reason else { panic!("{reason:?}") };
            assert_eq!(*last, holder(port));
            assert!(matches!(**error, DownloadError::Cut { .. }), "{reason:?}");
            assert!(reason.to_string().contains("connection closed after"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(!me.dir.join("rfc8601.txt").exists());
    assert_no_partial(&me.dir);
    // The engine is still fine.
    me.send(Command::Lookup(RfcNumber(8601)));
    me.expect("lookup answered", |e| matches!(e, NetEvent::Reply(Reply::Lookup { .. }))).await;
}

/// The downloader alone, against uploaders that stall, announce too much or
/// say nothing: each is abandoned in bounded time with nothing kept.
#[tokio::test]
async fn stalled_huge_and_silent_uploaders_are_abandoned() {
    let body = shipped(8602);
    let stalls = fake_uploader(Fake::Stalls, body.clone()).await;
    let huge = fake_uploader(Fake::Huge, body.clone()).await;
    // Accepts and never answers.
    let silent_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = silent_listener.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent_listener.accept().await {
            held.push(s);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let mut config = DownloadConfig::new(tmp.path().to_owned(), "me".into(), "test".into());
    config.idle_timeout = Duration::from_millis(300);
    config.max_size = 1024 * 1024;
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let holders = vec![holder(stalls), holder(huge), holder(silent)];
    let got =
        within("download gives up", download::run(DownloadId(1), RfcNumber(8602), holders, &config, &tx))
            .await;
    assert!(got.is_none());
    drop(tx);
    let mut reasons = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let NetEvent::Download { event: DownloadEvent::HolderFailed { reason, .. }, .. } = ev {
            reasons.push(reason);
        }
    }
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0], DownloadError::Stalled(Duration::from_millis(300)));
    assert_eq!(reasons[1], DownloadError::TooLarge { announced: u64::MAX, limit: 1024 * 1024 });
    assert_eq!(reasons[1].to_string(), "announced 16384 PiB, above the 1 MiB limit");
    assert_eq!(reasons[2], DownloadError::Stalled(Duration::from_millis(300)));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing kept");
}

#[tokio::test]
async fn a_file_deleted_after_it_was_advertised_gets_404_and_the_downloader_moves_on() {
    let server = TestServer::start().await;
    let mut keeps = TestPeer::start(server.addr, "keeps", &[8700]).await;
    keeps.advertise().await;
    let mut loses = TestPeer::start(server.addr, "loses", &[8700]).await;
    loses.advertise().await;
    std::fs::remove_file(loses.dir.join("rfc8700.txt")).unwrap();
    let mut me = TestPeer::start(server.addr, "me", &[]).await;
    me.send(Command::Download { rfc: RfcNumber(8700), from: None });
    let (failures, last) = me.download_outcome().await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0.host, "loses");
    assert_eq!(failures[0].1, DownloadError::Refused(Status::NotFound));
    assert!(matches!(last, DownloadEvent::Done { ref from, .. } if from.host == "keeps"), "{last:?}");
    assert_eq!(std::fs::read(me.dir.join("rfc8700.txt")).unwrap(), shipped(8700));
    // The uploader said why, too.
    loses.expect("404 served", |e| matches!(e, NetEvent::Uploaded { status: Status::NotFound, .. })).await;
}

/// A folder that cannot be written. Tests run as root, so permissions would
/// not stop a write; the folder is replaced by a plain file instead, which
/// stops root as well.
#[tokio::test]
async fn an_unwritable_folder_is_a_clear_error_not_a_crash() {
    let server = TestServer::start().await;
    let mut holder_peer = TestPeer::start(server.addr, "holder", &[8801]).await;
    holder_peer.advertise().await;
    let mut me = TestPeer::start(server.addr, "me", &[8802]).await;
    me.advertise().await;
    let moved = me.dir.with_extension("moved");
    std::fs::rename(&me.dir, &moved).unwrap();
    std::fs::write(&me.dir, b"not a folder").unwrap();

    me.send(Command::Download { rfc: RfcNumber(8801), from: None });
    let (failures, last) = me.download_outcome().await;
    assert_eq!(failures.len(), 1);
    assert!(matches!(failures[0].1, DownloadError::Write { .. }), "{:?}", failures[0].1);
    assert!(failures[0].1.to_string().starts_with("cannot write in "), "{}", failures[0].1);
    assert!(matches!(last, DownloadEvent::Failed { .. }), "{last:?}");
    // Nothing corrupted: the holder's file, my "folder" and my moved files.
    assert_eq!(std::fs::read(holder_peer.dir.join("rfc8801.txt")).unwrap(), shipped(8801));
    assert_eq!(std::fs::read(&me.dir).unwrap(), b"not a folder");
    assert_eq!(std::fs::read(moved.join("rfc8802.txt")).unwrap(), shipped(8802));
    // My upload server answers 404 for what it can no longer read, and the
    // engine still serves commands.
    let mut c = Raw::connect(me.upload_addr).await;
    c.send("GET RFC 8802 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.until_closed().await, b"P2P-CI/1.0 404 Not Found\r\n\r\n");
    me.send(Command::List);
    me.expect("list answered", |e| matches!(e, NetEvent::Reply(Reply::List { .. }))).await;
    // Put the folder back: downloads work again.
    std::fs::remove_file(&me.dir).unwrap();
    std::fs::rename(&moved, &me.dir).unwrap();
    me.send(Command::Download { rfc: RfcNumber(8801), from: None });
    let (_, last) = me.download_outcome().await;
    assert!(matches!(last, DownloadEvent::Done { .. }), "{last:?}");
    assert_no_partial(&me.dir);
}

/// A peer process killed with SIGKILL: the server sees the connection die
/// and drops every record of that peer, and only of that peer.
#[tokio::test]
async fn a_peer_killed_with_sigkill_loses_its_records() {
    let server = TestServer::start().await;
    let mut stays = TestPeer::start(server.addr, "stays", &[8600]).await;
    stays.advertise().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut victim = Proc::headless_peer(
        server.addr,
        "victim",
        &tmp.path().join("victim"),
        &[8600, 8601, 8602],
        &["--advertise"],
    );
    server.until("victim advertised", |c| c.records == 4).await;
    victim.kill();
    server.until("victim's records gone", |c| c.records == 1 && c.peers == 1).await;
    assert!(server.records().iter().all(|r| r.host == "stays"));
}

/// The server process killed with SIGKILL and started again on the same
/// port: every peer notices, reconnects with backoff and re-advertises all it
/// holds (including what it downloaded), with no command from anyone.
#[tokio::test]
async fn a_restarted_server_gets_every_record_back_without_a_keystroke() {
    let mut server = ChildServer::spawn(&[]);
    let port = server.addr.port();
    let mut a = TestPeer::start(server.addr, "a", &[8595, 8596]).await;
    let mut b = TestPeer::start(server.addr, "b", &[8597]).await;
    a.advertise().await;
    b.advertise().await;
    b.send(Command::Download { rfc: RfcNumber(8595), from: None });
    b.expect("b advertised its download", |e| {
        matches!(e, NetEvent::Reply(Reply::Advertised { added, .. }) if added.iter().any(|r| r.rfc.0 == 8595))
    })
    .await;
    let key = |rs: Vec<p2pci::protocol::Record>| {
        let mut v: Vec<(u32, String, u16)> = rs.into_iter().map(|r| (r.rfc.0, r.host, r.port)).collect();
        v.sort();
        v
    };
    let before = key(list_of(server.addr).await);
    assert_eq!(before.len(), 4);

    server.proc.kill();
    // Down for a while: each peer notices, then fails to reconnect twice
    // (each attempt is one more Disconnected, after a growing backoff).
    for p in [&mut a, &mut b] {
        for what in ["disconnect noticed", "first retry failed", "second retry failed"] {
            p.expect(what, |e| matches!(e, NetEvent::Disconnected { .. })).await;
        }
    }
    let server = ChildServer::respawn(port, &[]);
    for p in [&mut a, &mut b] {
        p.expect("reconnected", |e| matches!(e, NetEvent::Connected { .. })).await;
        p.expect("re-advertised", |e| matches!(e, NetEvent::Reply(Reply::Advertised { .. }))).await;
    }
    within("all records back", async {
        loop {
            if key(list_of(server.addr).await) == before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // And the peers work as before.
    a.send(Command::Lookup(RfcNumber(8597)));
    let ev = a.expect("lookup", |e| matches!(e, NetEvent::Reply(Reply::Lookup { .. }))).await;
    assert!(matches!(ev, NetEvent::Reply(Reply::Lookup { status: Status::Ok, .. })), "{ev:?}");
}
