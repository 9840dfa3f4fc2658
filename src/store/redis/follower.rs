//! The follower: the change log, applied to the local copy as it grows.
//!
//! Every server reads the log (`XREAD BLOCK`, on a connection of its own so
//! a blocked read holds up no write), fetches the records its entries name
//! and applies them in sequence order. A gap in the sequence, an error or a
//! resync asked for sends it through [`Shared::sync`] and on from there.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use tracing::{info, warn};

use super::error::{Result, StoreError};
use super::values::{LogEntry, Stored, as_str, log_entries, preview};
use super::view::View;
use super::{BACKOFF_MAX, BACKOFF_MIN, Shared};
use crate::backoff::Backoff;
use crate::index::ConnId;

/// How long one `XREAD` waits for news before the follower looks around.
const BLOCK_MS: u64 = 1000;
/// Entries read from the log at once.
const READ_COUNT: usize = 4096;

impl Shared {
    /// Follows the log until stopped; on trouble (a gap, an error, a resync
    /// asked for) it rebuilds from a snapshot, backing off while Redis is away.
    pub(super) async fn follow(self: Arc<Self>, start: (String, u64)) {
        let (mut id, mut seq) = start;
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        let mut reader: Option<MultiplexedConnection> = None;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let step = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.read_log(&mut reader, &mut id, &mut seq) => r,
            };
            let failed = match step {
                Ok(Some(news)) => {
                    backoff.reset();
                    if news > 0 && !self.config.follow_pause.is_zero() {
                        tokio::select! {
                            _ = self.cancel.cancelled() => return,
                            _ = tokio::time::sleep(self.config.follow_pause) => {}
                        }
                    }
                    continue;
                }
                // A gap or a resync asked for.
                Ok(None) => None,
                Err(e) => {
                    reader = None;
                    Some(e)
                }
            };
            if let Some(e) = &failed {
                self.down("following the change log", e);
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
            let synced = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.sync() => r,
            };
            match synced {
                Ok((i, s)) => {
                    (id, seq) = (i, s);
                    backoff.reset();
                }
                Err(e) => {
                    self.down("rebuilding the local copy", &e);
                    // Try again after a backoff.
                    self.resync.store(true, Ordering::Relaxed);
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    /// Reads and applies one batch of the log; returns how many entries it
    /// applied. `Ok(None)`: the copy must be
    /// rebuilt (a gap in the sequence, or a resync asked for).
    async fn read_log(
        &self,
        reader: &mut Option<MultiplexedConnection>,
        id: &mut String,
        seq: &mut u64,
    ) -> Result<Option<usize>> {
        if self.resync.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let r = match reader {
            Some(r) => r,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.config.timeout))
                    .set_response_timeout(Some(self.config.timeout + Duration::from_millis(BLOCK_MS)));
                let client = self.connector.client().await?;
                let c = tokio::time::timeout(
                    self.config.timeout,
                    client.get_multiplexed_async_connection_with_config(&config),
                )
                .await
                .map_err(|_| StoreError::Timeout(self.config.timeout))??;
                reader.insert(c)
            }
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.keys.log)
            .arg(id.as_str());
        let read = cmd.query_async::<Value>(r);
        let v = tokio::select! {
            r = tokio::time::timeout(self.config.timeout + Duration::from_millis(BLOCK_MS), read) => match r {
                Ok(v) => v?,
                Err(_) => return Err(StoreError::Timeout(self.config.timeout)),
            },
            _ = self.wake.notified() => return Ok((!self.resync.load(Ordering::Relaxed)).then_some(0)),
        };
        let entries = log_entries(&v)?;
        let news = entries.len();
        let added = self.added_records(r, &entries).await?;
        let mut view = self.view();
        for (entry_id, fields) in entries {
            let n = fields.iter().find(|(k, _)| *k == "n").and_then(|(_, v)| v.parse::<u64>().ok());
            let Some(n) = n else {
                return Err(StoreError::Garbage(format!("log entry {entry_id} without a sequence")));
            };
            if n != *seq + 1 {
                drop(view);
                info!(server = %self.id_hex, expected = *seq + 1, got = n, "gap in the change log; reloading the index");
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                return Ok(None);
            }
            for (k, v) in &fields {
                match *k {
                    // The record, from `rec`; gone already if its peer
                    // has left since (its removal follows in the log).
                    "a" if v.is_empty() => {
                        if let Some(text) = added.get(&n) {
                            self.apply_add(&mut view, n, text);
                        }
                    }
                    // A record in the entry itself (written by an older
                    // server).
                    "a" => self.apply_add(&mut view, n, v),
                    "d" => self.apply_remove(&mut view, v),
                    _ => {}
                }
            }
            *seq = n;
            *id = entry_id.to_owned();
        }
        drop(view);
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.up();
        Ok(Some(news))
    }

    /// The records the ADD entries in `entries` name (sequence → record
    /// as `rec` holds it), read from `rec` in one call; records gone since
    /// are absent.
    async fn added_records(
        &self,
        r: &mut MultiplexedConnection,
        entries: &[LogEntry<'_>],
    ) -> Result<HashMap<u64, String>> {
        let seqs: Vec<u64> = entries
            .iter()
            .filter(|(_, fields)| fields.iter().any(|(k, v)| *k == "a" && v.is_empty()))
            .filter_map(|(_, fields)| fields.iter().find(|(k, _)| *k == "n")?.1.parse().ok())
            .collect();
        if seqs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.keys.rec).arg(&seqs);
        let read = cmd.query_async::<Value>(r);
        let v = match tokio::time::timeout(self.config.timeout, read).await {
            Ok(v) => v?,
            Err(_) => return Err(StoreError::Timeout(self.config.timeout)),
        };
        let garbage = || StoreError::Garbage(format!("HMGET answered {}", preview(&v)));
        let Value::Array(values) = &v else { return Err(garbage()) };
        if values.len() != seqs.len() {
            return Err(garbage());
        }
        let mut out = HashMap::with_capacity(seqs.len());
        for (&seq, value) in seqs.iter().zip(values) {
            match value {
                Value::Nil => {}
                v => {
                    out.insert(seq, as_str(v).ok_or_else(garbage)?.to_owned());
                }
            }
        }
        Ok(out)
    }

    fn apply_add(&self, view: &mut View, seq: u64, text: &str) {
        let Some(r) = Stored::parse(text) else {
            warn!(seq, "skipping a log entry not understood: {text:?}");
            return;
        };
        if r.server == self.id {
            // Its own record, back from the log: its place in the global
            // order, for a peer still here (one that left is not brought back).
            view.place(ConnId(r.conn), r.rfc, r.title, seq);
            return;
        }
        let id = view.remote_id((r.server, r.conn));
        if view.index.admit_as(id, r.host, r.port).is_ok() {
            view.index.insert_at(id, r.rfc, r.title, seq);
        }
    }

    fn apply_remove(&self, view: &mut View, text: &str) {
        let mut it = text.split(' ');
        let (Some(server), Some(conn)) = (it.next(), it.next()) else { return };
        let (Ok(server), Ok(conn)) = (u64::from_str_radix(server, 16), conn.parse::<u64>()) else { return };
        // This server's own peers leave through it alone; one reaped while
        // its lease lapsed is still here and is re-published.
        if server == self.id {
            return;
        }
        if let Some(id) = view.remote.remove(&(server, conn)) {
            view.index.remove_peer(id);
        }
    }
}
