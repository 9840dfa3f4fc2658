//! Watches the peer's RFC folder, so that a file dropped in or taken out is
//! shared or withdrawn without a key press.
//!
//! The operating system's notifications (inotify, FSEvents, …, through the
//! `notify` crate) arrive on a thread of notify's own; they are only
//! filtered here (events about `rfc<N>.txt` directly in the folder, with
//! or without leading zeros, so a misnamed file is reported too) and
//! passed to a small task that waits for the burst to settle, then asks the
//! engine to read the folder again ([`Command::Rescan`]). The engine owns
//! the list of local RFCs and decides what that means (a new file is listed,
//! and ADDed when asked to; a removed one is withdrawn). A copy in progress
//! makes many events; the settle time folds them into one rescan.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use thiserror::Error;
use tokio::sync::mpsc;

use super::Command;
use super::library::{FileName, classify};

/// How long the folder must be quiet before it is read again.
pub const SETTLE: Duration = Duration::from_millis(150);

#[derive(Debug, Error)]
pub enum WatchError {
    #[error("cannot watch {}: {source}", path.display())]
    Watch { path: PathBuf, source: notify::Error },
}

/// A running watch; dropping it stops it.
pub struct FolderWatch {
    _watcher: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event names a file directly in the folder that is named like
/// an RFC (canonically or not: the rescan says which it does not share).
fn is_rfc_event(event: &notify::Event, dir: &Path) -> bool {
    let relevant = matches!(event.kind, EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(_));
    relevant
        && event.paths.iter().any(|p| {
            p.parent().is_some_and(|parent| parent == dir)
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| classify(n) != FileName::Other)
        })
}

/// Starts watching `dir`; each settled burst of changes sends
/// `Command::Rescan { advertise_new }` to the engine. The sender is weak:
/// the watch does not keep the engine's command channel open (the engine
/// holds the watch, and ends when its front end has gone). Must be called
/// inside a tokio runtime.
pub fn start(
    dir: &Path,
    commands: mpsc::WeakUnboundedSender<Command>,
    advertise_new: bool,
) -> Result<FolderWatch, WatchError> {
    let watched = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let filter_dir = watched.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && is_rfc_event(&event, &filter_dir)
        {
            let _ = tx.send(());
        }
    })
    .map_err(|source| WatchError::Watch { path: watched.clone(), source })?;
    watcher
        .watch(&watched, RecursiveMode::NonRecursive)
        .map_err(|source| WatchError::Watch { path: watched.clone(), source })?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until SETTLE passes with no new event.
            while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
            let Some(commands) = commands.upgrade() else { break };
            if commands.send(Command::Rescan { advertise_new }).is_err() {
                break;
            }
        }
    });
    Ok(FolderWatch { _watcher: watcher, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_file_asks_for_one_rescan() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _watch = start(tmp.path(), tx.downgrade(), true).unwrap();
        // Not an RFC file: nothing.
        std::fs::write(tmp.path().join("notes.txt"), "x").unwrap();
        std::fs::write(tmp.path().join("rfc9.txt"), "Request for Comments: 9\n\nNine\n").unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap();
        assert_eq!(got, Some(Command::Rescan { advertise_new: true }));
        std::fs::remove_file(tmp.path().join("rfc9.txt")).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap();
        assert_eq!(got, Some(Command::Rescan { advertise_new: true }));
    }
}
