//! Framing: cut one request (or response) head out of a byte buffer.
//!
//! A head is a start line, header lines and one empty line (PROTOCOL.md,
//! Framing). This stage knows nothing of methods or headers; it finds line
//! ends (CR LF, or a bare LF), skips blank lines before a head, and enforces
//! the size limits as bytes arrive, so a connection's buffer never grows past
//! `max_head` plus one read, whatever the other side sends. Breaking a limit is
//! the one error that closes a connection, hence its own type.

use thiserror::Error;

/// Size limits on a head (PROTOCOL.md, Limits). Each is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest start or header line, in bytes, not counting its line end.
    pub max_line: usize,
    /// Largest whole head, in bytes, line ends and blank lines included.
    pub max_head: usize,
    /// Most header lines in one head.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_line: 8 * 1024, max_head: 64 * 1024, max_headers: 64 }
    }
}

/// A head that broke a size limit: answer 400 and close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LimitError {
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("more than {0} header lines")]
    TooManyHeaders(usize),
}

/// One framed head: its lines without their line ends, borrowed from the
/// buffer. Lines are bytes, not text: decoding is the next stage's job, so
/// that bad UTF-8 costs a 400 and not the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    pub start: &'a [u8],
    pub headers: Vec<&'a [u8]>,
}

/// Frames one head at the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete, `Ok(Some((head, used)))`
/// once the empty line that ends it is in, where `used` counts every byte up
/// to and including that empty line, and `Err` as soon as the bytes seen so
/// far already break a limit (without waiting for the rest).
pub fn parse_head<'a>(buf: &'a [u8], limits: &Limits) -> Result<Option<(Head<'a>, usize)>, LimitError> {
    let mut pos = 0;
    let mut start: Option<&'a [u8]> = None;
    let mut headers = Vec::new();
    loop {
        if pos > limits.max_head {
            return Err(LimitError::HeadTooLarge(limits.max_head));
        }
        let Some(offset) = memchr::memchr(b'\n', &buf[pos..]) else {
            // An unfinished line may end in the CR of its CR LF.
            let pending = buf.len() - pos;
            if pending > limits.max_line + 1 {
                return Err(LimitError::LineTooLong(limits.max_line));
            }
            if buf.len() > limits.max_head {
                return Err(LimitError::HeadTooLarge(limits.max_head));
            }
            return Ok(None);
        };
        let end = pos + offset;
        let line = strip_cr(&buf[pos..end]);
        if line.len() > limits.max_line {
            return Err(LimitError::LineTooLong(limits.max_line));
        }
        let used = end + 1;
        if used > limits.max_head {
            return Err(LimitError::HeadTooLarge(limits.max_head));
        }
        pos = used;
        match (start, line.is_empty()) {
            // Blank lines before a head are skipped (lenient receiver).
            (None, true) => {}
            (None, false) => start = Some(line),
            (Some(start), true) => return Ok(Some((Head { start, headers }, used))),
            (Some(_), false) => {
                if headers.len() == limits.max_headers {
                    return Err(LimitError::TooManyHeaders(limits.max_headers));
                }
                headers.push(line);
            }
        }
    }
}

/// Number of leading bytes of `buf` that are blank lines (skipped before a
/// head). A connection uses it to tell "idle" from "has started a request".
pub fn leading_blank_len(buf: &[u8]) -> usize {
    let mut pos = 0;
    loop {
        match &buf[pos..] {
            [b'\n', ..] => pos += 1,
            [b'\r', b'\n', ..] => pos += 2,
            _ => return pos,
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits { max_line: 16, max_head: 64, max_headers: 3 }
    }

    #[test]
    fn frames_crlf_and_bare_lf() {
        let buf = b"A B\r\nX: 1\nY: 2\r\n\r\nrest";
        let (head, used) = parse_head(buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.start, b"A B");
        assert_eq!(head.headers, vec![&b"X: 1"[..], b"Y: 2"]);
        assert_eq!(&buf[used..], b"rest");
    }

    #[test]
    fn incomplete_until_blank_line() {
        let full = b"A B\r\nX: 1\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_head(&full[..cut], &Limits::default()), Ok(None), "cut {cut}");
        }
        assert!(parse_head(full, &Limits::default()).unwrap().is_some());
    }

    #[test]
    fn skips_leading_blank_lines() {
        let buf = b"\r\n\n\r\nA B\r\n\r\n";
        let (head, used) = parse_head(buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.start, b"A B");
        assert!(head.headers.is_empty());
        assert_eq!(used, buf.len());
        assert_eq!(leading_blank_len(buf), 5);
        assert_eq!(leading_blank_len(b"\r"), 0);
    }

    #[test]
    fn line_limit_is_exact() {
        let l = small();
        let ok = format!("{}\r\n\r\n", "a".repeat(16));
        assert!(parse_head(ok.as_bytes(), &l).unwrap().is_some());
        let long = format!("{}\r\n\r\n", "a".repeat(17));
        assert_eq!(parse_head(long.as_bytes(), &l), Err(LimitError::LineTooLong(16)));
        // Detected before the line ends.
        assert_eq!(parse_head("a".repeat(18).as_bytes(), &l), Err(LimitError::LineTooLong(16)));
        // A pending CR is not yet counted against the line.
        let pending = format!("{}\r", "a".repeat(16));
        assert_eq!(parse_head(pending.as_bytes(), &l), Ok(None));
    }

    #[test]
    fn header_count_limit() {
        let l = small();
        assert!(parse_head(b"S\r\na:1\r\nb:2\r\nc:3\r\n\r\n", &l).unwrap().is_some());
        assert_eq!(parse_head(b"S\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\n", &l), Err(LimitError::TooManyHeaders(3)));
    }

    #[test]
    fn head_size_limit() {
        let l = Limits { max_line: 16, max_head: 40, max_headers: 64 };
        let buf = b"S\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n";
        assert_eq!(parse_head(buf, &l), Err(LimitError::HeadTooLarge(40)));
        // Endless blank lines are bounded too.
        assert_eq!(parse_head(&[b'\n'; 100], &l), Err(LimitError::HeadTooLarge(40)));
    }
}
