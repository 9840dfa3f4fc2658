//! Issue 19, the engine's side: downloads a front end can cancel and retry,
//! a waiting state, withdrawals that survive a server whose cleanup of the
//! old connection comes late, and the headless peer's folder watch and
//! command order (the real binary).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;
use p2pci::peer::{
    AdvertiseCause, Command, DownloadError, DownloadEvent, DownloadId, Holder, NetEvent, WithdrawOutcome,
    Withdrawal,
};
use p2pci::protocol::{
    GetResponseHead, P2sMethod, P2sRequest, P2sResponse, Record, RfcNumber, Status, parse_head,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one request head (up to its empty line); `None` at the end.
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(buf.drain(..at + 4).collect());
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What a stand-in holder does with each GET.
#[derive(Clone)]
struct HolderScript {
    /// Before the head.
    delay: Duration,
    /// `None`: answer 404.
    announced: Option<u64>,
    /// Sent after the head; then the connection is held open.
    body: Vec<u8>,
}

/// A stand-in holder on loopback; its upload port.
async fn stand_in_holder(script: HolderScript) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if read_head(&mut s, &mut buf).await.is_none() {
                    return;
                }
                tokio::time::sleep(script.delay).await;
                let mut out = Vec::new();
                match script.announced {
                    Some(len) => GetResponseHead::ok(SystemTime::now(), "test", SystemTime::now(), len),
                    None => GetResponseHead::error(Status::NotFound),
                }
                .encode(&mut out);
                out.extend_from_slice(&script.body);
                let _ = s.write_all(&out).await;
                if script.announced.is_none() {
                    return;
                }
                // Held open: the download can only end by being cancelled.
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    port
}

/// Registers a holder of `rfc` at the index; the record lives as long as
/// the returned connection.
async fn register(index: SocketAddr, rfc: u32, port: u16) -> Raw {
    let mut c = Raw::connect(index).await;
    c.send(add(rfc, "127.0.0.1", port, "Stand-in")).await;
    assert_eq!(c.response().await.status, Status::Ok);
    c
}

/// The next download event.
async fn next_download(peer: &mut TestPeer) -> (DownloadId, DownloadEvent) {
    match peer.expect("a download event", |e| matches!(e, NetEvent::Download { .. })).await {
        NetEvent::Download { id, event } => (id, event),
        _ => unreachable!(),
    }
}

/// A download's steps until it moves bytes: queued, connecting, waiting
/// for the holder (the GET sent), the size announced, progress. Then it is
/// cancelled, leaves nothing, and a retry starts it again under its id.
#[tokio::test]
async fn a_download_waits_visibly_can_be_cancelled_and_retried() {
    let server = TestServer::start().await;
    let announced = 1024 * 1024;
    let script = HolderScript {
        delay: Duration::from_millis(300),
        announced: Some(announced),
        body: vec![b'x'; 4096],
    };
    let port = stand_in_holder(script).await;
    let _held = register(server.addr, 9000, port).await;
    let mut peer = TestPeer::start(server.addr, "getter", &[]).await;
    let from = Holder { host: "127.0.0.1".into(), port };

    peer.send(Command::Download { rfc: RfcNumber(9000), from: None });
    let (id, ev) = next_download(&mut peer).await;
    assert_eq!(ev, DownloadEvent::Queued { rfc: RfcNumber(9000), attempt: 1 });
    assert_eq!(
        next_download(&mut peer).await,
        (id, DownloadEvent::Started { rfc: RfcNumber(9000), from: from.clone() })
    );
    assert_eq!(
        next_download(&mut peer).await,
        (id, DownloadEvent::Waiting { from: from.clone(), announced: None })
    );
    let waited = Instant::now();
    assert_eq!(
        next_download(&mut peer).await,
        (id, DownloadEvent::Waiting { from: from.clone(), announced: Some(announced) })
    );
    assert!(waited.elapsed() >= Duration::from_millis(200), "the head came after the holder's delay");
    loop {
        if let (_, DownloadEvent::Progress { received: 4096, total }) = next_download(&mut peer).await {
            assert_eq!(total, announced);
            break;
        }
    }
    assert_eq!(partial_files(&peer.dir).len(), 1, "a partial file while it runs");

    peer.send(Command::CancelDownload(id));
    assert_eq!(next_download(&mut peer).await, (id, DownloadEvent::Cancelled { rfc: RfcNumber(9000) }));
    let dir = peer.dir.clone();
    eventually("the partial file removed", || {
        let dir = dir.clone();
        async move { partial_files(&dir).is_empty() }
    })
    .await;
    assert!(!peer.dir.join("rfc9000.txt").exists());
    peer.send(Command::CancelDownload(id));
    let ev = peer.expect("a word", |e| matches!(e, NetEvent::Notice(_))).await;
    assert_eq!(ev, NetEvent::Notice("download 1 is not under way; nothing to cancel".into()));

    peer.send(Command::RetryDownload(id));
    assert_eq!(
        next_download(&mut peer).await,
        (id, DownloadEvent::Queued { rfc: RfcNumber(9000), attempt: 2 })
    );
    assert_eq!(next_download(&mut peer).await, (id, DownloadEvent::Started { rfc: RfcNumber(9000), from }));
    // Cancelled while waiting for the holder's head, this time.
    peer.send(Command::CancelDownload(id));
    peer.expect("cancelled", |e| {
        matches!(e, NetEvent::Download { event: DownloadEvent::Cancelled { .. }, .. })
    })
    .await;
    eventually("nothing left", || {
        let dir = dir.clone();
        async move { partial_files(&dir).is_empty() }
    })
    .await;
    peer.quit().await;
}

/// A retry begins with a holder other than the one the failed attempt
/// began with; an empty file announced is a holder's failure.
#[tokio::test]
async fn a_retry_begins_with_the_next_holder() {
    let server = TestServer::start().await;
    let refuses =
        stand_in_holder(HolderScript { delay: Duration::ZERO, announced: None, body: vec![] }).await;
    let empty =
        stand_in_holder(HolderScript { delay: Duration::ZERO, announced: Some(0), body: vec![] }).await;
    let _a = register(server.addr, 9001, refuses).await;
    let _b = register(server.addr, 9001, empty).await;
    let mut peer = TestPeer::start(server.addr, "getter", &[]).await;

    let mut firsts = Vec::new();
    for attempt in 1..=2 {
        if attempt == 1 {
            peer.send(Command::Download { rfc: RfcNumber(9001), from: None });
        } else {
            peer.send(Command::RetryDownload(DownloadId(1)));
        }
        let (id, ev) = next_download(&mut peer).await;
        assert_eq!((id, ev), (DownloadId(1), DownloadEvent::Queued { rfc: RfcNumber(9001), attempt }));
        let mut started = Vec::new();
        let mut reasons = Vec::new();
        loop {
            match next_download(&mut peer).await.1 {
                DownloadEvent::Started { from, .. } => started.push(from.port),
                DownloadEvent::HolderFailed { from, reason, .. } => reasons.push((from.port, reason)),
                DownloadEvent::Failed { reason, .. } => {
                    assert!(matches!(reason, DownloadError::AllFailed { tried: 2, .. }), "{reason:?}");
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(started.len(), 2, "{started:?}");
        for (port, reason) in reasons {
            let want =
                if port == refuses { DownloadError::Refused(Status::NotFound) } else { DownloadError::Empty };
            assert_eq!(reason, want);
        }
        firsts.push(started[0]);
    }
    assert_ne!(firsts[0], firsts[1], "the retry began with the other holder");
    assert!(partial_files(&peer.dir).is_empty());
    peer.quit().await;
}

/// A stand-in index server shaped like the public implementations: it
/// removes a peer's records by (host, port) when it processes a
/// connection's close, `cleanup` after the peer closed, and only then
/// closes its side.
struct LateCleanup {
    addr: SocketAddr,
    records: Arc<Mutex<Vec<Record>>>,
    connections: Arc<Mutex<Vec<Instant>>>,
}

impl LateCleanup {
    async fn start(cleanup: Duration) -> LateCleanup {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let records: Arc<Mutex<Vec<Record>>> = Arc::default();
        let connections: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let (table, log) = (records.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                log.lock().unwrap().push(Instant::now());
                tokio::spawn(late_serve(s, table.clone(), cleanup));
            }
        });
        LateCleanup { addr, records, connections }
    }

    fn held(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.records.lock().unwrap().iter().map(|r| r.rfc.0).collect();
        v.sort();
        v
    }
}

async fn late_serve(mut s: TcpStream, table: Arc<Mutex<Vec<Record>>>, cleanup: Duration) {
    let mut buf = Vec::new();
    let mut who = None;
    while let Some(raw) = read_head(&mut s, &mut buf).await {
        let (head, _) = parse_head(&raw, &Default::default()).unwrap().unwrap();
        let req = P2sRequest::from_head(&head).unwrap();
        who = Some((req.peer.host.clone(), req.peer.port));
        let mut out = Vec::new();
        let records: Vec<Record> = {
            let mut t = table.lock().unwrap();
            match req.method {
                P2sMethod::Add { rfc, title } => {
                    let r = Record { rfc, title, host: req.peer.host, port: req.peer.port };
                    t.insert(0, r.clone());
                    vec![r]
                }
                P2sMethod::Lookup { rfc, .. } => t.iter().filter(|r| r.rfc == rfc).cloned().collect(),
                P2sMethod::List => t.clone(),
            }
        };
        let status = if records.is_empty() { Status::NotFound } else { Status::Ok };
        P2sResponse { status, records }.encode(&mut out);
        if s.write_all(&out).await.is_err() {
            break;
        }
    }
    // The close is processed late, then the socket closes.
    tokio::time::sleep(cleanup).await;
    if let Some((host, port)) = who {
        table.lock().unwrap().retain(|r| (r.host.as_str(), r.port) != (host.as_str(), port));
    }
    drop(s);
}

async fn withdrawn(peer: &mut TestPeer) -> (Vec<RfcNumber>, Withdrawal, WithdrawOutcome) {
    match peer.expect("withdrawn", |e| matches!(e, NetEvent::Withdrawn { .. })).await {
        NetEvent::Withdrawn { rfcs, why, outcome } => (rfcs, why, outcome),
        _ => unreachable!(),
    }
}

/// Stopping to share against a server that drops a peer's records by
/// (host, port) 300 ms after the close: the peer waits for the server's
/// own close before it connects again, so the re-advertised records stay.
#[tokio::test]
async fn stopping_to_share_survives_a_late_cleanup() {
    let server = LateCleanup::start(Duration::from_millis(300)).await;
    let mut p = TestPeer::start(server.addr, "sharer", &[8600, 8601, 8602]).await;
    assert_eq!(p.advertise().await.len(), 3);
    assert_eq!(server.held(), [8600, 8601, 8602]);

    let asked = Instant::now();
    p.send(Command::Unshare(RfcNumber(8601)));
    let ev = p.expect("unshared", |e| matches!(e, NetEvent::Unshared { .. })).await;
    assert!(
        matches!(&ev, NetEvent::Unshared { rfc: RfcNumber(8601), to } if to.ends_with("unshared/rfc8601.txt"))
    );
    let ev = p.expect("advertising", |e| matches!(e, NetEvent::Advertising { .. })).await;
    let cause = AdvertiseCause::Withdrawal { rfcs: vec![RfcNumber(8601)], why: Withdrawal::Unshared };
    assert_eq!(ev, NetEvent::Advertising { count: 2, cause });
    let outcome = withdrawn(&mut p).await;
    assert_eq!(
        outcome,
        (vec![RfcNumber(8601)], Withdrawal::Unshared, WithdrawOutcome::Done { readvertised: 2, restored: 0 })
    );
    let reconnected = *server.connections.lock().unwrap().last().unwrap();
    assert!(reconnected.duration_since(asked) >= Duration::from_millis(300), "waited for the server's close");
    // Well after the cleanup: what was re-advertised is still there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.held(), [8600, 8602]);
    p.quit().await;
}

/// A server slower to close than the peer waits (1.5 s): the cleanup takes
/// the re-advertised records after the first check, and the check made
/// again when the old connection finally closes puts them back.
#[tokio::test]
async fn a_cleanup_later_than_the_wait_is_caught_by_a_second_check() {
    let server = LateCleanup::start(Duration::from_millis(1500)).await;
    let mut p = TestPeer::start(server.addr, "sharer", &[8600, 8601, 8602]).await;
    assert_eq!(p.advertise().await.len(), 3);

    std::fs::remove_file(p.dir.join("rfc8600.txt")).unwrap();
    p.send(Command::Rescan { advertise_new: false });
    let (rfcs, why, outcome) = withdrawn(&mut p).await;
    assert_eq!((rfcs, why), (vec![RfcNumber(8600)], Withdrawal::Removed));
    assert!(matches!(outcome, WithdrawOutcome::Done { readvertised: 2, .. }), "{outcome:?}");
    p.expect("restored", |e| matches!(e, NetEvent::Advertising { count: 2, cause: AdvertiseCause::Restore }))
        .await;
    p.expect("re-ADDed", |e| {
        matches!(e, NetEvent::Reply(p2pci::peer::Reply::Advertised { cause: AdvertiseCause::Restore, added, .. }) if added.len() == 2)
    })
    .await;
    assert_eq!(server.held(), [8601, 8602]);
    p.quit().await;
}

/// The headless peer watches its folder (the watch is the engine's): a
/// removed file is withdrawn, one dropped in is shared (and ADDed with
/// `--auto-advertise`), each with its own outcome line.
// The test thread blocks on the child's output: the in-process server
// runs on the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_peer_withdraws_a_removed_file_and_shares_a_new_one() {
    let server = TestServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hostA");
    let mut peer = Proc::headless_peer(
        server.addr,
        "hostA",
        &dir,
        &[8600, 8601, 8602],
        &["--advertise", "--auto-advertise"],
    );
    peer.wait_out("advertised", |l| l == "OK advertised 3 RFC(s)");
    let held = || async {
        let mut v: Vec<u32> = list_of(server.addr).await.iter().map(|r| r.rfc.0).collect();
        v.sort();
        v
    };
    assert_eq!(held().await, [8600, 8601, 8602]);

    std::fs::remove_file(dir.join("rfc8601.txt")).unwrap();
    let line = peer.wait_out("withdrawn", |l| l.contains("RFC 8601;"));
    assert_eq!(line, "OK file removed: RFC 8601; withdrawn, the other 2 re-advertised and checked");
    assert_eq!(held().await, [8600, 8602]);

    std::fs::copy(rfc_dir().join("rfc8700.txt"), dir.join("rfc8700.txt")).unwrap();
    peer.wait_out("new file advertised", |l| l == "* advertising 1 RFC(s) new in the folder");
    peer.wait_out("its ADD", |l| l == "OK advertised 1 RFC(s)");
    assert_eq!(held().await, [8600, 8602, 8700]);
    peer.say("close");
    let done = peer.finish();
    assert!(done.status.success(), "{}", done.stderr);
}

/// `close` waits for the commands before it: a LOOKUP and a download
/// queued just before it are answered, the download lands and is ADDed,
/// and only then the peer leaves.
// The test thread blocks on the child's output: the in-process server
// runs on the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_the_commands_before_it() {
    let server = TestServer::start().await;
    let mut holder = TestPeer::start(server.addr, "hostB", &[8700]).await;
    holder.advertise().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hostA");
    let mut peer = Proc::headless_peer(server.addr, "hostA", &dir, &[], &[]);
    peer.wait_out("connected", |l| l.starts_with("* connected"));
    peer.say("lookup 4242");
    peer.say("get 8700");
    peer.say("close");
    let done = peer.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let out = done.stdout;
    let at = |what: &str| out.find(what).unwrap_or_else(|| panic!("{what:?} missing in:\n{out}"));
    let lookup = at("ERR lookup RFC 4242: 404 Not Found");
    let got = at("OK downloaded RFC 8700 from");
    let added = at("OK advertised 1 RFC(s)");
    let closed = at("OK closed");
    assert!(lookup < closed && got < added && added < closed, "{out}");
    assert_eq!(std::fs::read(dir.join("rfc8700.txt")).unwrap(), shipped(8700));
    holder.quit().await;
}

/// The end of input: by default the peer keeps serving; with
/// `--exit-on-eof` it acts as `close` (the README's
/// `echo "get 8700" | p2pci peer --headless --exit-on-eof`).
// The test thread blocks on the child's output: the in-process server
// runs on the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_input_leaves_only_when_asked() {
    let server = TestServer::start().await;
    let mut holder = TestPeer::start(server.addr, "hostB", &[8700]).await;
    holder.advertise().await;
    let tmp = tempfile::tempdir().unwrap();

    let mut staying =
        Proc::headless_peer(server.addr, "hostS", &tmp.path().join("hostS"), &[8600], &["--advertise"]);
    staying.wait_out("advertised", |l| l == "OK advertised 1 RFC(s)");
    staying.close_stdin();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        list_of(server.addr).await.iter().any(|r| r.host == "hostS"),
        "still serving after its input ended"
    );

    let dir = tmp.path().join("hostE");
    let mut leaving = Proc::headless_peer(server.addr, "hostE", &dir, &[], &["--exit-on-eof"]);
    leaving.say("get 8700");
    let done = leaving.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(done.stdout.contains("OK downloaded RFC 8700 from"), "{}", done.stdout);
    assert!(done.stdout.ends_with("OK closed"), "{}", done.stdout);
    assert_eq!(std::fs::read(dir.join("rfc8700.txt")).unwrap(), shipped(8700));

    staying.signal("TERM");
    assert!(staying.wait_exit().success());
    holder.quit().await;
}
