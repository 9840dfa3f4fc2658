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
        // Overlays leave the status line and the footer in view.
        Mode::Help { .. } => {
            help(app, areas.body(), buf);
            None
        }
        Mode::Peers { .. } => {
            peers(app, areas.body(), buf);
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
mod tests;
