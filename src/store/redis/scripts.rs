//! The Lua scripts, each one atomic step on the shared index.
//!
//! Redis runs a script with nothing else in between, so each of these is a
//! change that the other servers see whole or not at all. The scripts live
//! in `scripts/*.lua` (each says its KEYS and ARGV at the top), so they read
//! and diff as Lua; they are built into the binary with `include_str!`.

use redis::Script;

/// A batch of this server's changes: ADDs (idempotent per peer and RFC; the
/// record, its peer's entry and its log entry go together) and peer
/// removals (its records and one log entry). Returns each ADD's sequence
/// (0 for a removal, and for an ADD refused because the shared index is at
/// its memory budget). A server writing is alive: a Redis that lost its
/// lease (restarted empty) gets it back here, so the others do not reap
/// this server before its next renewal.
///
/// The budget holds for every server at once: the cost of every record
/// held (as the local index counts it,
/// [`record_cost`](crate::index::record_cost), sent with each ADD) is
/// added up in `bytes` by the script that stores the record, and taken off
/// by the one that removes it (this one, or the reaper), so no two servers
/// can both take the last room. Each peer's share is kept in
/// `peerbytes` for its removal.
///
/// The log entry of an ADD carries its sequence alone, not the record
/// (followers read the record from `rec`): the log keeps `log_len`
/// entries, and with the records in them it would hold up to that many
/// more titles, beyond the budget.
///
/// The ADDs are written first, then the removals: a peer's ADDs always come
/// before its removal, and different peers' changes do not depend on each
/// other. Per batch, not per ADD: one `INCRBY` reserves the new records'
/// sequences, one `HSET` stores them, one `SADD` registers their peers, one
/// `XTRIM` bounds the log; per ADD there remain the idempotence check, the
/// peer's entry and the log entry.
///
/// KEYS and ARGV: at the top of `scripts/batch.lua`.
const BATCH: &str = include_str!("scripts/batch.lua");

/// Renews this server's lease and reads the epoch (setting it when Redis
/// has none). Returns whether the lease was still there, and the epoch.
const RENEW: &str = include_str!("scripts/renew.lua");

/// Removes the peers of every server whose lease has expired, one log
/// entry per peer, and takes what their records cost off the shared
/// budget. The per-server keys are built here from the prefix: they share
/// the hash tag, so they live in the same slot as the declared keys.
const REAP: &str = include_str!("scripts/reap.lua");

/// Where a snapshot starts following the log: the sequence and the log's
/// last entry, read together.
const MARK: &str = include_str!("scripts/mark.lua");

/// The scripts, ready to run (redis-rs sends a script's text only when
/// Redis does not know its hash yet).
pub(super) struct Scripts {
    pub(super) batch: Script,
    pub(super) renew: Script,
    pub(super) reap: Script,
    pub(super) mark: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            batch: Script::new(BATCH),
            renew: Script::new(RENEW),
            reap: Script::new(REAP),
            mark: Script::new(MARK),
        }
    }
}
