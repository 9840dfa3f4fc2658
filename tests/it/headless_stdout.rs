//! A headless peer whose standard output nobody reads keeps serving: its
//! output used to be written on the runtime with a blocking write, so once
//! the pipe was full (64 KiB) the whole peer froze, upload server included
//! (`p2pci check upload`: "accepted a connection but answered nothing").

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// Lookups fed on stdin: each prints about 330 bytes, so 8000 print about
/// 2.6 MB, well past the pipe (64 KiB) and the peer's budget (1 MiB).
const LOOKUPS: usize = 8000;

/// The port the index holds for `host`'s RFC 8600, once it has been
/// advertised.
async fn advertised_port(server: std::net::SocketAddr, host: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = Raw::connect(server).await;
        c.send(lookup(8600, "test", 1)).await;
        if let Some(r) = c.response().await.records.iter().find(|r| r.host == host) {
            return r.port;
        }
        assert!(Instant::now() < deadline, "{host} never advertised RFC 8600");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET RFC 8600 from the upload server at `port`: the body, or why not
/// within 5 s.
async fn get_8600(port: u16) -> Result<Vec<u8>, String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        s.write_all(b"GET RFC 8600 P2P-CI/1.0\r\nHost: tester\r\nOS: Linux\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.map_err(|e| e.to_string())?;
        let end = memchr::memmem::find(&all, b"\r\n\r\n").ok_or("no end of head")?;
        if !all.starts_with(b"P2P-CI/1.0 200 OK\r\n") {
            return Err(format!("answered {:?}", String::from_utf8_lossy(&all[..end])));
        }
        Ok(all[end + 4..].to_vec())
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .unwrap_or_else(|_| Err("accepted a connection but answered nothing within 5 s".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_stdout_does_not_stop_the_upload_server() {
    let server = ChildServer::spawn(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut args = peer_args(server.addr, "hostA", &dir.path().join("hostA"), &[8600]);
    args.extend(["--headless".into(), "--advertise".into()]);
    let mut child = Command::new(binary())
        .args(&args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the peer");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    // Held, not read, until the end.
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    let port = advertised_port(server.addr, "hostA").await;

    // Fed from a thread: a frozen peer stops reading its stdin too.
    let feeder = std::thread::spawn(move || {
        let text = "lookup 8600\n".repeat(LOOKUPS);
        let fed = stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush());
        (fed, stdin)
    });
    let want = shipped(8600);
    let started = Instant::now();
    let mut served = 0;
    let mut after_fed = 0;
    // GETs while the output piles up unread: every one answered in full,
    // and ten more (2 s) once all the lookups are in.
    while after_fed < 10 {
        let body = get_8600(port).await.unwrap_or_else(|e| {
            panic!("GET RFC 8600 #{} ({:?} in, stdout unread): {e}", served + 1, started.elapsed())
        });
        assert!(body == want, "GET #{}: {} bytes, not RFC 8600's {}", served + 1, body.len(), want.len());
        served += 1;
        if feeder.is_finished() {
            after_fed += 1;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{LOOKUPS} lookups not taken in 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (fed, mut stdin) = feeder.join().unwrap();
    fed.expect("feeding the lookups");

    let rx = lines(stdout);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dropped = None;
    let mut lines = 0usize;
    let mut answers = 0usize;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|e| {
            panic!("after {lines} lines ({answers} lookups answered, dropped: {dropped:?}): {e}")
        });
        lines += 1;
        if line == "OK lookup RFC 8600: 1 holder(s)" {
            answers += 1;
        }
        if let Some(n) = line
            .strip_prefix("* ")
            .and_then(|l| l.strip_suffix(" output lines dropped: standard output was not being read"))
        {
            let n = n.parse::<u64>().expect("a count of lines");
            if dropped.is_none() {
                // Read from now on: a command after the gap is answered
                // after every lookup before it.
                writeln!(stdin, "list").and_then(|()| stdin.flush()).unwrap();
            }
            // Another gap is possible while the lookups still pour in
            // faster than this reads; counted with the first.
            dropped = Some(dropped.unwrap_or(0) + n);
        }
        if line.starts_with("OK list:") {
            break;
        }
    }
    let dropped = dropped.expect("no line saying how many lines were dropped");
    assert!(dropped > 0 && answers < LOOKUPS, "{dropped} dropped, {answers} answers written");
    // What was kept is at most the budget and the pipe: about 3,300 lookups.
    assert!(answers > 2000, "only {answers} answers kept of {LOOKUPS}");
    eprintln!(
        "{served} GETs served with stdout unread; then {lines} lines read, {answers} of {LOOKUPS} lookups \
         answered, {dropped} lines dropped"
    );
}
