//! One source address holds at most a share of a server's connections
//! (PROTOCOL.md, Limits): its further connections are closed on arrival,
//! and peers from other addresses are still served. 127.0.0.2 plays the
//! attacker, 127.0.0.1 and 127.0.0.3 the real peers (all loopback).

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use bytes::BytesMut;
use p2pci::peer::upload::{self, UploadConfig};
use p2pci::protocol::response::P2sResponseDecoder;
use p2pci::protocol::{P2sResponse, RfcNumber, Status};
use p2pci::server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

const ATTACKER: &str = "127.0.0.2";
const OTHER: &str = "127.0.0.3";

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0)).unwrap();
    let stream = within("connect", socket.connect(to)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// True once the server has closed `s` (end of stream, or a reset).
async fn closed(s: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(within("the close", s.read(&mut byte)).await, Ok(0) | Err(_))
}

/// True if `s` is still open after a moment (nothing to read, no close).
async fn still_open(s: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(100), s.read(&mut byte)).await.is_err()
}

/// Sends one P2S request on `s` and reads its answer.
async fn ask(s: &mut TcpStream, request: &str) -> P2sResponse {
    within("send", s.write_all(request.as_bytes())).await.unwrap();
    let (mut buf, mut decoder) = (BytesMut::new(), P2sResponseDecoder::default());
    within("answer", async {
        loop {
            let (used, resp) = decoder.decode(&buf).expect("well-formed response");
            let _ = buf.split_to(used);
            if let Some(r) = resp {
                return r;
            }
            assert!(s.read_buf(&mut buf).await.unwrap() > 0, "closed before an answer");
        }
    })
    .await
}

/// Opens `n` connections from `from`, in order, each given time to be
/// taken in by the server before the next.
async fn open_many(from: &str, to: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(connect_from(from, to).await);
    }
    out
}

/// The index server: from 127.0.0.2, the first `cap` connections are
/// admitted and served, the ones past it are closed on arrival; peers from
/// 127.0.0.1 and 127.0.0.3 are served all along (ADD, LOOKUP); and a slot
/// that frees up is usable by the same address again.
#[tokio::test]
async fn index_server_past_the_share_of_one_address_closes_it_and_serves_others() {
    const CAP: usize = 4;
    let config = ServerConfig {
        print: false,
        max_connections: 12,
        max_connections_per_address: CAP,
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(config).await;
    let mut flood = open_many(ATTACKER, server.addr, CAP + 6).await;
    let mut extra = flood.split_off(CAP);
    for s in &mut extra {
        assert!(closed(s).await, "a connection past the share was left open");
    }
    for (i, s) in flood.iter_mut().enumerate() {
        assert!(still_open(s).await, "admitted connection {i} was closed");
        let port = 1000 + i as u16;
        assert_eq!(ask(s, &add(1, "attacker", port, "t")).await.status, Status::Ok);
    }
    // Another address: a raw client, then a real peer (from 127.0.0.1).
    let mut other = connect_from(OTHER, server.addr).await;
    let added = ask(&mut other, &add(8600, "other", 2000, "Other")).await;
    assert_eq!(added.status, Status::Ok);
    let found = ask(&mut other, &lookup(8600, "other", 2000)).await;
    assert_eq!(found.records, [rec(8600, "Other", "other", 2000)]);
    let mut peer = TestPeer::start(server.addr, "real", &[8601]).await;
    assert_eq!(peer.advertise().await.len(), 1);
    peer.send(p2pci::peer::Command::Lookup(RfcNumber(8600)));
    peer.expect("the lookup answer", |e| {
        matches!(e, p2pci::peer::NetEvent::Reply(p2pci::peer::Reply::Lookup { records, .. }) if records.len() == 1)
    })
    .await;
    // Still full for 127.0.0.2: refused again.
    let mut late = connect_from(ATTACKER, server.addr).await;
    assert!(closed(&mut late).await);
    // One of its connections goes: once the server has seen it, the
    // address may open one more.
    drop(flood.pop());
    within("a slot for 127.0.0.2 again", async {
        loop {
            let mut s = connect_from(ATTACKER, server.addr).await;
            if still_open(&mut s).await {
                assert_eq!(ask(&mut s, &list("attacker", 1)).await.status, Status::Ok);
                break;
            }
        }
    })
    .await;
    peer.quit().await;
}

/// The same through the real binary and its option, at the scale of the
/// issue's attack divided down: 60 idle sockets from 127.0.0.2 against
/// `--max-connections 50 --max-connections-per-address 20`; a client from
/// 127.0.0.3 is served.
#[tokio::test]
async fn the_option_on_the_binary() {
    let server = ChildServer::spawn(&["--max-connections", "50", "--max-connections-per-address", "20"]);
    let mut flood = open_many(ATTACKER, server.addr, 60).await;
    let mut extra = flood.split_off(20);
    for s in &mut extra {
        assert!(closed(s).await, "a connection past the share was left open");
    }
    let mut other = connect_from(OTHER, server.addr).await;
    assert_eq!(ask(&mut other, &add(1, "other", 2000, "T")).await.status, Status::Ok);
    assert_eq!(ask(&mut other, &lookup(1, "other", 2000)).await.records.len(), 1);
    for s in &mut flood {
        assert!(still_open(s).await);
    }
}

/// The upload server: past its share, connections from 127.0.0.2 are
/// closed on arrival, without pushing out anyone (the admitted silent ones
/// stay open: the server is far from its total cap); a GET from 127.0.0.3
/// is served in full.
#[tokio::test]
async fn upload_server_past_the_share_of_one_address_closes_it_and_serves_others() {
    const CAP: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rfc8600.txt"), shipped(8600)).unwrap();
    let mut config = UploadConfig::new(dir.path().to_owned(), "TestOS".into());
    assert_eq!(config.max_connections_per_address, 32, "the default");
    config.max_connections_per_address = CAP;
    config.request_timeout = Duration::from_secs(60);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(upload::run(listener, config, None, stop));

    let mut flood = open_many(ATTACKER, addr, CAP + 5).await;
    let mut extra = flood.split_off(CAP);
    for s in &mut extra {
        assert!(closed(s).await, "a connection past the share was left open");
    }
    for s in &mut flood {
        assert!(still_open(s).await, "an admitted connection was pushed out");
    }
    // A GET from 127.0.0.2 is refused too: it is past the share.
    let mut get = connect_from(ATTACKER, addr).await;
    let _ = get.write_all(b"GET RFC 8600 P2P-CI/1.0\r\nHost: a\r\n\r\n").await;
    assert!(closed(&mut get).await);
    for from in [OTHER, "127.0.0.1"] {
        let mut get = connect_from(from, addr).await;
        get.write_all(b"GET RFC 8600 P2P-CI/1.0\r\nHost: b\r\n\r\n").await.unwrap();
        let mut all = Vec::new();
        within("the file", get.read_to_end(&mut all)).await.unwrap();
        assert!(all.starts_with(b"P2P-CI/1.0 200 OK\r\n") && all.ends_with(&shipped(8600)), "from {from}");
    }
}
