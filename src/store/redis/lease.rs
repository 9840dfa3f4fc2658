//! The lease keeper: this server's lease, and the reaping of dead servers.
//!
//! A server proves it is alive by renewing a key with a TTL; one whose key
//! expired is dead, and any server removes its peers (atomically, in the
//! reap script). A renewal that finds its own lease gone (a pause or a
//! partition longer than the lease: the others may have reaped this
//! server's peers) asks the writer to reconcile at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;
use tracing::{info, warn};

use super::Shared;
use super::error::{Result, StoreError};
use super::values::as_u64;

/// Between reaps of dead servers: the bound on "lease + 1 s" needs it well
/// under a second.
const REAP_EVERY: Duration = Duration::from_millis(250);

/// How long a reaped server's fence is kept: a write of it delivered later
/// than this (a connection held by a partition for an hour) is not fenced.
const FENCE_KEPT_MS: u64 = 3_600_000;

impl Shared {
    /// Renews the lease; asks the writer for a reconcile when the lease
    /// had lapsed since the last renewal.
    pub(super) async fn renew(&self) -> Result<()> {
        let k = &self.keys;
        let mut c = self.conn();
        let v: Value = self
            .call(
                "renew",
                self.scripts
                    .renew
                    .key(k.lease(&self.id_hex))
                    .key(&k.servers)
                    .arg(&self.id_hex)
                    .arg(self.lease_ms())
                    .invoke_async(&mut c),
            )
            .await?;
        let had = as_u64(&v).ok_or_else(|| StoreError::Garbage(format!("lease script answered {v:?}")))? == 1;
        metrics::counter!("p2pci_store_lease_renewals_total").increment(1);
        if !had && self.renewed.swap(true, std::sync::atomic::Ordering::Relaxed) {
            warn!(server = %self.id_hex, "this server's lease had lapsed; reconciling its peers with redis");
            self.check_now.notify_one();
        }
        Ok(())
    }

    /// Reaps every server whose lease is gone; returns how many.
    pub(super) async fn reap(&self) -> Result<u64> {
        let k = &self.keys;
        let mut c = self.conn();
        let v: Value = self
            .call(
                "reap",
                self.scripts
                    .reap
                    .key(&k.servers)
                    .key(&k.seq)
                    .key(&k.rec)
                    .key(&k.log)
                    .key(&k.bytes)
                    .arg(&k.prefix)
                    .arg(self.config.log_len)
                    .arg(FENCE_KEPT_MS)
                    .invoke_async(&mut c),
            )
            .await?;
        as_u64(&v).ok_or_else(|| StoreError::Garbage(format!("reap script answered {v:?}")))
    }

    /// Renews the lease every third of it, and reaps dead servers often
    /// enough that their peers go within lease + 1 s.
    pub(super) async fn keep_lease(self: Arc<Self>) {
        let renew_every = (self.config.lease / 3).max(Duration::from_millis(50));
        let mut last_renew = Instant::now();
        let mut tick = tokio::time::interval(REAP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let synced = *self.synced.lock().unwrap_or_else(|p| p.into_inner());
            metrics::gauge!("p2pci_store_staleness_seconds").set(synced.elapsed().as_secs_f64());
            if last_renew.elapsed() >= renew_every {
                match self.renew().await {
                    Ok(()) => {
                        last_renew = Instant::now();
                        self.up();
                    }
                    Err(e) => {
                        self.down("renewing the lease", &e);
                        continue;
                    }
                }
            }
            match self.reap().await {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("p2pci_store_lease_expiries_total").increment(n);
                    info!(server = %self.id_hex, servers = n, "removed the peers of servers whose lease expired");
                }
                Err(e) => self.down("reaping expired servers", &e),
            }
        }
    }
}
