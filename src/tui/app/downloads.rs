//! The Downloads pane's state: each download's progress and outcome.
//!
//! Running downloads are always kept, and the newest [`FINISHED_CAP`]
//! outcomes. Repeated failures of one RFC make one row with a count, not a
//! pane full of the same failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ratatui::widgets::ListState;

use crate::peer::{DownloadId, Holder};
use crate::protocol::RfcNumber;

/// Most finished downloads kept on screen (running ones are always kept).
pub const FINISHED_CAP: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadState {
    /// Waiting for the first GET to be sent.
    Queued,
    Running,
    /// The last holder failed and the next one is about to be tried.
    Retrying {
        reason: String,
    },
    Done {
        bytes: u64,
        elapsed: Duration,
    },
    Failed {
        reason: String,
    },
    /// `c` stopped it; nothing of it was kept.
    Cancelled,
}

/// One download as the Downloads pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub rfc: RfcNumber,
    /// The holder being (or last) tried.
    pub from: Option<Holder>,
    pub received: u64,
    /// Content-Length, once the holder's answer announced it.
    pub total: Option<u64>,
    /// The GET to the current holder is sent: waiting for its answer.
    pub asked: bool,
    /// When the current attempt started (by the app's clock).
    pub started: SystemTime,
    pub state: DownloadState,
    /// Where the file was written, once done.
    pub path: Option<PathBuf>,
    /// How many times in a row this RFC's download failed (this one
    /// included, once it has).
    pub failures: u32,
    /// 1, then 2 and on for each retry (`R`).
    pub attempt: u32,
    /// What the user can do about the failure, when there is something.
    pub hint: Option<String>,
}

impl Download {
    pub fn new(rfc: RfcNumber, now: SystemTime) -> Download {
        Download {
            rfc,
            from: None,
            received: 0,
            total: None,
            asked: false,
            started: now,
            state: DownloadState::Queued,
            path: None,
            failures: 0,
            attempt: 1,
            hint: None,
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self.state, DownloadState::Queued | DownloadState::Running | DownloadState::Retrying { .. })
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.state, DownloadState::Failed { .. })
    }

    /// Failed or cancelled: `R` can try it again.
    pub fn can_retry(&self) -> bool {
        matches!(self.state, DownloadState::Failed { .. } | DownloadState::Cancelled)
    }

    /// Bytes per second of the current attempt, by the app's clock; for a
    /// finished one, over its whole time.
    pub fn rate(&self, now: SystemTime) -> Option<f64> {
        if let DownloadState::Done { bytes, elapsed } = self.state {
            let secs = elapsed.as_secs_f64();
            return (secs > 0.0).then(|| bytes as f64 / secs);
        }
        let secs = now.duration_since(self.started).ok()?.as_secs_f64();
        (secs >= 0.2 && self.received > 0).then(|| self.received as f64 / secs)
    }
}

#[derive(Debug)]
pub struct DownloadsPane {
    pub map: BTreeMap<DownloadId, Download>,
    pub list: ListState,
}

impl Default for DownloadsPane {
    fn default() -> Self {
        DownloadsPane { map: BTreeMap::new(), list: ListState::default().with_selected(Some(0)) }
    }
}

impl DownloadsPane {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn running(&self) -> usize {
        self.map.values().filter(|d| d.is_active()).count()
    }

    pub fn is_downloading(&self, rfc: RfcNumber) -> bool {
        self.map.values().any(|d| d.rfc == rfc && d.is_active())
    }

    /// The downloads in the order the pane lists them: running ones first,
    /// then the newest outcomes.
    pub fn order(&self) -> Vec<DownloadId> {
        let active = self.map.iter().filter(|(_, d)| d.is_active()).map(|(id, _)| *id);
        let finished = self.map.iter().rev().filter(|(_, d)| !d.is_active()).map(|(id, _)| *id);
        active.chain(finished).collect()
    }

    /// The download selected, and its id.
    pub fn selected(&self) -> Option<(DownloadId, &Download)> {
        let at = self.list.selected().unwrap_or(0);
        let id = *self.order().get(at)?;
        self.map.get(&id).map(|d| (id, d))
    }

    pub fn entry(&mut self, id: DownloadId, rfc: RfcNumber, now: SystemTime) -> &mut Download {
        self.map.entry(id).or_insert_with(|| Download::new(rfc, now))
    }

    /// A failure of `id` (a retry fails under the same id): it counts one
    /// more, and an older failed row of the same RFC is folded into it.
    pub fn fold_failure(&mut self, id: DownloadId) {
        let Some(rfc) = self.map.get(&id).map(|d| d.rfc) else { return };
        if let Some(d) = self.map.get_mut(&id) {
            d.failures += 1;
        }
        let older: Vec<(DownloadId, u32)> = self
            .map
            .iter()
            .filter(|(other, d)| **other != id && d.rfc == rfc && d.is_failed())
            .map(|(other, d)| (*other, d.failures.max(1)))
            .collect();
        let before: u32 = older.iter().map(|(_, n)| n).sum();
        for (other, _) in older {
            self.map.remove(&other);
        }
        if let Some(d) = self.map.get_mut(&id) {
            d.failures += before;
        }
        self.prune();
    }

    /// Keeps every running download and the newest finished ones.
    pub fn prune(&mut self) {
        let finished: Vec<DownloadId> =
            self.map.iter().filter(|(_, d)| !d.is_active()).map(|(id, _)| *id).collect();
        for id in finished.iter().take(finished.len().saturating_sub(FINISHED_CAP)) {
            self.map.remove(id);
        }
        let len = self.map.len();
        self.list.select(Some(self.list.selected().unwrap_or(0).min(len.saturating_sub(1))));
    }
}
