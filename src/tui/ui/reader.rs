//! The reader, full screen: the text, where it is, and the search.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{ACCENT, WARN, count, dim, fit, pane};
use crate::tui::app::reader::PAGE_BREAK;
use crate::tui::app::{App, Mode};

const SEARCH_PROMPT: &str = " / ";

/// The search box's line: on the reader's bottom border.
fn search_area(area: Rect) -> Rect {
    Rect { x: area.x + 2, y: area.bottom().saturating_sub(1), width: area.width.saturating_sub(4), height: 1 }
}

pub fn search_cursor(app: &App, area: Rect) -> Option<(u16, u16)> {
    let r = app.reader.as_ref()?;
    let line = search_area(area);
    let prompt = SEARCH_PROMPT.chars().count() as u16;
    let width = usize::from(line.width.saturating_sub(prompt + 1));
    let scroll = r.input.visual_scroll(width);
    let x = line.x + prompt + (r.input.visual_cursor().saturating_sub(scroll)) as u16;
    Some((x.min(line.right().saturating_sub(1)), line.y))
}

/// A line with each place the search matches (ignoring ASCII case)
/// highlighted.
fn highlighted<'a>(text: &'a str, needle: &str, current: bool) -> Line<'a> {
    if needle.is_empty() {
        return Line::raw(text);
    }
    let hay = text.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut at = 0;
    let style = if current {
        Style::new().fg(ACCENT).add_modifier(Modifier::REVERSED | Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    };
    // ASCII lowercasing keeps byte offsets, so they index `text` too.
    while let Some(found) = hay[at..].find(needle) {
        let start = at + found;
        let end = start + needle.len();
        spans.push(Span::raw(&text[at..start]));
        spans.push(Span::styled(&text[start..end], style));
        at = end;
    }
    spans.push(Span::raw(&text[at..]));
    Line::from(spans)
}

/// The RFC being read, over everything above the status line.
pub fn reader(app: &mut App, area: Rect, buf: &mut Buffer) {
    let page = app.reader_page();
    let searching = matches!(app.mode, Mode::Search { .. });
    let Some(r) = &mut app.reader else { return };
    r.scroll = r.scroll.min(r.max_scroll(page));
    let total = r.lines.len();
    let last = (r.scroll + page).min(total);
    let percent = (last * 100).checked_div(total).unwrap_or(100);
    let head = format!("RFC {} · {}", r.rfc, r.title);
    let place = format!(" · lines {}–{} of {} ({percent}%)", count(r.scroll + 1), count(last), count(total));
    let room = usize::from(area.width).saturating_sub(place.chars().count() + 6);
    let mut title = vec![Span::raw(fit(&head, room)), Span::styled(place, dim())];
    if r.cut > 0 {
        title.push(Span::styled(" · cut", Style::new().fg(WARN)));
    }
    let mut block = pane(title, true);
    let bottom = if searching {
        None
    } else if !r.query.is_empty() {
        let at = r.current.map_or(0, |c| c + 1);
        Some(format!(" /{} · {at} of {} line(s) · n/N next/previous ", r.query, r.matches.len()))
    } else {
        None
    };
    if let Some(bottom) = bottom {
        block = block.title_bottom(Line::from(fit(&bottom, usize::from(area.width.saturating_sub(4)))));
    }
    let inner = block.inner(area);
    block.render(area, buf);
    let needle = r.query.to_ascii_lowercase();
    let current = r.current.and_then(|c| r.matches.get(c)).copied();
    let rule = "─".repeat(usize::from(inner.width).saturating_sub(10).min(62));
    let lines: Vec<Line> = r.lines[r.scroll.min(total)..last]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if l == PAGE_BREAK {
                Line::styled(format!("{rule} page"), dim())
            } else {
                highlighted(l, &needle, current == Some(r.scroll + i))
            }
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
    if searching {
        let line = search_area(area);
        let prompt = SEARCH_PROMPT.chars().count() as u16;
        let width = usize::from(line.width.saturating_sub(prompt + 1));
        let scroll = r.input.visual_scroll(width);
        let value: String = r.input.value().chars().skip(scroll).take(width).collect();
        ratatui::widgets::Clear.render(line, buf);
        Line::from(vec![
            Span::styled(SEARCH_PROMPT, Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)),
            Span::styled(
                format!("{} ", crate::protocol::escape_line(value.as_bytes())),
                Style::new().add_modifier(Modifier::UNDERLINED),
            ),
        ])
        .render(line, buf);
    }
}
