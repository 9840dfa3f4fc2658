//! The Lookup pane's state: the box, what the last LOOKUP answered, and the
//! holder chosen.
//!
//! The holders are listed as the server names them, except this peer
//! itself, which goes last (it is never the one to download from), and the
//! selection stays on the holder it was on when a refresh answers: after a
//! download from hostB, the LOOKUP that follows names this peer too, and
//! the selection is still on hostB (issue 19, item 3).

use std::time::SystemTime;

use ratatui::widgets::ListState;
use tui_input::Input;

use crate::protocol::{Record, RfcNumber, Status};

/// What the Lookup pane shows under its input box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupView {
    Idle,
    /// The input is not an RFC number.
    Invalid(String),
    Pending(RfcNumber),
    Found {
        rfc: RfcNumber,
        holders: Vec<Record>,
    },
    NotFound(RfcNumber),
    Failed {
        rfc: RfcNumber,
        reason: String,
    },
}

impl LookupView {
    /// The RFC this view is about, if any.
    pub fn rfc(&self) -> Option<RfcNumber> {
        match self {
            LookupView::Pending(r) | LookupView::NotFound(r) => Some(*r),
            LookupView::Found { rfc, .. } | LookupView::Failed { rfc, .. } => Some(*rfc),
            LookupView::Idle | LookupView::Invalid(_) => None,
        }
    }
}

#[derive(Debug)]
pub struct LookupPane {
    pub input: Input,
    pub view: LookupView,
    pub list: ListState,
    /// When the LOOKUP shown was last asked or answered; `None` makes a
    /// refresh due now.
    pub asked_at: Option<SystemTime>,
    /// When the answer shown came: its age, when it may be stale.
    pub answered_at: Option<SystemTime>,
    /// Ask again as soon as the server can be reached (it failed for want
    /// of a connection), whatever the refresh period.
    pub redo: bool,
}

impl Default for LookupPane {
    fn default() -> Self {
        LookupPane {
            input: Input::default(),
            view: LookupView::Idle,
            list: ListState::default().with_selected(Some(0)),
            asked_at: None,
            answered_at: None,
            redo: false,
        }
    }
}

impl LookupPane {
    /// The holders listed (empty unless a LOOKUP found some).
    pub fn holders(&self) -> &[Record] {
        match &self.view {
            LookupView::Found { holders, .. } => holders,
            _ => &[],
        }
    }

    pub fn selected_holder(&self) -> Option<&Record> {
        self.holders().get(self.list.selected().unwrap_or(0))
    }

    /// Enter in the box with `text`: the LOOKUP to send, if it is a number.
    pub fn submit(&mut self, text: &str) -> Option<RfcNumber> {
        let Some(rfc) = RfcNumber::parse(text) else {
            self.view = LookupView::Invalid(text.to_owned());
            return None;
        };
        self.view = LookupView::Pending(rfc);
        self.list.select(Some(0));
        *self.list.offset_mut() = 0;
        self.redo = false;
        Some(rfc)
    }

    /// A LOOKUP answer. Only one about the RFC shown replaces the pane (the
    /// engine also looks up before each download). `me` is this peer's
    /// host and upload port.
    pub fn on_answer(
        &mut self,
        rfc: RfcNumber,
        status: Status,
        mut records: Vec<Record>,
        now: SystemTime,
        me: (&str, u16),
    ) {
        if self.view.rfc() != Some(rfc) || matches!(self.view, LookupView::Invalid(_)) {
            return;
        }
        let was = self.selected_holder().map(|r| (r.host.clone(), r.port));
        self.asked_at = Some(now);
        self.answered_at = Some(now);
        self.redo = false;
        // This peer last; the others in the server's order.
        records.sort_by_key(|r| (r.host.as_str(), r.port) == me);
        self.view = match status {
            Status::Ok if !records.is_empty() => LookupView::Found { rfc, holders: records },
            Status::Ok | Status::NotFound => LookupView::NotFound(rfc),
            s => LookupView::Failed { rfc, reason: s.to_string() },
        };
        let holders = self.holders();
        let at = was
            .and_then(|(host, port)| holders.iter().position(|r| r.host == host && r.port == port))
            .unwrap_or_else(|| self.list.selected().unwrap_or(0).min(holders.len().saturating_sub(1)));
        self.list.select(Some(at));
    }

    /// The LOOKUP of the RFC shown failed with `reason`. A pending one shows
    /// the failure; an answer already shown stays (marked stale while the
    /// server is away). `unreachable`: the failure was for want of a
    /// connection, so the LOOKUP is asked again on reconnecting.
    pub fn on_failed(&mut self, rfc: RfcNumber, reason: String, now: SystemTime, unreachable: bool) {
        if self.view.rfc() != Some(rfc) {
            return;
        }
        self.asked_at = Some(now);
        self.redo |= unreachable;
        if let LookupView::Pending(_) | LookupView::Failed { .. } = self.view {
            self.view = LookupView::Failed { rfc, reason };
        }
    }

    /// The server is back: a LOOKUP that failed for want of it is asked
    /// again at once, and says so meanwhile.
    pub fn on_reconnect(&mut self) {
        if let LookupView::Failed { rfc, .. } = self.view
            && self.redo
        {
            self.view = LookupView::Pending(rfc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::tests::{record, t0};

    #[test]
    fn me_goes_last_and_the_selection_stays_on_its_holder() {
        let mut pane = LookupPane::default();
        let rfc = pane.submit("8700").unwrap();
        let me = ("hostC", 22224);
        pane.on_answer(
            rfc,
            Status::Ok,
            vec![record(8700, "T", "hostA", 1), record(8700, "T", "hostB", 2)],
            t0(),
            me,
        );
        pane.list.select(Some(1));
        // After the download, the index names this peer too, first.
        let again = vec![
            record(8700, "T", "hostC", 22224),
            record(8700, "T", "hostA", 1),
            record(8700, "T", "hostB", 2),
        ];
        pane.on_answer(rfc, Status::Ok, again, t0(), me);
        let hosts: Vec<&str> = pane.holders().iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, ["hostA", "hostB", "hostC"]);
        assert_eq!(pane.selected_holder().map(|r| r.host.as_str()), Some("hostB"));
        // An answer about another RFC leaves the pane alone.
        pane.on_answer(RfcNumber(1), Status::NotFound, vec![], t0(), me);
        assert_eq!(pane.holders().len(), 3);
    }

    #[test]
    fn a_lookup_that_failed_unreachable_is_redone() {
        let mut pane = LookupPane::default();
        let rfc = pane.submit("8601").unwrap();
        pane.on_failed(rfc, "not connected".into(), t0(), true);
        assert!(matches!(pane.view, LookupView::Failed { .. }));
        assert!(pane.redo);
        pane.on_reconnect();
        assert_eq!(pane.view, LookupView::Pending(rfc));
        pane.on_answer(rfc, Status::NotFound, vec![], t0(), ("me", 1));
        assert!(!pane.redo);
        assert_eq!(pane.view, LookupView::NotFound(rfc));
        assert!(pane.submit("x1").is_none());
        assert_eq!(pane.view, LookupView::Invalid("x1".into()));
    }
}
