//! The index store: where the server keeps its peers and records.
//!
//! The server talks to the index only through [`IndexStore`], so the store
//! can be the embedded in-memory [`Index`] (the default, [`MemoryStore`]) or
//! a shared one that several servers use at once. The interface is what one
//! P2P-CI request needs and no more:
//!
//! * answers are *written* by the store into the connection's output buffer
//!   (record lines exactly as they go on the wire), so the in-memory store
//!   answers straight from its records with no copies and no allocation per
//!   request, and a remote store writes what it fetched without building
//!   `Record`s first;
//! * methods return futures, because a shared store may need the network; the
//!   in-memory store's futures are ready at once (they never suspend);
//! * a peer's cleanup is an explicit async step ([`IndexStore::remove_peer`])
//!   that the connection awaits when it ends; [`PeerGuard`] is the fallback
//!   for a connection task that panics before it gets there.
//!
//! A peer is its connection ([`ConnId`]): the store registers a connection as
//! a peer on its first ADD and refuses an ADD on that connection under
//! another identity. Reads (LOOKUP, LIST) register nothing.

pub mod redis;

pub use self::redis::{RedisConfig, RedisStore};

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::index::{AddError, CapExceeded, Caps, NewRecord};
use crate::index::{ConnId, Cursor, HolderCursor, Index};
use crate::protocol::{Record, RfcNumber};

/// What an ADD's answer still waits for: a shared index giving the record,
/// stored here already, its place in the global order (or refusing it,
/// the shared index being at its budget). Waits until `by` at most: a
/// Redis that does not answer in time does not hold the peer up.
#[derive(Debug)]
pub struct Placed {
    placed: tokio::sync::oneshot::Receiver<bool>,
    by: tokio::time::Instant,
    budget: u64,
}

impl Placed {
    pub(crate) fn new(
        placed: tokio::sync::oneshot::Receiver<bool>,
        by: tokio::time::Instant,
        budget: u64,
    ) -> Self {
        Placed { placed, by, budget }
    }

    /// The ADD's outcome: refused only when the shared index refused it.
    pub async fn wait(self) -> Result<(), AddError> {
        match tokio::time::timeout_at(self.by, self.placed).await {
            Ok(Ok(false)) => Err(CapExceeded::IndexMemory(self.budget).into()),
            _ => Ok(()),
        }
    }
}

/// How many peers and records a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub peers: usize,
    pub records: usize,
}

/// The index as the server sees it. Every method is safe to call from many
/// connection tasks at once.
pub trait IndexStore: Send + Sync + 'static {
    /// ADD: registers `new.conn` as the peer `new.host:new.port` if it is
    /// not yet, then stores the record (idempotent for an RFC the peer
    /// already holds) and appends the stored record's line, CR LF included,
    /// to `out`.
    fn add(
        &self,
        new: NewRecord<'_>,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Result<(), AddError>> + Send {
        let started = self.add_started(new, out);
        async move {
            match started? {
                Some(placed) => placed.wait().await,
                None => Ok(()),
            }
        }
    }

    /// [`IndexStore::add`], all of it that can be done now: the record is
    /// stored (and its line appended) or refused here and now, and what the
    /// answer still waits for, if anything, is returned to be awaited later
    /// (a shared index placing the record in its global order), so that a
    /// connection's pipelined ADDs wait together rather than one by one.
    fn add_started(&self, new: NewRecord<'_>, out: &mut Vec<u8>) -> Result<Option<Placed>, AddError>;

    /// LOOKUP, a page at a time: appends the lines of the records of `rfc`
    /// below `cursor`, newest first, to `out`, until the page holds
    /// `max_bytes` (at least one record); returns how many it appended and
    /// where to continue (`None` at the end). Records added after the
    /// first page are not part of the answer.
    fn lookup_page(
        &self,
        rfc: RfcNumber,
        cursor: HolderCursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = (usize, Option<HolderCursor>)> + Send;

    /// LIST, a page at a time: appends record lines below `cursor`, newest
    /// first, until the page holds `max_bytes` (at least one record), and
    /// returns where to continue (`None` at the end). Records added after a
    /// LIST began are not part of it.
    fn list_page(
        &self,
        cursor: Cursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Option<Cursor>> + Send;

    /// Holds the ADDs to come to `caps` (the server sets them before it
    /// serves).
    fn set_caps(&self, caps: Caps);

    /// Forgets a peer and all its records; returns how many records went.
    fn remove_peer(&self, conn: ConnId) -> impl Future<Output = usize> + Send;

    /// Peers and records held now (for the log and metrics).
    fn counts(&self) -> Counts;

    /// The server is stopping: release what the store holds for it. Called
    /// after every connection has ended.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Every record of `rfc` (or of the whole index), as values: for tests and
/// tools, through the same calls the server makes.
pub async fn records<S: IndexStore>(store: &S, rfc: Option<RfcNumber>) -> Vec<Record> {
    let mut lines = Vec::new();
    match rfc {
        Some(rfc) => {
            let mut cursor = Some(HolderCursor::START);
            while let Some(c) = cursor {
                cursor = store.lookup_page(rfc, c, 64 * 1024, &mut lines).await.1;
            }
        }
        None => {
            let mut cursor = Some(Cursor::START);
            while let Some(c) = cursor {
                cursor = store.list_page(c, 64 * 1024, &mut lines).await;
            }
        }
    }
    // Lines the store wrote itself: each one parses.
    String::from_utf8_lossy(&lines).lines().filter_map(Record::parse_line).collect()
}

/// The embedded index: one [`Index`] behind a std mutex.
///
/// A std `Mutex`, not tokio's: every critical section is one short index
/// operation that never awaits, and a LIST takes the lock a page at a time,
/// so a huge index never stalls the other connections.
#[derive(Debug, Default)]
pub struct MemoryStore {
    index: Mutex<Index>,
}

/// Records in a LIST page at most, whatever their size: the lock is held
/// for one page.
pub const PAGE_RECORDS: usize = 1024;

/// After a peer's removal freed this much, the allocator is asked to give
/// the free memory back to the system ([`release_memory`]).
const RELEASE_AT: u64 = 1 << 20;

/// Gives the memory the allocator holds free back to the system (glibc's
/// `malloc_trim`), so that what a peer's records held leaves the resident
/// set when they go, in every arena and not only at the top of the heap.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free pages back to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// After a removal that freed `freed` bytes: a large one has
/// [`release_memory`] run, on a blocking thread (it walks the heap, which
/// must not hold up the connections), one at a time: removals that come
/// while one runs are covered by the next large one.
pub(crate) fn released(freed: u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static RUNNING: AtomicBool = AtomicBool::new(false);
    if freed < RELEASE_AT || RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let release = || {
        release_memory();
        RUNNING.store(false, Ordering::Release);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn_blocking(release)),
        Err(_) => release(),
    }
}

impl MemoryStore {
    /// A store without caps (the server sets its own, [`IndexStore::set_caps`]).
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A store whose ADDs are held to `caps`.
    pub fn with_caps(caps: Caps) -> Self {
        MemoryStore { index: Mutex::new(Index::with_caps(caps)) }
    }

    /// What the index holds, in bytes, as its memory budget counts it.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes()
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic elsewhere while holding the lock leaves the index as
        // consistent as any single operation does; keep serving.
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl IndexStore for MemoryStore {
    fn add_started(&self, new: NewRecord<'_>, out: &mut Vec<u8>) -> Result<Option<Placed>, AddError> {
        let mut index = self.lock();
        let record = index.admit_and_add(new)?;
        out.extend_from_slice(record.line().as_bytes());
        Ok(None)
    }

    fn lookup_page(
        &self,
        rfc: RfcNumber,
        cursor: HolderCursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = (usize, Option<HolderCursor>)> + Send {
        let page =
            self.lock().lookup_page(rfc, cursor, max_bytes, |r| out.extend_from_slice(r.line().as_bytes()));
        std::future::ready(page)
    }

    fn list_page(
        &self,
        cursor: Cursor,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Option<Cursor>> + Send {
        let next = self
            .lock()
            .list_page_bytes(cursor, PAGE_RECORDS, max_bytes, |r| out.extend_from_slice(r.line().as_bytes()));
        std::future::ready(next)
    }

    fn set_caps(&self, caps: Caps) {
        self.lock().set_caps(caps);
    }

    fn remove_peer(&self, conn: ConnId) -> impl Future<Output = usize> + Send {
        let (removed, freed) = {
            let mut index = self.lock();
            let before = index.bytes();
            let removed = index.remove_peer(conn);
            (removed, before - index.bytes())
        };
        released(freed);
        std::future::ready(removed)
    }

    fn counts(&self) -> Counts {
        let index = self.lock();
        Counts { peers: index.peer_count(), records: index.record_count() }
    }
}

/// Removes a peer's records if its connection task ends without doing it
/// itself (a panic unwinding through the task): the removal then runs as a
/// task of its own. A connection that ends normally disarms it after its
/// explicit, awaited [`IndexStore::remove_peer`].
pub struct PeerGuard<S: IndexStore> {
    store: Arc<S>,
    conn: ConnId,
    armed: bool,
}

impl<S: IndexStore> PeerGuard<S> {
    pub fn new(store: Arc<S>, conn: ConnId) -> Self {
        PeerGuard { store, conn, armed: true }
    }

    /// The explicit cleanup: removes the peer's records and disarms the guard.
    pub async fn remove(mut self) -> usize {
        self.armed = false;
        self.store.remove_peer(self.conn).await
    }
}

impl<S: IndexStore> Drop for PeerGuard<S> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (store, conn) = (self.store.clone(), self.conn);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let removed = store.remove_peer(conn).await;
                    tracing::warn!(%conn, removed, "peer removed after its connection task failed");
                });
            }
            Err(_) => tracing::error!(%conn, "connection task failed outside a runtime; records left"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll<F: Future>(f: F) -> F::Output {
        // The in-memory store never suspends: one poll completes it.
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the memory store suspended"),
        }
    }

    #[test]
    fn writes_wire_lines_and_never_suspends() {
        let store = MemoryStore::new();
        let mut out = Vec::new();
        poll(store.add(NewRecord::of(1, "a", 1, 7, "Seven"), &mut out)).unwrap();
        assert_eq!(out, b"RFC 7 Seven a 1\r\n");
        out.clear();
        assert_eq!(poll(store.lookup_page(RfcNumber(7), HolderCursor::START, 1024, &mut out)), (1, None));
        assert_eq!(out, b"RFC 7 Seven a 1\r\n");
        out.clear();
        assert_eq!(poll(store.list_page(Cursor::START, 1024, &mut out)), None);
        assert_eq!(out, b"RFC 7 Seven a 1\r\n");
        assert_eq!(store.counts(), Counts { peers: 1, records: 1 });
        assert_eq!(poll(store.remove_peer(ConnId(1))), 1);
        assert_eq!(store.counts(), Counts::default());
    }

    #[test]
    fn reads_register_nothing_and_add_keeps_one_identity() {
        let store = MemoryStore::new();
        let mut out = Vec::new();
        assert_eq!(poll(store.lookup_page(RfcNumber(7), HolderCursor::START, 1024, &mut out)), (0, None));
        assert_eq!(store.counts().peers, 0);
        poll(store.add(NewRecord::of(1, "hostA", 1, 7, "t"), &mut out)).unwrap();
        // Hostnames compare case-insensitively.
        poll(store.add(NewRecord::of(1, "HOSTA", 1, 8, "t"), &mut out)).unwrap();
        let other = poll(store.add(NewRecord::of(1, "hostB", 1, 9, "t"), &mut out));
        assert!(matches!(other, Err(AddError::Identity(_))));
        let other_port = poll(store.add(NewRecord::of(1, "hostA", 2, 9, "t"), &mut out));
        assert!(matches!(other_port, Err(AddError::Identity(_))));
        assert_eq!(store.counts(), Counts { peers: 1, records: 2 });
    }

    #[tokio::test]
    async fn records_decodes_what_the_store_writes() {
        let store = MemoryStore::new();
        let mut out = Vec::new();
        store.add(NewRecord::of(1, "a", 1, 7, "A title with spaces"), &mut out).await.unwrap();
        store.add(NewRecord::of(2, "b", 2, 7, "A title with spaces"), &mut out).await.unwrap();
        let got = records(&store, Some(RfcNumber(7))).await;
        let hosts: Vec<_> = got.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, ["b", "a"]);
        assert_eq!(got[0].title, "A title with spaces");
        assert_eq!(records(&store, None).await, got);
    }

    #[tokio::test]
    async fn a_guard_left_armed_removes_the_peer() {
        let store = Arc::new(MemoryStore::new());
        let mut out = Vec::new();
        store.add(NewRecord::of(1, "a", 1, 7, "t"), &mut out).await.unwrap();
        let task = tokio::spawn({
            let store = store.clone();
            async move {
                let _guard = PeerGuard::new(store, ConnId(1));
                panic!("connection task failed");
            }
        });
        assert!(task.await.is_err());
        for _ in 0..100 {
            if store.counts().records == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("records left after a panicking connection task");
    }
}
