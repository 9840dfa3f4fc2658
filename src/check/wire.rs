//! The checker's own view of the bytes on a connection.
//!
//! p2pci's parser is lenient by design (docs/PROTOCOL.md,
//! Interoperability): it would read right past the very deviations the
//! checker exists to report. So the checker reads an answer here in two
//! steps: [`Conn::answer`] cuts it out of the stream leniently (so the
//! next answer is still found), keeping every line with the exact line end
//! it came with; then each case judges only what it names (its status code,
//! its records, its line ends, its empty lines), so one defect fails the
//! cases about it and no others.
//!
//! Every byte sent and received goes into the case's [`Exchange`], which a
//! failure shows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::case::{Ctx, Exchange, Stop};
use crate::protocol::Record;

/// How long an answer that has begun may pause before what arrived is
/// taken as all of it (the peer's own grace, docs/PROTOCOL.md,
/// Interoperability).
pub const GRACE: Duration = Duration::from_millis(500);

/// How one line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    CrLf,
    /// A bare LF.
    Lf,
    /// None: the connection closed, or went quiet, in the middle of it.
    Missing,
}

/// One received line, without its line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub bytes: Vec<u8>,
    pub end: LineEnd,
}

impl Line {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Lines as they came on the wire, each with its own line end: what a
/// failure report quotes.
pub fn raw(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l.bytes);
        match l.end {
            LineEnd::CrLf => out.extend_from_slice(b"\r\n"),
            LineEnd::Lf => out.push(b'\n'),
            LineEnd::Missing => {}
        }
    }
    out
}

/// How an answer's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// On the empty line after its records: the exact form.
    EmptyLine,
    /// On the status line of the next answer.
    NextAnswer,
    /// The connection closed.
    Closed,
    /// Nothing more came within [`GRACE`].
    Silent,
}

/// One P2S answer as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Every line of it, in order, blank ones included.
    pub lines: Vec<Line>,
    /// Blank lines before the status line.
    pub leading_blanks: usize,
    /// The index of the status line in `lines`.
    pub status_at: usize,
    /// An empty line came right after the status line.
    pub empty_after_status: bool,
    /// The lines between the status line (or its empty line) and the end.
    pub body: Vec<Line>,
    pub ending: Ending,
}

impl Answer {
    pub fn status_line(&self) -> &Line {
        &self.lines[self.status_at]
    }

    /// The code, read leniently: the second word of the status line.
    pub fn code(&self) -> Option<u16> {
        let text = self.status_line().text();
        let mut words = text.split_whitespace();
        words.next()?;
        words.next()?.parse().ok()
    }

    /// The body lines read as records (leniently: the optional `RFC` word,
    /// blanks at the ends); lines that are not records are left out.
    pub fn records(&self) -> Vec<Record> {
        self.body.iter().filter_map(|l| Record::parse_line(l.text().trim_end_matches('\r'))).collect()
    }

    /// Body lines that do not read as records.
    pub fn bad_lines(&self) -> Vec<String> {
        self.body
            .iter()
            .filter(|l| Record::parse_line(l.text().trim_end_matches('\r')).is_none())
            .map(Line::text)
            .collect()
    }

    /// A short account for failure messages: `404 with 2 record lines`.
    pub fn summary(&self) -> String {
        let status = display(&self.status_line().bytes);
        match self.body.len() {
            0 => format!("{status} with no record lines"),
            1 => format!("{status} with 1 record line"),
            n => format!("{status} with {n} record lines"),
        }
    }
}

/// A line of `buf` up to its LF, if one is there.
fn take_line(buf: &mut Vec<u8>) -> Option<Line> {
    let lf = memchr::memchr(b'\n', buf)?;
    let mut bytes: Vec<u8> = buf.drain(..=lf).collect();
    bytes.pop();
    let end = if bytes.last() == Some(&b'\r') {
        bytes.pop();
        LineEnd::CrLf
    } else {
        LineEnd::Lf
    };
    Some(Line { bytes, end })
}

/// What one read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Data,
    Closed,
    Silent,
}

/// A connection to the target, recording into the case's exchange.
pub struct Conn {
    stream: TcpStream,
    /// Received and not yet taken.
    buf: Vec<u8>,
    exchange: Arc<Mutex<Exchange>>,
    closed: bool,
}

impl Conn {
    /// Connects to the target, within the case's time.
    pub async fn open(ctx: &Ctx) -> Result<Conn, Stop> {
        let stream = match timeout(ctx.timeout, TcpStream::connect(&ctx.target)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(ctx.fail(format!("a connection to {}", ctx.target), e.to_string())),
            Err(_) => {
                return Err(
                    ctx.fail(format!("a connection to {}", ctx.target), "no answer to the connection")
                );
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn { stream, buf: Vec::new(), exchange: ctx.exchange.clone(), closed: false })
    }

    /// A connection accepted by the checker (client mode).
    pub fn accepted(stream: TcpStream, exchange: Arc<Mutex<Exchange>>) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn { stream, buf: Vec::new(), exchange, closed: false }
    }

    fn exchange(&self) -> std::sync::MutexGuard<'_, Exchange> {
        self.exchange.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `bytes` in one write, starting a new exchange.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        {
            let mut ex = self.exchange();
            ex.sent = bytes.to_vec();
            ex.received.clear();
        }
        self.write(bytes).await
    }

    /// Sends `bytes` one byte per write (each its own TCP segment: the
    /// socket has no Nagle delay and the writes are a moment apart).
    pub async fn send_bytewise(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        {
            let mut ex = self.exchange();
            ex.sent = bytes.to_vec();
            ex.received.clear();
        }
        for b in bytes {
            self.write(std::slice::from_ref(b)).await?;
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.stream.write_all(bytes).await.map_err(|e| self.stop("to send the request", &e.to_string()))
    }

    /// Writes `bytes` as they are, outside any exchange: the checker's own
    /// answers in client mode.
    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends `bytes` and ignores a failure to: for requests the target may
    /// refuse (and close on) before it has read them all.
    pub async fn send_unchecked(&mut self, bytes: &[u8]) {
        {
            let mut ex = self.exchange();
            ex.sent = bytes.to_vec();
            ex.received.clear();
        }
        let _ = self.stream.write_all(bytes).await;
    }

    /// A failure on this connection's exchange.
    pub fn stop(&self, expected: &str, actual: &str) -> Stop {
        let ex = self.exchange();
        Stop::Fail(super::case::Failure {
            expected: expected.to_owned(),
            actual: actual.to_owned(),
            sent: ex.sent.clone(),
            received: ex.received.clone(),
        })
    }

    /// One read, waiting at most `wait` (forever with `None`: the case's
    /// own timeout bounds it).
    pub async fn fill(&mut self, wait: Option<Duration>) -> Result<Fill, Stop> {
        if self.closed {
            return Ok(Fill::Closed);
        }
        let mut chunk = [0u8; 16 * 1024];
        let read = self.stream.read(&mut chunk);
        let n = match wait {
            Some(w) => match timeout(w, read).await {
                Ok(r) => r,
                Err(_) => return Ok(Fill::Silent),
            },
            None => read.await,
        };
        match n {
            Ok(0) => {
                self.closed = true;
                Ok(Fill::Closed)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.exchange().received.extend_from_slice(&chunk[..n]);
                Ok(Fill::Data)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                self.closed = true;
                Err(self.stop("an answer", "the connection was reset (a server that closes with unread bytes resets it: read them, or linger, before closing)"))
            }
            Err(e) => Err(self.stop("an answer", &e.to_string())),
        }
    }

    /// The next line, waiting at most `wait` for more bytes each time;
    /// `Ok(None)` when nothing more comes (closed or quiet): a partial
    /// last line is then returned once, marked [`LineEnd::Missing`].
    async fn line(&mut self, wait: Option<Duration>) -> Result<Option<Line>, Stop> {
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Ok(Some(line));
            }
            match self.fill(wait).await? {
                Fill::Data => {}
                Fill::Closed | Fill::Silent if !self.buf.is_empty() => {
                    let bytes = std::mem::take(&mut self.buf);
                    return Ok(Some(Line { bytes, end: LineEnd::Missing }));
                }
                Fill::Closed | Fill::Silent => return Ok(None),
            }
        }
    }

    fn unread_line(&mut self, line: Line) {
        let mut bytes = line.bytes;
        match line.end {
            LineEnd::CrLf => bytes.extend_from_slice(b"\r\n"),
            LineEnd::Lf => bytes.push(b'\n'),
            LineEnd::Missing => {}
        }
        bytes.append(&mut self.buf);
        self.buf = bytes;
    }

    /// Reads one P2S answer (see the module's doc): waits for its status
    /// line as long as the case may, then for the rest with [`GRACE`].
    pub async fn answer(&mut self) -> Result<Answer, Stop> {
        let mut lines = Vec::new();
        let mut leading_blanks = 0;
        let status = loop {
            match self.line(None).await? {
                None => return Err(self.stop("an answer", "the connection closed with no answer")),
                Some(l) if l.is_empty() => {
                    leading_blanks += 1;
                    lines.push(l);
                }
                Some(l) => break l,
            }
        };
        let status_at = lines.len();
        let status_end = status.end;
        lines.push(status);
        let mut answer = Answer {
            lines,
            leading_blanks,
            status_at,
            empty_after_status: false,
            body: Vec::new(),
            ending: Ending::Silent,
        };
        if status_end == LineEnd::Missing {
            answer.ending = if self.closed { Ending::Closed } else { Ending::Silent };
            return Ok(answer);
        }
        let mut first = true;
        loop {
            let Some(line) = self.line(Some(GRACE)).await? else {
                answer.ending = if self.closed { Ending::Closed } else { Ending::Silent };
                return Ok(answer);
            };
            if line.is_empty() && line.end != LineEnd::Missing {
                answer.lines.push(line);
                if first {
                    answer.empty_after_status = true;
                    first = false;
                    continue;
                }
                answer.ending = Ending::EmptyLine;
                return Ok(answer);
            }
            if line.bytes.starts_with(b"P2P-CI/") {
                self.unread_line(line);
                answer.ending = Ending::NextAnswer;
                return Ok(answer);
            }
            first = false;
            answer.lines.push(line.clone());
            answer.body.push(line);
        }
    }

    /// Waits up to `wait` for the other side to close: `Ok(true)` once it
    /// has (bytes that came first are kept in the exchange and returned by
    /// [`Conn::take_buffered`]), `Ok(false)` if it is still open.
    pub async fn closes_within(&mut self, wait: Duration) -> Result<bool, Stop> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match self.fill(Some(left)).await {
                Ok(Fill::Closed) => return Ok(true),
                Ok(Fill::Silent) => return Ok(false),
                Ok(Fill::Data) => {}
                // A reset is a close too.
                Err(_) if self.closed => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until `n` bytes are buffered, the connection closes, or it is
    /// quiet for `quiet`; returns how many are buffered.
    pub async fn read_up_to(&mut self, n: usize, quiet: Duration) -> Result<usize, Stop> {
        while self.buf.len() < n {
            match self.fill(Some(quiet)).await? {
                Fill::Data => {}
                Fill::Closed | Fill::Silent => break,
            }
        }
        Ok(self.buf.len())
    }

    /// Reads a head (lines up to an empty line), leniently, waiting as
    /// long as the case may: for a GET's answer.
    pub async fn head(&mut self) -> Result<Vec<Line>, Stop> {
        let mut lines = Vec::new();
        loop {
            match self.line(None).await? {
                None => {
                    if lines.is_empty() {
                        return Err(self.stop("an answer", "the connection closed with no answer"));
                    }
                    return Ok(lines);
                }
                Some(l) => {
                    let end = l.is_empty() && l.end != LineEnd::Missing;
                    let missing = l.end == LineEnd::Missing;
                    lines.push(l);
                    if end || missing {
                        return Ok(lines);
                    }
                }
            }
        }
    }

    /// Everything received and not yet taken.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Closes politely (FIN), waiting for nothing.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Shuts down the sending side only (a half-close); reading goes on.
    pub async fn half_close(&mut self) -> Result<(), Stop> {
        self.stream.shutdown().await.map_err(|e| self.stop("a half-close", &e.to_string()))
    }

    /// Closes abruptly: a TCP reset, as a crashed peer's would be.
    pub fn reset(self) {
        let sock = socket2::SockRef::from(&self.stream);
        let _ = sock.set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }

    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

/// `bytes` written so that every byte can be seen: printable text as it
/// is, `\r`, `\n`, `\t`, `\\`, `\"` by name, any other control character or
/// byte that is not UTF-8 as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (good, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // Only the valid prefix was taken, so this cannot fail.
                (std::str::from_utf8(good).unwrap_or_default(), bad)
            }
        };
        for c in good.chars() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if c.is_control() => {
                    let mut b = [0; 4];
                    for byte in c.encode_utf8(&mut b).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        let Some((&b, after)) = bad.split_first() else { break };
        out.push_str(&format!("\\x{b:02x}"));
        rest = after;
    }
    out
}

/// Longest escaped form shown in a report; past it the middle is cut.
pub const SHOWN: usize = 320;

/// [`escape`], quoted, with the middle cut out past [`SHOWN`] characters
/// (saying how many bytes were left out).
pub fn display(bytes: &[u8]) -> String {
    const HEAD: usize = 200;
    const TAIL: usize = 80;
    let escaped = escape(bytes);
    let chars: Vec<char> = escaped.chars().collect();
    if chars.len() <= SHOWN {
        return format!("\"{escaped}\"");
    }
    let head: String = chars[..HEAD].iter().collect();
    let tail: String = chars[chars.len() - TAIL..].iter().collect();
    format!("\"{head}\" … ({} characters left out) … \"{tail}\"", chars.len() - HEAD - TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::case::Ctx;

    #[test]
    fn escaping_shows_every_byte() {
        assert_eq!(escape(b"OK\r\n"), "OK\\r\\n");
        assert_eq!(escape(b"a\x1b[2J\x00\x7f"), "a\\x1b[2J\\x00\\x7f");
        assert_eq!(escape("Grüße \"x\" \\".as_bytes()), "Grüße \\\"x\\\" \\\\");
        assert_eq!(escape(b"\xff\xc3a"), "\\xff\\xc3a");
        assert_eq!(escape("\u{9b}".as_bytes()), "\\xc2\\x9b");
    }

    #[test]
    fn long_bytes_are_cut_in_the_middle() {
        let long = vec![b'a'; 1000];
        let shown = display(&long);
        assert!(shown.contains("(720 characters left out)"), "{shown}");
        assert!(shown.len() < 400);
        assert_eq!(display(b"short"), "\"short\"");
    }

    /// The answers `bytes` reads as, sent by a peer that then closes.
    async fn answers(bytes: &'static [u8]) -> Vec<Answer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ctx = Ctx::new(listener.local_addr().unwrap().to_string(), Duration::from_secs(5), None);
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(bytes).await.unwrap();
        });
        let mut c = Conn::open(&ctx).await.unwrap();
        let mut out = Vec::new();
        while let Ok(a) = c.answer().await {
            out.push(a);
        }
        out
    }

    #[tokio::test]
    async fn answers_are_cut_leniently_and_kept_exactly() {
        let exact = answers(
            b"P2P-CI/1.0 200 OK\r\n\r\nRFC 1 A title h 9\r\n\r\nP2P-CI/1.0 404 Not Found\r\n\r\n\r\n",
        )
        .await;
        assert_eq!(exact.len(), 2);
        assert!(exact.iter().all(|a| a.empty_after_status && a.ending == Ending::EmptyLine));
        assert_eq!((exact[0].code(), exact[0].records().len(), exact[1].code()), (Some(200), 1, Some(404)));
        assert!(exact.iter().flat_map(|a| &a.lines).all(|l| l.end == LineEnd::CrLf));

        // No empty line after the status line, bare LF, then a next answer
        // before the final empty line, then a close mid-answer.
        let bent = answers(b"P2P-CI/1.0 200 OK\nRFC 1 A title h 9\n\nP2P-CI/1.0 200 OK\r\n\r\n8 t h 9\r\nP2P-CI/1.0 400 Bad Request\r\n").await;
        assert_eq!(bent.len(), 3);
        assert!(!bent[0].empty_after_status && bent[0].ending == Ending::EmptyLine);
        assert_eq!(bent[0].lines[0].end, LineEnd::Lf);
        assert_eq!((bent[1].ending, bent[1].records().len()), (Ending::NextAnswer, 1));
        assert_eq!((bent[2].code(), bent[2].ending), (Some(400), Ending::Closed));
        assert_eq!(bent[2].body.len(), 0);
    }

    #[test]
    fn lines_keep_their_ends() {
        let mut buf = b"a\r\nb\nc".to_vec();
        assert_eq!(take_line(&mut buf), Some(Line { bytes: b"a".to_vec(), end: LineEnd::CrLf }));
        assert_eq!(take_line(&mut buf), Some(Line { bytes: b"b".to_vec(), end: LineEnd::Lf }));
        assert_eq!(take_line(&mut buf), None);
        assert_eq!(buf, b"c");
    }
}
