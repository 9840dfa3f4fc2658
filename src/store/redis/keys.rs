//! The names of the keys in Redis, all under one hash tag.
//!
//! One place builds every key, so the Rust side and the scripts (which
//! build per-server keys from [`Keys::prefix`]) agree on them, and in a
//! Redis Cluster they all live in one slot.

/// The keys, all under one hash tag.
#[derive(Debug)]
pub(super) struct Keys {
    /// `{p2pci}:`, the prefix the scripts build per-server keys from.
    pub(super) prefix: String,
    /// The global sequence (INCR): orders records and log entries.
    pub(super) seq: String,
    /// Every record: sequence → `server conn rfc port host title`.
    pub(super) rec: String,
    /// The change log (a Stream).
    pub(super) log: String,
    /// Servers that may hold peers (each has, or had, a lease).
    pub(super) servers: String,
    /// What every server's records cost, as the memory budget counts it
    /// ([`record_cost`](crate::index::record_cost)): the shared index's
    /// budget is held against it.
    pub(super) bytes: String,
}

impl Keys {
    pub(super) fn new() -> Self {
        let prefix = "{p2pci}:".to_string();
        Keys {
            seq: format!("{prefix}seq"),
            rec: format!("{prefix}rec"),
            log: format!("{prefix}log"),
            servers: format!("{prefix}servers"),
            bytes: format!("{prefix}bytes"),
            prefix,
        }
    }
    pub(super) fn lease(&self, server: &str) -> String {
        format!("{}lease:{server}", self.prefix)
    }
    pub(super) fn peers(&self, server: &str) -> String {
        format!("{}peers:{server}", self.prefix)
    }
    /// One peer's records: RFC → `seq cost weight` (the record's place,
    /// what it costs the budget, its share of the digest).
    /// Written into `key`, reusing its allocation (one per change in a
    /// batch).
    pub(super) fn peer_into(&self, key: &mut String, server: &str, conn: u64) {
        use std::fmt::Write;
        key.clear();
        let _ = write!(key, "{}peer:{server}:{conn}", self.prefix);
    }
    /// The last fencing token applied for a server.
    pub(super) fn fence(&self, server: &str) -> String {
        format!("{}fence:{server}", self.prefix)
    }
    /// A server's digest: `n` records, `s` their weight.
    pub(super) fn dig(&self, server: &str) -> String {
        format!("{}dig:{server}", self.prefix)
    }
}
