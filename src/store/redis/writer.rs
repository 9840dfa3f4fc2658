//! The writer: this server's changes, on their way to Redis in order.
//!
//! One task ([`Shared::publish`]) owns the order in which this server's
//! ADDs and removals reach Redis: a removal never overtakes its peer's
//! ADDs, and several batches may be on the wire at once otherwise. A batch
//! that fails leaves its changes in the local copy for the resync to write.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use redis::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::Shared;
use super::error::{Result, StoreError};
use super::values::{as_u64, preview};
use crate::index::{ConnId, record_cost};
use crate::protocol::RfcNumber;

/// Changes written to Redis in one script at most.
pub(super) const WRITE_BATCH: usize = 256;
/// Batches on their way to Redis at once.
const WRITES_IN_FLIGHT: usize = 8;

/// One of this server's changes, on its way to Redis.
#[derive(Debug)]
pub(super) enum Change {
    /// `done` hears when Redis has the record (`true`), or refused it
    /// because the shared index is at its budget (`false`); it is dropped
    /// when Redis could not be asked.
    Add {
        conn: ConnId,
        host: String,
        port: u16,
        rfc: RfcNumber,
        title: Box<str>,
        done: Option<oneshot::Sender<bool>>,
    },
    Remove(ConnId),
}

impl Change {
    pub(super) fn conn(&self) -> ConnId {
        match self {
            Change::Add { conn, .. } | Change::Remove(conn) => *conn,
        }
    }
}

impl Shared {
    /// Writes a batch of this server's changes to Redis, in one script;
    /// returns each change's sequence (0 for a removal).
    pub(super) async fn write(&self, changes: &[Change]) -> Result<Vec<u64>> {
        let k = &self.keys;
        let mut inv = self.scripts.batch.prepare_invoke();
        inv.key(&k.seq).key(&k.rec).key(k.peers(&self.id_hex)).key(&k.servers).key(&k.log);
        inv.key(k.lease(&self.id_hex)).key(&k.bytes).key(&k.peer_bytes);
        inv.arg(&self.id_hex).arg(self.config.log_len).arg(self.lease_ms());
        inv.arg(self.budget.load(Ordering::Relaxed));
        for c in changes {
            inv.key(k.peer(&self.id_hex, c.conn().0));
            match c {
                Change::Add { conn, host, port, rfc, title, .. } => {
                    let cost = record_cost(*rfc, title, host, *port);
                    inv.arg("a").arg(conn.0).arg(rfc.0).arg(*port).arg(host.as_str()).arg(&**title).arg(cost)
                }
                Change::Remove(conn) => inv.arg("d").arg(conn.0).arg(0).arg(0).arg("").arg("").arg(0),
            };
        }
        let mut c = self.conn();
        let v: Value = self.call("write", inv.invoke_async(&mut c)).await?;
        let garbage = || StoreError::Garbage(format!("write script answered {}", preview(&v)));
        let Value::Array(items) = &v else { return Err(garbage()) };
        if items.len() != changes.len() {
            return Err(garbage());
        }
        items.iter().map(|i| as_u64(i).ok_or_else(garbage)).collect()
    }

    /// Writes this server's changes as they come, many at a time, and gives
    /// each record its global sequence in the local copy. While Redis is
    /// away the changes wait in the local copy (a resync publishes them).
    ///
    /// Several batches may be on their way at once (Redis runs them in the
    /// order they were sent: each is queued on the connection before the
    /// next is made), except that a batch removing a peer waits for the
    /// batches before it: a removal must never overtake its peer's ADDs.
    /// The batches in flight are futures this task polls, not tasks of their
    /// own, so a batch costs no extra wake-up.
    pub(super) async fn publish(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<Change>) {
        let me = &*self;
        let mut inflight = FuturesUnordered::new();
        loop {
            let next = tokio::select! {
                biased;
                Some(()) = inflight.next(), if !inflight.is_empty() => continue,
                c = changes.recv(), if inflight.len() < WRITES_IN_FLIGHT => c,
                // Drain what connections queued before the server stopped.
                _ = me.cancel.cancelled() => changes.try_recv().ok(),
            };
            let Some(first) = next else { break };
            let mut batch = Vec::with_capacity(WRITE_BATCH);
            batch.push(first);
            while batch.len() < WRITE_BATCH
                && let Ok(c) = changes.try_recv()
            {
                batch.push(c);
            }
            if batch.iter().any(|c| matches!(c, Change::Remove(_))) {
                while inflight.next().await.is_some() {}
            }
            let mut write = Box::pin(me.write_batch(batch));
            // One poll queues the command on the connection, in order.
            if futures::poll!(write.as_mut()).is_pending() {
                inflight.push(write);
            }
        }
        while inflight.next().await.is_some() {}
    }

    /// Writes one batch and gives its records their place; on failure the
    /// resync takes over.
    async fn write_batch(&self, mut batch: Vec<Change>) {
        let written = if self.up.load(Ordering::Relaxed) && !self.resync.load(Ordering::Relaxed) {
            self.write(&batch).await
        } else {
            Err(StoreError::Unavailable)
        };
        match written {
            Ok(seqs) => {
                let mut v = self.view();
                for (c, seq) in batch.iter_mut().zip(seqs) {
                    if let Change::Add { conn, rfc, title, done, .. } = c {
                        if seq == 0 {
                            debug!(%conn, rfc = rfc.0, "ADD refused by redis: the shared index is at its memory budget");
                            v.drop_refused(*conn, *rfc);
                        } else {
                            v.place(*conn, *rfc, title, seq);
                        }
                        if let Some(done) = done.take() {
                            let _ = done.send(seq != 0);
                        }
                    }
                }
            }
            Err(e) => {
                if !matches!(e, StoreError::Unavailable) {
                    self.down("writing to redis", &e);
                }
                // Removals wait in `gone`; records stay in `own`: the
                // resync writes both.
                let mut v = self.view();
                for c in &batch {
                    if let Change::Remove(conn) = c {
                        v.gone.push(*conn);
                    }
                }
                drop(v);
                self.ask_resync();
            }
        }
    }
}
