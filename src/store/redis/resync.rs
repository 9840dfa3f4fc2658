//! The resync: Redis put right about this server's peers, and the local
//! copy rebuilt from a snapshot.
//!
//! The one repair for everything the log cannot carry: the first load, a
//! gap in the log, a write that failed, a lease that lapsed, a Redis that
//! lost its data. It re-publishes what this server alone knows (its live
//! peers, and those that left meanwhile), then scans every record into a
//! fresh copy and installs it; the follower goes on from the mark it took.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use redis::Value;
use tracing::{debug, warn};

use super::Shared;
use super::error::{Result, StoreError};
use super::values::{Stored, as_str, as_string, as_u64, preview};
use super::view::REMOTE;
use super::writer::{Change, WRITE_BATCH};
use crate::index::{ConnId, Index};
use crate::protocol::RfcNumber;

/// Records fetched per `HSCAN` step of a snapshot.
const SCAN_COUNT: usize = 10_000;

impl Shared {
    /// Puts Redis right about this server's peers, then loads a snapshot
    /// into a fresh copy and installs it. Returns where to follow the log.
    pub(super) async fn sync(&self) -> Result<(String, u64)> {
        self.resync.store(false, Ordering::Relaxed);
        self.renew().await?;
        self.resync.store(false, Ordering::Relaxed);
        // Peers that left while Redis could not be told, then every record
        // of this server's live peers (idempotent in Redis).
        let mut changes: Vec<Change> =
            std::mem::take(&mut self.view().gone).into_iter().map(Change::Remove).collect();
        let gone = changes.len();
        {
            let v = self.view();
            changes.extend(v.own.iter().flat_map(|(&conn, o)| {
                let index = &v.index;
                o.rfcs.iter().filter_map(move |&rfc| {
                    Some(Change::Add {
                        conn,
                        host: o.host.clone(),
                        port: o.port,
                        rfc,
                        title: index.held(conn, rfc)?.title().into(),
                        done: None,
                    })
                })
            }));
        }
        let mut refused = 0;
        for (i, chunk) in changes.chunks(WRITE_BATCH).enumerate() {
            match self.write(chunk).await {
                Ok(seqs) => {
                    // Records taken while Redis was away, for which the
                    // shared index has no room now: they go here too.
                    let mut v = self.view();
                    for (c, _) in chunk.iter().zip(seqs).filter(|(_, s)| *s == 0) {
                        if let Change::Add { conn, rfc, .. } = c {
                            v.drop_refused(*conn, *rfc);
                            refused += 1;
                        }
                    }
                }
                Err(e) => {
                    let unwritten = changes[(i * WRITE_BATCH).min(gone)..gone].iter().map(Change::conn);
                    self.view().gone.extend(unwritten);
                    return Err(e);
                }
            }
        }
        if refused > 0 {
            warn!(server = %self.id_hex, refused,
                "records taken while redis was away dropped: the shared index is at its memory budget");
        }
        let started = Instant::now();
        let (seq, last_id) = self.mark().await?;
        let mut index = Index::with_caps(self.view().index.caps());
        let mut remote = HashMap::new();
        let mut next_remote = 0;
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
                let id = *remote.entry((r.server, r.conn)).or_insert_with(|| {
                    next_remote += 1;
                    ConnId(REMOTE | next_remote)
                });
                if index.admit_as(id, r.host, r.port).is_ok() {
                    index.insert_at(id, r.rfc, r.title, seq);
                }
            }
            cursor = as_string(next).ok_or_else(garbage)?;
            if cursor == "0" {
                break;
            }
        }
        // Install it, with this server's live peers in it.
        {
            let mut v = self.view();
            for (&conn, o) in &v.own {
                let _ = index.admit_as(conn, &o.host, o.port);
            }
            for (seq, conn, rfc, title) in mine {
                if v.own.contains_key(&ConnId(conn)) {
                    index.insert_at(ConnId(conn), rfc, &title, seq);
                }
            }
            // Own records added since the write above, titles from the
            // copy being replaced: held here until the writer gives them
            // their place.
            let missing: Vec<(ConnId, RfcNumber, Box<str>)> = v
                .own
                .iter()
                .flat_map(|(&c, o)| o.rfcs.iter().map(move |&r| (c, r)))
                .filter(|&(c, r)| index.held(c, r).is_none())
                .filter_map(|(c, r)| Some((c, r, v.index.held(c, r)?.title().into())))
                .collect();
            v.index = index;
            v.remote = remote;
            v.next_remote = next_remote;
            for (c, r, t) in missing {
                v.hold(c, r, &t);
            }
        }
        let counts = self.counts();
        metrics::histogram!("p2pci_store_roundtrip_seconds", "op" => "load")
            .record(started.elapsed().as_secs_f64());
        debug!(records = counts.records, took = ?started.elapsed(), "snapshot loaded");
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
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
