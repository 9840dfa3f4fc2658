//! Requests: P2S (ADD, LOOKUP, LIST) and P2P (GET), parsed from a framed
//! [`Head`] and encoded to bytes.
//!
//! Every rejection is a [`RequestError`] whose [`RequestError::status`] is the
//! answer PROTOCOL.md names; the match there is exhaustive on purpose, so a new
//! variant without an answer does not compile.

use thiserror::Error;

use super::head::{Head, LimitError, Limits, Line, frame};
use super::status::Status;
use super::types::{PeerId, PeerIdRef, RfcNumber, VersionCheck, check_version, decimal, parse_port, push};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum P2sMethod {
    Add { rfc: RfcNumber, title: String },
    Lookup { rfc: RfcNumber, title: Option<String> },
    List,
}

/// A peer-to-server request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2sRequest {
    pub method: P2sMethod,
    pub peer: PeerId,
}

/// A peer-to-peer request: `GET RFC <n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRequest {
    pub rfc: RfcNumber,
    pub host: String,
    pub os: Option<String>,
    /// Asks for the file's SHA-256 (`Want-Repr-Digest: sha-256=1`;
    /// PROTOCOL.md, Extension: content digest).
    pub want_digest: bool,
}

/// [`P2sMethod`], borrowed from the request's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P2sMethodRef<'a> {
    Add { rfc: RfcNumber, title: &'a str },
    Lookup { rfc: RfcNumber, title: Option<&'a str> },
    List,
}

/// A peer-to-server request whose text borrows from the buffer it was
/// parsed from: what the index server uses, since the index copies the one
/// string it keeps (a new record's title) and needs no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P2sRequestRef<'a> {
    pub method: P2sMethodRef<'a>,
    pub peer: PeerIdRef<'a>,
}

/// A GET request whose text borrows from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetRequestRef<'a> {
    pub rfc: RfcNumber,
    pub host: &'a str,
    pub os: Option<&'a str>,
    pub want_digest: bool,
}

/// Why a framed request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("unsupported protocol version {0:?}")]
    Version(String),
    #[error("malformed request line")]
    RequestLine,
    #[error("unknown method {0:?}")]
    Method(String),
    #[error("bad RFC number {0:?}")]
    RfcNumber(String),
    #[error("LIST takes only ALL")]
    ListTarget,
    #[error("text is not UTF-8")]
    Encoding,
    #[error("a control character in the request")]
    Control,
    #[error("malformed header line")]
    HeaderLine,
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("bad {0} header")]
    BadHeader(&'static str),
    #[error("repeated {0} header")]
    DuplicateHeader(&'static str),
}

impl RequestError {
    /// The status PROTOCOL.md names for this rejection.
    pub fn status(&self) -> Status {
        match self {
            RequestError::Version(_) => Status::VersionNotSupported,
            RequestError::RequestLine
            | RequestError::Method(_)
            | RequestError::RfcNumber(_)
            | RequestError::ListTarget
            | RequestError::Encoding
            | RequestError::Control
            | RequestError::HeaderLine
            | RequestError::MissingHeader(_)
            | RequestError::BadHeader(_)
            | RequestError::DuplicateHeader(_) => Status::BadRequest,
        }
    }
}

/// The headers this protocol knows, picked out of a head. Unknown headers
/// are ignored (but must still be well-formed lines); a known one given
/// twice is rejected rather than guessed at.
#[derive(Default)]
struct Headers<'a> {
    host: Option<&'a str>,
    port: Option<&'a str>,
    title: Option<&'a str>,
    os: Option<&'a str>,
    /// Some `Want-Repr-Digest` asked for SHA-256. An optional request, so
    /// it may come in several lines (a dictionary split, as HTTP allows),
    /// and one that cannot be read is no request at all.
    want_digest: bool,
}

impl<'a> Headers<'a> {
    /// Takes in one header line.
    #[inline]
    fn feed(&mut self, line: Line<'a>) -> Result<(), RequestError> {
        let line = text(line)?;
        let bytes = line.as_bytes();
        // Names are short: a plain scan finds the colon before a SIMD
        // search would have set up.
        let colon = bytes.iter().position(|&b| b == b':').ok_or(RequestError::HeaderLine)?;
        // The common form, a known name with no blanks around it, needs no
        // trimming nor whitespace check. Slicing at an ASCII byte keeps both
        // halves valid UTF-8.
        let known = match known_name(&bytes[..colon]) {
            Some(k) => k,
            None => {
                let name = trim_blank(&line[..colon]);
                if name.is_empty() || has_whitespace(name) {
                    return Err(RequestError::HeaderLine);
                }
                match known_name(name.as_bytes()) {
                    Some(k) => k,
                    None => return Ok(()),
                }
            }
        };
        let (slot, canonical) = match known {
            Known::Host => (&mut self.host, "Host"),
            Known::Port => (&mut self.port, "Port"),
            Known::Title => (&mut self.title, "Title"),
            Known::Os => (&mut self.os, "OS"),
            Known::WantReprDigest => {
                self.want_digest |= super::digest::wants_sha256(&line[colon + 1..]);
                return Ok(());
            }
        };
        if slot.replace(trim_blank(&line[colon + 1..])).is_some() {
            return Err(RequestError::DuplicateHeader(canonical));
        }
        Ok(())
    }

    fn host(&self) -> Result<&'a str, RequestError> {
        let host = self.host.ok_or(RequestError::MissingHeader("Host"))?;
        // A record line is split on blanks, so a hostname must be one token.
        if host.is_empty() || has_whitespace(host) {
            return Err(RequestError::BadHeader("Host"));
        }
        Ok(host)
    }

    fn port(&self) -> Result<u16, RequestError> {
        let port = self.port.ok_or(RequestError::MissingHeader("Port"))?;
        parse_port(port).ok_or(RequestError::BadHeader("Port"))
    }

    fn peer(&self) -> Result<PeerIdRef<'a>, RequestError> {
        Ok(PeerIdRef { host: self.host()?, port: self.port()? })
    }
}

#[derive(Clone, Copy)]
enum Known {
    Host,
    Port,
    Title,
    Os,
    WantReprDigest,
}

/// The header names this protocol knows, in any case, compared a word at a
/// time: OR-ing 0x20 into a byte lowers a letter's case and turns no other
/// byte into a lower-case letter, so the comparison is exact.
#[inline]
fn known_name(name: &[u8]) -> Option<Known> {
    const fn word(s: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*s)
    }
    const LOWER: u32 = 0x2020_2020;
    match name {
        [a, b, c, d] => match word(&[*a, *b, *c, *d]) | LOWER {
            w if w == word(b"host") => Some(Known::Host),
            w if w == word(b"port") => Some(Known::Port),
            _ => None,
        },
        [a, b, c, d, e] if word(&[*a, *b, *c, *d]) | LOWER == word(b"titl") && *e | 0x20 == b'e' => {
            Some(Known::Title)
        }
        [a, b] if *a | 0x20 == b'o' && *b | 0x20 == b's' => Some(Known::Os),
        n if n.len() == 16 && n.eq_ignore_ascii_case(b"want-repr-digest") => Some(Known::WantReprDigest),
        _ => None,
    }
}

/// Trims the blanks (space, tab) around a header name or value.
#[inline]
fn trim_blank(s: &str) -> &str {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    &s[start..end]
}

/// Any Unicode whitespace; a word at a time for the common case, a name
/// of printable ASCII.
#[inline]
fn has_whitespace(s: &str) -> bool {
    if super::swar::is_graphic_ascii(s.as_bytes()) {
        return false;
    }
    // Bit b set for each ASCII whitespace byte b: TAB, LF, VT, FF, CR, space.
    const ASCII_WS: u64 = 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12 | 1 << 13 | 1 << 32;
    let (mut ws, mut high) = (false, false);
    for &b in s.as_bytes() {
        ws |= b <= b' ' && (ASCII_WS >> b) & 1 == 1;
        high |= b >= 0x80;
    }
    ws || (high && s.contains(char::is_whitespace))
}

/// A line as text: valid UTF-8 (else [`RequestError::Encoding`]) with no
/// control character (PROTOCOL.md, Framing: else [`RequestError::Control`];
/// a lone CR is one, being no line end), so nothing a peer sends can carry
/// a terminal escape sequence into the index.
///
/// The framing scan has already told whether the line is all ASCII and has
/// a control character, so the common line costs no further pass
/// ([`Line::text`]).
#[inline]
fn text(line: Line<'_>) -> Result<&str, RequestError> {
    let s = line.text().ok_or(RequestError::Encoding)?;
    if line.has_control() {
        return Err(RequestError::Control);
    }
    Ok(s)
}

/// Splits a request line into its method and all its tokens after checking
/// the version, which is judged first: a request from another version may
/// use methods we do not know, and deserves 505 rather than 400.
#[inline]
fn request_line(start: Line<'_>) -> Result<(&str, Tokens<'_>), RequestError> {
    let line = text(start).map_err(|_| RequestError::RequestLine)?;
    let tokens = Tokens::split(line);
    let (Some(&method), Some(&version)) = (tokens.first(), tokens.last()) else {
        return Err(RequestError::RequestLine);
    };
    match check_version(version) {
        VersionCheck::Supported => Ok((method, tokens)),
        VersionCheck::Unsupported => Err(RequestError::Version(version.to_owned())),
        VersionCheck::Malformed => Err(RequestError::RequestLine),
    }
}

/// The blank-separated tokens of a request line, without allocating. A valid
/// line has at most four; a longer one keeps its first four and its last (so
/// it is five long, matches no request shape, and still shows its version).
struct Tokens<'a> {
    items: [&'a str; 5],
    len: usize,
}

impl<'a> Tokens<'a> {
    /// Splits on the bytes `str::split_ascii_whitespace` splits on.
    #[inline]
    fn split(line: &'a str) -> Tokens<'a> {
        let bytes = line.as_bytes();
        let mut t = Tokens { items: [""; 5], len: 0 };
        let mut at = 0;
        while at < bytes.len() {
            if is_split_blank(bytes[at]) {
                at += 1;
                continue;
            }
            let start = at;
            at = token_end(bytes, at);
            // Cut next to ASCII bytes (or the ends): char boundaries.
            let token = &line[start..at];
            if t.len < t.items.len() {
                t.items[t.len] = token;
                t.len += 1;
            } else {
                t.items[t.items.len() - 1] = token;
            }
        }
        t
    }
}

/// The bytes `str::split_ascii_whitespace` splits on.
#[inline(always)]
fn is_split_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0C | b'\r')
}

/// The first blank at or after `at`, or the end: a word at a time, looking
/// closer only at bytes below `!` (few, in a request line).
#[inline]
fn token_end(bytes: &[u8], mut at: usize) -> usize {
    use super::swar::{LANES, below, word};
    while at + LANES <= bytes.len() {
        let mut flags = below(word(&bytes[at..]), b'!');
        while flags != 0 {
            let i = at + flags.trailing_zeros() as usize / 8;
            if is_split_blank(bytes[i]) {
                return i;
            }
            flags &= flags - 1;
        }
        at += LANES;
    }
    while at < bytes.len() && !is_split_blank(bytes[at]) {
        at += 1;
    }
    at
}

impl<'a> std::ops::Deref for Tokens<'a> {
    type Target = [&'a str];

    fn deref(&self) -> &[&'a str] {
        &self.items[..self.len]
    }
}

/// `<METHOD> RFC <n> <version>`: the RFC number.
fn rfc_target(tokens: &[&str]) -> Result<RfcNumber, RequestError> {
    match tokens {
        [_, "RFC", n, _] => RfcNumber::parse(n).ok_or_else(|| RequestError::RfcNumber((*n).to_owned())),
        _ => Err(RequestError::RequestLine),
    }
}

/// What a P2S request line asks for.
#[derive(Clone, Copy)]
enum P2sTarget {
    Add(RfcNumber),
    Lookup(RfcNumber),
    List,
}

/// A request taken in line by line: its start line's meaning, its known
/// headers, and the first error met. Both the single-pass parsers
/// ([`parse_p2s`], [`parse_get`]) and `from_head` fill one, so they cannot
/// disagree: the start line is judged first, then the header lines in order,
/// then what they must add up to.
struct Partial<'a, T> {
    target: Result<T, RequestError>,
    headers: Headers<'a>,
}

impl<'a, T: Copy> Partial<'a, T> {
    #[inline]
    fn start(target: Result<T, RequestError>) -> Self {
        Partial { target, headers: Headers::default() }
    }

    /// Takes in one header line; after the first error, lines are only framed.
    #[inline]
    fn header(&mut self, line: Line<'a>) {
        if self.target.is_ok()
            && let Err(e) = self.headers.feed(line)
        {
            self.target = Err(e);
        }
    }

    fn headers_of(target: Result<T, RequestError>, head: &Head<'a>) -> Self {
        let mut p = Partial::start(target);
        for line in &head.headers {
            p.header(Line::of(line));
        }
        p
    }
}

/// The RFC number of `<prefix><digits> P2P-CI/1.0`, the request line as
/// peers write it (one space between fields), read without splitting it
/// into tokens. `None` for any other line, valid or not: those go the
/// general way, which gives these lines the same answer (the property tests
/// hold the two together).
#[inline]
fn written_plainly(line: &[u8], prefix: &[u8]) -> Option<RfcNumber> {
    let digits = line.strip_suffix(b" P2P-CI/1.0")?.strip_prefix(prefix)?;
    decimal(digits, u32::MAX.into()).map(|n| RfcNumber(n as u32))
}

#[inline]
fn p2s_target(start: Line<'_>) -> Result<P2sTarget, RequestError> {
    if let Some(rfc) = written_plainly(start.bytes(), b"LOOKUP RFC ") {
        return Ok(P2sTarget::Lookup(rfc));
    }
    if let Some(rfc) = written_plainly(start.bytes(), b"ADD RFC ") {
        return Ok(P2sTarget::Add(rfc));
    }
    if start.bytes() == b"LIST ALL P2P-CI/1.0" {
        return Ok(P2sTarget::List);
    }
    let (name, tokens) = request_line(start)?;
    match name {
        "ADD" => Ok(P2sTarget::Add(rfc_target(&tokens)?)),
        "LOOKUP" => Ok(P2sTarget::Lookup(rfc_target(&tokens)?)),
        "LIST" => match &tokens[..] {
            [_, "ALL", _] => Ok(P2sTarget::List),
            [_, _, _] => Err(RequestError::ListTarget),
            _ => Err(RequestError::RequestLine),
        },
        other => Err(RequestError::Method(other.to_owned())),
    }
}

#[inline]
fn get_target(start: Line<'_>) -> Result<RfcNumber, RequestError> {
    if let Some(rfc) = written_plainly(start.bytes(), b"GET RFC ") {
        return Ok(rfc);
    }
    let (name, tokens) = request_line(start)?;
    if name != "GET" {
        return Err(RequestError::Method(name.to_owned()));
    }
    rfc_target(&tokens)
}

impl<'a> Partial<'a, P2sTarget> {
    #[inline]
    fn finish(self) -> Result<P2sRequestRef<'a>, RequestError> {
        let h = &self.headers;
        let target = self.target?;
        let peer = h.peer()?;
        let method = match target {
            P2sTarget::Add(rfc) => {
                let title = h.title.ok_or(RequestError::MissingHeader("Title"))?;
                if title.is_empty() {
                    return Err(RequestError::BadHeader("Title"));
                }
                P2sMethodRef::Add { rfc, title }
            }
            P2sTarget::Lookup(rfc) => P2sMethodRef::Lookup { rfc, title: h.title.filter(|t| !t.is_empty()) },
            P2sTarget::List => P2sMethodRef::List,
        };
        Ok(P2sRequestRef { method, peer })
    }
}

impl<'a> Partial<'a, RfcNumber> {
    #[inline]
    fn finish(self) -> Result<GetRequestRef<'a>, RequestError> {
        let rfc = self.target?;
        let host = self.headers.host()?;
        let os = self.headers.os.filter(|os| !os.is_empty());
        Ok(GetRequestRef { rfc, host, os, want_digest: self.headers.want_digest })
    }
}

/// What a single-pass parse gives: [`frame`]'s answer (incomplete, or a
/// broken limit, which closes the connection) around the request's own (the
/// request, or the error to answer while the connection lives on), and the
/// bytes the request used.
pub type Parsed<'a, T> = Result<Option<(Result<T, RequestError>, usize)>, LimitError>;

/// A P2S request framed and understood in one pass over `buf`, borrowing
/// its text: what the index server reads requests with.
///
/// Same answers as [`parse_head`] then [`P2sRequestRef::from_head`],
/// without collecting the lines.
///
/// [`parse_head`]: super::head::parse_head
pub fn parse_p2s<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a, P2sRequestRef<'a>> {
    let framed = frame(buf, limits, |start| Partial::start(p2s_target(start)), Partial::header)?;
    Ok(framed.map(|(p, used)| (p.finish(), used)))
}

/// A GET request framed and understood in one pass over `buf` (see
/// [`parse_p2s`]): what the upload server reads requests with.
pub fn parse_get<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a, GetRequestRef<'a>> {
    let framed = frame(buf, limits, |start| Partial::start(get_target(start)), Partial::header)?;
    Ok(framed.map(|(p, used)| (p.finish(), used)))
}

impl<'a> P2sRequestRef<'a> {
    /// Gives a framed head its meaning as a P2S request, borrowing its text
    /// from the head's buffer. Every check of PROTOCOL.md is made here;
    /// [`P2sRequest::from_head`] is this plus copies.
    pub fn from_head(head: &Head<'a>) -> Result<P2sRequestRef<'a>, RequestError> {
        Partial::headers_of(p2s_target(Line::of(head.start)), head).finish()
    }

    /// The same request with its own copies of the text.
    pub fn into_owned(self) -> P2sRequest {
        let method = match self.method {
            P2sMethodRef::Add { rfc, title } => P2sMethod::Add { rfc, title: title.to_owned() },
            P2sMethodRef::Lookup { rfc, title } => P2sMethod::Lookup { rfc, title: title.map(str::to_owned) },
            P2sMethodRef::List => P2sMethod::List,
        };
        P2sRequest { method, peer: self.peer.into_owned() }
    }
}

impl<'a> GetRequestRef<'a> {
    /// Gives a framed head its meaning as a GET request, borrowing its text
    /// from the head's buffer; [`GetRequest::from_head`] is this plus copies.
    pub fn from_head(head: &Head<'a>) -> Result<GetRequestRef<'a>, RequestError> {
        Partial::headers_of(get_target(Line::of(head.start)), head).finish()
    }

    /// The same request with its own copies of the text.
    pub fn into_owned(self) -> GetRequest {
        GetRequest {
            rfc: self.rfc,
            host: self.host.to_owned(),
            os: self.os.map(str::to_owned),
            want_digest: self.want_digest,
        }
    }
}

impl P2sRequest {
    /// Gives a framed head its meaning as a P2S request
    /// ([`P2sRequestRef::from_head`], then copies of the text).
    pub fn from_head(head: &Head<'_>) -> Result<P2sRequest, RequestError> {
        P2sRequestRef::from_head(head).map(P2sRequestRef::into_owned)
    }

    /// Appends the request, as a peer sends it, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let v = super::VERSION;
        let PeerId { host, port } = &self.peer;
        let title = match &self.method {
            P2sMethod::Add { rfc, title } => {
                push(out, format_args!("ADD RFC {rfc} {v}\r\n"));
                Some(title.as_str())
            }
            P2sMethod::Lookup { rfc, title } => {
                push(out, format_args!("LOOKUP RFC {rfc} {v}\r\n"));
                title.as_deref()
            }
            P2sMethod::List => {
                push(out, format_args!("LIST ALL {v}\r\n"));
                None
            }
        };
        push(out, format_args!("Host: {host}\r\nPort: {port}\r\n"));
        if let Some(title) = title {
            debug_assert!(!title.contains(['\r', '\n']));
            push(out, format_args!("Title: {title}\r\n"));
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl GetRequest {
    /// Gives a framed head its meaning as a GET request
    /// ([`GetRequestRef::from_head`], then copies of the text).
    pub fn from_head(head: &Head<'_>) -> Result<GetRequest, RequestError> {
        GetRequestRef::from_head(head).map(GetRequestRef::into_owned)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let v = super::VERSION;
        push(out, format_args!("GET RFC {} {v}\r\nHost: {}\r\n", self.rfc, self.host));
        if let Some(os) = &self.os {
            push(out, format_args!("OS: {os}\r\n"));
        }
        if self.want_digest {
            out.extend_from_slice(super::digest::WANT_REPR_DIGEST.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::head::{Limits, parse_head};

    fn p2s(raw: &str) -> Result<P2sRequest, RequestError> {
        let (head, used) = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        assert_eq!(used, raw.len());
        P2sRequest::from_head(&head)
    }

    fn get(raw: &str) -> Result<GetRequest, RequestError> {
        let (head, _) = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        GetRequest::from_head(&head)
    }

    fn peer() -> PeerId {
        PeerId { host: "thishost.example.org".into(), port: 5678 }
    }

    #[test]
    fn protocol_md_examples() {
        let add = "ADD RFC 123 P2P-CI/1.0\r\nHost: thishost.example.org\r\nPort: 5678\r\nTitle: A Proferred Official ICP\r\n\r\n";
        let req = p2s(add).unwrap();
        assert_eq!(
            req,
            P2sRequest {
                method: P2sMethod::Add { rfc: RfcNumber(123), title: "A Proferred Official ICP".into() },
                peer: peer(),
            }
        );
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, add.as_bytes());

        let lookup = "LOOKUP RFC 3457 P2P-CI/1.0\r\nHost: thishost.example.org\r\nPort: 5678\r\nTitle: Requirements for IPsec Remote Access Scenarios\r\n\r\n";
        let req = p2s(lookup).unwrap();
        assert_eq!(
            req.method,
            P2sMethod::Lookup {
                rfc: RfcNumber(3457),
                title: Some("Requirements for IPsec Remote Access Scenarios".into())
            }
        );
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, lookup.as_bytes());

        let list = "LIST ALL P2P-CI/1.0\r\nHost: thishost.example.org\r\nPort: 5678\r\n\r\n";
        let req = p2s(list).unwrap();
        assert_eq!(req, P2sRequest { method: P2sMethod::List, peer: peer() });
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, list.as_bytes());

        let g = "GET RFC 1234 P2P-CI/1.0\r\nHost: somehost.example.org\r\nOS: Linux 6.1\r\n\r\n";
        let req = get(g).unwrap();
        assert_eq!(
            req,
            GetRequest {
                rfc: RfcNumber(1234),
                host: "somehost.example.org".into(),
                os: Some("Linux 6.1".into()),
                want_digest: false,
            }
        );
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, g.as_bytes());
    }

    #[test]
    fn want_repr_digest() {
        let asks = "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\nOS: x\r\nWant-Repr-Digest: sha-256=1\r\n\r\n";
        let req = get(asks).unwrap();
        assert!(req.want_digest);
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out, asks.as_bytes(), "sent exactly so");
        let parsed = |raw: &str| {
            let (r, used) = parse_get(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
            assert_eq!(used, raw.len());
            r.unwrap().want_digest
        };
        assert!(parsed(asks));
        // Any case, blanks, other algorithms beside it, split over two lines.
        assert!(parsed("GET RFC 1 P2P-CI/1.0\nwant-repr-digest :  sha-512=3, sha-256=2 \nHost: h\n\n"));
        assert!(parsed(
            "GET RFC 1 P2P-CI/1.0\nWant-Repr-Digest: sha-512=1\nWANT-REPR-DIGEST: sha-256=1\nHost: h\n\n"
        ));
        // Not asked, refused (0) or unreadable: no digest, and no 400 either.
        for raw in [
            "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n",
            "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\nWant-Repr-Digest: sha-256=0\r\n\r\n",
            "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\nWant-Repr-Digest: md5=1\r\n\r\n",
            "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\nWant-Repr-Digest: ☃\r\n\r\n",
            "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\nWant-Repr-Digestx: sha-256=1\r\n\r\n",
        ] {
            assert!(!parsed(raw), "{raw:?}");
        }
    }

    #[test]
    fn lenient_forms() {
        // Bare LF, any header case and order, blanks around values, unknown headers.
        let req =
            p2s("ADD RFC 7 P2P-CI/1.0\ntitle:\t  T  x \nX-Whatever: 1\nPORT:  80 \nhOsT: h\n\n").unwrap();
        assert_eq!(req.method, P2sMethod::Add { rfc: RfcNumber(7), title: "T  x".into() });
        assert_eq!(req.peer, PeerId { host: "h".into(), port: 80 });
        // LOOKUP without a title; leading zeros are still a decimal number.
        let req = p2s("LOOKUP RFC 0042 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\n\r\n").unwrap();
        assert_eq!(req.method, P2sMethod::Lookup { rfc: RfcNumber(42), title: None });
        // Titles keep any character but CR and LF.
        let req =
            p2s("ADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 65535\r\nTitle: ü: ☃ \"x\" \t y\r\n\r\n").unwrap();
        assert_eq!(req.method, P2sMethod::Add { rfc: RfcNumber(1), title: "ü: ☃ \"x\" \t y".into() });
        // GET without OS.
        assert_eq!(get("GET RFC 5 P2P-CI/1.0\r\nHost: a\r\n\r\n").unwrap().os, None);
    }

    #[test]
    fn bad_p2s_requests() {
        use RequestError as E;
        let h = "Host: h\r\nPort: 1\r\n";
        let cases: Vec<(String, RequestError)> = vec![
            (format!("ADD RFC 1 P2P-CI/2.0\r\n{h}Title: t\r\n\r\n"), E::Version("P2P-CI/2.0".into())),
            ("FOO BAR P2P-CI/1.1\r\n\r\n".into(), E::Version("P2P-CI/1.1".into())),
            (format!("ADD RFC 1 HTTP/1.1\r\n{h}Title: t\r\n\r\n"), E::RequestLine),
            (format!("ADD RFC 1 P2P-CI/1\r\n{h}Title: t\r\n\r\n"), E::RequestLine),
            (format!("ADD RFC 1\r\n{h}Title: t\r\n\r\n"), E::RequestLine),
            (format!("ADD RFC P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RequestLine),
            (format!("ADD RFC 1 2 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RequestLine),
            (format!("ADD rfc 1 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RequestLine),
            (format!("add RFC 1 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::Method("add".into())),
            (format!("DELETE RFC 1 P2P-CI/1.0\r\n{h}\r\n"), E::Method("DELETE".into())),
            (format!("GET RFC 1 P2P-CI/1.0\r\n{h}\r\n"), E::Method("GET".into())),
            (format!("ADD RFC abc P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RfcNumber("abc".into())),
            (format!("ADD RFC -1 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RfcNumber("-1".into())),
            (format!("ADD RFC +1 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RfcNumber("+1".into())),
            (format!("ADD RFC 1.5 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"), E::RfcNumber("1.5".into())),
            (
                format!("ADD RFC 99999999999 P2P-CI/1.0\r\n{h}Title: t\r\n\r\n"),
                E::RfcNumber("99999999999".into()),
            ),
            (format!("LOOKUP RFC x1 P2P-CI/1.0\r\n{h}\r\n"), E::RfcNumber("x1".into())),
            (format!("ADD RFC 1 P2P-CI/1.0\r\n{h}\r\n"), E::MissingHeader("Title")),
            (format!("ADD RFC 1 P2P-CI/1.0\r\n{h}Title:  \r\n\r\n"), E::BadHeader("Title")),
            ("ADD RFC 1 P2P-CI/1.0\r\nPort: 1\r\nTitle: t\r\n\r\n".into(), E::MissingHeader("Host")),
            ("ADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nTitle: t\r\n\r\n".into(), E::MissingHeader("Port")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\n\r\n".into(), E::MissingHeader("Port")),
            ("LOOKUP RFC 1 P2P-CI/1.0\r\nPort: 1\r\n\r\n".into(), E::MissingHeader("Host")),
            ("LIST ALL P2P-CI/1.0\r\nHost: \r\nPort: 1\r\n\r\n".into(), E::BadHeader("Host")),
            ("LIST ALL P2P-CI/1.0\r\nHost: a b\r\nPort: 1\r\n\r\n".into(), E::BadHeader("Host")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: 0\r\n\r\n".into(), E::BadHeader("Port")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: 65536\r\n\r\n".into(), E::BadHeader("Port")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: -1\r\n\r\n".into(), E::BadHeader("Port")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: 80a\r\n\r\n".into(), E::BadHeader("Port")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort: 1 2\r\n\r\n".into(), E::BadHeader("Port")),
            ("LIST ALL P2P-CI/1.0\r\nHost: h\r\nPort:\r\n\r\n".into(), E::BadHeader("Port")),
            (
                "LIST ALL P2P-CI/1.0\r\nHost: h\r\nHost: h\r\nPort: 1\r\n\r\n".into(),
                E::DuplicateHeader("Host"),
            ),
            (format!("LIST RFC P2P-CI/1.0\r\n{h}\r\n"), E::ListTarget),
            (format!("LIST all P2P-CI/1.0\r\n{h}\r\n"), E::ListTarget),
            (format!("LIST P2P-CI/1.0\r\n{h}\r\n"), E::RequestLine),
            (format!("LIST ALL 1 P2P-CI/1.0\r\n{h}\r\n"), E::RequestLine),
            ("LIST ALL P2P-CI/1.0\r\nHost h\r\nPort: 1\r\n\r\n".into(), E::HeaderLine),
            (format!("LIST ALL P2P-CI/1.0\r\n: h\r\n{h}\r\n"), E::HeaderLine),
            (format!("LIST ALL P2P-CI/1.0\r\nHo st: h\r\n{h}\r\n"), E::HeaderLine),
            (format!("ADD RFC 1 P2P-CI/1.0\r\n{h}Title: a\rb\r\n\r\n"), E::Control),
            // Control characters in any value (PROTOCOL.md, Framing): the
            // escape sequence of an attack, a NUL, DEL, a form feed.
            (
                "ADD RFC 1 P2P-CI/1.0\r\nHost: ev\x1b]0;pwned\x07\x1b[2J\r\nPort: 1\r\nTitle: t\r\n\r\n"
                    .into(),
                E::Control,
            ),
            (format!("ADD RFC 1 P2P-CI/1.0\r\n{h}Title: a\x00b\r\n\r\n"), E::Control),
            (format!("ADD RFC 1 P2P-CI/1.0\r\n{h}Title: a\x7fb\r\n\r\n"), E::Control),
            (format!("LOOKUP RFC 1 P2P-CI/1.0\r\n{h}Title: a\x0cb\r\n\r\n"), E::Control),
            (format!("LIST ALL P2P-CI/1.0\r\n{h}X-Other: \x1b[2J\r\n\r\n"), E::Control),
            (format!("LIST ALL P2P-CI/1.0\x1b\r\n{h}\r\n"), E::RequestLine),
        ];
        for (raw, want) in cases {
            let got = p2s(&raw);
            assert_eq!(got.as_ref().err(), Some(&want), "{raw:?} gave {got:?}");
            let status = if matches!(want, E::Version(_)) { 505 } else { 400 };
            assert_eq!(want.status().code(), status);
        }
    }

    #[test]
    fn bad_bytes() {
        let (head, _) =
            parse_head(b"LIST ALL P2P-CI/1.0\r\nHost: \xff\r\nPort: 1\r\n\r\n", &Limits::default())
                .unwrap()
                .unwrap();
        assert_eq!(P2sRequest::from_head(&head), Err(RequestError::Encoding));
        let (head, _) = parse_head(b"LIST \xff P2P-CI/1.0\r\n\r\n", &Limits::default()).unwrap().unwrap();
        assert_eq!(P2sRequest::from_head(&head), Err(RequestError::RequestLine));
    }

    #[test]
    fn bad_get_requests() {
        use RequestError as E;
        let cases = [
            ("GET RFC 1 P2P-CI/1.0\r\nOS: x\r\n\r\n", E::MissingHeader("Host")),
            ("GET RFC ../etc/passwd P2P-CI/1.0\r\nHost: a\r\n\r\n", E::RfcNumber("../etc/passwd".into())),
            ("GET RFC 1/2 P2P-CI/1.0\r\nHost: a\r\n\r\n", E::RfcNumber("1/2".into())),
            ("GET RFC 1.txt P2P-CI/1.0\r\nHost: a\r\n\r\n", E::RfcNumber("1.txt".into())),
            ("GET RFC %31 P2P-CI/1.0\r\nHost: a\r\n\r\n", E::RfcNumber("%31".into())),
            ("GET RFC 1 P2P-CI/3.0\r\nHost: a\r\n\r\n", E::Version("P2P-CI/3.0".into())),
            ("GET RFC 1 P2P-CI\r\nHost: a\r\n\r\n", E::RequestLine),
            ("GET FILE 1 P2P-CI/1.0\r\nHost: a\r\n\r\n", E::RequestLine),
            ("ADD RFC 1 P2P-CI/1.0\r\nHost: a\r\n\r\n", E::Method("ADD".into())),
            ("get RFC 1 P2P-CI/1.0\r\nHost: a\r\n\r\n", E::Method("get".into())),
        ];
        for (raw, want) in cases {
            assert_eq!(get(raw).err(), Some(want), "{raw:?}");
        }
    }
}
