//! Framing: cut one request (or response) head out of a byte buffer.
//!
//! A head is a start line, header lines and one empty line (PROTOCOL.md,
//! Framing). This stage knows nothing of methods or headers; it finds line
//! ends (CR LF, or a bare LF), skips blank lines before a head, and enforces
//! the size limits as bytes arrive, so a connection's buffer never grows past
//! `max_head` plus one read, whatever the other side sends. Breaking a limit is
//! the one error that closes a connection, hence its own type.

use thiserror::Error;

use super::swar::{self, HIGH, LANES, splat, word, zero_bytes};

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
    frame(
        buf,
        limits,
        |start| Head { start: start.bytes, headers: Vec::new() },
        |head, line| head.headers.push(line.bytes),
    )
}

/// One framed line (without its line end), and what the scan that found its
/// end learned about its bytes on the way: the next stage need not read them
/// again to know whether they are plain ASCII text.
///
/// The fields are private because [`Line::text`] trusts `ascii` to skip the
/// UTF-8 check: only this module sets it, from a scan of every byte
/// ([`Line::of`], or the framing scan in [`frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    bytes: &'a [u8],
    /// Every byte of `bytes` is below 0x80.
    ascii: bool,
    /// A control character inside the line: a C0 control other than tab
    /// (a lone CR included, not the one of its CR LF end), or DEL.
    control: bool,
}

impl<'a> Line<'a> {
    /// The line's bytes, without its line end.
    #[inline(always)]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// A control character inside the line (PROTOCOL.md, Framing): a C0
    /// control other than tab, or DEL. A lone CR is one (it is not a line
    /// end); so is an escape sequence's ESC.
    #[inline(always)]
    pub fn has_control(&self) -> bool {
        self.control
    }

    /// The line as text, or `None` if it is not valid UTF-8. A line the scan
    /// found to be ASCII is not read again: the common line costs no second
    /// pass.
    #[inline(always)]
    pub fn text(&self) -> Option<&'a str> {
        if self.ascii {
            debug_assert!(self.bytes.is_ascii());
            // SAFETY: `ascii` is private to this module and set only from a
            // scan that saw every byte of `bytes` below 0x80 (`Line::of`,
            // `scan_line`); ASCII is valid UTF-8.
            Some(unsafe { std::str::from_utf8_unchecked(self.bytes) })
        } else {
            std::str::from_utf8(self.bytes).ok()
        }
    }

    /// The same facts for a line framed elsewhere (a [`Head`]'s lines).
    pub fn of(bytes: &'a [u8]) -> Line<'a> {
        let (mut high, mut control) = (0u64, 0u64);
        let mut chunks = bytes.chunks_exact(LANES);
        for chunk in &mut chunks {
            let w = word(chunk);
            high |= w & HIGH;
            control |= swar::control_bytes(w);
        }
        for &b in chunks.remainder() {
            high |= u64::from(b & 0x80);
            control |= u64::from(is_control(b));
        }
        Line { bytes, ascii: high == 0, control: control != 0 }
    }
}

/// Frames one head like [`parse_head`], but hands each line over as soon as
/// it is framed instead of collecting them: `start` makes a state from the
/// start line, `header` feeds it each header line. A parser built on this
/// reads the bytes once and allocates nothing; the limits, and the answer
/// for an incomplete head, are exactly [`parse_head`]'s.
#[inline]
pub fn frame<'a, S>(
    buf: &'a [u8],
    limits: &Limits,
    start: impl FnOnce(Line<'a>) -> S,
    mut header: impl FnMut(&mut S, Line<'a>),
) -> Result<Option<(S, usize)>, LimitError> {
    let mut start = Some(start);
    let mut state: Option<S> = None;
    let mut headers = 0;
    let mut pos = 0;
    loop {
        if pos > limits.max_head {
            return Err(LimitError::HeadTooLarge(limits.max_head));
        }
        let Some(scan) = scan_line(&buf[pos..]) else {
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
        let end = pos + scan.lf;
        let bytes = strip_cr(&buf[pos..end]);
        if bytes.len() > limits.max_line {
            return Err(LimitError::LineTooLong(limits.max_line));
        }
        let used = end + 1;
        if used > limits.max_head {
            return Err(LimitError::HeadTooLarge(limits.max_head));
        }
        pos = used;
        // The CR of a CR LF end sits at `bytes.len()`: a control before it is inside.
        let line = Line { bytes, ascii: scan.ascii, control: scan.first_control < bytes.len() };
        match (&mut state, bytes.is_empty()) {
            // Blank lines before a head are skipped (lenient receiver).
            (None, true) => {}
            (None, false) => state = start.take().map(|f| f(line)),
            (Some(_), true) => return Ok(state.map(|s| (s, used))),
            (Some(s), false) => {
                if headers == limits.max_headers {
                    return Err(LimitError::TooManyHeaders(limits.max_headers));
                }
                headers += 1;
                header(s, line);
            }
        }
    }
}

/// Where a line ends (its LF), whether the bytes before it are ASCII, and
/// where its first control character is (`usize::MAX` if none).
struct Scan {
    lf: usize,
    ascii: bool,
    first_control: usize,
}

/// A C0 control other than tab, or DEL (PROTOCOL.md, Framing).
#[inline(always)]
pub(crate) fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Finds the first LF in `bytes`, learning on the way whether the bytes
/// before it are ASCII and where the first control character is: framing
/// and the text checks of the next stage in one pass. Sixteen bytes at a time with SSE2
/// (part of every x86-64), eight at a time elsewhere and in the tail.
#[inline(always)]
fn scan_line(bytes: &[u8]) -> Option<Scan> {
    let (mut ascii, mut first_control) = (true, usize::MAX);
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= bytes.len() {
        let (lf, control, high) = swar::sse2_classify(&bytes[at..at + 16]);
        // Only the bytes before the LF count.
        let before = if lf == 0 { u32::MAX } else { (1u32 << lf.trailing_zeros()) - 1 };
        ascii &= high & before == 0;
        if control & before != 0 && first_control == usize::MAX {
            first_control = at + (control & before).trailing_zeros() as usize;
        }
        if lf != 0 {
            return Some(Scan { lf: at + lf.trailing_zeros() as usize, ascii, first_control });
        }
        at += 16;
    }
    while at + LANES <= bytes.len() {
        let w = word(&bytes[at..]);
        let lf = zero_bytes(w ^ splat(b'\n'));
        // Bit offset of the LF's byte; only the bytes before it count.
        let lf_bits = lf.trailing_zeros() & !7;
        let before = if lf == 0 { u64::MAX } else { (1u64 << lf_bits) - 1 };
        ascii &= w & before & HIGH == 0;
        let control = swar::control_bytes(w) & before;
        if control != 0 && first_control == usize::MAX {
            first_control = at + control.trailing_zeros() as usize / 8;
        }
        if lf != 0 {
            return Some(Scan { lf: at + lf_bits as usize / 8, ascii, first_control });
        }
        at += LANES;
    }
    for (i, &b) in bytes[at..].iter().enumerate() {
        if b == b'\n' {
            return Some(Scan { lf: at + i, ascii, first_control });
        }
        ascii &= b < 0x80;
        if is_control(b) && first_control == usize::MAX {
            first_control = at + i;
        }
    }
    None
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
    fn a_line_is_text_exactly_when_it_is_utf8_and_its_controls_are_found() {
        let mut lines: Vec<Vec<u8>> =
            vec![b"".to_vec(), "Title: é ☃".into(), b"\xff".to_vec(), b"\xc3\x28".to_vec()];
        // Every length around the 8- and 16-byte strides, a non-ASCII,
        // control or tab byte at every place.
        for len in 0..40 {
            let plain = vec![b'a'; len];
            lines.push(plain.clone());
            for at in 0..len {
                for b in [0x80u8, 0xff, b'\r', 0x1b, 0x00, 0x07, 0x7f, b'\t', 0x1f, b' ', b'~'] {
                    let mut l = plain.clone();
                    l[at] = b;
                    lines.push(l);
                }
            }
        }
        for bytes in &lines {
            let want = std::str::from_utf8(bytes).ok();
            let cr = bytes.iter().any(|&b| is_control(b));
            let of = Line::of(bytes);
            assert_eq!((of.text(), of.has_control(), of.bytes()), (want, cr, &bytes[..]), "{bytes:?}");
            // The framing scan learns the same.
            let mut buf = bytes.clone();
            buf.extend_from_slice(b"\r\n\r\n");
            let lim = Limits { max_line: 100, max_head: 1000, max_headers: 4 };
            if let Some((framed, _)) = frame(&buf, &lim, |l| l, |_, _| {}).unwrap() {
                assert_eq!((framed.text(), framed.has_control()), (want, cr), "{bytes:?}");
            }
        }
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
