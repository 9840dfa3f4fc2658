//! The server's transcript: every request received and every response sent,
//! on standard output, as the original server printed them — byte for byte,
//! but for control characters, which are shown escaped (`\x1b`).
//!
//! Printing must not cost the index its speed nor let a slow terminal stall
//! it. Connections append to one shared buffer under a short lock (no system
//! call, no wake-up while the printer is busy); a dedicated thread lets
//! messages gather for a few milliseconds, then takes the whole buffer at
//! once and writes it with one call, so under load the transcript goes out
//! in large writes and the thread wakes a few hundred times a second at
//! most, however many small messages there are. Past a cap, connections wait (asynchronously) for the printer to
//! catch up: a slow terminal slows the server down rather than let memory
//! grow. With metrics on, the backlog (bytes not yet written, and the age of
//! the oldest) is kept for the `p2pci_server_transcript_*` gauges.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::protocol::escape_message;

/// Bytes waiting to be printed past which connections wait.
const CAP: usize = 4 * 1024 * 1024;
/// How long the printer lets messages gather before it writes them.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// The printer thread is asleep on `ready`.
    asleep: bool,
    /// No more messages will come: print what is left and stop.
    closed: bool,
    /// When the oldest message in `buf` was appended (tracked with metrics on).
    oldest: Option<Instant>,
    /// Bytes the printer took and is writing, and when the oldest was appended.
    in_flight: usize,
    in_flight_oldest: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    /// Keep the backlog's age (metrics on).
    track: bool,
    state: Mutex<State>,
    ready: Condvar,
    drained: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where connections print; cheap to clone. Disabled, it prints nothing.
#[derive(Clone, Default)]
pub(super) struct Transcript {
    shared: Option<Arc<Shared>>,
}

/// Owned by the server: when it is dropped, the printer prints what is left
/// and its thread ends.
pub(super) struct Printer {
    shared: Option<Arc<Shared>>,
}

impl Drop for Printer {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.lock().closed = true;
            shared.ready.notify_one();
        }
    }
}

/// Starts the printer thread (when `enabled`) writing to `out`; its backlog
/// is tracked when metrics are on.
pub(super) fn start(enabled: bool, out: impl Write + Send + 'static) -> (Printer, Transcript) {
    start_tracking(enabled, crate::metrics::enabled(), out)
}

fn start_tracking(enabled: bool, track: bool, mut out: impl Write + Send + 'static) -> (Printer, Transcript) {
    if !enabled {
        return (Printer { shared: None }, Transcript::default());
    }
    let shared = Arc::new(Shared { track, ..Shared::default() });
    let thread_shared = shared.clone();
    let spawned = std::thread::Builder::new().name("p2pci-print".into()).spawn(move || {
        let shared = thread_shared;
        let mut spare = Vec::new();
        loop {
            let mut state = shared.lock();
            while state.buf.is_empty() {
                if state.closed {
                    return;
                }
                state.asleep = true;
                state = shared.ready.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if !state.closed && state.buf.len() < CAP / 2 {
                // Let more gather: one wake-up and one write per batch,
                // not per message, at the cost of a few ms of delay.
                drop(state);
                std::thread::sleep(GATHER);
                state = shared.lock();
            }
            let mut chunk = std::mem::replace(&mut state.buf, std::mem::take(&mut spare));
            if shared.track {
                state.in_flight = chunk.len();
                state.in_flight_oldest = state.oldest.take();
            }
            drop(state);
            shared.drained.notify_waiters();
            if out.write_all(&chunk).and_then(|()| out.flush()).is_err() {
                // Nowhere to print (closed stdout): stop printing, keep serving.
                shared.lock().closed = true;
                shared.drained.notify_waiters();
                return;
            }
            if shared.track {
                let mut state = shared.lock();
                state.in_flight = 0;
                state.in_flight_oldest = None;
            }
            chunk.clear();
            spare = chunk;
        }
    });
    match spawned {
        Ok(_) => (Printer { shared: Some(shared.clone()) }, Transcript { shared: Some(shared) }),
        Err(_) => (Printer { shared: None }, Transcript::default()),
    }
}

impl Transcript {
    pub(super) fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Bytes appended but not yet written out, and how long the oldest of
    /// them has waited (zero when caught up, disabled or not tracked).
    pub(super) fn backlog(&self) -> (usize, Duration) {
        let Some(shared) = &self.shared else { return (0, Duration::ZERO) };
        let state = shared.lock();
        let oldest = state.in_flight_oldest.or(state.oldest);
        (state.buf.len() + state.in_flight, oldest.map_or(Duration::ZERO, |t| t.elapsed()))
    }

    /// Appends a message: a `--- <what> <peer>` line, then its bytes (ended
    /// by a line end if they lack one), escaped where a terminal would act on
    /// them ([`escape_message`]): the transcript goes to an operator's
    /// screen, and its bytes come from anyone. Waits only while the printer
    /// is more than [`CAP`] behind.
    #[inline]
    pub(super) async fn print(&self, what: &str, peer: &str, bytes: &[u8]) {
        // Kept small so that, not printing, a request pays one branch.
        if let Some(shared) = &self.shared {
            Self::append(shared, what, peer, bytes).await;
        }
    }

    async fn append(shared: &Shared, what: &str, peer: &str, bytes: &[u8]) {
        loop {
            {
                let mut state = shared.lock();
                if state.closed {
                    return;
                }
                if state.buf.len() < CAP {
                    if shared.track && state.buf.is_empty() {
                        state.oldest = Some(Instant::now());
                    }
                    let buf = &mut state.buf;
                    buf.extend_from_slice(b"--- ");
                    buf.extend_from_slice(what.as_bytes());
                    buf.push(b' ');
                    buf.extend_from_slice(peer.as_bytes());
                    buf.push(b'\n');
                    escape_message(bytes, buf);
                    if !bytes.ends_with(b"\n") {
                        buf.push(b'\n');
                    }
                    if state.asleep {
                        state.asleep = false;
                        shared.ready.notify_one();
                    }
                    return;
                }
            }
            // Over the cap: wait for a drain, registered before checking
            // again so that one in between is not missed.
            let drained = shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            let behind = {
                let state = shared.lock();
                !state.closed && state.buf.len() >= CAP
            };
            if behind {
                crate::metrics::server().transcript_waits.increment(1);
                drained.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back, optionally slow.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn printed(sink: &Sink, want: usize) -> Vec<u8> {
        for _ in 0..500 {
            let got = sink.0.lock().unwrap().clone();
            if got.len() >= want {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("printed only {:?}", String::from_utf8_lossy(&sink.0.lock().unwrap()));
    }

    #[tokio::test]
    async fn prints_in_order_with_headers() {
        let sink = Sink::default();
        let (printer, t) = start(true, sink.clone());
        t.print("received from", "peer #1 (a)", b"LIST ALL P2P-CI/1.0\r\n\r\n").await;
        t.print("sent to", "peer #1 (a)", b"no newline").await;
        let want =
            "--- received from peer #1 (a)\nLIST ALL P2P-CI/1.0\r\n\r\n--- sent to peer #1 (a)\nno newline\n";
        assert_eq!(printed(&sink, want.len()).await, want.as_bytes());
        drop(printer);
    }

    #[tokio::test]
    async fn terminal_escapes_are_printed_escaped() {
        let sink = Sink::default();
        let (printer, t) = start(true, sink.clone());
        t.print("received from", "p", b"ADD RFC 1 P2P-CI/1.0\r\nHost: ev\x1b]0;pwned\x07\x1b[2J\r\n\r\n")
            .await;
        let want = "--- received from p\nADD RFC 1 P2P-CI/1.0\r\nHost: ev\\x1b]0;pwned\\x07\\x1b[2J\r\n\r\n";
        assert_eq!(printed(&sink, want.len()).await, want.as_bytes());
        drop(printer);
    }

    /// A writer that blocks until it is let go, as a stalled terminal does.
    struct Stalled {
        sink: Sink,
        go: std::sync::mpsc::Receiver<()>,
        stalled: bool,
    }

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.stalled {
                let _ = self.go.recv();
                self.stalled = false;
            }
            self.sink.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stalled_printer_makes_connections_wait_and_nothing_is_lost() {
        let sink = Sink::default();
        let (go, rx) = std::sync::mpsc::channel();
        let (_printer, t) = start(true, Stalled { sink: sink.clone(), go: rx, stalled: true });
        let big = vec![b'x'; CAP / 3];
        let one = "--- sent to p\n".len() + big.len() + 1;
        let writer = tokio::spawn(async move {
            for _ in 0..12 {
                t.print("sent to", "p", &big).await;
            }
        });
        // The printer holds the first message, stalled; the rest fill the
        // buffer to the cap, and the connection waits there.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!writer.is_finished(), "a stalled printer must make connections wait");
        go.send(()).unwrap();
        writer.await.unwrap();
        assert_eq!(printed(&sink, 12 * one).await.len(), 12 * one);
    }

    #[tokio::test]
    async fn the_backlog_counts_what_a_stalled_printer_holds() {
        let sink = Sink::default();
        let (go, rx) = std::sync::mpsc::channel();
        let (_printer, t) = start_tracking(true, true, Stalled { sink: sink.clone(), go: rx, stalled: true });
        assert_eq!(t.backlog(), (0, Duration::ZERO));
        t.print("sent to", "p", b"abc\n").await;
        let one = "--- sent to p\nabc\n".len();
        // Taken by the printer (in flight, stalled) or still in the buffer:
        // either way not written, and getting older.
        let (pending, first) = t.backlog();
        assert_eq!(pending, one);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (_, later) = t.backlog();
        assert!(later >= first + Duration::from_millis(20), "{first:?} then {later:?}");
        go.send(()).unwrap();
        printed(&sink, one).await;
        for _ in 0..500 {
            if t.backlog() == (0, Duration::ZERO) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("backlog left after printing: {:?}", t.backlog());
    }

    #[tokio::test]
    async fn disabled_prints_nothing_and_a_dropped_printer_ends() {
        let (printer, t) = start(false, Sink::default());
        assert!(!t.enabled());
        t.print("sent to", "p", b"x").await;
        drop(printer);
        let sink = Sink::default();
        let (printer, t) = start(true, sink.clone());
        drop(printer);
        // After the close, messages are dropped rather than waited on.
        t.print("sent to", "p", b"x").await;
    }
}
