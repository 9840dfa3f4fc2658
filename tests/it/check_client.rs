//! `p2pci check client`: the checker as index server and holders, our own
//! headless peer as the client under test. It must pass every case at
//! --strict; a client that misreads a form, or keeps a short file, would
//! fail the case that names it.

use crate::common::Proc;

#[test]
fn our_headless_peer_passes_every_client_case_at_strict() {
    let mut checker = Proc::spawn(["check", "client", "--listen", "127.0.0.1:0", "--wait", "60", "--strict"]);
    let line = checker.wait_out("the index address", |l| l.contains("the index server is "));
    let index: std::net::SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let forms = p2pci::check::client::Form::ALL.len();
    let mut gets = Vec::new();
    while gets.len() < forms {
        let l = checker.wait_out("a get line", |l| l.trim_start().starts_with("get "));
        gets.push(l.split_whitespace().nth(1).unwrap().to_owned());
    }
    let dir = tempfile::tempdir().unwrap();
    let mut peer = Proc::headless_peer(index, "hostC", &dir.path().join("hostC"), &[8600], &[]);
    peer.wait_out("connected", |l| l.starts_with("* connected"));
    for n in &gets {
        peer.say(&format!("get {n}"));
        peer.wait_out("the download's outcome", |l| {
            l.starts_with(&format!("OK downloaded RFC {n} "))
                || l.starts_with(&format!("ERR download RFC {n}:"))
        });
    }
    // The short file's holder asks the peer for it a second after the close.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    peer.say("close");
    assert!(peer.wait_exit().success());
    let out = checker.finish();
    let n = p2pci::check::cases(p2pci::check::case::Suite::Client).len();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(&format!("{n} passed, 0 failed, 0 skipped")), "{}", out.stdout);
    assert!(
        !dir.path().join("hostC").join(format!("rfc{}.txt", gets[forms - 1])).exists(),
        "the short file was kept"
    );
}

/// A scripted client with one defect, for the cases that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    /// A new index connection for its second request.
    Reconnects,
    /// Bare LF line ends in its requests.
    LfOnly,
    /// LOOKUPs, but never GETs from the holder named.
    IgnoresAnswer,
}

/// LOOKUPs `rfc` (twice), then GETs it from the holder the answer names.
async fn scripted(index: std::net::SocketAddr, rfc: u32, defect: Defect) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let end = |s: String| if defect == Defect::LfOnly { s.replace("\r\n", "\n") } else { s };
    let lookup =
        end(format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: scripted\r\nPort: 1\r\nTitle: RFC {rfc}\r\n\r\n"));
    let mut c = tokio::net::TcpStream::connect(index).await.unwrap();
    let mut holder = None;
    for i in 0..2 {
        if i == 1 && defect == Defect::Reconnects {
            c = tokio::net::TcpStream::connect(index).await.unwrap();
        }
        c.write_all(lookup.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\n") || answer.len() < 25 {
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0);
            answer.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(answer).unwrap();
        let record = text.lines().find(|l| l.starts_with("RFC ")).unwrap().to_owned();
        let words: Vec<&str> = record.split(' ').collect();
        holder = Some(format!("{}:{}", words[words.len() - 2], words[words.len() - 1]));
    }
    if defect != Defect::IgnoresAnswer {
        let mut h = tokio::net::TcpStream::connect(holder.unwrap()).await.unwrap();
        h.write_all(
            end(format!("GET RFC {rfc} P2P-CI/1.0\r\nHost: scripted\r\nOS: test\r\n\r\n")).as_bytes(),
        )
        .await
        .unwrap();
        let mut sink = Vec::new();
        h.read_to_end(&mut sink).await.unwrap();
    }
}

#[tokio::test]
async fn scripted_clients_fail_exactly_the_cases_naming_their_defect() {
    use p2pci::check::case::Ctx;
    use p2pci::check::client;
    use std::time::Duration;
    let picked = ["client.session.one-connection", "client.framing.crlf", "client.answer.exact"];
    for (defect, want) in [
        (Defect::None, &[][..]),
        (Defect::Reconnects, &["client.session.one-connection"]),
        (Defect::LfOnly, &["client.framing.crlf"]),
        (Defect::IgnoresAnswer, &["client.answer.exact"]),
    ] {
        let ctx = Ctx::new("127.0.0.1:0".into(), Duration::from_secs(5), None);
        let session = client::start("127.0.0.1:0".parse().unwrap(), &ctx).await.unwrap();
        let exact = session.offers.iter().find(|o| o.form == client::Form::Exact).unwrap().rfc.0;
        crate::common::within("the scripted client", scripted(session.index, exact, defect)).await;
        client::until_done(&session, Duration::from_secs(10)).await.unwrap();
        let cases: Vec<_> = client::CASES.iter().filter(|c| picked.contains(&c.id)).copied().collect();
        let report = client::judge(session, ctx, &cases, true, |_| {}).await;
        assert_eq!(report.failed_ids(), want, "{defect:?}");
    }
}
