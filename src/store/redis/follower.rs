//! The follower: the change log, applied to the local copy as it grows,
//! and the copy checked against Redis.
//!
//! Every server reads the log (`XREAD BLOCK`, on a connection of its own so
//! a blocked read holds up no write), fetches the records its entries name
//! and applies them in sequence order. A gap in the sequence (a trimmed
//! log; a Redis that lost data or went back in time: the sequence then
//! repeats numbers already seen), an error, or a copy that differs from
//! Redis sends it through [`Shared::sync`] and on from there.
//!
//! The check, twice a lease: DIGEST reads the sequence and every server's
//! digest at one instant; once the copy has applied the log up to exactly
//! that sequence it must hold the same digest for every other server. A
//! record the follower could not fetch (removed before it asked) is absent
//! from the copy but counted in Redis until its removal, which came at or
//! before the sequence FETCH answered with: a check at an earlier
//! sequence proves nothing and is skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::digest::Digest;
use super::error::{Result, StoreError};
use super::values::{Happened, Logged, Stored, as_i64, as_str, as_u64, log_entries, preview};
use super::view::View;
use super::{BACKOFF_MIN, Shared};
use crate::backoff::Backoff;
use crate::index::ConnId;

/// How long one `XREAD` waits for news at most before the follower looks
/// around (less when the check is due sooner).
const BLOCK_MS: u64 = 1000;
/// Entries read from the log at once.
const READ_COUNT: usize = 4096;
/// Records fetched in one call at most (a Lua `unpack` takes a few
/// thousand values; a batch's entry names up to a batch of records).
const FETCH_COUNT: usize = 4096;

/// Where the follower is in the log, and what it must check there.
#[derive(Debug, Default)]
struct Position {
    /// The last entry applied.
    id: String,
    seq: u64,
    /// Every other server's digest at a sequence not reached yet.
    check: Option<(u64, HashMap<u64, Digest>)>,
    /// A record could not be fetched at this sequence: a check before it
    /// proves nothing.
    missing_until: u64,
    /// Differences a reload did not mend (kept across reloads).
    known: Known,
}

/// Differences between Redis's digest of a server and the copy's that a
/// reload did not mend: Redis's own records of that server do not add up
/// to its digest (a record held in a form not understood, a key changed by
/// hand). Another reload could not mend them either, so the follower bears
/// them, said once, instead of reloading the whole index every half lease
/// for as long as they last. A difference that changes is a new one.
#[derive(Debug, Default)]
struct Known {
    /// Per server, Redis's digest less the copy's, as the last reload
    /// found them.
    reloaded_for: HashMap<u64, Digest>,
    /// Differences borne.
    borne: HashMap<u64, Digest>,
}

impl Shared {
    /// Follows the log until stopped; on trouble (a gap, an error, a copy
    /// that differs) it rebuilds from a snapshot, backing off while Redis
    /// is away.
    pub(super) async fn follow(self: Arc<Self>, start: (String, u64)) {
        let mut at = Position { id: start.0, seq: start.1, ..Position::default() };
        let mut backoff = Backoff::new(BACKOFF_MIN, self.backoff_max());
        let mut reader: Option<MultiplexedConnection> = None;
        let mut due = tokio::time::interval(self.check_every());
        due.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let step = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.read_log(&mut reader, &mut at) => r,
            };
            let step = match step {
                Ok(true) if due.tick().now_or_never().is_some() => {
                    self.check_copy(&mut reader, &mut at).await
                }
                other => other,
            };
            let failed = match step {
                Ok(true) => {
                    backoff.reset();
                    if !self.config.follow_pause.is_zero() {
                        tokio::select! {
                            _ = self.cancel.cancelled() => return,
                            _ = tokio::time::sleep(self.config.follow_pause) => {}
                        }
                    }
                    continue;
                }
                // A gap, or a copy that differs.
                Ok(false) => None,
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
                Ok((id, seq)) => {
                    at = Position { id, seq, known: std::mem::take(&mut at.known), ..Position::default() };
                    backoff.reset();
                }
                Err(e) => {
                    self.down("rebuilding the local copy", &e);
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    /// The follower's own connection, made when missing.
    async fn reader<'a>(
        &self,
        reader: &'a mut Option<MultiplexedConnection>,
    ) -> Result<&'a mut MultiplexedConnection> {
        if let Some(r) = reader {
            return Ok(r);
        }
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
        Ok(reader.insert(c))
    }

    /// Reads and applies one batch of the log. `Ok(false)`: the copy must
    /// be rebuilt (a gap in the sequence, or a check that failed).
    async fn read_log(&self, reader: &mut Option<MultiplexedConnection>, at: &mut Position) -> Result<bool> {
        let r = self.reader(reader).await?;
        let block = BLOCK_MS.min(u64::try_from(self.check_every().as_millis()).unwrap_or(BLOCK_MS)).max(1);
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&self.keys.log)
            .arg(&at.id);
        let read = cmd.query_async::<Value>(r);
        let v = match tokio::time::timeout(self.config.timeout + Duration::from_millis(block), read).await {
            Ok(v) => v?,
            Err(_) => return Err(StoreError::Timeout(self.config.timeout)),
        };
        let entries = log_entries(&v)?;
        let mut logged = Vec::with_capacity(entries.len());
        for (entry_id, fields) in &entries {
            let Some(l) = Logged::decode(fields) else {
                return Err(StoreError::Garbage(format!("log entry {entry_id} without a sequence")));
            };
            logged.push(l);
        }
        // Records are fetched only for entries that follow on from this
        // copy: past a gap the copy is rebuilt anyway (below).
        let mut next = at.seq + 1;
        let following = logged
            .iter()
            .take_while(|l| {
                let ok = l.first == next;
                next = l.last.saturating_add(1);
                ok
            })
            .count();
        let added = self.added_records(r, &logged[..following], at).await?;
        let mut view = self.view();
        for ((entry_id, _), l) in entries.iter().zip(&logged) {
            if l.first != at.seq + 1 {
                drop(view);
                let why = if l.first <= at.seq { "redis went back in time" } else { "gap in the change log" };
                info!(server = %self.id_hex, expected = at.seq + 1, got = l.first, "{why}; reloading the index");
                metrics::counter!("p2pci_store_repairs_total").increment(1);
                return Ok(false);
            }
            match l.what {
                // This server's own batch: the writer placed its records.
                Happened::Added { by: Some(by) } if by == self.id => {}
                // Records in `rec`; gone already if their peer has left
                // since (its removal follows in the log).
                Happened::Added { .. } => {
                    for n in l.first..=l.last {
                        if let Some(text) = added.get(&n) {
                            self.apply_add(&mut view, n, text);
                        }
                    }
                }
                Happened::AddedInline(text) => self.apply_add(&mut view, l.first, text),
                Happened::Removed(who) => self.apply_remove(&mut view, who),
                Happened::Other => {}
            }
            at.seq = l.last;
            at.id = (*entry_id).to_owned();
            if at.check.as_ref().is_some_and(|(s, _)| *s == l.last) {
                let (s, want) = at.check.take().unwrap_or_default();
                if !self.copy_matches(&view, s, &want, at.missing_until, &mut at.known) {
                    return Ok(false);
                }
            }
        }
        drop(view);
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.up();
        Ok(true)
    }

    /// Reads every server's digest, and checks the copy against it now or
    /// once the log has been applied up to its sequence. `Ok(false)`: the
    /// copy must be rebuilt.
    async fn check_copy(
        &self,
        reader: &mut Option<MultiplexedConnection>,
        at: &mut Position,
    ) -> Result<bool> {
        let r = self.reader(reader).await?;
        let k = &self.keys;
        let v: Value = self
            .call("digest", self.scripts.digest.key(&k.seq).key(&k.servers).arg(&k.prefix).invoke_async(r))
            .await?;
        let garbage = || StoreError::Garbage(format!("digest script answered {}", preview(&v)));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let Some((seq, rest)) = items.split_first() else { return Err(garbage()) };
        let seq = as_u64(seq).ok_or_else(garbage)?;
        let mut want = HashMap::new();
        for d in rest.chunks(3) {
            let [srv, records, weight] = d else { return Err(garbage()) };
            let srv = as_str(srv).and_then(|s| u64::from_str_radix(s, 16).ok()).ok_or_else(garbage)?;
            let (records, weight) =
                (as_i64(records).ok_or_else(garbage)?, as_i64(weight).ok_or_else(garbage)?);
            want.insert(srv, Digest { records, weight });
        }
        if seq < at.seq {
            info!(server = %self.id_hex, was = at.seq, now = seq, "redis went back in time (its sequence is behind this copy); reloading the index");
            metrics::counter!("p2pci_store_repairs_total").increment(1);
            return Ok(false);
        }
        if seq == at.seq {
            return Ok(self.copy_matches(&self.view(), seq, &want, at.missing_until, &mut at.known));
        }
        at.check = Some((seq, want));
        Ok(true)
    }

    /// Whether the copy holds every other server's digest as Redis did at
    /// `seq` (the copy having applied the log exactly that far), but for
    /// differences borne ([`Known`]).
    fn copy_matches(
        &self,
        view: &View,
        seq: u64,
        want: &HashMap<u64, Digest>,
        missing_until: u64,
        known: &mut Known,
    ) -> bool {
        if seq < missing_until {
            return true;
        }
        let servers = want.keys().chain(view.digests.keys().filter(|srv| !want.contains_key(srv)));
        let mut differ = HashMap::new();
        for &srv in servers.filter(|&&srv| srv != self.id) {
            let mut diff = want.get(&srv).copied().unwrap_or_default();
            diff.take(view.digests.get(&srv).copied().unwrap_or_default());
            if diff.is_empty() {
                known.borne.remove(&srv);
            } else if known.borne.get(&srv) != Some(&diff) {
                differ.insert(srv, diff);
            }
        }
        let (mended_not, new): (HashMap<u64, Digest>, HashMap<u64, Digest>) =
            differ.into_iter().partition(|(srv, diff)| known.reloaded_for.get(srv) == Some(diff));
        for (srv, diff) in mended_not {
            warn!(server = %self.id_hex, of = %format!("{srv:016x}"), records = diff.records,
                "redis's records of a server do not add up to its digest, and a reload did not mend that: \
                 following on with this copy (redis holds records it cannot read, or its keys were changed)");
            known.borne.insert(srv, diff);
        }
        let Some((&srv, diff)) = new.iter().next() else {
            known.reloaded_for.clear();
            return true;
        };
        warn!(server = %self.id_hex, of = %format!("{srv:016x}"), records = diff.records,
            "this copy differs from redis about a server's records; reloading the index");
        metrics::counter!("p2pci_store_repairs_total").increment(1);
        known.reloaded_for = new;
        false
    }

    /// The records the ADD entries in `logged` name (sequence → record
    /// as `rec` holds it), read a chunk at a time with the sequence at
    /// that instant; records gone since are absent. This server's own
    /// batches are not read: its writer placed them.
    async fn added_records(
        &self,
        r: &mut MultiplexedConnection,
        logged: &[Logged<'_>],
        at: &mut Position,
    ) -> Result<HashMap<u64, String>> {
        let seqs: Vec<u64> = logged
            .iter()
            .filter(|l| matches!(l.what, Happened::Added { by } if by != Some(self.id)))
            .flat_map(|l| l.first..=l.last)
            .collect();
        let mut out = HashMap::with_capacity(seqs.len());
        let k = &self.keys;
        for chunk in seqs.chunks(FETCH_COUNT) {
            let v: Value = self
                .call("fetch", self.scripts.fetch.key(&k.seq).key(&k.rec).arg(chunk).invoke_async(r))
                .await?;
            let garbage = || StoreError::Garbage(format!("fetch script answered {}", preview(&v)));
            let Value::Array(parts) = &v else { return Err(garbage()) };
            let [now, values] = parts.as_slice() else { return Err(garbage()) };
            let now = as_u64(now).ok_or_else(garbage)?;
            let Value::Array(values) = values else { return Err(garbage()) };
            if values.len() != chunk.len() {
                return Err(garbage());
            }
            for (&seq, value) in chunk.iter().zip(values) {
                match value {
                    Value::Nil => at.missing_until = at.missing_until.max(now),
                    v => {
                        out.insert(seq, as_str(v).ok_or_else(garbage)?.to_owned());
                    }
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
        view.add_remote(&r, seq);
    }

    fn apply_remove(&self, view: &mut View, text: &str) {
        let mut it = text.split(' ');
        let (Some(server), Some(conn)) = (it.next(), it.next()) else { return };
        let (Ok(server), Ok(conn)) = (u64::from_str_radix(server, 16), conn.parse::<u64>()) else { return };
        // This server's own peers leave through it alone; one reaped while
        // its lease lapsed is still here, and the reconcile writes it again.
        if server == self.id {
            return;
        }
        view.remove_remote((server, conn));
    }
}
