//! The local copy of the shared index, and what this server alone knows.
//!
//! Reads are answered from here with no call to Redis. The server's own
//! peers are kept apart ([`View::own`]), because Redis only mirrors them:
//! that is what lets a server take ADDs while Redis is away and put Redis
//! right afterwards. Other servers' peers are counted in a digest per
//! server ([`Digest`]), which the follower compares with Redis's.

use std::collections::HashMap;

use super::digest::{Digest, weight};
use super::values::Stored;
use crate::index::{Bulk, ConnId, Index};
use crate::protocol::RfcNumber;

/// Own records not yet in Redis are numbered from here on.
const PROVISIONAL: u64 = 1 << 62;

/// Remote peers get connection ids from this range, so they never meet the
/// ids this server gives its own connections.
pub(super) const REMOTE: u64 = 1 << 63;

/// One of this server's peers, as it registered, and the RFCs it
/// advertised (their titles are in the local copy, which always holds
/// every own record: kept once, not twice, they cost what the memory
/// budget counts).
#[derive(Debug, Clone)]
pub(super) struct Own {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) rfcs: Vec<RfcNumber>,
}

/// A peer of another server, as this copy holds it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Remote {
    pub(super) id: ConnId,
    /// Its share of its server's digest.
    pub(super) digest: Digest,
}

/// The local copy of the index and what this server alone knows.
#[derive(Debug, Default)]
pub(super) struct View {
    pub(super) index: Index,
    /// Peers of other servers: (server, connection) → local id.
    pub(super) remote: HashMap<(u64, u64), Remote>,
    pub(super) next_remote: u64,
    /// Other servers' digests, as this copy holds their records.
    pub(super) digests: HashMap<u64, Digest>,
    /// This server's live peers (their local ids are their connections).
    pub(super) own: HashMap<ConnId, Own>,
    /// Sequences for own records not yet in Redis: above every global one,
    /// so they are the newest until Redis gives them their place.
    pub(super) next_provisional: u64,
}

impl View {
    /// Adds another server's record at its sequence; whether it was new.
    pub(super) fn add_remote(&mut self, r: &Stored<'_>, seq: u64) -> bool {
        let id = self.remote_id((r.server, r.conn));
        if self.index.admit_as(id, r.host, r.port).is_err()
            || self.index.insert_at(id, r.rfc, r.title, seq).is_none()
        {
            return false;
        }
        self.count_remote((r.server, r.conn), r.rfc);
        true
    }

    /// [`View::add_remote`] into an index being loaded (`bulk`, which
    /// becomes this copy's index once every record is in).
    pub(super) fn load_remote(&mut self, bulk: &mut Bulk, r: &Stored<'_>, seq: u64) -> bool {
        let id = self.remote_id((r.server, r.conn));
        if bulk.admit_as(id, r.host, r.port).is_err() || !bulk.insert(id, r.rfc, r.title, seq) {
            return false;
        }
        self.count_remote((r.server, r.conn), r.rfc);
        true
    }

    /// The local id of another server's peer, given one if it is new.
    fn remote_id(&mut self, key: (u64, u64)) -> ConnId {
        let next = &mut self.next_remote;
        self.remote
            .entry(key)
            .or_insert_with(|| {
                *next += 1;
                Remote { id: ConnId(REMOTE | *next), digest: Digest::default() }
            })
            .id
    }

    /// Counts another server's record in its peer's and its server's
    /// digests.
    fn count_remote(&mut self, (server, conn): (u64, u64), rfc: RfcNumber) {
        let w = weight(conn, rfc);
        if let Some(peer) = self.remote.get_mut(&(server, conn)) {
            peer.digest.add(w);
        }
        self.digests.entry(server).or_default().add(w);
    }

    /// Takes records out of their peers' and servers' digests again: ones
    /// the local copy did not keep after all ([`Bulk::finish`]).
    pub(super) fn uncount(&mut self, dropped: &[(ConnId, RfcNumber)]) {
        if dropped.is_empty() {
            return;
        }
        let keys: HashMap<ConnId, (u64, u64)> = self.remote.iter().map(|(&k, r)| (r.id, k)).collect();
        for &(local, rfc) in dropped {
            let Some(&(server, conn)) = keys.get(&local) else { continue };
            let one = Digest { records: 1, weight: weight(conn, rfc) };
            if let Some(peer) = self.remote.get_mut(&(server, conn)) {
                peer.digest.take(one);
            }
            if let Some(d) = self.digests.get_mut(&server) {
                d.take(one);
            }
        }
    }

    /// Forgets another server's peer and its records.
    pub(super) fn remove_remote(&mut self, key: (u64, u64)) {
        if let Some(peer) = self.remote.remove(&key) {
            self.index.remove_peer(peer.id);
            if let Some(d) = self.digests.get_mut(&key.0) {
                d.take(peer.digest);
                if d.is_empty() {
                    self.digests.remove(&key.0);
                }
            }
        }
    }

    /// Stores an own record at once, with a provisional sequence.
    pub(super) fn hold(&mut self, conn: ConnId, rfc: RfcNumber, title: &str) -> bool {
        self.next_provisional += 1;
        self.index.insert_at(conn, rfc, title, PROVISIONAL + self.next_provisional).is_some()
    }

    /// Gives an own record its global sequence (placing it if a rebuild
    /// left it out), for a peer still here.
    pub(super) fn place(&mut self, conn: ConnId, rfc: RfcNumber, title: &str, seq: u64) {
        if !self.own.contains_key(&conn) {
            return;
        }
        match self.index.seq_of(conn, rfc) {
            Some(s) if s == seq => {}
            Some(_) => {
                self.index.move_to(conn, rfc, seq);
            }
            None => {
                self.index.insert_at(conn, rfc, title, seq);
            }
        }
    }

    /// Forgets an own record Redis refused (the shared index is at its
    /// budget).
    pub(super) fn drop_refused(&mut self, conn: ConnId, rfc: RfcNumber) {
        self.index.remove(conn, rfc);
        if let Some(o) = self.own.get_mut(&conn)
            && let Some(i) = o.rfcs.iter().rposition(|r| *r == rfc)
        {
            o.rfcs.swap_remove(i);
        }
    }
}
