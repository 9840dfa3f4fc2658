//! A peer's upload server over real TCP, byte for byte (PROTOCOL.md, Peer to peer).

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use p2pci::peer::upload::{self, UploadConfig};
use p2pci::protocol::{GetResponseHead, Limits, Status, parse_head};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct Uploader {
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Uploader {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn uploader(rfcs: &[u32], tweak: impl FnOnce(&mut UploadConfig)) -> Uploader {
    let dir = tempfile::tempdir().unwrap();
    for &n in rfcs {
        std::fs::write(dir.path().join(format!("rfc{n}.txt")), shipped(n)).unwrap();
    }
    let mut config = UploadConfig::new(dir.path().to_owned(), "TestOS 1.0".into());
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(upload::run(listener, config, None, stop.clone()));
    Uploader { addr, dir, stop }
}

/// Sends `request`, reads to the close, returns the parsed head and body.
async fn get(addr: std::net::SocketAddr, request: &[u8]) -> (GetResponseHead, Vec<u8>) {
    let mut c = Raw::connect(addr).await;
    c.send(request).await;
    let all = c.until_closed().await;
    let (head, used) = parse_head(&all, &Limits::default()).unwrap().expect("a whole head");
    (GetResponseHead::from_head(&head).unwrap(), all[used..].to_vec())
}

#[tokio::test]
async fn serves_the_file_with_the_five_headers() {
    let up = uploader(&[8700], |_| {}).await;
    let before = SystemTime::now() - Duration::from_secs(2);
    let mut c = Raw::connect(up.addr).await;
    c.send("GET RFC 8700 P2P-CI/1.0\r\nHost: somehost.example.org\r\nOS: Linux 6.1\r\n\r\n").await;
    let all = c.until_closed().await;
    let text = String::from_utf8_lossy(&all);
    let head_end = text.find("\r\n\r\n").unwrap() + 4;
    let lines: Vec<&str> = text[..head_end - 4].split("\r\n").collect();
    let body = shipped(8700);
    assert_eq!(lines[0], "P2P-CI/1.0 200 OK");
    let names: Vec<&str> = lines[1..].iter().map(|l| l.split_once(": ").unwrap().0).collect();
    assert_eq!(names, ["Date", "OS", "Last-Modified", "Content-Length", "Content-Type"]);
    assert_eq!(lines[2], "OS: TestOS 1.0");
    assert_eq!(lines[4], format!("Content-Length: {}", body.len()));
    assert_eq!(lines[5], "Content-Type: text/plain");
    let date = httpdate::parse_http_date(lines[1].strip_prefix("Date: ").unwrap()).unwrap();
    assert!(date >= before && date <= SystemTime::now() + Duration::from_secs(2));
    assert!(lines[1].ends_with(" GMT") && lines[3].ends_with(" GMT"));
    let lm = httpdate::parse_http_date(lines[3].strip_prefix("Last-Modified: ").unwrap()).unwrap();
    let mtime = std::fs::metadata(up.dir.path().join("rfc8700.txt")).unwrap().modified().unwrap();
    assert_eq!(httpdate::fmt_http_date(lm), httpdate::fmt_http_date(mtime));
    assert!(all[head_end..] == body[..], "body is the file, byte for byte, then the close");
}

#[tokio::test]
async fn every_error_status_then_close() {
    let up = uploader(&[8700], |_| {}).await;
    let cases: [(&[u8], &[u8]); 10] = [
        (b"GET RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n", b"P2P-CI/1.0 404 Not Found\r\n\r\n"),
        (
            b"GET RFC 8700 P2P-CI/2.0\r\nHost: h\r\n\r\n",
            b"P2P-CI/1.0 505 P2P-CI Version Not Supported\r\n\r\n",
        ),
        (b"GET RFC 8700 P2P-CI/1.0\r\nOS: x\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
        (b"GET RFC ../../etc/passwd P2P-CI/1.0\r\nHost: h\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
        (b"GET RFC /etc/passwd P2P-CI/1.0\r\nHost: h\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
        (b"GET RFC 8700.txt P2P-CI/1.0\r\nHost: h\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
        (b"GET RFC 8700 HTTP/1.1\r\nHost: h\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
        (
            b"ADD RFC 8700 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n",
            b"P2P-CI/1.0 400 Bad Request\r\n\r\n",
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"P2P-CI/1.0 400 Bad Request\r\n\r\n"),
    ];
    for (req, want) in cases {
        let mut c = Raw::connect(up.addr).await;
        c.send(req).await;
        assert_eq!(c.until_closed().await, want, "for {:?}", String::from_utf8_lossy(req));
    }
}

#[tokio::test]
async fn a_get_trickled_one_byte_at_a_time() {
    let up = uploader(&[8602], |_| {}).await;
    let mut c = Raw::connect(up.addr).await;
    c.trickle("GET RFC 8602 P2P-CI/1.0\nHost: slow\nOS: x\n\n").await;
    let all = c.until_closed().await;
    assert!(all.ends_with(&shipped(8602)));
    assert!(all.starts_with(b"P2P-CI/1.0 200 OK\r\n"));
}

#[tokio::test]
async fn many_downloads_at_once() {
    let up = uploader(&[8795, 8601], |_| {}).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let addr = up.addr;
        tasks.spawn(async move {
            let n = if i % 2 == 0 { 8795 } else { 8601 };
            let (head, body) =
                get(addr, format!("GET RFC {n} P2P-CI/1.0\r\nHost: h{i}\r\n\r\n").as_bytes()).await;
            assert_eq!(head.status, Status::Ok);
            assert_eq!(head.content_length, Some(body.len() as u64));
            assert!(body == shipped(n));
        });
    }
    while let Some(r) = within("all downloads", tasks.join_next()).await {
        r.unwrap();
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_timeout() {
    let up = uploader(&[8602], |c| c.request_timeout = Duration::from_millis(200)).await;
    let mut silent = Raw::connect(up.addr).await;
    let mut half = Raw::connect(up.addr).await;
    half.send("GET RFC 8602 P2P-CI/1.0\r\n").await;
    assert_eq!(silent.until_closed().await, b"");
    assert_eq!(half.until_closed().await, b"");
}

#[tokio::test]
async fn an_oversized_get_is_refused_with_400() {
    let up = uploader(&[8602], |_| {}).await;
    let mut c = Raw::connect(up.addr).await;
    c.send(format!("GET RFC 8602 P2P-CI/1.0\r\nHost: {}\r\n\r\n", "h".repeat(10_000))).await;
    assert_eq!(c.until_closed().await, b"P2P-CI/1.0 400 Bad Request\r\n\r\n");
}

#[tokio::test]
async fn a_file_deleted_after_it_was_advertised_is_404() {
    let up = uploader(&[8602], |_| {}).await;
    std::fs::remove_file(up.dir.path().join("rfc8602.txt")).unwrap();
    let (head, body) = get(up.addr, b"GET RFC 8602 P2P-CI/1.0\r\nHost: h\r\n\r\n").await;
    assert_eq!(head.status, Status::NotFound);
    assert!(body.is_empty());
}
