//! A peer as the client of hostile index servers and holders (issue 17,
//! items 9, 10 and the peer's side of 4): an answer naming tens of thousands
//! of holders stalls nothing, a holder that trickles loses the download to
//! the next one, and nothing a server sends reaches the terminal raw.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use p2pci::peer::{Command, DownloadEvent, NetEvent, Reply};
use p2pci::protocol::RfcNumber;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A stand-in index server: reads each request head and writes what
/// `answer` makes of it (given the head as text), for as long as the peer
/// keeps the connection.
async fn stand_in_index(answer: fn(&str) -> Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                while let Some(head) = read_head(&mut s).await {
                    if s.write_all(&answer(&head)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut req = Vec::new();
    while !req.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            return None;
        }
        req.push(b[0]);
    }
    Some(String::from_utf8_lossy(&req).into_owned())
}

/// A port on the loopback where nothing listens (connections are refused).
async fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

/// One GET of `rfc` from an upload server: how long the whole answer took.
async fn get_time(upload: SocketAddr, rfc: u32) -> Duration {
    let started = Instant::now();
    let mut c = Raw::connect(upload).await;
    c.send(format!("GET RFC {rfc} P2P-CI/1.0\r\nHost: prober\r\nOS: test\r\n\r\n")).await;
    let answer = c.until_closed().await;
    assert!(answer.starts_with(b"P2P-CI/1.0 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&answer));
    started.elapsed()
}

/// Holders a hostile LOOKUP answer names (the suite's scale of the 200,000
/// measured by scripts/hostile_lookup.sh).
const HOLDERS: usize = 40_000;

/// The port every stand-in holder names; set once per test process.
static CLOSED: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

fn many_holders(head: &str) -> Vec<u8> {
    if !head.starts_with("LOOKUP ") {
        return b"P2P-CI/1.0 200 OK\r\n\r\n".to_vec();
    }
    let port = CLOSED.get().copied().unwrap_or(9);
    let mut out = b"P2P-CI/1.0 200 OK\r\n\r\n".to_vec();
    for i in 0..HOLDERS {
        out.extend_from_slice(format!("RFC 9999 Big h{i}.invalid {port}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Item 9: an index answering a LOOKUP with tens of thousands of holders
/// under names that do not resolve. The peer (one thread, as by default)
/// takes the answer in bounded time, keeps the first 1,000 distinct holders
/// and says how many it dropped, and its upload server answers every GET
/// within 1 s throughout, while the download works through the holders.
#[tokio::test]
async fn a_lookup_naming_forty_thousand_holders_stalls_nothing() {
    let _ = CLOSED.set(closed_port().await);
    let index = stand_in_index(many_holders).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = peer_config(index, "me", &[8600], tmp.path().join("me"));
    config.request_timeout = Duration::from_secs(20);
    let mut peer = TestPeer::with_config(config, tmp).await;
    let upload = peer.upload_addr;
    let stop = tokio_util::sync::CancellationToken::new();
    let prober = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut times = Vec::new();
            while !stop.is_cancelled() {
                times.push(get_time(upload, 8600).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            times
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    peer.send(Command::Download { rfc: RfcNumber(9999), from: None });
    let ev = peer.expect("the LOOKUP answer", |e| matches!(e, NetEvent::Reply(Reply::Lookup { .. }))).await;
    let NetEvent::Reply(Reply::Lookup { records, .. }) = ev else { unreachable!() };
    assert_eq!(records.len(), HOLDERS);
    let dropped = format!("the index named {} more holder(s); only the first 1000 are tried", HOLDERS - 1000);
    peer.expect("the dropped holders said", |e| matches!(e, NetEvent::Notice(n) if n.contains(&dropped)))
        .await;
    let handled = asked.elapsed();
    assert!(handled < Duration::from_secs(5), "the engine took {handled:?} over the answer");
    // The download now tries holder after holder (each a failed name
    // lookup, then a refused connection): uploads go on meanwhile.
    let mut tried = 0;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        if let Ok(Some(NetEvent::Download { event: DownloadEvent::HolderFailed { from, .. }, .. })) =
            tokio::time::timeout(left, peer.events.recv()).await
        {
            assert!(from.host.ends_with(".invalid"), "{from}");
            tried += 1;
        }
    }
    assert!(tried > 0, "the download tried no holder");
    stop.cancel();
    let times = within("the prober", prober).await.unwrap();
    let worst = times.iter().max().copied().unwrap_or_default();
    assert!(times.len() >= 10, "only {} GETs answered", times.len());
    eprintln!(
        "answer handled in {handled:?}; {tried} holders tried in 2 s; {} GETs, the slowest {worst:?}",
        times.len()
    );
    assert!(worst < Duration::from_secs(1), "a GET took {worst:?} ({} GETs)", times.len());
    peer.quit().await;
}

/// A holder that never goes silent but sends a byte every 100 ms: its
/// answer's head at once and the body trickled, or (`head_too`) even the
/// head trickled. It goes on until the downloader leaves.
async fn trickler(body_len: usize, head_too: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head(&mut s).await.is_none() {
                    return;
                }
                let head = format!(
                    "P2P-CI/1.0 200 OK\r\nContent-Length: {body_len}\r\nContent-Type: text/plain\r\n\r\n"
                );
                let mut rest = head.into_bytes();
                if !head_too {
                    if s.write_all(&rest).await.is_err() {
                        return;
                    }
                    rest.clear();
                }
                rest.extend(std::iter::repeat_n(b'x', body_len));
                for b in rest {
                    if s.write_all(&[b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    port
}

/// Item 10: holders that trickle (a byte every 100 ms, never silent, so the
/// idle timeout never fires) fall below the minimum rate within one window
/// and lose the download, each named in its failure; the real holder after
/// them delivers the file byte for byte.
#[tokio::test]
async fn holders_that_trickle_lose_the_download_to_the_next_one() {
    let server = TestServer::start().await;
    let mut real = TestPeer::start(server.addr, "real", &[8600]).await;
    real.advertise().await;
    let body = shipped(8600);
    // Advertised after the real holder, so LOOKUP (newest first) names them
    // first: the body trickler, then the head trickler.
    let slow_body = trickler(body.len(), false).await;
    let slow_head = trickler(body.len(), true).await;
    let mut conns = Vec::new();
    for port in [slow_head, slow_body] {
        let mut c = Raw::connect(server.addr).await;
        c.send(add(8600, "127.0.0.1", port, "trickle")).await;
        assert_eq!(c.response().await.status, p2pci::protocol::Status::Ok);
        conns.push(c);
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut config = peer_config(server.addr, "me", &[], tmp.path().join("me"));
    config.min_download_rate = 1024;
    config.download_rate_window = Duration::from_secs(1);
    let mut me = TestPeer::with_config(config, tmp).await;
    let started = Instant::now();
    me.send(Command::Download { rfc: RfcNumber(8600), from: None });
    let mut failed = Vec::new();
    let done = loop {
        let ev = me
            .expect("the download's outcome", |e| {
                matches!(
                    e,
                    NetEvent::Download {
                        event: DownloadEvent::HolderFailed { .. }
                            | DownloadEvent::Done { .. }
                            | DownloadEvent::Failed { .. },
                        ..
                    }
                )
            })
            .await;
        match ev {
            NetEvent::Download { event: DownloadEvent::HolderFailed { from, reason, .. }, .. } => {
                failed.push((from, reason))
            }
            NetEvent::Download { event, .. } => break event,
            _ => unreachable!(),
        }
    };
    let DownloadEvent::Done { from, bytes, .. } = done else { panic!("expected Done, got {done:?}") };
    assert_eq!((from.host.as_str(), bytes), ("real", body.len() as u64));
    assert_eq!(std::fs::read(me.dir.join("rfc8600.txt")).unwrap(), body, "byte for byte");
    let names: Vec<u16> = failed.iter().map(|(h, _)| h.port).collect();
    assert_eq!(names, [slow_body, slow_head], "{failed:?}");
    for (from, reason) in &failed {
        assert!(
            matches!(reason, p2pci::peer::DownloadError::TooSlow { min_rate: 1024, window, .. }
                if *window == Duration::from_secs(1)),
            "{from}: {reason:?}"
        );
        assert!(reason.to_string().contains("below the minimum of 1 KiB/s"), "{reason}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(partial_files(&me.dir), Vec::<std::path::PathBuf>::new());
    drop(conns);
    me.quit().await;
    real.quit().await;
}
