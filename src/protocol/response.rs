//! Responses: the server's answer to P2S requests, and the head of an upload
//! server's answer to GET.
//!
//! A P2S response always has one shape (PROTOCOL.md, Peer to server): status
//! line, empty line, zero or more record lines, empty line. Its encoder is
//! split in three (head, one record, end) so that the server can stream a LIST
//! of any size; its decoder is incremental and keeps its place, so a long LIST
//! arriving in many reads is scanned once, not once per read.

use std::time::SystemTime;

use thiserror::Error;

use super::head::Head;
use super::request::{RfcNumber, parse_port, push, push_decimal};
use super::status::Status;

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
    /// so it is everything between the number and the last two fields.
    pub fn parse_line(line: &str) -> Option<Record> {
        let rest = line.strip_prefix("RFC ")?;
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

/// Appends one record line from its parts, so a caller that keeps records in
/// another shape (the index) need not build a [`Record`] to send one.
pub fn encode_record(rfc: RfcNumber, title: &str, host: &str, port: u16, out: &mut Vec<u8>) {
    out.reserve(title.len() + host.len() + 24);
    out.extend_from_slice(b"RFC ");
    push_decimal(out, rfc.0.into());
    out.push(b' ');
    out.extend_from_slice(title.as_bytes());
    out.push(b' ');
    out.extend_from_slice(host.as_bytes());
    out.push(b' ');
    push_decimal(out, port.into());
    out.extend_from_slice(b"\r\n");
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
    #[error("expected an empty line after the status line")]
    MissingBlank,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Status,
    Blank(Status),
    Records(Status),
}

/// Incremental reader of P2S responses. Feed it the unread bytes; it says how
/// many it consumed and, once a response is complete, returns it. Pure: the
/// caller owns the buffer and the socket.
#[derive(Debug, Clone)]
pub struct P2sResponseDecoder {
    stage: Stage,
    records: Vec<Record>,
    max_line: usize,
    max_records: usize,
}

impl P2sResponseDecoder {
    pub fn new(max_line: usize, max_records: usize) -> Self {
        P2sResponseDecoder { stage: Stage::Status, records: Vec::new(), max_line, max_records }
    }

    /// Consumes whole lines from `buf`. Returns the bytes consumed (drop them
    /// before the next call) and the response if it is now complete.
    pub fn decode(&mut self, buf: &[u8]) -> Result<(usize, Option<P2sResponse>), ResponseError> {
        let mut pos = 0;
        loop {
            let Some(off) = memchr::memchr(b'\n', &buf[pos..]) else {
                if buf.len() - pos > self.max_line + 1 {
                    return Err(ResponseError::LineTooLong(self.max_line));
                }
                return Ok((pos, None));
            };
            let raw = &buf[pos..pos + off];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            pos += off + 1;
            if raw.len() > self.max_line {
                return Err(ResponseError::LineTooLong(self.max_line));
            }
            let line = std::str::from_utf8(raw).map_err(|_| ResponseError::Encoding)?;
            self.stage = match self.stage {
                Stage::Status => Stage::Blank(
                    Status::parse_line(line).ok_or_else(|| ResponseError::StatusLine(line.to_owned()))?,
                ),
                Stage::Blank(status) if line.is_empty() => Stage::Records(status),
                Stage::Blank(_) => return Err(ResponseError::MissingBlank),
                Stage::Records(status) if line.is_empty() => {
                    self.stage = Stage::Status;
                    let records = std::mem::take(&mut self.records);
                    return Ok((pos, Some(P2sResponse { status, records })));
                }
                Stage::Records(status) => {
                    if self.records.len() == self.max_records {
                        return Err(ResponseError::TooManyRecords(self.max_records));
                    }
                    let record =
                        Record::parse_line(line).ok_or_else(|| ResponseError::RecordLine(line.to_owned()))?;
                    self.records.push(record);
                    Stage::Records(status)
                }
            };
        }
    }
}

impl Default for P2sResponseDecoder {
    fn default() -> Self {
        P2sResponseDecoder::new(8 * 1024, usize::MAX)
    }
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
                let len = super::is_digits(value).then(|| value.parse::<u64>().ok()).flatten();
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
pub(crate) mod tests {
    use super::*;
    use crate::protocol::head::{Limits, parse_head};
    use std::time::{Duration, UNIX_EPOCH};

    fn rec(rfc: u32, title: &str, host: &str, port: u16) -> Record {
        Record { rfc: RfcNumber(rfc), title: title.into(), host: host.into(), port }
    }

    #[test]
    fn response_shape() {
        let mut out = Vec::new();
        P2sResponse {
            status: Status::Ok,
            records: vec![rec(123, "A Proferred Official ICP", "h.example", 5678)],
        }
        .encode(&mut out);
        assert_eq!(out, b"P2P-CI/1.0 200 OK\r\n\r\nRFC 123 A Proferred Official ICP h.example 5678\r\n\r\n");
        let mut out = Vec::new();
        P2sResponse { status: Status::NotFound, records: vec![] }.encode(&mut out);
        assert_eq!(out, b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n");
    }

    #[test]
    fn record_lines() {
        assert_eq!(Record::parse_line("RFC 1 a b c host 9"), Some(rec(1, "a b c", "host", 9)));
        assert_eq!(Record::parse_line("RFC 1 t h 9"), Some(rec(1, "t", "h", 9)));
        assert_eq!(Record::parse_line("RFC 1  h 9"), Some(rec(1, "", "h", 9)));
        for bad in ["RFC 1 h 9", "RFC x t h 9", "RFC 1 t h 0", "RFC 1 t h x", "rfc 1 t h 9", "RFC 1 t  9", ""]
        {
            assert_eq!(Record::parse_line(bad), None, "{bad:?}");
        }
    }

    /// Feeds `wire` to a fresh decoder in pieces of `chunk` bytes, as reads
    /// would deliver it; returns every response and the bytes left over.
    pub(crate) fn decode_in_chunks(wire: &[u8], chunk: usize) -> (Vec<P2sResponse>, Vec<u8>) {
        let mut dec = P2sResponseDecoder::default();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let (used, resp) = dec.decode(&buf).unwrap();
                buf.drain(..used);
                match resp {
                    Some(r) => got.push(r),
                    None => break,
                }
            }
        }
        (got, buf)
    }

    #[test]
    fn decoder_any_split() {
        let mut wire = Vec::new();
        let a = P2sResponse { status: Status::Ok, records: vec![rec(1, "x y", "h", 1), rec(2, "z", "g", 2)] };
        let b = P2sResponse { status: Status::NotFound, records: vec![] };
        a.encode(&mut wire);
        b.encode(&mut wire);
        // Feed in chunks of every size; the two responses come out in order.
        for chunk in 1..=wire.len() {
            let (got, left) = decode_in_chunks(&wire, chunk);
            assert_eq!(got, vec![a.clone(), b.clone()], "chunk {chunk}");
            assert!(left.is_empty());
        }
    }

    #[test]
    fn decoder_errors() {
        let cases: [(&[u8], ResponseError); 5] = [
            (b"HTTP/1.1 200 OK\r\n", ResponseError::StatusLine("HTTP/1.1 200 OK".into())),
            (b"P2P-CI/1.0 200 OK\r\nX\r\n", ResponseError::MissingBlank),
            (b"P2P-CI/1.0 200 OK\r\n\r\nnope\r\n", ResponseError::RecordLine("nope".into())),
            (b"P2P-CI/1.0 200 OK\r\n\r\n\xff\r\n", ResponseError::Encoding),
            (&[b'a'; 100], ResponseError::LineTooLong(10)),
        ];
        for (wire, want) in cases {
            assert_eq!(P2sResponseDecoder::new(10.max(want_len(&want)), 10).decode(wire).err(), Some(want));
        }
        let mut dec = P2sResponseDecoder::new(100, 1);
        assert_eq!(
            dec.decode(b"P2P-CI/1.0 200 OK\r\n\r\nRFC 1 t h 1\r\nRFC 2 t h 1\r\n").err(),
            Some(ResponseError::TooManyRecords(1))
        );
    }

    fn want_len(e: &ResponseError) -> usize {
        if matches!(e, ResponseError::LineTooLong(_)) { 10 } else { 100 }
    }

    #[test]
    fn get_head_round_trip() {
        let date = UNIX_EPOCH + Duration::from_secs(1_234_451_525);
        let lm = UNIX_EPOCH + Duration::from_secs(980_069_026);
        let head = GetResponseHead::ok(date, "Linux 6.1", lm, 12345);
        let mut out = Vec::new();
        head.encode(&mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "P2P-CI/1.0 200 OK\r\nDate: Thu, 12 Feb 2009 15:12:05 GMT\r\nOS: Linux 6.1\r\n\
             Last-Modified: Sun, 21 Jan 2001 09:23:46 GMT\r\nContent-Length: 12345\r\nContent-Type: text/plain\r\n\r\n"
        );
        let (framed, used) = parse_head(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(GetResponseHead::from_head(&framed).unwrap(), head);

        for status in [Status::BadRequest, Status::NotFound, Status::VersionNotSupported] {
            let mut out = Vec::new();
            GetResponseHead::error(status).encode(&mut out);
            assert_eq!(out, format!("{}\r\n\r\n", status.line()).as_bytes());
        }
    }

    #[test]
    fn get_head_dates_that_cannot_be_read_are_left_out() {
        let raw = "P2P-CI/1.0 200 OK\r\nDate: Wed, 12 Feb 2009 15:12:05 GMT\r\nLast-Modified: yesterday\r\n\
                   Content-Length: 1\r\n\r\n";
        let (framed, _) = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        let head = GetResponseHead::from_head(&framed).unwrap();
        assert_eq!((head.date, head.last_modified, head.content_length), (None, None, Some(1)));
    }

    #[test]
    fn get_head_with_a_digest() {
        let digest = crate::protocol::Sha256Digest::of(b"hello world");
        let mut head = GetResponseHead::ok(UNIX_EPOCH, "x", UNIX_EPOCH, 11);
        head.repr_digest = Some(digest);
        let mut out = Vec::new();
        head.encode(&mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.ends_with(
                "Content-Type: text/plain\r\nRepr-Digest: sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:\r\n\r\n"
            ),
            "{text}"
        );
        let (framed, _) = parse_head(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(GetResponseHead::from_head(&framed).unwrap(), head);
        // Only another algorithm: nothing to check, not an error.
        let raw = "P2P-CI/1.0 200 OK\r\nContent-Length: 1\r\nrepr-digest: sha-512=:AAAA:\r\n\r\n";
        let (framed, _) = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        assert_eq!(GetResponseHead::from_head(&framed).unwrap().repr_digest, None);
    }

    #[test]
    fn get_head_errors() {
        let cases: [(&str, ResponseError); 5] = [
            (
                "P2P-CI/1.0 200 OK\r\nContent-Length: 1\r\nRepr-Digest: sha-256=:AAAA:\r\n\r\n",
                ResponseError::BadHeader("Repr-Digest"),
            ),
            (
                "P2P-CI/1.0 200 OK\r\nContent-Length: 1\r\nRepr-Digest: sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:\r\n\
                 Repr-Digest: sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:\r\n\r\n",
                ResponseError::BadHeader("Repr-Digest"),
            ),
            ("P2P-CI/1.0 200 OK\r\n\r\n", ResponseError::MissingHeader("Content-Length")),
            ("P2P-CI/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", ResponseError::BadHeader("Content-Length")),
            (
                "P2P-CI/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ResponseError::BadHeader("Content-Length"),
            ),
        ];
        for (raw, want) in cases {
            let (framed, _) = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
            assert_eq!(GetResponseHead::from_head(&framed).err(), Some(want), "{raw:?}");
        }
    }
}
