//! What an upload server serves (PROTOCOL.md, Limits): only regular files
//! that lie in its folder, under canonical names. A symbolic link leading
//! out, a FIFO, a device, a directory, a socket: 404, and looking at one
//! never blocks the server. `rfc0001.txt` is neither advertised nor served.
//! The files skipped are said once, with why.

use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::peer::{NetEvent, Peer};

const NOT_FOUND_GET: &[u8] = b"P2P-CI/1.0 404 Not Found\r\n\r\n";

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path, for the length of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "{}", std::io::Error::last_os_error());
}

/// GET RFC `n` on a fresh connection; everything until the close.
async fn get(addr: SocketAddr, n: &str) -> Vec<u8> {
    let mut c = Raw::connect(addr).await;
    c.send(format!("GET RFC {n} P2P-CI/1.0\r\nHost: x\r\n\r\n")).await;
    c.until_closed().await
}

/// The body of a 200 answer, or a panic saying what came instead.
fn body_of(all: &[u8]) -> &[u8] {
    assert!(
        all.starts_with(b"P2P-CI/1.0 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&all[..all.len().min(60)])
    );
    let at = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
    &all[at..]
}

/// The attack and its relatives, against a real peer: its folder
/// holds a link to /etc/passwd, links leading out by a relative and an
/// absolute path, a link to a device, a FIFO, a directory, a socket and a
/// misnamed copy, all under RFC names; plus a link that stays inside. Only
/// the regular files inside are advertised and served; the link inside is
/// served; everything else is 404; the files skipped are reported once
/// each, before the peer reaches the index.
#[tokio::test]
async fn only_regular_files_inside_the_folder_are_advertised_and_served() {
    let server = TestServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("victim");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(tmp.path().join("outside.txt"), "outside the folder").unwrap();
    std::fs::write(dir.join("rfc8600.txt"), shipped(8600)).unwrap();
    std::fs::create_dir(dir.join("texts")).unwrap();
    std::fs::write(dir.join("texts/8601"), shipped(8601)).unwrap();
    symlink("texts/8601", dir.join("rfc8601.txt")).unwrap();
    symlink("/etc/passwd", dir.join("rfc9999.txt")).unwrap();
    symlink("../outside.txt", dir.join("rfc9998.txt")).unwrap();
    symlink(tmp.path().join("outside.txt"), dir.join("rfc9997.txt")).unwrap();
    symlink("/dev/null", dir.join("rfc9996.txt")).unwrap();
    symlink("/dev/zero", dir.join("rfc9995.txt")).unwrap();
    mkfifo(&dir.join("rfc9994.txt"));
    std::fs::create_dir(dir.join("rfc9993.txt")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("rfc9992.txt")).unwrap();
    std::fs::write(dir.join("rfc0001.txt"), shipped(8602)).unwrap();

    let config = peer_config(server.addr, "victim", &[], dir.clone());
    let (peer, mut events) = Peer::start(config).await.unwrap();
    let mut notices = Vec::new();
    within("connected", async {
        loop {
            match events.recv().await.expect("events") {
                NetEvent::Connected { .. } => break,
                NetEvent::Skipped(s) => notices.extend(s.iter().map(|s| s.to_string())),
                _ => {}
            }
        }
    })
    .await;
    notices.sort();
    let leads_out = "a symbolic link leading out of the folder";
    assert_eq!(
        notices,
        [
            "not sharing rfc0001.txt: not a canonical name (RFC 1 is shared only as rfc1.txt)".to_owned(),
            "not sharing rfc9992.txt: not a regular file (a socket or device)".into(),
            "not sharing rfc9993.txt: not a regular file (a directory)".into(),
            "not sharing rfc9994.txt: not a regular file (a FIFO)".into(),
            format!("not sharing rfc9995.txt: {leads_out}"),
            format!("not sharing rfc9996.txt: {leads_out}"),
            format!("not sharing rfc9997.txt: {leads_out}"),
            format!("not sharing rfc9998.txt: {leads_out}"),
            format!("not sharing rfc9999.txt: {leads_out}"),
        ]
    );
    let shared: Vec<u32> = peer.library.iter().map(|l| l.rfc.0).collect();
    assert_eq!(shared, [8600, 8601]);

    let addr = peer.upload_addr;
    assert_eq!(body_of(&get(addr, "8600").await), shipped(8600));
    assert_eq!(body_of(&get(addr, "8601").await), shipped(8601), "a link inside the folder is served");
    for n in ["9999", "9998", "9997", "9996", "9995", "9994", "9993", "9992", "1", "0001"] {
        let t = Instant::now();
        assert_eq!(get(addr, n).await, NOT_FOUND_GET, "GET RFC {n}");
        assert!(t.elapsed() < Duration::from_secs(1), "GET RFC {n} took {:?}", t.elapsed());
    }
    // Still serving.
    assert_eq!(body_of(&get(addr, "8600").await), shipped(8600));
    drop(events);
    within("peer shutdown", peer.shutdown(Duration::from_secs(3))).await;
}

/// A file swapped for a link after it was advertised is judged when it is
/// opened: 404, never the file the link leads to.
#[tokio::test]
async fn a_file_replaced_by_a_link_out_after_the_start_is_404() {
    let server = TestServer::start().await;
    let peer = TestPeer::start(server.addr, "swapper", &[8600]).await;
    assert_eq!(body_of(&get(peer.upload_addr, "8600").await), shipped(8600));
    let path = peer.dir.join("rfc8600.txt");
    std::fs::remove_file(&path).unwrap();
    symlink("/etc/passwd", &path).unwrap();
    assert_eq!(get(peer.upload_addr, "8600").await, NOT_FOUND_GET);
    peer.quit().await;
}

/// The start line of a headless peer names its upload server's address.
fn upload_addr(line: &str) -> SocketAddr {
    let rest = line.split("upload server on ").nth(1).unwrap_or_else(|| panic!("{line}"));
    rest.split(';').next().unwrap().trim().parse().unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// A FIFO under an RFC's name, GET by GET, in the real binary with one
/// thread and with four: each GET of it is 404 at once, and the GETs of a
/// real file after it are served in full (the FIFO used to freeze the
/// whole upload server until something opened it for writing). Headless
/// output says once that the FIFO is not shared.
#[tokio::test]
async fn a_fifo_does_not_freeze_the_upload_server() {
    let server = TestServer::start().await;
    for threads in ["1", "4"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fifo");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("rfc8600.txt"), shipped(8600)).unwrap();
        mkfifo(&dir.join("rfc9999.txt"));
        let mut peer = Proc::headless_peer(server.addr, "fifo", &dir, &[], &["--threads", threads]);
        let addr = upload_addr(&peer.wait_out("the start line", |l| l.starts_with("* peer ")));
        for round in 0..3 {
            let t = Instant::now();
            assert_eq!(get(addr, "9999").await, NOT_FOUND_GET, "threads {threads}, round {round}");
            assert!(t.elapsed() < Duration::from_secs(1), "the FIFO's 404 took {:?}", t.elapsed());
            for _ in 0..3 {
                assert_eq!(body_of(&get(addr, "8600").await), shipped(8600), "threads {threads}");
            }
        }
        let line = peer.wait_out("the FIFO reported", |l| l.contains("rfc9999.txt"));
        assert_eq!(line, "* not sharing rfc9999.txt: not a regular file (a FIFO)");
        peer.say("close");
        let done = peer.finish();
        assert!(!done.stdout.contains("rfc9999.txt"), "said once: {}", done.stdout);
    }
}

/// A misnamed file dropped into the folder later is reported at the next
/// reading of the folder, and only once however often it is read again; so
/// are an empty file and one named in capitals, shared as neither.
#[tokio::test]
async fn a_misnamed_file_dropped_in_later_is_reported_once() {
    use p2pci::peer::Command;
    let server = TestServer::start().await;
    let mut peer = TestPeer::start(server.addr, "later", &[8600]).await;
    std::fs::write(peer.dir.join("rfc0003.txt"), shipped(8601)).unwrap();
    std::fs::write(peer.dir.join("rfc8803.txt"), "").unwrap();
    std::fs::write(peer.dir.join("RFC8804.TXT"), shipped(8601)).unwrap();
    for _ in 0..3 {
        peer.send(Command::Rescan { advertise_new: false });
    }
    // A change that makes an event of its own, to know the rescans are done.
    std::fs::write(peer.dir.join("rfc8602.txt"), shipped(8602)).unwrap();
    peer.send(Command::Rescan { advertise_new: false });
    let mut said = Vec::new();
    within("the new library", async {
        loop {
            match peer.events.recv().await.expect("events") {
                NetEvent::Library(l) => {
                    assert_eq!(l.iter().map(|l| l.rfc.0).collect::<Vec<_>>(), [8600, 8602]);
                    break;
                }
                NetEvent::Skipped(s) => said.extend(s.iter().map(|s| s.to_string())),
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(
        said,
        [
            "not sharing RFC8804.TXT: named in the wrong case (RFC 8804 is shared only as rfc8804.txt)",
            "not sharing rfc0003.txt: not a canonical name (RFC 3 is shared only as rfc3.txt)",
            "not sharing rfc8803.txt: an empty file",
        ]
    );
    assert_eq!(get(peer.upload_addr, "3").await, NOT_FOUND_GET);
    assert_eq!(get(peer.upload_addr, "8803").await, NOT_FOUND_GET);
    assert_eq!(get(peer.upload_addr, "8804").await, NOT_FOUND_GET);
    peer.quit().await;
}
