//! The index server's state: active peers and RFC records, newest first.
//!
//! Pure data, no I/O, so it can be tested alone and later be swapped for a
//! shared store (Redis) behind the same five calls: [`Index::admit`],
//! [`Index::add`], [`Index::lookup`], [`Index::list_page`] and
//! [`Index::remove_peer`].
//!
//! Every record gets a sequence number that only grows, so "newest first" is
//! simply "highest sequence first". Three maps keep each operation from
//! scanning the whole index (PROTOCOL.md: several records per RFC, removal of
//! all of a peer's records when its connection ends):
//!
//! * `records`: sequence → record, ordered, for LIST (read backwards in pages,
//!   so a huge LIST never holds the lock long nor builds one big answer);
//! * `by_rfc`: RFC → its records' sequences, for LOOKUP;
//! * each peer's own RFC → sequence map, for idempotent ADD and for removal
//!   in time proportional to that peer's records.
//!
//! A peer is known by its connection ([`ConnId`]), never by its hostname: two
//! peers may claim the same name, and one leaving never touches the other.
//!
//! Hash maps use foldhash (fast, randomly seeded per process) rather than
//! SipHash: LOOKUP is a handful of map probes, and the hasher was a visible
//! share of its cost. Most RFCs have one holder, so `by_rfc` keeps a lone
//! holder inline and grows a set only for the second one (a set per RFC cost
//! more than the record itself).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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

/// A record as stored; the peer's host and port live once, in its entry.
#[derive(Debug)]
struct Entry {
    rfc: RfcNumber,
    title: Box<str>,
    conn: ConnId,
}

/// The records of one RFC: their sequences, oldest first.
#[derive(Debug)]
enum Holders {
    One(u64),
    Many(BTreeSet<u64>),
}

impl Holders {
    fn insert(&mut self, seq: u64) {
        match self {
            Holders::One(first) => *self = Holders::Many(BTreeSet::from([*first, seq])),
            Holders::Many(set) => {
                set.insert(seq);
            }
        }
    }

    /// Removes `seq`; true when no holder is left.
    fn remove(&mut self, seq: u64) -> bool {
        match self {
            Holders::One(only) => *only == seq,
            Holders::Many(set) => {
                set.remove(&seq);
                if set.len() == 1 {
                    let last = set.first().copied().unwrap_or(0);
                    *self = Holders::One(last);
                }
                set_is_empty(self)
            }
        }
    }

    /// Newest first.
    fn newest_first(&self) -> impl Iterator<Item = u64> + '_ {
        let (one, many) = match self {
            Holders::One(seq) => (Some(*seq), None),
            Holders::Many(set) => (None, Some(set.iter().rev().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

fn set_is_empty(h: &Holders) -> bool {
    matches!(h, Holders::Many(set) if set.is_empty())
}

#[derive(Debug)]
struct PeerEntry {
    id: PeerId,
    seq: u64,
    rfcs: HashMap<RfcNumber, u64>,
}

/// A borrowed view of one record, handed to LIST's callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub rfc: RfcNumber,
    pub title: &'a str,
    pub host: &'a str,
    pub port: u16,
}

impl RecordRef<'_> {
    pub fn to_record(&self) -> Record {
        Record { rfc: self.rfc, title: self.title.to_owned(), host: self.host.to_owned(), port: self.port }
    }
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
    peers: HashMap<ConnId, PeerEntry>,
    peer_order: BTreeMap<u64, ConnId>,
    records: BTreeMap<u64, Entry>,
    by_rfc: HashMap<RfcNumber, Holders>,
}

impl Index {
    pub fn new() -> Self {
        Index::default()
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Registers `conn` as peer `id` on its first request, and checks later
    /// requests against it: one connection is one peer (PROTOCOL.md).
    pub fn admit(&mut self, conn: ConnId, id: &PeerId) -> Result<(), IdentityMismatch> {
        self.admit_as(conn, &id.host, id.port)
    }

    /// [`Index::admit`] from a borrowed hostname: the name is copied only
    /// when the peer registers.
    pub fn admit_as(&mut self, conn: ConnId, host: &str, port: u16) -> Result<(), IdentityMismatch> {
        if let Some(peer) = self.peers.get(&conn) {
            if peer.id.host == host && peer.id.port == port {
                return Ok(());
            }
            let claimed = PeerId { host: host.to_owned(), port };
            return Err(IdentityMismatch { registered: peer.id.clone(), claimed });
        }
        let seq = self.seq();
        let id = PeerId { host: host.to_owned(), port };
        self.peers.insert(conn, PeerEntry { id, seq, rfcs: HashMap::default() });
        self.peer_order.insert(seq, conn);
        Ok(())
    }

    /// Adds a record for an admitted peer and returns it as stored. Adding an
    /// RFC the peer already holds stores nothing new and returns the same
    /// record. Returns `None` only for a connection that was never admitted.
    pub fn add(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> Option<Record> {
        self.add_ref(conn, rfc, title).map(|r| r.to_record())
    }

    /// [`Index::add`], returning the stored record without copying it.
    pub fn add_ref(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> Option<RecordRef<'_>> {
        let existing = self.peers.get(&conn)?.rfcs.get(&rfc).copied();
        let seq = match existing {
            Some(seq) => seq,
            None => {
                let seq = self.seq();
                self.records.insert(seq, Entry { rfc, title: title.into(), conn });
                match self.by_rfc.get_mut(&rfc) {
                    Some(holders) => holders.insert(seq),
                    None => {
                        self.by_rfc.insert(rfc, Holders::One(seq));
                    }
                }
                self.peers.get_mut(&conn)?.rfcs.insert(rfc, seq);
                seq
            }
        };
        self.get(seq)
    }

    fn get(&self, seq: u64) -> Option<RecordRef<'_>> {
        let entry = self.records.get(&seq)?;
        let peer = &self.peers.get(&entry.conn)?.id;
        Some(RecordRef { rfc: entry.rfc, title: &entry.title, host: &peer.host, port: peer.port })
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
        let Some(holders) = self.by_rfc.get(&rfc) else {
            return 0;
        };
        let mut n = 0;
        for r in holders.newest_first().filter_map(|seq| self.get(seq)) {
            f(r);
            n += 1;
        }
        n
    }

    /// Calls `f` on up to `max` records, newest first, starting below
    /// `cursor`; returns where to continue, or `None` when the list is done.
    /// Records added after a LIST began are newer than its cursor and so are
    /// not part of it; records removed meanwhile are skipped.
    pub fn list_page(&self, cursor: Cursor, max: usize, mut f: impl FnMut(RecordRef<'_>)) -> Option<Cursor> {
        let mut last = None;
        for (seq, _) in self.records.range(..cursor.0).rev().take(max) {
            if let Some(r) = self.get(*seq) {
                f(r);
            }
            last = Some(*seq);
        }
        let last = last?;
        // More to come only if something lies below the last one sent.
        self.records.range(..last).next_back().map(|_| Cursor(last))
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
        let Some(peer) = self.peers.remove(&conn) else {
            return 0;
        };
        self.peer_order.remove(&peer.seq);
        for (rfc, seq) in &peer.rfcs {
            self.records.remove(seq);
            if let Some(holders) = self.by_rfc.get_mut(rfc)
                && holders.remove(*seq)
            {
                self.by_rfc.remove(rfc);
            }
        }
        peer.rfcs.len()
    }

    /// Active peers, newest first.
    pub fn peers(&self) -> Vec<PeerId> {
        self.peer_order.values().rev().filter_map(|c| self.peers.get(c)).map(|p| p.id.clone()).collect()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
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
            cursor = ix.list_page(c, 3, |r| seen.push(r.rfc.0));
            pages += 1;
        }
        assert_eq!(seen, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(pages, 4);
        assert_eq!(Index::new().list_page(Cursor::START, 3, |_| panic!()), None);
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
        /// The index agrees with a naive model: a list of records, newest
        /// first, filtered on every query.
        #[test]
        fn matches_naive_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ix = Index::new();
            let mut peers: HashMap<u8, PeerId> = HashMap::default();
            let mut model: Vec<(u8, Record)> = Vec::new();
            for op in ops {
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
                        let got = ix.add(ConnId(c.into()), RfcNumber(r.into()), &format!("title {r}"));
                        match peers.get(&c) {
                            None => prop_assert_eq!(got, None),
                            Some(id) => {
                                let rec = Record { rfc: RfcNumber(r.into()), title: format!("title {r}"), host: id.host.clone(), port: id.port };
                                if !model.iter().any(|(mc, m)| *mc == c && m.rfc == rec.rfc) {
                                    model.insert(0, (c, rec.clone()));
                                }
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
                for r in 0..8 {
                    let want_r: Vec<Record> = want.iter().filter(|m| m.rfc.0 == r).cloned().collect();
                    prop_assert_eq!(ix.lookup(RfcNumber(r)), want_r);
                }
                prop_assert_eq!(ix.peer_count(), peers.len());
            }
        }
    }
}
