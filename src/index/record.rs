//! A record as the index stores it, the borrowed view of one that LOOKUP
//! and LIST hand out, and the borrowed ADD that makes one.

use super::slots::{Slab, Slot};
use super::{ConnId, HashMap};
use crate::protocol::response::decimal_len;
use crate::protocol::{PeerId, Record, RfcNumber};

/// What one ADD asks to store: the record of `rfc` titled `title` for the
/// peer `host:port` on connection `conn`, borrowed from the request.
///
/// The five travel together from the server through the store to the
/// index; passed by value, the struct costs no more than its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRecord<'a> {
    pub conn: ConnId,
    pub host: &'a str,
    pub port: u16,
    pub rfc: RfcNumber,
    pub title: &'a str,
}

#[cfg(test)]
impl<'a> NewRecord<'a> {
    /// The ADD of `rfc` by connection `conn`, for the unit tests.
    pub(crate) fn of(conn: u64, host: &'a str, port: u16, rfc: u32, title: &'a str) -> Self {
        NewRecord { conn: ConnId(conn), host, port, rfc: RfcNumber(rfc), title }
    }
}

/// A record as stored: its line as it goes on the wire, built once when the
/// record is added (40 bytes and the line).
#[derive(Debug)]
pub(super) struct Entry {
    /// `RFC <n> <title> <host> <port>` and CR LF: LOOKUP and LIST copy it
    /// out whole, with no formatting and no visit to the peer's entry.
    pub(super) line: Box<str>,
    pub(super) title_len: u32,
    pub(super) seq: u64,
    pub(super) rfc: RfcNumber,
    pub(super) peer: Slot,
    /// The next older record of the same RFC, or [`NIL`].
    pub(super) older: Slot,
}

#[derive(Debug)]
pub(super) struct PeerEntry {
    pub(super) id: PeerId,
    pub(super) seq: u64,
    pub(super) rfcs: HashMap<RfcNumber, Slot>,
}

/// A borrowed view of one record, handed to LOOKUP's and LIST's callbacks.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub(super) entry: &'a Entry,
    pub(super) peers: &'a Slab<PeerEntry>,
}

impl<'a> RecordRef<'a> {
    pub fn rfc(&self) -> RfcNumber {
        self.entry.rfc
    }

    pub fn title(&self) -> &'a str {
        let start = "RFC ".len() + decimal_len(self.entry.rfc.0.into()) + 1;
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
