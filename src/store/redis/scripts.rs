//! The Lua scripts, each one atomic step on the shared index.
//!
//! Redis runs a script with nothing else in between, so each of these is a
//! change that the other servers see whole or not at all. The scripts live
//! in `scripts/*.lua` (each says its KEYS and ARGV at the top), so they read
//! and diff as Lua; they are built into the binary with `include_str!`, the
//! writing ones behind `scripts/lib.lua` (the fence, and a peer's removal).
//!
//! Every script that writes a server's records is fenced: it carries the
//! writer's token, which only grows, and does nothing when a later one has
//! been applied already (`fence` in `lib.lua`, docs/store.md has the model).

use redis::{Cmd, Script, Value};

/// A batch of this server's changes: ADDs and peer removals. Answers
/// whether it was fenced (-1: nothing done), in order (0) or found writes
/// lost (1), then each ADD's sequence (0 for a removal, and for an ADD
/// refused because the shared index is at its memory budget). A server
/// writing is alive: a Redis that lost its lease (restarted empty) gets it
/// back here, so the others do not reap this server before its next
/// renewal.
///
/// An ADD the server sends for the first time (`a`) is not looked up: the
/// server sends each record once, so Redis cannot hold it (and should it
/// ever, the record it holds is kept and answered). A reconcile's rewrite
/// (`r`) may be held already, and is answered with its sequence then.
///
/// The budget holds for every server at once: the cost of every record
/// held (as the local index counts it,
/// [`record_cost`](crate::index::record_cost), sent with each ADD) is
/// added up in `bytes` by the script that stores the record, and taken off
/// by the one that removes it, so no two servers can both take the last
/// room. Each record's cost and [`weight`](super::digest::weight) stay
/// with it in its peer's hash, for its removal and for the server's digest
/// (records and weight) in `dig:<server>`.
///
/// The log gets one entry per batch for its ADDs (the range of sequences
/// and the server: its own follower skips it), carrying no records
/// (followers read them from `rec`): the log keeps `log_len` entries, and
/// with the records in them it would hold up to that many more titles,
/// beyond the budget.
///
/// The ADDs are written first, then the removals: a peer's ADDs always come
/// before its removal, and different peers' changes do not depend on each
/// other. Per batch, not per ADD: one `INCRBY` reserves the new records'
/// sequences, one `HSET` stores them, one `SADD` registers their peers, one
/// `XADD` logs them and bounds the log (`MAXLEN ~`); per ADD there remains the
/// peer's entry.
const BATCH: &str = concat!(include_str!("scripts/lib.lua"), include_str!("scripts/batch.lua"));

/// Compares the server's digest in Redis with the one its writer expects;
/// fenced like a write (it is one: the token moves on), so that a lost
/// write shows here too. Answers fenced/in order/lost, and whether the
/// digests agree.
const CHECK: &str = concat!(include_str!("scripts/lib.lua"), include_str!("scripts/check.lua"));

/// Puts Redis right about one server's peers, given what the server holds
/// (per live peer: its records and their weight): removes every peer Redis
/// holds for it that is not live, and every live one whose records differ
/// by more than missing ones; answers fenced/in order/lost, then the live
/// peers whose records the server must write again (idempotent ADDs).
const RECONCILE: &str = concat!(include_str!("scripts/lib.lua"), include_str!("scripts/reconcile.lua"));

/// Renews this server's lease. Returns whether the lease was still there.
const RENEW: &str = include_str!("scripts/renew.lua");

/// Removes the peers of every server whose lease has expired, one log
/// entry per peer, and takes what their records cost off the shared
/// budget. The per-server keys are built here from the prefix: they share
/// the hash tag, so they live in the same slot as the declared keys.
const REAP: &str = concat!(include_str!("scripts/lib.lua"), include_str!("scripts/reap.lua"));

/// Where a snapshot starts following the log: the sequence and the log's
/// last entry, read together.
const MARK: &str = include_str!("scripts/mark.lua");

/// The records a batch of log entries names, with the sequence at that
/// moment: a record already gone was removed at or before it.
const FETCH: &str = include_str!("scripts/fetch.lua");

/// The sequence and every server's digest, read together: what a
/// follower's copy must match once it has applied the log up to that
/// sequence.
const DIGEST: &str = include_str!("scripts/digest.lua");

/// The scripts, ready to run (redis-rs sends a script's text only when
/// Redis does not know its hash yet).
pub(super) struct Scripts {
    pub(super) batch: Script,
    pub(super) check: Script,
    pub(super) reconcile: Script,
    pub(super) renew: Script,
    pub(super) reap: Script,
    pub(super) mark: Script,
    pub(super) fetch: Script,
    pub(super) digest: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            batch: Script::new(BATCH),
            check: Script::new(CHECK),
            reconcile: Script::new(RECONCILE),
            renew: Script::new(RENEW),
            reap: Script::new(REAP),
            mark: Script::new(MARK),
            fetch: Script::new(FETCH),
            digest: Script::new(DIGEST),
        }
    }
}

/// Runs `cmd`, an `EVALSHA` of `script` built by the caller; a Redis that
/// does not know the script (restarted, flushed) is sent its text and
/// asked again, as redis-rs's own invocation does.
pub(super) async fn eval(
    script: &Script,
    cmd: &Cmd,
    con: &mut impl redis::aio::ConnectionLike,
) -> redis::RedisResult<Value> {
    match cmd.query_async(con).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(con).await?;
            cmd.query_async(con).await
        }
        r => r,
    }
}
