//! The Redis store records its metrics under the fixed names: round trips
//! by operation, lease renewals and expiries, repairs, whether Redis is up
//! and how old the local copy is.

use crate::common::redis_server as shared;

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use p2pci::protocol::Status;
use shared::{RedisServer, SharedServer};

/// What has been recorded so far (a snapshot empties the recorder, so
/// snapshots are added up here).
#[derive(Default)]
struct Seen {
    counters: HashMap<String, u64>,
    /// Every value each gauge was seen with.
    gauges: HashMap<String, Vec<f64>>,
    /// Samples per histogram and `op` label.
    histograms: HashMap<(String, String), usize>,
}

impl Seen {
    fn take(&mut self, snap: &Snapshotter) {
        for (k, _, _, v) in snap.snapshot().into_vec() {
            let key = k.key();
            let name = key.name().to_owned();
            match v {
                DebugValue::Counter(n) => *self.counters.entry(name).or_default() += n,
                DebugValue::Gauge(g) => self.gauges.entry(name).or_default().push(g.0),
                DebugValue::Histogram(h) => {
                    let op = key
                        .labels()
                        .find(|l| l.key() == "op")
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default();
                    *self.histograms.entry((name, op)).or_default() += h.len();
                }
            }
        }
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

async fn until_counted(seen: &mut Seen, snap: &Snapshotter, name: &str) {
    within(name, async {
        loop {
            seen.take(snap);
            if seen.counter(name) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_records_its_metrics() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    recorder.install().expect("the only recorder in this test binary");
    let Some(redis) = RedisServer::start() else { return };
    let a = SharedServer::start(&redis.url(), Duration::from_secs(1)).await;
    let mut p = Raw::connect(a.addr).await;
    p.send(add(1, "h", 1, "t")).await;
    assert_eq!(p.response().await.status, Status::Ok);

    // A server that dies: its lease expires and this one reaps it.
    let mut victim = ChildServer::spawn(&["--store", &redis.url(), "--lease", "1"]);
    let mut q = Raw::connect(victim.addr).await;
    q.send(add(2, "doomed", 2, "t")).await;
    assert_eq!(q.response().await.status, Status::Ok);
    victim.proc.kill();
    let mut seen = Seen::default();
    until_counted(&mut seen, &snap, "p2pci_store_lease_expiries_total").await;
    // Redis losing its data: a repair.
    redis.cmd(&["FLUSHALL"]).await;
    until_counted(&mut seen, &snap, "p2pci_store_repairs_total").await;
    seen.take(&snap);
    assert!(seen.counter("p2pci_store_lease_renewals_total") > 0);
    assert!(seen.gauges["p2pci_store_up"].contains(&1.0));
    assert!(seen.gauges["p2pci_store_staleness_seconds"].iter().all(|&s| (0.0..5.0).contains(&s)));
    for op in ["write", "renew", "reap", "snapshot", "load"] {
        let n = seen.histograms.get(&("p2pci_store_roundtrip_seconds".to_owned(), op.to_owned()));
        assert!(n.is_some_and(|&n| n > 0), "no round trips recorded for {op}");
    }
    drop(a);
}
