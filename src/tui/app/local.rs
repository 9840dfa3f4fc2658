//! The Local RFCs pane's state: what this peer shares, and which of it the
//! index has a record of.

use std::collections::HashSet;

use ratatui::widgets::ListState;

use crate::peer::LocalRfc;
use crate::protocol::RfcNumber;

#[derive(Debug)]
pub struct LocalPane {
    pub rfcs: Vec<LocalRfc>,
    pub list: ListState,
    /// Local RFCs the index holds a record of, for this peer (from the last
    /// LIST and the ADDs answered since); the rest are marked `○`.
    pub in_index: HashSet<RfcNumber>,
}

impl LocalPane {
    pub fn new(rfcs: Vec<LocalRfc>) -> LocalPane {
        LocalPane { rfcs, list: ListState::default().with_selected(Some(0)), in_index: HashSet::new() }
    }

    pub fn len(&self) -> usize {
        self.rfcs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rfcs.is_empty()
    }

    pub fn has(&self, rfc: RfcNumber) -> bool {
        self.rfcs.iter().any(|l| l.rfc == rfc)
    }

    pub fn selected(&self) -> Option<&LocalRfc> {
        self.rfcs.get(self.list.selected().unwrap_or(0))
    }

    /// The folder's new list; returns the RFCs that were not there before.
    pub fn replace(&mut self, rfcs: Vec<LocalRfc>) -> Vec<RfcNumber> {
        let new = rfcs.iter().filter(|l| !self.has(l.rfc)).map(|l| l.rfc).collect();
        self.rfcs = rfcs;
        let len = self.rfcs.len();
        self.list.select(Some(self.list.selected().unwrap_or(0).min(len.saturating_sub(1))));
        new
    }

    /// Columns the pane would like: its longest row, with the border.
    pub fn wanted_width(&self) -> usize {
        self.rfcs
            .iter()
            .map(|l| 2 + l.rfc.to_string().len().max(4) + 1 + l.title.chars().count())
            .max()
            .unwrap_or(0)
            + 2
    }
}
