//! The lease keeper: this server's lease, and the reaping of dead servers.
//!
//! A server proves it is alive by renewing a key with a TTL; one whose key
//! expired is dead, and any server removes its peers (atomically, in the
//! reap script). The renewal also reads the epoch, which is how a server
//! sees that Redis lost its data and asks for a resync.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;
use tracing::{info, warn};

use super::error::{Result, StoreError};
use super::values::{as_string, as_u64};
use super::{Shared, random_u64};

/// Between reaps of dead servers: the bound on "lease + 1 s" needs it well
/// under a second.
const REAP_EVERY: Duration = Duration::from_millis(250);

impl Shared {
    /// Renews the lease; asks for a resync when Redis lost this server's
    /// lease or its data (the epoch changed) since last time.
    pub(super) async fn renew(&self) -> Result<()> {
        let k = &self.keys;
        let mut c = self.conn();
        let lease_ms = self.lease_ms();
        let candidate = format!("{:016x}", random_u64());
        let v: Value = self
            .call(
                "renew",
                self.scripts
                    .renew
                    .key(k.lease(&self.id_hex))
                    .key(&k.servers)
                    .key(&k.epoch)
                    .arg(&self.id_hex)
                    .arg(lease_ms)
                    .arg(candidate)
                    .invoke_async(&mut c),
            )
            .await?;
        let garbage = || StoreError::Garbage(format!("lease script answered {v:?}"));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let [had, epoch] = items.as_slice() else { return Err(garbage()) };
        let had = as_u64(had).ok_or_else(garbage)? == 1;
        let epoch = as_string(epoch).ok_or_else(garbage)?;
        metrics::counter!("p2pci_store_lease_renewals_total").increment(1);
        let mut known = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        match known.as_deref() {
            None => *known = Some(epoch),
            Some(e) if e != epoch => {
                warn!(server = %self.id_hex, "redis lost its data (new epoch); re-publishing this server's peers");
                *known = Some(epoch);
                drop(known);
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                self.ask_resync();
            }
            Some(_) if !had => {
                drop(known);
                warn!(server = %self.id_hex, "this server's lease had lapsed; re-publishing its peers");
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                self.ask_resync();
            }
            Some(_) => {}
        }
        Ok(())
    }

    async fn reap(&self) -> Result<u64> {
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
                    .key(&k.peer_bytes)
                    .arg(&k.prefix)
                    .arg(self.config.log_len)
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
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(REAP_EVERY) => {}
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
