//! Reporting to the front end without waiting for it.
//!
//! The event channel is bounded, and a front end that draws slowly fills it.
//! Uploads and downloads must not slow down for that: a peer that answers
//! GETs at the pace of its screen serves nobody well. So their log-like
//! events — raw protocol messages, progress, uploads served — go with
//! `try_send`. What does not
//! fit is dropped and counted, and the count goes out as a notice once
//! there is room again. Progress needs no count: the next one supersedes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::{self, error::TrySendError};

use super::NetEvent;

/// A sender that never waits. Clones share the count of dropped events.
#[derive(Debug, Clone)]
pub(crate) struct Lossy {
    tx: Option<mpsc::Sender<NetEvent>>,
    dropped: Arc<AtomicU64>,
    /// Who reports, for the notice: "upload server", "downloads".
    what: &'static str,
}

impl Lossy {
    pub(crate) fn new(tx: Option<mpsc::Sender<NetEvent>>, what: &'static str) -> Lossy {
        Lossy { tx, dropped: Arc::default(), what }
    }

    /// The same counter, another channel.
    pub(crate) fn with_sender(&self, tx: mpsc::Sender<NetEvent>) -> Lossy {
        Lossy { tx: Some(tx), dropped: self.dropped.clone(), what: self.what }
    }

    /// Sends the event if there is room; counts it otherwise.
    pub(crate) fn emit(&self, ev: impl FnOnce() -> NetEvent) {
        let Some(tx) = &self.tx else { return };
        self.flush_count(tx);
        if let Err(TrySendError::Full(_)) = tx.try_send(ev()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends an event that supersedes the previous one of its kind
    /// (progress): dropped without being counted.
    pub(crate) fn emit_latest(&self, ev: impl FnOnce() -> NetEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(ev());
        }
    }

    /// Reports how many events were dropped, if any and if there is room.
    fn flush_count(&self, tx: &mpsc::Sender<NetEvent>) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        // Checked first, so a full channel costs no formatting.
        if dropped == 0 || tx.capacity() == 0 {
            return;
        }
        let notice = NetEvent::Notice(format!(
            "{}: {dropped} log event(s) not shown, the screen was behind",
            self.what
        ));
        if tx.try_send(notice).is_ok() {
            self.dropped.fetch_sub(dropped, Ordering::Relaxed);
        }
    }

    /// Events dropped and not yet reported.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_waits_and_counts_what_it_dropped() {
        let (tx, mut rx) = mpsc::channel(2);
        let lossy = Lossy::new(Some(tx), "test");
        for i in 0..5 {
            lossy.emit(|| NetEvent::Notice(format!("{i}")));
        }
        assert_eq!(lossy.dropped(), 3);
        lossy.emit_latest(|| NetEvent::Notice("progress".into()));
        assert_eq!(lossy.dropped(), 3, "superseded events are not counted");
        assert_eq!(rx.try_recv().unwrap(), NetEvent::Notice("0".into()));
        assert_eq!(rx.try_recv().unwrap(), NetEvent::Notice("1".into()));
        // Room again: the count goes first, then the event.
        lossy.emit(|| NetEvent::Notice("5".into()));
        assert_eq!(
            rx.try_recv().unwrap(),
            NetEvent::Notice("test: 3 log event(s) not shown, the screen was behind".into())
        );
        assert_eq!(rx.try_recv().unwrap(), NetEvent::Notice("5".into()));
        assert_eq!(lossy.dropped(), 0);
    }
}
