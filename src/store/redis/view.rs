//! The local copy of the shared index, and what this server alone knows.
//!
//! Reads are answered from here with no call to Redis. The server's own
//! peers are kept apart ([`View::own`]), because Redis only mirrors them:
//! that is what lets a server take ADDs while Redis is away and put Redis
//! right afterwards. Other servers' peers are counted in a digest per
//! server ([`Digest`]), which the follower compares with Redis's.

use std::collections::HashMap;

use super::digest::{Digest, weight};
use crate::index::{Caps, ConnId, Index};
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
    /// An empty copy under these caps.
    pub(super) fn with_caps(caps: Caps) -> Self {
        View { index: Index::with_caps(caps), ..View::default() }
    }

    /// Adds another server's record at its sequence; whether it was new.
    pub(super) fn add_remote(
        &mut self,
        (server, conn): (u64, u64),
        host: &str,
        port: u16,
        rfc: RfcNumber,
        title: &str,
        seq: u64,
    ) -> bool {
        let next = &mut self.next_remote;
        let peer = self.remote.entry((server, conn)).or_insert_with(|| {
            *next += 1;
            Remote { id: ConnId(REMOTE | *next), digest: Digest::default() }
        });
        if self.index.admit_as(peer.id, host, port).is_err()
            || self.index.insert_at(peer.id, rfc, title, seq).is_none()
        {
            return false;
        }
        let w = weight(conn, rfc);
        peer.digest.add(w);
        self.digests.entry(server).or_default().add(w);
        true
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
