//! The accept loop that the index server and every upload server share.
//!
//! Both take a bound listener and a shutdown token (mini-redis's shape), cap
//! the connections served at once — past the cap a connection is closed on
//! arrival, so a flood is refused cleanly instead of exhausting file
//! descriptors — and back off briefly when `accept` itself fails (out of
//! descriptors, say) rather than spin or give up.
//!
//! The two differ in what a full house means. The index server's idle
//! connections are long-lived by design (a peer is its connection), so
//! [`accept_loop`] never closes one to make room. An upload connection
//! lives for one GET, and one that has sent nothing yet is indistinguishable
//! from an attacker holding a slot: [`accept_loop_evicting`] closes the
//! oldest connection that has not sent a byte to admit a new one, so silent
//! sockets, however many, cannot lock real downloads out.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Accepts connections until `shutdown` is cancelled, running
/// `handle(stream, addr)` for each admitted one as a task on `tracker`.
/// `what` names the server in the log; `refused` counts the connections
/// closed at the cap.
pub async fn accept_loop<F, Fut>(
    listener: &TcpListener,
    max_connections: usize,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    what: &'static str,
    refused: &metrics::Counter,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    while let Some((stream, addr)) = accept(listener, shutdown, what).await {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(%addr, "{what}: refused, already {max_connections} connections");
            refused.increment(1);
            drop(stream);
            continue;
        };
        let task = handle(stream, addr);
        tracker.spawn(async move {
            task.await;
            drop(permit);
        });
    }
}

/// [`accept_loop`] for short-lived connections that must speak first: at
/// the cap, the oldest connection that has not sent a byte yet is closed
/// and its slot given to the newcomer. Only when every slot holds a
/// connection that has spoken is a newcomer refused.
///
/// `handle` gets an [`Admission`] with the stream and calls
/// [`Admission::spoke`] once the first bytes are in; from then on the
/// connection keeps its slot until its task ends. A connection is judged by
/// what its task has read; before each eviction the loop yields, so every
/// connection whose bytes have arrived is read first, and a request that
/// is in the server's socket is never taken for silence.
pub async fn accept_loop_evicting<F, Fut>(
    listener: &TcpListener,
    max_connections: usize,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    what: &'static str,
    refused: &metrics::Counter,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr, Admission) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    let silent = Arc::new(Mutex::new(Silent::default()));
    let mut evicted: u64 = 0;
    while let Some((stream, addr)) = accept(listener, shutdown, what).await {
        let mut permit = slots.clone().try_acquire_owned();
        if permit.is_err() {
            // Before judging who is silent, let every connection whose
            // first bytes have arrived read them: a yielded task resumes
            // after the runtime has polled for I/O, so the tasks of
            // connections with a request waiting run (and speak) first.
            tokio::task::yield_now().await;
            permit = slots.clone().try_acquire_owned();
        }
        let permit = match permit {
            Ok(p) => p,
            Err(_) => match lock(&silent).evict_oldest() {
                Some(p) => {
                    evicted += 1;
                    // One line per thousand: a flood must not flood the log.
                    if evicted % 1000 == 1 {
                        warn!(
                            "{what}: at {max_connections} connections; closing silent ones for newcomers ({evicted} so far)"
                        );
                    }
                    debug!(%addr, "{what}: closed the oldest silent connection to admit this one");
                    p
                }
                None => {
                    warn!(%addr, "{what}: refused, already {max_connections} connections, all busy");
                    refused.increment(1);
                    drop(stream);
                    continue;
                }
            },
        };
        let closed = CancellationToken::new();
        let id = lock(&silent).admit(permit, closed.clone());
        let admission = Admission { id, silent: silent.clone(), permit: None };
        let task = handle(stream, addr, admission);
        tracker.spawn(async move {
            // Eviction drops the task, and with it the stream.
            tokio::select! {
                _ = closed.cancelled() => {}
                _ = task => {}
            }
        });
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

/// The connections that have not spoken yet, oldest first, each holding
/// its slot and the token that closes it. A std `Mutex`: it is held for a
/// map operation, never across an `.await`.
#[derive(Default)]
struct Silent {
    next: u64,
    waiting: BTreeMap<u64, (OwnedSemaphorePermit, CancellationToken)>,
}

impl Silent {
    fn admit(&mut self, permit: OwnedSemaphorePermit, closed: CancellationToken) -> u64 {
        let id = self.next;
        self.next += 1;
        self.waiting.insert(id, (permit, closed));
        id
    }

    /// Closes the oldest silent connection and hands over its slot.
    fn evict_oldest(&mut self) -> Option<OwnedSemaphorePermit> {
        let (_, (permit, closed)) = self.waiting.pop_first()?;
        closed.cancel();
        Some(permit)
    }
}

fn lock(silent: &Mutex<Silent>) -> std::sync::MutexGuard<'_, Silent> {
    // The map stays consistent whatever panicked while holding it.
    silent.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's place under [`accept_loop_evicting`]: evictable until
/// [`Admission::spoke`], its own slot after. Dropping it frees the slot.
pub struct Admission {
    id: u64,
    silent: Arc<Mutex<Silent>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// The connection has sent its first bytes: it keeps its slot from now
    /// on. Returns false if it was already chosen for eviction (its task is
    /// about to be dropped).
    pub fn spoke(&mut self) -> bool {
        if self.permit.is_some() {
            return true;
        }
        self.permit = lock(&self.silent).waiting.remove(&self.id).map(|(p, _)| p);
        self.permit.is_some()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.permit.is_none() {
            lock(&self.silent).waiting.remove(&self.id);
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
    fn the_oldest_silent_connection_goes_first_and_one_that_spoke_never() {
        let slots = Arc::new(Semaphore::new(3));
        let silent = Arc::new(Mutex::new(Silent::default()));
        let admit = || {
            let permit = slots.clone().try_acquire_owned().unwrap();
            let closed = CancellationToken::new();
            let id = lock(&silent).admit(permit, closed.clone());
            (Admission { id, silent: silent.clone(), permit: None }, closed)
        };
        let (mut a, a_closed) = admit();
        let (b, b_closed) = admit();
        let (c, c_closed) = admit();
        assert_eq!(slots.available_permits(), 0);
        // `a` spoke: it is no longer a candidate, so `b` goes first.
        assert!(a.spoke());
        let p = lock(&silent).evict_oldest().expect("a silent connection");
        assert!(b_closed.is_cancelled() && !a_closed.is_cancelled() && !c_closed.is_cancelled());
        drop(p);
        assert_eq!(slots.available_permits(), 1);
        // An evicted connection that reads a byte after all is told to go.
        let mut b = b;
        assert!(!b.spoke());
        drop(b);
        // A silent connection that ends frees its slot; then none is left.
        drop(c);
        assert_eq!(slots.available_permits(), 2);
        assert!(lock(&silent).evict_oldest().is_none());
        // One that spoke keeps its slot until it ends.
        drop(a);
        assert_eq!(slots.available_permits(), 3);
    }
}
