//! The Peers view's state: who the index names, counted when it opens.

use ratatui::widgets::ListState;

use crate::tui::records::PeerSummary;

#[derive(Debug)]
pub struct PeersView {
    pub rows: Vec<PeerSummary>,
    pub list: ListState,
}

impl Default for PeersView {
    fn default() -> Self {
        PeersView { rows: Vec::new(), list: ListState::default().with_selected(Some(0)) }
    }
}

impl PeersView {
    pub fn open(&mut self, rows: Vec<PeerSummary>) {
        self.rows = rows;
        self.list.select(Some(0));
        *self.list.offset_mut() = 0;
    }
}
