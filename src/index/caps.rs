//! What one peer and the whole index may hold (PROTOCOL.md, Limits), and
//! what each record and peer costs the memory budget.

use crate::protocol::RfcNumber;
use crate::protocol::response::record_len;

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
    /// The `reason` labels of `p2pci_adds_refused_total`, by [`CapExceeded::index`].
    pub const REASONS: [&'static str; 2] = ["records_per_peer", "index_memory"];

    /// Its place in [`CapExceeded::REASONS`].
    pub fn index(&self) -> usize {
        match self {
            CapExceeded::RecordsPerPeer(_) => 0,
            CapExceeded::IndexMemory(_) => 1,
        }
    }

    /// The `reason` label of `p2pci_adds_refused_total`.
    pub fn reason(&self) -> &'static str {
        Self::REASONS[self.index()]
    }
}
