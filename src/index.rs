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

use std::collections::BTreeMap;
use std::fmt;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use crate::protocol::response::{encode_record, record_len};
use crate::protocol::{PeerId, Record, RfcNumber};

/// Identifies one connection to the server, hence one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A position in a paged LIST: the sequence to continue below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(u64);

impl Cursor {
    pub const START: Cursor = Cursor(u64::MAX);
}

/// The position of a record or a peer in its slab.
type Slot = u32;

/// The end of a chain. No slab gives out this slot (it would be the 4
/// billionth item), so looking it up finds nothing.
const NIL: Slot = Slot::MAX;

/// A vector whose holes are reused, so an item's slot stays valid for as
/// long as the item lives.
#[derive(Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<Slot>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `item` and returns its slot, or `None` when the slab is full.
    fn insert(&mut self, item: T) -> Option<Slot> {
        if let Some(slot) = self.free.pop() {
            self.items[slot as usize] = Some(item);
            return Some(slot);
        }
        let slot = Slot::try_from(self.items.len()).ok().filter(|&s| s != NIL)?;
        self.items.push(Some(item));
        Some(slot)
    }

    fn remove(&mut self, slot: Slot) -> Option<T> {
        let item = self.items.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(item)
    }

    /// The item at `slot`; `None` for a hole or for [`NIL`].
    fn get(&self, slot: Slot) -> Option<&T> {
        self.items.get(slot as usize)?.as_ref()
    }

    fn get_mut(&mut self, slot: Slot) -> Option<&mut T> {
        self.items.get_mut(slot as usize)?.as_mut()
    }

    fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

/// A record as stored: its line as it goes on the wire, built once when the
/// record is added (40 bytes and the line).
#[derive(Debug)]
struct Entry {
    /// `RFC <n> <title> <host> <port>` and CR LF: LOOKUP and LIST copy it
    /// out whole, with no formatting and no visit to the peer's entry.
    line: Box<str>,
    title_len: u32,
    seq: u64,
    rfc: RfcNumber,
    peer: Slot,
    /// The next older record of the same RFC, or [`NIL`].
    older: Slot,
}

#[derive(Debug)]
struct PeerEntry {
    id: PeerId,
    seq: u64,
    rfcs: HashMap<RfcNumber, Slot>,
}

/// A borrowed view of one record, handed to LOOKUP's and LIST's callbacks.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    entry: &'a Entry,
    peers: &'a Slab<PeerEntry>,
}

impl<'a> RecordRef<'a> {
    pub fn rfc(&self) -> RfcNumber {
        self.entry.rfc
    }

    pub fn title(&self) -> &'a str {
        let start = "RFC ".len() + decimal_len(self.entry.rfc.0) + 1;
        &self.entry.line[start..start + self.entry.title_len as usize]
    }

    /// The record's line as a response carries it, CR LF included.
    pub fn line(&self) -> &'a str {
        &self.entry.line
    }

    fn peer(&self) -> Option<&'a PeerId> {
        self.peers.get(self.entry.peer).map(|p| &p.id)
    }

    pub fn host(&self) -> &'a str {
        self.peer().map_or("", |p| &p.host)
    }

    pub fn port(&self) -> u16 {
        self.peer().map_or(0, |p| p.port)
    }

    pub fn to_record(&self) -> Record {
        Record {
            rfc: self.rfc(),
            title: self.title().to_owned(),
            host: self.host().to_owned(),
            port: self.port(),
        }
    }
}

/// Digits in `n`, written in decimal.
fn decimal_len(mut n: u32) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// The request names a different peer than the connection registered as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this connection is peer {registered}, not {claimed}")]
pub struct IdentityMismatch {
    pub registered: PeerId,
    pub claimed: PeerId,
}

#[derive(Debug, Default)]
pub struct Index {
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

impl Index {
    pub fn new() -> Self {
        Index::default()
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
    /// record. Returns `None` only for a connection that was never admitted
    /// (or, in theory, once the index holds 4 billion records).
    pub fn add(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> Option<Record> {
        self.add_ref(conn, rfc, title).map(|r| r.to_record())
    }

    /// [`Index::add`], returning the stored record without copying it.
    pub fn add_ref(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> Option<RecordRef<'_>> {
        let peer = *self.by_conn.get(&conn)?;
        self.add_for(peer, rfc, title)
    }

    /// ADD as one step: [`Index::admit_as`] then [`Index::add_ref`], with
    /// the connection's peer found once. The server's in-memory ADD path:
    /// an admitted connection costs one probe of `by_conn` per ADD, no more
    /// than the connection-side identity cache of the server before the
    /// store seam. `Ok(None)` only when the index cannot hold the record.
    pub fn admit_and_add(
        &mut self,
        conn: ConnId,
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
    ) -> Result<Option<RecordRef<'_>>, IdentityMismatch> {
        let peer = match self.by_conn.get(&conn).and_then(|&slot| Some((slot, self.peers.get(slot)?))) {
            Some((slot, p)) => {
                // Hostnames compare case-insensitively (PROTOCOL.md, Peer to server).
                if p.id.port != port || !p.id.host.eq_ignore_ascii_case(host) {
                    let claimed = PeerId { host: host.to_owned(), port };
                    return Err(IdentityMismatch { registered: p.id.clone(), claimed });
                }
                slot
            }
            None => {
                self.admit_as(conn, host, port)?;
                match self.by_conn.get(&conn) {
                    Some(&slot) => slot,
                    None => return Ok(None),
                }
            }
        };
        Ok(self.add_for(peer, rfc, title))
    }

    /// Adds (or finds) `peer`'s record of `rfc`.
    fn add_for(&mut self, peer: Slot, rfc: RfcNumber, title: &str) -> Option<RecordRef<'_>> {
        let held = self.peers.get(peer)?.rfcs.get(&rfc).copied();
        let slot = match held {
            Some(slot) => slot,
            None => self.insert(peer, rfc, title)?,
        };
        self.get(slot)
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

    /// Whether a record with sequence `seq` is held.
    pub fn has_seq(&self, seq: u64) -> bool {
        self.by_seq.contains_key(&seq)
    }

    /// The highest sequence given out or placed so far.
    pub fn last_seq(&self) -> u64 {
        self.next_seq
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
        // Allocated at its exact size, so the boxed line keeps the
        // allocation as it is (no shrinking reallocation per ADD).
        let mut line = Vec::with_capacity(record_len(rfc, title, &id.host, id.port));
        encode_record(rfc, title, &id.host, id.port, &mut line);
        // Text and ASCII digits, blanks and CR LF: valid UTF-8.
        let line = String::from_utf8(line).ok()?.into_boxed_str();
        let title_len = u32::try_from(title.len()).ok()?;
        self.records.insert(Entry { line, title_len, seq, rfc, peer, older })
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

    /// Every record of `rfc`, newest first.
    pub fn lookup(&self, rfc: RfcNumber) -> Vec<Record> {
        let mut out = Vec::new();
        self.lookup_each(rfc, |r| out.push(r.to_record()));
        out
    }

    /// Calls `f` on every record of `rfc`, newest first, without copying
    /// them; returns how many there were.
    pub fn lookup_each(&self, rfc: RfcNumber, mut f: impl FnMut(RecordRef<'_>)) -> usize {
        let mut slot = self.by_rfc.get(&rfc).copied().unwrap_or(NIL);
        let mut n = 0;
        while let Some(entry) = self.records.get(slot) {
            f(RecordRef { entry, peers: &self.peers });
            n += 1;
            slot = entry.older;
        }
        n
    }

    /// Calls `f` on up to `max` records, newest first, starting below
    /// `cursor`; returns where to continue, or `None` when the list is done.
    /// Records added after a LIST began are newer than its cursor and so are
    /// not part of it; records removed meanwhile are skipped.
    pub fn list_page(&self, cursor: Cursor, max: usize, mut f: impl FnMut(RecordRef<'_>)) -> Option<Cursor> {
        let mut last = None;
        for (&seq, &slot) in self.by_seq.range(..cursor.0).rev().take(max) {
            if let Some(r) = self.get(slot) {
                f(r);
            }
            last = Some(seq);
        }
        let last = last?;
        // More to come only if something lies below the last one sent.
        self.by_seq.range(..last).next_back().map(|_| Cursor(last))
    }

    /// Every record, newest first (for tests and small indexes).
    pub fn list(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.records.len());
        let mut cursor = Some(Cursor::START);
        while let Some(c) = cursor {
            cursor = self.list_page(c, 1024, |r| out.push(r.to_record()));
        }
        out
    }

    /// Forgets a peer and all its records; returns how many records went.
    /// Costs time in proportion to that peer's records, not the index's.
    pub fn remove_peer(&mut self, conn: ConnId) -> usize {
        let Some(peer) = self.by_conn.remove(&conn).and_then(|slot| self.peers.remove(slot)) else {
            return 0;
        };
        self.peer_order.remove(&peer.seq);
        for &slot in peer.rfcs.values() {
            self.remove_record(slot);
        }
        peer.rfcs.len()
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
        self.records.remove(slot);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pid(host: &str, port: u16) -> PeerId {
        PeerId { host: host.into(), port }
    }

    #[test]
    fn admit_and_add_registers_once_and_keeps_one_identity() {
        let mut ix = Index::new();
        let line = |r: Option<RecordRef<'_>>| r.map(|r| r.line().to_owned());
        let first = ix.admit_and_add(ConnId(1), "hostA", 1, RfcNumber(7), "Seven").unwrap();
        assert_eq!(line(first).as_deref(), Some("RFC 7 Seven hostA 1\r\n"));
        // Hostnames compare case-insensitively; an RFC held already is not stored again.
        let again = ix.admit_and_add(ConnId(1), "HOSTA", 1, RfcNumber(7), "Other").unwrap();
        assert_eq!(line(again).as_deref(), Some("RFC 7 Seven hostA 1\r\n"));
        assert!(ix.admit_and_add(ConnId(1), "hostB", 1, RfcNumber(8), "t").is_err());
        assert!(ix.admit_and_add(ConnId(1), "hostA", 2, RfcNumber(8), "t").is_err());
        ix.admit_and_add(ConnId(2), "hostB", 2, RfcNumber(7), "Seven").unwrap();
        assert_eq!(ix.peer_count(), 2);
        assert_eq!(ix.record_count(), 2);
        let holders: Vec<String> = ix.lookup(RfcNumber(7)).into_iter().map(|r| r.host).collect();
        assert_eq!(holders, ["hostB", "hostA"]);
    }

    #[test]
    fn newest_first_and_several_per_rfc() {
        let mut ix = Index::new();
        let (a, b) = (ConnId(1), ConnId(2));
        ix.admit(a, &pid("a", 1)).unwrap();
        ix.admit(b, &pid("b", 2)).unwrap();
        ix.add(a, RfcNumber(1), "one").unwrap();
        ix.add(b, RfcNumber(1), "one").unwrap();
        ix.add(a, RfcNumber(2), "two").unwrap();
        let hosts: Vec<_> = ix.lookup(RfcNumber(1)).into_iter().map(|r| r.host).collect();
        assert_eq!(hosts, ["b", "a"]);
        let list: Vec<_> = ix.list().into_iter().map(|r| (r.rfc.0, r.host)).collect();
        assert_eq!(list, [(2, "a".to_string()), (1, "b".into()), (1, "a".into())]);
        assert_eq!(ix.peers(), [pid("b", 2), pid("a", 1)]);
        assert!(ix.lookup(RfcNumber(3)).is_empty());
    }

    #[test]
    fn add_is_idempotent() {
        let mut ix = Index::new();
        ix.admit(ConnId(1), &pid("a", 1)).unwrap();
        let first = ix.add(ConnId(1), RfcNumber(7), "t").unwrap();
        let again = ix.add(ConnId(1), RfcNumber(7), "t").unwrap();
        assert_eq!(first, again);
        assert_eq!(ix.record_count(), 1);
        assert_eq!(ix.add(ConnId(9), RfcNumber(7), "t"), None);
    }

    #[test]
    fn one_connection_one_peer() {
        let mut ix = Index::new();
        ix.admit(ConnId(1), &pid("same", 1)).unwrap();
        ix.admit(ConnId(2), &pid("same", 2)).unwrap();
        assert!(ix.admit(ConnId(1), &pid("same", 1)).is_ok());
        assert!(ix.admit(ConnId(1), &pid("same", 2)).is_err());
        assert!(ix.admit(ConnId(1), &pid("other", 1)).is_err());
        ix.add(ConnId(1), RfcNumber(5), "t").unwrap();
        ix.add(ConnId(2), RfcNumber(5), "t").unwrap();
        assert_eq!(ix.remove_peer(ConnId(1)), 1);
        assert_eq!(
            ix.lookup(RfcNumber(5)),
            vec![Record { rfc: RfcNumber(5), title: "t".into(), host: "same".into(), port: 2 }]
        );
        assert_eq!(ix.peers(), [pid("same", 2)]);
        assert_eq!(ix.remove_peer(ConnId(1)), 0);
    }

    #[test]
    fn pages() {
        let mut ix = Index::new();
        ix.admit(ConnId(1), &pid("a", 1)).unwrap();
        for n in 0..10 {
            ix.add(ConnId(1), RfcNumber(n), "t");
        }
        let mut seen = Vec::new();
        let mut cursor = Some(Cursor::START);
        let mut pages = 0;
        while let Some(c) = cursor {
            cursor = ix.list_page(c, 3, |r| seen.push(r.rfc().0));
            pages += 1;
        }
        assert_eq!(seen, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(pages, 4);
        assert_eq!(Index::new().list_page(Cursor::START, 3, |_| panic!()), None);
    }

    #[test]
    fn a_list_in_progress_skips_later_adds_and_removed_records() {
        let mut ix = Index::new();
        ix.admit(ConnId(1), &pid("a", 1)).unwrap();
        ix.admit(ConnId(2), &pid("b", 2)).unwrap();
        for n in 0..6 {
            ix.add(ConnId(1 + u64::from(n % 2)), RfcNumber(n), "t");
        }
        let mut seen = Vec::new();
        let cursor = ix.list_page(Cursor::START, 2, |r| seen.push(r.rfc().0));
        ix.add(ConnId(1), RfcNumber(99), "late");
        ix.remove_peer(ConnId(2));
        let mut cursor = cursor;
        while let Some(c) = cursor {
            cursor = ix.list_page(c, 2, |r| seen.push(r.rfc().0));
        }
        assert_eq!(seen, [5, 4, 2, 0]);
    }

    #[test]
    fn holders_leave_from_anywhere_in_the_order() {
        let mut ix = Index::new();
        for c in 1..=4 {
            ix.admit(ConnId(c), &pid(&format!("h{c}"), 1)).unwrap();
            ix.add(ConnId(c), RfcNumber(1), "t");
        }
        let hosts =
            |ix: &Index| -> Vec<String> { ix.lookup(RfcNumber(1)).into_iter().map(|r| r.host).collect() };
        assert_eq!(hosts(&ix), ["h4", "h3", "h2", "h1"]);
        ix.remove_peer(ConnId(3));
        assert_eq!(hosts(&ix), ["h4", "h2", "h1"]);
        ix.remove_peer(ConnId(4));
        assert_eq!(hosts(&ix), ["h2", "h1"]);
        ix.remove_peer(ConnId(1));
        assert_eq!(hosts(&ix), ["h2"]);
        // Slots freed above are reused; the order still follows the adds.
        ix.admit(ConnId(5), &pid("h5", 1)).unwrap();
        ix.add(ConnId(5), RfcNumber(1), "t");
        assert_eq!(hosts(&ix), ["h5", "h2"]);
        ix.remove_peer(ConnId(2));
        ix.remove_peer(ConnId(5));
        assert!(hosts(&ix).is_empty());
        assert_eq!(ix.record_count(), 0);
    }

    /// The size the memory figure relies on.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn stored_size() {
        assert_eq!(size_of::<Option<Entry>>(), 40);
    }

    fn rss_kib() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Memory per record beyond its title's text: 1M records of distinct
    /// RFCs, 40-byte titles, 10 peers. Linux only; run it alone:
    /// `cargo test --release --lib bytes_per_record -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bytes_per_record() {
        const N: u32 = 1_000_000;
        const TITLE: &str = "A forty byte title of some RFC, roughly.";
        let before = rss_kib();
        let mut ix = Index::new();
        for c in 0..10 {
            ix.admit(ConnId(c), &pid(&format!("host{c}"), 1024)).unwrap();
        }
        for n in 0..N {
            ix.add(ConnId(u64::from(n % 10)), RfcNumber(n), TITLE).unwrap();
        }
        let grown = (rss_kib() - before) * 1024;
        let per_record = grown as f64 / f64::from(N) - TITLE.len() as f64;
        println!("{per_record:.1} bytes per record beyond the title");
        assert_eq!(ix.record_count(), N as usize);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Admit(u8, u8),
        Add(u8, u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..6u8, 1..3u8).prop_map(|(c, p)| Op::Admit(c, p)),
            (0..6u8, 0..8u8).prop_map(|(c, r)| Op::Add(c, r)),
            (0..6u8).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Records placed with sequences given elsewhere, in any arrival
        /// order, read back exactly as if they had been added in sequence
        /// order; removal relinks them as it does records added here.
        #[test]
        fn insert_at_places_records_by_sequence(
            seqs in Just((1..40u64).collect::<Vec<_>>()).prop_shuffle(),
            leave in proptest::collection::vec(0..4u64, 0..3),
        ) {
            let mut ix = Index::new();
            for c in 0..4 {
                ix.admit(ConnId(c), &pid(&format!("h{c}"), 1)).unwrap();
            }
            // Sequence s: peer s % 4, RFC s / 4 % 3 (so a peer holds an RFC once).
            let place = |s: u64| (ConnId(s % 4), RfcNumber(u32::try_from(s / 4).unwrap()));
            for &s in &seqs {
                let (c, r) = place(s);
                prop_assert!(ix.insert_at(c, r, "t", s).is_some());
                prop_assert!(ix.insert_at(c, r, "t", s).is_none());
            }
            prop_assert_eq!(ix.last_seq(), 39);
            for &c in &leave {
                ix.remove_peer(ConnId(c));
            }
            let mut want: Vec<u64> = (1..40).filter(|s| !leave.contains(&(s % 4))).collect();
            want.reverse();
            let got: Vec<(u32, String)> = ix.list().into_iter().map(|r| (r.rfc.0, r.host)).collect();
            let expect: Vec<(u32, String)> =
                want.iter().map(|&s| (place(s).1.0, format!("h{}", s % 4))).collect();
            prop_assert_eq!(&got, &expect);
            for r in 0..10u32 {
                let got: Vec<String> = ix.lookup(RfcNumber(r)).into_iter().map(|r| r.host).collect();
                let expect: Vec<String> = want.iter().filter(|&&s| place(s).1.0 == r)
                    .map(|s| format!("h{}", s % 4)).collect();
                prop_assert_eq!(got, expect);
            }
            // Records placed high, then moved to their sequence, end up
            // as if placed there directly.
            for &s in seqs.iter().filter(|&&s| s % 4 != 0 && !leave.contains(&(s % 4))) {
                let (c, r) = place(s);
                prop_assert!(ix.move_to(c, r, (1 << 62) + s));
            }
            for &s in seqs.iter().filter(|&&s| s % 4 != 0 && !leave.contains(&(s % 4))) {
                let (c, r) = place(s);
                prop_assert!(ix.move_to(c, r, s));
                prop_assert_eq!(ix.seq_of(c, r), Some(s));
            }
            let got: Vec<(u32, String)> = ix.list().into_iter().map(|r| (r.rfc.0, r.host)).collect();
            prop_assert_eq!(&got, &expect);
            for r in 0..10u32 {
                let got: Vec<String> = ix.lookup(RfcNumber(r)).into_iter().map(|r| r.host).collect();
                let expect: Vec<String> = want.iter().filter(|&&s| place(s).1.0 == r)
                    .map(|s| format!("h{}", s % 4)).collect();
                prop_assert_eq!(got, expect);
            }
            // An ADD made here afterwards is the newest.
            ix.admit(ConnId(9), &pid("late", 1)).unwrap();
            ix.add(ConnId(9), RfcNumber(0), "t");
            let holders = ix.lookup(RfcNumber(0));
            prop_assert_eq!(holders[0].host.as_str(), "late");
        }

        /// The index agrees with a naive model: a list of records, newest
        /// first, filtered on every query.
        #[test]
        fn matches_naive_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ix = Index::new();
            let mut peers: HashMap<u8, PeerId> = HashMap::default();
            let mut model: Vec<(u8, Record)> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Admit(c, p) => {
                        let id = pid(&format!("h{}", c % 3), p.into());
                        let res = ix.admit(ConnId(c.into()), &id);
                        match peers.get(&c) {
                            Some(known) => prop_assert_eq!(res.is_ok(), *known == id),
                            None => { prop_assert!(res.is_ok()); peers.insert(c, id); }
                        }
                    }
                    Op::Add(c, r) => {
                        // Each ADD names a new title, so a repeated ADD must
                        // answer with the first one.
                        let title = format!("title {r} #{step}");
                        let got = ix.add(ConnId(c.into()), RfcNumber(r.into()), &title);
                        match peers.get(&c) {
                            None => prop_assert_eq!(got, None),
                            Some(id) => {
                                let rfc = RfcNumber(r.into());
                                let rec = match model.iter().find(|(mc, m)| *mc == c && m.rfc == rfc) {
                                    Some((_, held)) => held.clone(),
                                    None => {
                                        let rec = Record { rfc, title, host: id.host.clone(), port: id.port };
                                        model.insert(0, (c, rec.clone()));
                                        rec
                                    }
                                };
                                prop_assert_eq!(got, Some(rec));
                            }
                        }
                    }
                    Op::Remove(c) => {
                        let before = model.len();
                        model.retain(|(mc, _)| *mc != c);
                        prop_assert_eq!(ix.remove_peer(ConnId(c.into())), before - model.len());
                        peers.remove(&c);
                    }
                }
                let want: Vec<Record> = model.iter().map(|(_, r)| r.clone()).collect();
                prop_assert_eq!(ix.list(), want.clone());
                prop_assert_eq!(ix.record_count(), want.len());
                let mut paged = Vec::new();
                let mut cursor = Some(Cursor::START);
                while let Some(c) = cursor {
                    cursor = ix.list_page(c, 3, |r| paged.push(r.to_record()));
                }
                prop_assert_eq!(paged, want.clone());
                for r in 0..8 {
                    let want_r: Vec<Record> = want.iter().filter(|m| m.rfc.0 == r).cloned().collect();
                    prop_assert_eq!(ix.lookup(RfcNumber(r)), want_r.clone());
                    // Each stored line is its record, encoded.
                    let mut lines = Vec::new();
                    ix.lookup_each(RfcNumber(r), |rec| lines.push(rec.line().to_owned()));
                    let want_lines: Vec<String> = want_r.iter().map(|m| {
                        let mut out = Vec::new();
                        encode_record(m.rfc, &m.title, &m.host, m.port, &mut out);
                        String::from_utf8(out).unwrap()
                    }).collect();
                    prop_assert_eq!(lines, want_lines);
                }
                prop_assert_eq!(ix.peer_count(), peers.len());
            }
        }
    }
}
