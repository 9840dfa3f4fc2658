//! LOOKUP and LIST, read a page at a time: a cursor says where the last
//! page ended, so a huge answer never holds the lock long nor is built
//! whole, and records added or removed between pages are handled.

use super::Index;
use super::record::RecordRef;
use super::slots::{NIL, Slot};
use crate::protocol::{Record, RfcNumber};

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

impl Index {
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
}
