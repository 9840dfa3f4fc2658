//! One keymap: for each mode, which key does what, and what it is called.
//!
//! The key handler ([`action`]), the footers ([`bindings`]), the help
//! screen and the README's keys table ([`readme_table`], checked by a test)
//! are all read from the tables here, so a key cannot do one thing and be
//! described as another (issue 19, item 16). A [`Binding`] groups the keys
//! the footer names together (`↑↓/jk PgUp/PgDn Home/End move`), each with
//! its own [`Action`].

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Mode;
use super::layout::Pane;

/// What a key asks for. The app carries it out ([`super::app::App`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Peers,
    NextPane,
    PrevPane,
    Dismiss,
    /// Open the lookup box, empty.
    Lookup,
    /// A digit in the Lookup pane: open the box with it.
    LookupDigit,
    Refresh,
    Advertise,
    Download,
    Unshare,
    /// Open the selected local RFC in the reader.
    Read,
    Details,
    Cancel,
    Retry,
    Filter,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    PanLeft,
    PanRight,
    /// Close the overlay or the reader.
    Close,
    /// Enter in a box: look up, keep the filter, search.
    Submit,
    /// Esc in a box: leave it (the filter box: and clear the filter).
    LeaveBox,
    /// A key for the box's text (editing keys; letters and digits too).
    Edit,
    /// ↓ from the lookup box to its holders.
    ToHolders,
    /// `/` in the reader: type a search.
    Search,
    NextMatch,
    PrevMatch,
}

/// A key as the tables name it: its code, and whether Ctrl is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn c(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), ctrl: false }
}

const fn k(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const CTRL_C: Key = Key { code: KeyCode::Char('c'), ctrl: true };

/// Keys the footer names together, what each does, and how they are called.
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [(Key, Action)],
    /// How the footer and the help name the keys: `d/Enter`.
    pub shown: &'static str,
    /// The footer's word for it.
    pub label: &'static str,
    /// The help's (and the README's) line for it.
    pub help: &'static str,
}

impl Binding {
    /// Ctrl-C alone: it works in every mode, so the help and the README
    /// say it once, under "Every pane".
    pub fn is_ctrl_c(&self) -> bool {
        matches!(self.keys, [(CTRL_C, Action::Quit)])
    }
}

const fn b(
    keys: &'static [(Key, Action)],
    shown: &'static str,
    label: &'static str,
    help: &'static str,
) -> Binding {
    Binding { keys, shown, label, help }
}

use Action as A;
use KeyCode as K;

const MOVE_KEYS: &[(Key, Action)] = &[
    (k(K::Up), A::Up),
    (c('k'), A::Up),
    (k(K::Down), A::Down),
    (c('j'), A::Down),
    (k(K::PageUp), A::PageUp),
    (k(K::PageDown), A::PageDown),
    (k(K::Home), A::Home),
    (k(K::End), A::End),
];
const MOVE: Binding =
    b(MOVE_KEYS, "↑↓/jk PgUp/PgDn Home/End", "move", "move in the list, a page, the first or last row");
/// The move keys but Home and End (the last two), for text that scrolls:
/// `help` says what scrolls.
const fn scroll(help: &'static str) -> Binding {
    b(MOVE_KEYS.split_at(6).0, "↑↓/jk PgUp/PgDn", "scroll", help)
}
const QUIT: Binding = b(
    &[(c('q'), A::Quit), (CTRL_C, A::Quit)],
    "q/Ctrl-C",
    "quit",
    "leave: close the index connection, stop uploads (Ctrl-C works everywhere, in a box too)",
);
const CTRL_C_QUITS: Binding = b(&[(CTRL_C, A::Quit)], "Ctrl-C", "quit", "leave at once");
const TAB: Binding = b(
    &[(k(K::Tab), A::NextPane), (k(K::BackTab), A::PrevPane)],
    "Tab/S-Tab",
    "pane",
    "the next or previous pane (or click one)",
);
const EDIT: Binding = b(
    &[
        (k(K::Left), A::Edit),
        (k(K::Right), A::Edit),
        (k(K::Home), A::Edit),
        (k(K::End), A::Edit),
        (k(K::Backspace), A::Edit),
        (k(K::Delete), A::Edit),
    ],
    "←→ Home/End Bksp/Del",
    "edit",
    "edit the text typed",
);

/// The keys every pane takes, after its own.
const PANES: &[Binding] = &[
    b(&[(c('/'), A::Lookup)], "/", "lookup", "type an RFC number in the Lookup box"),
    b(&[(c('r'), A::Refresh)], "r", "refresh", "refresh the Index (LIST ALL) and the Lookup shown"),
    b(&[(c('a'), A::Advertise)], "a", "advertise", "advertise every local RFC (ADD)"),
    b(
        &[(c('p'), A::Peers)],
        "p",
        "peers",
        "the Peers view: every peer the index names, with its number of RFCs",
    ),
    TAB,
    b(&[(k(K::Esc), A::Dismiss)], "Esc", "dismiss", "dismiss the message"),
    b(&[(c('?'), A::Help)], "?", "help", "this help"),
    QUIT,
];

const LOCAL: &[Binding] = &[
    MOVE,
    b(&[(k(K::Enter), A::Read), (c('v'), A::Read)], "Enter/v", "read", "read the selected RFC, full screen"),
    b(
        &[(c('s'), A::Unshare)],
        "s",
        "stop sharing",
        "stop sharing it: the file moves to unshared/ in the folder",
    ),
];

const INDEX: &[Binding] = &[
    MOVE,
    b(
        &[(c('d'), A::Download), (k(K::Enter), A::Download)],
        "d/Enter",
        "download",
        "download the selected record's RFC from that holder",
    ),
    b(
        &[(c('f'), A::Filter)],
        "f",
        "filter",
        "show only records whose number, title or host hold the text typed",
    ),
];

const DIGITS: &[(Key, Action)] = &[
    (c('/'), A::Lookup),
    (c('0'), A::LookupDigit),
    (c('1'), A::LookupDigit),
    (c('2'), A::LookupDigit),
    (c('3'), A::LookupDigit),
    (c('4'), A::LookupDigit),
    (c('5'), A::LookupDigit),
    (c('6'), A::LookupDigit),
    (c('7'), A::LookupDigit),
    (c('8'), A::LookupDigit),
    (c('9'), A::LookupDigit),
];

const LOOKUP: &[Binding] = &[
    b(DIGITS, "/ 0-9", "new lookup", "type an RFC number; Enter sends the LOOKUP"),
    b(MOVE_KEYS, "↑↓/jk PgUp/PgDn Home/End", "holder", "choose a holder"),
    b(
        &[(c('d'), A::Download), (k(K::Enter), A::Download)],
        "d/Enter",
        "download",
        "download from the chosen holder",
    ),
];

const DOWNLOADS: &[Binding] = &[
    MOVE,
    b(&[(k(K::Enter), A::Details)], "Enter", "details", "the whole story of the selected download"),
    b(
        &[(c('c'), A::Cancel)],
        "c",
        "cancel",
        "cancel the selected running download (no partial file is left)",
    ),
    b(
        &[(c('R'), A::Retry)],
        "R",
        "retry",
        "retry the selected failed or cancelled download (the holder that failed is tried last)",
    ),
];

const LOG: &[Binding] = &[
    scroll("scroll the protocol log"),
    b(
        &[(k(K::Home), A::Home), (k(K::End), A::End)],
        "Home/End",
        "oldest/follow",
        "the oldest line; follow new lines again",
    ),
    b(
        &[(k(K::Left), A::PanLeft), (c('h'), A::PanLeft), (k(K::Right), A::PanRight), (c('l'), A::PanRight)],
        "←→/hl",
        "pan",
        "scroll long lines sideways",
    ),
];

const TYPING: &[Binding] = &[
    b(&[(k(K::Enter), A::Submit)], "Enter", "look up", "send the LOOKUP"),
    EDIT,
    b(&[(k(K::Down), A::ToHolders)], "↓", "holders", "to the holders found"),
    b(&[(k(K::Esc), A::LeaveBox)], "Esc", "stop typing", "leave the box (the text stays)"),
    TAB,
    CTRL_C_QUITS,
];

const FILTERING: &[Binding] = &[
    b(
        &[(k(K::Enter), A::Submit), (k(K::Down), A::Submit)],
        "Enter/↓",
        "keep",
        "keep the filter and move in the rows it shows",
    ),
    EDIT,
    b(&[(k(K::Esc), A::LeaveBox)], "Esc", "clear", "clear the filter"),
    CTRL_C_QUITS,
];

const HELP: &[Binding] = &[
    scroll("scroll the help"),
    b(
        &[(c('?'), A::Close), (k(K::Esc), A::Close), (c('q'), A::Close), (k(K::Enter), A::Close)],
        "?/Esc/q/Enter",
        "close help",
        "close the help",
    ),
    CTRL_C_QUITS,
];

const PEERS: &[Binding] = &[
    MOVE,
    b(
        &[(c('p'), A::Close), (k(K::Esc), A::Close), (c('q'), A::Close), (k(K::Enter), A::Close)],
        "p/Esc/q/Enter",
        "close",
        "close the Peers view",
    ),
    CTRL_C_QUITS,
];

const DETAIL: &[Binding] = &[
    b(
        &[(k(K::Esc), A::Close), (k(K::Enter), A::Close), (c('q'), A::Close)],
        "Esc/Enter/q",
        "close",
        "close the detail",
    ),
    b(&[(c('c'), A::Cancel)], "c", "cancel", "cancel the download, if it is running"),
    b(&[(c('R'), A::Retry)], "R", "retry", "retry the download, if it failed or was cancelled"),
    CTRL_C_QUITS,
];

const READER: &[Binding] = &[
    b(
        &[(k(K::Up), A::Up), (c('k'), A::Up), (k(K::Down), A::Down), (c('j'), A::Down)],
        "↑↓/jk",
        "scroll",
        "scroll a line",
    ),
    b(
        &[(k(K::PageUp), A::PageUp), (k(K::PageDown), A::PageDown), (c(' '), A::PageDown)],
        "PgUp/PgDn/Space",
        "page",
        "scroll a page",
    ),
    b(
        &[(k(K::Home), A::Home), (k(K::End), A::End)],
        "Home/End",
        "top/end",
        "the start or the end of the text",
    ),
    b(&[(c('/'), A::Search)], "/", "search", "search the text (ignoring case)"),
    b(
        &[(c('n'), A::NextMatch), (c('N'), A::PrevMatch)],
        "n/N",
        "next/previous",
        "the next or previous line found",
    ),
    b(&[(c('q'), A::Close), (k(K::Esc), A::Close)], "q/Esc", "back", "back to the panes"),
    CTRL_C_QUITS,
];

const SEARCHING: &[Binding] = &[
    b(&[(k(K::Enter), A::Submit)], "Enter", "find", "find the text typed"),
    EDIT,
    b(&[(k(K::Esc), A::LeaveBox)], "Esc", "cancel", "back to reading"),
    CTRL_C_QUITS,
];

/// A pane's own keys (before the keys every pane takes).
fn own(pane: Pane) -> &'static [Binding] {
    match pane {
        Pane::Local => LOCAL,
        Pane::Index => INDEX,
        Pane::Lookup => LOOKUP,
        Pane::Downloads => DOWNLOADS,
        Pane::Log => LOG,
    }
}

/// Every binding of `mode`, in the footer's order. In a pane, its own keys
/// come first; a common binding whose keys the pane already takes is left
/// out (Lookup's `/ 0-9` covers `/`).
pub fn bindings(mode: Mode) -> Vec<&'static Binding> {
    let table = match mode {
        Mode::Browse(pane) => {
            let own = own(pane);
            let taken = |key: &Key| own.iter().any(|b| b.keys.iter().any(|(k2, _)| k2 == key));
            let common = PANES.iter().filter(|b| !b.keys.iter().all(|(key, _)| taken(key)));
            return own.iter().chain(common).collect();
        }
        Mode::Typing => TYPING,
        Mode::Filter => FILTERING,
        Mode::Help { .. } => HELP,
        Mode::Peers { .. } => PEERS,
        Mode::Detail => DETAIL,
        Mode::Reader { .. } => READER,
        Mode::Search { .. } => SEARCHING,
    };
    table.iter().collect()
}

/// Whether the mode types into a box: keys the table does not name go to
/// the box as text.
pub fn types(mode: Mode) -> bool {
    matches!(mode, Mode::Typing | Mode::Filter | Mode::Search { .. })
}

fn key_of(event: &KeyEvent) -> Option<Key> {
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    if event.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    let code = match event.code {
        KeyCode::Char(ch) if ctrl => KeyCode::Char(ch.to_ascii_lowercase()),
        code => code,
    };
    Some(Key { code, ctrl })
}

/// What `event` does in `mode`, by the tables. In a box, a key the table
/// does not name (a letter, a digit) is [`Action::Edit`] unless Ctrl is held.
pub fn action(mode: Mode, event: &KeyEvent) -> Option<Action> {
    let key = key_of(event)?;
    let found = bindings(mode).into_iter().flat_map(|b| b.keys).find(|(k2, _)| *k2 == key).map(|(_, a)| *a);
    match found {
        None if types(mode) && !key.ctrl => Some(Action::Edit),
        found => found,
    }
}

/// Where `event` does something when the pane focused does not take it:
/// "s works in Local RFCs (stop sharing)." `None` if no pane takes it.
pub fn where_it_works(event: &KeyEvent) -> Option<String> {
    let key = key_of(event)?;
    let found: Vec<(Pane, &'static Binding)> = Pane::ORDER
        .into_iter()
        .filter_map(|pane| {
            own(pane).iter().find(|b| b.keys.iter().any(|(k2, _)| *k2 == key)).map(|b| (pane, b))
        })
        .collect();
    let (_, first) = found.first()?;
    let name = match key.code {
        KeyCode::Char(ch) => ch.to_string(),
        KeyCode::Enter => "Enter".to_owned(),
        KeyCode::Left => "←".to_owned(),
        KeyCode::Right => "→".to_owned(),
        code => format!("{code:?}"),
    };
    let places: Vec<String> = if found.iter().all(|(_, b)| b.label == first.label) {
        let panes: Vec<&str> = found.iter().map(|(p, _)| p.title()).collect();
        vec![format!("{} ({})", panes.join(" and "), first.label)]
    } else {
        found.iter().map(|(p, b)| format!("{} ({})", p.title(), b.label)).collect()
    };
    Some(format!("{name} works in {}.", places.join(", ")))
}

/// Where a table applies, as the help and the README call it, and the table.
pub fn scopes() -> Vec<(&'static str, Vec<&'static Binding>)> {
    let mut out = vec![("Every pane", PANES.iter().collect())];
    for pane in Pane::ORDER {
        out.push((pane.title(), own(pane).iter().collect()));
    }
    let more: [(&str, &[Binding]); 8] = [
        ("The lookup box", TYPING),
        ("The Index filter", FILTERING),
        ("The reader", READER),
        ("The reader's search", SEARCHING),
        ("Download detail", DETAIL),
        ("Peers view", PEERS),
        ("Help", HELP),
        ("", &[]),
    ];
    out.extend(more.into_iter().filter(|(s, _)| !s.is_empty()).map(|(s, t)| (s, t.iter().collect())));
    out
}

/// The README's keys table, as Markdown.
pub fn readme_table() -> String {
    let mut out = String::from("| Where | Keys | What |\n|---|---|---|\n");
    for (scope, table) in scopes() {
        for (i, b) in table.iter().filter(|b| !b.is_ctrl_c()).enumerate() {
            let scope = if i == 0 { scope } else { "" };
            let keys = b.shown.replace('|', "\\|");
            out.push_str(&format!("| {scope} | `{keys}` | {} |\n", b.help));
        }
    }
    out
}

/// One of each mode (every pane), for tests that go through them all.
#[cfg(test)]
pub(crate) fn every_mode() -> Vec<Mode> {
    let mut modes: Vec<Mode> = Pane::ORDER.map(Mode::Browse).into();
    modes.extend([
        Mode::Typing,
        Mode::Filter,
        Mode::Detail,
        Mode::Help { back: Pane::Index },
        Mode::Peers { back: Pane::Index },
        Mode::Reader { back: Pane::Local },
        Mode::Search { back: Pane::Local },
    ]);
    modes
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_START: &str =
        "<!-- keys table: generated from src/tui/keymap.rs, checked by its tests -->\n";
    const README_END: &str = "<!-- end of keys table -->";

    /// The README's keys table is the keymap's. `P2PCI_WRITE_README=1`
    /// writes it there instead of failing.
    #[test]
    fn the_readme_keys_table_is_the_keymap() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let start = readme.find(README_START).expect("the README marks its keys table") + README_START.len();
        let end = start + readme[start..].find(README_END).expect("the keys table's end mark");
        let want = readme_table();
        if readme[start..end] != want && std::env::var_os("P2PCI_WRITE_README").is_some() {
            std::fs::write(path, format!("{}{want}{}", &readme[..start], &readme[end..])).unwrap();
            return;
        }
        assert_eq!(
            readme[start..end],
            want,
            "README.md's keys table differs from the keymap; P2PCI_WRITE_README=1 cargo test --lib readme rewrites it"
        );
    }

    #[test]
    fn no_key_means_two_things_in_one_mode() {
        for mode in every_mode() {
            let keys: Vec<Key> = bindings(mode).iter().flat_map(|b| b.keys.iter().map(|(k, _)| *k)).collect();
            for (i, key) in keys.iter().enumerate() {
                assert!(!keys[..i].contains(key), "{mode:?}: {key:?} twice");
            }
        }
    }

    #[test]
    fn the_scroll_keys_are_the_move_keys_but_home_and_end() {
        let ends = [(k(K::Home), A::Home), (k(K::End), A::End)];
        let scroll = scroll("").keys;
        assert_eq!([scroll, &ends[..]].concat(), MOVE_KEYS);
    }

    #[test]
    fn keys_are_found_and_placed() {
        let ev = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert_eq!(action(Mode::Browse(Pane::Local), &ev(KeyCode::Char('s'))), Some(Action::Unshare));
        assert_eq!(action(Mode::Browse(Pane::Index), &ev(KeyCode::Char('s'))), None);
        assert_eq!(action(Mode::Typing, &ev(KeyCode::Char('q'))), Some(Action::Edit));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(Mode::Typing, &ctrl_c), Some(Action::Quit));
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(action(Mode::Browse(Pane::Downloads), &shift_r), Some(Action::Retry));
        assert_eq!(
            where_it_works(&ev(KeyCode::Char('d'))).unwrap(),
            "d works in Index and Lookup (download)."
        );
        assert_eq!(
            where_it_works(&ev(KeyCode::Enter)).unwrap(),
            "Enter works in Local RFCs (read), Index (download), Lookup (download), Downloads (details)."
        );
        assert!(where_it_works(&ev(KeyCode::Char('z'))).is_none());
    }
}
