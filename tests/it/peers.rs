//! Peers end to end over real TCP: advertise, look up, download, leave.

use std::time::Duration;

use crate::common::*;
use p2pci::peer::library::title_from_text;
use p2pci::peer::{Command, DownloadError, DownloadEvent, Holder, NetEvent, Reply};
use p2pci::protocol::{RfcNumber, Status};

async fn download(p: &mut TestPeer, rfc: u32, from: Option<Holder>) -> DownloadEvent {
    p.send(Command::Download { rfc: RfcNumber(rfc), from });
    match p
        .expect("download outcome", |e| {
            matches!(
                e,
                NetEvent::Download { event: DownloadEvent::Done { .. } | DownloadEvent::Failed { .. }, .. }
            )
        })
        .await
    {
        NetEvent::Download { event, .. } => event,
        _ => unreachable!(),
    }
}

fn part_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("rfc"))
        .collect()
}

/// Three peers share the 33 RFCs; a fourth downloads every one of them,
/// byte for byte, and the index holds exactly what it should throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_and_every_rfc_byte_for_byte() {
    let server = TestServer::start().await;
    let all = all_shipped();
    let mut a = TestPeer::start(server.addr, "hostA", &all[0..11]).await;
    let mut b = TestPeer::start(server.addr, "hostB", &all[11..22]).await;
    let mut c = TestPeer::start(server.addr, "hostC", &all[22..33]).await;
    for p in [&mut a, &mut b, &mut c] {
        assert_eq!(p.advertise().await.len(), 11);
    }
    assert_eq!(server.records().len(), 33);

    // Titles in the index are the ones in the texts.
    for r in server.records() {
        let text = String::from_utf8(shipped(r.rfc.0)).unwrap();
        assert_eq!(Some(r.title.clone()), title_from_text(&text), "RFC {}", r.rfc);
    }

    let mut d = TestPeer::start(server.addr, "hostD", &[]).await;
    for &n in &all {
        match download(&mut d, n, None).await {
            DownloadEvent::Done { rfc, bytes, path, .. } => {
                assert_eq!(rfc, RfcNumber(n));
                let got = std::fs::read(&path).unwrap();
                assert_eq!(got.len() as u64, bytes);
                assert!(got == shipped(n), "RFC {n} differs from the original");
            }
            other => panic!("RFC {n}: {other:?}"),
        }
    }
    assert!(part_files(&d.dir).is_empty(), "no temporary files left");
    // d advertised each download: every RFC now has two holders, d newest.
    server.until("d's ADDs", |c| c.records == 66).await;
    for &n in &all {
        let holders = server.lookup(RfcNumber(n));
        assert_eq!(holders.len(), 2);
        assert_eq!(holders[0].host, "hostD");
    }

    // Leaving removes exactly the leaver's records.
    a.quit().await;
    server.until("a's records gone", |c| c.records == 55).await;
    assert!(server.records().iter().all(|r| r.host != "hostA"));
    b.quit().await;
    c.quit().await;
    d.quit().await;
    server.until("everyone gone", |c| c.records == 0 && c.peers == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn lookup_list_and_their_replies() {
    let server = TestServer::start().await;
    let mut a = TestPeer::start(server.addr, "hostA", &[8600, 8601]).await;
    a.send(Command::List);
    let ev = a.expect("empty list", |e| matches!(e, NetEvent::Reply(Reply::List { .. }))).await;
    assert_eq!(ev, NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
    a.advertise().await;
    a.send(Command::Lookup(RfcNumber(8601)));
    let ev = a.expect("lookup", |e| matches!(e, NetEvent::Reply(Reply::Lookup { .. }))).await;
    let NetEvent::Reply(Reply::Lookup { status, records, .. }) = ev else { unreachable!() };
    assert_eq!(status, Status::Ok);
    assert_eq!(
        records,
        [rec(
            8601,
            "Message Header Field for Indicating Message Authentication Status",
            "hostA",
            a.upload_addr.port()
        )]
    );
    a.send(Command::Lookup(RfcNumber(1)));
    let ev = a.expect("lookup 404", |e| matches!(e, NetEvent::Reply(Reply::Lookup { .. }))).await;
    assert!(matches!(ev, NetEvent::Reply(Reply::Lookup { status: Status::NotFound, .. })));
    a.send(Command::List);
    let ev = a.expect("list", |e| matches!(e, NetEvent::Reply(Reply::List { .. }))).await;
    let NetEvent::Reply(Reply::List { records, .. }) = ev else { unreachable!() };
    let numbers: Vec<u32> = records.iter().map(|r| r.rfc.0).collect();
    assert_eq!(numbers, [8601, 8600]);
}

#[tokio::test]
async fn the_log_sees_every_raw_message() {
    let server = TestServer::start().await;
    let mut a = TestPeer::start(server.addr, "hostA", &[8602]).await;
    a.advertise().await;
    let mut b = TestPeer::start(server.addr, "hostB", &[]).await;
    b.send(Command::Download { rfc: RfcNumber(8602), from: None });
    let mut wire = Vec::new();
    within("download done", async {
        loop {
            match b.events.recv().await.unwrap() {
                NetEvent::Wire(w) => wire.push(w.text),
                NetEvent::Download { event: DownloadEvent::Done { .. }, .. } => break,
                _ => {}
            }
        }
    })
    .await;
    let port = a.upload_addr.port();
    // The exact form, with a Title even where the title is not known yet.
    let b_port = b.upload_addr.port();
    assert_eq!(
        wire[0],
        format!("LOOKUP RFC 8602 P2P-CI/1.0\r\nHost: hostB\r\nPort: {b_port}\r\nTitle: RFC 8602\r\n\r\n")
    );
    assert!(wire[1].starts_with("P2P-CI/1.0 200 OK\r\n\r\nRFC 8602 "), "{:?}", wire[1]);
    assert!(wire[2].starts_with("GET RFC 8602 P2P-CI/1.0\r\nHost: hostB\r\nOS: "), "{:?}", wire[2]);
    assert!(wire[3].starts_with("P2P-CI/1.0 200 OK\r\nDate: "), "{:?}", wire[3]);
    assert!(wire[2].ends_with("\r\nWant-Repr-Digest: sha-256=1\r\n\r\n"), "{:?}", wire[2]);
    assert!(
        wire[3].contains("\r\nContent-Length: 4619\r\nContent-Type: text/plain\r\nRepr-Digest: sha-256=:")
    );
    // The uploader saw the same GET.
    let up = a
        .expect(
            "uploader's log",
            |e| matches!(e, NetEvent::Wire(w) if matches!(w.link, p2pci::peer::Link::Upload(_))),
        )
        .await;
    let NetEvent::Wire(w) = up else { unreachable!() };
    assert_eq!(w.text, wire[2]);
    let served = a.expect("served", |e| matches!(e, NetEvent::Uploaded { .. })).await;
    assert!(
        matches!(served, NetEvent::Uploaded { status: Status::Ok, bytes: 4619, .. }),
        "{served:?} {port}"
    );
}

#[tokio::test]
async fn a_dead_holder_is_skipped_for_the_next() {
    let server = TestServer::start().await;
    let mut good = TestPeer::start(server.addr, "good", &[8603]).await;
    good.advertise().await;
    // A holder that is listed but gone: a port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut me = TestPeer::start(server.addr, "me", &[]).await;
    let from = Holder { host: "127.0.0.1".into(), port: dead };
    me.send(Command::Download { rfc: RfcNumber(8603), from: Some(from.clone()) });
    let failed = me
        .expect("holder failed", |e| {
            matches!(e, NetEvent::Download { event: DownloadEvent::HolderFailed { .. }, .. })
        })
        .await;
    let NetEvent::Download { event: DownloadEvent::HolderFailed { from: f, retrying, .. }, .. } = failed
    else {
        unreachable!()
    };
    assert_eq!(f, from);
    assert!(retrying);
    let done = me
        .expect("done", |e| matches!(e, NetEvent::Download { event: DownloadEvent::Done { .. }, .. }))
        .await;
    let NetEvent::Download { event: DownloadEvent::Done { from, path, .. }, .. } = done else {
        unreachable!()
    };
    assert_eq!(from.host, "good");
    assert_eq!(std::fs::read(path).unwrap(), shipped(8603));
    assert!(part_files(&me.dir).is_empty());
}

#[tokio::test]
async fn downloading_what_is_already_here_says_so() {
    let server = TestServer::start().await;
    let mut a = TestPeer::start(server.addr, "hostA", &[8604]).await;
    a.send(Command::Download { rfc: RfcNumber(8604), from: None });
    let ev = a.expect("notice", |e| matches!(e, NetEvent::Notice(_))).await;
    let NetEvent::Notice(text) = ev else { unreachable!() };
    assert!(text.contains("RFC 8604 is already here"), "{text}");
}

#[tokio::test]
async fn an_rfc_nobody_holds_fails_cleanly() {
    let server = TestServer::start().await;
    let mut a = TestPeer::start(server.addr, "hostA", &[]).await;
    match download(&mut a, 4242, None).await {
        DownloadEvent::Failed { rfc, reason } => {
            assert_eq!(rfc, RfcNumber(4242));
            assert_eq!(reason, DownloadError::NoHolder);
            assert_eq!(reason.to_string(), "no other peer holds it");
        }
        other => panic!("{other:?}"),
    }
    assert!(!a.dir.join("rfc4242.txt").exists());
}

#[tokio::test]
async fn a_peer_without_a_server_still_serves_and_reconnects() {
    // Reserve a port, start the peer while nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let tmp = tempfile::tempdir().unwrap();
    let config = peer_config(addr, "lonely", &[8605], tmp.path().join("lonely"));
    let (peer, mut events) = p2pci::peer::Peer::start(config).await.unwrap();
    let ev = within("disconnected", events.recv()).await.unwrap();
    assert!(matches!(ev, NetEvent::Disconnected { retry_in: Some(_), .. }), "{ev:?}");
    // Its upload server works regardless.
    let mut c = Raw::connect(peer.upload_addr).await;
    c.send("GET RFC 8605 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
    let got = c.until_closed().await;
    assert!(got.ends_with(&shipped(8605)));
    // The server comes up on that port: the peer connects by itself.
    let server = TestServer::on(
        tokio::net::TcpListener::bind(addr).await.unwrap(),
        p2pci::server::ServerConfig { print: false, ..Default::default() },
    );
    within("connected", async {
        loop {
            if let Some(NetEvent::Connected { .. }) = events.recv().await {
                break;
            }
        }
    })
    .await;
    peer.send(Command::Advertise);
    server.until("advertised", |c| c.records == 1).await;
    peer.shutdown(Duration::from_secs(3)).await;
    server.until("gone", |c| c.records == 0).await;
}

/// The next event that matches, skipping the others.
async fn next(
    events: &mut tokio::sync::mpsc::Receiver<NetEvent>,
    what: &str,
    pred: impl Fn(&NetEvent) -> bool,
) -> NetEvent {
    within(what, async {
        loop {
            let ev = events.recv().await.expect("events");
            if pred(&ev) {
                return ev;
            }
        }
    })
    .await
}

/// Two real index servers (child processes) given as a list: the peer uses
/// the first; when that one is killed it moves to the other by itself and
/// its records appear there.
#[tokio::test]
async fn a_peer_moves_to_the_next_server_and_advertises_there() {
    let mut first = ChildServer::spawn(&[]);
    let second = ChildServer::spawn(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let mut config = peer_config(first.addr, "mover", &[8600, 8601], tmp.path().join("mover"));
    config.servers = vec![first.addr.to_string(), second.addr.to_string()];
    let (peer, mut events) = p2pci::peer::Peer::start(config).await.unwrap();
    let ev = next(&mut events, "connected", |e| matches!(e, NetEvent::Connected { .. })).await;
    assert_eq!(ev, NetEvent::Connected { server: first.addr.to_string() });
    peer.send(Command::Advertise);
    next(&mut events, "advertised", |e| matches!(e, NetEvent::Reply(Reply::Advertised { .. }))).await;
    let port = peer.upload_addr.port();
    let mine = |rs: Vec<p2pci::protocol::Record>| {
        let mut v: Vec<(u32, String, u16)> = rs.into_iter().map(|r| (r.rfc.0, r.host, r.port)).collect();
        v.sort();
        v
    };
    let want = vec![(8600, "mover".to_owned(), port), (8601, "mover".to_owned(), port)];
    assert_eq!(mine(list_of(first.addr).await), want);
    assert!(list_of(second.addr).await.is_empty());

    first.proc.kill();
    next(&mut events, "disconnected", |e| matches!(e, NetEvent::Disconnected { .. })).await;
    let ev = next(&mut events, "connected", |e| matches!(e, NetEvent::Connected { .. })).await;
    assert_eq!(ev, NetEvent::Connected { server: second.addr.to_string() });
    let ev =
        next(&mut events, "advertised", |e| matches!(e, NetEvent::Reply(Reply::Advertised { .. }))).await;
    assert!(
        matches!(ev, NetEvent::Reply(Reply::Advertised { ref added, ref failed, .. }) if added.len() == 2 && failed.is_empty()),
        "{ev:?}"
    );
    assert_eq!(mine(list_of(second.addr).await), want);

    // It works as before on the new server.
    peer.send(Command::Lookup(RfcNumber(8601)));
    let ev = within("lookup", async {
        loop {
            if let NetEvent::Reply(r @ Reply::Lookup { .. }) = events.recv().await.expect("events") {
                return r;
            }
        }
    })
    .await;
    assert!(
        matches!(ev, Reply::Lookup { status: Status::Ok, ref records, .. } if records.len() == 1),
        "{ev:?}"
    );
    peer.shutdown(Duration::from_secs(3)).await;
}

/// `--dir` naming a file is said plainly.
#[tokio::test]
async fn a_folder_that_is_a_file_is_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("hostA");
    std::fs::write(&file, "not a folder").unwrap();
    let config = peer_config("127.0.0.1:1".parse().unwrap(), "hostA", &[8600], file.clone());
    let err = p2pci::peer::Peer::start(config).await.err().expect("refused");
    assert_eq!(format!("{err:#}"), format!("{} is not a directory", file.display()));
}

/// Stopping to share one RFC (`s` in the screen) takes it out of the index
/// and nothing else: the file moves to `unshared/`, the peer reconnects
/// (P2P-CI cannot remove one record) and advertises the rest again. A file
/// dropped into the folder and read again (the folder watch's rescan) is
/// listed and ADDed; one taken out is withdrawn the same way.
#[tokio::test]
async fn stopping_to_share_withdraws_one_rfc_and_keeps_the_rest() {
    let server = TestServer::start().await;
    let mut p = TestPeer::start(server.addr, "sharer", &[8600, 8601, 8602]).await;
    assert_eq!(p.advertise().await.len(), 3);
    let held = |server: &TestServer| {
        let mut v: Vec<u32> = server.records().iter().map(|r| r.rfc.0).collect();
        v.sort();
        v
    };
    assert_eq!(held(&server), [8600, 8601, 8602]);

    p.send(Command::Unshare(RfcNumber(8601)));
    let ev = p
        .expect("withdrawal notice", |e| matches!(e, NetEvent::Notice(n) if n.starts_with("withdrawing")))
        .await;
    assert_eq!(
        ev,
        NetEvent::Notice(
            "withdrawing RFC 8601 from the index: reconnecting, then advertising the other 2 again".into()
        )
    );
    p.expect(
        "re-advertised",
        |e| matches!(e, NetEvent::Reply(Reply::Advertised { added, .. }) if added.len() == 2),
    )
    .await;
    assert_eq!(held(&server), [8600, 8602]);
    assert!(!p.dir.join("rfc8601.txt").exists());
    assert_eq!(std::fs::read(p.dir.join("unshared").join("rfc8601.txt")).unwrap(), shipped(8601));

    // A file dropped in, then read again: listed and ADDed.
    std::fs::copy(rfc_dir().join("rfc8700.txt"), p.dir.join("rfc8700.txt")).unwrap();
    p.send(Command::Rescan { advertise_new: true });
    p.expect("added", |e| {
        matches!(e, NetEvent::Reply(Reply::Advertised { added, .. }) if added.iter().any(|r| r.rfc == RfcNumber(8700)))
    })
    .await;
    assert_eq!(held(&server), [8600, 8602, 8700]);

    // A file taken out: withdrawn.
    std::fs::remove_file(p.dir.join("rfc8600.txt")).unwrap();
    p.send(Command::Rescan { advertise_new: true });
    p.expect(
        "re-advertised",
        |e| matches!(e, NetEvent::Reply(Reply::Advertised { added, .. }) if added.len() == 2),
    )
    .await;
    assert_eq!(held(&server), [8602, 8700]);

    // Stopping to share what is not there is a clear folder error.
    p.send(Command::Unshare(RfcNumber(8600)));
    let ev = p.expect("folder error", |e| matches!(e, NetEvent::FolderError(_))).await;
    assert!(matches!(&ev, NetEvent::FolderError(t) if t.starts_with("RFC 8600: no file at")), "{ev:?}");
    p.quit().await;
}
