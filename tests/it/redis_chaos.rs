//! Chaos: 200 peers join, advertise and leave over three servers (the real
//! binary) while servers are killed with SIGKILL and restarted and Redis is
//! restarted empty; afterwards every server's index is exactly the live
//! peers' records.

use crate::common::redis_server as shared;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use p2pci::protocol::{Record, Status};
use shared::RedisServer;

const PEERS: usize = 200;

struct Live {
    conn: Raw,
    server: usize,
    records: Vec<Record>,
}

/// Joins server `server` as peer `i` and advertises its RFCs.
async fn join(addrs: &[SocketAddr], server: usize, i: usize) -> Live {
    let host = format!("p{i}");
    let port = 1000 + i as u16;
    let mut conn = Raw::connect(addrs[server]).await;
    let mut records = Vec::new();
    for rfc in [(i % 7) as u32, 100 + (i % 11) as u32] {
        let title = format!("T{rfc}");
        conn.send(add(rfc, &host, port, &title)).await;
        let r = conn.response().await;
        assert_eq!(r.status, Status::Ok);
        records.push(rec(rfc, &title, &host, port));
    }
    Live { conn, server, records }
}

fn spawn_server(port: u16, url: &str) -> ChildServer {
    ChildServer::respawn(port, &["--store", url, "--lease", "1"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_matches_the_live_peers_after_chaos() {
    raise_fd_limit();
    let Some(mut redis) = RedisServer::start() else { return };
    let url = redis.url();
    let mut servers: Vec<ChildServer> = (0..3).map(|_| spawn_server(0, &url)).collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let mut live: Vec<Option<Live>> = Vec::new();
    let started = Instant::now();
    for i in 0..PEERS {
        live.push(Some(join(&addrs, i % 3, i).await));
        // Every fifth peer leaves again, every other one abruptly.
        if i % 5 == 4 {
            let gone = live[i - 2].take();
            if let Some(p) = gone
                && i % 10 == 4
            {
                p.conn.reset();
            }
        }
        match i {
            // A server crashes; half its peers move to the next server and
            // advertise again there (as a peer with a server list does).
            50 | 150 => {
                let k = if i == 50 { 0 } else { 1 };
                servers[k].proc.kill();
                for (j, slot) in live.iter_mut().enumerate() {
                    if slot.as_ref().is_some_and(|p| p.server == k) {
                        *slot = None;
                        if j % 2 == 0 {
                            *slot = Some(join(&addrs, (k + 1) % 3, j).await);
                        }
                    }
                }
                servers[k] = spawn_server(addrs[k].port(), &url);
            }
            // Redis loses everything while peers keep coming.
            100 => redis.restart_empty(),
            _ => {}
        }
    }
    let want = sorted(live.iter().flatten().flat_map(|p| p.records.clone()).collect());
    eprintln!(
        "{} live peers, {} records, chaos took {:?}",
        live.iter().flatten().count(),
        want.len(),
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    for &addr in &addrs {
        loop {
            let got = sorted(list_of(addr).await);
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server {addr}: {} records, want {}; extra {:?}, missing {:?}",
                got.len(),
                want.len(),
                got.iter().filter(|r| !want.contains(r)).take(5).collect::<Vec<_>>(),
                want.iter().filter(|r| !got.contains(r)).take(5).collect::<Vec<_>>(),
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Redis holds exactly the same records.
    let held = redis.cmd(&["HLEN", "{p2pci}:rec"]).await;
    assert_eq!(held, redis::Value::Int(want.len() as i64));
    eprintln!("converged {:?} after the start", started.elapsed());
}
