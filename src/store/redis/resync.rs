//! The rebuild: the local copy loaded afresh from a snapshot of Redis.
//!
//! The one repair of the copy for everything the log cannot carry: the
//! first load, a gap in the log (trimmed, or a Redis that lost data or went
//! back in time), a copy whose digest differs from Redis's. It scans every
//! record into a fresh copy and installs it, keeping this server's own
//! peers as they are (they live here; Redis only mirrors them, and the
//! writer's reconcile puts Redis right about them); the follower goes on
//! from the mark it took.

use std::sync::atomic::Ordering;
use std::time::Instant;

use redis::Value;
use tracing::{debug, warn};

use super::Shared;
use super::error::{Result, StoreError};
use super::values::{Stored, as_str, as_string, as_u64, preview};
use super::view::View;
use crate::index::{Bulk, ConnId, Index};
use crate::protocol::RfcNumber;

/// Records fetched per `HSCAN` step of a snapshot.
const SCAN_COUNT: usize = 10_000;

impl Shared {
    /// Loads a snapshot into a fresh copy and installs it. Returns where
    /// to follow the log: the last entry's id and the sequence.
    pub(super) async fn sync(&self) -> Result<(String, u64)> {
        let started = Instant::now();
        let (seq, last_id) = self.mark().await?;
        let mut fresh = View::default();
        let mut bulk = Bulk::new(Index::with_caps(self.view().index.caps()));
        let mut mine = Vec::new();
        let mut cursor = "0".to_string();
        let mut c = self.conn();
        loop {
            let v: Value = self
                .call(
                    "snapshot",
                    redis::cmd("HSCAN")
                        .arg(&self.keys.rec)
                        .arg(&cursor)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(&mut c),
                )
                .await?;
            let garbage = || StoreError::Garbage(format!("HSCAN answered {}", preview(&v)));
            let Value::Array(parts) = &v else { return Err(garbage()) };
            let [next, items] = parts.as_slice() else { return Err(garbage()) };
            let Value::Array(items) = items else { return Err(garbage()) };
            for pair in items.chunks_exact(2) {
                let (Some(seq), Some(text)) = (as_u64(&pair[0]), as_str(&pair[1])) else {
                    return Err(garbage());
                };
                let Some(r) = Stored::parse(text) else {
                    warn!(seq, "skipping a record redis holds in a form not understood: {text:?}");
                    continue;
                };
                if r.server == self.id {
                    mine.push((seq, r.conn, r.rfc, r.title.to_owned()));
                    continue;
                }
                fresh.load_remote(&mut bulk, &r, seq);
            }
            cursor = as_string(next).ok_or_else(garbage)?;
            if cursor == "0" {
                break;
            }
        }
        // This server's live peers go in as they are now; the copy is
        // linked with them outside the lock (a million records take a
        // tenth of a second), then put right under it for what they did
        // meanwhile.
        let own = self.view().own.clone();
        for (&conn, o) in &own {
            let _ = bulk.admit_as(conn, &o.host, o.port);
        }
        for (seq, conn, rfc, title) in mine {
            if own.get(&ConnId(conn)).is_some_and(|o| o.rfcs.contains(&rfc)) {
                bulk.insert(ConnId(conn), rfc, &title, seq);
            }
        }
        let (index, dropped) = bulk.finish();
        fresh.index = index;
        fresh.uncount(&dropped);
        let old = {
            let mut v = self.view();
            for (conn, was) in &own {
                match v.own.get(conn) {
                    None => {
                        fresh.index.remove_peer(*conn);
                    }
                    Some(now) => {
                        for rfc in was.rfcs.iter().filter(|r| !now.rfcs.contains(r)) {
                            fresh.index.remove(*conn, *rfc);
                        }
                    }
                }
            }
            for (&conn, o) in &v.own {
                let _ = fresh.index.admit_as(conn, &o.host, o.port);
            }
            // Own records Redis does not have (yet), titles from the copy
            // being replaced: held here until the writer gives them their
            // place.
            let missing: Vec<(ConnId, RfcNumber, Box<str>)> = v
                .own
                .iter()
                .flat_map(|(&c, o)| o.rfcs.iter().map(move |&r| (c, r)))
                .filter(|&(c, r)| fresh.index.held(c, r).is_none())
                .filter_map(|(c, r)| Some((c, r, v.index.held(c, r)?.title().into())))
                .collect();
            fresh.own = std::mem::take(&mut v.own);
            fresh.next_provisional = v.next_provisional;
            let old = std::mem::replace(&mut *v, fresh);
            for (c, r, t) in missing {
                v.hold(c, r, &t);
            }
            old
        };
        // The copy replaced is freed with the lock released.
        drop(old);
        let counts = self.counts();
        metrics::histogram!("p2pci_store_roundtrip_seconds", "op" => "load")
            .record(started.elapsed().as_secs_f64());
        debug!(records = counts.records, took = ?started.elapsed(), "snapshot loaded");
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.up();
        Ok((last_id, seq))
    }

    async fn mark(&self) -> Result<(u64, String)> {
        let mut c = self.conn();
        let v: Value = self
            .call("mark", self.scripts.mark.key(&self.keys.seq).key(&self.keys.log).invoke_async(&mut c))
            .await?;
        let garbage = || StoreError::Garbage(format!("mark script answered {v:?}"));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let [seq, id] = items.as_slice() else { return Err(garbage()) };
        Ok((as_u64(seq).ok_or_else(garbage)?, as_string(id).ok_or_else(garbage)?))
    }
}
