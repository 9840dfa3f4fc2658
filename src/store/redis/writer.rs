//! The writer: this server's changes, on their way to Redis in order.
//!
//! One task ([`Shared::publish`]) owns everything this server writes about
//! its peers, so there is one order: a removal never overtakes its peer's
//! ADDs, the periodic reconcile ([`super::reconcile`]) sits at its place
//! among the batches, and its repairs are written before anything queued
//! after it. Every script it sends carries a fencing token, one more than
//! the last, so a batch that timed out and lands later does nothing. A
//! batch that fails or finds Redis out of order leaves Redis to the
//! reconcile, which makes it hold exactly this server's live peers again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use redis::{Cmd, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info};

use super::Shared;
use super::digest::weight;
use super::error::{Result, StoreError};
use super::reconcile::Ledger;
use super::values::{as_i64, as_u64, preview};
use crate::backoff::Backoff;
use crate::index::{ConnId, record_cost};
use crate::protocol::RfcNumber;

/// Changes written to Redis in one script at most.
pub(super) const WRITE_BATCH: usize = 256;
/// The batch script's layout (`FIXED`, `ARGS`, `EACH` in batch.lua): keys
/// before the one per change, arguments before the ones per change, and
/// arguments per change.
const BATCH_KEYS: usize = 9;
const BATCH_ARGS: usize = 7;
const BATCH_EACH: usize = 8;
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
        /// Sent for the first time: Redis cannot hold it yet (the server
        /// sends each record once; a reconcile's rewrite is not fresh).
        fresh: bool,
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

/// How a fenced script went, from its first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fenced {
    /// In order: the last token applied was the one it followed.
    InOrder,
    /// Applied, but Redis had not applied the write before it: Redis lost
    /// writes, or one of this server's was lost.
    Lost,
    /// Not applied: a later write of this server was applied already.
    Late,
}

impl Fenced {
    pub(super) fn parse(v: &Value) -> Option<Fenced> {
        match as_i64(v)? {
            0 => Some(Fenced::InOrder),
            1 => Some(Fenced::Lost),
            -1 => Some(Fenced::Late),
            _ => None,
        }
    }
}

/// What a batch came to, for the writer's ledger.
#[derive(Debug, Default)]
pub(super) struct Written {
    /// ADDs Redis refused: the shared index is at its budget.
    pub(super) refused: Vec<(ConnId, RfcNumber)>,
    /// Redis must be put right: the batch failed, was fenced or found
    /// writes lost.
    pub(super) trouble: bool,
}

impl Shared {
    /// Writes a batch of this server's changes to Redis, in one script
    /// fenced with `token` (following `prev`); returns how the fence went
    /// and each change's sequence (0 for a removal).
    pub(super) async fn write(
        &self,
        changes: &[Change],
        (token, prev): (u64, u64),
    ) -> Result<(Fenced, Vec<u64>)> {
        let k = &self.keys;
        // The EVALSHA built in one buffer (a `ScriptInvocation` holds each
        // key and argument in an allocation of its own, then copies them
        // all): keys first, fixed then one per change, then the arguments.
        let mut cmd = Cmd::with_capacity(
            3 + BATCH_KEYS + BATCH_ARGS + (1 + BATCH_EACH) * changes.len(),
            256 + 96 * changes.len(),
        );
        cmd.arg("EVALSHA").arg(self.scripts.batch.get_hash()).arg(BATCH_KEYS + changes.len());
        cmd.arg(&k.seq).arg(&k.rec).arg(k.peers(&self.id_hex)).arg(&k.servers).arg(&k.log);
        cmd.arg(k.lease(&self.id_hex)).arg(&k.bytes).arg(k.fence(&self.id_hex)).arg(k.dig(&self.id_hex));
        let mut key = String::new();
        for c in changes {
            k.peer_into(&mut key, &self.id_hex, c.conn().0);
            cmd.arg(key.as_str());
        }
        cmd.arg(&k.prefix).arg(&self.id_hex).arg(self.config.log_len).arg(self.lease_ms());
        cmd.arg(self.budget.load(Ordering::Relaxed)).arg(token).arg(prev);
        for c in changes {
            match c {
                Change::Add { conn, host, port, rfc, title, fresh, .. } => {
                    let cost = record_cost(*rfc, title, host, *port);
                    cmd.arg(if *fresh { "a" } else { "r" }).arg(conn.0).arg(rfc.0).arg(*port);
                    cmd.arg(host.as_str()).arg(&**title).arg(cost).arg(weight(conn.0, *rfc))
                }
                Change::Remove(conn) => cmd.arg("d").arg(conn.0).arg(0).arg(0).arg("").arg("").arg(0).arg(0),
            };
        }
        let mut c = self.conn();
        let v: Value = self.call("write", super::scripts::eval(&self.scripts.batch, &cmd, &mut c)).await?;
        let garbage = || StoreError::Garbage(format!("write script answered {}", preview(&v)));
        let Value::Array(items) = &v else { return Err(garbage()) };
        let Some((first, seqs)) = items.split_first() else { return Err(garbage()) };
        let fenced = Fenced::parse(first).ok_or_else(garbage)?;
        if fenced == Fenced::Late {
            return Ok((fenced, Vec::new()));
        }
        if seqs.len() != changes.len() {
            return Err(garbage());
        }
        Ok((fenced, seqs.iter().map(|i| as_u64(i).ok_or_else(garbage)).collect::<Result<_>>()?))
    }

    /// How often the writer checks that Redis holds exactly this server's
    /// peers (and the follower its copy): twice a lease, so that a fault is
    /// put right within the lease after it ends.
    pub(super) fn check_every(&self) -> Duration {
        (self.config.lease / 2).max(Duration::from_millis(50))
    }

    /// Writes this server's changes as they come, many at a time, gives
    /// each record its global sequence in the local copy, and reconciles
    /// Redis with the live peers every [`check_every`](Self::check_every),
    /// and at once when a write found trouble. While Redis is away (or
    /// awaits a reconcile) changes are not sent: the ledger counts them and
    /// the reconcile writes what is then live.
    ///
    /// Several batches may be on their way at once (Redis runs them in the
    /// order they were sent: each is queued on the connection before the
    /// next is made, and the fence turns any that would land out of order
    /// into nothing), except that a batch removing a peer, and a check,
    /// wait for the batches before them. The batches in flight are futures
    /// this task polls, not tasks of their own, so a batch costs no extra
    /// wake-up.
    pub(super) async fn publish(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<Change>) {
        let me = &*self;
        let mut ledger = Ledger::default();
        let mut inflight = FuturesUnordered::new();
        let mut tick = tokio::time::interval(me.check_every());
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut backoff = Backoff::new(super::BACKOFF_MIN, me.backoff_max());
        // When a failed reconcile is tried again.
        let mut retry: Option<Instant> = None;
        loop {
            let next = tokio::select! {
                biased;
                Some(w) = inflight.next(), if !inflight.is_empty() => {
                    if ledger.settle(me, w) && retry.is_none() {
                        retry = Some(Instant::now());
                    }
                    continue;
                }
                // Drain what connections queued before the server stopped.
                _ = me.cancel.cancelled() => changes.try_recv().ok(),
                // Before new changes, or a steady load would starve them.
                _ = tick.tick() => {
                    retry.get_or_insert_with(Instant::now);
                    None
                }
                () = me.check_now.notified() => {
                    me.dirty.store(true, Ordering::Relaxed);
                    retry = Some(Instant::now());
                    None
                }
                () = tokio::time::sleep_until(retry.unwrap_or_else(Instant::now)), if retry.is_some() => None,
                c = changes.recv(), if inflight.len() < WRITES_IN_FLIGHT => c,
            };
            let Some(first) = next else {
                if me.cancel.is_cancelled() {
                    break;
                }
                if retry.is_some_and(|at| at <= Instant::now()) {
                    while let Some(w) = inflight.next().await {
                        ledger.settle(me, w);
                    }
                    retry = match ledger.put_right(me).await {
                        Ok(()) => {
                            backoff.reset();
                            None
                        }
                        Err(e) => {
                            me.down("reconciling this server's peers with redis", &e);
                            Some(Instant::now() + backoff.next_delay())
                        }
                    };
                }
                continue;
            };
            // Sized to what is queued: a batch's worth for every one would
            // be a large allocation each time (malloc then sorts its bins).
            let mut batch = Vec::with_capacity(1 + changes.len().min(WRITE_BATCH - 1));
            batch.push(first);
            while batch.len() < WRITE_BATCH
                && let Ok(c) = changes.try_recv()
            {
                batch.push(c);
            }
            ledger.count(&batch);
            if me.dirty.load(Ordering::Relaxed) || !me.up.load(Ordering::Relaxed) {
                // Not sent: the reconcile writes what is live by then. The
                // ADDs are answered at once (`done` dropped).
                retry.get_or_insert_with(Instant::now);
                continue;
            }
            if batch.iter().any(|c| matches!(c, Change::Remove(_))) {
                while let Some(w) = inflight.next().await {
                    ledger.settle(me, w);
                }
            }
            let mut write = Box::pin(me.write_batch(batch, ledger.next_token()));
            // One poll queues the command on the connection, in order.
            match futures::poll!(write.as_mut()) {
                std::task::Poll::Pending => inflight.push(write),
                std::task::Poll::Ready(w) => {
                    ledger.settle(me, w);
                }
            }
        }
        while let Some(w) = inflight.next().await {
            ledger.settle(me, w);
        }
    }

    /// Writes one batch and gives its records their place.
    pub(super) async fn write_batch(&self, mut batch: Vec<Change>, token: (u64, u64)) -> Written {
        let mut out = Written::default();
        match self.write(&batch, token).await {
            Ok((Fenced::Late, _)) => {
                info!(server = %self.id_hex, "a write was fenced: a later one of this server is in redis already");
                out.trouble = true;
            }
            Ok((fenced, seqs)) => {
                if fenced == Fenced::Lost {
                    info!(server = %self.id_hex, "redis lost writes of this server; reconciling");
                    out.trouble = true;
                }
                let mut v = self.view();
                for (c, seq) in batch.iter_mut().zip(seqs) {
                    if let Change::Add { conn, rfc, title, done, .. } = c {
                        if seq == 0 {
                            debug!(%conn, rfc = rfc.0, "ADD refused by redis: the shared index is at its memory budget");
                            v.drop_refused(*conn, *rfc);
                            out.refused.push((*conn, *rfc));
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
                self.down("writing to redis", &e);
                out.trouble = true;
            }
        }
        out
    }
}
