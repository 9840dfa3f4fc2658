//! `p2pci check server` against small stand-in index servers, each with
//! one defect real implementations have: each must be caught by exactly
//! the cases that name it, and pass the rest. The stand-in without a defect
//! passes every case at --strict, which shows the suite judges the
//! protocol and not p2pci's own server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p2pci::check::case::Suite;
use p2pci::check::{Options, check};
use p2pci::protocol::{Limits, P2sMethodRef, P2sResponse, PeerId, Record, Status, parse_p2s};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    None,
    /// No empty line between the status line and the records.
    NoEmptyLineAfterStatus,
    /// Bare LF line ends in every answer.
    LfOnly,
    /// Records stay when the connection is reset (only a FIN removes them).
    KeepsRecordsOnReset,
    /// Whatever came after a request in the same read is thrown away.
    DropsPipelined,
    /// After a 400, only the refused request's first line is skipped.
    DesyncAfter400,
    /// An empty LIST is answered 404.
    NotFoundForEmptyList,
}

#[derive(Default)]
struct Index {
    /// Newest first: (connection, record).
    records: Vec<(u64, Record)>,
}

/// Starts a stand-in on 127.0.0.1 with `defect`; it serves until the test's
/// runtime ends.
pub async fn standin(defect: Defect) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let index = Arc::new(Mutex::new(Index::default()));
    tokio::spawn(async move {
        let mut next = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            next += 1;
            tokio::spawn(serve(stream, next, defect, index.clone()));
        }
    });
    addr
}

fn answer(status: Status, records: Vec<Record>, defect: Defect) -> Vec<u8> {
    let mut out = Vec::new();
    P2sResponse { status, records }.encode(&mut out);
    match defect {
        Defect::LfOnly => {
            out = String::from_utf8(out).unwrap().replace("\r\n", "\n").into_bytes();
        }
        Defect::NoEmptyLineAfterStatus => {
            let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            out.drain(at..at + 2);
        }
        _ => {}
    }
    out
}

async fn serve(mut stream: TcpStream, conn: u64, defect: Defect, index: Arc<Mutex<Index>>) {
    let limits = Limits::default();
    let mut buf = Vec::new();
    let mut peer: Option<PeerId> = None;
    let mut chunk = [0u8; 8192];
    let keep = loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break defect == Defect::KeepsRecordsOnReset,
        }
        loop {
            let (out, used) = match parse_p2s(&buf, &limits) {
                Ok(None) => break,
                Err(_) => {
                    let _ = stream.write_all(&answer(Status::BadRequest, vec![], defect)).await;
                    let _ = stream.shutdown().await;
                    // Read what is left, so the close is no reset.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while matches!(stream.read(&mut chunk).await, Ok(n) if n > 0) {}
                    })
                    .await;
                    index.lock().unwrap().records.retain(|(c, _)| *c != conn);
                    return;
                }
                Ok(Some((Err(e), used))) => {
                    let used = if defect == Defect::DesyncAfter400 && e.status() == Status::BadRequest {
                        buf.iter().position(|&b| b == b'\n').map_or(used, |p| p + 1)
                    } else {
                        used
                    };
                    (answer(e.status(), vec![], defect), used)
                }
                Ok(Some((Ok(req), used))) => {
                    let mut ix = index.lock().unwrap();
                    let me = PeerId { host: req.peer.host.to_owned(), port: req.peer.port };
                    let out = match req.method {
                        P2sMethodRef::Add { rfc, title } => match &peer {
                            Some(p) if !p.host.eq_ignore_ascii_case(&me.host) || p.port != me.port => {
                                answer(Status::BadRequest, vec![], defect)
                            }
                            _ => {
                                let p = peer.get_or_insert(me).clone();
                                let existing = ix.records.iter().find(|(c, r)| *c == conn && r.rfc == rfc);
                                let record = match existing {
                                    Some((_, r)) => r.clone(),
                                    None => {
                                        let r = Record {
                                            rfc,
                                            title: title.to_owned(),
                                            host: p.host,
                                            port: p.port,
                                        };
                                        ix.records.insert(0, (conn, r.clone()));
                                        r
                                    }
                                };
                                answer(Status::Ok, vec![record], defect)
                            }
                        },
                        P2sMethodRef::Lookup { rfc, .. } => {
                            let found: Vec<Record> = ix
                                .records
                                .iter()
                                .filter(|(_, r)| r.rfc == rfc)
                                .map(|(_, r)| r.clone())
                                .collect();
                            let status = if found.is_empty() { Status::NotFound } else { Status::Ok };
                            answer(status, found, defect)
                        }
                        P2sMethodRef::List => {
                            let all: Vec<Record> = ix.records.iter().map(|(_, r)| r.clone()).collect();
                            let status = if all.is_empty() && defect == Defect::NotFoundForEmptyList {
                                Status::NotFound
                            } else {
                                Status::Ok
                            };
                            answer(status, all, defect)
                        }
                    };
                    (out, used)
                }
            };
            if stream.write_all(&out).await.is_err() {
                break;
            }
            buf.drain(..used);
            if defect == Defect::DropsPipelined {
                buf.clear();
            }
        }
    };
    if !keep {
        index.lock().unwrap().records.retain(|(c, _)| *c != conn);
    }
}

/// The ids of the cases that fail against a stand-in with `defect`.
async fn failing(defect: Defect, strict: bool) -> Vec<&'static str> {
    let addr = standin(defect).await;
    let options = Options { cases: vec![], strict, timeout: Duration::from_secs(5), rfc: None };
    // A defective answer may cost a grace of silence each (500 ms), so a
    // broken stand-in takes longer than the 30 s a correct server gets.
    let started = std::time::Instant::now();
    let target = addr.to_string();
    let run = check(Suite::Server, &target, &options, |_, _| {}, |_| {});
    let report =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("the suite within 60 s").unwrap();
    eprintln!("{defect:?}: {:?}", started.elapsed());
    assert_eq!(report.skipped(), 0, "{defect:?}: nothing is skipped on a fresh stand-in");
    report.failed_ids()
}

#[tokio::test]
async fn a_correct_standin_passes_every_case_at_strict() {
    assert_eq!(failing(Defect::None, true).await, Vec::<&str>::new());
}

// One test per defect, so they run side by side.

#[tokio::test]
async fn no_empty_line_after_the_status_line() {
    assert_eq!(failing(Defect::NoEmptyLineAfterStatus, true).await, ["p2s.answer.shape"]);
}

#[tokio::test]
async fn bare_lf_line_ends() {
    assert_eq!(failing(Defect::LfOnly, true).await, ["framing.crlf.answer"]);
}

#[tokio::test]
async fn records_kept_after_a_reset() {
    assert_eq!(failing(Defect::KeepsRecordsOnReset, true).await, ["system.close.reset"]);
}

#[tokio::test]
async fn pipelined_requests_dropped() {
    assert_eq!(failing(Defect::DropsPipelined, true).await, ["p2s.pipelining"]);
}

#[tokio::test]
async fn desynchronised_after_a_400() {
    assert_eq!(failing(Defect::DesyncAfter400, true).await, ["p2s.bad.then-usable"]);
}

#[tokio::test]
async fn not_found_for_an_empty_list() {
    assert_eq!(failing(Defect::NotFoundForEmptyList, true).await, ["p2s.list.empty"]);
}
