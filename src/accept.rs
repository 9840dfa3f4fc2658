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
