//! The five panes and the download detail, each a function over an area.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Cell, Clear, HighlightSpacing, LineGauge, List, ListItem, ListState, Paragraph, Row, StatefulWidget,
    Table, TableState, Widget, Wrap,
};

use super::{
    ACCENT, ERROR, OK, PROMPT, RECEIVED, SENT, WARN, count, dim, empty_state, fit, input_geometry,
    label_width, pane, selected_style, shown, window_offset,
};
use crate::human::{self, Size};
use crate::tui::app::downloads::{Download, DownloadState};
use crate::tui::app::index::IndexStatus;
use crate::tui::app::log::{LogKind, LogLine};
use crate::tui::app::lookup::LookupView;
use crate::tui::app::{App, Connection, Mode};
use crate::tui::layout::Pane;

/// Width of the log's `who` column.
const WHO_WIDTH: usize = 15;
/// The Index's RFC column: five digits (RFC 10000 and on are near).
const RFC_WIDTH: u16 = 5;

/// The Local RFCs pane: what this peer shares. `●` marks an RFC the index
/// has a record of for this peer, `○` one it has not (not advertised yet).
pub fn local(app: &mut App, area: Rect, buf: &mut Buffer) {
    let focused = app.mode.browsing(Pane::Local);
    let mut title = vec![Span::raw(format!("Local RFCs ({})", app.local.len()))];
    let unlisted = app.local.rfcs.iter().filter(|l| !app.local.in_index.contains(&l.rfc)).count();
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
        .rfcs
        .iter()
        .map(|l| {
            let mark = if app.local.in_index.contains(&l.rfc) {
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
    StatefulWidget::render(list, inner, buf, &mut app.local.list);
}

/// The filter box's line: on the Index's bottom border.
fn filter_area(area: Rect) -> Rect {
    Rect { x: area.x + 2, y: area.bottom().saturating_sub(1), width: area.width.saturating_sub(4), height: 1 }
}

const FILTER_PROMPT: &str = " filter › ";

/// The cursor in the Index's filter box.
pub fn filter_cursor(app: &App, area: Rect) -> Option<(u16, u16)> {
    let line = filter_area(area);
    let prompt = FILTER_PROMPT.chars().count() as u16;
    let width = usize::from(line.width.saturating_sub(prompt + 1));
    let scroll = app.index.filter.visual_scroll(width);
    let x = line.x + prompt + (app.index.filter.visual_cursor().saturating_sub(scroll)) as u16;
    Some((x.min(line.right().saturating_sub(1)), line.y))
}

/// The Index pane: the server's LIST, newest first (or the rows the filter
/// matches), marked out of date while the server is away.
pub fn index(app: &mut App, area: Rect, buf: &mut Buffer) {
    let filtering = app.mode == Mode::Filter;
    let focused = app.mode.browsing(Pane::Index) || filtering;
    let filter = app.index.filter_text().to_owned();
    let counted = if filter.is_empty() {
        format!("Index ({})", count(app.index.total()))
    } else {
        format!("Index ({} of {})", count(app.index.len()), count(app.index.total()))
    };
    let mut title = vec![Span::raw(counted)];
    let stale = app.stale(app.index.answered_at);
    match (&app.index.status, &stale) {
        (_, Some(stale)) => title.push(stale_mark(&title, stale, area.width)),
        (IndexStatus::Loading, None) => title.push(Span::raw(" · refreshing…")),
        (IndexStatus::Failed(_), None) => {
            title.push(Span::styled(" · refresh failed", Style::new().fg(ERROR)))
        }
        (IndexStatus::NotLoaded | IndexStatus::Loaded, None) if filter.is_empty() => {
            title.push(Span::raw(" · newest first"))
        }
        _ => {}
    }
    if !filter.is_empty() {
        title.push(Span::styled(format!(" · filter: {}", shown(&filter)), Style::new().fg(ACCENT)));
    }
    let mut block = pane(title, focused);
    let host_w = (app.index.records.host_width() + 5).clamp(4, 24) as u16;
    // The selected record's title, whole, on the bottom border when the
    // Title column cuts it.
    let title_room = usize::from(area.width)
        .saturating_sub(2 + 2 + usize::from(RFC_WIDTH) + 1 + 1 + usize::from(host_w) + 1 + 5);
    if focused
        && !filtering
        && let Some(r) = app.index.selected_record()
        && r.title.chars().count() > title_room
    {
        let room = usize::from(area.width.saturating_sub(4));
        let whole = format!("{} {}", r.rfc, shown(r.title));
        block = block.title_bottom(Line::from(format!(" {} ", fit(&whole, room))));
    }
    let inner = block.inner(area);
    block.render(area, buf);
    if filtering {
        let line = filter_area(area);
        let prompt = FILTER_PROMPT.chars().count() as u16;
        let width = usize::from(line.width.saturating_sub(prompt + 1));
        let scroll = app.index.filter.visual_scroll(width);
        let value: String = app.index.filter.value().chars().skip(scroll).take(width).collect();
        Clear.render(line, buf);
        Line::from(vec![
            Span::styled(FILTER_PROMPT, Style::new().fg(ACCENT).bold()),
            Span::styled(format!("{} ", shown(&value)), Style::new().add_modifier(Modifier::UNDERLINED)),
        ])
        .render(line, buf);
    }
    if app.index.is_empty() {
        let text = match &app.index.status {
            _ if app.index.total() > 0 => {
                format!("No record matches “{}”. Esc in the filter clears it.", shown(&filter))
            }
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
    let selected = app.index.selected().min(app.index.len() - 1);
    let offset = window_offset(app.index.table.offset(), selected, height, app.index.len());
    *app.index.table.offset_mut() = offset;
    let me = app.me_key();
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
    // The Title column takes what the longest title needs; what is left over
    // goes after the Port, not between the Title and the Host.
    let title_w = (app.index.records.title_width() as u16).max(5);
    let widths = [
        Constraint::Length(RFC_WIDTH),
        Constraint::Max(title_w),
        Constraint::Length(host_w),
        Constraint::Length(5),
    ];
    let header = Row::new(["RFC", "Title", "Host", "Port"]).style(Style::new().add_modifier(Modifier::BOLD));
    let row_style = if stale.is_some() { dim() } else { Style::new() };
    let table = Table::new(rows, widths)
        .header(header)
        .style(row_style)
        .flex(ratatui::layout::Flex::Start)
        .row_highlight_style(selected_style(focused))
        .highlight_symbol("› ")
        .highlight_spacing(HighlightSpacing::Always);
    // The window's own state: row 0 of `rows` is row `offset` of the index.
    let mut state = TableState::default().with_selected(Some(selected - offset));
    StatefulWidget::render(table, inner, buf, &mut state);
}

/// ` · as of 12:04:31, server unreachable`, or as much as fits after
/// `title` on a pane `width` wide: the time is what matters.
fn stale_mark(title: &[Span], stale: &str, width: u16) -> Span<'static> {
    let room = usize::from(width).saturating_sub(label_width(title) + 6);
    let long = format!(" · {stale}");
    let text = if long.chars().count() <= room {
        long
    } else {
        let short = stale.split(',').next().unwrap_or(stale);
        format!(" · {short}")
    };
    Span::styled(text, Style::new().fg(WARN))
}

/// The Lookup pane: the input box, then the holders of the RFC looked up.
pub fn lookup(app: &mut App, area: Rect, buf: &mut Buffer) {
    let typing = app.mode == Mode::Typing;
    let focused = app.mode.browsing(Pane::Lookup) || typing;
    let mut title = vec![Span::raw("Lookup")];
    if let LookupView::Found { holders, .. } = &app.lookup.view {
        title.push(Span::raw(format!(" · {} holder(s)", holders.len())));
    }
    let stale = match app.lookup.view {
        LookupView::Found { .. } | LookupView::NotFound(_) => app.stale(app.lookup.answered_at),
        _ => None,
    };
    if let Some(stale) = &stale {
        title.push(stale_mark(&title, stale, area.width));
    }
    let block = pane(title, focused);
    let inner = block.inner(area);
    block.render(area, buf);
    let [input_area, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);

    let (_, width) = input_geometry(input_area);
    let scroll = app.lookup.input.visual_scroll(width);
    let value: String = app.lookup.input.value().chars().skip(scroll).collect();
    let prompt_style = if typing { Style::new().fg(ACCENT).bold() } else { Style::new().bold() };
    let mut spans = vec![Span::styled(PROMPT, prompt_style)];
    if value.is_empty() && !typing {
        spans.push(Span::styled("press /", dim().add_modifier(Modifier::ITALIC)));
    } else {
        let style = if typing { Style::new().add_modifier(Modifier::UNDERLINED) } else { Style::new() };
        spans.push(Span::styled(shown(&value).into_owned(), style));
    }
    Line::from(spans).render(input_area, buf);

    let message = |text: String, style: Style| Paragraph::new(text).style(style).wrap(Wrap { trim: true });
    let old = if stale.is_some() { dim() } else { Style::new() };
    match &app.lookup.view {
        LookupView::Idle => message(
            "Type an RFC number, Enter asks the server who holds it.".into(),
            dim().add_modifier(Modifier::ITALIC),
        )
        .render(rest, buf),
        LookupView::Invalid(text) => {
            message(format!("“{}” is not an RFC number.", shown(text)), Style::new().fg(ERROR))
                .render(rest, buf)
        }
        LookupView::Pending(rfc) => {
            message(format!("Looking up RFC {rfc}…"), dim().add_modifier(Modifier::ITALIC)).render(rest, buf)
        }
        LookupView::NotFound(rfc) => {
            let style = if stale.is_some() { old } else { Style::new().fg(WARN) };
            message(format!("No peer holds RFC {rfc} (404 Not Found)."), style).render(rest, buf)
        }
        LookupView::Failed { rfc, reason } => {
            let again = if app.lookup.redo { " It is asked again when the server is back." } else { "" };
            message(format!("LOOKUP RFC {rfc} failed: {}.{again}", shown(reason)), Style::new().fg(ERROR))
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
            let selected = app.lookup.list.selected().map(|s| s.min(holders.len().saturating_sub(1)));
            let offset =
                window_offset(app.lookup.list.offset(), selected.unwrap_or(0), height, holders.len());
            *app.lookup.list.offset_mut() = offset;
            let me = (app.me.host.as_str(), app.me.upload_port);
            let items: Vec<ListItem> = holders
                .iter()
                .skip(offset)
                .take(height)
                .map(|r| {
                    let mine = (r.host.as_str(), r.port) == me;
                    ListItem::new(format!("{}:{}{}", shown(&r.host), r.port, if mine { " (me)" } else { "" }))
                        .style(old)
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
    let title = vec![Span::raw(format!("Downloads ({} running)", app.downloads.running()))];
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
    let order = app.downloads.order();
    let height = usize::from(inner.height).max(1);
    let selected = app.downloads.list.selected().unwrap_or(0).min(order.len() - 1);
    let offset = window_offset(app.downloads.list.offset(), selected, height, order.len());
    *app.downloads.list.offset_mut() = offset;
    for (i, (row, id)) in inner.rows().zip(order.iter().skip(offset)).enumerate() {
        if let Some(d) = app.downloads.map.get(id) {
            download_row(app, d, row, buf);
            if focused && offset + i == selected {
                buf.set_style(row, Style::new().add_modifier(Modifier::REVERSED));
            }
        }
    }
}

/// What a running download waits for, before the first byte.
fn waiting(d: &Download, from: &str) -> String {
    match (d.total, d.asked) {
        (Some(t), _) => format!(" waiting for {from} ({} announced)", Size(t)),
        (None, true) => format!(" waiting for {from}…"),
        (None, false) if d.from.is_some() => format!(" connecting to {from}…"),
        (None, false) => " looking up holders…".to_owned(),
    }
}

fn download_row(app: &App, d: &Download, row: Rect, buf: &mut Buffer) {
    let from = d.from.as_ref().map(|h| shown(&h.to_string()).into_owned()).unwrap_or_else(|| "—".into());
    match &d.state {
        DownloadState::Queued | DownloadState::Running if d.received == 0 && d.total != Some(0) => {
            Line::from(vec![
                Span::styled(format!("↓ {}", d.rfc), Style::new().fg(ACCENT).bold()),
                Span::styled(waiting(d, &from), dim()),
            ])
            .render(row, buf)
        }
        DownloadState::Queued | DownloadState::Running => {
            let ratio = match d.total {
                Some(0) => 1.0,
                Some(t) => (d.received as f64 / t as f64).clamp(0.0, 1.0),
                None => 0.0,
            };
            let mut stats = match d.total {
                Some(t) => format!(" {:>3.0}% {}", ratio * 100.0, human::size_pair(d.received, t)),
                None => String::new(),
            };
            if let Some(rate) = d.rate(app.now) {
                stats.push_str(&format!(" {}", human::rate(rate)));
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
            Span::raw(format!(" from {from}: {} in {}", Size(*bytes), human::duration(*elapsed))),
        ])
        .render(row, buf),
        DownloadState::Cancelled => Line::from(vec![
            Span::styled(format!("⊘ {}", d.rfc), Style::new().fg(WARN).bold()),
            Span::raw(" cancelled; nothing was kept"),
            Span::styled(" (R retries)", dim()),
        ])
        .render(row, buf),
        DownloadState::Failed { reason } => {
            let times = if d.failures > 1 { format!(" ×{}", d.failures) } else { String::new() };
            let mut spans = vec![
                Span::styled(format!("✘ {}{times}", d.rfc), Style::new().fg(ERROR).bold()),
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

/// The selected download in full, wrapped, over the Downloads pane and
/// the log below it: holder, size, time taken, rate, the file written or
/// the whole reason.
pub fn detail(app: &App, over: Rect, buf: &mut Buffer) {
    let Some((_, d)) = app.downloads.selected() else { return };
    let from = d
        .from
        .as_ref()
        .map(|h| shown(&h.to_string()).into_owned())
        .unwrap_or_else(|| "not yet chosen".into());
    // Each field wrapped under itself, not under its name.
    let text_w = usize::from(over.width.saturating_sub(2 + 7)).max(10);
    let mut lines: Vec<Line> = Vec::new();
    let mut field = |name: &'static str, value: String, style: Style| {
        for (i, part) in super::wrap_words(&value, text_w).into_iter().enumerate() {
            let name = if i == 0 { format!("{name:<7}") } else { " ".repeat(7) };
            lines.push(Line::from(vec![Span::styled(name, dim()), Span::styled(part, style)]));
        }
    };
    field("RFC", d.rfc.to_string(), Style::new());
    field("From", from, Style::new());
    if let Some(t) = d.total {
        field("Size", Size(t).to_string(), Style::new());
    }
    let (state, style) = match &d.state {
        DownloadState::Queued => ("queued: looking up its holders".to_owned(), Style::new()),
        DownloadState::Running if d.received == 0 => {
            (waiting(d, "the holder").trim().to_owned(), Style::new().fg(ACCENT))
        }
        DownloadState::Running => {
            let got = match d.total {
                Some(t) => format!("{} of {}", Size(d.received), Size(t)),
                None => Size(d.received).to_string(),
            };
            (format!("running, {got}"), Style::new().fg(ACCENT))
        }
        DownloadState::Retrying { reason } => {
            (format!("retrying: {reason}; trying the next holder"), Style::new().fg(WARN))
        }
        DownloadState::Done { .. } => ("done".to_owned(), Style::new().fg(OK)),
        DownloadState::Failed { reason } => {
            let times =
                if d.failures > 1 { format!(" ({} times in a row)", d.failures) } else { String::new() };
            (format!("failed{times}: {reason}"), Style::new().fg(ERROR))
        }
        DownloadState::Cancelled => ("cancelled; nothing of it was kept".to_owned(), Style::new().fg(WARN)),
    };
    field("State", state, style);
    if let DownloadState::Done { elapsed, .. } = d.state {
        field("Took", human::duration(elapsed), Style::new());
    }
    if let Some(rate) = d.rate(app.now) {
        field("Rate", human::rate(rate), Style::new());
    }
    if let Some(path) = &d.path {
        field("File", shown(&path.display().to_string()).into_owned(), Style::new());
    }
    if d.attempt > 1 {
        field("Try", format!("attempt {}", d.attempt), Style::new());
    }
    if let Some(hint) = &d.hint {
        field("Hint", hint.clone(), Style::new().fg(WARN));
    }
    let height = (lines.len() as u16 + 2).min(buf.area.height.saturating_sub(over.y)).max(5);
    let area = Rect { x: over.x, y: over.y, width: over.width, height }.intersection(buf.area);
    Clear.render(area, buf);
    let block = pane(vec![Span::raw(format!("Download of RFC {}", d.rfc))], true)
        .title_bottom(Line::from(" Esc or Enter closes ").centered());
    let inner = block.inner(area);
    block.render(area, buf);
    Paragraph::new(lines).render(inner, buf);
}

/// The protocol log: every raw message, newest at the bottom; ← → scroll
/// long lines sideways.
pub fn log(app: &App, area: Rect, buf: &mut Buffer) {
    let focused = app.mode.browsing(Pane::Log);
    let log = &app.log;
    let mut title = vec![Span::raw("Protocol log"), Span::raw(" · times UTC")];
    if log.scroll > 0 {
        title.push(Span::styled(format!(" · {} lines back, End follows", log.scroll), Style::new().fg(WARN)));
    }
    if log.folded > 0 {
        title.push(Span::styled(format!(" · {} unchanged refresh(es) not repeated", log.folded), dim()));
    }
    if log.hscroll > 0 {
        title.push(Span::styled(format!(" · → {} columns, ← back", log.hscroll), Style::new().fg(WARN)));
    }
    let block = pane(title, focused);
    let inner = block.inner(area);
    block.render(area, buf);
    if log.is_empty() {
        empty_state("Nothing sent or received yet. Every raw P2P-CI message will show here.", inner, buf);
        return;
    }
    let end = log.len().saturating_sub(log.scroll);
    let start = end.saturating_sub(usize::from(inner.height));
    let lines: Vec<Line> = log.lines.range(start..end).map(log_line).collect();
    let hscroll = u16::try_from(log.hscroll).unwrap_or(u16::MAX);
    Paragraph::new(Text::from(lines)).scroll((0, hscroll)).render(inner, buf);
}

fn log_line(l: &LogLine) -> Line<'_> {
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
