//! The accept loop that the index server and every upload server share.
//!
//! Both take a bound listener and a shutdown token (mini-redis's shape), cap
//! the connections served at once — past the cap a connection is closed on
//! arrival, so a flood is refused cleanly instead of exhausting file
//! descriptors — and back off briefly when `accept` itself fails (out of
//! descriptors, say) rather than spin or give up.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

/// Accepts connections until `shutdown` is cancelled, running
/// `handle(stream, addr)` for each admitted one as a task on `tracker`.
/// `what` names the server in the log.
pub async fn accept_loop<F, Fut>(
    listener: &TcpListener,
    max_connections: usize,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    what: &'static str,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!("{what}: accept failed: {e}; backing off");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(%addr, "{what}: refused, already {max_connections} connections");
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
