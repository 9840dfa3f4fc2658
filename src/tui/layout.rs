//! Where every pane goes, for a given screen size.
//!
//! Both the app (PgUp/PgDn move a page; a click finds the pane and row under
//! the pointer) and the drawing need the geometry, so it lives here, and
//! neither of them imports the other for it.

use ratatui::layout::{Constraint, Layout, Margin, Position, Rect};

/// Smallest screen the layout is made for; below it, a notice is shown.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// Rows the protocol log keeps on a short screen (two lines of text).
const LOG_MIN: u16 = 4;
/// Narrowest the Local RFCs pane gets, and the share of the width it may
/// take at most.
const LOCAL_MIN: u16 = 26;
const LOCAL_MAX_PERCENT: u16 = 45;

/// The width of Local RFCs: what it wants when both panes' wants fit, and
/// otherwise a share in proportion to the wants (the Index gets the rest),
/// within bounds. With nothing known yet, 35 % (26 to 44 columns).
fn top_split(width: u16, content: Content) -> u16 {
    let max = (width * LOCAL_MAX_PERCENT / 100).max(LOCAL_MIN);
    if content.local == 0 || content.index == 0 {
        return (width * 35 / 100).clamp(LOCAL_MIN, 44).min(max);
    }
    let (l, i) = (content.local as u32, content.index as u32);
    let w = u32::from(width);
    let local = if l + i <= w {
        // Both fit: the spare columns go in proportion too, so neither pane
        // ends in a wide blank.
        l + (w - l - i) * l / (l + i)
    } else {
        // Not both: the Index, the pane most used, keeps at least 65 %.
        (w * l / (l + i)).min(w * 35 / 100)
    };
    (local.min(u32::from(max)) as u16).max(LOCAL_MIN)
}

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

    /// The pane's name, as its title, the help and the hints say it.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Local => "Local RFCs",
            Pane::Index => "Index",
            Pane::Lookup => "Lookup",
            Pane::Downloads => "Downloads",
            Pane::Log => "Protocol log",
        }
    }
}

/// What the top panes would like of the width, in columns (their longest
/// row, borders included): the width is shared by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Content {
    pub local: usize,
    pub index: usize,
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
    pub fn new(full: Rect, content: Content) -> Areas {
        // Every key a pane takes is listed: on a narrow screen, on two
        // lines. The hints and the status line always stay (the hints end
        // with `? help  q quit`, whatever else had to go).
        let hint_lines = if full.width < 130 { 2 } else { 1 };
        let [body, status, hints] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(1), Constraint::Length(hint_lines)])
                .areas(full);
        // The log keeps two lines at least; the top and middle rows give
        // way on a short screen.
        let room = body.height.saturating_sub(LOG_MIN);
        let mid_h = if body.height >= 30 {
            9
        } else if room >= 11 {
            6
        } else {
            5
        };
        let top_h = (body.height * 3 / 10)
            .max(if body.height >= 20 { 8 } else { 5 })
            .min(room.saturating_sub(mid_h))
            .max(3);
        let [top, mid, log] =
            Layout::vertical([Constraint::Length(top_h), Constraint::Length(mid_h), Constraint::Fill(1)])
                .areas(body);
        let [local, index] = top.layout(&Layout::horizontal([
            Constraint::Length(top_split(top.width, content)),
            Constraint::Fill(1),
        ]));
        // The middle row: the lookup box and its holders are short; the
        // rest goes to the Downloads.
        let left_w = (body.width * 35 / 100).clamp(26, 44);
        let [lookup, downloads] =
            mid.layout(&Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]));
        Areas { full, local, index, lookup, downloads, log, status, hints }
    }

    /// Everything above the status line: where the reader goes.
    pub fn body(&self) -> Rect {
        Rect { height: self.status.y.saturating_sub(self.full.y), ..self.full }
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
        let a = Areas::new(Rect::new(0, 0, 200, 50), Content::default());
        assert_eq!(a.local.width, 44);
        assert_eq!(a.index.width, 156);
        assert_eq!(a.pane_at(10, 2), Some(Pane::Local));
        assert_eq!(a.pane_at(100, 2), Some(Pane::Index));
        assert_eq!(a.pane_at(100, 49), None);
        let small = Areas::new(Rect::new(0, 0, 80, 24), Content::default());
        assert_eq!(small.local.width, 28);
        assert!(!small.is_too_small());
        assert!(Areas::new(Rect::new(0, 0, 40, 10), Content::default()).is_too_small());
    }

    /// Issue 19, item 14: at 200×50, long local titles and a short index
    /// share the width by what they hold; at 60×16 the log keeps rows and
    /// the footer stays.
    #[test]
    fn the_width_is_shared_by_content_and_small_screens_keep_everything() {
        let content = Content { local: 70, index: 60 };
        let a = Areas::new(Rect::new(0, 0, 200, 50), content);
        assert_eq!(a.local.width, 90, "the local titles get their room");
        assert_eq!(a.local.width + a.index.width, 200);
        let narrow_index = Content { local: 200, index: 60 };
        assert_eq!(
            Areas::new(Rect::new(0, 0, 200, 50), narrow_index).local.width,
            70,
            "35 % when both cannot fit"
        );
        let long_index = Content { local: 30, index: 300 };
        assert_eq!(Areas::new(Rect::new(0, 0, 200, 50), long_index).local.width, 26, "at least 26");
        let small = Areas::new(Rect::new(0, 0, 60, 16), content);
        assert!(small.inner_height(Pane::Log) >= 2, "{small:?}");
        assert_eq!(small.hints.height, 2);
        assert_eq!(small.hints.bottom(), 16);
        assert_eq!(small.status.y, 13);
        assert!(small.log.bottom() <= small.status.y);
    }

    #[test]
    fn tab_order_wraps() {
        assert_eq!(Pane::Log.next(), Pane::Local);
        assert_eq!(Pane::Local.prev(), Pane::Log);
        assert_eq!(Pane::Lookup.next(), Pane::Downloads);
    }
}
