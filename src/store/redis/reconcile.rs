//! The reconcile: Redis made to hold exactly this server's live peers.
//!
//! The owner's half of convergence by construction. The writer keeps a
//! [`Ledger`] of what Redis should hold under this server's id once every
//! change it has taken has been applied: per live peer, a
//! [`Digest`] of its records. Every [`check_every`](Shared::check_every),
//! at its place among the batches, it asks Redis (CHECK, one small script)
//! whether the server's digest there is the ledger's and the fence is in
//! order; if not (Redis restarted empty, flushed, back to an older dump or
//! a lagging replica; the others reaped this server during a partition; a
//! batch timed out), RECONCILE removes every peer Redis holds for this
//! server that is not live, and the writer writes again the records of the
//! live peers Redis lacks. Nothing here depends on knowing which fault it
//! was. Since the writer is the one task that writes this server's peers,
//! no removal queued meanwhile can be overtaken by the repair.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use redis::Value;
use tracing::{debug, info};

use super::Shared;
use super::digest::{Digest, weight};
use super::error::{Result, StoreError};
use super::values::{as_u64, preview};
use super::writer::{Change, Fenced, WRITE_BATCH, Written};
use crate::index::ConnId;

/// What Redis should hold for this server, and the writer's fencing token.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    peers: HashMap<ConnId, Digest>,
    total: Digest,
    /// The token of the last script sent (0: none yet).
    token: u64,
}

impl Ledger {
    /// The next script's token, and the one it follows.
    pub(super) fn next_token(&mut self) -> (u64, u64) {
        let prev = self.token;
        self.token += 1;
        (self.token, prev)
    }

    /// Changes taken by the writer (sent or not).
    pub(super) fn count(&mut self, batch: &[Change]) {
        for c in batch {
            match c {
                Change::Add { conn, rfc, .. } => {
                    let w = weight(conn.0, *rfc);
                    self.peers.entry(*conn).or_default().add(w);
                    self.total.add(w);
                }
                Change::Remove(conn) => {
                    if let Some(d) = self.peers.remove(conn) {
                        self.total.take(d);
                    }
                }
            }
        }
    }

    /// What a batch came to; returns whether Redis must be put right (and
    /// marks the store so until it is).
    pub(super) fn settle(&mut self, s: &Shared, w: Written) -> bool {
        for (conn, rfc) in w.refused {
            let one = Digest { records: 1, weight: weight(conn.0, rfc) };
            if let Some(d) = self.peers.get_mut(&conn) {
                d.take(one);
                self.total.take(one);
            }
        }
        if w.trouble {
            s.dirty.store(true, Ordering::Relaxed);
        }
        w.trouble
    }

    /// Checks Redis against the ledger (at once a reconcile when a write
    /// found trouble) and puts it right. Runs between batches, with none
    /// in flight.
    pub(super) async fn put_right(&mut self, s: &Shared) -> Result<()> {
        if !s.dirty.load(Ordering::Relaxed) {
            match s.check(self.next_token(), self.total).await? {
                (Fenced::InOrder, true) => {
                    s.up();
                    return Ok(());
                }
                (Fenced::Late, _) => return Err(StoreError::Fenced),
                (fenced, _) => debug!(server = %s.id_hex, ?fenced, "redis differs from this server's peers"),
            }
        }
        s.dirty.store(true, Ordering::Relaxed);
        let (removed, redo) = s.reconcile(self.next_token(), &self.peers).await?;
        // The live peers' records Redis lacks, as they are now (a peer gone
        // since has its removal queued behind this, and is left out).
        let changes: Vec<Change> = {
            let v = s.view();
            redo.iter()
                .filter_map(|c| Some((*c, v.own.get(c)?)))
                .flat_map(|(conn, o)| {
                    let index = &v.index;
                    o.rfcs.iter().filter_map(move |&rfc| {
                        Some(Change::Add {
                            conn,
                            host: o.host.clone(),
                            port: o.port,
                            rfc,
                            title: index.held(conn, rfc)?.title().into(),
                            fresh: false,
                            done: None,
                        })
                    })
                })
                .collect()
        };
        let rewritten = changes.len();
        let mut changes = changes.into_iter().peekable();
        while changes.peek().is_some() {
            let chunk: Vec<Change> = changes.by_ref().take(WRITE_BATCH).collect();
            let w = s.write_batch(chunk, self.next_token()).await;
            if self.settle(s, w) {
                return Err(StoreError::Unavailable);
            }
        }
        if removed > 0 || rewritten > 0 {
            metrics::counter!("p2pci_store_repairs_total").increment(1);
            info!(server = %s.id_hex, removed, peers = redo.len(), records = rewritten,
                "redis put right about this server's peers: peers it no longer has removed, records it lacked written");
        }
        s.dirty.store(false, Ordering::Relaxed);
        s.up();
        Ok(())
    }
}

impl Shared {
    /// CHECK: whether the fence is in order and Redis's digest of this
    /// server is `want`.
    async fn check(&self, token: (u64, u64), want: Digest) -> Result<(Fenced, bool)> {
        let k = &self.keys;
        let mut c = self.conn();
        let v: Value = self
            .call(
                "check",
                self.scripts
                    .check
                    .key(k.fence(&self.id_hex))
                    .key(k.dig(&self.id_hex))
                    .arg(token.0)
                    .arg(token.1)
                    .arg(want.records)
                    .arg(want.weight)
                    .invoke_async(&mut c),
            )
            .await?;
        let garbage = || StoreError::Garbage(format!("check script answered {}", preview(&v)));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let [fenced, same] = items.as_slice() else { return Err(garbage()) };
        Ok((Fenced::parse(fenced).ok_or_else(garbage)?, as_u64(same).ok_or_else(garbage)? == 1))
    }

    /// RECONCILE: removes what Redis holds for this server beyond `live`;
    /// returns how many peers went, and the live peers to write again.
    async fn reconcile(
        &self,
        token: (u64, u64),
        live: &HashMap<ConnId, Digest>,
    ) -> Result<(u64, Vec<ConnId>)> {
        let k = &self.keys;
        let mut inv = self.scripts.reconcile.prepare_invoke();
        inv.key(&k.seq).key(&k.rec).key(&k.log).key(&k.bytes);
        inv.key(k.fence(&self.id_hex)).key(k.peers(&self.id_hex)).key(k.dig(&self.id_hex));
        inv.arg(&k.prefix).arg(&self.id_hex).arg(self.config.log_len).arg(token.0).arg(token.1);
        for (conn, d) in live.iter().filter(|(_, d)| d.records > 0) {
            inv.arg(conn.0).arg(d.records).arg(d.weight);
        }
        let mut c = self.conn();
        let v: Value = self.call("reconcile", inv.invoke_async(&mut c)).await?;
        let garbage = || StoreError::Garbage(format!("reconcile script answered {}", preview(&v)));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let Some((fenced, rest)) = items.split_first() else { return Err(garbage()) };
        if Fenced::parse(fenced).ok_or_else(garbage)? == Fenced::Late {
            return Err(StoreError::Fenced);
        }
        let Some((removed, redo)) = rest.split_first() else { return Err(garbage()) };
        let redo = redo.iter().map(|c| as_u64(c).map(ConnId).ok_or_else(garbage)).collect::<Result<_>>()?;
        Ok((as_u64(removed).ok_or_else(garbage)?, redo))
    }
}
