//! An index built from records that arrive in any order (a shared index's
//! snapshot, scanned in Redis's hash order), linked once at the end.
//!
//! Placing such records one at a time ([`Index::insert_at`]) costs a walk
//! down the RFC's chain per record and an insert at a random place in
//! `by_seq`: quadratic in an RFC's holders (a million peers holding one RFC
//! would keep a new server loading for hours), and a cache miss per B-tree
//! level per record. Here records are only stored while they arrive; then
//! their sequences are sorted once, `by_seq` is built from the sorted run
//! (a bulk build, no search), and each chain is linked oldest first, each
//! record the head above the last: linear after the sort, whatever the
//! holders.

use std::collections::BTreeMap;

use super::slots::{NIL, Slot};
use super::{ConnId, HashMap, IdentityMismatch, Index, RECORD_OVERHEAD};
use crate::protocol::RfcNumber;

/// An [`Index`] being loaded: records stored, not yet linked.
#[derive(Debug, Default)]
pub struct Bulk {
    index: Index,
    /// Every stored record's sequence and slot, in arrival order.
    order: Vec<(u64, Slot)>,
}

impl Bulk {
    /// Starts loading into `index`, which must hold no records (its caps
    /// and peers stay).
    pub fn new(index: Index) -> Self {
        debug_assert_eq!(index.record_count(), 0);
        Bulk { index, order: Vec::new() }
    }

    /// [`Index::admit_as`].
    pub fn admit_as(&mut self, conn: ConnId, host: &str, port: u16) -> Result<(), IdentityMismatch> {
        self.index.admit_as(conn, host, port)
    }

    /// Stores a record at sequence `seq`, to be linked by [`Bulk::finish`].
    /// Returns whether it was stored: `false` for a connection never
    /// admitted, or one that holds `rfc` already (a record a scan returned
    /// twice). A sequence given twice keeps its first record (see
    /// [`Bulk::finish`]).
    pub fn insert(&mut self, conn: ConnId, rfc: RfcNumber, title: &str, seq: u64) -> bool {
        let ix = &mut self.index;
        let Some(&peer) = ix.by_conn.get(&conn) else { return false };
        if ix.peers.get(peer).is_none_or(|p| p.rfcs.contains_key(&rfc)) {
            return false;
        }
        let Some(slot) = ix.store_entry(peer, rfc, title, seq, NIL) else { return false };
        if let Some(p) = ix.peers.get_mut(peer) {
            p.rfcs.insert(rfc, slot);
        }
        self.order.push((seq, slot));
        true
    }

    /// Links every record stored and returns the index. Of records given
    /// the same sequence (which no snapshot of a well-kept shared index
    /// holds) the first stays and the others are dropped, as
    /// [`Index::insert_at`] refuses a sequence taken; returns those dropped
    /// too, as (connection, RFC), so the caller can forget them.
    pub fn finish(self) -> (Index, Vec<(ConnId, RfcNumber)>) {
        let Bulk { mut index, mut order } = self;
        // Stable: of equal sequences, the first stored comes first.
        order.sort_by_key(|&(seq, _)| seq);
        let mut dropped = Vec::new();
        order.dedup_by(|later, first| {
            if later.0 != first.0 {
                return false;
            }
            if let Some(gone) = index.drop_unlinked(later.1) {
                dropped.push(gone);
            }
            true
        });
        let dropped = if dropped.is_empty() {
            Vec::new()
        } else {
            let conns: HashMap<Slot, ConnId> = index.by_conn.iter().map(|(&c, &p)| (p, c)).collect();
            dropped.into_iter().filter_map(|(p, rfc)| Some((*conns.get(&p)?, rfc))).collect()
        };
        let slots = index.records.len();
        if index.newer.len() < slots {
            index.newer.resize(slots, NIL);
        }
        for &(seq, slot) in &order {
            let Some(rfc) = index.records.get(slot).map(|e| e.rfc) else { continue };
            let older = index.by_rfc.insert(rfc, slot).unwrap_or(NIL);
            if let Some(e) = index.records.get_mut(slot) {
                e.older = older;
            }
            index.set_newer(slot, NIL);
            if older != NIL {
                index.set_newer(older, slot);
            }
            index.next_seq = index.next_seq.max(seq);
        }
        // Sorted and without duplicates: built in one pass.
        index.by_seq = BTreeMap::from_iter(order);
        (index, dropped)
    }
}

impl Index {
    /// Forgets a record [`Bulk::insert`] stored and nothing links to yet;
    /// returns whose it was (its peer's slot) and its RFC.
    fn drop_unlinked(&mut self, slot: Slot) -> Option<(Slot, RfcNumber)> {
        let e = self.records.remove(slot)?;
        self.bytes -= e.line.len() as u64 + RECORD_OVERHEAD;
        self.peers.get_mut(e.peer)?.rfcs.remove(&e.rfc);
        Some((e.peer, e.rfc))
    }
}
