//! The state of the full-screen peer, and the two functions that change it.
//!
//! [`App::on_key`] turns a key into state changes and, at most, one
//! [`Command`] for the engine; [`App::on_net`] folds one [`NetEvent`] into the
//! state. Both are plain synchronous functions with no terminal, socket or
//! clock behind them: the loop in [`super::run()`] feeds them, and the tests
//! drive them with key sequences and hand-made events. Time enters only
//! through [`App::on_tick`] (and the `at` of each [`WireMessage`]), so what is
//! drawn is a pure function of this state and tests can pin the clock.
//!
//! The app never waits for an answer: sending a command only marks what is
//! pending (a LOOKUP, a LIST), and the answer arrives later as an event.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use ratatui::widgets::{ListState, TableState};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::layout::{Areas, Pane};
use super::records::{IndexRecords, PeerSummary};
use crate::peer::{
    AdvertiseCause, Command, Direction, DownloadEvent, DownloadId, Holder, IndexError, Link, LocalRfc,
    NetEvent, PeerError, Reply, Request, WireMessage,
};
use crate::protocol::{Record, RfcNumber, Status};

/// Most log lines kept; older ones are dropped so memory stays bounded.
pub const LOG_CAP: usize = 2000;
/// Most finished downloads kept on screen (running ones are always kept).
pub const FINISHED_CAP: usize = 8;
/// Most log lines one message gets; a LIST answer of a million records
/// shows its head and a count of the rest, not a million lines.
pub const LOG_LINES_PER_MESSAGE: usize = 24;
/// Columns the log moves per ← or →.
pub const HSCROLL_STEP: usize = 8;
/// Rows a turn of the mouse wheel moves.
pub const WHEEL_STEP: isize = 3;
/// How often the Index and the Lookup refresh by default.
pub const REFRESH: Duration = Duration::from_secs(10);
/// Index records per refresh period: a LIST of N records is asked at most
/// once every `N / LIST_RECORDS_PER_PERIOD` periods, so a huge index is not
/// fetched again and again (a million records: every 50 periods).
pub const LIST_RECORDS_PER_PERIOD: usize = 20_000;
/// How long a message stays in the status line.
pub const TOAST_FOR: Duration = Duration::from_secs(8);

/// What keys mean right now: one value instead of a focus plus flags, so
/// that no two modes can be on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keys move in the focused pane and act on its selection.
    Browse(Pane),
    /// Keys go to the lookup box (the Lookup pane has the focus).
    Typing,
    /// The help overlay; closing it returns to `back`.
    Help { back: Pane },
    /// The Peers view (who the index names); closing it returns to `back`.
    Peers { back: Pane },
    /// The selected download in full, over the Downloads pane.
    Detail,
}

impl Mode {
    /// The pane that has the focus (under an overlay, the one it returns to).
    pub fn pane(self) -> Pane {
        match self {
            Mode::Browse(p) | Mode::Help { back: p } | Mode::Peers { back: p } => p,
            Mode::Typing => Pane::Lookup,
            Mode::Detail => Pane::Downloads,
        }
    }

    /// Whether `pane` has the focus and takes list keys.
    pub fn browsing(self, pane: Pane) -> bool {
        self == Mode::Browse(pane)
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadState {
    /// Waiting for the first GET to be sent.
    Queued,
    Running,
    /// The last holder failed and the next one is about to be tried.
    Retrying {
        reason: String,
    },
    Done {
        bytes: u64,
        elapsed: Duration,
    },
    Failed {
        reason: String,
    },
}

/// One download as the Downloads pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub rfc: RfcNumber,
    /// The holder being (or last) tried.
    pub from: Option<Holder>,
    pub received: u64,
    /// Content-Length, once known.
    pub total: Option<u64>,
    /// When the current attempt started (by the app's clock).
    pub started: SystemTime,
    pub state: DownloadState,
}

impl Download {
    pub fn is_active(&self) -> bool {
        matches!(self.state, DownloadState::Queued | DownloadState::Running | DownloadState::Retrying { .. })
    }

    /// Bytes per second of the current attempt, by the app's clock.
    pub fn rate(&self, now: SystemTime) -> Option<f64> {
        let secs = now.duration_since(self.started).ok()?.as_secs_f64();
        (secs >= 0.2 && self.received > 0).then(|| self.received as f64 / secs)
    }
}

/// The kind of a log line, which decides its arrow and color.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Sent,
    Received,
    Info,
    Error,
}

/// One line of the protocol log. A message of several lines gets one
/// `LogLine` per line; only the first carries the time and the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub kind: LogKind,
    /// `HH:MM:SS` (UTC), on the first line of an entry.
    pub time: Option<String>,
    /// The other end (`server`, `host:port`), on the first line of an entry.
    pub who: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub text: String,
    pub error: bool,
    pub at: SystemTime,
    /// Something is under way (advertising): the outcome replaces it, and
    /// it does not expire before then.
    pub progress: bool,
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    pub me: Me,
    pub connection: Connection,
    pub mode: Mode,
    /// The screen's geometry, from the last resize.
    pub areas: Areas,
    pub local: Vec<LocalRfc>,
    pub local_list: ListState,
    /// Local RFCs the index holds a record of, for this peer (from the last
    /// LIST and the ADDs answered since); the rest are marked in the pane.
    pub in_index: HashSet<RfcNumber>,
    pub index: IndexRecords,
    pub index_status: IndexStatus,
    /// The Index pane's selection and first visible row. Drawing keeps the
    /// selection in view through `&mut`, as ratatui's stateful widgets do.
    pub index_table: TableState,
    pub input: Input,
    pub lookup: LookupView,
    pub holders_list: ListState,
    pub downloads_list: ListState,
    /// The Peers view's rows, computed from the index when it opens.
    pub peers: Vec<PeerSummary>,
    pub peers_list: ListState,
    pub downloads: BTreeMap<DownloadId, Download>,
    pub log: VecDeque<LogLine>,
    pub log_cap: usize,
    /// Lines scrolled back from the newest; 0 follows new lines.
    pub log_scroll: usize,
    /// Columns scrolled right, for lines longer than the pane.
    pub log_hscroll: usize,
    /// Refreshes whose request and answer were the same as the last time,
    /// and so were not logged again.
    pub log_folded: u64,
    /// The answer last logged to each LIST or LOOKUP request (by its text).
    last_answers: HashMap<String, u64>,
    /// A repeated request, held until its answer shows whether it changed.
    held_request: Option<WireMessage>,
    /// The query request last logged, waiting for its answer.
    last_query: Option<String>,
    pub toast: Option<Toast>,
    /// The user asked to advertise and the answer has not come yet.
    pub advertise_asked: bool,
    /// GETs this peer's upload server has answered.
    pub uploads_served: u64,
    /// The app's clock, set by [`App::on_tick`].
    pub now: SystemTime,
    /// How often the Index and the Lookup shown refresh on their own; `None`
    /// never (only `r` and this peer's own changes then refresh them).
    pub refresh: Option<Duration>,
    /// New files in the folder are ADDed by the engine on their own
    /// (`--auto-advertise`); only changes what the messages say.
    pub auto_advertise: bool,
    /// When the last LIST answer (or failure) came.
    pub list_at: Option<SystemTime>,
    /// When the Lookup shown was last answered; `None` makes it due now.
    pub lookup_at: Option<SystemTime>,
}

impl App {
    pub fn new(me: Me, local: Vec<LocalRfc>, now: SystemTime) -> App {
        App {
            me,
            connection: Connection::Connecting,
            mode: Mode::Browse(Pane::Index),
            areas: Areas::new(Rect::new(0, 0, 80, 24)),
            local,
            local_list: ListState::default().with_selected(Some(0)),
            in_index: HashSet::new(),
            index: IndexRecords::default(),
            index_status: IndexStatus::NotLoaded,
            index_table: TableState::default().with_selected(Some(0)),
            input: Input::default(),
            lookup: LookupView::Idle,
            holders_list: ListState::default().with_selected(Some(0)),
            downloads_list: ListState::default().with_selected(Some(0)),
            peers: Vec::new(),
            peers_list: ListState::default().with_selected(Some(0)),
            downloads: BTreeMap::new(),
            log: VecDeque::new(),
            log_cap: LOG_CAP,
            log_scroll: 0,
            log_hscroll: 0,
            log_folded: 0,
            last_answers: HashMap::new(),
            held_request: None,
            last_query: None,
            toast: None,
            advertise_asked: false,
            uploads_served: 0,
            now,
            refresh: Some(REFRESH),
            auto_advertise: false,
            list_at: None,
            lookup_at: None,
        }
    }

    /// True once the engine has stopped: the loop may end.
    pub fn is_closed(&self) -> bool {
        self.connection == Connection::Closed
    }

    pub fn is_leaving(&self) -> bool {
        matches!(self.connection, Connection::Leaving | Connection::Closed)
    }

    /// The holders the Lookup pane lists (empty unless a LOOKUP found some).
    pub fn holders(&self) -> &[Record] {
        match &self.lookup {
            LookupView::Found { holders, .. } => holders,
            _ => &[],
        }
    }

    /// Advances the clock. Returns true when the screen should be redrawn
    /// (a message expired, or a running download's rate moved).
    pub fn on_tick(&mut self, now: SystemTime) -> bool {
        self.now = now;
        // Rates and the reconnection countdown move with the clock.
        let mut changed = self.downloads.values().any(Download::is_active)
            || matches!(self.connection, Connection::Disconnected { .. });
        if let Some(t) = &self.toast
            && !t.progress
            && now.duration_since(t.at).is_ok_and(|d| d >= TOAST_FOR)
        {
            self.toast = None;
            changed = true;
        }
        changed
    }

    /// The refresh that is due by the clock, if any: a LIST when the last
    /// answer is older than the refresh period (stretched for a big index),
    /// else a LOOKUP of the RFC the Lookup pane shows. One at a time; the
    /// loop asks again at the next tick.
    pub fn due(&mut self) -> Option<Command> {
        let every = self.refresh?;
        if self.connection != Connection::Connected {
            return None;
        }
        let older = |at: Option<SystemTime>, d: Duration| {
            at.is_none_or(|at| self.now.duration_since(at).is_ok_and(|age| age >= d))
        };
        let periods = (self.index.len() / LIST_RECORDS_PER_PERIOD).max(1) as u32;
        if self.index_status != IndexStatus::Loading && older(self.list_at, every.saturating_mul(periods)) {
            self.index_status = IndexStatus::Loading;
            // Until the answer, count from now: a lost answer does not make
            // every tick ask again.
            self.list_at = Some(self.now);
            return Some(Command::List);
        }
        if let LookupView::Found { rfc, .. } | LookupView::NotFound(rfc) = self.lookup
            && older(self.lookup_at, every)
        {
            self.lookup_at = Some(self.now);
            return Some(Command::Lookup(rfc));
        }
        None
    }

    /// Remembers the screen's geometry, for PgUp/PgDn and the mouse.
    pub fn on_resize(&mut self, width: u16, height: u16) {
        self.areas = Areas::new(Rect::new(0, 0, width, height));
        self.log_scroll = self.log_scroll.min(self.max_log_scroll());
    }

    // ---- keys ----------------------------------------------------------

    /// Handles one key. Returns the command to send to the engine, if any.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'C')) {
            return self.leave();
        }
        match self.mode {
            Mode::Typing => return self.on_typing_key(key),
            Mode::Help { back } => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Char('?' | 'q') | KeyCode::Enter) {
                    self.mode = Mode::Browse(back);
                }
                return None;
            }
            Mode::Peers { back } => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('p' | 'q') | KeyCode::Enter => {
                        self.mode = Mode::Browse(back)
                    }
                    KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
                    KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
                    KeyCode::PageUp => self.move_selection(-self.page(Pane::Index)),
                    KeyCode::PageDown => self.move_selection(self.page(Pane::Index)),
                    KeyCode::Home => self.move_selection(isize::MIN / 2),
                    KeyCode::End => self.move_selection(isize::MAX / 2),
                    _ => {}
                }
                return None;
            }
            Mode::Detail => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                    self.mode = Mode::Browse(Pane::Downloads);
                }
                return None;
            }
            Mode::Browse(_) => {}
        }
        if ctrl || key.modifiers.contains(KeyModifiers::ALT) {
            return None;
        }
        let pane = self.mode.pane();
        match key.code {
            KeyCode::Char('q') => return self.leave(),
            KeyCode::Char('?') => self.mode = Mode::Help { back: pane },
            KeyCode::Char('p') => self.open_peers(),
            KeyCode::Tab => self.mode = Mode::Browse(pane.next()),
            KeyCode::BackTab => self.mode = Mode::Browse(pane.prev()),
            KeyCode::Esc => self.toast = None,
            KeyCode::Char('/') => {
                self.mode = Mode::Typing;
                self.input.reset();
            }
            KeyCode::Char(c) if c.is_ascii_digit() && pane == Pane::Lookup => {
                self.mode = Mode::Typing;
                self.input.reset();
                self.input.handle_event(&Event::Key(key));
            }
            KeyCode::Char('a') => return self.advertise(),
            KeyCode::Char('r') => {
                self.toast = None;
                self.lookup_at = None;
                // The LIST on its way answers this too; a second one would
                // fetch the whole index again (a million records: ~60 MB).
                if self.index_status == IndexStatus::Loading {
                    self.notify("Already refreshing the index.".into(), false);
                    return None;
                }
                self.index_status = IndexStatus::Loading;
                return Some(Command::List);
            }
            KeyCode::Char('d') => return self.download_selected(),
            KeyCode::Char('s') if pane == Pane::Local => return self.unshare_selected(),
            KeyCode::Enter => match pane {
                Pane::Lookup if !self.holders().is_empty() => return self.download_selected(),
                Pane::Lookup => self.mode = Mode::Typing,
                Pane::Index => return self.download_selected(),
                Pane::Downloads if !self.downloads.is_empty() => self.mode = Mode::Detail,
                Pane::Local | Pane::Downloads | Pane::Log => {}
            },
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-self.page(pane)),
            KeyCode::PageDown => self.move_selection(self.page(pane)),
            KeyCode::Home => self.move_selection(isize::MIN / 2),
            KeyCode::End => self.move_selection(isize::MAX / 2),
            KeyCode::Left | KeyCode::Char('h') if pane == Pane::Log => {
                self.log_hscroll = self.log_hscroll.saturating_sub(HSCROLL_STEP);
            }
            KeyCode::Right | KeyCode::Char('l') if pane == Pane::Log => self.log_hscroll += HSCROLL_STEP,
            _ => {}
        }
        None
    }

    fn on_typing_key(&mut self, key: KeyEvent) -> Option<Command> {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Browse(Pane::Lookup),
            KeyCode::Tab => self.mode = Mode::Browse(Pane::Lookup.next()),
            KeyCode::BackTab => self.mode = Mode::Browse(Pane::Lookup.prev()),
            KeyCode::Down if !self.holders().is_empty() => self.mode = Mode::Browse(Pane::Lookup),
            KeyCode::Enter => {
                let text = self.input.value().trim().to_owned();
                if text.is_empty() {
                    return None;
                }
                let Some(rfc) = RfcNumber::parse(&text) else {
                    self.lookup = LookupView::Invalid(text);
                    return None;
                };
                self.mode = Mode::Browse(Pane::Lookup);
                self.toast = None;
                self.lookup = LookupView::Pending(rfc);
                self.holders_list.select(Some(0));
                return Some(Command::Lookup(rfc));
            }
            _ => {
                self.input.handle_event(&Event::Key(key));
            }
        }
        None
    }

    /// Handles the mouse: a click focuses the pane under it and selects the
    /// row clicked; the wheel scrolls the pane under the pointer.
    pub fn on_mouse(&mut self, mouse: MouseEvent) -> Option<Command> {
        if self.is_leaving() || self.areas.is_too_small() {
            return None;
        }
        let pane = self.areas.pane_at(mouse.column, mouse.row)?;
        let overlay = !matches!(self.mode, Mode::Browse(_) | Mode::Typing);
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
                    Pane::Local => select_at(&mut self.local_list, row, self.local.len()),
                    Pane::Index => {
                        let at = self.index_table.offset() + row;
                        if at < self.index.len() {
                            self.index_table.select(Some(at));
                        }
                    }
                    Pane::Lookup => {
                        let list = self.areas.holders();
                        if mouse.row >= list.y {
                            let row = usize::from(mouse.row - list.y);
                            let len = self.holders().len();
                            select_at(&mut self.holders_list, row, len);
                        } else if mouse.row == self.areas.input().y {
                            self.mode = Mode::Typing;
                        }
                    }
                    Pane::Downloads => select_at(&mut self.downloads_list, row, self.downloads.len()),
                    Pane::Log => {}
                }
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown if !overlay => {
                let delta = if mouse.kind == MouseEventKind::ScrollUp { -WHEEL_STEP } else { WHEEL_STEP };
                let keep = self.mode;
                self.mode = Mode::Browse(pane);
                self.move_selection(delta);
                self.mode = if keep == Mode::Typing { keep } else { Mode::Browse(keep.pane()) };
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

    /// `p`: the Peers view, counted from the index as last loaded.
    fn open_peers(&mut self) {
        self.peers = self.index.peers();
        self.peers_list.select(Some(0));
        *self.peers_list.offset_mut() = 0;
        self.mode = Mode::Peers { back: self.mode.pane() };
    }

    /// Starts leaving (`q`, Ctrl-C, a signal). Returns [`Command::Quit`]
    /// the first time only.
    pub fn leave(&mut self) -> Option<Command> {
        if self.is_leaving() {
            return None;
        }
        self.mode = Mode::Browse(self.mode.pane());
        self.connection = Connection::Leaving;
        Some(Command::Quit)
    }

    /// `a`, or `--advertise` at start: ADD every local RFC.
    pub fn advertise(&mut self) -> Option<Command> {
        if self.local.is_empty() {
            self.notify("No local RFCs to advertise yet: download one first.".into(), false);
            return None;
        }
        self.notify_progress(format!("Advertising {} RFC(s) to the index…", self.local.len()));
        self.advertise_asked = true;
        Some(Command::Advertise)
    }

    /// `s` in Local RFCs: stop sharing the selected RFC.
    fn unshare_selected(&mut self) -> Option<Command> {
        let Some(local) = self.local.get(self.local_list.selected().unwrap_or(0)) else {
            self.notify("Nothing shared to stop sharing.".into(), false);
            return None;
        };
        let rfc = local.rfc;
        self.notify_progress(format!("Stopping sharing RFC {rfc}…"));
        Some(Command::Unshare(rfc))
    }

    /// The selected row of the Index.
    pub fn index_selected(&self) -> usize {
        self.index_table.selected().unwrap_or(0)
    }

    /// The downloads in the order the pane lists them: running ones first,
    /// then the newest outcomes.
    pub fn download_order(&self) -> Vec<DownloadId> {
        let active = self.downloads.iter().filter(|(_, d)| d.is_active()).map(|(id, _)| *id);
        let finished = self.downloads.iter().rev().filter(|(_, d)| !d.is_active()).map(|(id, _)| *id);
        active.chain(finished).collect()
    }

    /// The download selected in the Downloads pane.
    pub fn selected_download(&self) -> Option<&Download> {
        let at = self.downloads_list.selected().unwrap_or(0);
        self.download_order().get(at).and_then(|id| self.downloads.get(id))
    }

    /// The download that `d` or Enter means in the focused pane.
    fn download_selected(&mut self) -> Option<Command> {
        let pane = self.mode.pane();
        let record = match pane {
            Pane::Index => self.index.get(self.index_selected()).map(|r| r.to_record()),
            Pane::Lookup => self.holders().get(self.holders_list.selected().unwrap_or(0)).cloned(),
            Pane::Local | Pane::Downloads | Pane::Log => None,
        };
        let Some(record) = record else {
            let hint = match pane {
                Pane::Index => "Nothing to download here: press r to load the index.",
                _ => "Choose an RFC in the Index (d) or a holder in Lookup (Enter) to download.",
            };
            self.notify(hint.into(), false);
            return None;
        };
        let rfc = record.rfc;
        if self.local.iter().any(|l| l.rfc == rfc) {
            self.notify(format!("RFC {rfc} is already here (see Local RFCs)."), false);
            return None;
        }
        if record.host == self.me.host && record.port == self.me.upload_port {
            self.notify(format!("That record of RFC {rfc} is this peer itself."), false);
            return None;
        }
        if self.downloads.values().any(|d| d.rfc == rfc && d.is_active()) {
            self.notify(format!("RFC {rfc} is already being downloaded."), false);
            return None;
        }
        let from = Holder::from(&record);
        self.notify_progress(format!("Downloading RFC {rfc} from {from}…"));
        Some(Command::Download { rfc, from: Some(from) })
    }

    /// Rows in a page of `pane`.
    fn page(&self, pane: Pane) -> isize {
        let header = usize::from(pane == Pane::Index);
        self.areas.inner_height(pane).saturating_sub(header).max(1) as isize
    }

    /// Moves the focused pane's selection by `delta` rows (the log scrolls).
    fn move_selection(&mut self, delta: isize) {
        let step = |sel: Option<usize>, len: usize| -> Option<usize> {
            Some(sel.unwrap_or(0).saturating_add_signed(delta).min(len.saturating_sub(1)))
        };
        match self.mode {
            Mode::Peers { .. } => {
                let len = self.peers.len();
                self.peers_list.select(step(self.peers_list.selected(), len));
                return;
            }
            Mode::Help { .. } | Mode::Detail => return,
            Mode::Browse(_) | Mode::Typing => {}
        }
        match self.mode.pane() {
            Pane::Local => self.local_list.select(step(self.local_list.selected(), self.local.len())),
            Pane::Index => self.index_table.select(step(self.index_table.selected(), self.index.len())),
            Pane::Lookup => {
                let len = self.holders().len();
                self.holders_list.select(step(self.holders_list.selected(), len));
            }
            Pane::Downloads => {
                let len = self.downloads.len();
                self.downloads_list.select(step(self.downloads_list.selected(), len));
            }
            Pane::Log => self.scroll_log(-delta),
        }
    }

    fn max_log_scroll(&self) -> usize {
        self.log.len().saturating_sub(self.areas.inner_height(Pane::Log))
    }

    /// Positive scrolls back (older), negative forward (newer).
    fn scroll_log(&mut self, delta: isize) {
        self.log_scroll = self.log_scroll.saturating_add_signed(delta).min(self.max_log_scroll());
    }

    // ---- network events --------------------------------------------------

    /// Folds one engine event into the state. Returns a follow-up command: a
    /// fresh LIST when the server is reached or our records changed, so the
    /// Index pane keeps up without a key press.
    pub fn on_net(&mut self, ev: NetEvent) -> Option<Command> {
        match ev {
            NetEvent::Wire(w) => self.log_wire(&w),
            NetEvent::Connected { server } => {
                self.connection = Connection::Connected;
                self.log_info(LogKind::Info, format!("connected to the index server {server}"));
                // With several servers, the status line names the one in use.
                self.me.server = server;
                if self.index_status != IndexStatus::Loading {
                    self.index_status = IndexStatus::Loading;
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
                self.in_index.clear();
                if let Some(held) = self.held_request.take() {
                    self.log_wire_now(&held);
                }
                if !self.is_leaving() {
                    let retry_at = retry_in.map(|d| self.now + d);
                    self.connection = Connection::Disconnected { reason, retry_at };
                }
                if self.index_status == IndexStatus::Loading {
                    self.index_status = IndexStatus::Failed("the index server is unreachable".into());
                }
            }
            NetEvent::Reply(reply) => return self.on_reply(reply),
            NetEvent::Error(e) => {
                self.on_error(&e);
                let text = e.to_string();
                self.log_info(LogKind::Error, text.clone());
                self.notify(text, true);
            }
            NetEvent::FolderError(text) => {
                self.log_info(LogKind::Error, text.clone());
                self.notify(text, true);
            }
            NetEvent::Notice(n) => {
                self.log_info(LogKind::Info, n.clone());
                // "re-advertising N RFC(s) after reconnecting": the ADDs'
                // answer ends it.
                if n.contains("advertising") {
                    self.notify_progress(format!("{n}…"));
                } else {
                    self.notify(n, false);
                }
            }
            // The engine's typed events, shown as their notices were (the
            // screen's own use of them is issue 19's screen work).
            NetEvent::Advertising { count, cause: AdvertiseCause::Reconnected } => {
                let n = format!("re-advertising {count} RFC(s) after reconnecting");
                self.log_info(LogKind::Info, n.clone());
                self.notify_progress(format!("{n}…"));
            }
            NetEvent::Advertising { .. } => {}
            NetEvent::Skipped(skipped) => {
                for line in crate::peer::library::skipped_lines(&skipped) {
                    self.log_info(LogKind::Info, line.clone());
                    self.notify(line, false);
                }
            }
            NetEvent::Unshared { rfc, to } => {
                let n = format!("RFC {rfc} is no longer shared (moved to {})", to.display());
                self.log_info(LogKind::Info, n.clone());
                self.notify(n, false);
            }
            NetEvent::Withdrawn { rfcs, outcome, .. } => {
                let rfcs: Vec<String> = rfcs.iter().map(|r| r.to_string()).collect();
                self.log_info(LogKind::Info, format!("withdrew RFC {}: {outcome:?}", rfcs.join(", ")));
            }
            NetEvent::Library(local) => {
                let known: HashSet<RfcNumber> = self.local.iter().map(|l| l.rfc).collect();
                let new: Vec<String> =
                    local.iter().filter(|l| !known.contains(&l.rfc)).map(|l| l.rfc.to_string()).collect();
                // A download's file is announced by its own message; a file
                // that appeared in the folder gets one here.
                let downloaded = |rfc: &str| self.downloads.values().any(|d| d.rfc.to_string() == rfc);
                if !new.is_empty() && !new.iter().all(|r| downloaded(r)) {
                    let text = format!("new in the folder: RFC {}", new.join(", "));
                    self.log_info(LogKind::Info, text.clone());
                    if self.auto_advertise {
                        self.notify_progress(format!("{text}; advertising it…"));
                    } else if !self.in_progress() {
                        self.notify(format!("{text} (press a to advertise)"), false);
                    }
                }
                self.local = local;
                clamp(&mut self.local_list, self.local.len());
            }
            NetEvent::Download { id, event } => self.on_download(id, event),
            NetEvent::Uploaded { to, rfc, status, bytes } => {
                self.uploads_served += 1;
                let text = match rfc {
                    Some(rfc) if status == Status::Ok => {
                        format!("served RFC {rfc} to {to}: {}", human_bytes(bytes))
                    }
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

    fn on_reply(&mut self, reply: Reply) -> Option<Command> {
        match reply {
            Reply::Advertised { added, failed, .. } => {
                let me = (self.me.host.as_str(), self.me.upload_port);
                let mine = added.iter().filter(|r| (r.host.as_str(), r.port) == me).map(|r| r.rfc);
                self.in_index.extend(mine);
                let mut text = format!("Advertised {} RFC(s) to the index.", added.len());
                for (rfc, status) in &failed {
                    text.push_str(&format!(" ADD RFC {rfc} failed: {status}."));
                }
                self.log_info(if failed.is_empty() { LogKind::Info } else { LogKind::Error }, text.clone());
                // The engine also ADDs after each download and on reconnecting;
                // those are in the log, and only failures or answers to a
                // request of the user's become a message.
                if std::mem::take(&mut self.advertise_asked) || !failed.is_empty() || self.in_progress() {
                    self.notify(format!("{text} Done."), !failed.is_empty());
                }
                // Our records changed: the holders shown may have too.
                self.lookup_at = None;
                if !self.is_leaving() && self.index_status != IndexStatus::Loading {
                    self.index_status = IndexStatus::Loading;
                    return Some(Command::List);
                }
            }
            Reply::Lookup { rfc, status, records } => {
                // The engine also looks up before each download; only answers
                // to what this pane asked (or shows) replace its contents.
                let ours = match &self.lookup {
                    LookupView::Pending(r) | LookupView::NotFound(r) => *r == rfc,
                    LookupView::Found { rfc: r, .. } | LookupView::Failed { rfc: r, .. } => *r == rfc,
                    LookupView::Idle | LookupView::Invalid(_) => false,
                };
                if ours {
                    self.lookup_at = Some(self.now);
                    self.lookup = match status {
                        Status::Ok if !records.is_empty() => LookupView::Found { rfc, holders: records },
                        Status::Ok | Status::NotFound => LookupView::NotFound(rfc),
                        s => LookupView::Failed { rfc, reason: s.to_string() },
                    };
                    let len = self.holders().len();
                    clamp(&mut self.holders_list, len);
                }
            }
            Reply::List { status, records } => {
                self.list_at = Some(self.now);
                if status == Status::Ok {
                    // The selection stays on the same record when rows
                    // move (new records arrive at the top).
                    let selected =
                        self.index.get(self.index_selected()).map(|r| (r.rfc, r.host.to_owned(), r.port));
                    // The old table goes first, so two never coexist.
                    self.index = IndexRecords::default();
                    self.index = IndexRecords::from_records(records);
                    if let Some((rfc, host, port)) = selected
                        && let Some(at) = (0..self.index.len()).find(|&i| {
                            self.index
                                .get(i)
                                .is_some_and(|r| r.rfc == rfc && r.host == host && r.port == port)
                        })
                    {
                        // The view stays put (new rows show at the top) as
                        // long as the selection is still in it.
                        self.index_table.select(Some(at));
                    }
                    let me = (self.me.host.as_str(), self.me.upload_port);
                    self.in_index = (0..self.index.len())
                        .filter_map(|i| self.index.get(i))
                        .filter(|r| (r.host, r.port) == me)
                        .map(|r| r.rfc)
                        .collect();
                    self.index_status = IndexStatus::Loaded;
                    let len = self.index.len();
                    clamp_table(&mut self.index_table, len);
                } else {
                    self.index_status = IndexStatus::Failed(format!("the server answered {status}"));
                }
            }
        }
        None
    }

    /// An error about a pending request also ends it.
    fn on_error(&mut self, e: &PeerError) {
        if let LookupView::Pending(rfc) = self.lookup
            && e.request == Some(Request::Lookup(rfc))
        {
            self.lookup = LookupView::Failed { rfc, reason: e.reason.to_string() };
        }
        if self.index_status == IndexStatus::Loading && e.request == Some(Request::List) {
            self.index_status = IndexStatus::Failed(e.reason.to_string());
            self.list_at = Some(self.now);
        }
        if let LookupView::Found { rfc, .. } | LookupView::NotFound(rfc) = self.lookup
            && e.request == Some(Request::Lookup(rfc))
        {
            self.lookup_at = Some(self.now);
        }
    }

    fn on_download(&mut self, id: DownloadId, event: DownloadEvent) {
        let now = self.now;
        let new = |rfc| Download {
            rfc,
            from: None,
            received: 0,
            total: None,
            started: now,
            state: DownloadState::Queued,
        };
        match event {
            DownloadEvent::Queued { rfc, .. } => {
                let d = self.downloads.entry(id).or_insert_with(|| new(rfc));
                d.state = DownloadState::Queued;
            }
            DownloadEvent::Waiting { .. } => {}
            DownloadEvent::Cancelled { rfc } => {
                let d = self.downloads.entry(id).or_insert_with(|| new(rfc));
                d.state = DownloadState::Failed { reason: "cancelled".into() };
                self.prune_downloads();
            }
            DownloadEvent::Started { rfc, from } => {
                let d = self.downloads.entry(id).or_insert_with(|| new(rfc));
                d.from = Some(from);
                d.received = 0;
                d.total = None;
                d.started = now;
                d.state = DownloadState::Running;
            }
            DownloadEvent::Progress { received, total } => {
                if let Some(d) = self.downloads.get_mut(&id) {
                    d.received = received;
                    d.total = Some(total);
                }
            }
            DownloadEvent::HolderFailed { from, reason, retrying } => {
                let text = format!("download from {from} failed: {reason}");
                self.log_info(LogKind::Error, text.clone());
                if let Some(d) = self.downloads.get_mut(&id) {
                    if retrying {
                        d.state = DownloadState::Retrying { reason: shown(format!("{from}: {reason}")) };
                    }
                    let rfc = d.rfc;
                    let next = if retrying { "; trying the next holder" } else { "" };
                    self.notify(format!("RFC {rfc}: {text}{next}"), true);
                }
            }
            DownloadEvent::Done { rfc, from, path, bytes, elapsed } => {
                let d = self.downloads.entry(id).or_insert_with(|| new(rfc));
                d.from = Some(from.clone());
                d.received = bytes;
                d.total = Some(bytes);
                d.state = DownloadState::Done { bytes, elapsed };
                let text = format!(
                    "downloaded RFC {rfc} from {from}: {} in {}",
                    human_bytes(bytes),
                    human_duration(elapsed)
                );
                self.log_info(LogKind::Info, format!("{text} → {}", path.display()));
                self.notify(format!("Downloaded RFC {rfc} from {from}; it is now shared too."), false);
                self.prune_downloads();
            }
            DownloadEvent::Failed { rfc, reason } => {
                let d = self.downloads.entry(id).or_insert_with(|| new(rfc));
                d.state = DownloadState::Failed { reason: shown(reason.to_string()) };
                let text = format!("download of RFC {rfc} failed: {reason}");
                self.log_info(LogKind::Error, text.clone());
                self.notify(text, true);
                self.prune_downloads();
            }
        }
    }

    /// Keeps every running download and the newest finished ones.
    fn prune_downloads(&mut self) {
        let finished: Vec<DownloadId> =
            self.downloads.iter().filter(|(_, d)| !d.is_active()).map(|(id, _)| *id).collect();
        for id in finished.iter().take(finished.len().saturating_sub(FINISHED_CAP)) {
            self.downloads.remove(id);
        }
    }

    fn notify(&mut self, text: String, error: bool) {
        self.toast = Some(Toast { text: shown(text), error, at: self.now, progress: false });
    }

    /// A message about something under way, until its outcome replaces it.
    fn notify_progress(&mut self, text: String) {
        self.toast = Some(Toast { text: shown(text), error: false, at: self.now, progress: true });
    }

    fn in_progress(&self) -> bool {
        self.toast.as_ref().is_some_and(|t| t.progress)
    }

    // ---- the log -----------------------------------------------------------

    /// Logs a protocol message. A LIST or LOOKUP the server answers exactly
    /// as the last time (the refresh timer asks every few seconds) is folded:
    /// the request is held until its answer, and if the pair is the same as
    /// before, only a counter in the log's title moves.
    fn log_wire(&mut self, w: &WireMessage) {
        if w.link == Link::Server {
            let is_query = w.text.starts_with("LIST ") || w.text.starts_with("LOOKUP ");
            match w.direction {
                Direction::Sent if is_query => {
                    if let Some(held) = self.held_request.take() {
                        self.log_wire_now(&held);
                    }
                    if self.last_answers.contains_key(&w.text) {
                        self.held_request = Some(w.clone());
                        return;
                    }
                }
                Direction::Sent => {
                    if let Some(held) = self.held_request.take() {
                        self.log_wire_now(&held);
                    }
                }
                Direction::Received => {
                    let request = self.held_request.take();
                    let answer = fingerprint(&w.text);
                    if let Some(req) = &request
                        && self.last_answers.get(&req.text) == Some(&answer)
                    {
                        self.log_folded += 1;
                        return;
                    }
                    if let Some(req) = request {
                        self.log_wire_now(&req);
                    }
                    if let Some(req) = self.last_query.take() {
                        self.last_answers.insert(req, answer);
                    }
                    self.log_wire_now(w);
                    return;
                }
            }
            if is_query {
                self.last_query = Some(w.text.clone());
            }
        }
        self.log_wire_now(w);
    }

    fn log_wire_now(&mut self, w: &WireMessage) {
        if w.link == Link::Server && w.direction == Direction::Sent {
            let is_query = w.text.starts_with("LIST ") || w.text.starts_with("LOOKUP ");
            self.last_query = is_query.then(|| w.text.clone());
        }
        let kind = match w.direction {
            Direction::Sent => LogKind::Sent,
            Direction::Received => LogKind::Received,
        };
        let who = match &w.link {
            Link::Server => "server".to_owned(),
            Link::Download(h) => h.to_string(),
            Link::Upload(addr) => addr.to_string(),
        };
        let text = w.text.trim_end_matches(['\r', '\n']);
        let mut split = text.split('\n').map(|l| l.trim_end_matches('\r'));
        let mut lines: Vec<&str> = split.by_ref().take(LOG_LINES_PER_MESSAGE).collect();
        let rest = split.count();
        let more = format!("… and {rest} more line(s)");
        if rest > 0 {
            lines.push(&more);
        }
        self.push_entry(kind, hms(w.at), who, &lines);
    }

    fn log_info(&mut self, kind: LogKind, text: String) {
        self.push_entry(kind, hms(self.now), String::new(), &[text.as_str()]);
    }

    fn push_entry(&mut self, kind: LogKind, time: String, who: String, lines: &[&str]) {
        for (i, line) in lines.iter().enumerate() {
            let first = i == 0;
            self.log.push_back(LogLine {
                kind,
                time: first.then(|| time.clone()),
                who: first.then(|| shown(who.clone())),
                text: shown((*line).to_owned()),
            });
        }
        // Someone reading older lines keeps their place.
        if self.log_scroll > 0 {
            self.log_scroll += lines.len();
        }
        while self.log.len() > self.log_cap {
            self.log.pop_front();
        }
        self.log_scroll = self.log_scroll.min(self.max_log_scroll());
    }
}

/// Text that may hold bytes another party sent (a wire message, a notice or
/// an error quoting one), as the screen keeps it: every control character
/// written `\x1b` (PROTOCOL.md, Framing). Most text has none and is kept as
/// it is, without a copy.
fn shown(text: String) -> String {
    match crate::protocol::escape_line(text.as_bytes()) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(escaped) => escaped,
    }
}

/// Keeps a list's selection on a row that exists.
fn clamp(state: &mut ListState, len: usize) {
    state.select(Some(state.selected().unwrap_or(0).min(len.saturating_sub(1))));
}

fn clamp_table(state: &mut TableState, len: usize) {
    state.select(Some(state.selected().unwrap_or(0).min(len.saturating_sub(1))));
}

/// Selects row `row` of the visible window, if there is such a row.
fn select_at(state: &mut ListState, row: usize, len: usize) {
    let at = state.offset() + row;
    if at < len {
        state.select(Some(at));
    }
}

/// A short fingerprint of a message, to tell an unchanged answer without
/// keeping it.
fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// `HH:MM:SS` of a time, in UTC (no time zone database needed, and the same
/// on every machine, which the tests rely on).
pub fn hms(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `812 B`, `38.1 KiB`, `1.2 MiB`.
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.1} GiB", f / (K * K * K))
    }
}

/// `120 ms`, `2.5 s`.
pub fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use super::*;
    use crate::peer::DownloadError;

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
        NetEvent::Wire(WireMessage { at: t0(), direction, link, request: None, text: text.into() })
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
        assert_eq!(app.local_list.selected(), Some(1));
        // The Index's third row, under its header.
        let index = app.areas.index;
        app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), index.x + 5, index.y + 4));
        assert_eq!(app.mode, Mode::Browse(Pane::Index));
        assert_eq!(app.index_selected(), 2);
        // The wheel over the Index moves it, and leaves the focus alone.
        app.mode = Mode::Browse(Pane::Log);
        app.on_mouse(mouse(MouseEventKind::ScrollDown, index.x + 5, index.y + 4));
        assert_eq!(app.index_selected(), 2 + WHEEL_STEP as usize);
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
        assert_eq!(app.peers.len(), 2);
        assert_eq!((app.peers[0].host.as_str(), app.peers[0].rfcs), ("hostB", 2));
        assert!(press(&mut app, "da").is_empty(), "keys do nothing under the view");
        press(&mut app, "j");
        assert_eq!(app.peers_list.selected(), Some(1));
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
        assert_eq!(app.selected_download().map(|d| d.rfc), Some(RfcNumber(9)));
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
        assert_eq!(app.index_status, IndexStatus::Loading);
        assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))));
        assert_eq!(app.due(), None, "one of each per period");
        assert!(matches!(app.lookup, LookupView::Found { .. }), "the old answer stays until the new one");
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
        app.on_net(NetEvent::Notice("re-advertising 2 RFC(s) after reconnecting".into()));
        assert!(app.toast.as_ref().unwrap().progress);
        assert!(!app.on_tick(t0() + TOAST_FOR * 2), "a progress message waits for its outcome");
        app.on_net(NetEvent::Reply(Reply::Advertised {
            cause: AdvertiseCause::Asked,
            added: vec![],
            failed: vec![],
        }));
        let toast = app.toast.clone().unwrap();
        assert_eq!(toast.text, "Advertised 0 RFC(s) to the index. Done.");
        assert!(!toast.progress);
        // "already here" is gone once the next lookup is sent.
        app.on_net(NetEvent::Notice("RFC 8600 is already here".into()));
        press(&mut app, "/8700");
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.toast, None);
    }

    #[test]
    fn the_folder_and_the_index_mark_local_rfcs() {
        let mut app = app();
        let records = vec![record(8600, "Mine", "hostA", 2222), record(8601, "Theirs", "hostB", 5000)];
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        assert_eq!(app.in_index, HashSet::from([RfcNumber(8600)]), "8601 is held, but by hostB only");
        // A file dropped into the folder is listed and said so.
        let mut now = app.local.clone();
        now.push(local(9000, "Dropped"));
        app.on_net(NetEvent::Library(now));
        assert_eq!(app.local.len(), 3);
        assert_eq!(app.toast.as_ref().unwrap().text, "new in the folder: RFC 9000 (press a to advertise)");
        let added = vec![record(9000, "Dropped", "hostA", 2222)];
        app.on_net(NetEvent::Reply(Reply::Advertised {
            cause: AdvertiseCause::Asked,
            added,
            failed: vec![],
        }));
        assert!(app.in_index.contains(&RfcNumber(9000)));
        // s stops sharing the selected local RFC.
        app.mode = Mode::Browse(Pane::Local);
        assert_eq!(press(&mut app, "s"), vec![Command::Unshare(RfcNumber(8600))]);
        assert!(app.toast.as_ref().unwrap().progress);
        app.mode = Mode::Browse(Pane::Index);
        assert!(press(&mut app, "s").is_empty(), "s belongs to Local RFCs");
        // The server forgets everything with the connection.
        app.on_net(NetEvent::Disconnected { reason: IndexError::Closed, retry_in: None });
        assert!(app.in_index.is_empty());
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
        assert_eq!(app.input.value(), "qa");
        assert!(!app.is_leaving());
        assert_eq!(app.on_key(key(KeyCode::Enter)), None);
        assert_eq!(app.lookup, LookupView::Invalid("qa".into()));
        app.on_key(key(KeyCode::Backspace));
        app.on_key(key(KeyCode::Backspace));
        press(&mut app, "8700");
        assert_eq!(app.on_key(key(KeyCode::Enter)), Some(Command::Lookup(RfcNumber(8700))));
        assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
        assert_eq!(app.lookup, LookupView::Pending(RfcNumber(8700)));
    }

    #[test]
    fn esc_leaves_the_box_and_keys_are_commands_again() {
        let mut app = app();
        press(&mut app, "/12");
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
        assert_eq!(app.input.value(), "12");
        assert_eq!(press(&mut app, "r"), vec![Command::List]);
        assert_eq!(app.index_status, IndexStatus::Loading);
    }

    #[test]
    fn holders_can_be_chosen_and_downloaded() {
        let mut app = app();
        press(&mut app, "/8700");
        app.on_key(key(KeyCode::Enter));
        let holders = vec![record(8700, "T", "hostB", 5000), record(8700, "T", "hostC", 5001)];
        let rfc = RfcNumber(8700);
        app.on_net(NetEvent::Reply(Reply::Lookup { rfc, status: Status::Ok, records: holders }));
        assert_eq!(app.holders().len(), 2);
        press(&mut app, "j");
        assert_eq!(app.holders_list.selected(), Some(1));
        press(&mut app, "jj");
        assert_eq!(app.holders_list.selected(), Some(1), "selection stops at the end");
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
        assert_eq!(app.lookup, LookupView::Pending(RfcNumber(1)));
        app.on_net(NetEvent::Reply(Reply::Lookup {
            rfc: RfcNumber(1),
            status: Status::NotFound,
            records: vec![],
        }));
        assert_eq!(app.lookup, LookupView::NotFound(RfcNumber(1)));
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
        assert!(app.toast.as_ref().unwrap().text.contains("already here"));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.index_selected(), 2);
        assert_eq!(
            app.on_key(key(KeyCode::Enter)).map(|c| matches!(c, Command::Download { .. })),
            Some(true)
        );
        app.on_key(key(KeyCode::Up));
        app.on_key(key(KeyCode::Up));
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.index_selected(), 0);
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
        let adv = || {
            NetEvent::Reply(Reply::Advertised { cause: AdvertiseCause::Asked, added: vec![], failed: vec![] })
        };
        app.on_net(adv());
        assert_eq!(app.toast, None, "an ADD after a download is only logged");
        assert_eq!(app.log.len(), 1);
        assert_eq!(press(&mut app, "a"), vec![Command::Advertise]);
        app.on_net(adv());
        assert_eq!(
            app.toast.as_ref().map(|t| t.text.as_str()),
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
        assert_eq!(app.index_status, IndexStatus::Loading);
        assert!(press(&mut app, "rr").is_empty(), "the LIST on its way answers these");
        assert_eq!(app.toast.as_ref().map(|t| t.text.as_str()), Some("Already refreshing the index."));
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
        assert_eq!(app.lookup, LookupView::Failed { rfc: RfcNumber(5), reason: reason.clone() });
        assert_eq!(app.index_status, IndexStatus::Failed(reason));
        assert!(app.toast.as_ref().unwrap().error);
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
        assert!(matches!(app.downloads[&id].state, DownloadState::Retrying { .. }));
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: c.clone() } });
        app.on_tick(t0() + Duration::from_secs(2));
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Progress { received: 2048, total: 4096 } });
        let d = &app.downloads[&id];
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
        assert!(!app.downloads[&id].is_active());
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
        assert_eq!(app.downloads.keys().next(), Some(&DownloadId(12)));
    }

    #[test]
    fn toasts_expire_with_the_clock() {
        let mut app = app();
        app.on_net(NetEvent::Error(IndexError::EngineStopped.into()));
        assert!(!app.on_tick(t0() + Duration::from_secs(1)));
        assert!(app.toast.is_some());
        assert!(app.on_tick(t0() + TOAST_FOR));
        assert!(app.toast.is_none());
    }

    #[test]
    fn log_splits_messages_and_is_capped() {
        let mut app = app();
        app.log_cap = 5;
        let text = "LOOKUP RFC 1 P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
        app.on_net(wire(Direction::Sent, Link::Server, text));
        assert_eq!(app.log.len(), 3);
        assert_eq!(app.log[0].time.as_deref(), Some("12:00:00"));
        assert_eq!(app.log[0].who.as_deref(), Some("server"));
        assert_eq!(app.log[1].time, None);
        assert_eq!(app.log[2].text, "Port: 2222");
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        app.on_net(wire(Direction::Received, Link::Upload(addr), "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n"));
        assert_eq!(app.log.len(), 5);
        app.on_net(NetEvent::Notice("hello".into()));
        assert_eq!(app.log.len(), 5);
        assert_eq!(app.log[0].text, "Host: hostA");
        assert_eq!(app.log.back().unwrap().text, "hello");
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
        assert_eq!(app.log.back().unwrap().text, format!("… and {rest} more line(s)"));
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
        assert_eq!(app.index.get(app.index_selected()).unwrap().rfc, RfcNumber(2));
        app.on_net(list(&[5, 4, 3, 2, 1]));
        assert_eq!(app.index.get(app.index_selected()).unwrap().rfc, RfcNumber(2));
        // Gone: the selection stays where it was, within the new rows.
        app.on_net(list(&[9]));
        assert_eq!(app.index_selected(), 0);
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
        assert_eq!(app.log_folded, 2);
        // An ADD in between is logged as always, and does not disturb it.
        app.on_net(wire(Direction::Sent, Link::Server, "ADD RFC 2 P2P-CI/1.0\r\n\r\n"));
        app.on_net(wire(Direction::Received, Link::Server, "P2P-CI/1.0 200 OK\r\n\r\n"));
        assert_eq!(app.log.len(), first + 2);
        // A changed answer is logged, request and all.
        exchange(&mut app, "RFC 2 U hostC 5001\r\n");
        assert_eq!(app.log.len(), first + 2 + 6);
        assert_eq!(app.log[first + 2].text, "LIST ALL P2P-CI/1.0");
        assert_eq!(app.log.back().unwrap().text, "RFC 2 U hostC 5001");
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
        assert_eq!(app.log_scroll, 0);
        app.mode = Mode::Browse(Pane::Log);
        app.on_key(key(KeyCode::PageUp));
        assert_eq!(app.log_scroll, page);
        app.on_net(NetEvent::Notice("new".into()));
        assert_eq!(app.log_scroll, page + 1, "the view stays on the same lines");
        app.on_key(key(KeyCode::Home));
        assert_eq!(app.log_scroll, 21 - page);
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(app.log_scroll, 21 - 2 * page);
        app.on_key(key(KeyCode::End));
        assert_eq!(app.log_scroll, 0);
        press(&mut app, "k");
        assert_eq!(app.log_scroll, 1);
        press(&mut app, "j");
        assert_eq!(app.log_scroll, 0);
        press(&mut app, "ll");
        assert_eq!(app.log_hscroll, 2 * HSCROLL_STEP);
        app.on_key(key(KeyCode::Left));
        assert_eq!(app.log_hscroll, HSCROLL_STEP);
    }

    #[test]
    fn formats() {
        assert_eq!(hms(t0() + Duration::from_secs(3661)), "13:01:01");
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(39_014), "38.1 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(human_duration(Duration::from_millis(120)), "120 ms");
        assert_eq!(human_duration(Duration::from_millis(2500)), "2.5 s");
    }
}
