//! Where every pane goes, for a given screen size.
//!
//! Both the app (PgUp/PgDn move a page; a click finds the pane and row under
//! the pointer) and the drawing need the geometry, so it lives here, and
//! neither of them imports the other for it.

use ratatui::layout::{Constraint, Layout, Margin, Position, Rect};

/// Smallest screen the layout is made for; below it, a notice is shown.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// The panes, in Tab order (the order on screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Local,
    Index,
    Lookup,
    Downloads,
    Log,
}

impl Pane {
    pub const ORDER: [Pane; 5] = [Pane::Local, Pane::Index, Pane::Lookup, Pane::Downloads, Pane::Log];

    fn position(self) -> usize {
        Pane::ORDER.iter().position(|p| *p == self).unwrap_or(0)
    }
    pub fn next(self) -> Pane {
        Pane::ORDER[(self.position() + 1) % Pane::ORDER.len()]
    }
    pub fn prev(self) -> Pane {
        Pane::ORDER[(self.position() + Pane::ORDER.len() - 1) % Pane::ORDER.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub full: Rect,
    pub local: Rect,
    pub index: Rect,
    pub lookup: Rect,
    pub downloads: Rect,
    pub log: Rect,
    pub status: Rect,
    pub hints: Rect,
}

impl Areas {
    pub fn new(full: Rect) -> Areas {
        // Every key a pane takes is listed: on a narrow screen, on two lines.
        let hint_lines = if full.width < 130 { 2 } else { 1 };
        let [body, status, hints] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(1), Constraint::Length(hint_lines)])
                .areas(full);
        let top_h = (body.height * 3 / 10).max(if body.height >= 20 { 8 } else { 5 });
        let mid_h = if body.height >= 30 { 9 } else { 6 };
        let [top, mid, log] =
            Layout::vertical([Constraint::Length(top_h), Constraint::Length(mid_h), Constraint::Fill(1)])
                .areas(body);
        // The left column holds numbers and short titles: about 44 columns is
        // enough, and the rest of a wide screen goes to the Index and Downloads.
        let left_w = (body.width * 35 / 100).clamp(26, 44);
        let split = Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]);
        let [local, index] = top.layout(&split);
        let [lookup, downloads] = mid.layout(&split);
        Areas { full, local, index, lookup, downloads, log, status, hints }
    }

    pub fn is_too_small(&self) -> bool {
        self.full.width < MIN_WIDTH || self.full.height < MIN_HEIGHT
    }

    pub fn pane(&self, pane: Pane) -> Rect {
        match pane {
            Pane::Local => self.local,
            Pane::Index => self.index,
            Pane::Lookup => self.lookup,
            Pane::Downloads => self.downloads,
            Pane::Log => self.log,
        }
    }

    /// The pane under a screen position, if any.
    pub fn pane_at(&self, x: u16, y: u16) -> Option<Pane> {
        Pane::ORDER.into_iter().find(|p| self.pane(*p).contains(Position::new(x, y)))
    }

    /// The lookup box's one line (inside the Lookup pane's border).
    pub fn input(&self) -> Rect {
        let inner = self.lookup.inner(Margin::new(1, 1));
        Rect { height: inner.height.min(1), ..inner }
    }

    /// The Lookup pane's holder list: below the box and the title line.
    pub fn holders(&self) -> Rect {
        let inner = self.lookup.inner(Margin::new(1, 1));
        Rect { y: inner.y + 2, height: inner.height.saturating_sub(2), ..inner }
    }

    /// Lines of text a pane shows inside its border.
    pub fn inner_height(&self, pane: Pane) -> usize {
        usize::from(self.pane(pane).height.saturating_sub(2)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_left_column_stays_narrow_on_wide_screens() {
        let a = Areas::new(Rect::new(0, 0, 200, 50));
        assert_eq!(a.local.width, 44);
        assert_eq!(a.index.width, 156);
        assert_eq!(a.pane_at(10, 2), Some(Pane::Local));
        assert_eq!(a.pane_at(100, 2), Some(Pane::Index));
        assert_eq!(a.pane_at(100, 49), None);
        let small = Areas::new(Rect::new(0, 0, 80, 24));
        assert_eq!(small.local.width, 28);
        assert!(!small.is_too_small());
        assert!(Areas::new(Rect::new(0, 0, 40, 10)).is_too_small());
    }

    #[test]
    fn tab_order_wraps() {
        assert_eq!(Pane::Log.next(), Pane::Local);
        assert_eq!(Pane::Local.prev(), Pane::Log);
        assert_eq!(Pane::Lookup.next(), Pane::Downloads);
    }
}
