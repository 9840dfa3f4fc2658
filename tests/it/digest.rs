//! The content-digest extension end to end (PROTOCOL.md, Extension: content
//! digest): the downloader asks, checks what it is told, and moves on from
//! an uploader whose file does not match its digest, keeping nothing.

use std::net::SocketAddr;
use std::path::Path;

use crate::common::*;
use p2pci::peer::download::{self, DownloadConfig};
use p2pci::peer::upload::{self, UploadConfig};
use p2pci::peer::{DownloadError, DownloadEvent, DownloadId, Holder, NetEvent};
use p2pci::protocol::{RfcNumber, Sha256Digest};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A raw uploader answering every GET with `head_extra` after the five
/// headers, then `body`; the requests it read go to `seen`.
async fn raw_uploader(head_extra: String, body: Vec<u8>) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (body, extra, seen_tx) = (body.clone(), head_extra.clone(), seen_tx.clone());
            tokio::spawn(async move {
                let Some(head) = read_head(&mut s).await else { return };
                let _ = seen_tx.send(head);
                // The dates as PROTOCOL.md's example writes them, wrong
                // weekday and all: a downloader must not mind.
                let head = format!(
                    "P2P-CI/1.0 200 OK\r\nDate: Wed, 12 Feb 2009 15:12:05 GMT\r\nOS: Other 1.0\r\n\
                     Last-Modified: Thu, 21 Jan 2001 09:23:46 GMT\r\nContent-Length: {}\r\n\
                     Content-Type: text/plain\r\n{extra}\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, seen)
}

/// A real upload server over `dir`.
async fn real_uploader(dir: &Path) -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = UploadConfig::new(dir.to_owned(), "TestOS".into());
    tokio::spawn(upload::run(listener, config, None, stop.clone()));
    (addr, stop)
}

fn holder(port: u16) -> Holder {
    Holder { host: "127.0.0.1".into(), port }
}

/// Runs one download; returns what it got, the holder failures and the
/// final event.
async fn fetch(
    dir: &Path,
    rfc: u32,
    holders: Vec<Holder>,
) -> (Option<p2pci::peer::LocalRfc>, Vec<(Holder, DownloadError)>, DownloadEvent) {
    let config = DownloadConfig::new(dir.to_owned(), "me".into(), "test".into());
    let (tx, mut rx) = mpsc::channel(1024);
    let got = within("download", download::run(DownloadId(1), RfcNumber(rfc), holders, &config, &tx)).await;
    drop(tx);
    let (mut failures, mut last) = (Vec::new(), None);
    while let Some(ev) = rx.recv().await {
        match ev {
            NetEvent::Download { event: DownloadEvent::HolderFailed { from, reason, .. }, .. } => {
                failures.push((from, reason))
            }
            NetEvent::Download {
                event: e @ (DownloadEvent::Done { .. } | DownloadEvent::Failed { .. }),
                ..
            } => last = Some(e),
            _ => {}
        }
    }
    (got, failures, last.expect("a final event"))
}

/// Everything in `dir`: no partial file may stay behind.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_p2pci_uploader_sends_the_digest_and_the_download_checks_it() {
    let from = tempfile::tempdir().unwrap();
    std::fs::write(from.path().join("rfc8700.txt"), shipped(8700)).unwrap();
    let (addr, _stop) = real_uploader(from.path()).await;
    let me = tempfile::tempdir().unwrap();
    let (got, failures, last) = fetch(me.path(), 8700, vec![holder(addr.port())]).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert!(matches!(last, DownloadEvent::Done { .. }), "{last:?}");
    assert!(got.is_some());
    assert_eq!(std::fs::read(me.path().join("rfc8700.txt")).unwrap(), shipped(8700));
    assert_eq!(files(me.path()), ["rfc8700.txt"]);
}

#[tokio::test]
async fn a_lying_uploader_is_left_for_the_next_holder_and_nothing_of_it_is_kept() {
    let body = shipped(8601);
    let wrong = Sha256Digest::of(b"something else");
    let (liar, mut seen) = raw_uploader(format!("Repr-Digest: sha-256={wrong}\r\n"), body.clone()).await;
    let from = tempfile::tempdir().unwrap();
    std::fs::write(from.path().join("rfc8601.txt"), &body).unwrap();
    let (honest, _stop) = real_uploader(from.path()).await;

    let me = tempfile::tempdir().unwrap();
    let (got, failures, last) = fetch(me.path(), 8601, vec![holder(liar), holder(honest.port())]).await;
    let request = within("the liar's request", seen.recv()).await.unwrap();
    assert!(request.contains("\r\nWant-Repr-Digest: sha-256=1\r\n"), "{request:?}");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, holder(liar));
    let want = DownloadError::DigestMismatch { announced: wrong, received: Sha256Digest::of(&body) };
    assert_eq!(failures[0].1, want);
    assert!(failures[0].1.to_string().starts_with("content digest mismatch: announced sha-256=:"));
    assert!(
        matches!(last, DownloadEvent::Done { ref from, .. } if *from == holder(honest.port())),
        "{last:?}"
    );
    assert!(got.is_some());
    assert_eq!(std::fs::read(me.path().join("rfc8601.txt")).unwrap(), body);
    assert_eq!(files(me.path()), ["rfc8601.txt"]);

    // With the liar alone: the download fails and nothing is kept.
    let alone = tempfile::tempdir().unwrap();
    let (got, failures, last) = fetch(alone.path(), 8601, vec![holder(liar)]).await;
    assert!(got.is_none());
    assert_eq!(failures.len(), 1);
    match last {
        DownloadEvent::Failed { reason: DownloadError::AllFailed { tried: 1, error, .. }, .. } => {
            assert!(matches!(*error, DownloadError::DigestMismatch { .. }), "{error:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(files(alone.path()), Vec::<String>::new());
}

#[tokio::test]
async fn an_uploader_without_the_extension_still_serves_without_a_digest() {
    let body = shipped(8602);
    let (port, mut seen) = raw_uploader(String::new(), body.clone()).await;
    let me = tempfile::tempdir().unwrap();
    let (got, failures, last) = fetch(me.path(), 8602, vec![holder(port)]).await;
    let request = within("the request", seen.recv()).await.unwrap();
    assert!(request.contains("Want-Repr-Digest: sha-256=1"), "asked all the same: {request:?}");
    assert!(failures.is_empty(), "{failures:?}");
    assert!(matches!(last, DownloadEvent::Done { bytes, .. } if bytes == body.len() as u64), "{last:?}");
    assert!(got.is_some());
    assert_eq!(std::fs::read(me.path().join("rfc8602.txt")).unwrap(), body);
    assert_eq!(files(me.path()), ["rfc8602.txt"]);
}

/// An unreadable digest is a bad answer, not a file kept unchecked.
#[tokio::test]
async fn a_malformed_digest_is_a_bad_answer() {
    let (port, _seen) = raw_uploader("Repr-Digest: sha-256=:AAAA:\r\n".into(), shipped(8603)).await;
    let me = tempfile::tempdir().unwrap();
    let (got, failures, _) = fetch(me.path(), 8603, vec![holder(port)]).await;
    assert!(got.is_none());
    assert!(matches!(failures[0].1, DownloadError::BadAnswer(_)), "{failures:?}");
    assert_eq!(files(me.path()), Vec::<String>::new());
}
