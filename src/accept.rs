//! The accept loop that the index server and every upload server share.
//!
//! Both take a bound listener and a shutdown token (mini-redis's shape), cap
//! the connections served at once — past the cap a connection is closed on
//! arrival, so a flood is refused cleanly instead of exhausting file
//! descriptors — and back off briefly when `accept` itself fails (out of
//! descriptors, say) rather than spin or give up.
//!
//! One source address holds at most a share of the slots ([`Caps`]): its
//! further connections are closed on arrival, before they can take a slot
//! or push anyone out, so one host opening sockets by the thousand cannot
//! lock out the others (PROTOCOL.md, Limits). Addresses are compared as IP
//! addresses, ports ignored; an IPv4-mapped IPv6 address counts as the IPv4
//! address it maps.
//!
//! The two differ in what a full house means. The index server's idle
//! connections are long-lived by design (a peer is its connection), so
//! [`accept_loop`] never closes one to make room. An upload connection
//! lives for one GET, and one that has not finished sending its GET yet is
//! indistinguishable from an attacker holding a slot, silent or half-sent:
//! [`accept_loop_evicting`] closes the oldest connection whose request is
//! not in yet to admit a new one, so such sockets, however many, cannot
//! lock real downloads out.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// How many connections a server takes: in all, and from one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Connections served at once.
    pub total: usize,
    /// Connections served at once from one source address; `usize::MAX`
    /// for no limit of its own.
    pub per_address: usize,
}

impl Caps {
    /// A cap on the total only.
    pub fn total(total: usize) -> Caps {
        Caps { total, per_address: usize::MAX }
    }
}

/// Accepts connections until `shutdown` is cancelled, running
/// `handle(stream, addr)` for each admitted one as a task on `tracker`.
/// `what` names the server in the log; `refused` counts the connections
/// closed at either cap.
pub async fn accept_loop<F, Fut>(
    listener: &TcpListener,
    caps: Caps,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    what: &'static str,
    refused: &metrics::Counter,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(caps.total));
    let addresses = PerAddress::new(caps.per_address);
    let mut log = Refusals::default();
    while let Some((stream, addr)) = accept(listener, shutdown, what).await {
        let Some(address) = addresses.admit(addr) else {
            log.per_address(what, addr, caps.per_address);
            refused.increment(1);
            drop(stream);
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            log.full(what, addr, caps.total, "");
            refused.increment(1);
            drop(stream);
            continue;
        };
        let task = handle(stream, addr);
        tracker.spawn(async move {
            task.await;
            drop((permit, address));
        });
    }
}

/// [`accept_loop`] for short-lived connections that must send their
/// request first: at the cap, the oldest connection whose request head is
/// not in yet (it sent nothing, or only part of it) is closed and its slot
/// given to the newcomer. Only when every slot holds a connection whose
/// request is in is a newcomer refused.
///
/// `handle` gets an [`Admission`] with the stream and calls
/// [`Admission::request_read`] once the whole request head is in; from then
/// on the connection keeps its slot until its task ends. A connection is
/// judged by what its task has read; before each eviction the loop yields,
/// so every connection whose bytes have arrived is read first, and a
/// request that is in the server's socket is never taken for one that is
/// not.
pub async fn accept_loop_evicting<F, Fut>(
    listener: &TcpListener,
    caps: Caps,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    what: &'static str,
    refused: &metrics::Counter,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr, Admission) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(caps.total));
    let addresses = PerAddress::new(caps.per_address);
    let pending = Arc::new(Mutex::new(Pending::default()));
    let mut log = Refusals::default();
    let mut evicted: u64 = 0;
    while let Some((stream, addr)) = accept(listener, shutdown, what).await {
        // Past its address's share, a newcomer is closed before it can
        // push anyone out.
        let Some(address) = addresses.admit(addr) else {
            log.per_address(what, addr, caps.per_address);
            refused.increment(1);
            drop(stream);
            continue;
        };
        let mut permit = slots.clone().try_acquire_owned();
        if permit.is_err() {
            // Before judging whose request is not in, let every connection
            // whose bytes have arrived read them: a yielded task resumes
            // after the runtime has polled for I/O, so the tasks of
            // connections with a request waiting run (and read it) first.
            tokio::task::yield_now().await;
            permit = slots.clone().try_acquire_owned();
        }
        let permit = match permit {
            Ok(p) => p,
            Err(_) => match lock(&pending).evict_oldest() {
                Some(p) => {
                    evicted += 1;
                    // One line per thousand: a flood must not flood the log.
                    if evicted % 1000 == 1 {
                        warn!(
                            "{what}: at {} connections; closing those that have not sent a whole request for newcomers ({evicted} so far)",
                            caps.total
                        );
                    }
                    debug!(%addr, "{what}: closed the oldest connection without a whole request to admit this one");
                    p
                }
                None => {
                    log.full(what, addr, caps.total, ", all busy");
                    refused.increment(1);
                    drop(stream);
                    continue;
                }
            },
        };
        let closed = CancellationToken::new();
        let id = lock(&pending).admit(permit, closed.clone());
        let admission = Admission { id, pending: pending.clone(), permit: None };
        let task = handle(stream, addr, admission);
        tracker.spawn(async move {
            // Eviction drops the task, and with it the stream.
            tokio::select! {
                _ = closed.cancelled() => {}
                _ = task => {}
            }
            drop(address);
        });
    }
}

/// Logs refusals: each at debug level, and a warning for the first and
/// then one per thousand, so a flood does not flood the log.
#[derive(Default)]
struct Refusals {
    full: u64,
    per_address: u64,
}

impl Refusals {
    fn full(&mut self, what: &str, addr: SocketAddr, cap: usize, busy: &str) {
        self.full += 1;
        if self.full % 1000 == 1 {
            warn!(%addr, "{what}: refused, already {cap} connections{busy} ({} refused so far)", self.full);
        } else {
            debug!(%addr, "{what}: refused, already {cap} connections{busy}");
        }
    }

    fn per_address(&mut self, what: &str, addr: SocketAddr, cap: usize) {
        self.per_address += 1;
        if self.per_address % 1000 == 1 {
            warn!(
                %addr,
                "{what}: refused, already {cap} connections from {} ({} refused for their address so far)",
                addr.ip().to_canonical(),
                self.per_address
            );
        } else {
            debug!(%addr, "{what}: refused, already {cap} connections from this address");
        }
    }
}

/// How many connections each source address holds, for the per-address
/// cap. Only addresses with a connection open have an entry, so the table
/// is no larger than the total cap. A std `Mutex`: held for one map
/// operation when a connection arrives or ends, never across an `.await`.
/// No table at all without a cap.
struct PerAddress(Option<Arc<AddressTable>>);

struct AddressTable {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn new(cap: usize) -> PerAddress {
        PerAddress((cap != usize::MAX).then(|| Arc::new(AddressTable { cap, open: Mutex::default() })))
    }

    /// Counts a connection from `addr`, or `None` when its address already
    /// holds its share. The returned slot uncounts it when dropped.
    fn admit(&self, addr: SocketAddr) -> Option<AddressSlot> {
        let Some(table) = &self.0 else { return Some(AddressSlot(None)) };
        let ip = addr.ip().to_canonical();
        let mut open = table.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= table.cap {
            if *n == 0 {
                open.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(AddressSlot(Some((table.clone(), ip))))
    }
}

impl AddressTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The map stays consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's place in its address's share.
struct AddressSlot(Option<(Arc<AddressTable>, IpAddr)>);

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some((table, ip)) = &self.0 {
            let mut open = table.lock();
            if let Some(n) = open.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(ip);
                }
            }
        }
    }
}

/// Accepts the next connection; `None` once `shutdown` is cancelled.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    what: &'static str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return None,
            a = listener.accept() => a,
        };
        match accepted {
            Ok(a) => return Some(a),
            Err(e) => {
                warn!("{what}: accept failed: {e}; backing off");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The connections whose request is not in yet, oldest first, each
/// holding its slot and the token that closes it. A std `Mutex`: it is held for a
/// map operation, never across an `.await`.
#[derive(Default)]
struct Pending {
    next: u64,
    waiting: BTreeMap<u64, (OwnedSemaphorePermit, CancellationToken)>,
}

impl Pending {
    fn admit(&mut self, permit: OwnedSemaphorePermit, closed: CancellationToken) -> u64 {
        let id = self.next;
        self.next += 1;
        self.waiting.insert(id, (permit, closed));
        id
    }

    /// Closes the oldest connection whose request is not in, and hands
    /// over its slot.
    fn evict_oldest(&mut self) -> Option<OwnedSemaphorePermit> {
        let (_, (permit, closed)) = self.waiting.pop_first()?;
        closed.cancel();
        Some(permit)
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    // The map stays consistent whatever panicked while holding it.
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's place under [`accept_loop_evicting`]: evictable until
/// [`Admission::request_read`], its own slot after. Dropping it frees the
/// slot.
pub struct Admission {
    id: u64,
    pending: Arc<Mutex<Pending>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// The connection's whole request head is in: it keeps its slot from
    /// now on. Returns false if it was already chosen for eviction (its
    /// task is about to be dropped).
    pub fn request_read(&mut self) -> bool {
        if self.permit.is_some() {
            return true;
        }
        self.permit = lock(&self.pending).waiting.remove(&self.id).map(|(p, _)| p);
        self.permit.is_some()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.permit.is_none() {
            lock(&self.pending).waiting.remove(&self.id);
        }
    }
}

/// Closes a connection the way web servers do after an error answer: stop
/// writing (the peer reads our answer, then end of stream), read and discard
/// whatever the peer is still sending for at most `linger`, then close.
///
/// Closing a socket with unread input makes the kernel send a reset, and a
/// reset that overtakes our answer destroys it in the peer's receive buffer:
/// a client still writing an oversized request would never see its 400.
/// Draining first lets the answer arrive; the bound keeps a client that never
/// stops writing from holding the connection.
pub async fn close_gracefully(mut stream: TcpStream, linger: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(linger, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_pending_connection_goes_first_and_one_whose_request_is_in_never() {
        let slots = Arc::new(Semaphore::new(3));
        let pending = Arc::new(Mutex::new(Pending::default()));
        let admit = || {
            let permit = slots.clone().try_acquire_owned().unwrap();
            let closed = CancellationToken::new();
            let id = lock(&pending).admit(permit, closed.clone());
            (Admission { id, pending: pending.clone(), permit: None }, closed)
        };
        let (mut a, a_closed) = admit();
        let (b, b_closed) = admit();
        let (c, c_closed) = admit();
        assert_eq!(slots.available_permits(), 0);
        // `a`'s request is in: it is no longer a candidate, so `b` goes first.
        assert!(a.request_read());
        let p = lock(&pending).evict_oldest().expect("a pending connection");
        assert!(b_closed.is_cancelled() && !a_closed.is_cancelled() && !c_closed.is_cancelled());
        drop(p);
        assert_eq!(slots.available_permits(), 1);
        // An evicted connection whose request comes in after all is told to go.
        let mut b = b;
        assert!(!b.request_read());
        drop(b);
        // A pending connection that ends frees its slot; then none is left.
        drop(c);
        assert_eq!(slots.available_permits(), 2);
        assert!(lock(&pending).evict_oldest().is_none());
        // One whose request is in keeps its slot until it ends.
        drop(a);
        assert_eq!(slots.available_permits(), 3);
    }

    #[test]
    fn each_address_holds_its_share_and_mapped_ipv4_is_ipv4() {
        let table = PerAddress::new(2);
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let one = table.admit(a("127.0.0.2:1000")).expect("first");
        let two = table.admit(a("[::ffff:127.0.0.2]:1001")).expect("second, mapped");
        assert!(table.admit(a("127.0.0.2:1002")).is_none(), "past the share");
        assert!(table.admit(a("[::ffff:127.0.0.2]:1003")).is_none(), "the mapped form is the same address");
        // Another address has its own share, IPv6 included.
        let other = table.admit(a("127.0.0.3:1000")).expect("another address");
        let v6 = table.admit(a("[::1]:1000")).expect("an IPv6 address");
        drop(one);
        let again = table.admit(a("127.0.0.2:1004")).expect("a slot came free");
        drop((two, again, other, v6));
        let open = table.0.as_ref().unwrap().lock();
        assert!(open.is_empty(), "entries go with their last connection: {open:?}");
        drop(open);
        // No cap, no table.
        let free = PerAddress::new(usize::MAX);
        assert!(free.0.is_none());
        let held: Vec<_> = (0..1000).map(|i| free.admit(a(&format!("127.0.0.2:{i}"))).unwrap()).collect();
        assert_eq!(held.len(), 1000);
    }
}
