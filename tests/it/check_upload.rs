//! `p2pci check upload` against our own peer (every case passes at
//! --strict) and against small stand-in upload servers, each with one
//! defect real implementations have, each caught by exactly its case.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use p2pci::check::case::Suite;
use p2pci::check::{Options, check};
use p2pci::protocol::{GetResponseHead, Limits, Status, parse_get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{Proc, TestPeer, TestServer, rfc_dir};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    /// Announces ten bytes more than it sends.
    WrongContentLength,
    /// Keeps the connection open after the body.
    NoClose,
    /// An RFC "number" that is not digits is taken as a path in its folder.
    PathReachesFs,
}

async fn standin(defect: Defect, dir: PathBuf) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, defect, dir.clone()));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, defect: Defect, dir: PathBuf) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if defect == Defect::PathReachesFs && (buf.ends_with(b"\r\n\r\n") || buf.ends_with(b"\n\n")) {
            let line = String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_owned();
            let token = line.split(' ').nth(2).unwrap_or_default().to_owned();
            if !token.is_empty() && !token.bytes().all(|b| b.is_ascii_digit()) && line.ends_with("P2P-CI/1.0")
            {
                break match std::fs::read(dir.join(&token)) {
                    Ok(file) => (ok_head(file.len() as u64), file),
                    Err(_) => (GetResponseHead::error(Status::NotFound), vec![]),
                };
            }
        }
        match parse_get(&buf, &Limits::default()) {
            Ok(None) => continue,
            Err(_) => break (GetResponseHead::error(Status::BadRequest), vec![]),
            Ok(Some((Err(e), _))) => break (GetResponseHead::error(e.status()), vec![]),
            Ok(Some((Ok(req), _))) => match std::fs::read(dir.join(req.rfc.file_name())) {
                Ok(file) => {
                    let mut head = ok_head(file.len() as u64);
                    if defect == Defect::WrongContentLength {
                        head.content_length = Some(file.len() as u64 + 10);
                    }
                    break (head, file);
                }
                Err(_) => break (GetResponseHead::error(Status::NotFound), vec![]),
            },
        }
    };
    let mut out = Vec::new();
    head.encode(&mut out);
    out.extend_from_slice(&body);
    let _ = stream.write_all(&out).await;
    if defect == Defect::NoClose && head.status == Status::Ok {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let _ = stream.shutdown().await;
}

fn ok_head(len: u64) -> GetResponseHead {
    GetResponseHead::ok(SystemTime::now(), "standin", SystemTime::now() - Duration::from_secs(3600), len)
}

async fn failing(addr: SocketAddr, rfc: u32) -> Vec<&'static str> {
    let options = Options {
        cases: vec![],
        strict: true,
        timeout: Duration::from_secs(5),
        rfc: Some(p2pci::protocol::RfcNumber(rfc)),
    };
    let target = addr.to_string();
    let run = check(Suite::Upload, &target, &options, |_, _| {}, |_| {});
    let report =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("the suite within 60 s").unwrap();
    assert_eq!(report.skipped(), 0);
    report.failed_ids()
}

#[tokio::test]
async fn our_peer_passes_every_case_at_strict() {
    let server = TestServer::start().await;
    let peer = TestPeer::start(server.addr, "hostA", &[8600]).await;
    assert_eq!(failing(peer.upload_addr, 8600).await, Vec::<&str>::new());
    peer.quit().await;
}

#[tokio::test]
async fn the_defects_are_caught_by_exactly_their_cases() {
    for (defect, cases) in [
        (Defect::None, &[][..]),
        (Defect::WrongContentLength, &["p2p.get.content-length"]),
        (Defect::NoClose, &["p2p.get.close"]),
        (Defect::PathReachesFs, &["p2p.error.path"]),
    ] {
        let addr = standin(defect, rfc_dir()).await;
        assert_eq!(failing(addr, 8600).await, cases, "{defect:?}");
    }
}

#[test]
fn without_rfc_the_held_file_cases_are_skipped() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let addr = rt.block_on(standin(Defect::None, rfc_dir()));
    let _serving = std::thread::spawn(move || rt.block_on(std::future::pending::<()>()));
    let out = Proc::spawn(["check", "upload", &addr.to_string(), "--json"]).finish();
    assert!(out.status.success(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let skipped: Vec<&str> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "skipped")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(skipped.iter().all(|id| id.starts_with("p2p.get.")), "{skipped:?}");
    assert_eq!(skipped.len(), 8);
    assert_eq!(v["failed"], 0);
}
