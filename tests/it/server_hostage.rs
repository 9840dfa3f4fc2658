//! The index server cannot be held hostage by one client: an oversized
//! request's 400 reaches a client that keeps writing, a client that never
//! reads is closed after the write timeout, and shutdown does not wait for
//! either.

use std::time::Duration;

use crate::common::*;
use p2pci::server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BAD_REQUEST: &[u8] = b"P2P-CI/1.0 400 Bad Request\r\n\r\n\r\n";

/// The 400 after an oversized request reaches a client that is still
/// writing. Made certain to show: this client has many LIST answers still to
/// read when its oversized request is refused, so the 400 sits in the
/// server's send queue behind them. Closing with unread input
/// would reset the connection and throw that queue away.
#[tokio::test]
async fn the_400_queued_behind_unread_answers_is_not_lost() {
    let server = TestServer::start().await;
    let _filler = fill(&server, 2000).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(list("h", 1).repeat(60).as_bytes()).await;
        let _ = wr.write_all(b"LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nX: ").await;
        let chunk = [b'a'; 16 * 1024];
        for _ in 0..64 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut got = Vec::new();
    within("every answer, then the close", async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(got.ends_with(BAD_REQUEST), "the 400 was lost ({} bytes arrived)", got.len());
    let _ = within("writer", writer).await;
}

/// Fills the index so that each LIST answer is large.
async fn fill(server: &TestServer, records: u32) -> Raw {
    let mut c = Raw::connect(server.addr).await;
    let mut batch = String::new();
    for n in 0..records {
        batch += &add(n, "filler", 1, "A title long enough to make a LIST answer heavy");
    }
    c.send(&batch).await;
    for _ in 0..records {
        c.response().await;
    }
    c
}

/// A client that asks and never reads: once its answers fill the socket
/// buffers, the write timeout closes it and its records go.
#[tokio::test]
async fn a_client_that_never_reads_is_closed_after_the_write_timeout() {
    let config =
        ServerConfig { print: false, write_timeout: Duration::from_millis(300), ..ServerConfig::default() };
    let server = TestServer::with_config(config).await;
    let _filler = fill(&server, 2000).await;
    let mut c = Raw::connect(server.addr).await;
    c.send(add(1, "stuck", 2, "T")).await;
    c.response().await;
    server.until("both peers in", |c| c.peers == 2).await;
    let lists = list("stuck", 2).repeat(200);
    // The server stops reading while it cannot write, so this write may
    // block too: it is not awaited to completion.
    let _ = tokio::time::timeout(Duration::from_secs(2), c.stream.write_all(lists.as_bytes())).await;
    server.until("the stuck reader closed and removed", |c| c.peers == 1).await;
    assert!(server.records().iter().all(|r| r.host == "filler"));
}

/// Shutdown ends a write that waits for a client that does not read, even
/// with write timeout and grace period far longer than the test's patience.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_client_that_never_reads() {
    let config = ServerConfig {
        print: false,
        write_timeout: Duration::from_secs(3600),
        shutdown_grace: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(config).await;
    let _filler = fill(&server, 2000).await;
    let mut c = Raw::connect(server.addr).await;
    let lists = list("stuck", 2).repeat(200);
    let _ = tokio::time::timeout(Duration::from_secs(2), c.stream.write_all(lists.as_bytes())).await;
    server.stop().await;
}
