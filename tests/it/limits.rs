//! The limits of PROTOCOL.md (Limits) on the index server and on an upload
//! server: over-long lines, too many headers, oversized heads, heads that
//! never finish, connections that send nothing, and connection caps.
//! (server_wire.rs covers the basic 400-and-close and the 30 s rule; these
//! are the cases it does not.)

/// Every client here shares 127.0.0.1, past the default share of one
/// address (256); that cap has its own tests (tests/it/per_address.rs).
const ONE_ADDRESS: &[&str] = &["--max-connections-per-address", "1000000"];

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::peer::upload::{self, UploadConfig};
use p2pci::protocol::{Limits, Status};
use p2pci::server::ServerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const BAD_P2S: &[u8] = b"P2P-CI/1.0 400 Bad Request\r\n\r\n\r\n";
const BAD_GET: &[u8] = b"P2P-CI/1.0 400 Bad Request\r\n\r\n";

/// An upload server alone, on a folder holding RFC 8600.
struct Uploads {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Uploads {
    async fn start(tune: impl FnOnce(&mut UploadConfig)) -> Uploads {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(rfc_dir().join("rfc8600.txt"), dir.path().join("rfc8600.txt")).unwrap();
        let mut config = UploadConfig::new(dir.path().to_owned(), "test".into());
        tune(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(upload::run(listener, config, None, shutdown.clone()));
        Uploads { addr, shutdown, _dir: dir }
    }

    /// A GET that must still be served in full.
    async fn still_serves(&self) {
        let mut c = Raw::connect(self.addr).await;
        c.send("GET RFC 8600 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
        let all = c.until_closed().await;
        assert!(all.starts_with(b"P2P-CI/1.0 200 OK\r\n"));
        assert!(all.ends_with(&shipped(8600)));
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn get_with(extra: &str) -> String {
    format!("GET RFC 8600 P2P-CI/1.0\r\nHost: x\r\n{extra}\r\n")
}

#[tokio::test]
async fn upload_server_head_limits_get_400_and_close() {
    let ups = Uploads::start(|c| c.limits = Limits { max_line: 100, max_head: 400, max_headers: 4 }).await;
    let cases = [
        format!("GET RFC {} P2P-CI/1.0\r\n", "1".repeat(200)),
        get_with(&"X: y\r\n".repeat(5)),
        get_with(&format!("{}\r\n", "A: 12345678901234567890123456789012345678901234567890").repeat(4)),
        "z".repeat(1000),
        "\r\n".repeat(300),
    ];
    for req in cases {
        let mut c = Raw::connect(ups.addr).await;
        c.send(&req).await;
        assert_eq!(c.until_closed().await, BAD_GET, "for {:?}", &req[..20]);
    }
    // At the limits exactly, it is served.
    let mut c = Raw::connect(ups.addr).await;
    c.send(get_with(&"X: y\r\n".repeat(3))).await;
    assert!(c.until_closed().await.starts_with(b"P2P-CI/1.0 200 OK\r\n"));
}

#[tokio::test]
async fn upload_connections_that_send_nothing_or_trickle_are_closed_in_time() {
    let timeout = Duration::from_millis(300);
    let ups = Uploads::start(|c| c.request_timeout = timeout).await;
    // The close itself is awaited (bounded by `within`); it cannot come
    // before the deadline, however slow the machine.
    let t = Instant::now();
    let mut silent = Raw::connect(ups.addr).await;
    assert_eq!(silent.until_closed().await, b"", "no answer, just a close");
    assert!(t.elapsed() >= timeout, "closed after {:?}, before the deadline", t.elapsed());

    // Bytes keep coming, one every 20 ms, but the GET never ends: it is cut
    // off all the same (the loop below ends only then), so the deadline is
    // for the whole request, not per byte.
    let t = Instant::now();
    let mut slow = Raw::connect(ups.addr).await;
    let trickle = async {
        for b in "GET RFC 8600 P2P-CI/1.0\r\nHost: x\r\nX-Pad: ".bytes().chain(std::iter::repeat(b'a')) {
            if tokio::io::AsyncWriteExt::write_all(&mut slow.stream, &[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within("trickler cut off", trickle).await;
    assert!(t.elapsed() >= timeout, "cut off after {:?}, before the deadline", t.elapsed());
    ups.still_serves().await;
}

#[tokio::test]
async fn upload_connection_cap_evicts_silent_connections_and_refuses_past_busy_ones() {
    let ups = Uploads::start(|c| {
        c.max_connections = 4;
        // Long enough that only eviction can close a silent connection
        // within the test's waits.
        c.request_timeout = Duration::from_secs(60);
        c.send_timeout = Duration::from_secs(60);
    })
    .await;
    // Four connections that send nothing fill every slot; GETs are still
    // served, the first one by closing the oldest silent connection.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(Raw::connect(ups.addr).await);
    }
    for _ in 0..20 {
        ups.still_serves().await;
    }
    assert_eq!(silent[0].until_closed().await, b"", "the oldest silent connection made room");
    drop(silent);

    // Four downloads under way (a file far larger than the socket buffers,
    // whose downloaders do not read) hold every slot: they have spoken, so
    // none is closed for a newcomer, and newcomers are refused.
    let big: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(ups._dir.path().join("rfc1.txt"), &big).unwrap();
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut c = Raw::connect(ups.addr).await;
        c.send("GET RFC 1 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
        assert_eq!(c.bytes(19).await, b"P2P-CI/1.0 200 OK\r\n");
        busy.push(c);
    }
    let refused = || async {
        let mut c = Raw::connect(ups.addr).await;
        c.send("GET RFC 8600 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
        c.until_closed().await.is_empty()
    };
    // Until the dropped silent connections' tasks have noticed, a newcomer
    // may still take one of their slots.
    within("the busy downloads hold every slot", async {
        while !refused().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    for _ in 0..20 {
        assert!(refused().await, "refused past the cap of busy connections");
    }
    drop(busy);
    within("a slot frees up", async {
        while refused().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    ups.still_serves().await;
}

/// A downloader that sends its GET and never reads: the upload gives up
/// after the send timeout and the slot is free again.
#[tokio::test]
async fn a_downloader_that_stops_reading_does_not_hold_a_slot_forever() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough to fill the socket buffers many times over.
    let big: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(dir.path().join("rfc1.txt"), &big).unwrap();
    let mut config = UploadConfig::new(dir.path().to_owned(), "test".into());
    config.max_connections = 1;
    config.send_timeout = Duration::from_millis(300);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(upload::run(listener, config, None, shutdown.clone()));
    let _stop = shutdown.drop_guard();

    let mut stuck = Raw::connect(addr).await;
    stuck.send("GET RFC 1 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
    // It is given up on: a new downloader gets the one slot.
    within("slot freed", async {
        loop {
            let mut c = Raw::connect(addr).await;
            c.send("GET RFC 2 P2P-CI/1.0\r\nHost: x\r\n\r\n").await;
            if c.until_closed().await == b"P2P-CI/1.0 404 Not Found\r\n\r\n" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    drop(stuck);
}

#[tokio::test]
async fn a_trickled_p2s_head_is_cut_off_at_the_deadline() {
    let timeout = Duration::from_millis(400);
    let config = ServerConfig { request_timeout: timeout, print: false, ..ServerConfig::default() };
    let server = TestServer::with_config(config).await;
    let mut c = Raw::connect(server.addr).await;
    c.send(add(1, "slow", 1, "t")).await;
    c.response().await;
    // A byte every 20 ms, without end: the loop ends only when the server
    // has cut the connection off, which it cannot do before the deadline.
    let t = Instant::now();
    let trickle = async {
        for b in "LIST ALL P2P-CI/1.0\r\nHost: slow\r\nX: ".bytes().chain(std::iter::repeat(b'a')) {
            if tokio::io::AsyncWriteExt::write_all(&mut c.stream, &[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within("trickler cut off", trickle).await;
    assert!(t.elapsed() >= timeout, "cut off after {:?}, before the deadline", t.elapsed());
    server.until("its records removed", |c| c.records == 0 && c.peers == 0).await;
}

#[tokio::test]
async fn endless_blank_lines_hit_the_head_limit() {
    let limits = Limits { max_line: 100, max_head: 1000, max_headers: 4 };
    let server =
        TestServer::with_config(ServerConfig { limits, print: false, ..ServerConfig::default() }).await;
    let mut c = Raw::connect(server.addr).await;
    c.send("\r\n".repeat(501)).await;
    assert_eq!(c.until_closed().await, BAD_P2S);
}

#[tokio::test]
async fn exactly_at_the_limits_is_accepted() {
    let limits = Limits { max_line: 60, max_head: 200, max_headers: 3 };
    let server =
        TestServer::with_config(ServerConfig { limits, print: false, ..ServerConfig::default() }).await;
    let mut c = Raw::connect(server.addr).await;
    let title = "t".repeat(60 - "Title: ".len());
    let req = format!("ADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: {title}\r\n\r\n");
    assert!(req.len() <= 200);
    c.send(&req).await;
    assert_eq!(c.response().await.records, [rec(1, &title, "h", 1)]);
    // One byte more on that line: 400 and close.
    c.send(format!("ADD RFC 2 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: {title}x\r\n\r\n")).await;
    assert_eq!(c.until_closed().await, BAD_P2S);
}

/// Many connections past the server's cap: each is closed at once, the
/// server keeps serving the admitted ones, and the index stays exact.
#[tokio::test]
async fn a_flood_past_the_server_cap_is_refused_cleanly() {
    let config = ServerConfig { max_connections: 50, print: false, ..ServerConfig::default() };
    let server = TestServer::with_config(config).await;
    let mut admitted = Vec::new();
    for i in 0..50u16 {
        let mut c = Raw::connect(server.addr).await;
        c.send(add(1, "p", 1000 + i, "t")).await;
        assert_eq!(c.response().await.status, Status::Ok);
        admitted.push(c);
    }
    let mut refused = Vec::new();
    for _ in 0..200 {
        refused.push(Raw::connect(server.addr).await);
    }
    for mut c in refused {
        c.send(list("x", 1)).await;
        assert_eq!(c.until_closed().await, b"");
    }
    admitted[7].send(lookup(1, "p", 1007)).await;
    assert_eq!(admitted[7].response().await.records.len(), 50);
    assert_eq!(server.peer_count(), 50);
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_owned();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// The kernel's queues of the TCP connection from `local` to `remote`, as
/// `/proc/net/tcp` shows them: bytes written but not yet taken in by the
/// other side, and bytes received but not yet read.
fn tcp_queues(local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    // Addresses are written as the raw 32-bit value in hex, ports as hex.
    let parse = |field: &str| -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes());
        Some(SocketAddr::from((ip, u16::from_str_radix(port, 16).ok()?)))
    };
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || parse(f[1])? != local || parse(f[2])? != remote {
            return None;
        }
        let (tx, rx) = f[4].split_once(':')?;
        Some((u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?))
    })
}

/// Many pipelined LOOKUPs whose answers are large, sent by a client that
/// does not read: the server's memory stays bounded (it flushes as it goes
/// and stops reading when the socket is full). Checked on a child server's
/// resident memory once the server is stuck on this client: the client's
/// receive buffer is full, the server's send buffer holds answers it
/// cannot send, and neither moves any more. A server that built every
/// answer before writing would get there only after building them all.
#[tokio::test]
async fn pipelined_lookups_by_a_client_that_does_not_read_stay_bounded() {
    let server = ChildServer::spawn(ONE_ADDRESS);
    // 1,000 holders of RFC 1 with long titles: each LOOKUP answer is ~150 KB.
    let mut holders = Vec::new();
    let title = "T".repeat(100);
    for i in 0..1000u16 {
        let mut c = Raw::connect(server.addr).await;
        c.send(add(1, &format!("holder{i}"), 1000 + i, &title)).await;
        holders.push(c);
    }
    for c in &mut holders {
        c.response().await;
    }
    let before = rss(server.proc.pid());
    // ~60 KB of pipelined LOOKUPs (over 1,300 of them: ~200 MB of answers).
    let mut greedy = Raw::connect(server.addr).await;
    // First one large (legal) head, so that the server's read buffer grows
    // to hold a whole 64 KiB head and later reads can deliver that much.
    let pad = format!("X-Pad: {}\r\n", "p".repeat(7000)).repeat(8);
    greedy.send(format!("LOOKUP RFC 2 P2P-CI/1.0\r\nHost: greedy\r\nPort: 1\r\n{pad}\r\n")).await;
    assert_eq!(greedy.response().await.status, Status::NotFound);
    let batch = lookup(1, "greedy", 1).repeat(60 * 1024 / lookup(1, "greedy", 1).len());
    greedy.send(&batch).await;

    // Wait for the server to be stuck on this client: answers waiting on
    // both sides, and the same queues three looks in a row.
    let me = greedy.stream.local_addr().unwrap();
    let queues = || (tcp_queues(server.addr, me), tcp_queues(me, server.addr));
    let stuck = within("the server stuck on a client that does not read", async {
        let mut looks = std::collections::VecDeque::new();
        loop {
            let q = queues();
            looks.push_back(q);
            if looks.len() > 3 {
                looks.pop_front();
            }
            if let (Some((server_unsent, _)), Some((_, client_unread))) = q
                && server_unsent > 0
                && client_unread > 0
                && looks.len() == 3
                && looks.iter().all(|l| *l == q)
            {
                return q;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let after = rss(server.proc.pid());
    let growth = after.saturating_sub(before);
    eprintln!("server RSS {} MB -> {} MB once stuck (queues: {stuck:?})", before >> 20, after >> 20);
    assert!(growth < 8 * 1024 * 1024, "server grew by {} MB", growth / (1024 * 1024));
    // It is still serving others.
    holders[0].send(lookup(1, "holder0", 1000)).await;
    assert_eq!(holders[0].response().await.records.len(), 1000);
}
