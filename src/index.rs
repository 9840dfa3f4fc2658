//! The index server's state: active peers and RFC records, newest first.
//!
//! Pure data, no I/O, so it can be tested alone; the server reaches it
//! through [`crate::store::MemoryStore`], one backend of the index store.
//!
//! Every record gets a sequence number that only grows, so "newest first" is
//! simply "highest sequence first". No operation scans the whole index
//! (PROTOCOL.md: several records per RFC, removal of all of a peer's records
//! when its connection ends).
//!
//! Records and peers live in slabs: vectors whose holes are reused, where an
//! item keeps its position (a `u32` slot) for its whole life. The maps and
//! links below name records and peers by slot, so following one is a vector
//! index rather than a map probe, and costs four bytes:
//!
//! * `by_rfc`: RFC → its newest record. An RFC's records form a chain,
//!   newest to oldest, through their `older` slots, so LOOKUP is one hash
//!   probe, then one index per holder.
//! * `newer`: the same chains linked the other way, so that ADD (at the head)
//!   and removal (anywhere) relink in constant time. These links sit in a
//!   vector of their own, not in the records: ADD sets the old head's link,
//!   and in a large index that record is out of cache. A store to the vector
//!   does not stall where loading the record would.
//! * `by_seq`: sequence → record, ordered, for LIST (read backwards in pages,
//!   so a huge LIST never holds the lock long nor builds one big answer; a
//!   cursor is a sequence, so records added later sort above it and records
//!   removed meanwhile are gone from the map).
//! * each peer's own RFC → record map, for idempotent ADD and for removal in
//!   time proportional to that peer's records.
//!
//! A record keeps its line as LOOKUP and LIST send it (`RFC <n> <title>
//! <host> <port>`), made once when it is added: answering copies each line
//! whole, where formatting it from its parts would cost several small
//! copies and a visit to the peer's entry per record. The peer's host and
//! port are repeated in each line, which the memory budget allows.
//!
//! A peer is known by its connection ([`ConnId`]), never by its hostname: two
//! peers may claim the same name, and one leaving never touches the other.
//!
//! Hash maps use foldhash (fast, randomly seeded per process) rather than
//! SipHash: LOOKUP is little more than a map probe, so the hasher's cost
//! shows; the seed still keeps collisions unpredictable to clients.

mod bulk;
mod caps;
mod error;
mod pages;
mod record;
mod slots;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use self::bulk::Bulk;
pub use self::caps::{CapExceeded, Caps, PEER_OVERHEAD, RECORD_OVERHEAD, peer_cost, record_cost};
pub use self::error::{AddError, IdentityMismatch};
pub use self::pages::{Cursor, HolderCursor};
use self::record::{Entry, PeerEntry};
pub use self::record::{NewRecord, RecordRef};
use self::slots::{NIL, Slab, Slot};
use crate::protocol::response::record_line;
use crate::protocol::{PeerId, Record, RfcNumber};

/// Identifies one connection to the server, hence one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Debug)]
pub struct Index {
    caps: Caps,
    /// What the records and peers held cost, as the caps count it.
    bytes: u64,
    next_seq: u64,
    records: Slab<Entry>,
    /// The other half of the RFC chains: record slot → the next newer record
    /// of the same RFC, or [`NIL`] for the newest. Grows with `records`.
    newer: Vec<Slot>,
    by_rfc: HashMap<RfcNumber, Slot>,
    by_seq: BTreeMap<u64, Slot>,
    peers: Slab<PeerEntry>,
    by_conn: HashMap<ConnId, Slot>,
    peer_order: BTreeMap<u64, Slot>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            caps: Caps::NONE,
            bytes: 0,
            next_seq: 0,
            records: Slab::default(),
            newer: Vec::new(),
            by_rfc: HashMap::default(),
            by_seq: BTreeMap::new(),
            peers: Slab::default(),
            by_conn: HashMap::default(),
            peer_order: BTreeMap::new(),
        }
    }
}

impl Index {
    /// An index without caps.
    pub fn new() -> Self {
        Index::default()
    }

    /// An index whose ADDs are held to `caps`.
    pub fn with_caps(caps: Caps) -> Self {
        Index { caps, ..Index::default() }
    }

    /// Sets the caps for the ADDs to come (what is held stays).
    pub fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// What the records and peers held cost, in bytes, as the caps count
    /// it ([`record_cost`], [`peer_cost`]).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether `conn` may use the identity `host:port`: it is not
    /// registered yet, or registered as that peer.
    pub fn check_identity(&self, conn: ConnId, host: &str, port: u16) -> Result<(), IdentityMismatch> {
        match self.by_conn.get(&conn).and_then(|&slot| self.peers.get(slot)) {
            Some(p) if p.id.port != port || !p.id.host.eq_ignore_ascii_case(host) => Err(IdentityMismatch {
                registered: p.id.clone(),
                claimed: PeerId { host: host.to_owned(), port },
            }),
            _ => Ok(()),
        }
    }

    /// Whether the caps leave room for `new` (its connection registered or
    /// not yet, as `host:port`). An RFC the peer holds already needs no
    /// room: its ADD stores nothing.
    pub fn room(&self, new: NewRecord<'_>) -> Result<(), CapExceeded> {
        let peer = self.by_conn.get(&new.conn).and_then(|&slot| self.peers.get(slot));
        self.room_for(peer, new)
    }

    /// [`Index::room`] for `peer` (`None`: not registered yet as
    /// `host:port`, and its entry is to be paid for too).
    #[inline]
    fn room_for(&self, peer: Option<&PeerEntry>, new: NewRecord<'_>) -> Result<(), CapExceeded> {
        if peer.map_or(0, |p| p.rfcs.len()) >= self.caps.records_per_peer {
            return Err(CapExceeded::RecordsPerPeer(self.caps.records_per_peer));
        }
        let (host, port) = peer.map_or((new.host, new.port), |p| (&p.id.host, p.id.port));
        let mut cost = record_cost(new.rfc, new.title, host, port);
        if peer.is_none() {
            cost += peer_cost(host);
        }
        if self.bytes.saturating_add(cost) > self.caps.memory {
            return Err(CapExceeded::IndexMemory(self.caps.memory));
        }
        Ok(())
    }

    /// Registers `conn` as peer `id` on its first request, and checks later
    /// requests against it: one connection is one peer (PROTOCOL.md).
    pub fn admit(&mut self, conn: ConnId, id: &PeerId) -> Result<(), IdentityMismatch> {
        self.admit_as(conn, &id.host, id.port)
    }

    /// [`Index::admit`] from a borrowed hostname: the name is copied only
    /// when the peer registers.
    pub fn admit_as(&mut self, conn: ConnId, host: &str, port: u16) -> Result<(), IdentityMismatch> {
        if let Some(&slot) = self.by_conn.get(&conn)
            && let Some(peer) = self.peers.get(slot)
        {
            // Hostnames compare case-insensitively (PROTOCOL.md, Peer to server).
            if peer.id.port == port && peer.id.host.eq_ignore_ascii_case(host) {
                return Ok(());
            }
            let claimed = PeerId { host: host.to_owned(), port };
            return Err(IdentityMismatch { registered: peer.id.clone(), claimed });
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.bytes += peer_cost(host);
        let peer = PeerEntry { id: PeerId { host: host.to_owned(), port }, seq, rfcs: HashMap::default() };
        // The peer slab cannot fill up: each peer is a live connection.
        if let Some(slot) = self.peers.insert(peer) {
            self.by_conn.insert(conn, slot);
            self.peer_order.insert(seq, slot);
        }
        Ok(())
    }

    /// Adds a record for an admitted peer and returns it as stored. Adding an
    /// RFC the peer already holds stores nothing new and returns the same
    /// record. Returns `None` for a connection that was never admitted, or
    /// a record the caps leave no room for (or, in theory, once the index
    /// holds 4 billion records).
    pub fn add(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> Option<Record> {
        self.add_ref(conn, rfc, title).map(|r| r.to_record())
    }

    /// [`Index::add`], returning the stored record without copying it.
    pub fn add_ref(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> Option<RecordRef<'_>> {
        let peer = *self.by_conn.get(&conn)?;
        let p = self.peers.get(peer)?;
        let slot = match p.rfcs.get(&rfc).copied() {
            Some(slot) => slot,
            None => {
                let new = NewRecord { conn, host: &p.id.host, port: p.id.port, rfc, title };
                self.room_for(Some(p), new).ok()?;
                self.insert(peer, rfc, title)?
            }
        };
        self.get(slot)
    }

    /// ADD as one step: [`Index::admit_as`] then [`Index::add_ref`], with
    /// the connection's peer found once and the caps checked before
    /// anything is stored (a refused ADD registers no peer either). The
    /// server's in-memory ADD path: an admitted connection costs one probe
    /// of `by_conn` per ADD, no more than the connection-side identity cache
    /// of the server before the store seam.
    pub fn admit_and_add(&mut self, new: NewRecord<'_>) -> Result<RecordRef<'_>, AddError> {
        let peer = match self.by_conn.get(&new.conn).and_then(|&slot| Some((slot, self.peers.get(slot)?))) {
            Some((slot, p)) => {
                // Hostnames compare case-insensitively (PROTOCOL.md, Peer to server).
                if p.id.port != new.port || !p.id.host.eq_ignore_ascii_case(new.host) {
                    let claimed = PeerId { host: new.host.to_owned(), port: new.port };
                    return Err(IdentityMismatch { registered: p.id.clone(), claimed }.into());
                }
                if let Some(&held) = p.rfcs.get(&new.rfc) {
                    return self.get(held).ok_or(AddError::Full);
                }
                self.room_for(Some(p), new)?;
                slot
            }
            None => {
                self.room_for(None, new)?;
                self.admit_as(new.conn, new.host, new.port)?;
                *self.by_conn.get(&new.conn).ok_or(AddError::Full)?
            }
        };
        let slot = self.insert(peer, new.rfc, new.title).ok_or(AddError::Full)?;
        self.get(slot).ok_or(AddError::Full)
    }

    /// Stores a new record for `peer`, the newest of its RFC: the head of
    /// its chain, linked directly (the general [`Index::link`] is for
    /// records placed lower down by a replicated view).
    fn insert(&mut self, peer: Slot, rfc: RfcNumber, title: &str) -> Option<Slot> {
        self.next_seq += 1;
        let seq = self.next_seq;
        let older = self.by_rfc.get(&rfc).copied().unwrap_or(NIL);
        let slot = self.store_entry(peer, rfc, title, seq, older)?;
        self.by_rfc.insert(rfc, slot);
        self.set_newer(slot, NIL);
        if older != NIL {
            self.set_newer(older, slot);
        }
        self.by_seq.insert(seq, slot);
        if let Some(p) = self.peers.get_mut(peer) {
            p.rfcs.insert(rfc, slot);
        }
        Some(slot)
    }

    /// The record `conn` holds for `rfc`, if any.
    pub fn held(&self, conn: ConnId, rfc: RfcNumber) -> Option<RecordRef<'_>> {
        let peer = self.peers.get(*self.by_conn.get(&conn)?)?;
        self.get(*peer.rfcs.get(&rfc)?)
    }

    /// Places a record whose sequence was given elsewhere (a shared index's
    /// global sequence) at its place in its RFC's chain and in LIST's order,
    /// for an admitted peer. Records mostly arrive in sequence order, so the
    /// place is nearly always the head of the chain; one that arrives late
    /// walks down past the newer ones. Returns `None` (and stores nothing)
    /// for a connection never admitted, or when the peer already holds
    /// `rfc` or the sequence is taken.
    pub fn insert_at(
        &mut self,
        conn: ConnId,
        rfc: RfcNumber,
        title: &str,
        seq: u64,
    ) -> Option<RecordRef<'_>> {
        let peer = *self.by_conn.get(&conn)?;
        if self.peers.get(peer)?.rfcs.contains_key(&rfc) || self.by_seq.contains_key(&seq) {
            return None;
        }
        // Walk down from the head past the newer records: `newer` ends as
        // the one just above the new record (NIL: it is the new head).
        let (mut newer, mut older) = (NIL, self.by_rfc.get(&rfc).copied().unwrap_or(NIL));
        while let Some(e) = self.records.get(older).filter(|e| e.seq > seq) {
            newer = older;
            older = e.older;
        }
        self.next_seq = self.next_seq.max(seq);
        let slot = self.insert_between(peer, rfc, title, seq, older, newer)?;
        self.get(slot)
    }

    /// Stores a record with sequence `seq` between `older` and `newer` in
    /// its RFC's chain (either may be [`NIL`]; `newer` is NIL for the
    /// head), linking both directions.
    fn insert_between(
        &mut self,
        peer: Slot,
        rfc: RfcNumber,
        title: &str,
        seq: u64,
        older: Slot,
        newer: Slot,
    ) -> Option<Slot> {
        let slot = self.store_entry(peer, rfc, title, seq, older)?;
        self.link(slot, rfc, older, newer);
        self.by_seq.insert(seq, slot);
        if let Some(p) = self.peers.get_mut(peer) {
            p.rfcs.insert(rfc, slot);
        }
        Some(slot)
    }

    /// Builds a record's line and puts the record in the slab, linked to
    /// nothing yet but `older`.
    #[inline]
    fn store_entry(
        &mut self,
        peer: Slot,
        rfc: RfcNumber,
        title: &str,
        seq: u64,
        older: Slot,
    ) -> Option<Slot> {
        let id = &self.peers.get(peer)?.id;
        let line = record_line(rfc, title, &id.host, id.port);
        let title_len = u32::try_from(title.len()).ok()?;
        let cost = line.len() as u64 + RECORD_OVERHEAD;
        let slot = self.records.insert(Entry { line, title_len, seq, rfc, peer, older })?;
        self.bytes += cost;
        Some(slot)
    }

    /// Links the record at `slot` into its RFC's chain between `older` and
    /// `newer` (NIL `newer`: as the head).
    fn link(&mut self, slot: Slot, rfc: RfcNumber, older: Slot, newer: Slot) {
        if let Some(e) = self.records.get_mut(slot) {
            e.older = older;
        }
        self.set_newer(slot, newer);
        match self.records.get_mut(newer) {
            Some(e) => e.older = slot,
            None => {
                self.by_rfc.insert(rfc, slot);
            }
        }
        if older != NIL {
            self.set_newer(older, slot);
        }
    }

    /// Takes the record at `slot` out of its RFC's chain and LIST's order,
    /// leaving it in the slab.
    fn unlink(&mut self, slot: Slot) {
        let Some((seq, rfc, older)) = self.records.get(slot).map(|e| (e.seq, e.rfc, e.older)) else {
            return;
        };
        self.by_seq.remove(&seq);
        let newer = self.newer.get(slot as usize).copied().unwrap_or(NIL);
        if older != NIL {
            self.set_newer(older, newer);
        }
        if let Some(e) = self.records.get_mut(newer) {
            e.older = older;
        } else if older == NIL {
            self.by_rfc.remove(&rfc);
        } else {
            self.by_rfc.insert(rfc, older);
        }
    }

    fn set_newer(&mut self, slot: Slot, newer: Slot) {
        let i = slot as usize;
        if i >= self.newer.len() {
            self.newer.resize(i + 1, NIL);
        }
        self.newer[i] = newer;
    }

    fn get(&self, slot: Slot) -> Option<RecordRef<'_>> {
        Some(RecordRef { entry: self.records.get(slot)?, peers: &self.peers })
    }

    /// Forgets a peer and all its records; returns how many records went.
    /// Costs time in proportion to that peer's records, not the index's.
    pub fn remove_peer(&mut self, conn: ConnId) -> usize {
        let Some(peer) = self.by_conn.remove(&conn).and_then(|slot| self.peers.remove(slot)) else {
            return 0;
        };
        self.peer_order.remove(&peer.seq);
        self.bytes -= peer_cost(&peer.id.host);
        for &slot in peer.rfcs.values() {
            self.remove_record(slot);
        }
        peer.rfcs.len()
    }

    /// Forgets the record `conn` holds for `rfc`; returns whether there
    /// was one.
    pub fn remove(&mut self, conn: ConnId, rfc: RfcNumber) -> bool {
        let slot = self
            .by_conn
            .get(&conn)
            .copied()
            .and_then(|p| self.peers.get_mut(p))
            .and_then(|p| p.rfcs.remove(&rfc));
        match slot {
            Some(slot) => {
                self.remove_record(slot);
                true
            }
            None => false,
        }
    }

    /// Gives the record `conn` holds for `rfc` the sequence `seq` instead,
    /// moving it to that place in its RFC's chain and in LIST's order (a
    /// shared index's record, placed at once with a provisional sequence,
    /// then given its global one). Returns whether it moved.
    pub fn move_to(&mut self, conn: ConnId, rfc: RfcNumber, seq: u64) -> bool {
        let Some(&peer) = self.by_conn.get(&conn) else { return false };
        let Some(&slot) = self.peers.get(peer).and_then(|p| p.rfcs.get(&rfc)) else { return false };
        let Some(entry) = self.records.get(slot) else { return false };
        if entry.seq == seq || self.by_seq.contains_key(&seq) {
            return false;
        }
        // Relinked where it belongs, its line kept as it is.
        self.unlink(slot);
        let (mut newer, mut older) = (NIL, self.by_rfc.get(&rfc).copied().unwrap_or(NIL));
        while let Some(e) = self.records.get(older).filter(|e| e.seq > seq) {
            newer = older;
            older = e.older;
        }
        if let Some(e) = self.records.get_mut(slot) {
            e.seq = seq;
        }
        self.link(slot, rfc, older, newer);
        self.by_seq.insert(seq, slot);
        self.next_seq = self.next_seq.max(seq);
        true
    }

    /// The sequence of the record `conn` holds for `rfc`.
    pub fn seq_of(&self, conn: ConnId, rfc: RfcNumber) -> Option<u64> {
        let peer = self.peers.get(*self.by_conn.get(&conn)?)?;
        Some(self.records.get(*peer.rfcs.get(&rfc)?)?.seq)
    }

    /// Drops one record from the slab, from LIST's order and from its RFC's
    /// chain (the caller drops it from its peer's map).
    fn remove_record(&mut self, slot: Slot) {
        self.unlink(slot);
        if let Some(e) = self.records.remove(slot) {
            self.bytes -= e.line.len() as u64 + RECORD_OVERHEAD;
        }
    }

    /// Active peers, newest first.
    pub fn peers(&self) -> Vec<PeerId> {
        self.peer_order
            .values()
            .rev()
            .filter_map(|&slot| self.peers.get(slot))
            .map(|p| p.id.clone())
            .collect()
    }

    pub fn peer_count(&self) -> usize {
        self.by_conn.len()
    }

    pub fn record_count(&self) -> usize {
        self.records.len()
    }
}
