//! The state of the full-screen peer, and the functions that change it.
//!
//! The state is split by pane, each in its own module with the code that
//! updates it: [`local`], [`index`], [`lookup`], [`downloads`], [`log`]
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
pub mod peers;
pub mod reader;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{Event, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use ratatui::widgets::ListState;
use tui_input::backend::crossterm::EventHandler;

use self::downloads::{DownloadState, DownloadsPane};
use self::index::{IndexPane, IndexStatus};
use self::local::LocalPane;
use self::log::{LogKind, ProtocolLog};
use self::lookup::{LookupPane, LookupView};
use self::messages::Messages;
use self::peers::PeersView;
use self::reader::Reader;
use super::keymap::{self, Action};
use super::layout::{Areas, Content, Pane};
use crate::human::{self, Size};
use crate::peer::{
    AdvertiseCause, Command, DownloadError, DownloadEvent, DownloadId, Holder, IndexError, LocalRfc,
    NetEvent, PeerError, Reply, Request, WithdrawOutcome, Withdrawal,
};
use crate::protocol::{RfcNumber, Status};

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
        if let Some((panes, binding)) = keymap::where_it_works(key) {
            let names: Vec<&str> = panes.iter().map(|p| p.title()).collect();
            let text = format!("{} works in {} ({}).", binding.shown, names.join(" and "), binding.label);
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

    // ---- network events --------------------------------------------------

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
                if let Some(mine) = self.index.on_list(status, records, self.now, (&me.0, me.1)) {
                    self.local.in_index = mine;
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

    fn log_info(&mut self, kind: LogKind, text: String) {
        let page = self.log_page();
        self.log.info(kind, self.now, text, page);
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
pub(crate) mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use std::collections::HashSet;

    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::peer::{Direction, DownloadError, Link, WireMessage};
    use crate::protocol::Record;
    use crate::tui::app::downloads::FINISHED_CAP;
    use crate::tui::app::log::{HSCROLL_STEP, LOG_LINES_PER_MESSAGE};
    use crate::tui::app::messages::TOAST_FOR;

    /// 2024-05-06 12:00:00 UTC.
    pub fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_996_800)
    }

    pub fn me() -> Me {
        Me { host: "hostA".into(), upload_port: 2222, server: "127.0.0.1:7734".into() }
    }

    pub fn local(rfc: u32, title: &str) -> LocalRfc {
        LocalRfc {
            rfc: RfcNumber(rfc),
            title: title.into(),
            path: PathBuf::from(format!("hostA/rfc{rfc}.txt")),
            size: 1000,
        }
    }

    pub fn record(rfc: u32, title: &str, host: &str, port: u16) -> Record {
        Record { rfc: RfcNumber(rfc), title: title.into(), host: host.into(), port }
    }

    pub fn app() -> App {
        App::new(
            me(),
            vec![
                local(8600, "Using Conditional Router Advertisements for Enabling DNS"),
                local(8601, "Policy and Requirements for the Name Server"),
            ],
            t0(),
        )
    }

    pub fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    pub fn press(app: &mut App, keys: &str) -> Vec<Command> {
        keys.chars().filter_map(|c| app.on_key(key(KeyCode::Char(c)))).collect()
    }

    pub fn wire(direction: Direction, link: Link, text: &str) -> NetEvent {
        // The request, as the engine names it for the index connection.
        let request = match text.split(' ').collect::<Vec<_>>()[..] {
            ["LIST", ..] => Some(Request::List),
            ["LOOKUP", "RFC", n, ..] => RfcNumber::parse(n).map(Request::Lookup),
            _ => None,
        };
        let request = if link == Link::Server { request } else { None };
        NetEvent::Wire(WireMessage { at: t0(), direction, link, request, text: text.into() })
    }

    #[test]
    fn tab_cycles_focus_both_ways() {
        let mut app = app();
        assert_eq!(app.mode, Mode::Browse(Pane::Index));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.mode, Mode::Browse(Pane::Downloads));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.mode, Mode::Browse(Pane::Log));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.mode, Mode::Browse(Pane::Local));
        app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
        assert_eq!(app.mode, Mode::Browse(Pane::Log));
    }

    fn mouse(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
        MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE }
    }

    #[test]
    fn a_click_focuses_a_pane_and_selects_a_row_and_the_wheel_scrolls() {
        let mut app = app();
        app.on_resize(80, 24);
        let records: Vec<_> = (0..40).map(|n| record(9000 + n, "T", "hostB", 5000)).collect();
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        // Local's second row: below the border, one down.
        let local = app.areas.local;
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), local.x + 3, local.y + 2));
        assert_eq!(app.mode, Mode::Browse(Pane::Local));
        assert_eq!(app.local.list.selected(), Some(1));
        // The Index's third row, under its header.
        let index = app.areas.index;
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), index.x + 5, index.y + 4));
        assert_eq!(app.mode, Mode::Browse(Pane::Index));
        assert_eq!(app.index.selected(), 2);
        // The wheel over the Index moves it, and leaves the focus alone.
        app.mode = Mode::Browse(Pane::Log);
        app.on_mouse(mouse(MouseEventKind::ScrollDown, index.x + 5, index.y + 4));
        assert_eq!(app.index.selected(), 2 + WHEEL_STEP as usize);
        assert_eq!(app.mode, Mode::Browse(Pane::Log));
        // A click on the lookup box starts typing.
        let input = app.areas.input();
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), input.x + 2, input.y));
        assert_eq!(app.mode, Mode::Typing);
        // Outside every pane (the status line): nothing.
        let before = app.mode;
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 3, app.areas.status.y));
        assert_eq!(app.mode, before);
    }

    #[test]
    fn peers_view_and_download_detail_open_and_close() {
        let mut app = app();
        let records =
            vec![record(1, "a", "hostB", 5000), record(2, "b", "hostB", 5000), record(3, "c", "hostC", 1)];
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        press(&mut app, "p");
        assert_eq!(app.mode, Mode::Peers { back: Pane::Index });
        assert_eq!(app.peers.rows.len(), 2);
        assert_eq!((app.peers.rows[0].host.as_str(), app.peers.rows[0].rfcs), ("hostB", 2));
        assert!(press(&mut app, "da").is_empty(), "keys do nothing under the view");
        press(&mut app, "j");
        assert_eq!(app.peers.list.selected(), Some(1));
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Browse(Pane::Index));
        // Downloads take the focus; Enter tells the whole story of one.
        app.mode = Mode::Browse(Pane::Downloads);
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Browse(Pane::Downloads), "nothing to show yet");
        let ev = DownloadEvent::Failed { rfc: RfcNumber(9), reason: DownloadError::NoHolder };
        app.on_net(NetEvent::Download { id: DownloadId(1), event: ev });
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Detail);
        assert_eq!(app.downloads.selected().map(|(_, d)| d.rfc), Some(RfcNumber(9)));
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Browse(Pane::Downloads));
    }

    #[test]
    fn index_and_lookup_refresh_on_the_clock_and_after_our_changes() {
        let mut app = app();
        assert_eq!(app.due(), None, "not connected");
        assert_eq!(app.on_net(NetEvent::Connected { server: "s".into() }), Some(Command::List));
        assert_eq!(app.due(), None, "a LIST is on its way");
        let list = |n: u32| {
            let records = (0..n).map(|i| record(i, "T", "hostB", 5000)).collect();
            NetEvent::Reply(Reply::List { status: Status::Ok, records })
        };
        app.on_net(list(3));
        assert_eq!(app.due(), None);
        // A lookup on screen is asked again each period, the index too.
        press(&mut app, "/7");
        app.on_key(key(KeyCode::Enter));
        let found =
            Reply::Lookup { rfc: RfcNumber(7), status: Status::Ok, records: vec![record(7, "T", "h", 1)] };
        app.on_net(NetEvent::Reply(found.clone()));
        app.on_tick(t0() + REFRESH / 2);
        assert_eq!(app.due(), None);
        app.on_tick(t0() + REFRESH);
        assert_eq!(app.due(), Some(Command::List));
        assert_eq!(app.index.status, IndexStatus::Loading);
        assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))));
        assert_eq!(app.due(), None, "one of each per period");
        assert!(
            matches!(app.lookup.view, LookupView::Found { .. }),
            "the old answer stays until the new one"
        );
        app.on_net(list(3));
        app.on_net(NetEvent::Reply(found));
        // Our own ADD (after a download, say) makes the lookup due at once.
        app.on_net(NetEvent::Reply(Reply::Advertised {
            cause: AdvertiseCause::Asked,
            added: vec![],
            failed: vec![],
        }));
        assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))));
        app.on_net(list(3));
        // A big index is listed less often: 60,000 records, every 3 periods.
        app.on_net(list(60_000));
        app.on_tick(t0() + REFRESH * 3);
        assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))), "the lookup is still due each period");
        assert_eq!(app.due(), None);
        app.on_tick(t0() + REFRESH * 4);
        assert_eq!(app.due(), Some(Command::List));
        // Turned off: nothing.
        app.refresh = None;
        app.on_tick(t0() + REFRESH * 100);
        assert_eq!(app.due(), None);
    }

    #[test]
    fn progress_messages_finish_and_stale_ones_are_replaced() {
        let mut app = app();
        app.on_net(NetEvent::Advertising { count: 2, cause: AdvertiseCause::Reconnected });
        let toast = app.messages.toast.clone().unwrap();
        assert!(toast.progress);
        assert_eq!(toast.text, "advertising 2 RFC(s) after reconnecting…");
        assert!(!app.on_tick(t0() + TOAST_FOR * 2), "a progress message waits for its outcome");
        app.on_net(NetEvent::Reply(Reply::Advertised {
            cause: AdvertiseCause::Reconnected,
            added: vec![],
            failed: vec![],
        }));
        let toast = app.messages.toast.clone().unwrap();
        assert_eq!(toast.text, "Advertised 0 RFC(s) to the index. Done.");
        assert!(!toast.progress);
        // "already here" is gone once the next lookup is sent.
        app.on_net(NetEvent::Notice("RFC 8600 is already here".into()));
        press(&mut app, "/8700");
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.messages.toast, None);
    }

    #[test]
    fn the_folder_and_the_index_mark_local_rfcs() {
        let mut app = app();
        let records = vec![record(8600, "Mine", "hostA", 2222), record(8601, "Theirs", "hostB", 5000)];
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        assert_eq!(app.local.in_index, HashSet::from([RfcNumber(8600)]), "8601 is held, but by hostB only");
        // A file dropped into the folder is listed and said so.
        let mut now = app.local.rfcs.clone();
        now.push(local(9000, "Dropped"));
        app.on_net(NetEvent::Library(now));
        assert_eq!(app.local.len(), 3);
        assert_eq!(
            app.messages.toast.as_ref().unwrap().text,
            "new in the folder: RFC 9000 (press a to advertise)"
        );
        let added = vec![record(9000, "Dropped", "hostA", 2222)];
        app.on_net(NetEvent::Reply(Reply::Advertised {
            cause: AdvertiseCause::NewFiles,
            added,
            failed: vec![],
        }));
        assert!(app.local.in_index.contains(&RfcNumber(9000)));
        // s stops sharing the selected local RFC.
        app.mode = Mode::Browse(Pane::Local);
        assert_eq!(press(&mut app, "s"), vec![Command::Unshare(RfcNumber(8600))]);
        assert!(app.messages.toast.as_ref().unwrap().progress);
        app.mode = Mode::Browse(Pane::Index);
        assert!(press(&mut app, "s").is_empty(), "s belongs to Local RFCs");
        // The server forgets everything with the connection.
        app.on_net(NetEvent::Disconnected { reason: IndexError::Closed, retry_in: None });
        assert!(app.local.in_index.is_empty());
    }

    #[test]
    fn key_releases_are_dropped() {
        let mut app = app();
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(app.on_key(release), None);
        assert!(!app.is_leaving());
    }

    #[test]
    fn lookup_box_takes_letters_and_enter_sends_lookup() {
        let mut app = app();
        assert!(press(&mut app, "/").is_empty());
        assert_eq!(app.mode, Mode::Typing);
        // While typing, q and a are text, not commands.
        assert!(press(&mut app, "qa").is_empty());
        assert_eq!(app.lookup.input.value(), "qa");
        assert!(!app.is_leaving());
        assert_eq!(app.on_key(key(KeyCode::Enter)), None);
        assert_eq!(app.lookup.view, LookupView::Invalid("qa".into()));
        app.on_key(key(KeyCode::Backspace));
        app.on_key(key(KeyCode::Backspace));
        press(&mut app, "8700");
        assert_eq!(app.on_key(key(KeyCode::Enter)), Some(Command::Lookup(RfcNumber(8700))));
        assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
        assert_eq!(app.lookup.view, LookupView::Pending(RfcNumber(8700)));
    }

    #[test]
    fn esc_leaves_the_box_and_keys_are_commands_again() {
        let mut app = app();
        press(&mut app, "/12");
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
        assert_eq!(app.lookup.input.value(), "12");
        assert_eq!(press(&mut app, "r"), vec![Command::List]);
        assert_eq!(app.index.status, IndexStatus::Loading);
    }

    #[test]
    fn holders_can_be_chosen_and_downloaded() {
        let mut app = app();
        press(&mut app, "/8700");
        app.on_key(key(KeyCode::Enter));
        let holders = vec![record(8700, "T", "hostB", 5000), record(8700, "T", "hostC", 5001)];
        let rfc = RfcNumber(8700);
        app.on_net(NetEvent::Reply(Reply::Lookup { rfc, status: Status::Ok, records: holders }));
        assert_eq!(app.lookup.holders().len(), 2);
        press(&mut app, "j");
        assert_eq!(app.lookup.list.selected(), Some(1));
        press(&mut app, "jj");
        assert_eq!(app.lookup.list.selected(), Some(1), "selection stops at the end");
        let cmd = app.on_key(key(KeyCode::Enter));
        let from = Some(Holder { host: "hostC".into(), port: 5001 });
        assert_eq!(cmd, Some(Command::Download { rfc, from }));
    }

    #[test]
    fn lookups_made_by_downloads_do_not_replace_the_pane() {
        let mut app = app();
        press(&mut app, "/1");
        app.on_key(key(KeyCode::Enter));
        let records = vec![record(2, "T", "hostB", 5000)];
        app.on_net(NetEvent::Reply(Reply::Lookup { rfc: RfcNumber(2), status: Status::Ok, records }));
        assert_eq!(app.lookup.view, LookupView::Pending(RfcNumber(1)));
        app.on_net(NetEvent::Reply(Reply::Lookup {
            rfc: RfcNumber(1),
            status: Status::NotFound,
            records: vec![],
        }));
        assert_eq!(app.lookup.view, LookupView::NotFound(RfcNumber(1)));
    }

    #[test]
    fn d_downloads_the_selected_index_row_but_not_what_is_here() {
        let mut app = app();
        let records = vec![
            record(8700, "T", "hostB", 5000),
            record(8600, "Mine", "hostA", 2222),
            record(8800, "U", "hostC", 5001),
        ];
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        assert_eq!(
            press(&mut app, "d"),
            vec![Command::Download {
                rfc: RfcNumber(8700),
                from: Some(Holder { host: "hostB".into(), port: 5000 })
            }]
        );
        assert!(press(&mut app, "jd").is_empty(), "8600 is local");
        assert!(app.messages.toast.as_ref().unwrap().text.contains("already here"));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.index.selected(), 2);
        assert_eq!(
            app.on_key(key(KeyCode::Enter)).map(|c| matches!(c, Command::Download { .. })),
            Some(true)
        );
        app.on_key(key(KeyCode::Up));
        app.on_key(key(KeyCode::Up));
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.index.selected(), 0);
    }

    #[test]
    fn advertise_refresh_help_and_quit() {
        let mut app = app();
        assert_eq!(press(&mut app, "a"), vec![Command::Advertise]);
        press(&mut app, "?");
        assert_eq!(app.mode, Mode::Help { back: Pane::Index });
        assert!(press(&mut app, "a").is_empty(), "keys do nothing under the help");
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Browse(Pane::Index));
        assert_eq!(press(&mut app, "q"), vec![Command::Quit]);
        assert_eq!(app.connection, Connection::Leaving);
        assert!(press(&mut app, "q").is_empty(), "quit is sent once");
        app.on_net(NetEvent::Closed);
        assert!(app.is_closed());
    }

    #[test]
    fn ctrl_c_quits_even_while_typing() {
        let mut app = app();
        press(&mut app, "/12");
        let cmd = app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(cmd, Some(Command::Quit));
    }

    #[test]
    fn connecting_and_advertising_refresh_the_index() {
        let mut app = app();
        assert_eq!(app.on_net(NetEvent::Connected { server: "s".into() }), Some(Command::List));
        // A LIST is pending: no second one.
        let adv = Reply::Advertised { cause: AdvertiseCause::Asked, added: vec![], failed: vec![] };
        assert_eq!(app.on_net(NetEvent::Reply(adv.clone())), None);
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
        assert_eq!(app.on_net(NetEvent::Reply(adv)), Some(Command::List));
    }

    #[test]
    fn only_asked_for_advertising_becomes_a_message() {
        let mut app = app();
        let adv = |cause| NetEvent::Reply(Reply::Advertised { cause, added: vec![], failed: vec![] });
        app.on_net(adv(AdvertiseCause::Downloaded(RfcNumber(8700))));
        assert_eq!(app.messages.toast, None, "an ADD after a download is only logged");
        assert_eq!(app.log.len(), 1);
        assert_eq!(press(&mut app, "a"), vec![Command::Advertise]);
        app.on_net(adv(AdvertiseCause::Asked));
        assert_eq!(
            app.messages.toast.as_ref().map(|t| t.text.as_str()),
            Some("Advertised 0 RFC(s) to the index. Done.")
        );
        let empty = &mut App::new(me(), vec![], t0());
        assert!(press(empty, "a").is_empty(), "nothing to advertise");
    }

    #[test]
    fn disconnection_is_shown_once_per_reason() {
        let mut app = app();
        let ev =
            NetEvent::Disconnected { reason: IndexError::Closed, retry_in: Some(Duration::from_secs(1)) };
        app.on_net(ev.clone());
        app.on_net(ev);
        assert_eq!(app.log.len(), 1);
        assert!(matches!(app.connection, Connection::Disconnected { .. }));
        app.on_net(NetEvent::Connected { server: "s".into() });
        assert_eq!(app.connection, Connection::Connected);
    }

    #[test]
    fn r_while_a_list_is_on_its_way_sends_no_second_one() {
        let mut app = app();
        assert_eq!(press(&mut app, "r"), [Command::List]);
        assert_eq!(app.index.status, IndexStatus::Loading);
        assert!(press(&mut app, "rr").is_empty(), "the LIST on its way answers these");
        assert_eq!(
            app.messages.toast.as_ref().map(|t| t.text.as_str()),
            Some("Already refreshing the index.")
        );
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
        assert_eq!(press(&mut app, "r"), [Command::List]);
        // A failed LIST does not block the next one either.
        let not_connected = IndexError::NotConnected { servers: "s".into() };
        app.on_net(NetEvent::Error(PeerError::about(Request::List, not_connected)));
        assert_eq!(press(&mut app, "r"), [Command::List]);
    }

    #[test]
    fn errors_end_pending_requests() {
        let mut app = app();
        press(&mut app, "/5");
        app.on_key(key(KeyCode::Enter));
        app.on_key(key(KeyCode::Char('r')));
        let not_connected = IndexError::NotConnected { servers: "s".into() };
        app.on_net(NetEvent::Error(PeerError::about(Request::Lookup(RfcNumber(5)), not_connected.clone())));
        app.on_net(NetEvent::Error(PeerError::about(Request::List, not_connected.clone())));
        let reason = not_connected.to_string();
        assert_eq!(app.lookup.view, LookupView::Failed { rfc: RfcNumber(5), reason: reason.clone() });
        assert_eq!(app.index.status, IndexStatus::Failed(reason));
        assert!(app.messages.toast.as_ref().unwrap().error);
    }

    #[test]
    fn downloads_progress_retry_finish() {
        let mut app = app();
        let id = DownloadId(1);
        let rfc = RfcNumber(8700);
        let b = Holder { host: "hostB".into(), port: 5000 };
        let c = Holder { host: "hostC".into(), port: 5001 };
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: b.clone() } });
        let ev = DownloadEvent::HolderFailed {
            from: b,
            reason: crate::peer::DownloadError::Refused(Status::NotFound),
            retrying: true,
        };
        app.on_net(NetEvent::Download { id, event: ev });
        assert!(matches!(app.downloads.map[&id].state, DownloadState::Retrying { .. }));
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: c.clone() } });
        app.on_tick(t0() + Duration::from_secs(2));
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Progress { received: 2048, total: 4096 } });
        let d = &app.downloads.map[&id];
        assert_eq!(d.state, DownloadState::Running);
        assert_eq!(d.rate(app.now), Some(1024.0));
        let done = DownloadEvent::Done {
            rfc,
            from: c,
            path: PathBuf::from("hostA/rfc8700.txt"),
            bytes: 4096,
            elapsed: Duration::from_secs(2),
        };
        app.on_net(NetEvent::Download { id, event: done });
        assert!(!app.downloads.map[&id].is_active());
        app.on_net(NetEvent::Library(vec![local(8700, "T")]));
        assert_eq!(app.local.len(), 1);
    }

    #[test]
    fn finished_downloads_are_capped() {
        let mut app = app();
        for i in 0..20 {
            let ev =
                DownloadEvent::Failed { rfc: RfcNumber(i), reason: crate::peer::DownloadError::NoHolder };
            app.on_net(NetEvent::Download { id: DownloadId(i.into()), event: ev });
        }
        assert_eq!(app.downloads.len(), FINISHED_CAP);
        assert_eq!(app.downloads.map.keys().next(), Some(&DownloadId(12)));
    }

    #[test]
    fn toasts_expire_with_the_clock() {
        let mut app = app();
        app.on_net(NetEvent::Error(IndexError::EngineStopped.into()));
        assert!(!app.on_tick(t0() + Duration::from_secs(1)));
        assert!(app.messages.toast.is_some());
        assert!(app.on_tick(t0() + TOAST_FOR));
        assert!(app.messages.toast.is_none());
    }

    #[test]
    fn log_splits_messages_and_is_capped() {
        let mut app = app();
        app.log.cap = 5;
        let text = "LOOKUP RFC 1 P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
        app.on_net(wire(Direction::Sent, Link::Server, text));
        assert_eq!(app.log.len(), 3);
        assert_eq!(app.log.lines[0].time.as_deref(), Some("12:00:00"));
        assert_eq!(app.log.lines[0].who.as_deref(), Some("server"));
        assert_eq!(app.log.lines[1].time, None);
        assert_eq!(app.log.lines[2].text, "Port: 2222");
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        app.on_net(wire(Direction::Received, Link::Upload(addr), "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n"));
        assert_eq!(app.log.len(), 5);
        app.on_net(NetEvent::Notice("hello".into()));
        assert_eq!(app.log.len(), 5);
        assert_eq!(app.log.lines[0].text, "Host: hostA");
        assert_eq!(app.log.lines.back().unwrap().text, "hello");
    }

    #[test]
    fn a_huge_answer_is_logged_as_its_head_and_a_count() {
        let mut app = app();
        let mut text = String::from("P2P-CI/1.0 200 OK\r\n\r\n");
        for i in 0..100_000 {
            text.push_str(&format!("RFC {i} T hostB 5000\r\n"));
        }
        app.on_net(wire(Direction::Received, Link::Server, &text));
        assert_eq!(app.log.len(), LOG_LINES_PER_MESSAGE + 1);
        let rest = 100_002 - LOG_LINES_PER_MESSAGE;
        assert_eq!(app.log.lines.back().unwrap().text, format!("… and {rest} more line(s)"));
    }

    #[test]
    fn the_index_selection_follows_its_record_when_rows_move() {
        let mut app = app();
        let list = |rfcs: &[u32]| {
            let records = rfcs.iter().map(|&n| record(n, "T", "hostB", 5000)).collect();
            NetEvent::Reply(Reply::List { status: Status::Ok, records })
        };
        app.on_net(list(&[3, 2, 1]));
        press(&mut app, "j");
        assert_eq!(app.index.get(app.index.selected()).unwrap().rfc, RfcNumber(2));
        app.on_net(list(&[5, 4, 3, 2, 1]));
        assert_eq!(app.index.get(app.index.selected()).unwrap().rfc, RfcNumber(2));
        // Gone: the selection stays where it was, within the new rows.
        app.on_net(list(&[9]));
        assert_eq!(app.index.selected(), 0);
    }

    #[test]
    fn unchanged_refreshes_are_folded_in_the_log() {
        let mut app = app();
        let list = "LIST ALL P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
        let answer = |rows: &str| format!("P2P-CI/1.0 200 OK\r\n\r\n{rows}\r\n");
        let exchange = |app: &mut App, rows: &str| {
            app.on_net(wire(Direction::Sent, Link::Server, list));
            app.on_net(wire(Direction::Received, Link::Server, &answer(rows)));
        };
        exchange(&mut app, "RFC 1 T hostB 5000\r\n");
        let first = app.log.len();
        assert_eq!(first, 3 + 3);
        exchange(&mut app, "RFC 1 T hostB 5000\r\n");
        exchange(&mut app, "RFC 1 T hostB 5000\r\n");
        assert_eq!(app.log.len(), first, "the same answer is not logged again");
        assert_eq!(app.log.folded, 2);
        // An ADD in between is logged as always, and does not disturb it.
        app.on_net(wire(Direction::Sent, Link::Server, "ADD RFC 2 P2P-CI/1.0\r\n\r\n"));
        app.on_net(wire(Direction::Received, Link::Server, "P2P-CI/1.0 200 OK\r\n\r\n"));
        assert_eq!(app.log.len(), first + 2);
        // A changed answer is logged, request and all.
        exchange(&mut app, "RFC 2 U hostC 5001\r\n");
        assert_eq!(app.log.len(), first + 2 + 6);
        assert_eq!(app.log.lines[first + 2].text, "LIST ALL P2P-CI/1.0");
        assert_eq!(app.log.lines.back().unwrap().text, "RFC 2 U hostC 5001");
    }

    #[test]
    fn log_follows_unless_scrolled_back() {
        let mut app = app();
        app.on_resize(80, 24);
        let page = app.areas.inner_height(Pane::Log);
        assert!(page >= 3, "{page}");
        for i in 0..20 {
            app.on_net(NetEvent::Notice(format!("n{i}")));
        }
        assert_eq!(app.log.scroll, 0);
        app.mode = Mode::Browse(Pane::Log);
        app.on_key(key(KeyCode::PageUp));
        assert_eq!(app.log.scroll, page);
        app.on_net(NetEvent::Notice("new".into()));
        assert_eq!(app.log.scroll, page + 1, "the view stays on the same lines");
        app.on_key(key(KeyCode::Home));
        assert_eq!(app.log.scroll, 21 - page);
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(app.log.scroll, 21 - 2 * page);
        app.on_key(key(KeyCode::End));
        assert_eq!(app.log.scroll, 0);
        press(&mut app, "k");
        assert_eq!(app.log.scroll, 1);
        press(&mut app, "j");
        assert_eq!(app.log.scroll, 0);
        press(&mut app, "ll");
        assert_eq!(app.log.hscroll, 2 * HSCROLL_STEP);
        app.on_key(key(KeyCode::Left));
        assert_eq!(app.log.hscroll, HSCROLL_STEP);
    }

    /// Issue 19, item 4: each action's own message stays; the re-advertise
    /// that follows it goes to the log only.
    #[test]
    fn stop_sharing_and_a_removed_file_each_say_their_own_outcome() {
        let mut app = app();
        app.connection = Connection::Connected;
        app.mode = Mode::Browse(Pane::Local);
        assert_eq!(press(&mut app, "s"), [Command::Unshare(RfcNumber(8600))]);
        let to = std::path::PathBuf::from("hostA/unshared/rfc8600.txt");
        app.on_net(NetEvent::Unshared { rfc: RfcNumber(8600), to });
        let said = "RFC 8600 is no longer shared (moved to hostA/unshared/rfc8600.txt).";
        assert_eq!(app.messages.toast.as_ref().unwrap().text, said);
        let cause = AdvertiseCause::Withdrawal { rfcs: vec![RfcNumber(8600)], why: Withdrawal::Unshared };
        app.on_net(NetEvent::Advertising { count: 1, cause: cause.clone() });
        let added = vec![record(8601, "T", "hostA", 2222)];
        assert_eq!(
            app.on_net(NetEvent::Reply(Reply::Advertised { cause, added, failed: vec![] })),
            Some(Command::List)
        );
        let outcome = WithdrawOutcome::Done { readvertised: 1, restored: 0 };
        app.on_net(NetEvent::Withdrawn { rfcs: vec![RfcNumber(8600)], why: Withdrawal::Unshared, outcome });
        assert_eq!(app.messages.toast.as_ref().unwrap().text, said, "the follow-ups did not replace it");
        assert!(app.log.lines.iter().any(|l| l.text.contains("advertising 1 RFC(s) again")));
        assert!(app.log.lines.iter().any(|l| l.text.contains("withdrawn from the index; 1 other")));
        // A file taken out of the folder: the withdrawal is the message.
        app.on_tick(t0() + TOAST_FOR);
        let outcome = WithdrawOutcome::Done { readvertised: 0, restored: 0 };
        app.on_net(NetEvent::Withdrawn { rfcs: vec![RfcNumber(8601)], why: Withdrawal::Removed, outcome });
        assert_eq!(
            app.messages.toast.as_ref().unwrap().text,
            "RFC 8601 left the folder: withdrawn from the index; 0 other record(s) advertised again."
        );
        // Files skipped are said once, with the reason.
        let skipped = vec![crate::peer::library::Skipped {
            name: "rfc8803.txt".into(),
            reason: crate::peer::library::SkipReason::Empty,
        }];
        app.on_net(NetEvent::Skipped(skipped));
        let toast = app.messages.toast.clone().unwrap();
        assert!(toast.text.starts_with("not sharing rfc8803.txt: "), "{}", toast.text);
    }

    /// Issue 19, items 10-11: waiting for a holder that announced its size,
    /// cancel, retry, and repeated failures as one row with a count.
    #[test]
    fn downloads_wait_cancel_retry_and_fold_failures() {
        let mut app = app();
        app.mode = Mode::Browse(Pane::Downloads);
        let (id, rfc) = (DownloadId(1), RfcNumber(8700));
        let b = Holder { host: "hostB".into(), port: 5000 };
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Queued { rfc, attempt: 1 } });
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: b.clone() } });
        let waiting = DownloadEvent::Waiting { from: b.clone(), announced: Some(300 << 20) };
        app.on_net(NetEvent::Download { id, event: waiting });
        let d = &app.downloads.map[&id];
        assert!(d.asked && d.total == Some(300 << 20) && d.received == 0);
        assert_eq!(press(&mut app, "R"), [], "a running download is not retried");
        assert_eq!(press(&mut app, "c"), [Command::CancelDownload(id)]);
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Cancelled { rfc } });
        assert_eq!(app.downloads.map[&id].state, DownloadState::Cancelled);
        assert!(app.messages.toast.as_ref().unwrap().text.contains("nothing of it was kept"));
        assert_eq!(press(&mut app, "c"), [], "not running any more");
        assert_eq!(press(&mut app, "R"), [Command::RetryDownload(id)]);
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Queued { rfc, attempt: 2 } });
        assert_eq!(app.downloads.map[&id].attempt, 2);
        let too_large = DownloadError::AllFailed {
            tried: 1,
            last: b.clone(),
            error: Box::new(DownloadError::TooLarge { announced: 300 << 20, limit: 256 << 20 }),
        };
        app.on_net(NetEvent::Download {
            id,
            event: DownloadEvent::Failed { rfc, reason: too_large.clone() },
        });
        let d = &app.downloads.map[&id];
        assert_eq!(d.failures, 1);
        assert_eq!(d.from, Some(b));
        assert!(d.hint.as_deref().unwrap().contains("--max-download"), "{:?}", d.hint);
        // Retried and failed again under the same id, then once more by d
        // (a new id): one row, three failures.
        app.on_net(NetEvent::Download {
            id,
            event: DownloadEvent::Failed { rfc, reason: too_large.clone() },
        });
        let again = DownloadId(2);
        app.on_net(NetEvent::Download { id: again, event: DownloadEvent::Failed { rfc, reason: too_large } });
        assert_eq!(app.downloads.len(), 1);
        assert_eq!(app.downloads.map[&again].failures, 3);
    }

    /// Issue 19, items 1-2: while the server is away the Index and the
    /// Lookup are marked with their age, and a LOOKUP that failed for want
    /// of the server is asked again when it is back.
    #[test]
    fn stale_marks_and_the_lookup_redone_on_reconnect() {
        let mut app = app();
        app.on_net(NetEvent::Connected { server: "s".into() });
        app.on_tick(t0() + Duration::from_secs(4 * 3600 + 271));
        app.on_net(NetEvent::Reply(Reply::List {
            status: Status::Ok,
            records: vec![record(1, "T", "hostB", 1)],
        }));
        assert_eq!(app.stale(app.index.answered_at), None, "connected: current");
        app.on_net(NetEvent::Disconnected { reason: IndexError::Closed, retry_in: None });
        assert_eq!(app.stale(app.index.answered_at).as_deref(), Some("as of 16:04:31, server unreachable"));
        press(&mut app, "/8601");
        assert_eq!(app.on_key(key(KeyCode::Enter)), Some(Command::Lookup(RfcNumber(8601))));
        let not_connected = IndexError::NotConnected { servers: "s".into() };
        app.on_net(NetEvent::Error(PeerError::about(Request::Lookup(RfcNumber(8601)), not_connected)));
        assert!(matches!(app.lookup.view, LookupView::Failed { .. }));
        assert_eq!(app.due(), None, "not while disconnected");
        app.refresh = None;
        assert_eq!(app.on_net(NetEvent::Connected { server: "s".into() }), Some(Command::List));
        assert_eq!(app.lookup.view, LookupView::Pending(RfcNumber(8601)));
        assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(8601))), "even with the refresh off");
        assert_eq!(app.due(), None, "once");
    }

    /// Issue 19, item 15: a key a pane does not take says where it works.
    #[test]
    fn a_key_for_another_pane_says_where_it_works() {
        let mut app = app();
        assert!(press(&mut app, "s").is_empty());
        assert_eq!(app.messages.toast.as_ref().unwrap().text, "s works in Local RFCs (stop sharing).");
        app.mode = Mode::Browse(Pane::Log);
        press(&mut app, "d");
        assert_eq!(
            app.messages.toast.as_ref().unwrap().text,
            "d/Enter works in Index and Lookup (download)."
        );
    }

    /// Issue 19, items 12-13: the reader opens on a local RFC, and the
    /// Index filter narrows the rows as it is typed.
    #[test]
    fn the_reader_opens_searches_and_closes_and_the_filter_narrows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rfc8600.txt");
        let text: String =
            (0..300).map(|i| format!("line {i}{}\n", if i == 150 { " IPsec" } else { "" })).collect();
        std::fs::write(&path, format!("\u{feff}{text}")).unwrap();
        let mut app = App::new(me(), vec![LocalRfc { path, ..local(8600, "T") }], t0());
        app.on_resize(80, 24);
        app.mode = Mode::Browse(Pane::Local);
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Reader { back: Pane::Local });
        assert_eq!(app.reader.as_ref().unwrap().lines.len(), 300);
        assert_eq!(app.reader.as_ref().unwrap().lines[0], "line 0", "no BOM");
        press(&mut app, "/ipsec");
        assert_eq!(app.mode, Mode::Search { back: Pane::Local });
        app.on_key(key(KeyCode::Enter));
        let r = app.reader.as_ref().unwrap();
        assert_eq!((r.matches.clone(), app.mode), (vec![150], Mode::Reader { back: Pane::Local }));
        assert!(r.scroll <= 150 && 150 < r.scroll + app.reader_page());
        press(&mut app, "q");
        assert_eq!(app.mode, Mode::Browse(Pane::Local));
        assert!(app.reader.is_none());
        // The filter.
        let records = (0..3000)
            .map(|i| record(i, if i % 250 == 0 { "IPsec thing" } else { "Other" }, "hostB", 1))
            .collect();
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        app.mode = Mode::Browse(Pane::Index);
        press(&mut app, "fipsec");
        assert_eq!(app.mode, Mode::Filter);
        assert_eq!((app.index.len(), app.index.total()), (12, 3000));
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Browse(Pane::Index));
        assert_eq!(app.index.filter_text(), "ipsec", "kept");
        press(&mut app, "f");
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.index.len(), 3000, "Esc in the box clears it");
    }
}
