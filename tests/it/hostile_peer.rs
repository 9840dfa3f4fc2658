//! A peer as the client of hostile index servers and holders (issue 17,
//! items 9, 10 and the peer's side of 4): an answer naming tens of thousands
//! of holders stalls nothing, a holder that trickles loses the download to
//! the next one, and nothing a server sends reaches the terminal raw.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::peer::{Command, DownloadEvent, NetEvent, Reply};
use p2pci::protocol::RfcNumber;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

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
    let (failed, done) = me.download_outcome().await;
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

/// What a hostile index puts in titles and hosts: a window title change,
/// then a screen clear.
const EVIL: &str = "\x1b]0;pwned\x07\x1b[2J";

/// A stand-in index on a thread of its own (for tests that drive a child
/// process): LOOKUP RFC 1 and LIST name one record whose title and host
/// carry [`EVIL`] (the host's port is `port`); LOOKUP RFC 2 gets a status
/// line carrying it; anything else a bare 200.
fn evil_index(port: u16) -> SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                let record = format!("RFC 1 T{EVIL} ev{EVIL} {port}\r\n");
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head: Vec<u8> = buf.drain(..end + 4).collect();
                    let answer = if head.starts_with(b"LOOKUP RFC 1 ") || head.starts_with(b"LIST ") {
                        format!("P2P-CI/1.0 200 OK\r\n\r\n{record}\r\n")
                    } else if head.starts_with(b"LOOKUP RFC 2 ") {
                        format!("P2P-CI/1.0 2{EVIL}00 OK\r\n\r\n")
                    } else {
                        "P2P-CI/1.0 200 OK\r\n\r\n".to_owned()
                    };
                    if s.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Item 4, the peer's side: a headless peer shown titles, hosts and a
/// status line carrying terminal escape sequences prints every one of them
/// escaped (`\x1b`), in the protocol messages and in the outcome lines, and
/// never a raw control byte; its log file (text and JSON, at debug level)
/// holds none either.
#[test]
fn a_headless_peer_prints_what_a_hostile_index_sends_escaped() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let index = evil_index(dead);
    for format in ["text", "json"] {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("peer.log");
        let mut args = peer_args(index, "me", &tmp.path().join("me"), &[]);
        args.extend(["--headless", "--log-format", format, "--log-file"].map(String::from));
        args.push(log.to_string_lossy().into_owned());
        let mut peer = Proc::spawn_with(args, |c| {
            c.env("RUST_LOG", "debug");
        });
        let seen = std::cell::RefCell::new(Vec::new());
        let until = |peer: &mut Proc, what: &str, done: &dyn Fn(&str) -> bool| {
            peer.wait_out(what, |l| {
                seen.borrow_mut().push(l.to_owned());
                done(l)
            });
        };
        until(&mut peer, "connected", &|l| l.starts_with("* connected to index server"));
        peer.say("lookup 1");
        until(&mut peer, "the lookup", &|l| l == "OK lookup RFC 1: 1 holder(s)");
        peer.say("lookup 2");
        until(&mut peer, "the bad answer", &|l| l.starts_with("ERR LOOKUP RFC 2"));
        peer.say("list");
        until(&mut peer, "the list", &|l| l == "OK list: 1 record(s)");
        peer.say("get 1");
        until(&mut peer, "the download's end", &|l| l.starts_with("ERR download RFC 1"));
        peer.say("close");
        until(&mut peer, "closed", &|l| l == "OK closed");
        assert!(peer.wait_exit().success());
        let out = seen.into_inner();
        let text = out.join("\n");
        assert!(
            !text.contains(|c: char| c.is_control() && c != '\t' && c != '\n'),
            "{format}: raw control in\n{text}"
        );
        let escaped = r"\x1b]0;pwned\x07\x1b[2J";
        let record = format!(r"RFC 1 T{escaped} ev{escaped} {dead}");
        // The lookup's, the list's and the download's lookup's answers.
        assert_eq!(out.iter().filter(|l| **l == record).count(), 3, "the answers:\n{text}");
        // A title with a control character is not sent back to the server.
        assert!(!out.iter().any(|l| l.starts_with(r"Title: T\x1b")), "{text}");
        assert!(
            out.iter().any(|l| l.starts_with("ERR from ev") && l.contains(escaped)),
            "the failed holder, named escaped:\n{text}"
        );
        assert!(out.iter().any(|l| l.starts_with("P2P-CI/1.0 2\\x1b")), "the bad status line:\n{text}");
        let logged = std::fs::read(&log).unwrap();
        assert!(!logged.is_empty(), "{format}: empty log");
        assert!(
            !logged.iter().any(|b| *b == 0x1b || *b == 0x07),
            "{format} log:\n{}",
            String::from_utf8_lossy(&logged)
        );
    }
}
