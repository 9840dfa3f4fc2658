//! Responses: the server's answer to P2S requests, and the head of an upload
//! server's answer to GET.
//!
//! A P2S response always has one shape (docs/PROTOCOL.md, Peer to server):
//! status line, empty line, zero or more record lines, empty line. Its
//! encoder is split in three (head, one record, end) so that the server can
//! stream a LIST of any size, and always writes that shape. Its decoder is
//! incremental and keeps its place, so a long LIST arriving in many reads is
//! scanned once, not once per read; and it also reads the variants other
//! servers send (docs/PROTOCOL.md, Interoperability).

use std::time::SystemTime;

use thiserror::Error;

use super::head::Head;
use super::status::Status;
use super::types::{RfcNumber, is_digits, parse_port, push};

/// One line of the RFC index as it travels: `RFC <n> <title> <host> <port>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub rfc: RfcNumber,
    pub title: String,
    pub host: String,
    pub port: u16,
}

impl Record {
    /// Appends the record line, with its CR LF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_record(self.rfc, &self.title, &self.host, self.port, out);
    }

    /// Parses one record line (without its line end). The title holds blanks,
    /// so it is everything between the number and the last two fields. The
    /// leading `RFC` word is optional: some servers write the bare number
    /// (docs/PROTOCOL.md, Interoperability); blanks at either end are ignored.
    pub fn parse_line(line: &str) -> Option<Record> {
        let line = line.trim_matches([' ', '\t']);
        let rest = line.strip_prefix("RFC ").unwrap_or(line);
        let (number, rest) = rest.split_once(' ')?;
        let rfc = RfcNumber::parse(number)?;
        let (rest, port) = rest.rsplit_once(' ')?;
        let (title, host) = rest.rsplit_once(' ')?;
        if host.is_empty() {
            return None;
        }
        Some(Record { rfc, title: title.to_owned(), host: host.to_owned(), port: parse_port(port)? })
    }
}

/// A record line's pieces, in order, CR LF last.
#[inline]
fn record_pieces<'a>(rfc: &'a str, title: &'a str, host: &'a str, port: &'a str) -> [&'a str; 9] {
    ["RFC ", rfc, " ", title, " ", host, " ", port, "\r\n"]
}

/// Appends one record line from its parts, so a caller that keeps records in
/// another shape (the index) need not build a [`Record`] to send one.
pub fn encode_record(rfc: RfcNumber, title: &str, host: &str, port: u16, out: &mut Vec<u8>) {
    out.reserve(record_len(rfc, title, host, port));
    let (mut n, mut p) = (itoa::Buffer::new(), itoa::Buffer::new());
    for piece in record_pieces(n.format(rfc.0), title, host, p.format(port)) {
        out.extend_from_slice(piece.as_bytes());
    }
}

/// [`encode_record`]'s line as text of its own, allocated at its exact
/// size: what the index stores (built from text, so it needs no UTF-8
/// check).
pub fn record_line(rfc: RfcNumber, title: &str, host: &str, port: u16) -> Box<str> {
    let (mut n, mut p) = (itoa::Buffer::new(), itoa::Buffer::new());
    let pieces = record_pieces(n.format(rfc.0), title, host, p.format(port));
    let mut line = String::with_capacity(pieces.iter().map(|piece| piece.len()).sum());
    for piece in pieces {
        line.push_str(piece);
    }
    line.into_boxed_str()
}

/// The length of [`encode_record`]'s line, CR LF included.
pub fn record_len(rfc: RfcNumber, title: &str, host: &str, port: u16) -> usize {
    "RFC ".len()
        + decimal_len(rfc.0.into())
        + 1
        + title.len()
        + 1
        + host.len()
        + 1
        + decimal_len(port.into())
        + 2
}

/// Digits in `n`, written in decimal.
#[inline]
pub(crate) fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Appends a P2S response's status line and the empty line after it.
pub fn encode_p2s_head(status: Status, out: &mut Vec<u8>) {
    out.extend_from_slice(status.line_str().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends the empty line that ends a P2S response.
pub fn encode_p2s_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// A whole P2S response, as the peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2sResponse {
    pub status: Status,
    pub records: Vec<Record>,
}

impl P2sResponse {
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_p2s_head(self.status, out);
        for r in &self.records {
            r.encode(out);
        }
        encode_p2s_end(out);
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    #[error("bad status line {0:?}")]
    StatusLine(String),
    #[error("bad record line {0:?}")]
    RecordLine(String),
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("more than {0} records")]
    TooManyRecords(usize),
    #[error("text is not UTF-8")]
    Encoding,
    #[error("bad {0} header")]
    BadHeader(&'static str),
    #[error("missing {0} header")]
    MissingHeader(&'static str),
}

impl ResponseError {
    /// True for a breach of a size limit: the sender is streaming more than
    /// any answer may hold, so skipping to its next answer is hopeless and a
    /// reader should close the connection instead.
    pub fn is_limit(&self) -> bool {
        matches!(self, ResponseError::LineTooLong(_) | ResponseError::TooManyRecords(_))
    }
}

/// What a P2S response lacked when it was taken as it stood, because its
/// sender closed the connection or went quiet (docs/PROTOCOL.md,
/// Interoperability). The text completes "the answer lacked …".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Missing {
    /// Only the status line (and perhaps header lines) came.
    #[error("everything after its status line (no empty line, no records, no end)")]
    AfterStatusLine,
    /// The records, or the empty line after the status line, came; the
    /// empty line that ends an answer did not.
    #[error("its final empty line")]
    FinalEmptyLine,
    /// The last line came without its line end, and no final empty line.
    #[error("the end of its last line and its final empty line")]
    LastLineEnd,
}

/// An off-spec form a server's answer came in that the decoder read anyway
/// (docs/PROTOCOL.md, Interoperability), so a client can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum Leniency {
    #[error("record lines without the leading `RFC` word")]
    NoRfcWord,
    #[error("no empty line after the status line")]
    NoEmptyLineAfterStatus,
}

/// How far a response has come, for saying where one stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The status, once its line arrived.
    pub status: Option<Status>,
    /// Record lines read so far.
    pub records: usize,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            None => f.write_str("part of a status line"),
            Some(s) => write!(f, "the status line ({s}) and {} record line(s)", self.records),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before a status line. Empty lines here are skipped: they are the late
    /// end of an answer that was already taken as it stood.
    Status,
    /// After the status line: header lines (ignored), the empty line, or,
    /// from servers that leave that empty line out, the first record.
    AfterStatus(Status),
    /// Reading record lines until the empty line that ends the answer.
    Records { status: Status, blank: bool },
}

/// Incremental reader of P2S responses. Feed it the unread bytes; it says how
/// many it consumed and, once a response is complete, returns it. Pure: the
/// caller owns the buffer, the socket and the clock.
///
/// It reads the standard shape and the variants other servers send
/// (docs/PROTOCOL.md, Interoperability): bare LF line ends, record lines
/// without the `RFC` word, no empty line after the status line, header
/// lines after the status line, any phrase after a known status code. An
/// answer whose final empty line never comes is not complete here, since
/// only time or the end of input can tell it is over: the caller asks
/// [`P2sResponseDecoder::can_finish`], waits its grace, and takes it with
/// [`P2sResponseDecoder::finish`].
///
/// After an error the decoder starts afresh at the next status line; what
/// the caller skips before it (the rest of the bad answer) is its choice.
#[derive(Debug, Clone)]
pub struct P2sResponseDecoder {
    stage: Stage,
    records: Vec<Record>,
    max_line: usize,
    max_records: usize,
    /// Off-spec forms read since the last [`take_leniencies`](Self::take_leniencies).
    lenient: Vec<Leniency>,
}

impl P2sResponseDecoder {
    pub fn new(max_line: usize, max_records: usize) -> Self {
        P2sResponseDecoder {
            stage: Stage::Status,
            records: Vec::new(),
            max_line,
            max_records,
            lenient: Vec::new(),
        }
    }

    /// Consumes whole lines from `buf`. Returns the bytes consumed (drop them
    /// before the next call) and the response if it is now complete. An
    /// error leaves the decoder reset.
    pub fn decode(&mut self, buf: &[u8]) -> Result<(usize, Option<P2sResponse>), ResponseError> {
        let mut pos = 0;
        loop {
            let Some(off) = memchr::memchr(b'\n', &buf[pos..]) else {
                if buf.len() - pos > self.max_line + 1 {
                    self.reset();
                    return Err(ResponseError::LineTooLong(self.max_line));
                }
                return Ok((pos, None));
            };
            let raw = &buf[pos..pos + off];
            pos += off + 1;
            match self.line(raw.strip_suffix(b"\r").unwrap_or(raw)) {
                Ok(None) => {}
                Ok(Some(resp)) => return Ok((pos, Some(resp))),
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            }
        }
    }

    /// Takes one line, without its line end.
    fn line(&mut self, raw: &[u8]) -> Result<Option<P2sResponse>, ResponseError> {
        if raw.len() > self.max_line {
            return Err(ResponseError::LineTooLong(self.max_line));
        }
        let line = std::str::from_utf8(raw).map_err(|_| ResponseError::Encoding)?;
        self.stage = match self.stage {
            Stage::Status if line.trim().is_empty() => Stage::Status,
            Stage::Status => Stage::AfterStatus(
                parse_status_line(line).ok_or_else(|| ResponseError::StatusLine(line.to_owned()))?,
            ),
            Stage::AfterStatus(status) if line.is_empty() => Stage::Records { status, blank: true },
            Stage::AfterStatus(status) if is_header_line(line) => Stage::AfterStatus(status),
            Stage::AfterStatus(status) => {
                self.record(line)?;
                self.note(Leniency::NoEmptyLineAfterStatus);
                Stage::Records { status, blank: false }
            }
            Stage::Records { status, .. } if line.is_empty() => {
                self.stage = Stage::Status;
                let records = std::mem::take(&mut self.records);
                return Ok(Some(P2sResponse { status, records }));
            }
            Stage::Records { status, blank } => {
                self.record(line)?;
                Stage::Records { status, blank }
            }
        };
        Ok(None)
    }

    fn record(&mut self, line: &str) -> Result<(), ResponseError> {
        if self.records.len() >= self.max_records {
            return Err(ResponseError::TooManyRecords(self.max_records));
        }
        let record = Record::parse_line(line).ok_or_else(|| ResponseError::RecordLine(line.to_owned()))?;
        if !line.trim_start_matches([' ', '\t']).starts_with("RFC ") {
            self.note(Leniency::NoRfcWord);
        }
        // A record fits when its own line does, as this side would write it:
        // a lenient line (no `RFC` word) one byte under the limit must not
        // decode to a record whose re-encoding breaks it.
        if record_len(record.rfc, &record.title, &record.host, record.port) - 2 > self.max_line {
            return Err(ResponseError::LineTooLong(self.max_line));
        }
        self.records.push(record);
        Ok(())
    }

    fn note(&mut self, form: Leniency) {
        if !self.lenient.contains(&form) {
            self.lenient.push(form);
        }
    }

    /// The off-spec forms read since the last call, each once, in the order
    /// first seen. [`reset`](Self::reset) does not forget them.
    pub fn take_leniencies(&mut self) -> Vec<Leniency> {
        std::mem::take(&mut self.lenient)
    }

    /// True when a status line has arrived and `unread` (the bytes
    /// [`decode`](Self::decode) left) holds no partial line: the answer may
    /// be whole but for its final empty line, and a quiet sender means it is
    /// ([`finish`](Self::finish)). A partial line means more is on its way.
    pub fn can_finish(&self, unread: &[u8]) -> bool {
        self.stage != Stage::Status && unread.is_empty()
    }

    /// The sender closed the connection, or went quiet past the caller's
    /// grace, with `unread` left over (a last line with no line end, or
    /// nothing). Takes the answer as it stands and says what it lacked.
    /// `Ok(None)` when no status line ever came. Resets the decoder.
    pub fn finish(&mut self, unread: &[u8]) -> Result<Option<(P2sResponse, Missing)>, ResponseError> {
        let unread = unread.strip_suffix(b"\r").unwrap_or(unread);
        let cut_line = !unread.is_empty();
        if cut_line {
            match self.line(unread) {
                Ok(None) => {}
                // Only an empty line ends an answer, and this one is not.
                Ok(Some(resp)) => return Ok(Some((resp, Missing::FinalEmptyLine))),
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            }
        }
        let stage = std::mem::replace(&mut self.stage, Stage::Status);
        let records = std::mem::take(&mut self.records);
        let (status, missing) = match stage {
            Stage::Status => return Ok(None),
            Stage::AfterStatus(status) if !cut_line => (status, Missing::AfterStatusLine),
            Stage::AfterStatus(status) | Stage::Records { status, .. } if cut_line => {
                (status, Missing::LastLineEnd)
            }
            Stage::AfterStatus(status) | Stage::Records { status, .. } => (status, Missing::FinalEmptyLine),
        };
        Ok(Some((P2sResponse { status, records }, missing)))
    }

    /// How far the answer being read has come.
    pub fn progress(&self) -> Progress {
        let status = match self.stage {
            Stage::Status => None,
            Stage::AfterStatus(s) | Stage::Records { status: s, .. } => Some(s),
        };
        Progress { status, records: self.records.len() }
    }

    /// Forgets any partial answer: the next line read must start one.
    pub fn reset(&mut self) {
        self.stage = Stage::Status;
        self.records.clear();
    }
}

impl Default for P2sResponseDecoder {
    fn default() -> Self {
        P2sResponseDecoder::new(8 * 1024, usize::MAX)
    }
}

/// A status line: `P2P-CI/1.0`, a known code, then any phrase. The phrase is
/// checked when we answer, not when we read (as HTTP clients do): other
/// servers spell it their own way, and the code carries the meaning.
fn parse_status_line(line: &str) -> Option<Status> {
    if let Some(status) = Status::parse_line(line) {
        return Some(status);
    }
    let rest = line.strip_prefix(super::VERSION)?.strip_prefix(' ')?;
    let code = rest.get(..3)?;
    if !is_digits(code) || !(rest.len() == 3 || rest[3..].starts_with(' ')) {
        return None;
    }
    Status::from_code(code.parse().ok()?)
}

/// `Name: value`, with a name that starts with a letter: never a record
/// line, which starts with `RFC ` or a digit.
fn is_header_line(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The head of an upload server's answer to GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResponseHead {
    pub status: Status,
    pub date: Option<SystemTime>,
    pub os: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// Present on every 200; the body is exactly this many bytes.
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
    /// The file's SHA-256 (`Repr-Digest`), sent only to a GET that asked
    /// (PROTOCOL.md, Extension: content digest). A `Repr-Digest` naming
    /// only other algorithms reads as `None`.
    pub repr_digest: Option<super::digest::Sha256Digest>,
}

impl GetResponseHead {
    /// The head of a 200 answer with the five headers of PROTOCOL.md.
    pub fn ok(date: SystemTime, os: &str, last_modified: SystemTime, content_length: u64) -> Self {
        GetResponseHead {
            status: Status::Ok,
            date: Some(date),
            os: Some(os.to_owned()),
            last_modified: Some(last_modified),
            content_length: Some(content_length),
            content_type: Some("text/plain".to_owned()),
            repr_digest: None,
        }
    }

    /// An error answer: a status line and an empty line, nothing else.
    pub fn error(status: Status) -> Self {
        GetResponseHead {
            status,
            date: None,
            os: None,
            last_modified: None,
            content_length: None,
            content_type: None,
            repr_digest: None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.status.line_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(date) = self.date {
            push(out, format_args!("Date: {}\r\n", httpdate::fmt_http_date(date)));
        }
        if let Some(os) = &self.os {
            push(out, format_args!("OS: {os}\r\n"));
        }
        if let Some(lm) = self.last_modified {
            push(out, format_args!("Last-Modified: {}\r\n", httpdate::fmt_http_date(lm)));
        }
        if let Some(len) = self.content_length {
            push(out, format_args!("Content-Length: {len}\r\n"));
        }
        if let Some(ct) = &self.content_type {
            push(out, format_args!("Content-Type: {ct}\r\n"));
        }
        if let Some(digest) = &self.repr_digest {
            digest.encode_header(out);
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Gives a framed head its meaning as a GET answer. A 200 must carry a
    /// Content-Length: without it the downloader could not tell a whole file
    /// from a cut one.
    pub fn from_head(head: &Head<'_>) -> Result<GetResponseHead, ResponseError> {
        let start = std::str::from_utf8(head.start).map_err(|_| ResponseError::Encoding)?;
        let status = Status::parse_line(start).ok_or_else(|| ResponseError::StatusLine(start.to_owned()))?;
        let mut h = GetResponseHead::error(status);
        for line in &head.headers {
            let line = std::str::from_utf8(line).map_err(|_| ResponseError::Encoding)?;
            let Some((name, value)) = line.split_once(':') else {
                return Err(ResponseError::BadHeader("line"));
            };
            let (name, value) = (name.trim(), value.trim_matches([' ', '\t']));
            // The dates are for people, and other implementations write
            // them loosely (PROTOCOL.md's own example names the wrong
            // weekday): one that cannot be read is left out, never a reason
            // to refuse a file.
            if name.eq_ignore_ascii_case("Date") {
                h.date = httpdate::parse_http_date(value).ok();
            } else if name.eq_ignore_ascii_case("Last-Modified") {
                h.last_modified = httpdate::parse_http_date(value).ok();
            } else if name.eq_ignore_ascii_case("OS") {
                h.os = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("Content-Type") {
                h.content_type = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("Repr-Digest") {
                let digest = super::digest::parse_repr_digest(value)
                    .map_err(|_| ResponseError::BadHeader("Repr-Digest"))?;
                if let Some(d) = digest
                    && h.repr_digest.replace(d).is_some_and(|old| old != d)
                {
                    return Err(ResponseError::BadHeader("Repr-Digest"));
                }
            } else if name.eq_ignore_ascii_case("Content-Length") {
                let len = is_digits(value).then(|| value.parse::<u64>().ok()).flatten();
                let len = len.ok_or(ResponseError::BadHeader("Content-Length"))?;
                if h.content_length.replace(len).is_some_and(|old| old != len) {
                    return Err(ResponseError::BadHeader("Content-Length"));
                }
            }
        }
        if status == Status::Ok && h.content_length.is_none() {
            return Err(ResponseError::MissingHeader("Content-Length"));
        }
        Ok(h)
    }
}

#[cfg(test)]
pub(crate) mod tests;
