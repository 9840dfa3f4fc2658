//! The peer against index servers that bend the protocol, as other people's
//! P2P-CI servers do (docs/PROTOCOL.md, Interoperability). Each case is a
//! small stand-in server written here that answers with exactly the bytes
//! of one variant; the peer must use the answer (or fail that one request
//! clearly), keep its connection where it can, never reconnect more than
//! once a second, and send nothing but the exact forms of the protocol.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::peer::{
    AdvertiseCause, Command, DownloadEvent, IndexError, NetEvent, PeerConfig, PeerError, Reply, Request,
};
use p2pci::protocol::{P2sRequest, ResponseError, RfcNumber, Status, parse_head};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A stand-in's answer to one request.
struct Out {
    bytes: Vec<u8>,
    /// How long to sit on the request first.
    delay: Duration,
    /// Hang up once it is written.
    close: bool,
}

fn stay(bytes: &[u8]) -> Out {
    Out { bytes: bytes.to_vec(), delay: Duration::ZERO, close: false }
}

/// How a stand-in answers one request (given its text).
type Script = fn(&str) -> Out;

/// A stand-in index server: counts connections, keeps every request.
struct StandIn {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl StandIn {
    async fn start(script: Script) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(s, script, log.clone()));
            }
        });
        StandIn { addr, connections, requests }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect()
    }
}

async fn serve(mut s: TcpStream, script: Script, log: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut buf = Vec::new();
    loop {
        // One request: up to its empty line (the peer writes CR LF).
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let request: Vec<u8> = buf.drain(..end).collect();
        let out = script(&String::from_utf8_lossy(&request));
        log.lock().unwrap().push(request);
        tokio::time::sleep(out.delay).await;
        if s.write_all(&out.bytes).await.is_err() || out.close {
            return;
        }
    }
}

/// The peer under test: three RFCs, a request timeout short enough for a
/// test, and the production backoff (at most one reconnection a second).
async fn peer_of(server: SocketAddr, tune: impl FnOnce(&mut PeerConfig)) -> TestPeer {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = peer_config(server, "me", &[8600, 8601, 8602], tmp.path().join("me"));
    config.request_timeout = Duration::from_secs(5);
    config.min_backoff = Duration::from_secs(1);
    config.max_backoff = Duration::from_secs(5);
    tune(&mut config);
    TestPeer::with_config(config, tmp).await
}

/// Every request the peer sent is exactly the protocol's form: parsed and
/// written again by our own encoder it is the same bytes, and a LOOKUP has
/// a Title.
fn assert_exact_forms(requests: &[String]) {
    assert!(!requests.is_empty());
    for raw in requests {
        let (head, used) = parse_head(raw.as_bytes(), &Default::default()).unwrap().unwrap();
        assert_eq!(used, raw.len(), "{raw:?}");
        let req = P2sRequest::from_head(&head).unwrap_or_else(|e| panic!("{raw:?}: {e:?}"));
        let mut again = Vec::new();
        req.encode(&mut again);
        assert_eq!(String::from_utf8(again).unwrap(), *raw);
        if raw.starts_with("LOOKUP ") {
            assert!(raw.contains("\r\nTitle: "), "{raw:?}");
        }
    }
}

/// How many connections a case may cost.
#[derive(Debug, Clone, Copy)]
enum Connections {
    /// The connection stays up throughout.
    One,
    /// The server hangs up each time: reconnections happen, but at most one
    /// a second (watched for `observe`).
    AtMostOnePerSecond { observe: Duration },
}

struct Case {
    name: &'static str,
    answer: Script,
    /// The peer's own RFCs.
    rfcs: &'static [u32],
    command: Command,
    /// The replies and errors the command yields, in order.
    outcome: Vec<NetEvent>,
    /// A notice that must come with them (an answer taken as it stood).
    notice: Option<&'static str>,
    connections: Connections,
}

fn ok_list(records: Vec<p2pci::protocol::Record>) -> NetEvent {
    NetEvent::Reply(Reply::List { status: Status::Ok, records })
}

/// The title this peer advertises for one of its RFCs.
fn title(rfc: u32) -> String {
    p2pci::peer::library::title_from_text(&String::from_utf8(shipped(rfc)).unwrap()).unwrap()
}

fn cases() -> Vec<Case> {
    let r = rec;
    vec![
        Case {
            name: "record lines without the RFC word",
            rfcs: &[8600, 8601, 8602],
            answer: |_| stay(b"P2P-CI/1.0 200 OK\r\n\r\n8602 Some Title host 9999\r\n\r\n"),
            command: Command::List,
            outcome: vec![ok_list(vec![r(8602, "Some Title", "host", 9999)])],
            notice: Some(
                "LIST: the index server's answer has record lines without the leading `RFC` word; \
                 read anyway (said once per connection)",
            ),
            connections: Connections::One,
        },
        Case {
            name: "no empty line after the status line",
            rfcs: &[8600, 8601, 8602],
            answer: |_| stay(b"P2P-CI/1.0 200 OK\r\nRFC 8602 Some Title host 9999\r\n\r\n"),
            command: Command::Lookup(RfcNumber(8602)),
            outcome: vec![NetEvent::Reply(Reply::Lookup {
                rfc: RfcNumber(8602),
                status: Status::Ok,
                records: vec![r(8602, "Some Title", "host", 9999)],
            })],
            notice: Some(
                "LOOKUP RFC 8602: the index server's answer has no empty line after the status line; \
                 read anyway (said once per connection)",
            ),
            connections: Connections::One,
        },
        Case {
            name: "LF-only lines",
            rfcs: &[8600, 8601, 8602],
            answer: |_| stay(b"P2P-CI/1.0 200 OK\n\nRFC 1 A Title h 9\nRFC 2 B h 8\n\n"),
            command: Command::List,
            outcome: vec![ok_list(vec![r(1, "A Title", "h", 9), r(2, "B", "h", 8)])],
            notice: None,
            connections: Connections::One,
        },
        Case {
            name: "the final empty line never comes",
            rfcs: &[8600, 8601, 8602],
            answer: |_| stay(b"P2P-CI/1.0 404 Not Found\r\n\r\n"),
            command: Command::Lookup(RfcNumber(1)),
            outcome: vec![NetEvent::Reply(Reply::Lookup {
                rfc: RfcNumber(1),
                status: Status::NotFound,
                records: vec![],
            })],
            notice: Some(
                "LOOKUP RFC 1: the index server's answer lacked its final empty line; used what arrived after 500ms of silence",
            ),
            connections: Connections::One,
        },
        Case {
            name: "a strict server: 400 for a LOOKUP without a Title",
            rfcs: &[8600, 8601, 8602],
            answer: |req| {
                let titled = !req.starts_with("LOOKUP ") || req.contains("\r\nTitle: ");
                let answer: &[u8] = if titled {
                    b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n"
                } else {
                    b"P2P-CI/1.0 400 Bad Request\r\n\r\n\r\n"
                };
                stay(answer)
            },
            command: Command::Lookup(RfcNumber(1)),
            outcome: vec![NetEvent::Reply(Reply::Lookup {
                rfc: RfcNumber(1),
                status: Status::NotFound,
                records: vec![],
            })],
            notice: None,
            connections: Connections::One,
        },
        Case {
            name: "the server closes after the status line",
            rfcs: &[8600],
            answer: |_| Out { close: true, ..stay(b"P2P-CI/1.0 200 OK\r\n") },
            command: Command::Advertise,
            // Taken: the ADDs it answered so are stored, as far as we know.
            outcome: vec![NetEvent::Reply(Reply::Advertised {
                cause: AdvertiseCause::Asked,
                added: vec![r(8600, &title(8600), "me", 0)],
                failed: vec![],
            })],
            notice: Some(
                "ADD RFC 8600: the index server's answer lacked everything after its status line \
                 (no empty line, no records, no end); used what arrived before the server closed the connection",
            ),
            // Every reconnection re-advertises, which the server answers by
            // hanging up again: the backoff is what keeps this calm.
            connections: Connections::AtMostOnePerSecond { observe: Duration::from_secs(4) },
        },
        Case {
            name: "the ADD answer of the reconnect storm (bare-number record)",
            rfcs: &[8600, 8601, 8602],
            answer: |_| stay(b"P2P-CI/1.0 200 OK\r\n\r\n8600 Title localhost 9101\r\n\r\n"),
            command: Command::Advertise,
            outcome: vec![NetEvent::Reply(Reply::Advertised {
                cause: AdvertiseCause::Asked,
                added: vec![r(8600, "Title", "localhost", 9101); 3],
                failed: vec![],
            })],
            notice: None,
            connections: Connections::One,
        },
        Case {
            name: "garbage",
            rfcs: &[8600, 8601, 8602],
            answer: |_| stay(b"220 smtp.example ESMTP ready\r\n\xff\xfe\r\n\r\n"),
            command: Command::Advertise,
            // The first failure is reported; the batch ends; the connection
            // stays (every ADD answered with garbage, none reconnects).
            outcome: vec![
                NetEvent::Error(PeerError::about(
                    Request::Add(RfcNumber(8600)),
                    IndexError::BadAnswer(ResponseError::StatusLine("220 smtp.example ESMTP ready".into())),
                )),
                NetEvent::Reply(Reply::Advertised {
                    cause: AdvertiseCause::Asked,
                    added: vec![],
                    failed: vec![],
                }),
            ],
            notice: None,
            connections: Connections::One,
        },
    ]
}

/// Replies and errors, in order, until `n` of them arrived; the notices met
/// on the way.
async fn outcomes(peer: &mut TestPeer, n: usize) -> (Vec<NetEvent>, Vec<String>) {
    let (mut got, mut notices) = (Vec::new(), Vec::new());
    while got.len() < n {
        match peer
            .expect("a reply or an error", |e| {
                matches!(e, NetEvent::Reply(_) | NetEvent::Error(_) | NetEvent::Notice(_))
            })
            .await
        {
            NetEvent::Notice(text) => notices.push(text),
            ev => got.push(ev),
        }
    }
    (got, notices)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_other_servers_send() {
    for case in cases() {
        let server = StandIn::start(case.answer).await;
        let started = Instant::now();
        let mut peer =
            peer_of(server.addr, |c| c.rfcs = case.rfcs.iter().copied().map(RfcNumber).collect()).await;
        let port = peer.upload_addr.port();
        peer.send(case.command.clone());
        let (mut got, notices) = outcomes(&mut peer, case.outcome.len()).await;
        // Our own port is not known to the table.
        for ev in &mut got {
            if let NetEvent::Reply(Reply::Advertised { added, .. }) = ev {
                for r in added.iter_mut().filter(|r| r.host == "me") {
                    assert_eq!(r.port, port, "{}", case.name);
                    r.port = 0;
                }
            }
        }
        assert_eq!(got, case.outcome, "{}", case.name);
        if let Some(notice) = case.notice {
            assert!(notices.iter().any(|n| n == notice), "{}: {notices:?}", case.name);
        }
        match case.connections {
            Connections::One => {
                // The connection still serves: one more request over it.
                peer.send(Command::List);
                peer.expect("the next answer", |e| matches!(e, NetEvent::Reply(_) | NetEvent::Error(_)))
                    .await;
                assert_eq!(server.connections(), 1, "{}: reconnected", case.name);
            }
            Connections::AtMostOnePerSecond { observe } => {
                tokio::time::sleep(observe).await;
                let elapsed = started.elapsed().as_secs();
                let n = server.connections();
                assert!(n >= 2, "{}: never reconnected", case.name);
                assert!(n as u64 <= 1 + elapsed, "{}: {n} connections in {elapsed} s", case.name);
            }
        }
        assert_exact_forms(&server.requests());
        peer.quit().await;
    }
}

/// An off-spec form that is read anyway is said once per connection, not
/// once per answer: three answers without the `RFC` word and without the
/// empty line after the status line make one notice of each kind.
#[tokio::test]
async fn off_spec_answers_are_said_once_per_connection() {
    let server = StandIn::start(|_| stay(b"P2P-CI/1.0 200 OK\r\n8602 Some Title host 9999\r\n\r\n")).await;
    let mut peer = peer_of(server.addr, |_| {}).await;
    for _ in 0..3 {
        peer.send(Command::Lookup(RfcNumber(8602)));
    }
    let (got, notices) = outcomes(&mut peer, 3).await;
    assert!(
        got.iter().all(|e| matches!(e, NetEvent::Reply(Reply::Lookup { records, .. }) if records.len() == 1))
    );
    // Any notice still on its way arrives before the next answer.
    peer.send(Command::List);
    let (_, later) = outcomes(&mut peer, 1).await;
    let said: Vec<&String> = notices.iter().chain(&later).collect();
    assert_eq!(
        said,
        [
            "LOOKUP RFC 8602: the index server's answer has record lines without the leading `RFC` word; \
             read anyway (said once per connection)",
            "LOOKUP RFC 8602: the index server's answer has no empty line after the status line; \
             read anyway (said once per connection)",
        ]
    );
    assert_eq!(server.connections(), 1);
    peer.quit().await;
}

/// A LOOKUP always carries a Title: ours for an RFC we hold, the one the
/// index told us for one it listed, else `RFC <n>`.
#[tokio::test]
async fn lookup_always_carries_a_title() {
    let server = StandIn::start(|req| {
        let answer: &[u8] = if req.starts_with("LIST ") {
            b"P2P-CI/1.0 200 OK\r\n\r\nRFC 8700 A Title From The Index h 9\r\n\r\n"
        } else if req.starts_with("LOOKUP ") && !req.contains("\r\nTitle: ") {
            b"P2P-CI/1.0 400 Bad Request\r\n\r\n\r\n"
        } else {
            b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n"
        };
        stay(answer)
    })
    .await;
    let mut peer = peer_of(server.addr, |_| {}).await;
    let port = peer.upload_addr.port();
    peer.send(Command::List);
    peer.expect("list", |e| matches!(e, NetEvent::Reply(Reply::List { .. }))).await;
    for rfc in [8600, 8700, 1] {
        peer.send(Command::Lookup(RfcNumber(rfc)));
        let ev = peer.expect("lookup", |e| matches!(e, NetEvent::Reply(Reply::Lookup { .. }))).await;
        assert!(matches!(ev, NetEvent::Reply(Reply::Lookup { status: Status::NotFound, .. })), "{ev:?}");
    }
    let requests = server.requests();
    assert_exact_forms(&requests);
    let lookup = |rfc: u32, title: &str| {
        format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: me\r\nPort: {port}\r\nTitle: {title}\r\n\r\n")
    };
    assert_eq!(
        requests,
        [
            format!("LIST ALL P2P-CI/1.0\r\nHost: me\r\nPort: {port}\r\n\r\n"),
            lookup(8600, title(8600).as_str()),
            lookup(8700, "A Title From The Index"),
            lookup(1, "RFC 1"),
        ]
    );
}

/// A reply cut short by a close is used, then the peer reconnects; a late
/// final empty line is no trouble to the next answer.
#[tokio::test]
async fn a_late_final_empty_line_is_skipped() {
    let server = StandIn::start(|req| {
        if req.starts_with("LIST ") {
            // The end comes long after the grace: sent with the next answer.
            stay(b"P2P-CI/1.0 200 OK\r\n\r\nRFC 1 T h 9\r\n")
        } else {
            stay(b"\r\nP2P-CI/1.0 404 Not Found\r\n\r\n\r\n")
        }
    })
    .await;
    let mut peer = peer_of(server.addr, |c| c.answer_grace = Duration::from_millis(100)).await;
    peer.send(Command::List);
    let ev = peer.expect("list", |e| matches!(e, NetEvent::Reply(_) | NetEvent::Error(_))).await;
    assert_eq!(ev, ok_list(vec![rec(1, "T", "h", 9)]));
    peer.send(Command::Lookup(RfcNumber(1)));
    let ev = peer.expect("lookup", |e| matches!(e, NetEvent::Reply(_) | NetEvent::Error(_))).await;
    assert!(matches!(ev, NetEvent::Reply(Reply::Lookup { status: Status::NotFound, .. })), "{ev:?}");
    assert_eq!(server.connections(), 1);
}

/// The engine never waits behind a request: while the server sits on one,
/// other commands are taken at once, and Quit closes the connection at once.
#[tokio::test]
async fn quit_is_instant_while_the_server_is_silent() {
    let server = StandIn::start(|_| stay(b"")).await;
    let mut peer = peer_of(server.addr, |c| c.request_timeout = Duration::from_secs(60)).await;
    peer.send(Command::Advertise);
    peer.expect("the ADD sent", |e| matches!(e, NetEvent::Wire(w) if w.text.starts_with("ADD "))).await;
    // Mid-request, a command that needs no server is answered.
    peer.send(Command::Download { rfc: RfcNumber(8600), from: None });
    let ev = peer.expect("notice", |e| matches!(e, NetEvent::Notice(_))).await;
    assert!(matches!(&ev, NetEvent::Notice(t) if t.contains("RFC 8600 is already here")), "{ev:?}");
    let asked = Instant::now();
    let p = peer.peer.take().unwrap();
    p.send(Command::Quit);
    // Bounded from one side, and far below the 60-s request timeout.
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = peer.events.recv().await {
            if ev == NetEvent::Closed {
                return;
            }
        }
        panic!("events ended before Closed");
    })
    .await
    .expect("Quit waited for the silent server");
    tokio::time::timeout(Duration::from_secs(5), p.shutdown(Duration::from_secs(3))).await.unwrap();
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert_eq!(server.connections(), 1);
}

/// A download's LOOKUP goes ahead of the ADDs an advertise still has queued.
#[tokio::test]
async fn a_long_advertise_does_not_hold_up_a_download() {
    // ADDs are answered slowly; everything else at once.
    let server = StandIn::start(|req| {
        if req.starts_with("ADD ") {
            Out { delay: Duration::from_millis(300), ..stay(b"P2P-CI/1.0 200 OK\r\n\r\n\r\n") }
        } else {
            stay(b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n")
        }
    })
    .await;
    let mut peer = peer_of(server.addr, |_| {}).await;
    peer.send(Command::Advertise);
    peer.expect("the first ADD sent", |e| matches!(e, NetEvent::Wire(w) if w.text.starts_with("ADD "))).await;
    peer.send(Command::Download { rfc: RfcNumber(4242), from: None });
    // The download fails (nobody holds 4242) before the advertise is done.
    let ev = peer
        .expect("download or advertise", |e| {
            matches!(
                e,
                NetEvent::Download { event: DownloadEvent::Failed { .. }, .. }
                    | NetEvent::Reply(Reply::Advertised { .. })
            )
        })
        .await;
    assert!(matches!(ev, NetEvent::Download { event: DownloadEvent::Failed { .. }, .. }), "{ev:?}");
    let ev = peer.expect("advertised", |e| matches!(e, NetEvent::Reply(Reply::Advertised { .. }))).await;
    assert!(matches!(ev, NetEvent::Reply(Reply::Advertised { ref added, .. }) if added.len() == 3), "{ev:?}");
    let order: Vec<String> = server.requests().iter().map(|r| r.lines().next().unwrap().to_owned()).collect();
    assert_eq!(
        order,
        [
            "ADD RFC 8600 P2P-CI/1.0",
            "LOOKUP RFC 4242 P2P-CI/1.0",
            "ADD RFC 8601 P2P-CI/1.0",
            "ADD RFC 8602 P2P-CI/1.0"
        ]
    );
}

/// A server name that does not resolve is said plainly, and retried with a
/// growing interval.
#[tokio::test]
async fn an_unresolvable_server_is_said_plainly_and_retried_ever_later() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = PeerConfig::new("me", "hostX.invalid:7734", tmp.path().join("me"));
    config.upload_bind = "127.0.0.1:0".parse().unwrap();
    config.min_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(2);
    let (peer, mut events) = p2pci::peer::Peer::start(config).await.unwrap();
    let mut waits = Vec::new();
    while waits.len() < 3 {
        match within("disconnected", events.recv()).await.unwrap() {
            NetEvent::Disconnected { reason, retry_in } => {
                assert_eq!(reason, IndexError::Unresolvable { host: "hostX.invalid".into() });
                assert_eq!(reason.to_string(), "cannot resolve hostX.invalid");
                waits.push(retry_in.unwrap());
            }
            NetEvent::Connected { server } => panic!("connected to {server}"),
            _ => {}
        }
    }
    assert!(waits[0] < waits[1] && waits[1] < waits[2], "{waits:?}");
    peer.shutdown(Duration::from_secs(3)).await;
}
