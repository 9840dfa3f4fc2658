//! The upload server under a flood of connections that send nothing, or
//! only part of a GET (PROTOCOL.md, Limits): such sockets cannot lock real
//! downloads out, because at the cap the oldest connection whose GET is not
//! all in is closed for a newcomer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::peer::upload::{self, UploadConfig};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const SILENT: usize = 5000;

/// 5,000 silent sockets against a cap of 1,024, then a real GET: it is
/// answered in full, promptly, and the oldest silent sockets were closed.
#[tokio::test]
async fn five_thousand_silent_sockets_do_not_lock_out_a_get() {
    // Both ends of every socket live in this process.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(limit >= 2 * SILENT as u64 + 1024, "open-file limit {limit} too low for this test");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rfc8700.txt"), shipped(8700)).unwrap();
    let mut config = UploadConfig::new(dir.path().to_owned(), "TestOS".into());
    assert_eq!(config.max_connections, 1024);
    // The flood and the GET share one address here: the total cap is
    // under test, not the per-address one (tests/per_address.rs).
    config.max_connections_per_address = usize::MAX;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(upload::run(listener, config, None, stop.clone()));

    let mut silent = Vec::with_capacity(SILENT);
    within("silent sockets connect", async {
        for _ in 0..SILENT {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
    })
    .await;
    // The oldest silent socket is closed once the server has taken in the
    // newer ones past its cap: wait for that, so the flood is fully in.
    let mut first = silent.remove(0);
    let mut byte = [0u8; 1];
    let n = within("the oldest silent socket is closed", first.read(&mut byte)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");

    let started = Instant::now();
    let mut c = Raw::connect(addr).await;
    c.send("GET RFC 8700 P2P-CI/1.0\r\nHost: real\r\n\r\n").await;
    let all = c.until_closed().await;
    let elapsed = started.elapsed();
    let body = shipped(8700);
    assert!(
        all.starts_with(b"P2P-CI/1.0 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&all[..all.len().min(64)])
    );
    assert!(all.ends_with(&body), "the whole file");
    eprintln!("GET answered in {elapsed:?} behind {SILENT} silent sockets");
    assert!(elapsed < Duration::from_secs(1), "GET took {elapsed:?}");

    // The newest silent sockets still hold their slots: nothing was closed
    // that did not need to be.
    let last = silent.last_mut().unwrap();
    let still_open = tokio::time::timeout(Duration::from_millis(50), last.read(&mut byte)).await;
    assert!(still_open.is_err(), "the newest silent socket was closed: {still_open:?}");

    stop.cancel();
    within("server stops", server).await.unwrap();
}

/// A front end that never reads its events cannot slow uploads: reports
/// that do not fit are dropped and counted, and the count is reported once
/// there is room.
#[tokio::test]
async fn a_screen_that_never_reads_does_not_slow_uploads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rfc8602.txt"), shipped(8602)).unwrap();
    let config = UploadConfig::new(dir.path().to_owned(), "TestOS".into());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let server = tokio::spawn(upload::run(listener, config, Some(tx), stop.clone()));
    let get = || async {
        let mut c = Raw::connect(addr).await;
        c.send("GET RFC 8602 P2P-CI/1.0\r\nHost: h\r\n\r\n").await;
        assert!(c.until_closed().await.ends_with(&shipped(8602)));
    };
    // Three events per GET (request, answer head, served): 8 fit.
    for _ in 0..50 {
        get().await;
    }
    let mut first = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        first.push(ev);
    }
    assert_eq!(first.len(), 8, "{first:?}");
    get().await;
    let ev = within("the count", rx.recv()).await.unwrap();
    let p2pci::peer::NetEvent::Notice(text) = ev else { panic!("{ev:?}") };
    // 150 events, 8 delivered; the last GET's report may have come after
    // the drain, so one or two fewer may have been dropped.
    let dropped: u64 = text
        .strip_prefix("upload server: ")
        .and_then(|t| t.strip_suffix(" log event(s) not shown, the screen was behind"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!((139..=142).contains(&dropped), "{text}");
    stop.cancel();
    within("server stops", server).await.unwrap();
}

/// Silent sockets opened all the time, while downloads go on (an attacker
/// re-opening them as they are closed): every GET is still answered.
#[tokio::test]
async fn a_steady_flood_of_silent_sockets_does_not_lock_out_gets() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(limit >= 2 * 3000 + 1024, "open-file limit {limit} too low for this test");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rfc8700.txt"), shipped(8700)).unwrap();
    let mut config = UploadConfig::new(dir.path().to_owned(), "TestOS".into());
    config.max_connections = 256;
    config.max_connections_per_address = usize::MAX;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(upload::run(listener, config, None, stop.clone()));

    // The flood runs on its own thread, so it goes on at full speed while
    // the GETs are made.
    let flooding = Arc::new(AtomicBool::new(true));
    let opened = Arc::new(AtomicU64::new(0));
    let flood = std::thread::spawn({
        let (flooding, opened) = (flooding.clone(), opened.clone());
        move || {
            let mut held = std::collections::VecDeque::new();
            while flooding.load(Ordering::Relaxed) {
                if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                    held.push_back(s);
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                if held.len() > 3000 {
                    held.pop_front();
                }
            }
        }
    });
    // Past twice the cap. The kernel's accept queue overflows under a
    // flood this fast (new connections then wait for a SYN retransmission),
    // so this takes a few seconds, not the flood's own speed.
    within("the flood fills the cap", async {
        while opened.load(Ordering::Relaxed) < 600 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let body = shipped(8700);
    for i in 0..20 {
        let mut c = Raw::connect(addr).await;
        c.send("GET RFC 8700 P2P-CI/1.0\r\nHost: real\r\n\r\n").await;
        let all = c.until_closed().await;
        assert!(
            all.starts_with(b"P2P-CI/1.0 200 OK\r\n") && all.ends_with(&body),
            "GET {i} not answered in full: {} byte(s), starting {:?}",
            all.len(),
            String::from_utf8_lossy(&all[..all.len().min(40)])
        );
    }
    let during = opened.load(Ordering::Relaxed);
    flooding.store(false, Ordering::Relaxed);
    flood.join().unwrap();
    eprintln!("20 GETs answered while the flood had opened {during} silent sockets against a cap of 256");
    stop.cancel();
    within("server stops", server).await.unwrap();
}

/// A connection from `from` (a loopback address) to `to`.
async fn connect_from(from: &str, to: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from.parse().unwrap(), 0)).unwrap();
    within("connect", socket.connect(to)).await.unwrap()
}

/// Cap + 20 sockets that send the start of a GET and stop, and more of
/// them opened before every real GET: at the cap, a connection whose GET
/// is not all in gives way to a newcomer, oldest first, so every real GET
/// is answered, byte for byte the file; a half-sent one that was not in the
/// way keeps its slot.
#[tokio::test]
async fn half_sent_gets_do_not_lock_out_real_ones() {
    use tokio::io::AsyncWriteExt;
    const CAP: usize = 16;
    const HALF: &[u8] = b"GET RFC 8600 P2P-CI/1.0\r\nHo";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rfc8600.txt"), shipped(8600)).unwrap();
    let mut config = UploadConfig::new(dir.path().to_owned(), "TestOS".into());
    config.max_connections = CAP;
    // Every half-sent socket comes from one address: the total cap is
    // under test here, not the per-address one.
    config.max_connections_per_address = usize::MAX;
    // Far beyond the test's waits: only eviction can close a half-sent GET.
    config.request_timeout = Duration::from_secs(60);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(upload::run(listener, config, None, stop.clone()));

    let half_sent = |n: usize| async move {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut s = connect_from("127.0.0.2", addr).await;
            s.write_all(HALF).await.unwrap();
            out.push(s);
        }
        out
    };
    let mut held = half_sent(CAP + 20).await;
    let mut byte = [0u8; 1];
    let n = within("the oldest half-sent GET is closed", held[0].read(&mut byte)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");

    let body = shipped(8600);
    let mut ok = 0;
    for i in 0..10 {
        held.extend(half_sent(5).await);
        let mut c = Raw::connect(addr).await;
        c.send("GET RFC 8600 P2P-CI/1.0\r\nHost: real\r\n\r\n").await;
        let all = c.until_closed().await;
        let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        match head_end {
            Some(at) if all.starts_with(b"P2P-CI/1.0 200 OK\r\n") && all[at..] == body[..] => ok += 1,
            _ => panic!(
                "GET {i}: {} byte(s): {:?}",
                all.len(),
                String::from_utf8_lossy(&all[..all.len().min(40)])
            ),
        }
    }
    eprintln!("real GETs answered in full: {ok}/10 behind {} half-sent sockets (cap {CAP})", held.len());
    // The newest half-sent socket was not in the way: still open.
    let last = held.last_mut().unwrap();
    let still = tokio::time::timeout(Duration::from_millis(50), last.read(&mut byte)).await;
    assert!(still.is_err(), "the newest half-sent socket was closed: {still:?}");
    stop.cancel();
    within("server stops", server).await.unwrap();
}
