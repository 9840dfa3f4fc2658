//! The reader: a local RFC, full screen, inside the UI (issue 19, item 12).
//!
//! The text is read once when the reader opens, capped at [`READ_CAP`], and
//! made safe to draw line by line: a byte-order mark at the start is
//! dropped (several shipped RFCs have one), a line of only a form feed (the
//! RFC page break) becomes a marked rule, tabs become spaces, invalid UTF-8
//! is replaced, and every other control character is written `\x1b` as
//! everywhere else on screen (PROTOCOL.md, Framing), so a file that is not
//! the RFC it claims to be cannot move the cursor or retitle the terminal.

use std::io::Read;
use std::path::Path;

use tui_input::Input;

use crate::protocol::RfcNumber;

/// Most bytes of a file the reader loads; past it, it says so. RFCs are
/// well under 1 MiB; a folder may hold any file named like one.
pub const READ_CAP: u64 = 8 << 20;

/// A line of the text that stands for a page break.
pub const PAGE_BREAK: &str = "\u{0c}";

#[derive(Debug)]
pub struct Reader {
    pub rfc: RfcNumber,
    pub title: String,
    /// The text, one safe line each; page breaks are [`PAGE_BREAK`].
    pub lines: Vec<String>,
    /// The file was longer than [`READ_CAP`]: the bytes not shown.
    pub cut: u64,
    /// The first line shown.
    pub scroll: usize,
    /// The search box, while typing in it.
    pub input: Input,
    /// The last search, and the lines that hold it.
    pub query: String,
    pub matches: Vec<usize>,
    /// Which of `matches` is current.
    pub current: Option<usize>,
}

impl Reader {
    /// Reads `path`, at most [`READ_CAP`] bytes of it.
    pub fn open(rfc: RfcNumber, title: &str, path: &Path) -> std::io::Result<Reader> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut bytes = Vec::new();
        file.take(READ_CAP).read_to_end(&mut bytes)?;
        let mut reader = Reader::from_bytes(rfc, title, &bytes);
        reader.cut = size.saturating_sub(bytes.len() as u64);
        Ok(reader)
    }

    pub fn from_bytes(rfc: RfcNumber, title: &str, bytes: &[u8]) -> Reader {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = String::from_utf8_lossy(bytes);
        let mut lines = Vec::new();
        for raw in text.split('\n') {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            // A form feed starts a page; the text after it (rarely any) is
            // a line of its own.
            let mut rest = raw;
            while let Some(at) = rest.find('\u{0c}') {
                let before = &rest[..at];
                if !before.trim().is_empty() {
                    lines.push(safe(before));
                }
                lines.push(PAGE_BREAK.to_owned());
                rest = &rest[at + 1..];
            }
            if !(rest.is_empty() && raw.contains('\u{0c}')) {
                lines.push(safe(rest));
            }
        }
        // The newline that ends the file makes no line of its own.
        if lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        Reader {
            rfc,
            title: super::shown(title.to_owned()),
            lines,
            cut: 0,
            scroll: 0,
            input: Input::default(),
            query: String::new(),
            matches: Vec::new(),
            current: None,
        }
    }

    pub fn max_scroll(&self, page: usize) -> usize {
        self.lines.len().saturating_sub(page)
    }

    pub fn scroll_by(&mut self, delta: isize, page: usize) {
        self.scroll = self.scroll.saturating_add_signed(delta).min(self.max_scroll(page));
    }

    /// Searches for the text typed (ignoring ASCII case) and goes to the
    /// first line at or after the top of the view that holds it.
    pub fn search(&mut self, page: usize) {
        self.query = self.input.value().trim().to_owned();
        let needle = self.query.to_ascii_lowercase();
        self.matches = if needle.is_empty() {
            Vec::new()
        } else {
            (0..self.lines.len()).filter(|&i| self.lines[i].to_ascii_lowercase().contains(&needle)).collect()
        };
        self.current =
            self.matches.iter().position(|&l| l >= self.scroll).or((!self.matches.is_empty()).then_some(0));
        self.show_current(page);
    }

    /// `n` (or `N` backwards): the next line that holds the search, wrapping.
    pub fn next_match(&mut self, forward: bool, page: usize) {
        let n = self.matches.len();
        if n == 0 {
            return;
        }
        self.current = Some(match self.current {
            None => 0,
            Some(c) if forward => (c + 1) % n,
            Some(c) => (c + n - 1) % n,
        });
        self.show_current(page);
    }

    /// Scrolls so the current match is in view, a few lines below the top.
    fn show_current(&mut self, page: usize) {
        if let Some(line) = self.current.and_then(|c| self.matches.get(c)) {
            let top = self.scroll;
            if *line < top || *line >= top + page {
                self.scroll = line.saturating_sub(page / 4).min(self.max_scroll(page));
            }
        }
    }
}

/// One line as drawn: tabs to spaces (to 8-column stops), every other
/// control character escaped.
fn safe(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if c == '\t' {
            let col = out.chars().count();
            out.extend(std::iter::repeat_n(' ', 8 - col % 8));
        } else {
            out.push(c);
        }
    }
    super::shown(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_form_feeds_tabs_and_escapes_are_made_safe() {
        let text = b"\xEF\xBB\xBFRFC 8700\r\n\tTitle\r\n\x0c\r\nPage 2\x1b]0;pwned\x07\r\nend\x0cnext\n";
        let r = Reader::from_bytes(RfcNumber(8700), "Fifty Years", text);
        assert_eq!(
            r.lines,
            ["RFC 8700", "        Title", PAGE_BREAK, r"Page 2\x1b]0;pwned\x07", "end", PAGE_BREAK, "next"]
        );
        for l in &r.lines {
            assert!(l == PAGE_BREAK || !l.contains(char::is_control), "{l:?}");
        }
        let bad = Reader::from_bytes(RfcNumber(1), "t", b"ok\xff\xfe\n");
        assert_eq!(bad.lines, ["ok\u{fffd}\u{fffd}"]);
    }

    #[test]
    fn search_finds_goes_and_wraps() {
        let text: String = (0..100)
            .map(|i| if i % 30 == 5 { format!("IPsec line {i}\n") } else { format!("line {i}\n") })
            .collect();
        let mut r = Reader::from_bytes(RfcNumber(1), "t", text.as_bytes());
        assert_eq!(r.lines.len(), 100);
        r.input = "ipsec".into();
        r.search(10);
        assert_eq!(r.matches, [5, 35, 65, 95]);
        assert_eq!(r.current, Some(0));
        assert_eq!(r.scroll, 0, "line 5 is in view already");
        r.next_match(true, 10);
        assert_eq!(r.scroll, 35 - 2);
        r.next_match(false, 10);
        r.next_match(false, 10);
        assert_eq!(r.current, Some(3), "backwards wraps to the last");
        assert_eq!(r.scroll, 90, "clamped to the last page");
        r.scroll_by(-1000, 10);
        assert_eq!(r.scroll, 0);
        r.input = "nowhere".into();
        r.search(10);
        assert!(r.matches.is_empty());
        assert_eq!(r.current, None);
    }

    #[test]
    fn a_file_is_read_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rfc1.txt");
        std::fs::write(&path, "a\nb\n").unwrap();
        let r = Reader::open(RfcNumber(1), "t", &path).unwrap();
        assert_eq!((r.lines.len(), r.cut), (2, 0));
        assert!(Reader::open(RfcNumber(1), "t", &dir.path().join("none")).is_err());
    }
}
