//! Drawing: from [`App`] to a frame.
//!
//! Nothing here reads a clock or talks to the engine, and the only state it
//! changes is the lists' scroll positions (ratatui's `ListState` and
//! `TableState`, held in the app and passed `&mut`, as ratatui's stateful
//! widgets are meant to be used): the same `App` draws the same screen, which
//! is what makes the `TestBackend` snapshots meaningful. Each pane is its own
//! function over a `Buffer` area ([`panes`], [`reader`]), so widget tests can
//! draw one pane alone. Only visible rows are built: a frame costs the same
//! with five index records or a million.
//!
//! Colors are the terminal's named ANSI colors, used only as accents (borders,
//! arrows, badges) over the default foreground, and the selection is shown in
//! reverse video: both read on dark and light themes alike. Focus is shown
//! twice, by color and by a thick border, so it survives a monochrome
//! terminal. The footer and the help are read from the
//! [`keymap`](super::keymap), as the key handler is.

pub mod panes;
pub mod reader;

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Cell, Clear, HighlightSpacing, Paragraph, Row, StatefulWidget, Table, TableState,
    Widget, Wrap,
};

pub use self::panes::{detail, downloads, index, local, log, lookup};
use super::app::{App, Connection, Mode};
use super::keymap::{self, Binding};
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use crate::human;
use crate::peer::IndexError;

const ACCENT: Color = Color::Cyan;
const SENT: Color = Color::Cyan;
const RECEIVED: Color = Color::Green;
const ERROR: Color = Color::Red;
const WARN: Color = Color::Magenta;
const OK: Color = Color::Green;

/// Text another party sent (a title, a host, a reason quoting an answer),
/// as drawn: control characters written `\x1b` (PROTOCOL.md, Framing).
/// Ratatui would silently drop them, so `ev\x1b]0;pwned` would show as
/// `ev]0;pwned`, hiding that the server sent an escape sequence.
fn shown(s: &str) -> Cow<'_, str> {
    crate::protocol::escape_line(s.as_bytes())
}

/// Draws the whole screen, and puts the cursor in the box being typed in.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let full = frame.area();
    if full.width < MIN_WIDTH || full.height < MIN_HEIGHT {
        too_small(full, frame.buffer_mut());
        return;
    }
    if app.areas.full != full {
        app.on_resize(full.width, full.height);
    }
    let areas = app.areas;
    let buf = frame.buffer_mut();
    if app.mode.reading() {
        reader::reader(app, areas.body(), buf);
    } else {
        local(app, areas.local, buf);
        index(app, areas.index, buf);
        lookup(app, areas.lookup, buf);
        downloads(app, areas.downloads, buf);
        log(app, areas.log, buf);
    }
    status(app, areas.status, buf);
    hints(app, areas.hints, buf);
    let cursor = match app.mode {
        Mode::Help { .. } => {
            help(app, full, buf);
            None
        }
        Mode::Peers { .. } => {
            peers(app, full, buf);
            None
        }
        Mode::Detail => {
            detail(app, areas.downloads, buf);
            None
        }
        Mode::Typing => {
            let input = areas.input();
            let (prompt, width) = input_geometry(input);
            let scroll = app.lookup.input.visual_scroll(width);
            let x = input.x + prompt + (app.lookup.input.visual_cursor().saturating_sub(scroll)) as u16;
            Some((x.min(input.right().saturating_sub(1)), input.y))
        }
        Mode::Filter => panes::filter_cursor(app, areas.index),
        Mode::Search { .. } => reader::search_cursor(app, areas.body()),
        Mode::Browse(_) | Mode::Reader { .. } => None,
    };
    if let Some((x, y)) = cursor {
        frame.set_cursor_position(Position::new(x, y));
    }
}

fn too_small(area: Rect, buf: &mut Buffer) {
    let text = format!(
        "The terminal is {}×{}; p2pci needs at least {MIN_WIDTH}×{MIN_HEIGHT}. Enlarge it, or press q to leave.",
        area.width, area.height
    );
    Paragraph::new(text).wrap(Wrap { trim: true }).render(area, buf);
}

/// A pane's frame: thick and colored when focused.
fn pane<'a>(title: Vec<Span<'a>>, focused: bool) -> Block<'a> {
    let block = Block::bordered();
    let mut spans = vec![Span::raw(" ")];
    spans.extend(title);
    spans.push(Span::raw(" "));
    if focused {
        block
            .border_type(BorderType::Thick)
            .border_style(Style::new().fg(ACCENT))
            .title(Line::from(spans).style(Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)))
    } else {
        block.title(Line::from(spans))
    }
}

/// The selected row: reverse video in the focused pane; elsewhere plain
/// (the `›` marker, where there is one, keeps the place).
fn selected_style(focused: bool) -> Style {
    if focused { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() }
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

fn empty_state(text: &str, area: Rect, buf: &mut Buffer) {
    Paragraph::new(text)
        .style(dim().add_modifier(Modifier::ITALIC))
        .wrap(Wrap { trim: true })
        .render(area, buf);
}

/// The first visible row of a list of `len` rows, `height` of them shown,
/// after the selection moved: the view moves only when the selection left it.
pub fn window_offset(offset: usize, selected: usize, height: usize, len: usize) -> usize {
    let offset = if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    };
    offset.min(len.saturating_sub(height))
}

/// The prompt's width and the room left for the typed text.
fn input_geometry(input: Rect) -> (u16, usize) {
    let prompt = PROMPT.chars().count() as u16;
    (prompt, usize::from(input.width.saturating_sub(prompt + 1)))
}

const PROMPT: &str = "RFC › ";

fn label_width(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

/// Cuts `s` to `width` characters, marking the cut with `…`.
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `3,000`: a count with thousands separated.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The status line: the server connection, then a message or who we are. A
/// message too long for the line is shown whole, wrapped, just above it.
pub fn status(app: &App, area: Rect, buf: &mut Buffer) {
    let toast = app.messages.toast.as_ref();
    let short = toast.is_some();
    let server = &app.me.server;
    let (badge, color) = match &app.connection {
        Connection::Connecting => (format!("◌ connecting to {server}"), WARN),
        Connection::Connected if short => ("●".to_owned(), OK),
        Connection::Connected => (format!("● connected to {server}"), OK),
        Connection::Disconnected { reason: IndexError::Unresolvable { .. }, .. } if short => {
            ("✘ no such server name".to_owned(), ERROR)
        }
        Connection::Disconnected { .. } if short => ("✘ unreachable".to_owned(), ERROR),
        Connection::Disconnected { reason, retry_at } => {
            let when = match retry_at.map(|at| at.duration_since(app.now)) {
                Some(Ok(d)) if !d.is_zero() => format!(", retrying in {}", human::duration(d)),
                Some(_) => ", retrying now".to_owned(),
                None => String::new(),
            };
            let what = match reason {
                IndexError::Unresolvable { host } => format!("the server name {host} does not resolve"),
                _ => format!("{server} unreachable"),
            };
            (format!("✘ {what}{when}; still serving uploads"), ERROR)
        }
        Connection::Leaving => ("… leaving: closing the index connection".to_owned(), WARN),
        Connection::Closed => ("○ closed".to_owned(), WARN),
    };
    let mut spans = vec![Span::styled(format!(" {badge} "), Style::new().fg(color).bold())];
    spans.push(Span::styled("│ ", dim()));
    let lead = label_width(&spans);
    match toast {
        Some(t) => {
            let style = if t.error { Style::new().fg(ERROR) } else { Style::new() };
            let room = usize::from(area.width).saturating_sub(lead);
            if t.text.chars().count() <= room {
                spans.push(Span::styled(t.text.as_str(), style));
            } else {
                // The whole message, wrapped, in a band above the status line.
                spans.push(Span::styled("(message above)", dim()));
                let width = usize::from(area.width.saturating_sub(2)).max(1);
                let rows = (t.text.chars().count().div_ceil(width) + 1).min(usize::from(area.y)) as u16;
                let band = Rect {
                    x: area.x,
                    y: area.y.saturating_sub(rows + 1),
                    width: area.width,
                    height: rows + 1,
                };
                Clear.render(band, buf);
                let block = Block::new().borders(ratatui::widgets::Borders::TOP).border_style(style);
                let inner = block.inner(band);
                block.render(band, buf);
                Paragraph::new(Span::styled(t.text.as_str(), style))
                    .wrap(Wrap { trim: true })
                    .render(Rect { x: inner.x + 1, width: inner.width.saturating_sub(2), ..inner }, buf);
            }
        }
        None => {
            // Who we are, then the uploads count, each only if it fits whole.
            let mut rest = vec![format!("{}, upload port {}", app.me.host, app.me.upload_port)];
            if app.uploads_served > 0 {
                rest.push(format!("{} upload(s) served", app.uploads_served));
            }
            let mut used = lead;
            for (i, part) in rest.into_iter().enumerate() {
                let sep = if i > 0 { " │ " } else { "" };
                used += sep.chars().count() + part.chars().count();
                if used > usize::from(area.width) {
                    break;
                }
                if i > 0 {
                    spans.push(Span::styled(sep, dim()));
                }
                spans.push(Span::raw(part));
            }
        }
    }
    Line::from(spans).render(area, buf);
}

/// The hints the footer shows for `mode` in `lines` lines of `width`: every
/// binding when they fit; otherwise the mode's own keys first, dropping
/// from the end of the rest, but `? help` and the way out always stay last
/// (the help lists everything).
pub fn footer(mode: Mode, width: usize, lines: usize) -> Vec<Vec<&'static Binding>> {
    let all = keymap::bindings(mode);
    let keep = |b: &Binding| {
        b.label == "help" || b.label == "quit" || b.label.starts_with("close") || b.label == "back"
    };
    let mut shown = all.clone();
    loop {
        let wrapped = wrap_hints(&shown, width);
        if wrapped.len() <= lines {
            return wrapped;
        }
        // Drop the last binding that may go.
        let Some(at) = shown.iter().rposition(|b| !keep(b)) else { return wrapped };
        shown.remove(at);
    }
}

/// Hints wrapped between bindings, never inside one; each line starts
/// with a space, and bindings are two spaces apart.
fn wrap_hints(bindings: &[&'static Binding], width: usize) -> Vec<Vec<&'static Binding>> {
    let mut lines: Vec<Vec<&'static Binding>> = vec![Vec::new()];
    let mut used = 1;
    for b in bindings {
        let len = b.shown.chars().count() + 1 + b.label.chars().count();
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && used + 2 + len > width {
            lines.push(vec![b]);
            used = 1 + len;
        } else {
            used += if line.is_empty() { len } else { 2 + len };
            line.push(b);
        }
    }
    lines
}

/// The footer: the keys of what has the focus, from the keymap.
pub fn hints(app: &App, area: Rect, buf: &mut Buffer) {
    let lines: Vec<Line> = footer(app.mode, usize::from(area.width), usize::from(area.height.max(1)))
        .into_iter()
        .map(|bindings| {
            let mut line = Line::raw(" ");
            for (i, b) in bindings.into_iter().enumerate() {
                if i > 0 {
                    line.push_span(Span::raw("  "));
                }
                line.push_span(Span::styled(b.shown, Style::new().fg(ACCENT).bold()));
                line.push_span(Span::raw(format!(" {}", b.label)));
            }
            line
        })
        .collect();
    Paragraph::new(lines).render(area, buf);
}

/// Splits `text` into lines of at most `width` characters, between words.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line at least");
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if len > 0 {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// The help's text for `width` columns, from the keymap: each place's
/// keys (the explanation wrapped under itself, not under the keys), then
/// what the marks mean and how the peer works.
pub fn help_lines(width: usize) -> Vec<Line<'static>> {
    let key_style = Style::new().fg(ACCENT).bold();
    let heading = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    let scopes = keymap::scopes();
    let key_w = scopes
        .iter()
        .flat_map(|(_, t)| t.iter().map(|b| b.shown.chars().count()))
        .max()
        .unwrap_or(8)
        .min(width / 3);
    let text_w = width.saturating_sub(key_w + 2).max(10);
    let mut lines = Vec::new();
    let entry = |lines: &mut Vec<Line<'static>>, key: String, style: Style, what: &str| {
        for (i, part) in wrap_words(what, text_w).into_iter().enumerate() {
            let key = if i == 0 { format!("{key:>key_w$}  ") } else { " ".repeat(key_w + 2) };
            lines.push(Line::from(vec![Span::styled(key, style), Span::raw(part)]));
        }
    };
    for (scope, table) in scopes {
        lines.push(Line::styled(scope, heading));
        for b in table.into_iter().filter(|b| !b.is_ctrl_c()) {
            entry(&mut lines, b.shown.to_owned(), key_style, b.help);
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("Marks", heading));
    let marks = [
        ("●", OK, "in Local RFCs: the index has this peer's record of it"),
        (
            "○",
            WARN,
            "in Local RFCs: not in the index (yet): press a to advertise it; all are ○ while the server is away",
        ),
        ("(me)", ACCENT, "in the Index and Lookup: this peer's own record"),
        ("as of", WARN, "in a title: the server is away, and this is what it said at that time"),
    ];
    for (mark, color, what) in marks {
        entry(&mut lines, mark.to_owned(), Style::new().fg(color).bold(), what);
    }
    lines.push(Line::raw(""));
    for text in [
        "Peers ADD their RFCs to the index server; LOOKUP asks who holds one; GET fetches it straight \
         from that peer, and the new copy is ADDed too. The Index and Lookup refresh on their own. The \
         folder is watched: a dropped rfcN.txt is listed at once.",
        "P2P-CI has no message that removes a record, so s moves the file to unshared/ in the folder, \
         reconnects (the server forgets all of this peer's records) and ADDs the rest again.",
    ] {
        lines.extend(wrap_words(text, width).into_iter().map(Line::raw));
        lines.push(Line::raw(""));
    }
    lines.pop();
    lines
}

/// The help overlay, centered over everything; it scrolls when it does
/// not fit.
pub fn help(app: &mut App, full: Rect, buf: &mut Buffer) {
    let area = full.centered(Constraint::Max(100), Constraint::Percentage(90));
    Clear.render(area, buf);
    let lines = help_lines(usize::from(area.width.saturating_sub(2)));
    let rows = lines.len();
    let page = usize::from(area.height.saturating_sub(2));
    let max = rows.saturating_sub(page);
    app.help_scroll = app.help_scroll.min(max);
    let bottom = if max > 0 {
        format!(
            " ↑↓ PgUp/PgDn scroll ({} of {rows} lines) · ? or Esc closes ",
            app.help_scroll + page.min(rows)
        )
    } else {
        " ? or Esc closes ".to_owned()
    };
    let block = pane(vec![Span::raw("Help")], true).title_bottom(Line::from(bottom).centered());
    let inner = block.inner(area);
    block.render(area, buf);
    let shown: Vec<Line> = lines.into_iter().skip(app.help_scroll).take(page).collect();
    Paragraph::new(shown).render(inner, buf);
}

/// The Peers view: every peer the index names, with its number of records.
pub fn peers(app: &mut App, full: Rect, buf: &mut Buffer) {
    let area = full.centered(Constraint::Max(72), Constraint::Percentage(80));
    Clear.render(area, buf);
    let rows_n = app.peers.rows.len();
    let title = vec![Span::raw(format!(
        "Peers ({}) · from the index of {} record(s)",
        count(rows_n),
        count(app.index.total())
    ))];
    let block = pane(title, true).title_bottom(Line::from(" p or Esc closes ").centered());
    let inner = block.inner(area);
    block.render(area, buf);
    if app.peers.rows.is_empty() {
        empty_state("The index names no peer yet (press r to refresh it).", inner, buf);
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let selected = app.peers.list.selected().unwrap_or(0).min(rows_n - 1);
    let offset = window_offset(app.peers.list.offset(), selected, height, rows_n);
    *app.peers.list.offset_mut() = offset;
    let me = app.me_key();
    let rows = app.peers.rows.iter().skip(offset).take(height).map(|p| {
        let host = shown(&p.host);
        let host = if (p.host.as_str(), p.port) == me { format!("{host} (me)") } else { host.into_owned() };
        Row::new([Cell::from(host), Cell::from(p.port.to_string()), Cell::from(p.rfcs.to_string())])
    });
    let widths = [Constraint::Fill(1), Constraint::Length(6), Constraint::Length(8)];
    let header = Row::new(["Host", "Port", "RFCs"]).style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(selected_style(true))
        .highlight_symbol("› ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(selected - offset));
    StatefulWidget::render(table, inner, buf, &mut state);
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use insta::assert_snapshot;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::peer::{Direction, DownloadError, DownloadEvent, DownloadId, Holder, Link, NetEvent, Reply};
    use crate::protocol::{RfcNumber, Status};
    use crate::tui::app::lookup::LookupView;
    use crate::tui::app::tests::{app, key, press, record, t0, wire};
    use crate::tui::layout::{Areas, Content, Pane};

    fn screen(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, app)).unwrap();
        terminal
    }

    /// The symbols only, for widget tests that do not check colors.
    fn plain(mut buf: Buffer) -> Buffer {
        buf.set_style(buf.area, Style::reset());
        for cell in buf.content.iter_mut() {
            cell.set_style(Style::reset());
        }
        let mut out = Buffer::empty(buf.area);
        for (o, c) in out.content.iter_mut().zip(buf.content.iter()) {
            o.set_symbol(c.symbol());
        }
        out
    }

    fn render(area: Rect, f: impl FnOnce(Rect, &mut Buffer)) -> Buffer {
        let mut buf = Buffer::empty(area);
        f(area, &mut buf);
        plain(buf)
    }

    fn connected() -> App {
        let mut app = app();
        app.on_net(NetEvent::Connected { server: "127.0.0.1:7734".into() });
        app
    }

    fn populated() -> App {
        let mut app = connected();
        let text = "LIST ALL P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
        app.on_net(wire(Direction::Sent, Link::Server, text));
        let records = vec![
            record(8700, "Fifty Years of RFCs", "hostB", 40123),
            record(8601, "Policy and Requirements for the Name Server", "hostA", 2222),
            record(8600, "Using Conditional Router Advertisements for Enabling DNS", "hostA", 2222),
            record(8650, "Dynamic Subscription to YANG Events and Datastores over RESTCONF", "hostC", 40777),
        ];
        let mut answer = String::from("P2P-CI/1.0 200 OK\r\n\r\n");
        for r in &records {
            answer.push_str(&format!("RFC {} {} {} {}\r\n", r.rfc, r.title, r.host, r.port));
        }
        answer.push_str("\r\n");
        app.on_net(wire(Direction::Received, Link::Server, &answer));
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        app
    }

    fn with_lookup() -> App {
        let mut app = populated();
        press(&mut app, "/8700");
        app.on_key(key(KeyCode::Enter));
        let holders = vec![
            record(8700, "Fifty Years of RFCs", "hostB", 40123),
            record(8700, "Fifty Years of RFCs", "hostC", 40777),
        ];
        let rfc = RfcNumber(8700);
        app.on_net(NetEvent::Reply(Reply::Lookup { rfc, status: Status::Ok, records: holders }));
        press(&mut app, "j");
        app
    }

    /// Issue 17, item 4: titles, hosts, protocol messages and reasons a
    /// hostile server (or holder) sends are drawn escaped in every pane:
    /// no cell holds a control character, and the sequence shows as text
    /// (`\x1b]0;pwned`), not silently dropped by the renderer.
    #[test]
    fn bytes_a_hostile_server_sends_are_drawn_escaped() {
        const EVIL: &str = "\x1b]0;pwned\x07\x1b[2J";
        let (title, host) = (format!("T{EVIL}"), format!("ev{EVIL}"));
        let mut app = app();
        app.on_resize(140, 44);
        app.lookup.view = LookupView::Pending(RfcNumber(1));
        let records = vec![record(1, &title, &host, 5000)];
        app.on_net(NetEvent::Reply(Reply::Lookup { rfc: RfcNumber(1), status: Status::Ok, records }));
        let records = vec![record(1, &title, &host, 5000)];
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        let answer = format!("P2P-CI/1.0 200 OK\r\n\r\nRFC 1 {title} {host} 5000\r\n\r\n");
        app.on_net(wire(Direction::Received, Link::Server, &answer));
        let from = Holder { host: host.clone(), port: 5000 };
        let id = DownloadId(1);
        app.on_net(NetEvent::Download {
            id,
            event: DownloadEvent::Started { rfc: RfcNumber(1), from: from.clone() },
        });
        let reason = DownloadError::Refused(Status::NotFound);
        app.on_net(NetEvent::Download {
            id,
            event: DownloadEvent::HolderFailed {
                from: from.clone(),
                reason: reason.clone(),
                retrying: false,
            },
        });
        app.on_net(NetEvent::Notice(format!("{host} does not resolve; trying 127.0.0.1:5000")));
        let reason = DownloadError::AllFailed { tried: 1, last: from, error: Box::new(reason) };
        app.on_net(NetEvent::Download { id, event: DownloadEvent::Failed { rfc: RfcNumber(1), reason } });
        for mode in [Mode::Browse(Pane::Index), Mode::Browse(Pane::Lookup)] {
            app.mode = mode;
            let terminal = screen(&mut app, 140, 44);
            let buf = terminal.backend().buffer();
            let rows: Vec<String> = (0..buf.area.height)
                .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
                .collect();
            let text = rows.join("\n");
            for cell in &buf.content {
                assert!(!cell.symbol().contains(char::is_control), "{:?} in\n{text}", cell.symbol());
            }
            // The Lookup pane's title and holder, the Index row, the log
            // (answer and notice), the Downloads row and the message line.
            let shown = text.matches(r"\x1b]0;pwned\x07").count();
            assert!(shown >= 5, "{shown} escaped sequence(s) on screen:\n{text}");
        }
    }

    fn downloading() -> App {
        let mut app = with_lookup();
        let b = Holder { host: "hostB".into(), port: 40123 };
        let c = Holder { host: "hostC".into(), port: 40777 };
        let (one, two, three) = (DownloadId(1), DownloadId(2), DownloadId(3));
        let done = DownloadEvent::Done {
            rfc: RfcNumber(8650),
            from: c.clone(),
            path: PathBuf::from("hostA/rfc8650.txt"),
            bytes: 143_360,
            elapsed: Duration::from_millis(120),
        };
        app.on_net(NetEvent::Download { id: one, event: done });
        app.on_net(NetEvent::Download {
            id: two,
            event: DownloadEvent::Started { rfc: RfcNumber(8700), from: b },
        });
        let get = "GET RFC 8700 P2P-CI/1.0\r\nHost: hostA\r\nOS: Linux 6.1\r\n\r\n";
        app.on_net(wire(Direction::Sent, Link::Download(Holder { host: "hostB".into(), port: 40123 }), get));
        app.on_net(NetEvent::Download {
            id: three,
            event: DownloadEvent::Started { rfc: RfcNumber(8800), from: c },
        });
        app.on_tick(t0() + Duration::from_secs(2));
        let progress = DownloadEvent::Progress { received: 40_960, total: 102_400 };
        app.on_net(NetEvent::Download { id: two, event: progress });
        let addr: SocketAddr = "127.0.0.1:51000".parse().unwrap();
        let upload = "GET RFC 8600 P2P-CI/1.0\r\nHost: hostD\r\nOS: Linux 6.1\r\n\r\n";
        app.on_net(wire(Direction::Received, Link::Upload(addr), upload));
        app.on_net(NetEvent::Uploaded {
            to: addr,
            rfc: Some(RfcNumber(8600)),
            status: Status::Ok,
            bytes: 20_480,
        });
        app.messages.toast = None;
        app
    }

    /// Moving up from the bottom of a long list keeps the view still until
    /// the selection reaches its top edge.
    #[test]
    fn lists_scroll_only_when_the_selection_leaves_the_view() {
        let mut app = connected();
        let records: Vec<_> = (0..40).map(|n| record(9000 + n, "T", "hostB", 40123)).collect();
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
        let area = Rect::new(0, 0, 60, 8);
        let first_row = |app: &mut App| {
            let buf = render(area, |a, b| index(&mut *app, a, b));
            (0..area.width).map(|x| buf[(x, 2)].symbol().to_owned()).collect::<String>()
        };
        for _ in 0..20 {
            press(&mut app, "j");
        }
        let bottom = first_row(&mut app);
        assert!(!bottom.contains("9000"), "scrolled down: {bottom}");
        press(&mut app, "k");
        assert_eq!(first_row(&mut app), bottom, "one step up does not scroll");
        for _ in 0..19 {
            press(&mut app, "k");
        }
        assert!(first_row(&mut app).contains("9000"), "back at the top");
    }

    #[test]
    fn empty_screen() {
        let mut app = App::new(crate::tui::app::tests::me(), vec![], t0());
        assert_snapshot!(screen(&mut app, 80, 24).backend());
    }

    #[test]
    fn populated_screen() {
        assert_snapshot!(screen(&mut populated(), 80, 24).backend());
    }

    #[test]
    fn typing_a_lookup() {
        let mut app = populated();
        press(&mut app, "/87");
        let mut terminal = screen(&mut app, 80, 24);
        assert_snapshot!(terminal.backend());
        let input = Areas::new(Rect::new(0, 0, 80, 24), Content::default()).input();
        terminal.backend_mut().assert_cursor_position((input.x + 6 + 2, input.y));
    }

    #[test]
    fn lookup_results_screen() {
        assert_snapshot!(screen(&mut with_lookup(), 80, 24).backend());
    }

    #[test]
    fn downloads_screen() {
        assert_snapshot!(screen(&mut downloading(), 80, 24).backend());
    }

    #[test]
    fn error_screen() {
        let mut app = populated();
        press(&mut app, "/8999");
        app.on_key(key(KeyCode::Enter));
        let reason = crate::peer::IndexError::Connect {
            server: "127.0.0.1:7734".into(),
            error: "Connection refused (os error 111)".into(),
        };
        app.on_net(NetEvent::Disconnected { reason, retry_in: Some(Duration::from_millis(400)) });
        app.on_net(NetEvent::Error(crate::peer::PeerError::about(
            crate::peer::Request::Lookup(RfcNumber(8999)),
            crate::peer::IndexError::NotConnected { servers: "127.0.0.1:7734".into() },
        )));
        let failed = DownloadEvent::Failed {
            rfc: RfcNumber(8650),
            reason: crate::peer::DownloadError::AllFailed {
                tried: 1,
                last: Holder { host: "hostC".into(), port: 40777 },
                error: Box::new(crate::peer::DownloadError::Refused(Status::NotFound)),
            },
        };
        app.on_net(NetEvent::Download { id: DownloadId(1), event: failed });
        assert_snapshot!(screen(&mut app, 80, 24).backend());
    }

    #[test]
    fn disconnected_status_without_a_message() {
        let mut app = populated();
        app.on_net(NetEvent::Disconnected {
            reason: crate::peer::IndexError::Closed,
            retry_in: Some(Duration::from_secs(2)),
        });
        app.messages.toast = None;
        let buf = render(Rect::new(0, 0, 80, 1), |a, b| status(&app, a, b));
        assert_eq!(
            buf,
            Buffer::with_lines([
                " ✘ 127.0.0.1:7734 unreachable, retrying in 2.0 s; still serving uploads │       "
            ])
        );
    }

    #[test]
    fn a_server_name_that_does_not_resolve_is_said_plainly() {
        let mut app = populated();
        app.me.server = "nosuch.invalid:7734".into();
        let reason = IndexError::Unresolvable { host: "nosuch.invalid".into() };
        app.on_net(NetEvent::Disconnected { reason, retry_in: Some(Duration::from_secs(4)) });
        app.messages.toast = None;
        let buf = render(Rect::new(0, 0, 100, 1), |a, b| status(&app, a, b));
        let line: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(
            line.trim_end(),
            " ✘ the server name nosuch.invalid does not resolve, retrying in 4.0 s; still serving uploads │"
        );
        assert!(app.log.lines.iter().any(|l| l.text.contains("cannot resolve nosuch.invalid")));
    }

    #[test]
    fn help_overlay() {
        let mut app = populated();
        press(&mut app, "?");
        assert_snapshot!(screen(&mut app, 80, 24).backend());
    }

    #[test]
    fn wide_screen() {
        assert_snapshot!(screen(&mut downloading(), 120, 40).backend());
    }

    #[test]
    fn a_cut_title_is_shown_longer_below_the_index() {
        let mut app = populated();
        press(&mut app, "jj");
        let area = Rect::new(0, 0, 52, 8);
        let buf = render(area, |a, b| index(&mut app, a, b));
        let bottom: String = (0..area.width).map(|x| buf[(x, 7)].symbol()).collect();
        assert_eq!(bottom, "┗ 8600 Using Conditional Router Advertisements fo… ┛");
        assert_snapshot!("index_long_title_80x24", screen(&mut app, 80, 24).backend());
    }

    #[test]
    fn populated_screen_200x50() {
        assert_snapshot!(screen(&mut downloading(), 200, 50).backend());
    }

    #[test]
    fn peers_view() {
        let mut app = populated();
        press(&mut app, "p");
        assert_snapshot!("peers_view_80x24", screen(&mut app, 80, 24).backend());
        assert_snapshot!("peers_view_200x50", screen(&mut app, 200, 50).backend());
    }

    #[test]
    fn download_detail() {
        let mut app = downloading();
        let last = Holder { host: "hostD".into(), port: 2225 };
        let error = Box::new(DownloadError::TooLarge { announced: 405_623_566, limit: 256 << 20 });
        let reason = DownloadError::AllFailed { tried: 1, last, error };
        let failed = DownloadEvent::Failed { rfc: RfcNumber(9999), reason };
        app.on_net(NetEvent::Download { id: DownloadId(9), event: failed });
        app.messages.toast = None;
        app.mode = Mode::Browse(Pane::Downloads);
        press(&mut app, "jj");
        assert_snapshot!("failed_row_80x24", screen(&mut app, 80, 24).backend());
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Detail);
        assert_snapshot!("download_detail_80x24", screen(&mut app, 80, 24).backend());
        assert_snapshot!("download_detail_200x50", screen(&mut app, 200, 50).backend());
    }

    #[test]
    fn a_long_message_is_shown_whole() {
        let mut app = populated();
        let text = "not connected to the index server 127.0.0.1:7734 (connection refused); \
                    retrying in 4.0 s — uploads go on meanwhile";
        let servers =
            "127.0.0.1:7734 (connection refused); retrying in 4.0 s — uploads go on meanwhile".into();
        app.on_net(NetEvent::Error(crate::peer::PeerError::about(
            crate::peer::Request::List,
            IndexError::NotConnected { servers },
        )));
        let shown = screen(&mut app, 80, 24).backend().to_string().replace(['"', '\n', ' '], "");
        assert!(shown.contains(&text.replace(' ', "")), "{shown}");
        assert_snapshot!("long_message_80x24", screen(&mut app, 80, 24).backend());
    }

    #[test]
    fn the_log_scrolls_sideways() {
        let mut app = populated();
        app.mode = Mode::Browse(Pane::Log);
        press(&mut app, "llllll");
        assert_snapshot!("log_sideways_80x24", screen(&mut app, 80, 24).backend());
    }

    #[test]
    fn too_small_screen() {
        let terminal = screen(&mut populated(), 40, 10);
        let text = terminal.backend().to_string();
        assert!(text.contains("p2pci needs at"), "{text}");
    }

    #[test]
    fn local_pane_lists_number_and_title() {
        let mut app = app();
        app.mode = Mode::Browse(Pane::Local);
        app.local.in_index.insert(RfcNumber(8600));
        let area = Rect::new(0, 0, 30, 4);
        let mut buf = Buffer::empty(area);
        local(&mut app, area, &mut buf);
        assert_eq!(
            plain(buf.clone()),
            Buffer::with_lines([
                "┏ Local RFCs (2) ━━━━━━━━━━━━┓",
                "┃● 8600 Using Conditional Rou┃",
                "┃○ 8601 Policy and Requiremen┃",
                "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
            ])
        );
        // In the index: green; not yet: magenta; the selection reversed.
        assert_eq!(buf[(1, 1)].fg, OK);
        assert_eq!(buf[(1, 2)].fg, WARN);
        assert!(buf[(5, 1)].modifier.contains(Modifier::REVERSED | Modifier::BOLD));
        assert!(!buf[(5, 2)].modifier.contains(Modifier::REVERSED));
        assert_eq!(buf[(0, 0)].fg, ACCENT, "the focused pane's border");
    }

    #[test]
    fn local_pane_updates_when_a_download_lands() {
        let mut app = App::new(crate::tui::app::tests::me(), vec![], t0());
        let area = Rect::new(0, 0, 30, 4);
        let before = render(area, |a, b| local(&mut app, a, b));
        assert_eq!(
            before,
            Buffer::with_lines([
                "┌ Local RFCs (0) ────────────┐",
                "│Nothing shared yet. Press / │",
                "│to look up an RFC and       │",
                "└────────────────────────────┘",
            ])
        );
        app.on_net(NetEvent::Library(vec![crate::tui::app::tests::local(8700, "Fifty Years of RFCs")]));
        let after = render(area, |a, b| local(&mut app, a, b));
        assert_eq!(
            after,
            Buffer::with_lines([
                "┌ Local RFCs (1) ────────────┐",
                "│○ 8700 Fifty Years of RFCs  │",
                "│                            │",
                "└────────────────────────────┘",
            ])
        );
    }

    #[test]
    fn index_empty_states() {
        let mut app = connected();
        let area = Rect::new(0, 0, 50, 3);
        let loading = render(area, |a, b| index(&mut app, a, b));
        assert_eq!(
            loading,
            Buffer::with_lines([
                "┏ Index (0) · refreshing… ━━━━━━━━━━━━━━━━━━━━━━━┓",
                "┃Asking the index server (LIST ALL)…             ┃",
                "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
            ])
        );
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
        let empty = render(Rect::new(0, 0, 50, 4), |a, b| index(&mut app, a, b));
        assert_eq!(
            empty,
            Buffer::with_lines([
                "┏ Index (0) · newest first ━━━━━━━━━━━━━━━━━━━━━━┓",
                "┃No RFCs in the index yet — press a to advertise ┃",
                "┃yours, r to refresh.                            ┃",
                "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
            ])
        );
    }

    #[test]
    fn download_rows_show_bytes_percent_and_rate() {
        let mut app = downloading();
        let area = Rect::new(0, 0, 60, 5);
        let buf = render(area, |a, b| downloads(&mut app, a, b));
        assert_eq!(
            buf,
            Buffer::with_lines([
                "┌ Downloads (2 running) ───────────────────────────────────┐",
                "│↓ 8700 hostB:40123 ━━━━━─────────  40% 40/100 KiB 20 KiB/s│",
                "│↓ 8800 connecting to hostC:40777…                         │",
                "│✔ 8650 from hostC:40777: 140 KiB in 120 ms                │",
                "└──────────────────────────────────────────────────────────┘",
            ])
        );
    }

    #[test]
    fn log_lines_are_marked_and_colored() {
        let app = downloading();
        let area = Rect::new(0, 0, 70, 6);
        let mut buf = Buffer::empty(area);
        log(&app, area, &mut buf);
        let text = plain(buf.clone());
        assert_eq!(
            text,
            Buffer::with_lines([
                "┌ Protocol log · times UTC ──────────────────────────────────────────┐",
                "│12:00:00 ← 127.0.0.1:51000 GET RFC 8600 P2P-CI/1.0                  │",
                "│                           Host: hostD                              │",
                "│                           OS: Linux 6.1                            │",
                "│12:00:02 · served RFC 8600 to 127.0.0.1:51000: 20 KiB               │",
                "└────────────────────────────────────────────────────────────────────┘",
            ])
        );
        // Received messages are green, sent ones cyan, times dim.
        assert_eq!(buf[(10, 1)].fg, RECEIVED);
        assert_eq!(buf[(12, 1)].fg, RECEIVED);
        assert_eq!(buf[(1, 1)].fg, Color::DarkGray);
        let mut app = app;
        app.on_net(wire(Direction::Sent, Link::Server, "LIST ALL P2P-CI/1.0\r\n\r\n"));
        let mut buf = Buffer::empty(area);
        log(&app, area, &mut buf);
        assert_eq!(buf[(10, 4)].fg, SENT);
        assert_eq!(buf[(10, 4)].symbol(), "→");
    }

    #[test]
    fn hints_follow_the_focus() {
        let mut app = app();
        let hint = |app: &App, width: u16, height: u16| {
            let area = Rect::new(0, 0, width, height);
            let buf = render(area, |a, b| hints(app, a, b));
            let rows: Vec<String> = (0..height)
                .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_owned())
                .collect();
            rows.join("\n")
        };
        assert_eq!(
            hint(&app, 80, 2),
            " ↑↓/jk PgUp/PgDn Home/End move  d/Enter download  f filter  / lookup  r refresh\n \
             a advertise  p peers  Tab/S-Tab pane  Esc dismiss  ? help  q/Ctrl-C quit"
        );
        app.mode = Mode::Browse(Pane::Log);
        assert!(hint(&app, 200, 1).contains("Home/End oldest/follow  ←→/hl pan"));
        press(&mut app, "/");
        assert_eq!(
            hint(&app, 200, 1),
            " Enter look up  ←→ Home/End Bksp/Del edit  ↓ holders  Esc stop typing  Tab/S-Tab pane  Ctrl-C quit"
        );
        // At 80 and at 60 columns, on the two lines: a mode's own keys,
        // `? help` and the way out always, whatever else had to go.
        for width in [80, 60] {
            for mode in all_modes() {
                app.mode = mode;
                let shown = hint(&app, width, 2).replace('\n', " ");
                let table = keymap::bindings(mode);
                let own = match mode {
                    Mode::Browse(_) => {
                        table.len()
                            - table
                                .iter()
                                .filter(|b| {
                                    b.label == "help"
                                        || b.label == "quit"
                                        || ["lookup", "refresh", "advertise", "peers", "pane", "dismiss"]
                                            .contains(&b.label)
                                })
                                .count()
                    }
                    _ => table.len(),
                };
                for b in &table[..own.min(if width == 60 { 2 } else { own })] {
                    assert!(
                        shown.contains(&format!("{} {}", b.shown, b.label)),
                        "{width}: {mode:?}: {} in {shown}",
                        b.shown
                    );
                }
                for b in table.iter().filter(|b| {
                    b.label == "help"
                        || b.label == "quit"
                        || b.label.starts_with("close")
                        || b.label == "back"
                }) {
                    assert!(
                        shown.contains(&format!("{} {}", b.shown, b.label)),
                        "{width}: {mode:?}: {} in {shown}",
                        b.shown
                    );
                }
            }
        }
    }

    fn all_modes() -> Vec<Mode> {
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

    /// The footer's keys, one token each: `↑↓/jk PgUp/PgDn` names `↑↓`,
    /// `jk`, `PgUp` and `PgDn`.
    fn footer_keys(mode: Mode) -> Vec<String> {
        let mut out = Vec::new();
        for b in keymap::bindings(mode) {
            for word in b.shown.split(' ') {
                if word == "/" {
                    out.push(word.to_owned());
                } else {
                    out.extend(word.split('/').map(str::to_owned));
                }
            }
        }
        out
    }

    /// The footer token that names `key` (an arrow is named by any token
    /// holding it: `↑↓`, `↓`).
    fn token(key: &KeyEvent) -> String {
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            return "Ctrl-C".into();
        }
        match key.code {
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Char('j' | 'k') => "jk".into(),
            KeyCode::Char('h' | 'l') => "hl".into(),
            KeyCode::Char(c) if c.is_ascii_digit() => "0-9".into(),
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Delete => "Del".into(),
            other => format!("{other:?}"),
        }
    }

    /// An app where every key can do something: lists of several rows with
    /// the middle one selected, a log scrolled halfway back and sideways,
    /// and `mode` entered as a user would.
    fn busy_in(mode: Mode) -> App {
        let mut app = downloading();
        app.on_resize(80, 24);
        app.local.rfcs.push(crate::tui::app::tests::local(8602, "Another"));
        let records =
            (0..40).map(|n| record(9000 + n, "T", if n % 2 == 0 { "hostB" } else { "hostC" }, 5000));
        app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: records.collect() }));
        let holders = (0..5).map(|n| record(8700, "Fifty Years of RFCs", "hostB", 5000 + n)).collect();
        app.on_net(NetEvent::Reply(Reply::Lookup {
            rfc: RfcNumber(8700),
            status: Status::Ok,
            records: holders,
        }));
        for n in 0..100 {
            app.on_net(NetEvent::Notice(format!(
                "line {n} of a long log, longer than the pane is wide, {}",
                "x".repeat(80)
            )));
        }
        app.local.list.select(Some(1));
        app.index.table.select(Some(20));
        app.lookup.list.select(Some(2));
        app.downloads.list.select(Some(1));
        app.log.scroll = 50;
        app.log.hscroll = 16;
        app.lookup.input = "8700".into();
        let text: String =
            (0..200).map(|i| format!("line {i} of the RFC, IPsec every {}\n", i % 7)).collect();
        app.index.filter = "9".into();
        app.index.refilter();
        app.mode = match mode {
            Mode::Help { back } | Mode::Peers { back } => Mode::Browse(back),
            Mode::Detail => Mode::Browse(Pane::Downloads),
            Mode::Reader { .. } | Mode::Search { .. } => {
                let mut r =
                    crate::tui::app::reader::Reader::from_bytes(RfcNumber(8600), "T", text.as_bytes());
                r.scroll = 50;
                r.input = "ipsec".into();
                r.search(10);
                app.reader = Some(r);
                mode
            }
            m => m,
        };
        match mode {
            Mode::Help { .. } => drop(app.on_key(key(KeyCode::Char('?')))),
            Mode::Peers { .. } => {
                app.on_key(key(KeyCode::Char('p')));
                app.peers.list.select(Some(1));
            }
            Mode::Detail => drop(app.on_key(key(KeyCode::Enter))),
            _ => {}
        }
        assert_eq!(app.mode, mode);
        app
    }

    /// Every key that does something in a mode (sends a command or changes
    /// anything but the message line) is named in that mode's footer.
    #[test]
    fn every_key_a_pane_accepts_is_in_its_footer() {
        let mut probes: Vec<KeyEvent> = [
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Delete,
        ]
        .into_iter()
        .chain(('a'..='z').chain("?/5 RN".chars()).map(KeyCode::Char))
        .map(key)
        .collect();
        probes.push(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        let modes = all_modes();
        let quiet = |app: &App| {
            let mut text = format!("{app:?}");
            if let Some(t) = &app.messages.toast {
                text = text.replace(&format!("{t:?}"), "");
            }
            text
        };
        for mode in modes {
            let listed = footer_keys(mode);
            for probe in &probes {
                // Typing: letters and digits are text, not keys.
                if keymap::types(mode) && matches!(probe.code, KeyCode::Char(_)) && probe.modifiers.is_empty()
                {
                    continue;
                }
                let mut app = busy_in(mode);
                let before = quiet(&app);
                let sent = app.on_key(*probe);
                if sent.is_some() || quiet(&app) != before {
                    let t = token(probe);
                    let arrow =
                        matches!(probe.code, KeyCode::Up | KeyCode::Down | KeyCode::Left | KeyCode::Right);
                    let named = listed.iter().any(|l| *l == t || (arrow && l.contains(&t)));
                    assert!(
                        named,
                        "{mode:?}: {probe:?} ({t}) does something but the footer lists {listed:?}"
                    );
                }
            }
        }
    }
}
