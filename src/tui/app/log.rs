//! The protocol log pane's state: every raw message, bounded, with folding
//! of refreshes that changed nothing.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use crate::peer::{Direction, Link, Request, WireMessage};

/// Most log lines kept; older ones are dropped so memory stays bounded.
pub const LOG_CAP: usize = 2000;
/// Most log lines one message gets; a LIST answer of a million records
/// shows its head and a count of the rest, not a million lines.
pub const LOG_LINES_PER_MESSAGE: usize = 24;
/// Columns the log moves per ← or →.
pub const HSCROLL_STEP: usize = 8;

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

#[derive(Debug)]
pub struct ProtocolLog {
    pub lines: VecDeque<LogLine>,
    pub cap: usize,
    /// Lines scrolled back from the newest; 0 follows new lines.
    pub scroll: usize,
    /// Columns scrolled right, for lines longer than the pane.
    pub hscroll: usize,
    /// Refreshes whose request and answer were the same as the last time,
    /// and so were not logged again.
    pub folded: u64,
    /// The answer last logged to each LIST or LOOKUP request (by its text).
    last_answers: HashMap<String, u64>,
    /// A repeated request, held until its answer shows whether it changed.
    held_request: Option<WireMessage>,
    /// The query request last logged, waiting for its answer.
    last_query: Option<String>,
}

impl Default for ProtocolLog {
    fn default() -> Self {
        ProtocolLog {
            lines: VecDeque::new(),
            cap: LOG_CAP,
            scroll: 0,
            hscroll: 0,
            folded: 0,
            last_answers: HashMap::new(),
            held_request: None,
            last_query: None,
        }
    }
}

/// A LIST or a LOOKUP: the requests a refresh repeats, as the engine names
/// the request (not read from the text).
fn is_query(w: &WireMessage) -> bool {
    w.link == Link::Server
        && w.direction == Direction::Sent
        && matches!(w.request, Some(Request::List | Request::Lookup(_)))
}

impl ProtocolLog {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Logs a protocol message. A LIST or LOOKUP the server answers exactly
    /// as the last time (the refresh timer asks every few seconds) is
    /// folded: the request is held until its answer, and if the pair is the
    /// same as before, only a counter in the log's title moves. `page` is
    /// the pane's height, to keep the scroll in range.
    pub fn wire(&mut self, w: &WireMessage, page: usize) {
        if w.link == Link::Server {
            match w.direction {
                Direction::Sent => {
                    if let Some(held) = self.held_request.take() {
                        self.wire_now(&held, page);
                    }
                    if is_query(w) && self.last_answers.contains_key(&w.text) {
                        self.held_request = Some(w.clone());
                        return;
                    }
                }
                Direction::Received => {
                    let request = self.held_request.take();
                    let answer = fingerprint(&w.text);
                    if let Some(req) = &request
                        && self.last_answers.get(&req.text) == Some(&answer)
                    {
                        self.folded += 1;
                        return;
                    }
                    if let Some(req) = request {
                        self.wire_now(&req, page);
                    }
                    if let Some(req) = self.last_query.take() {
                        self.last_answers.insert(req, answer);
                    }
                }
            }
        }
        self.wire_now(w, page);
    }

    /// A held request goes out as it is (its answer will not come: the
    /// connection is gone).
    pub fn flush_held(&mut self, page: usize) {
        if let Some(held) = self.held_request.take() {
            self.wire_now(&held, page);
        }
    }

    fn wire_now(&mut self, w: &WireMessage, page: usize) {
        if w.link == Link::Server && w.direction == Direction::Sent {
            self.last_query = is_query(w).then(|| w.text.clone());
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
        self.push(kind, super::hms(w.at), who, &lines, page);
    }

    /// A line of our own (a notice, an outcome), at `now`.
    pub fn info(&mut self, kind: LogKind, now: SystemTime, text: String, page: usize) {
        self.push(kind, super::hms(now), String::new(), &[text.as_str()], page);
    }

    fn push(&mut self, kind: LogKind, time: String, who: String, lines: &[&str], page: usize) {
        for (i, line) in lines.iter().enumerate() {
            let first = i == 0;
            self.lines.push_back(LogLine {
                kind,
                time: first.then(|| time.clone()),
                who: first.then(|| super::shown(who.clone())),
                text: super::shown((*line).to_owned()),
            });
        }
        // Someone reading older lines keeps their place.
        if self.scroll > 0 {
            self.scroll += lines.len();
        }
        while self.lines.len() > self.cap {
            self.lines.pop_front();
        }
        self.scroll = self.scroll.min(self.max_scroll(page));
    }

    pub fn max_scroll(&self, page: usize) -> usize {
        self.lines.len().saturating_sub(page)
    }

    /// Positive scrolls back (older), negative forward (newer).
    pub fn scroll_by(&mut self, delta: isize, page: usize) {
        self.scroll = self.scroll.saturating_add_signed(delta).min(self.max_scroll(page));
    }

    pub fn pan(&mut self, right: bool) {
        self.hscroll =
            if right { self.hscroll + HSCROLL_STEP } else { self.hscroll.saturating_sub(HSCROLL_STEP) };
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
