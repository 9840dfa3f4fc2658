//! The Index pane's state: the last LIST, where it stands, and the filter.
//!
//! The selection is a position in what is shown: all records, or those the
//! filter (`f`) matches: a case-insensitive substring of the number, the
//! title or the host ([`IndexRecords::matching`]). A million records take
//! 13-105 ms a key in a release build (`examples/tui_scale`; the first key
//! 275 ms, with the lowercase copy of the titles), 3,000 take microseconds.

use std::collections::HashSet;
use std::time::SystemTime;

use ratatui::widgets::TableState;
use tui_input::Input;

use crate::protocol::{Record, RfcNumber, Status};
use crate::tui::records::{IndexRecords, RecordRef};

/// Where the Index pane's table stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStatus {
    /// No LIST answered yet.
    NotLoaded,
    /// A LIST is on its way (the old rows stay on screen meanwhile).
    Loading,
    Loaded,
    Failed(String),
}

#[derive(Debug)]
pub struct IndexPane {
    pub records: IndexRecords,
    pub status: IndexStatus,
    /// The selection (a position in the rows shown) and the first visible
    /// row. Drawing keeps the selection in view through `&mut`, as ratatui's
    /// stateful widgets do.
    pub table: TableState,
    /// When the last LIST was asked or answered: the refresh counts from it.
    pub asked_at: Option<SystemTime>,
    /// When the rows shown were answered: their age, when they may be stale.
    pub answered_at: Option<SystemTime>,
    /// The LIST on its way was asked with `r`: its answer gets a message.
    pub asked_by_user: bool,
    /// The filter as typed.
    pub filter: Input,
    /// The rows the filter matches; `None` when there is no filter.
    view: Option<Vec<u32>>,
}

impl Default for IndexPane {
    fn default() -> Self {
        IndexPane {
            records: IndexRecords::default(),
            status: IndexStatus::NotLoaded,
            table: TableState::default().with_selected(Some(0)),
            asked_at: None,
            answered_at: None,
            asked_by_user: false,
            filter: Input::default(),
            view: None,
        }
    }
}

impl IndexPane {
    /// Rows shown (all records, or those the filter matches).
    pub fn len(&self) -> usize {
        self.view.as_ref().map_or(self.records.len(), Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the last LIST named.
    pub fn total(&self) -> usize {
        self.records.len()
    }

    /// Row `i` of those shown.
    pub fn get(&self, i: usize) -> Option<RecordRef<'_>> {
        match &self.view {
            None => self.records.get(i),
            Some(view) => self.records.get(*view.get(i)? as usize),
        }
    }

    /// Rows `start..start + len` of those shown, clipped to what there is.
    pub fn window(&self, start: usize, len: usize) -> impl Iterator<Item = RecordRef<'_>> {
        let end = start.saturating_add(len).min(self.len());
        (start.min(end)..end).filter_map(|i| self.get(i))
    }

    pub fn selected(&self) -> usize {
        self.table.selected().unwrap_or(0)
    }

    pub fn selected_record(&self) -> Option<RecordRef<'_>> {
        self.get(self.selected())
    }

    /// The filter's text, trimmed; empty when there is none.
    pub fn filter_text(&self) -> &str {
        self.filter.value().trim()
    }

    /// Applies the filter as typed. The selection stays on its record
    /// when that is still shown, else on the next one shown: rows are in
    /// table order in either view, so this is a binary search, not a scan.
    pub fn refilter(&mut self) {
        let raw = self.raw(self.selected());
        let needle = self.filter_text();
        self.view = (!needle.is_empty()).then(|| self.records.matching(needle));
        let at = match (&self.view, raw) {
            (Some(view), Some(raw)) => view.binary_search(&raw).unwrap_or_else(|at| at),
            (None, Some(raw)) => raw as usize,
            (_, None) => 0,
        };
        self.table.select(Some(at.min(self.len().saturating_sub(1))));
    }

    /// The table row that row `i` shown is.
    fn raw(&self, i: usize) -> Option<u32> {
        match &self.view {
            None => (i < self.records.len()).then_some(i as u32),
            Some(view) => view.get(i).copied(),
        }
    }

    pub fn clear_filter(&mut self) {
        self.filter.reset();
        self.refilter();
    }

    fn selected_key(&self) -> Option<(RfcNumber, String, u16)> {
        self.selected_record().map(|r| (r.rfc, r.host.to_owned(), r.port))
    }

    /// Puts the selection back on the record `key`, or keeps it in range.
    fn reselect(&mut self, key: Option<(RfcNumber, String, u16)>) {
        if let Some((rfc, host, port)) = key
            && let Some(at) = (0..self.len())
                .find(|&i| self.get(i).is_some_and(|r| r.rfc == rfc && r.host == host && r.port == port))
        {
            self.table.select(Some(at));
        }
        let len = self.len();
        self.table.select(Some(self.selected().min(len.saturating_sub(1))));
    }

    /// A LIST answer. Returns this peer's RFCs in it (`me` is host and
    /// upload port), or `None` if the server refused.
    pub fn on_list(
        &mut self,
        status: Status,
        records: Vec<Record>,
        now: SystemTime,
        me: (&str, u16),
    ) -> Option<HashSet<RfcNumber>> {
        self.asked_at = Some(now);
        if status != Status::Ok {
            self.status = IndexStatus::Failed(format!("the server answered {status}"));
            return None;
        }
        // The selection stays on the same record when rows move (new
        // records arrive at the top).
        let keep = self.selected_key();
        // The old table goes first, so two never coexist.
        self.records = IndexRecords::default();
        self.records = IndexRecords::from_records(records);
        self.answered_at = Some(now);
        self.status = IndexStatus::Loaded;
        if self.view.is_some() {
            self.view = None;
            self.refilter();
        }
        self.reselect(keep);
        Some(
            (0..self.records.len())
                .filter_map(|i| self.records.get(i))
                .filter(|r| (r.host, r.port) == me)
                .map(|r| r.rfc)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::tests::{record, t0};

    #[test]
    fn the_filter_matches_number_title_or_host_and_keeps_the_selection() {
        let mut pane = IndexPane::default();
        let records = vec![
            record(4301, "Security Architecture for IPsec", "hostB", 5000),
            record(8700, "Fifty Years of RFCs", "hostC", 5001),
            record(7296, "IKEv2 for ipsec", "hostD", 5002),
            record(1234, "Other", "ipsec-gw", 5003),
        ];
        pane.on_list(Status::Ok, records, t0(), ("me", 1));
        pane.table.select(Some(2));
        pane.filter = "IPSEC".into();
        pane.refilter();
        assert_eq!(pane.len(), 3);
        assert_eq!(pane.total(), 4);
        assert_eq!(pane.selected_record().map(|r| r.rfc.0), Some(7296), "still on its record");
        pane.filter = "870".into();
        pane.refilter();
        assert_eq!(pane.window(0, 9).map(|r| r.rfc.0).collect::<Vec<_>>(), [8700]);
        assert_eq!(pane.selected(), 0);
        pane.filter = "nothing".into();
        pane.refilter();
        assert!(pane.is_empty());
        assert_eq!(pane.selected_record(), None);
        pane.clear_filter();
        assert_eq!(pane.len(), 4);
    }

    #[test]
    fn a_new_list_is_filtered_too() {
        let mut pane = IndexPane { filter: "b".into(), ..Default::default() };
        pane.refilter();
        let records = vec![record(1, "a", "hostB", 1), record(2, "a", "hostC", 1)];
        pane.on_list(Status::Ok, records, t0(), ("me", 1));
        assert_eq!(pane.len(), 1);
    }
}
