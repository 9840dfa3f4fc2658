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

/// A position in a paged LOOKUP: the record sent last, by slot and
/// sequence (checked when used: the record may have gone meanwhile, and its
/// slot been given to another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HolderCursor {
    slot: Slot,
    seq: u64,
}

impl HolderCursor {
    pub const START: HolderCursor = HolderCursor { slot: NIL, seq: u64::MAX };
}

/// What one peer and the whole index may hold (PROTOCOL.md, Limits). An
/// ADD past either is refused, and nothing is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Records one peer (one connection) may hold.
    pub records_per_peer: usize,
    /// Bytes the whole index may hold, counted as [`record_cost`] for each
    /// record and [`peer_cost`] for each peer.
    pub memory: u64,
}

impl Caps {
    /// No limit (an index built by a test or a tool).
    pub const NONE: Caps = Caps { records_per_peer: usize::MAX, memory: u64::MAX };
    /// The server's defaults: 20,000 records a peer (every RFC ever
    /// published fits), 1 GiB in all.
    pub const DEFAULT: Caps = Caps { records_per_peer: 20_000, memory: 1 << 30 };
}

impl Default for Caps {
    fn default() -> Self {
        Caps::DEFAULT
    }
}

/// What one record costs the index beyond its line (`RFC <n> <title>
/// <host> <port>` and CR LF, which it holds whole): its slab entry (40
/// bytes), its link in `newer` (4), its place in `by_seq` (a B-tree entry,
/// about 24), in its peer's map and in `by_rfc` (about 16 each with the
/// tables' spare room), and the allocator's rounding and header for the
/// line (about 16). Measured (`bytes_per_record`, release build, glibc):
/// the resident set grows by 120 bytes per record beyond the line for 1M
/// records of 10 peers with 40-byte titles, and by 144 for 20k records
/// with 8 KiB titles; 160 leaves room for the moments when a table has
/// just doubled, so the budget's count is never below what the records
/// really take.
pub const RECORD_OVERHEAD: u64 = 160;

/// What one peer costs beyond its hostname: its entry, its place in
/// `by_conn` and `peer_order`, and its (empty) map of RFCs.
pub const PEER_OVERHEAD: u64 = 256;

/// What a record costs the index's memory budget.
pub fn record_cost(rfc: RfcNumber, title: &str, host: &str, port: u16) -> u64 {
    record_len(rfc, title, host, port) as u64 + RECORD_OVERHEAD
}

/// What a peer costs the index's memory budget, its records aside.
pub fn peer_cost(host: &str) -> u64 {
    host.len() as u64 + PEER_OVERHEAD
}

/// An ADD the caps do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapExceeded {
    #[error("the peer holds {0} records already, the most one peer may hold")]
    RecordsPerPeer(usize),
    #[error("the index is at its memory budget of {0} bytes")]
    IndexMemory(u64),
}

impl CapExceeded {
    /// The `reason` label of `p2pci_adds_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            CapExceeded::RecordsPerPeer(_) => "records_per_peer",
            CapExceeded::IndexMemory(_) => "index_memory",
        }
    }
}

/// Why an ADD was refused; each is answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Identity(#[from] IdentityMismatch),
    #[error(transparent)]
    Cap(#[from] CapExceeded),
    /// The store cannot hold another record (4 billion of them).
    #[error("the index is full")]
    Full,
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

    /// Whether the caps leave room for a new record of `rfc` by `conn`
    /// (registered or not yet, as `host:port`). An RFC the peer holds
    /// already needs no room: its ADD stores nothing.
    pub fn room(
        &self,
        conn: ConnId,
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
    ) -> Result<(), CapExceeded> {
        let peer = self.by_conn.get(&conn).and_then(|&slot| self.peers.get(slot));
        self.room_for(peer, host, port, rfc, title)
    }

    /// [`Index::room`] for `peer` (`None`: not registered yet, and its
    /// entry is to be paid for too).
    #[inline]
    fn room_for(
        &self,
        peer: Option<&PeerEntry>,
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
    ) -> Result<(), CapExceeded> {
        if peer.map_or(0, |p| p.rfcs.len()) >= self.caps.records_per_peer {
            return Err(CapExceeded::RecordsPerPeer(self.caps.records_per_peer));
        }
        let (host, port) = peer.map_or((host, port), |p| (&p.id.host, p.id.port));
        let mut cost = record_cost(rfc, title, host, port);
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
        self.add_for(peer, rfc, title)
    }

    /// ADD as one step: [`Index::admit_as`] then [`Index::add_ref`], with
    /// the connection's peer found once and the caps checked before
    /// anything is stored (a refused ADD registers no peer either). The
    /// server's in-memory ADD path: an admitted connection costs one probe
    /// of `by_conn` per ADD, no more than the connection-side identity cache
    /// of the server before the store seam.
    pub fn admit_and_add(
        &mut self,
        conn: ConnId,
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
    ) -> Result<RecordRef<'_>, AddError> {
        let peer = match self.by_conn.get(&conn).and_then(|&slot| Some((slot, self.peers.get(slot)?))) {
            Some((slot, p)) => {
                // Hostnames compare case-insensitively (PROTOCOL.md, Peer to server).
                if p.id.port != port || !p.id.host.eq_ignore_ascii_case(host) {
                    let claimed = PeerId { host: host.to_owned(), port };
                    return Err(IdentityMismatch { registered: p.id.clone(), claimed }.into());
                }
                if let Some(&held) = p.rfcs.get(&rfc) {
                    return self.get(held).ok_or(AddError::Full);
                }
                self.room_for(Some(p), host, port, rfc, title)?;
                slot
            }
            None => {
                self.room_for(None, host, port, rfc, title)?;
                self.admit_as(conn, host, port)?;
                *self.by_conn.get(&conn).ok_or(AddError::Full)?
            }
        };
        let slot = self.insert(peer, rfc, title).ok_or(AddError::Full)?;
        self.get(slot).ok_or(AddError::Full)
    }

    /// Adds (or finds) `peer`'s record of `rfc`, within the caps.
    fn add_for(&mut self, peer: Slot, rfc: RfcNumber, title: &str) -> Option<RecordRef<'_>> {
        let p = self.peers.get(peer)?;
        let slot = match p.rfcs.get(&rfc).copied() {
            Some(slot) => slot,
            None => {
                self.room_for(Some(p), "", 0, rfc, title).ok()?;
                self.insert(peer, rfc, title)?
            }
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

    /// LOOKUP a page at a time: calls `f` on the records of `rfc` below
    /// `cursor`, newest first, until their lines reach `max_bytes` (at
    /// least one record); returns how many and where to continue (`None`
    /// at the end). As in a LIST, records added after the first page are
    /// newer than the cursor and not part of the answer, and records
    /// removed meanwhile are skipped. Costs one step per record: the cursor
    /// names the last record sent, whose link leads on, unless it has gone
    /// meanwhile (then the chain is walked from its head to below it).
    pub fn lookup_page(
        &self,
        rfc: RfcNumber,
        cursor: HolderCursor,
        max_bytes: usize,
        mut f: impl FnMut(RecordRef<'_>),
    ) -> (usize, Option<HolderCursor>) {
        let head = || self.by_rfc.get(&rfc).copied().unwrap_or(NIL);
        let mut slot = if cursor.seq == u64::MAX {
            head()
        } else {
            match self.records.get(cursor.slot) {
                Some(e) if e.seq == cursor.seq && e.rfc == rfc => e.older,
                _ => {
                    let mut slot = head();
                    while let Some(e) = self.records.get(slot).filter(|e| e.seq >= cursor.seq) {
                        slot = e.older;
                    }
                    slot
                }
            }
        };
        let (mut n, mut bytes) = (0, 0);
        while let Some(entry) = self.records.get(slot) {
            f(RecordRef { entry, peers: &self.peers });
            n += 1;
            bytes += entry.line.len();
            if bytes >= max_bytes {
                let more = entry.older != NIL;
                return (n, more.then_some(HolderCursor { slot, seq: entry.seq }));
            }
            slot = entry.older;
        }
        (n, None)
    }

    /// Calls `f` on up to `max` records, newest first, starting below
    /// `cursor`; returns where to continue, or `None` when the list is done.
    /// Records added after a LIST began are newer than its cursor and so are
    /// not part of it; records removed meanwhile are skipped.
    pub fn list_page(&self, cursor: Cursor, max: usize, f: impl FnMut(RecordRef<'_>)) -> Option<Cursor> {
        self.list_page_bytes(cursor, max, usize::MAX, f)
    }

    /// [`Index::list_page`], the page also ending once its lines reach
    /// `max_bytes` (at least one record).
    pub fn list_page_bytes(
        &self,
        cursor: Cursor,
        max: usize,
        max_bytes: usize,
        mut f: impl FnMut(RecordRef<'_>),
    ) -> Option<Cursor> {
        let mut last = None;
        let mut bytes = 0;
        for (&seq, &slot) in self.by_seq.range(..cursor.0).rev().take(max) {
            if let Some(r) = self.get(slot) {
                bytes += r.entry.line.len();
                f(r);
            }
            last = Some(seq);
            if bytes >= max_bytes {
                break;
            }
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
        let line = |r: Result<RecordRef<'_>, AddError>| r.ok().map(|r| r.line().to_owned());
        let first = ix.admit_and_add(ConnId(1), "hostA", 1, RfcNumber(7), "Seven");
        assert_eq!(line(first).as_deref(), Some("RFC 7 Seven hostA 1\r\n"));
        // Hostnames compare case-insensitively; an RFC held already is not stored again.
        let again = ix.admit_and_add(ConnId(1), "HOSTA", 1, RfcNumber(7), "Other");
        assert_eq!(line(again).as_deref(), Some("RFC 7 Seven hostA 1\r\n"));
        assert!(ix.admit_and_add(ConnId(1), "hostB", 1, RfcNumber(8), "t").is_err());
        assert!(ix.admit_and_add(ConnId(1), "hostA", 2, RfcNumber(8), "t").is_err());
        ix.admit_and_add(ConnId(2), "hostB", 2, RfcNumber(7), "Seven").unwrap();
        assert_eq!(ix.peer_count(), 2);
        assert_eq!(ix.record_count(), 2);
        let holders: Vec<String> = ix.lookup(RfcNumber(7)).into_iter().map(|r| r.host).collect();
        assert_eq!(holders, ["hostB", "hostA"]);
    }

    /// The cost of `n` records of `peer` with `title` (RFC numbers of the
    /// same width) and of the peer itself.
    fn cost(host: &str, n: u64, title: &str) -> u64 {
        peer_cost(host) + n * record_cost(RfcNumber(10), title, host, 1)
    }

    #[test]
    fn caps_refuse_an_add_and_store_nothing() {
        let mut ix = Index::with_caps(Caps { records_per_peer: 3, memory: u64::MAX });
        for n in 10..13 {
            ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(n), "t").unwrap();
        }
        let refused = ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(13), "t").err();
        assert_eq!(refused, Some(AddError::Cap(CapExceeded::RecordsPerPeer(3))));
        assert_eq!(
            refused.unwrap().to_string(),
            "the peer holds 3 records already, the most one peer may hold"
        );
        // An RFC held already is no new record: answered, not refused.
        assert_eq!(ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(12), "t").unwrap().rfc(), RfcNumber(12));
        // Another peer has its own share.
        ix.admit_and_add(ConnId(2), "b", 1, RfcNumber(13), "t").unwrap();
        assert_eq!(ix.record_count(), 4);
        assert!(ix.lookup(RfcNumber(13)).iter().all(|r| r.host == "b"));

        // The memory budget: room for exactly two records of one peer.
        let budget = cost("a", 2, "title");
        let mut ix = Index::with_caps(Caps { records_per_peer: 100, memory: budget });
        ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(10), "title").unwrap();
        ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(11), "title").unwrap();
        assert_eq!(ix.bytes(), budget);
        let full = ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(12), "title").err();
        assert_eq!(full, Some(AddError::Cap(CapExceeded::IndexMemory(budget))));
        assert_eq!(ix.admit_and_add(ConnId(1), "a", 1, RfcNumber(11), "title").unwrap().rfc(), RfcNumber(11));
        // A peer refused on its first ADD is not registered either.
        assert!(ix.admit_and_add(ConnId(2), "b", 1, RfcNumber(12), "title").is_err());
        assert_eq!((ix.peer_count(), ix.record_count(), ix.bytes()), (1, 2, budget));
        assert_eq!(ix.room(ConnId(2), "b", 1, RfcNumber(12), "t"), Err(CapExceeded::IndexMemory(budget)));
        // The budget comes back when the records go.
        assert_eq!(ix.remove_peer(ConnId(1)), 2);
        assert_eq!(ix.bytes(), 0);
        ix.admit_and_add(ConnId(2), "b", 1, RfcNumber(12), "title").unwrap();
        assert!(ix.remove(ConnId(2), RfcNumber(12)));
        assert!(!ix.remove(ConnId(2), RfcNumber(12)));
        assert_eq!(ix.bytes(), peer_cost("b"));
        // The plain add keeps to the caps too.
        ix.set_caps(Caps { records_per_peer: 0, memory: u64::MAX });
        assert_eq!(ix.add(ConnId(2), RfcNumber(1), "t"), None);
    }

    #[test]
    fn lookup_pages_follow_the_chain_and_survive_changes() {
        let mut ix = Index::new();
        for c in 0..10u16 {
            ix.admit(ConnId(c.into()), &pid(&format!("h{c}"), c)).unwrap();
            ix.add(ConnId(c.into()), RfcNumber(1), "t");
        }
        // Every line is the same length: a page of 2 lines' bytes holds 2.
        let line = ix.lookup_page(RfcNumber(1), HolderCursor::START, usize::MAX, |_| {}).0;
        assert_eq!(line, 10);
        let len = "RFC 1 t h0 0\r\n".len();
        let mut seen = Vec::new();
        let (n, cursor) = ix.lookup_page(RfcNumber(1), HolderCursor::START, 2 * len, |r| seen.push(r.port()));
        assert_eq!(n, 2);
        // Meanwhile: a new holder (not part of this answer), the holder
        // sent last leaves (its slot given to someone else's record), and
        // one further down leaves.
        ix.admit(ConnId(20), &pid("late", 20)).unwrap();
        ix.add(ConnId(20), RfcNumber(1), "t");
        ix.remove_peer(ConnId(8));
        ix.remove_peer(ConnId(3));
        ix.admit(ConnId(21), &pid("other", 21)).unwrap();
        ix.add(ConnId(21), RfcNumber(2), "t");
        let mut cursor = cursor;
        while let Some(c) = cursor {
            cursor = ix.lookup_page(RfcNumber(1), c, 2 * len, |r| seen.push(r.port())).1;
        }
        assert_eq!(seen, [9, 8, 7, 6, 5, 4, 2, 1, 0]);
        assert_eq!(ix.lookup_page(RfcNumber(5), HolderCursor::START, 1, |_| panic!()), (0, None));
        // The last page says there is no more.
        assert_eq!(ix.lookup_page(RfcNumber(2), HolderCursor::START, 1, |_| {}), (1, None));
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

    /// The figure behind [`RECORD_OVERHEAD`]: what the resident set grows
    /// by per record beyond its line, for 1M records of distinct RFCs with
    /// 40-byte titles (10 peers), and for 20k records with 8 KiB titles;
    /// and that the budget's count ([`Index::bytes`]) is not below what
    /// the records really take. Linux only; run it alone:
    /// `cargo test --release --lib bytes_per_record -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bytes_per_record() {
        for (n, title_len) in [(20_000u32, 8 * 1024), (1_000_000, 40)] {
            let title = "t".repeat(title_len);
            // What the case before freed leaves the resident set first.
            crate::store::release_memory();
            let before = rss_kib();
            let mut ix = Index::new();
            for c in 0..10 {
                ix.admit(ConnId(c), &pid(&format!("host{c}"), 1024)).unwrap();
            }
            let mut lines = 0;
            for r in 0..n {
                lines += ix.add_ref(ConnId(u64::from(r % 10)), RfcNumber(r), &title).unwrap().line().len();
            }
            let grown = ((rss_kib() - before) * 1024) as f64;
            let beyond = (grown - lines as f64) / f64::from(n);
            println!(
                "{n} records, {title_len}-byte titles: {beyond:.1} bytes per record beyond the line; \
                 RSS grew {:.1} MiB, counted {:.1} MiB",
                grown / 1048576.0,
                ix.bytes() as f64 / 1048576.0
            );
            assert!(beyond <= RECORD_OVERHEAD as f64, "{beyond}");
            assert!(ix.bytes() as f64 >= grown * 0.97, "counted {} of {grown}", ix.bytes());
            assert_eq!(ix.record_count(), n as usize);
        }
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
                let held: u64 = want.iter().map(|m| record_cost(m.rfc, &m.title, &m.host, m.port)).sum();
                let peers_cost: u64 = peers.values().map(|p| peer_cost(&p.host)).sum();
                prop_assert_eq!(ix.bytes(), held + peers_cost);
                for r in 0..8 {
                    let want_r: Vec<Record> = want.iter().filter(|m| m.rfc.0 == r).cloned().collect();
                    prop_assert_eq!(ix.lookup(RfcNumber(r)), want_r.clone());
                    let mut paged = Vec::new();
                    let mut cursor = Some(HolderCursor::START);
                    while let Some(c) = cursor {
                        cursor = ix.lookup_page(RfcNumber(r), c, 40, |rec| paged.push(rec.to_record())).1;
                    }
                    prop_assert_eq!(paged, want_r.clone());
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
