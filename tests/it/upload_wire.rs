//! A peer's upload server over real TCP, byte for byte (PROTOCOL.md, Peer to peer).

use std::time::{Duration, SystemTime};

use crate::common::*;
use p2pci::peer::upload::{self, UploadConfig};
use p2pci::protocol::{GetResponseHead, Limits, Sha256Digest, Status, parse_head};
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

/// A client that keeps writing an oversized request still reads its 400:
/// the server closes gracefully (stops writing, drains, then closes), so
/// the client's writes are not refused with a reset (after which most
/// clients give up without reading) and the answer waits for it.
#[tokio::test]
async fn a_client_still_writing_reads_its_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A generous drain: what is tested is the order of things, not speed.
    let up = uploader(&[8602], |c| c.linger = Duration::from_secs(30)).await;
    for _ in 0..2 {
        let mut s = Raw::connect(up.addr).await.stream;
        // Far past the 8 KiB line limit and every socket buffer: 32 MiB of
        // one header line, written
        // whole, as a simple client does, before reading anything.
        let mut request = b"GET RFC 8602 P2P-CI/1.0\r\nHost: ".to_vec();
        request.resize(32 * 1024 * 1024, b'h');
        for chunk in request.chunks(64 * 1024) {
            within("write", s.write_all(chunk)).await.expect("the server takes the whole request");
        }
        let mut got = Vec::new();
        within("the 400", s.read_to_end(&mut got)).await.unwrap();
        assert_eq!(got, b"P2P-CI/1.0 400 Bad Request\r\n\r\n", "{:?}", String::from_utf8_lossy(&got));
    }
}

fn ask(rfc: u32) -> String {
    format!("GET RFC {rfc} P2P-CI/1.0\r\nHost: h\r\nOS: x\r\nWant-Repr-Digest: sha-256=1\r\n\r\n")
}

#[tokio::test]
async fn a_get_that_asks_gets_the_digest() {
    let up = uploader(&[8700, 8795], |_| {}).await;
    for rfc in [8700, 8795, 8700] {
        let (head, body) = get(up.addr, ask(rfc).as_bytes()).await;
        assert_eq!(head.status, Status::Ok);
        assert!(body == shipped(rfc));
        assert_eq!(head.repr_digest, Some(Sha256Digest::of(&body)), "RFC {rfc}");
    }
    // On the wire: the five headers, then the digest, in RFC 9530's form.
    let mut c = Raw::connect(up.addr).await;
    c.send(ask(8700)).await;
    let all = c.until_closed().await;
    let text = String::from_utf8_lossy(&all);
    let head = &text[..text.find("\r\n\r\n").unwrap()];
    let names: Vec<&str> = head.split("\r\n").skip(1).map(|l| l.split_once(": ").unwrap().0).collect();
    assert_eq!(names, ["Date", "OS", "Last-Modified", "Content-Length", "Content-Type", "Repr-Digest"]);
    let want = format!("\r\nRepr-Digest: sha-256={}", Sha256Digest::of(&shipped(8700)));
    assert!(head.ends_with(&want), "{head}");
}

/// Peers that do not know the extension see exactly what they saw before:
/// the same bytes as a GET without the header, but for the date.
#[tokio::test]
async fn a_get_that_does_not_ask_gets_exactly_the_five_headers() {
    let up = uploader(&[8700], |_| {}).await;
    let mtime = std::fs::metadata(up.dir.path().join("rfc8700.txt")).unwrap().modified().unwrap();
    let body = shipped(8700);
    for (request, name) in [
        ("GET RFC 8700 P2P-CI/1.0\r\nHost: h\r\nOS: x\r\n\r\n", "plain"),
        ("GET RFC 8700 P2P-CI/1.0\r\nHost: h\r\nWant-Repr-Digest: sha-256=0\r\n\r\n", "declined"),
        ("GET RFC 8700 P2P-CI/1.0\r\nHost: h\r\nWant-Repr-Digest: md5=1\r\n\r\n", "other algorithm"),
    ] {
        let mut c = Raw::connect(up.addr).await;
        c.send(request).await;
        let all = c.until_closed().await;
        let date_line_end = all.windows(2).skip(19).position(|w| w == b"\r\n").unwrap() + 19;
        let date = String::from_utf8_lossy(&all[19..date_line_end]).into_owned();
        let mut want = format!(
            "P2P-CI/1.0 200 OK\r\n{date}\r\nOS: TestOS 1.0\r\nLast-Modified: {}\r\nContent-Length: {}\r\n\
             Content-Type: text/plain\r\n\r\n",
            httpdate::fmt_http_date(mtime),
            body.len()
        )
        .into_bytes();
        want.extend_from_slice(&body);
        assert!(date.starts_with("Date: "), "{name}: {date}");
        assert!(all == want, "{name}: {:?}", String::from_utf8_lossy(&all[..200]));
    }
}

/// The digest follows the file: rewritten in place (same size, same inode)
/// or replaced, the next GET gets the new file's digest.
#[tokio::test]
async fn the_digest_follows_the_file() {
    let up = uploader(&[], |_| {}).await;
    let path = up.dir.path().join("rfc1.txt");
    let versions: [&[u8]; 3] = [b"first version\n", b"other version\n", b"a longer third version\n"];
    for (i, content) in versions.iter().enumerate() {
        if i == 2 {
            let tmp = up.dir.path().join("new");
            std::fs::write(&tmp, content).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        } else {
            std::fs::write(&path, content).unwrap();
        }
        for _ in 0..2 {
            let (head, body) = get(up.addr, ask(1).as_bytes()).await;
            assert_eq!(body, *content);
            assert_eq!(head.repr_digest, Some(Sha256Digest::of(content)), "version {i}");
        }
    }
}
