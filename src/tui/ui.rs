//! Drawing: from [`App`] to a frame.
//!
//! Nothing here reads a clock or talks to the engine, and the only state it
//! changes is the lists' scroll positions (ratatui's `ListState` and
//! `TableState`, held in the app and passed `&mut`, as ratatui's stateful
//! widgets are meant to be used): the same `App` draws the same screen, which
//! is what makes the `TestBackend` snapshots meaningful. Each pane is its own
//! function over a `Buffer` area, so widget tests can draw one pane alone.
//! Only visible rows are built: a frame costs the same with five index
//! records or a million.
//!
//! Colors are the terminal's named ANSI colors, used only as accents (borders,
//! arrows, badges) over the default foreground, and the selection is shown in
//! reverse video: both read on dark and light themes alike. Focus is shown
//! twice, by color and by a thick border, so it survives a monochrome
//! terminal.

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, BorderType, Cell, Clear, HighlightSpacing, LineGauge, List, ListItem, ListState, Paragraph, Row,
    StatefulWidget, Table, TableState, Widget, Wrap,
};

use super::app::{
    App, Connection, Download, DownloadState, IndexStatus, LogKind, LookupView, Mode, human_bytes,
    human_duration,
};
use super::layout::{Areas, MIN_HEIGHT, MIN_WIDTH, Pane};
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

/// Width of the log's `who` column.
const WHO_WIDTH: usize = 15;

/// Draws the whole screen, and puts the cursor in the lookup box while typing.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let full = frame.area();
    if full.width < MIN_WIDTH || full.height < MIN_HEIGHT {
        too_small(full, frame.buffer_mut());
        return;
    }
    if app.areas.full != full {
        app.on_resize(full.width, full.height);
    }
    let areas = Areas::new(full);
    let buf = frame.buffer_mut();
    local(app, areas.local, buf);
    index(app, areas.index, buf);
    lookup(app, areas.lookup, buf);
    downloads(app, areas.downloads, buf);
    log(app, areas.log, buf);
    status(app, areas.status, buf);
    hints(app, areas.hints, buf);
    match app.mode {
        Mode::Help { .. } => help(full, buf),
        Mode::Peers { .. } => peers(app, full, buf),
        Mode::Detail => detail(app, areas.downloads, buf),
        Mode::Typing => {
            let input = areas.input();
            let (prompt, width) = input_geometry(input);
            let scroll = app.input.visual_scroll(width);
            let x = input.x + prompt + (app.input.visual_cursor().saturating_sub(scroll)) as u16;
            frame.set_cursor_position(Position::new(x.min(input.right().saturating_sub(1)), input.y));
        }
        Mode::Browse(_) => {}
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

/// The Local RFCs pane: what this peer shares. `●` marks an RFC the index
/// has a record of for this peer, `○` one it has not (not advertised yet).
pub fn local(app: &mut App, area: Rect, buf: &mut Buffer) {
    let focused = app.mode.browsing(Pane::Local);
    let mut title = vec![Span::raw(format!("Local RFCs ({})", app.local.len()))];
    let unlisted = app.local.iter().filter(|l| !app.in_index.contains(&l.rfc)).count();
    if unlisted > 0 && app.connection == Connection::Connected {
        let long = format!(" · {unlisted} ○ not in the index");
        let room = usize::from(area.width).saturating_sub(label_width(&title) + 4);
        let text = if long.chars().count() <= room { long } else { format!(" · ○ {unlisted}") };
        title.push(Span::styled(text, Style::new().fg(WARN)));
    }
    let block = pane(title, focused);
    let inner = block.inner(area);
    block.render(area, buf);
    if app.local.is_empty() {
        empty_state(
            "Nothing shared yet. Press / to look up an RFC and download it, or drop an rfcN.txt into the folder.",
            inner,
            buf,
        );
        return;
    }
    let items: Vec<ListItem> = app
        .local
        .iter()
        .map(|l| {
            let mark = if app.in_index.contains(&l.rfc) {
                Span::styled("● ", Style::new().fg(OK))
            } else {
                Span::styled("○ ", Style::new().fg(WARN))
            };
            ListItem::new(Line::from(vec![
                mark,
                Span::raw(format!("{:>4} ", l.rfc)).bold(),
                Span::raw(shown(&l.title)),
            ]))
        })
        .collect();
    let list = List::new(items).highlight_style(selected_style(focused));
    StatefulWidget::render(list, inner, buf, &mut app.local_list);
}

/// The Index pane: the server's LIST, newest first.
pub fn index(app: &mut App, area: Rect, buf: &mut Buffer) {
    let focused = app.mode.browsing(Pane::Index);
    let mut title = vec![Span::raw(format!("Index ({})", app.index.len()))];
    match &app.index_status {
        IndexStatus::Loading => title.push(Span::raw(" · refreshing…")),
        IndexStatus::Failed(_) => title.push(Span::styled(" · refresh failed", Style::new().fg(ERROR))),
        IndexStatus::NotLoaded | IndexStatus::Loaded => title.push(Span::raw(" · newest first")),
    }
    let mut block = pane(title, focused);
    // The selected record's title, whole, on the bottom border when the
    // Title column cuts it.
    let title_room =
        usize::from(area.width).saturating_sub(2 + 2 + 6 + 6 + 1 + (app.index.host_width() + 6).min(25));
    if focused
        && let Some(r) = app.index.get(app.index_selected())
        && r.title.chars().count() > title_room
    {
        let room = usize::from(area.width.saturating_sub(4));
        let whole = format!("{} {}", r.rfc, shown(r.title));
        block = block.title_bottom(Line::from(format!(" {} ", fit(&whole, room))));
    }
    let inner = block.inner(area);
    block.render(area, buf);
    if app.index.is_empty() {
        let text = match &app.index_status {
            IndexStatus::NotLoaded => "Not loaded yet — press r to refresh.".to_owned(),
            IndexStatus::Loading => "Asking the index server (LIST ALL)…".to_owned(),
            IndexStatus::Loaded => {
                "No RFCs in the index yet — press a to advertise yours, r to refresh.".to_owned()
            }
            IndexStatus::Failed(e) => format!("Could not refresh: {}. Press r to try again.", shown(e)),
        };
        empty_state(&text, inner, buf);
        return;
    }
    // Rows are built for the visible window only.
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let selected = app.index_selected().min(app.index.len() - 1);
    let offset = window_offset(app.index_table.offset(), selected, height, app.index.len());
    *app.index_table.offset_mut() = offset;
    let me = (app.me.host.as_str(), app.me.upload_port);
    let rows = app.index.window(offset, height).map(|r| {
        let host = shown(r.host);
        let host = if (r.host, r.port) == me { format!("{host} (me)") } else { host.into_owned() };
        Row::new([
            Cell::from(r.rfc.to_string()),
            Cell::from(shown(r.title)),
            Cell::from(host),
            Cell::from(r.port.to_string()),
        ])
    });
    let host_w = (app.index.host_width() + 5).clamp(4, 24) as u16;
    let widths =
        [Constraint::Length(5), Constraint::Fill(1), Constraint::Length(host_w), Constraint::Length(5)];
    let header = Row::new(["RFC", "Title", "Host", "Port"]).style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(selected_style(focused))
        .highlight_symbol("› ")
        .highlight_spacing(HighlightSpacing::Always);
    // The window's own state: row 0 of `rows` is row `offset` of the index.
    let mut state = TableState::default().with_selected(Some(selected - offset));
    StatefulWidget::render(table, inner, buf, &mut state);
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

/// The Lookup pane: the input box, then the holders of the RFC looked up.
pub fn lookup(app: &mut App, area: Rect, buf: &mut Buffer) {
    let typing = app.mode == Mode::Typing;
    let focused = app.mode.browsing(Pane::Lookup) || typing;
    let mut title = vec![Span::raw("Lookup")];
    if let LookupView::Found { holders, .. } = &app.lookup {
        title.push(Span::raw(format!(" · {} holder(s)", holders.len())));
    }
    let block = pane(title, focused);
    let inner = block.inner(area);
    block.render(area, buf);
    let [input_area, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);

    let (_, width) = input_geometry(input_area);
    let scroll = app.input.visual_scroll(width);
    let value: String = app.input.value().chars().skip(scroll).collect();
    let prompt_style = if typing { Style::new().fg(ACCENT).bold() } else { Style::new().bold() };
    let mut spans = vec![Span::styled(PROMPT, prompt_style)];
    if value.is_empty() && !typing {
        spans.push(Span::styled("press /", dim().add_modifier(Modifier::ITALIC)));
    } else {
        let style = if typing { Style::new().add_modifier(Modifier::UNDERLINED) } else { Style::new() };
        spans.push(Span::styled(value, style));
    }
    Line::from(spans).render(input_area, buf);

    let message = |text: String, style: Style| Paragraph::new(text).style(style).wrap(Wrap { trim: true });
    match &app.lookup {
        LookupView::Idle => message(
            "Type an RFC number, Enter asks the server who holds it.".into(),
            dim().add_modifier(Modifier::ITALIC),
        )
        .render(rest, buf),
        LookupView::Invalid(text) => {
            message(format!("“{text}” is not an RFC number."), Style::new().fg(ERROR)).render(rest, buf)
        }
        LookupView::Pending(rfc) => {
            message(format!("Looking up RFC {rfc}…"), dim().add_modifier(Modifier::ITALIC)).render(rest, buf)
        }
        LookupView::NotFound(rfc) => {
            message(format!("No peer holds RFC {rfc} (404 Not Found)."), Style::new().fg(WARN))
                .render(rest, buf)
        }
        LookupView::Failed { rfc, reason } => {
            message(format!("LOOKUP RFC {rfc} failed: {}", shown(reason)), Style::new().fg(ERROR))
                .render(rest, buf)
        }
        LookupView::Found { holders, .. } => {
            let [title_area, list_area] =
                Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(rest);
            let title = holders.first().map(|r| shown(&r.title)).unwrap_or_default();
            Line::styled(title, Style::new().add_modifier(Modifier::ITALIC)).render(title_area, buf);
            // Items are built for the visible window only: a hostile index
            // may name 200,000 holders.
            let height = usize::from(list_area.height).max(1);
            let selected = app.holders_list.selected().map(|s| s.min(holders.len().saturating_sub(1)));
            let offset =
                window_offset(app.holders_list.offset(), selected.unwrap_or(0), height, holders.len());
            *app.holders_list.offset_mut() = offset;
            let items: Vec<ListItem> = holders
                .iter()
                .skip(offset)
                .take(height)
                .map(|r| {
                    let mine = r.host == app.me.host && r.port == app.me.upload_port;
                    let text = format!("{}:{}{}", shown(&r.host), r.port, if mine { " (me)" } else { "" });
                    ListItem::new(text)
                })
                .collect();
            let list = List::new(items)
                .highlight_style(selected_style(focused && !typing))
                .highlight_symbol("› ")
                .highlight_spacing(HighlightSpacing::Always);
            let mut state = ListState::default().with_selected(selected.map(|s| s - offset));
            StatefulWidget::render(list, list_area, buf, &mut state);
        }
    }
}

/// The Downloads pane: running transfers first, then the latest outcomes.
pub fn downloads(app: &mut App, area: Rect, buf: &mut Buffer) {
    let focused = app.mode.browsing(Pane::Downloads);
    let running = app.downloads.values().filter(|d| d.is_active()).count();
    let title = vec![Span::raw(format!("Downloads ({running} running)"))];
    let block = pane(title, focused);
    let inner = block.inner(area);
    block.render(area, buf);
    if app.downloads.is_empty() {
        empty_state(
            "No downloads yet. Choose a holder in Lookup and press Enter, or press d on an Index row.",
            inner,
            buf,
        );
        return;
    }
    let order = app.download_order();
    let height = usize::from(inner.height).max(1);
    let selected = app.downloads_list.selected().unwrap_or(0).min(order.len() - 1);
    let offset = window_offset(app.downloads_list.offset(), selected, height, order.len());
    *app.downloads_list.offset_mut() = offset;
    for (i, (row, id)) in inner.rows().zip(order.iter().skip(offset)).enumerate() {
        if let Some(d) = app.downloads.get(id) {
            download_row(app, d, row, buf);
            if focused && offset + i == selected {
                buf.set_style(row, Style::new().add_modifier(Modifier::REVERSED));
            }
        }
    }
}

fn download_row(app: &App, d: &Download, row: Rect, buf: &mut Buffer) {
    let from = d.from.as_ref().map(|h| shown(&h.to_string()).into_owned()).unwrap_or_else(|| "—".into());
    match &d.state {
        DownloadState::Queued | DownloadState::Running => {
            let ratio = match d.total {
                Some(0) => 1.0,
                Some(t) => (d.received as f64 / t as f64).clamp(0.0, 1.0),
                None => 0.0,
            };
            let mut stats = match d.total {
                Some(t) => format!(" {:>3.0}% {}", ratio * 100.0, byte_pair(d.received, t)),
                None => " connecting…".to_owned(),
            };
            if let Some(rate) = d.rate(app.now) {
                stats.push_str(&format!(" {}/s", human_bytes(rate as u64)));
            }
            let mut label = vec![Span::styled(format!("↓ {}", d.rfc), Style::new().fg(ACCENT).bold())];
            // The holder goes in when the bar keeps at least 10 columns.
            let room =
                usize::from(row.width).saturating_sub(label_width(&label) + stats.chars().count() + 11);
            if from.chars().count() < room {
                label.push(Span::raw(format!(" {from}")));
            }
            let [gauge_area, stats_area] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Length(stats.chars().count() as u16)])
                    .areas(row);
            LineGauge::default()
                .label(Line::from(label))
                .ratio(ratio)
                .filled_symbol("━")
                .unfilled_symbol("─")
                .filled_style(Style::new().fg(ACCENT))
                .unfilled_style(dim())
                .render(gauge_area, buf);
            Line::raw(stats).render(stats_area, buf);
        }
        DownloadState::Retrying { reason } => Line::from(vec![
            Span::styled(format!("↻ {}", d.rfc), Style::new().fg(WARN).bold()),
            Span::raw(format!(" {reason} — trying the next holder")),
        ])
        .render(row, buf),
        DownloadState::Done { bytes, elapsed } => Line::from(vec![
            Span::styled(format!("✔ {}", d.rfc), Style::new().fg(OK).bold()),
            Span::raw(format!(" from {from}: {} in {}", human_bytes(*bytes), human_duration(*elapsed))),
        ])
        .render(row, buf),
        DownloadState::Failed { reason } => {
            let mut spans = vec![
                Span::styled(format!("✘ {}", d.rfc), Style::new().fg(ERROR).bold()),
                Span::raw(format!(" failed: {reason}")),
            ];
            // A cut reason says where the rest is.
            if label_width(&spans) > usize::from(row.width) {
                let keep = usize::from(row.width).saturating_sub(label_width(&spans[..1]) + 14);
                spans[1] = Span::raw(format!(" failed: {}", fit(reason, keep.saturating_sub(8))));
                spans.push(Span::styled(" Enter: more", dim()));
            }
            Line::from(spans).render(row, buf)
        }
    }
}

fn label_width(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

/// `40.0/100.0 KiB`: both in the unit of the total.
fn byte_pair(received: u64, total: u64) -> String {
    const K: f64 = 1024.0;
    let t = total as f64;
    let (div, unit) = if t < K {
        return format!("{received}/{total} B");
    } else if t < K * K {
        (K, "KiB")
    } else if t < K * K * K {
        (K * K, "MiB")
    } else {
        (K * K * K, "GiB")
    };
    format!("{:.1}/{:.1} {unit}", received as f64 / div, t / div)
}

/// The selected download in full, wrapped, over the Downloads pane and
/// the log below it.
pub fn detail(app: &App, over: Rect, buf: &mut Buffer) {
    let Some(d) = app.selected_download() else { return };
    let from = d
        .from
        .as_ref()
        .map(|h| shown(&h.to_string()).into_owned())
        .unwrap_or_else(|| "not yet chosen".into());
    let mut lines = vec![
        Line::from(vec![Span::styled("RFC   ", dim()), Span::raw(d.rfc.to_string())]),
        Line::from(vec![Span::styled("From  ", dim()), Span::raw(from)]),
    ];
    let progress = match d.total {
        Some(t) => format!("{} of {}", human_bytes(d.received), human_bytes(t)),
        None => human_bytes(d.received),
    };
    let (state, style) = match &d.state {
        DownloadState::Queued => ("queued".to_owned(), Style::new()),
        DownloadState::Running => (format!("running, {progress}"), Style::new().fg(ACCENT)),
        DownloadState::Retrying { reason } => {
            (format!("retrying: {reason}; trying the next holder"), Style::new().fg(WARN))
        }
        DownloadState::Done { bytes, elapsed } => {
            (format!("done: {} in {}", human_bytes(*bytes), human_duration(*elapsed)), Style::new().fg(OK))
        }
        DownloadState::Failed { reason } => (format!("failed: {reason}"), Style::new().fg(ERROR)),
    };
    lines.push(Line::from(vec![Span::styled("State ", dim()), Span::styled(state, style)]));
    let width = over.width.saturating_sub(4).max(20);
    let text_len: usize = lines.iter().map(|l| l.width() / usize::from(width) + 1).sum();
    let height = (text_len as u16 + 2).min(buf.area.height.saturating_sub(over.y)).max(5);
    let area = Rect { x: over.x, y: over.y, width: over.width, height }.intersection(buf.area);
    Clear.render(area, buf);
    let block = pane(vec![Span::raw(format!("Download of RFC {}", d.rfc))], true)
        .title_bottom(Line::from(" Esc or Enter closes ").centered());
    let inner = block.inner(area);
    block.render(area, buf);
    Paragraph::new(lines).wrap(Wrap { trim: false }).render(inner, buf);
}

/// The protocol log: every raw message, newest at the bottom; ← → scroll
/// long lines sideways.
pub fn log(app: &App, area: Rect, buf: &mut Buffer) {
    let focused = app.mode.browsing(Pane::Log);
    let mut title = vec![Span::raw("Protocol log"), Span::raw(" · times UTC")];
    if app.log_scroll > 0 {
        title.push(Span::styled(
            format!(" · {} lines back, End follows", app.log_scroll),
            Style::new().fg(WARN),
        ));
    }
    if app.log_folded > 0 {
        title.push(Span::styled(format!(" · {} unchanged refresh(es) not repeated", app.log_folded), dim()));
    }
    if app.log_hscroll > 0 {
        title.push(Span::styled(format!(" · → {} columns, ← back", app.log_hscroll), Style::new().fg(WARN)));
    }
    let block = pane(title, focused);
    let inner = block.inner(area);
    block.render(area, buf);
    if app.log.is_empty() {
        empty_state("Nothing sent or received yet. Every raw P2P-CI message will show here.", inner, buf);
        return;
    }
    let end = app.log.len().saturating_sub(app.log_scroll);
    let start = end.saturating_sub(usize::from(inner.height));
    let lines: Vec<Line> = app.log.range(start..end).map(log_line).collect();
    let hscroll = u16::try_from(app.log_hscroll).unwrap_or(u16::MAX);
    Paragraph::new(Text::from(lines)).scroll((0, hscroll)).render(inner, buf);
}

fn log_line(l: &super::app::LogLine) -> Line<'_> {
    let (arrow, color) = match l.kind {
        LogKind::Sent => ("→", SENT),
        LogKind::Received => ("←", RECEIVED),
        LogKind::Info => ("·", Color::DarkGray),
        LogKind::Error => ("!", ERROR),
    };
    let accent = Style::new().fg(color);
    let mut spans = Vec::with_capacity(4);
    match &l.time {
        Some(t) => {
            spans.push(Span::styled(format!("{t} "), dim()));
            spans.push(Span::styled(format!("{arrow} "), accent.bold()));
        }
        None => spans.push(Span::raw(" ".repeat(11))),
    }
    let is_wire = matches!(l.kind, LogKind::Sent | LogKind::Received);
    if is_wire {
        let who = l.who.as_deref().map(|w| fit(w, WHO_WIDTH)).unwrap_or_default();
        spans.push(Span::styled(format!("{who:<WHO_WIDTH$} "), accent));
    }
    let text_style = match l.kind {
        _ if is_wire && l.time.is_some() => accent.bold(),
        LogKind::Error => Style::new().fg(ERROR),
        _ => Style::new(),
    };
    spans.push(Span::styled(l.text.as_str(), text_style));
    Line::from(spans)
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

/// The status line: the server connection, then a message or who we are. A
/// message too long for the line is shown whole, wrapped, just above it.
pub fn status(app: &App, area: Rect, buf: &mut Buffer) {
    let short = app.toast.is_some();
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
                Some(Ok(d)) if !d.is_zero() => format!(", retrying in {}", human_duration(d)),
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
    match &app.toast {
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

/// Every key the focused pane (or the open view) accepts, alternatives
/// included (`S-Tab` is Shift-Tab); a test holds this list to `on_key`.
pub fn keys(mode: Mode) -> &'static [(&'static str, &'static str)] {
    const MOVE: (&str, &str) = ("↑↓/jk PgUp/PgDn Home/End", "move");
    match mode {
        Mode::Help { .. } => &[("?/Esc/q/Enter", "close help"), ("Ctrl-C", "quit")],
        Mode::Peers { .. } => &[MOVE, ("p/Esc/q/Enter", "close"), ("Ctrl-C", "quit")],
        Mode::Detail => &[("Esc/Enter/q", "close"), ("Ctrl-C", "quit")],
        Mode::Typing => &[
            ("Enter", "look up"),
            ("←→ Home/End Bksp/Del", "edit"),
            ("↓", "holders"),
            ("Esc", "stop typing"),
            ("Tab/S-Tab", "pane"),
            ("Ctrl-C", "quit"),
        ],
        Mode::Browse(pane) => match pane {
            Pane::Local => &[
                MOVE,
                ("s", "stop sharing"),
                ("a", "advertise all"),
                ("/", "lookup"),
                ("r", "refresh"),
                ("p", "peers"),
                ("Tab/S-Tab", "pane"),
                ("Esc", "dismiss"),
                ("?", "help"),
                ("q/Ctrl-C", "quit"),
            ],
            Pane::Index => &[
                MOVE,
                ("d/Enter", "download"),
                ("/", "lookup"),
                ("r", "refresh"),
                ("a", "advertise"),
                ("p", "peers"),
                ("Tab/S-Tab", "pane"),
                ("Esc", "dismiss"),
                ("?", "help"),
                ("q/Ctrl-C", "quit"),
            ],
            Pane::Lookup => &[
                ("/ 0-9", "new lookup"),
                ("↑↓/jk PgUp/PgDn Home/End", "holder"),
                ("d/Enter", "download"),
                ("r", "refresh"),
                ("a", "advertise"),
                ("p", "peers"),
                ("Tab/S-Tab", "pane"),
                ("Esc", "dismiss"),
                ("?", "help"),
                ("q/Ctrl-C", "quit"),
            ],
            Pane::Downloads => &[
                MOVE,
                ("Enter", "details"),
                ("/", "lookup"),
                ("r", "refresh"),
                ("a", "advertise"),
                ("p", "peers"),
                ("Tab/S-Tab", "pane"),
                ("Esc", "dismiss"),
                ("?", "help"),
                ("q/Ctrl-C", "quit"),
            ],
            Pane::Log => &[
                ("↑↓/jk PgUp/PgDn", "scroll"),
                ("Home/End", "oldest/follow"),
                ("←→/hl", "pan"),
                ("/", "lookup"),
                ("r", "refresh"),
                ("a", "advertise"),
                ("p", "peers"),
                ("Tab/S-Tab", "pane"),
                ("Esc", "dismiss"),
                ("?", "help"),
                ("q/Ctrl-C", "quit"),
            ],
        },
    }
}

/// The key hints, wrapped (between two keys, never inside one) onto the
/// hint lines when they do not fit on one.
pub fn hints(app: &App, area: Rect, buf: &mut Buffer) {
    let width = usize::from(area.width);
    let mut lines = vec![Line::raw(" ")];
    for (k, what) in keys(app.mode) {
        let len = k.chars().count() + 1 + what.chars().count();
        let line = lines.last_mut().expect("one line at least");
        if line.width() > 1 && line.width() + 2 + len > width {
            lines.push(Line::raw(" "));
        } else if line.width() > 1 {
            line.push_span(Span::raw("  "));
        }
        let line = lines.last_mut().expect("one line at least");
        line.push_span(Span::styled(*k, Style::new().fg(ACCENT).bold()));
        line.push_span(Span::raw(format!(" {what}")));
    }
    Paragraph::new(lines).render(area, buf);
}

const HELP: &[(&str, &str)] = &[
    ("Tab  Shift-Tab", "move between panes (or click one)"),
    ("↑ ↓  j k  wheel", "move in a list, scroll the log"),
    ("PgUp PgDn Home End", "a page, the first or last row"),
    ("← →  h l", "in the log: scroll long lines sideways"),
    ("/  (0-9 in Lookup)", "type an RFC number; Enter sends LOOKUP"),
    ("Enter  d", "download the selected Index row or holder"),
    ("Enter", "in Downloads: the whole story of one"),
    ("r", "refresh the Index now (LIST ALL)"),
    ("a", "advertise all local RFCs (ADD); ○ marks those not yet"),
    ("s", "in Local RFCs: stop sharing one (see below)"),
    ("p", "Peers: who the index names, with #RFCs"),
    ("Esc", "leave the lookup box, dismiss a message"),
    ("q  Ctrl-C", "leave: close the connection, stop uploads"),
];

/// The help overlay, centered over everything.
pub fn help(full: Rect, buf: &mut Buffer) {
    let area = full.centered(Constraint::Max(76), Constraint::Max(28));
    Clear.render(area, buf);
    let block = pane(vec![Span::raw("Help")], true).title_bottom(Line::from(" ? or Esc closes ").centered());
    let inner = block.inner(area);
    block.render(area, buf);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>19}  "), Style::new().fg(ACCENT).bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Peers ADD their RFCs to the index server; LOOKUP asks who holds one; GET fetches it \
         straight from that peer, and the new copy is ADDed too. The Index and Lookup refresh \
         on their own. The folder is watched: a dropped rfcN.txt is listed at once.",
    ));
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "P2P-CI has no message that removes a record, so s moves the file to unshared/ in the \
         folder, reconnects (the server forgets all of this peer's records) and ADDs the rest again.",
    ));
    Paragraph::new(lines).wrap(Wrap { trim: false }).render(inner, buf);
}

/// The Peers view: every peer the index names, with its number of records.
pub fn peers(app: &mut App, full: Rect, buf: &mut Buffer) {
    let area = full.centered(Constraint::Max(72), Constraint::Percentage(80));
    Clear.render(area, buf);
    let title = vec![Span::raw(format!(
        "Peers ({}) · from the index of {} record(s)",
        app.peers.len(),
        app.index.len()
    ))];
    let block = pane(title, true).title_bottom(Line::from(" p or Esc closes ").centered());
    let inner = block.inner(area);
    block.render(area, buf);
    if app.peers.is_empty() {
        empty_state("The index names no peer yet (press r to refresh it).", inner, buf);
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let selected = app.peers_list.selected().unwrap_or(0).min(app.peers.len() - 1);
    let offset = window_offset(app.peers_list.offset(), selected, height, app.peers.len());
    *app.peers_list.offset_mut() = offset;
    let me = (app.me.host.as_str(), app.me.upload_port);
    let rows = app.peers.iter().skip(offset).take(height).map(|p| {
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
    use crate::tui::app::tests::{app, key, press, record, t0, wire};

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
        app.lookup = LookupView::Pending(RfcNumber(1));
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
        app.toast = None;
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
        let input = Areas::new(Rect::new(0, 0, 80, 24)).input();
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
        app.toast = None;
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
        app.toast = None;
        let buf = render(Rect::new(0, 0, 100, 1), |a, b| status(&app, a, b));
        let line: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(
            line.trim_end(),
            " ✘ the server name nosuch.invalid does not resolve, retrying in 4.0 s; still serving uploads │"
        );
        assert!(app.log.iter().any(|l| l.text.contains("cannot resolve nosuch.invalid")));
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
        app.toast = None;
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
        app.in_index.insert(RfcNumber(8600));
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
                "│↓ 8700 ━━━━━━━━────────────  40% 40.0/100.0 KiB 20.0 KiB/s│",
                "│↓ 8800 hostC:40777 ─────────────────────────── connecting…│",
                "│✔ 8650 from hostC:40777: 140.0 KiB in 120 ms              │",
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
                "│12:00:02 · served RFC 8600 to 127.0.0.1:51000: 20.0 KiB             │",
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
            " ↑↓/jk PgUp/PgDn Home/End move  d/Enter download  / lookup  r refresh\n \
             a advertise  p peers  Tab/S-Tab pane  Esc dismiss  ? help  q/Ctrl-C quit"
        );
        app.mode = Mode::Browse(Pane::Log);
        assert!(hint(&app, 200, 1).contains("Home/End oldest/follow  ←→/hl pan"));
        press(&mut app, "/");
        assert_eq!(
            hint(&app, 200, 1),
            " Enter look up  ←→ Home/End Bksp/Del edit  ↓ holders  Esc stop typing  Tab/S-Tab pane  Ctrl-C quit"
        );
        // Every key of every mode fits whole at 80 columns on the two lines.
        let modes = Pane::ORDER.map(Mode::Browse).into_iter().chain([
            Mode::Typing,
            Mode::Detail,
            Mode::Help { back: Pane::Index },
            Mode::Peers { back: Pane::Index },
        ]);
        for mode in modes {
            app.mode = mode;
            let shown = hint(&app, 80, 2).replace('\n', " ");
            for (k, what) in keys(mode) {
                assert!(shown.contains(&format!("{k} {what}")), "{mode:?}: {k} {what} in {shown}");
            }
        }
    }

    /// The footer's keys, one token each: `↑↓/jk PgUp/PgDn` names `↑↓`,
    /// `jk`, `PgUp` and `PgDn`.
    fn footer_keys(mode: Mode) -> Vec<String> {
        let mut out = Vec::new();
        for (k, _) in keys(mode) {
            for word in k.split(' ') {
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
        app.local.push(crate::tui::app::tests::local(8602, "Another"));
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
        app.local_list.select(Some(1));
        app.index_table.select(Some(20));
        app.holders_list.select(Some(2));
        app.downloads_list.select(Some(1));
        app.log_scroll = 50;
        app.log_hscroll = 16;
        app.input = "8700".into();
        app.mode = match mode {
            Mode::Help { back } | Mode::Peers { back } => Mode::Browse(back),
            Mode::Detail => Mode::Browse(Pane::Downloads),
            m => m,
        };
        match mode {
            Mode::Help { .. } => drop(app.on_key(key(KeyCode::Char('?')))),
            Mode::Peers { .. } => {
                app.on_key(key(KeyCode::Char('p')));
                app.peers_list.select(Some(1));
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
        .chain(('a'..='z').chain("?/5 ".chars()).map(KeyCode::Char))
        .map(key)
        .collect();
        probes.push(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        let modes = Pane::ORDER.map(Mode::Browse).into_iter().chain([
            Mode::Typing,
            Mode::Detail,
            Mode::Help { back: Pane::Index },
            Mode::Peers { back: Pane::Index },
        ]);
        let quiet = |app: &App| {
            let mut text = format!("{app:?}");
            if let Some(t) = &app.toast {
                text = text.replace(&format!("{t:?}"), "");
            }
            text
        };
        for mode in modes {
            let listed = footer_keys(mode);
            for probe in &probes {
                // Typing: letters and digits are text, not keys.
                if mode == Mode::Typing
                    && matches!(probe.code, KeyCode::Char(_))
                    && probe.modifiers.is_empty()
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
