//! What a connection asks of the store: the [`IndexStore`] methods.
//!
//! Each answers from the local copy at once and leaves Redis to the tasks:
//! an ADD waits (for at most the timeout) only for its place in the global
//! order, and a removal is queued for the writer.

use std::future::Future;
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;
use tracing::warn;

use super::RedisStore;
use super::error::Result;
use super::view::Own;
use super::writer::Change;
use crate::index::{ConnId, Cursor, HolderCursor};
use crate::protocol::RfcNumber;
use crate::store::{AddError, Caps, Counts, IndexStore, NewRecord, Placed};

impl IndexStore for RedisStore {
    /// The record is stored in the local copy at once, newest of all (the
    /// peer sees it on its connection), and handed to the writer task; the
    /// answer waits until Redis has it and has given it its place in the
    /// global order (so an ADD answered here is older than any ADD sent
    /// afterwards, on any server), for at most the store's timeout. Past
    /// that it is answered anyway: a record lives as long as its peer's
    /// connection to this server, so this server's memory is as good a home
    /// for it as Redis, which only has to pass it on to the others once it
    /// is back (should Redis then refuse it, the record goes, unanswered for).
    fn add_started(&self, new: NewRecord<'_>, out: &mut Vec<u8>) -> Result<Option<Placed>, AddError> {
        let by = tokio::time::Instant::now() + self.shared.config.timeout;
        let budget = self.shared.budget.load(Ordering::Relaxed);
        Ok(self.add_now(new, out)?.map(|placed| Placed::new(placed, by, budget)))
    }

    fn lookup_page(
        &self,
        rfc: RfcNumber,
        cursor: HolderCursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = (usize, Option<HolderCursor>)> + Send {
        let page = self
            .shared
            .view()
            .index
            .lookup_page(rfc, cursor, max_bytes, |r| out.extend_from_slice(r.line().as_bytes()));
        std::future::ready(page)
    }

    fn list_page(
        &self,
        cursor: Cursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Option<Cursor>> + Send {
        let next =
            self.shared.view().index.list_page_bytes(cursor, crate::store::PAGE_RECORDS, max_bytes, |r| {
                out.extend_from_slice(r.line().as_bytes())
            });
        std::future::ready(next)
    }

    /// The caps hold for this server's own peers here, and the memory
    /// budget for the whole shared index in Redis as well (the same
    /// budget on every server keeps the whole index within it).
    fn set_caps(&self, caps: Caps) {
        self.shared.budget.store(caps.memory, Ordering::Relaxed);
        self.shared.view().index.set_caps(caps);
    }

    fn remove_peer(&self, conn: ConnId) -> impl Future<Output = usize> + Send {
        let s = &*self.shared;
        let (removed, freed) = {
            let mut v = s.view();
            if v.own.remove(&conn).is_some() {
                let before = v.index.bytes();
                let removed = v.index.remove_peer(conn);
                // Fails only once the writer has stopped (the server is
                // closing): the lease, given up or expiring, takes the rest.
                let _ = s.changes.send(Change::Remove(conn));
                (removed, before - v.index.bytes())
            } else {
                (0, 0)
            }
        };
        crate::store::released(freed);
        std::future::ready(removed)
    }

    fn counts(&self) -> Counts {
        self.shared.counts()
    }

    /// Stops following and renewing, writes what is still queued, then
    /// gives up the lease so the others need not wait for it.
    async fn close(&self) {
        let s = &*self.shared;
        s.cancel.cancel();
        self.tasks.wait().await;
        // The lease given up, then reaped here and now: whatever Redis still
        // holds of this server (removals the writer could not send) goes
        // with it, and the server leaves `servers` only with its peers.
        let mut c = s.conn();
        let lease = s.keys.lease(&s.id_hex);
        let r: Result<i64> = s.call("close", redis::cmd("DEL").arg(&lease).query_async(&mut c)).await;
        let r = match r {
            Ok(_) => s.reap().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            warn!(server = %s.id_hex, "could not give up the lease ({e}); the others reap it when it expires");
        }
    }
}

impl RedisStore {
    fn add_now(
        &self,
        new: NewRecord<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Option<oneshot::Receiver<bool>>, AddError> {
        let NewRecord { conn, host, port, rfc, title } = new;
        let s = &*self.shared;
        let mut v = s.view();
        // The identity rule, as in memory; the peer is this server's own.
        v.index.check_identity(conn, host, port)?;
        if let Some(r) = v.index.held(conn, rfc) {
            out.extend_from_slice(r.line().as_bytes());
            return Ok(None);
        }
        // The caps, against the local copy of the whole shared index first
        // (Redis holds the budget against every server's records at once).
        v.index.room(new)?;
        v.index.admit_as(conn, host, port)?;
        if !v.hold(conn, rfc, title) {
            return Err(AddError::Full);
        }
        let o = v.own.entry(conn).or_insert_with(|| Own { host: host.to_owned(), port, rfcs: Vec::new() });
        o.rfcs.push(rfc);
        let Some(r) = v.index.held(conn, rfc) else { return Err(AddError::Full) };
        out.extend_from_slice(r.line().as_bytes());
        drop(v);
        // The writer outlives every connection.
        let up = s.up.load(Ordering::Relaxed) && !s.dirty.load(Ordering::Relaxed);
        // While Redis is away the answer does not wait for it.
        let (done, written) = if up {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let change =
            Change::Add { conn, host: host.to_owned(), port, rfc, title: title.into(), fresh: true, done };
        let _ = s.changes.send(change);
        Ok(written)
    }
}
