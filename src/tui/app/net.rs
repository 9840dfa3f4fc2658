//! Engine events into the state: [`App::on_net`] routes each
//! [`NetEvent`] to the pane it is about, and says what came of it in the
//! log and the status line.

use super::downloads::DownloadState;
use super::index::IndexStatus;
use super::log::LogKind;
use super::lookup::LookupView;
use super::{App, Connection, shown};
use crate::human::{self, Size};
use crate::peer::{
    AdvertiseCause, Command, DownloadError, DownloadEvent, DownloadId, IndexError, LocalRfc, NetEvent,
    PeerError, Reply, Request, WithdrawOutcome, Withdrawal,
};
use crate::protocol::{RfcNumber, Status};

impl App {
    /// Folds one engine event into the state. Returns a follow-up command: a
    /// fresh LIST when the server is reached or our records changed, so the
    /// Index pane keeps up without a key press.
    pub fn on_net(&mut self, ev: NetEvent) -> Option<Command> {
        match ev {
            NetEvent::Wire(w) => {
                let page = self.log_page();
                self.log.wire(&w, page);
            }
            NetEvent::Connected { server } => {
                self.connection = Connection::Connected;
                self.log_info(LogKind::Info, format!("connected to the index server {server}"));
                // With several servers, the status line names the one in use.
                self.me.server = server;
                self.lookup.on_reconnect();
                if self.index.status != IndexStatus::Loading {
                    self.index.status = IndexStatus::Loading;
                    return Some(Command::List);
                }
            }
            NetEvent::Disconnected { reason, retry_in } => {
                let again =
                    matches!(&self.connection, Connection::Disconnected { reason: r, .. } if *r == reason);
                if !again {
                    self.log_info(LogKind::Error, format!("index server: {reason}"));
                }
                // The server drops a peer's records with its connection.
                self.local.in_index.clear();
                let page = self.log_page();
                self.log.flush_held(page);
                if !self.is_leaving() {
                    let retry_at = retry_in.map(|d| self.now + d);
                    self.connection = Connection::Disconnected { reason, retry_at };
                }
                if self.index.status == IndexStatus::Loading {
                    self.index.status = IndexStatus::Failed("the index server is unreachable".into());
                }
                // The Lookup shown is asked again once the server is back.
                if self.lookup.view.rfc().is_some() && !matches!(self.lookup.view, LookupView::Invalid(_)) {
                    self.lookup.redo = true;
                }
            }
            NetEvent::Reply(reply) => return self.on_reply(reply),
            NetEvent::Error(e) => {
                self.on_error(&e);
                let text = e.to_string();
                self.log_info(LogKind::Error, text.clone());
                self.messages.notify(self.now, text, true);
            }
            NetEvent::FolderError(text) => {
                self.log_info(LogKind::Error, text.clone());
                self.messages.notify(self.now, text, true);
            }
            NetEvent::Notice(n) => {
                self.log_info(LogKind::Info, n.clone());
                self.messages.notify(self.now, n, false);
            }
            NetEvent::Advertising { count, cause } => self.on_advertising(count, cause),
            NetEvent::Skipped(skipped) => {
                let lines = crate::peer::library::skipped_lines(&skipped);
                for line in &lines {
                    self.log_info(LogKind::Error, line.clone());
                }
                // Said once: one file by its name and reason, more by a count.
                let text = match (skipped.len(), lines.first()) {
                    (1, Some(line)) => format!("{line}."),
                    (n, _) => format!("Not sharing {n} file(s) named like RFCs; the log says which and why."),
                };
                self.messages.notify(self.now, text, true);
            }
            NetEvent::Unshared { rfc, to } => {
                let text = format!("RFC {rfc} is no longer shared (moved to {}).", to.display());
                self.log_info(LogKind::Info, text.clone());
                self.local.in_index.remove(&rfc);
                self.messages.outcome(self.now, text, false);
            }
            NetEvent::Withdrawn { rfcs, why, outcome } => self.on_withdrawn(&rfcs, why, outcome),
            NetEvent::Library(local) => self.on_library(local),
            NetEvent::Download { id, event } => self.on_download(id, event),
            NetEvent::Uploaded { to, rfc, status, bytes } => {
                self.uploads_served += 1;
                let text = match rfc {
                    Some(rfc) if status == Status::Ok => format!("served RFC {rfc} to {to}: {}", Size(bytes)),
                    Some(rfc) => format!("answered {to} for RFC {rfc}: {status}"),
                    None => format!("answered {to}: {status}"),
                };
                self.log_info(LogKind::Info, text);
            }
            NetEvent::Closed => {
                self.connection = Connection::Closed;
                self.log_info(LogKind::Info, "closed the index connection; goodbye".into());
            }
        }
        None
    }

    /// ADDs begin. The user's own (`a`) said so already; those the engine
    /// makes on its own say so unless an outcome is showing, which they do
    /// not replace (issue 19, item 4).
    fn on_advertising(&mut self, count: usize, cause: AdvertiseCause) {
        let why = match &cause {
            AdvertiseCause::Asked => return,
            AdvertiseCause::Reconnected => "after reconnecting".to_owned(),
            AdvertiseCause::NewFiles => "new in the folder".to_owned(),
            AdvertiseCause::Downloaded(rfc) => format!("after downloading RFC {rfc}"),
            AdvertiseCause::Withdrawal { .. } => "again, after the withdrawal".to_owned(),
            AdvertiseCause::Restore => "once more: the index dropped them after the reconnection".to_owned(),
        };
        let text = format!("advertising {count} RFC(s) {why}");
        self.log_info(LogKind::Info, text.clone());
        let quiet = matches!(cause, AdvertiseCause::Downloaded(_) | AdvertiseCause::Withdrawal { .. });
        if !quiet && !self.messages.toast.as_ref().is_some_and(|t| t.outcome) {
            self.messages.progress(self.now, format!("{text}…"));
        }
    }

    /// How taking RFCs out of the index ended. For `s`, the move of the file
    /// was the message; for a file removed from the folder, this is it.
    fn on_withdrawn(&mut self, rfcs: &[RfcNumber], why: Withdrawal, outcome: WithdrawOutcome) {
        let list: Vec<String> = rfcs.iter().map(|r| r.to_string()).collect();
        let list = list.join(", ");
        for rfc in rfcs {
            self.local.in_index.remove(rfc);
        }
        let (what, error) = match &outcome {
            WithdrawOutcome::NotAdvertised => ("it was not in the index".to_owned(), false),
            WithdrawOutcome::Offline => {
                ("the server is away: it forgot this peer's records".to_owned(), false)
            }
            WithdrawOutcome::Done { readvertised, restored: 0 } => {
                (format!("withdrawn from the index; {readvertised} other record(s) advertised again"), false)
            }
            WithdrawOutcome::Done { readvertised, restored } => (
                format!(
                    "withdrawn from the index; {readvertised} other record(s) advertised again ({restored} twice: the server dropped them late)"
                ),
                false,
            ),
            WithdrawOutcome::Incomplete(e) => {
                (format!("withdrawn, but advertising the rest again failed: {e}"), true)
            }
        };
        let text = match why {
            Withdrawal::Unshared => format!("RFC {list}: {what}"),
            Withdrawal::Removed => format!("RFC {list} left the folder: {what}"),
        };
        self.log_info(if error { LogKind::Error } else { LogKind::Info }, text.clone());
        match why {
            Withdrawal::Removed => self.messages.outcome(self.now, format!("{text}."), error),
            Withdrawal::Unshared => self.messages.follow_up(self.now, format!("{text}."), error),
        }
    }

    fn on_library(&mut self, local: Vec<LocalRfc>) {
        let new = self.local.replace(local);
        // A download's file is announced by its own message; a file that
        // appeared in the folder gets one here.
        let downloaded = |rfc: &RfcNumber| self.downloads.map.values().any(|d| d.rfc == *rfc);
        if !new.is_empty() && !new.iter().all(downloaded) {
            let list: Vec<String> = new.iter().map(|r| r.to_string()).collect();
            let text = format!("new in the folder: RFC {}", list.join(", "));
            self.log_info(LogKind::Info, text.clone());
            if self.auto_advertise {
                self.messages.progress(self.now, format!("{text}; advertising it…"));
            } else if !self.messages.in_progress() {
                self.messages.notify(self.now, format!("{text} (press a to advertise)"), false);
            }
        }
        self.relayout();
    }

    fn on_reply(&mut self, reply: Reply) -> Option<Command> {
        match reply {
            Reply::Advertised { cause, added, failed } => {
                let me = self.me_key();
                let mine: Vec<RfcNumber> =
                    added.iter().filter(|r| (r.host.as_str(), r.port) == me).map(|r| r.rfc).collect();
                self.local.in_index.extend(mine);
                let mut text = format!("Advertised {} RFC(s) to the index.", added.len());
                for (rfc, status) in &failed {
                    text.push_str(&format!(" ADD RFC {rfc} failed: {status}."));
                }
                self.log_info(if failed.is_empty() { LogKind::Info } else { LogKind::Error }, text.clone());
                // The engine also ADDs after each download and on reconnecting;
                // those are in the log, and only failures or answers to a
                // request of the user's become a message.
                let error = !failed.is_empty();
                if cause == AdvertiseCause::Asked {
                    self.messages.outcome(self.now, format!("{text} Done."), error);
                } else if error || self.messages.in_progress() {
                    self.messages.follow_up(self.now, format!("{text} Done."), error);
                }
                // Our records changed: the holders shown may have too.
                self.lookup.asked_at = None;
                if !self.is_leaving() && self.index.status != IndexStatus::Loading {
                    self.index.status = IndexStatus::Loading;
                    return Some(Command::List);
                }
            }
            Reply::Lookup { rfc, status, records } => {
                let me = (self.me.host.clone(), self.me.upload_port);
                self.lookup.on_answer(rfc, status, records, self.now, (&me.0, me.1));
            }
            Reply::List { status, records } => {
                let me = (self.me.host.clone(), self.me.upload_port);
                let asked = std::mem::take(&mut self.index.asked_by_user);
                match self.index.on_list(status, records, self.now, (&me.0, me.1)) {
                    Some(mine) => {
                        self.local.in_index = mine;
                        if asked {
                            let text = format!("Refreshed the Index: {} record(s).", self.index.total());
                            self.messages.outcome(self.now, text, false);
                        }
                    }
                    None if asked => {
                        let text = format!("Refreshing the Index failed: {status}.");
                        self.messages.outcome(self.now, text, true);
                    }
                    None => {}
                }
                self.relayout();
            }
        }
        None
    }

    /// An error about a pending request also ends it.
    fn on_error(&mut self, e: &PeerError) {
        let unreachable = matches!(
            e.reason,
            IndexError::NotConnected { .. }
                | IndexError::Connect { .. }
                | IndexError::ConnectTimeout { .. }
                | IndexError::Unresolvable { .. }
                | IndexError::Lost(_)
                | IndexError::Closed
        );
        if let Some(Request::Lookup(rfc)) = e.request {
            self.lookup.on_failed(rfc, e.reason.to_string(), self.now, unreachable);
        }
        if e.request == Some(Request::List) {
            self.index.asked_by_user = false;
        }
        if self.index.status == IndexStatus::Loading && e.request == Some(Request::List) {
            self.index.status = IndexStatus::Failed(e.reason.to_string());
            self.index.asked_at = Some(self.now);
        }
    }

    fn on_download(&mut self, id: DownloadId, event: DownloadEvent) {
        let now = self.now;
        match event {
            DownloadEvent::Queued { rfc, attempt } => {
                let d = self.downloads.entry(id, rfc, now);
                d.state = DownloadState::Queued;
                d.attempt = attempt;
                d.received = 0;
                d.total = None;
                d.asked = false;
                d.started = now;
            }
            DownloadEvent::Started { rfc, from } => {
                let d = self.downloads.entry(id, rfc, now);
                d.from = Some(from);
                d.received = 0;
                d.total = None;
                d.asked = false;
                d.started = now;
                d.state = DownloadState::Running;
            }
            DownloadEvent::Waiting { from, announced } => {
                if let Some(d) = self.downloads.map.get_mut(&id) {
                    d.from = Some(from);
                    d.asked = true;
                    d.total = announced;
                }
            }
            DownloadEvent::Cancelled { rfc } => {
                let d = self.downloads.entry(id, rfc, now);
                d.state = DownloadState::Cancelled;
                let text = format!("Cancelled the download of RFC {rfc}; nothing of it was kept.");
                self.log_info(LogKind::Info, text.clone());
                self.messages.outcome(now, text, false);
                self.downloads.prune();
            }
            DownloadEvent::Progress { received, total } => {
                if let Some(d) = self.downloads.map.get_mut(&id) {
                    d.received = received;
                    d.total = Some(total);
                    d.asked = true;
                }
            }
            DownloadEvent::HolderFailed { from, reason, retrying } => {
                let text = format!("download from {from} failed: {reason}");
                self.log_info(LogKind::Error, text.clone());
                if let Some(d) = self.downloads.map.get_mut(&id) {
                    if retrying {
                        d.state = DownloadState::Retrying { reason: shown(format!("{from}: {reason}")) };
                    }
                    let rfc = d.rfc;
                    let next = if retrying { "; trying the next holder" } else { "" };
                    self.messages.notify(now, format!("RFC {rfc}: {text}{next}"), true);
                }
            }
            DownloadEvent::Done { rfc, from, path, bytes, elapsed } => {
                let d = self.downloads.entry(id, rfc, now);
                d.from = Some(from.clone());
                d.received = bytes;
                d.total = Some(bytes);
                d.path = Some(path.clone());
                d.state = DownloadState::Done { bytes, elapsed };
                let text = format!(
                    "downloaded RFC {rfc} from {from}: {} in {}",
                    Size(bytes),
                    human::duration(elapsed)
                );
                self.log_info(LogKind::Info, format!("{text} → {}", path.display()));
                let empty =
                    if bytes == 0 { " It is empty (0 bytes): the holder shares an empty file." } else { "" };
                self.messages.outcome(
                    now,
                    format!("Downloaded RFC {rfc} from {from}; it is now shared too.{empty}"),
                    bytes == 0,
                );
                self.downloads.prune();
            }
            DownloadEvent::Failed { rfc, reason } => {
                let d = self.downloads.entry(id, rfc, now);
                if let DownloadError::AllFailed { last, .. } = &reason {
                    d.from = Some(last.clone());
                }
                d.hint = hint(&reason);
                d.state = DownloadState::Failed { reason: shown(reason.to_string()) };
                let text = format!("download of RFC {rfc} failed: {reason}");
                self.log_info(LogKind::Error, text.clone());
                self.messages.outcome(now, text, true);
                self.downloads.fold_failure(id);
            }
        }
    }
}

/// What the user can do about a failed download, when there is something.
fn hint(reason: &DownloadError) -> Option<String> {
    match reason {
        DownloadError::AllFailed { error, .. } => hint(error),
        DownloadError::TooLarge { announced, limit } => Some(format!(
            "The holder announced {}, above --max-download ({}); start the peer with a larger --max-download to take it.",
            Size(*announced),
            Size(*limit)
        )),
        DownloadError::NoHolder => Some("No other peer holds it now; R tries again.".to_owned()),
        DownloadError::Lookup(_) => {
            Some("The index server could not be asked; R tries again once it is back.".to_owned())
        }
        _ => None,
    }
}
