//! The state of the full-screen peer, and the functions that change it.
//!
//! The state is split by pane, each in its own module with the code that
//! updates it (engine events reach them through [`net`]): [`local`], [`index`], [`lookup`], [`downloads`], [`log`]
//! (the protocol log), [`messages`] (the status line), [`reader`] and
//! [`peers`]. [`App`] holds one of each plus what they share (who we are,
//! the connection, the mode, the clock), and routes to them:
//! [`App::on_key`] turns a key, through the [`keymap`](super::keymap), into
//! state changes and at most one [`Command`] for the engine; [`App::on_net`]
//! folds one [`NetEvent`] in. Both are plain synchronous functions with no
//! terminal, socket or clock behind them: the loop in [`super::run()`]
//! feeds them, and the tests drive them with key sequences and hand-made
//! events. Time enters only through [`App::on_tick`] (and the `at` of each
//! [`WireMessage`]), so what is drawn is a pure function of this state.
//!
//! The app never waits for an answer: sending a command only marks what is
//! pending (a LOOKUP, a LIST), and the answer arrives later as an event.

pub mod downloads;
pub mod index;
pub mod local;
pub mod log;
pub mod lookup;
pub mod messages;
mod net;
pub mod peers;
pub mod reader;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{Event, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use ratatui::widgets::ListState;
use tui_input::backend::crossterm::EventHandler;

use self::downloads::DownloadsPane;
use self::index::{IndexPane, IndexStatus};
use self::local::LocalPane;
use self::log::{LogKind, ProtocolLog};
use self::lookup::{LookupPane, LookupView};
use self::messages::Messages;
use self::peers::PeersView;
use self::reader::Reader;
use super::keymap::{self, Action};
use super::layout::{Areas, Content, Pane};
use crate::human::Size;
use crate::peer::{Command, Holder, IndexError, LocalRfc};

/// Rows a turn of the mouse wheel moves.
pub const WHEEL_STEP: isize = 3;
/// How often the Index and the Lookup refresh by default.
pub const REFRESH: Duration = Duration::from_secs(10);
/// Index records per refresh period: a LIST of N records is asked at most
/// once every `N / LIST_RECORDS_PER_PERIOD` periods, so a huge index is not
/// fetched again and again (a million records: every 50 periods).
pub const LIST_RECORDS_PER_PERIOD: usize = 20_000;

/// What keys mean right now: one value instead of a focus plus flags, so
/// that no two modes can be on at once. The [`keymap`](super::keymap) has
/// one table per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keys move in the focused pane and act on its selection.
    Browse(Pane),
    /// Keys go to the lookup box (the Lookup pane has the focus).
    Typing,
    /// Keys go to the Index's filter box (the Index has the focus).
    Filter,
    /// The help overlay; closing it returns to `back`.
    Help { back: Pane },
    /// The Peers view (who the index names); closing it returns to `back`.
    Peers { back: Pane },
    /// The selected download in full, over the Downloads pane.
    Detail,
    /// A local RFC, full screen; closing it returns to `back`.
    Reader { back: Pane },
    /// Typing a search in the reader.
    Search { back: Pane },
}

impl Mode {
    /// The pane that has the focus (under an overlay, the one it returns to).
    pub fn pane(self) -> Pane {
        match self {
            Mode::Browse(p)
            | Mode::Help { back: p }
            | Mode::Peers { back: p }
            | Mode::Reader { back: p }
            | Mode::Search { back: p } => p,
            Mode::Typing => Pane::Lookup,
            Mode::Filter => Pane::Index,
            Mode::Detail => Pane::Downloads,
        }
    }

    /// Whether `pane` has the focus and takes list keys.
    pub fn browsing(self, pane: Pane) -> bool {
        self == Mode::Browse(pane)
    }

    pub fn reading(self) -> bool {
        matches!(self, Mode::Reader { .. } | Mode::Search { .. })
    }
}

/// Who this peer is, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub host: String,
    pub upload_port: u16,
    pub server: String,
}

/// The index connection as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    /// `retry_at` is when the engine tries again (by the app's clock).
    Disconnected {
        reason: IndexError,
        retry_at: Option<SystemTime>,
    },
    /// `q` was pressed; waiting for the engine to close.
    Leaving,
    Closed,
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    pub me: Me,
    pub connection: Connection,
    pub mode: Mode,
    /// The screen's geometry, from the last resize.
    pub areas: Areas,
    /// The app's clock, set by [`App::on_tick`].
    pub now: SystemTime,
    pub local: LocalPane,
    pub index: IndexPane,
    pub lookup: LookupPane,
    pub downloads: DownloadsPane,
    pub log: ProtocolLog,
    pub messages: Messages,
    pub peers: PeersView,
    /// The RFC being read, while the reader is open.
    pub reader: Option<Reader>,
    /// Lines the help is scrolled down.
    pub help_scroll: usize,
    /// GETs this peer's upload server has answered.
    pub uploads_served: u64,
    /// How often the Index and the Lookup shown refresh on their own; `None`
    /// never (only `r` and this peer's own changes then refresh them).
    pub refresh: Option<Duration>,
    /// New files in the folder are ADDed by the engine on their own
    /// (`--auto-advertise`); only changes what the messages say.
    pub auto_advertise: bool,
}

impl App {
    pub fn new(me: Me, local: Vec<LocalRfc>, now: SystemTime) -> App {
        let local = LocalPane::new(local);
        let areas = Areas::new(Rect::new(0, 0, 80, 24), Content::default());
        App {
            me,
            connection: Connection::Connecting,
            mode: Mode::Browse(Pane::Index),
            areas,
            now,
            local,
            index: IndexPane::default(),
            lookup: LookupPane::default(),
            downloads: DownloadsPane::default(),
            log: ProtocolLog::default(),
            messages: Messages::default(),
            peers: PeersView::default(),
            reader: None,
            help_scroll: 0,
            uploads_served: 0,
            refresh: Some(REFRESH),
            auto_advertise: false,
        }
    }

    /// True once the engine has stopped: the loop may end.
    pub fn is_closed(&self) -> bool {
        self.connection == Connection::Closed
    }

    pub fn is_leaving(&self) -> bool {
        matches!(self.connection, Connection::Leaving | Connection::Closed)
    }

    /// This peer's host and upload port, as records name it.
    pub fn me_key(&self) -> (&str, u16) {
        (self.me.host.as_str(), self.me.upload_port)
    }

    /// While the index server is away, what the Index and the Lookup show
    /// may be out of date: "as of 12:04:31, server unreachable".
    pub fn stale(&self, answered_at: Option<SystemTime>) -> Option<String> {
        if !matches!(self.connection, Connection::Disconnected { .. }) {
            return None;
        }
        Some(match answered_at {
            Some(at) => format!("as of {}, server unreachable", hms(at)),
            None => "server unreachable".to_owned(),
        })
    }

    /// What the panes want of the width, for the layout.
    pub fn content(&self) -> Content {
        Content {
            local: self.local.wanted_width(),
            index: 2 + 2 + 6 + self.index.records.title_width() + 1 + self.index.records.host_width() + 6 + 6,
        }
    }

    /// Advances the clock. Returns true when the screen should be redrawn
    /// (a message expired, or a running download's rate moved).
    pub fn on_tick(&mut self, now: SystemTime) -> bool {
        self.now = now;
        // Rates and the reconnection countdown move with the clock.
        let changed = self.downloads.map.values().any(|d| d.is_active())
            || matches!(self.connection, Connection::Disconnected { .. });
        self.messages.on_tick(now) || changed
    }

    /// The refresh that is due, if any: a LOOKUP that failed for want of
    /// the server, as soon as it is back; else, by the clock, a LIST when
    /// the last answer is older than the refresh period (stretched for a
    /// big index), else a LOOKUP of the RFC the Lookup pane shows. One at a
    /// time; the loop asks again after the next event.
    pub fn due(&mut self) -> Option<Command> {
        if self.connection != Connection::Connected {
            return None;
        }
        if self.lookup.redo
            && let Some(rfc) = self.lookup.view.rfc()
        {
            self.lookup.redo = false;
            self.lookup.asked_at = Some(self.now);
            return Some(Command::Lookup(rfc));
        }
        let every = self.refresh?;
        let older = |at: Option<SystemTime>, d: Duration| {
            at.is_none_or(|at| self.now.duration_since(at).is_ok_and(|age| age >= d))
        };
        let periods = (self.index.total() / LIST_RECORDS_PER_PERIOD).max(1) as u32;
        if self.index.status != IndexStatus::Loading
            && older(self.index.asked_at, every.saturating_mul(periods))
        {
            self.index.status = IndexStatus::Loading;
            // Until the answer, count from now: a lost answer does not make
            // every tick ask again.
            self.index.asked_at = Some(self.now);
            return Some(Command::List);
        }
        if let LookupView::Found { rfc, .. } | LookupView::NotFound(rfc) = self.lookup.view
            && older(self.lookup.asked_at, every)
        {
            self.lookup.asked_at = Some(self.now);
            return Some(Command::Lookup(rfc));
        }
        None
    }

    /// Remembers the screen's geometry, for PgUp/PgDn and the mouse.
    pub fn on_resize(&mut self, width: u16, height: u16) {
        self.areas = Areas::new(Rect::new(0, 0, width, height), self.content());
        let page = self.log_page();
        self.log.scroll = self.log.scroll.min(self.log.max_scroll(page));
    }

    /// Lays the screen out again if what the panes hold changed their wants.
    fn relayout(&mut self) {
        let full = self.areas.full;
        self.areas = Areas::new(full, self.content());
    }

    fn log_page(&self) -> usize {
        self.areas.inner_height(Pane::Log)
    }

    /// Lines the reader shows at once.
    pub fn reader_page(&self) -> usize {
        usize::from(self.areas.body().height.saturating_sub(2)).max(1)
    }

    // ---- keys ----------------------------------------------------------

    /// Handles one key. Returns the command to send to the engine, if any.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        match keymap::action(self.mode, &key) {
            Some(action) => self.act(action, key),
            None => {
                if let Mode::Browse(_) = self.mode {
                    self.say_where_it_works(&key);
                }
                None
            }
        }
    }

    /// A key this pane does not take, that another does: say where.
    fn say_where_it_works(&mut self, key: &KeyEvent) {
        if let Some(text) = keymap::where_it_works(key) {
            self.messages.notify(self.now, text, false);
        }
    }

    /// Carries out what a key asked for.
    fn act(&mut self, action: Action, key: KeyEvent) -> Option<Command> {
        let pane = self.mode.pane();
        match action {
            Action::Quit => return self.leave(),
            Action::Help => {
                self.help_scroll = 0;
                self.mode = Mode::Help { back: pane };
            }
            Action::Peers => {
                self.peers.open(self.index.records.peers());
                self.mode = Mode::Peers { back: pane };
            }
            Action::NextPane => self.mode = Mode::Browse(pane.next()),
            Action::PrevPane => self.mode = Mode::Browse(pane.prev()),
            Action::Dismiss => self.messages.dismiss(),
            Action::Lookup => {
                self.mode = Mode::Typing;
                self.lookup.input.reset();
            }
            Action::LookupDigit => {
                self.mode = Mode::Typing;
                self.lookup.input.reset();
                self.lookup.input.handle_event(&Event::Key(key));
            }
            Action::Refresh => return self.refresh_now(),
            Action::Advertise => return self.advertise(),
            Action::Download => return self.download_selected(),
            Action::Unshare => return self.unshare_selected(),
            Action::Read => self.open_reader(),
            Action::Details => {
                if !self.downloads.is_empty() {
                    self.mode = Mode::Detail;
                }
            }
            Action::Cancel => return self.cancel_selected(),
            Action::Retry => return self.retry_selected(),
            Action::Filter => self.mode = Mode::Filter,
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-self.page()),
            Action::PageDown => self.move_selection(self.page()),
            Action::Home => self.move_selection(isize::MIN / 2),
            Action::End => self.move_selection(isize::MAX / 2),
            Action::PanLeft => self.log.pan(false),
            Action::PanRight => self.log.pan(true),
            Action::Close => {
                self.mode = match self.mode {
                    Mode::Detail => Mode::Browse(Pane::Downloads),
                    mode => Mode::Browse(mode.pane()),
                };
                self.reader = None;
            }
            Action::Submit => match self.mode {
                Mode::Typing => return self.submit_lookup(),
                Mode::Search { back } => {
                    let page = self.reader_page();
                    if let Some(r) = &mut self.reader {
                        r.search(page);
                        if r.matches.is_empty() && !r.query.is_empty() {
                            let text = format!("“{}” is not in RFC {}.", r.query, r.rfc);
                            self.messages.notify(self.now, text, false);
                        }
                    }
                    self.mode = Mode::Reader { back };
                }
                _ => self.mode = Mode::Browse(pane),
            },
            Action::LeaveBox => {
                match self.mode {
                    Mode::Filter => self.index.clear_filter(),
                    Mode::Search { back } => {
                        self.mode = Mode::Reader { back };
                        return None;
                    }
                    _ => {}
                }
                self.mode = Mode::Browse(pane);
            }
            Action::Edit => match self.mode {
                Mode::Typing => drop(self.lookup.input.handle_event(&Event::Key(key))),
                Mode::Filter => {
                    self.index.filter.handle_event(&Event::Key(key));
                    self.index.refilter();
                }
                Mode::Search { .. } => {
                    if let Some(r) = &mut self.reader {
                        r.input.handle_event(&Event::Key(key));
                    }
                }
                _ => {}
            },
            Action::ToHolders => {
                if !self.lookup.holders().is_empty() {
                    self.mode = Mode::Browse(Pane::Lookup);
                }
            }
            Action::Search => {
                if let (Mode::Reader { back }, Some(r)) = (self.mode, &mut self.reader) {
                    r.input.reset();
                    self.mode = Mode::Search { back };
                }
            }
            Action::NextMatch | Action::PrevMatch => {
                let page = self.reader_page();
                if let Some(r) = &mut self.reader {
                    r.next_match(action == Action::NextMatch, page);
                }
            }
        }
        None
    }

    /// Enter in the lookup box.
    fn submit_lookup(&mut self) -> Option<Command> {
        let text = self.lookup.input.value().trim().to_owned();
        if text.is_empty() {
            return None;
        }
        let rfc = self.lookup.submit(&text)?;
        self.mode = Mode::Browse(Pane::Lookup);
        self.messages.dismiss();
        self.lookup.asked_at = Some(self.now);
        Some(Command::Lookup(rfc))
    }

    /// `r`: LIST now, and the Lookup shown at the next chance.
    fn refresh_now(&mut self) -> Option<Command> {
        self.messages.dismiss();
        self.lookup.asked_at = None;
        // The LIST on its way answers this too; a second one would fetch
        // the whole index again (a million records: ~60 MB).
        if self.index.status == IndexStatus::Loading {
            self.messages.notify(self.now, "Already refreshing the index.".into(), false);
            return None;
        }
        self.index.status = IndexStatus::Loading;
        self.index.asked_by_user = true;
        Some(Command::List)
    }

    /// Enter or `v` in Local RFCs: the reader.
    fn open_reader(&mut self) {
        let Some(local) = self.local.selected() else {
            self.messages.notify(self.now, "No local RFC to read yet: download one first.".into(), false);
            return;
        };
        match Reader::open(local.rfc, &local.title, &local.path) {
            Ok(reader) => {
                if reader.cut > 0 {
                    let text = format!(
                        "Showing the first {} of RFC {} ({} more not shown).",
                        Size(reader::READ_CAP),
                        local.rfc,
                        Size(reader.cut)
                    );
                    self.messages.notify(self.now, text, false);
                }
                self.reader = Some(reader);
                self.mode = Mode::Reader { back: self.mode.pane() };
            }
            Err(e) => {
                let text = format!("Cannot read {}: {e}", local.path.display());
                self.messages.notify(self.now, text, true);
            }
        }
    }

    /// Handles the mouse: a click focuses the pane under it and selects the
    /// row clicked; the wheel scrolls the pane under the pointer.
    pub fn on_mouse(&mut self, mouse: MouseEvent) -> Option<Command> {
        if self.is_leaving() || self.areas.is_too_small() {
            return None;
        }
        if self.mode.reading() {
            match mouse.kind {
                MouseEventKind::ScrollUp => self.move_selection(-WHEEL_STEP),
                MouseEventKind::ScrollDown => self.move_selection(WHEEL_STEP),
                _ => {}
            }
            return None;
        }
        let pane = self.areas.pane_at(mouse.column, mouse.row)?;
        let overlay = !matches!(self.mode, Mode::Browse(_) | Mode::Typing | Mode::Filter);
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if overlay {
                    // A click outside the overlay closes it, as Esc would.
                    self.mode = Mode::Browse(self.mode.pane());
                    return None;
                }
                self.mode = Mode::Browse(pane);
                let area = self.areas.pane(pane);
                // Rows start below the top border (and the Index's header).
                let first = area.y + 1 + u16::from(pane == Pane::Index);
                if mouse.row < first {
                    return None;
                }
                let row = usize::from(mouse.row - first);
                match pane {
                    Pane::Local => {
                        let len = self.local.len();
                        select_at(&mut self.local.list, row, len)
                    }
                    Pane::Index => {
                        let at = self.index.table.offset() + row;
                        if at < self.index.len() {
                            self.index.table.select(Some(at));
                        }
                    }
                    Pane::Lookup => {
                        let list = self.areas.holders();
                        if mouse.row >= list.y {
                            let row = usize::from(mouse.row - list.y);
                            let len = self.lookup.holders().len();
                            select_at(&mut self.lookup.list, row, len);
                        } else if mouse.row == self.areas.input().y {
                            self.mode = Mode::Typing;
                        }
                    }
                    Pane::Downloads => {
                        let len = self.downloads.len();
                        select_at(&mut self.downloads.list, row, len)
                    }
                    Pane::Log => {}
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown if !overlay => {
                let delta = if mouse.kind == MouseEventKind::ScrollUp { -WHEEL_STEP } else { WHEEL_STEP };
                let keep = self.mode;
                self.mode = Mode::Browse(pane);
                self.move_selection(delta);
                self.mode = if matches!(keep, Mode::Typing | Mode::Filter) {
                    keep
                } else {
                    Mode::Browse(keep.pane())
                };
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                self.move_selection(if mouse.kind == MouseEventKind::ScrollUp {
                    -WHEEL_STEP
                } else {
                    WHEEL_STEP
                })
            }
            _ => {}
        }
        None
    }

    /// Starts leaving (`q`, Ctrl-C, a signal). Returns [`Command::Quit`]
    /// the first time only.
    pub fn leave(&mut self) -> Option<Command> {
        if self.is_leaving() {
            return None;
        }
        self.mode = Mode::Browse(self.mode.pane());
        self.reader = None;
        self.connection = Connection::Leaving;
        Some(Command::Quit)
    }

    /// `a`, or `--advertise` at start: ADD every local RFC.
    pub fn advertise(&mut self) -> Option<Command> {
        if self.local.is_empty() {
            self.messages.notify(
                self.now,
                "No local RFCs to advertise yet: download one first.".into(),
                false,
            );
            return None;
        }
        self.messages.progress(self.now, format!("Advertising {} RFC(s) to the index…", self.local.len()));
        Some(Command::Advertise)
    }

    /// `s` in Local RFCs: stop sharing the selected RFC.
    fn unshare_selected(&mut self) -> Option<Command> {
        let Some(local) = self.local.selected() else {
            self.messages.notify(self.now, "Nothing shared to stop sharing.".into(), false);
            return None;
        };
        let rfc = local.rfc;
        self.messages.progress(self.now, format!("Stopping sharing RFC {rfc}…"));
        Some(Command::Unshare(rfc))
    }

    /// `c` in Downloads: cancel the selected running download.
    fn cancel_selected(&mut self) -> Option<Command> {
        let Some((id, d)) = self.downloads.selected() else {
            self.messages.notify(self.now, "No download to cancel.".into(), false);
            return None;
        };
        if !d.is_active() {
            let text = format!("The download of RFC {} is not running; R retries a failed one.", d.rfc);
            self.messages.notify(self.now, text, false);
            return None;
        }
        self.messages.progress(self.now, format!("Cancelling the download of RFC {}…", d.rfc));
        Some(Command::CancelDownload(id))
    }

    /// `R` in Downloads: download a failed RFC again.
    fn retry_selected(&mut self) -> Option<Command> {
        let Some((id, d)) = self.downloads.selected() else {
            self.messages.notify(self.now, "No download to retry.".into(), false);
            return None;
        };
        if !d.can_retry() {
            let text = format!("The download of RFC {} has not failed: nothing to retry.", d.rfc);
            self.messages.notify(self.now, text, false);
            return None;
        }
        let rfc = d.rfc;
        if self.local.has(rfc) {
            self.messages.notify(self.now, format!("RFC {rfc} is already here (see Local RFCs)."), false);
            return None;
        }
        self.messages.progress(self.now, format!("Retrying the download of RFC {rfc}…"));
        Some(Command::RetryDownload(id))
    }

    /// The download that `d` or Enter means in the focused pane.
    fn download_selected(&mut self) -> Option<Command> {
        let pane = self.mode.pane();
        let record = match pane {
            Pane::Index => self.index.selected_record().map(|r| r.to_record()),
            Pane::Lookup => self.lookup.selected_holder().cloned(),
            Pane::Local | Pane::Downloads | Pane::Log => None,
        };
        let Some(record) = record else {
            if pane == Pane::Lookup {
                // Nothing found to download: Enter types a number instead.
                self.mode = Mode::Typing;
                return None;
            }
            let hint = match pane {
                Pane::Index if self.index.total() > 0 => {
                    "No record matches the filter: f changes it, Esc in it clears it."
                }
                Pane::Index => "Nothing to download here: press r to load the index.",
                _ => "Choose an RFC in the Index (d) or a holder in Lookup (Enter) to download.",
            };
            self.messages.notify(self.now, hint.into(), false);
            return None;
        };
        let rfc = record.rfc;
        if self.local.has(rfc) {
            self.messages.notify(self.now, format!("RFC {rfc} is already here (see Local RFCs)."), false);
            return None;
        }
        if (record.host.as_str(), record.port) == self.me_key() {
            self.messages.notify(self.now, format!("That record of RFC {rfc} is this peer itself."), false);
            return None;
        }
        if self.downloads.is_downloading(rfc) {
            self.messages.notify(self.now, format!("RFC {rfc} is already being downloaded."), false);
            return None;
        }
        let from = Holder::from(&record);
        self.messages.progress(self.now, format!("Downloading RFC {rfc} from {from}…"));
        Some(Command::Download { rfc, from: Some(from) })
    }

    /// Rows in a page of what has the focus.
    fn page(&self) -> isize {
        let rows = match self.mode {
            Mode::Help { .. } | Mode::Peers { .. } => usize::from(self.areas.full.height.saturating_sub(6)),
            Mode::Reader { .. } | Mode::Search { .. } => self.reader_page(),
            mode => {
                let pane = mode.pane();
                let header = usize::from(pane == Pane::Index);
                self.areas.inner_height(pane).saturating_sub(header)
            }
        };
        rows.max(1) as isize
    }

    /// Moves the focused pane's selection by `delta` rows (the log, the
    /// help and the reader scroll).
    fn move_selection(&mut self, delta: isize) {
        let step = |sel: Option<usize>, len: usize| -> Option<usize> {
            Some(sel.unwrap_or(0).saturating_add_signed(delta).min(len.saturating_sub(1)))
        };
        match self.mode {
            Mode::Peers { .. } => {
                let len = self.peers.rows.len();
                self.peers.list.select(step(self.peers.list.selected(), len));
                return;
            }
            Mode::Help { .. } => {
                // Drawing clamps it to the help's length.
                self.help_scroll = self.help_scroll.saturating_add_signed(delta).min(1000);
                return;
            }
            Mode::Reader { .. } | Mode::Search { .. } => {
                let page = self.reader_page();
                if let Some(r) = &mut self.reader {
                    r.scroll_by(delta, page);
                }
                return;
            }
            Mode::Detail => return,
            Mode::Browse(_) | Mode::Typing | Mode::Filter => {}
        }
        match self.mode.pane() {
            Pane::Local => {
                let len = self.local.len();
                self.local.list.select(step(self.local.list.selected(), len))
            }
            Pane::Index => self.index.table.select(step(self.index.table.selected(), self.index.len())),
            Pane::Lookup => {
                let len = self.lookup.holders().len();
                self.lookup.list.select(step(self.lookup.list.selected(), len));
            }
            Pane::Downloads => {
                let len = self.downloads.len();
                self.downloads.list.select(step(self.downloads.list.selected(), len));
            }
            Pane::Log => {
                let page = self.log_page();
                self.log.scroll_by(-delta, page);
            }
        }
    }

    fn log_info(&mut self, kind: LogKind, text: String) {
        let page = self.log_page();
        self.log.info(kind, self.now, text, page);
    }
}

/// Text that may hold bytes another party sent (a wire message, a notice or
/// an error quoting one), as the screen keeps it: every control character
/// written `\x1b` (PROTOCOL.md, Framing). Most text has none and is kept as
/// it is, without a copy.
pub(crate) fn shown(text: String) -> String {
    match crate::protocol::escape_line(text.as_bytes()) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(escaped) => escaped,
    }
}

/// Selects row `row` of the visible window, if there is such a row.
fn select_at(state: &mut ListState, row: usize, len: usize) {
    let at = state.offset() + row;
    if at < len {
        state.select(Some(at));
    }
}

/// `HH:MM:SS` of a time, in UTC (no time zone database needed, and the same
/// on every machine, which the tests rely on).
pub fn hms(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
pub(crate) mod tests;
