//! A second request parser, written for plainness rather than speed (owned
//! strings, a request line split into tokens, headers parsed after the
//! start line), for tests only: an independent oracle that the property
//! tests hold the fast parsers ([`super::request`]) to, same answer and same
//! error on any input. The two share only [`super::types`] (the version
//! check, the digit test and the types), so a shortcut taken by the fast
//! path cannot hide behind the same shortcut here.

use super::head::Head;
use super::request::{GetRequest, P2sMethod, P2sRequest, RequestError};
use super::types::{PeerId, RfcNumber, VersionCheck, check_version, is_digits};

#[derive(Default)]
struct Headers<'a> {
    host: Option<&'a str>,
    port: Option<&'a str>,
    title: Option<&'a str>,
    os: Option<&'a str>,
    want_digest: bool,
}

impl<'a> Headers<'a> {
    fn parse(lines: &[&'a [u8]]) -> Result<Headers<'a>, RequestError> {
        let mut h = Headers::default();
        for line in lines {
            let line = text(line)?;
            let colon = memchr::memchr(b':', line.as_bytes()).ok_or(RequestError::HeaderLine)?;
            let (name, value) = (trim_blank(&line[..colon]), trim_blank(&line[colon + 1..]));
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(RequestError::HeaderLine);
            }
            let (slot, canonical) = match name.len() {
                4 if name.eq_ignore_ascii_case("Host") => (&mut h.host, "Host"),
                4 if name.eq_ignore_ascii_case("Port") => (&mut h.port, "Port"),
                5 if name.eq_ignore_ascii_case("Title") => (&mut h.title, "Title"),
                2 if name.eq_ignore_ascii_case("OS") => (&mut h.os, "OS"),
                16 if name.eq_ignore_ascii_case("Want-Repr-Digest") => {
                    h.want_digest |= super::digest::wants_sha256(value);
                    continue;
                }
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(RequestError::DuplicateHeader(canonical));
            }
        }
        Ok(h)
    }

    fn host(&self) -> Result<String, RequestError> {
        let host = self.host.ok_or(RequestError::MissingHeader("Host"))?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(RequestError::BadHeader("Host"));
        }
        Ok(host.to_owned())
    }

    fn peer(&self) -> Result<PeerId, RequestError> {
        let host = self.host()?;
        let port = self.port.ok_or(RequestError::MissingHeader("Port"))?;
        let port = port_number(port).ok_or(RequestError::BadHeader("Port"))?;
        Ok(PeerId { host, port })
    }
}

fn trim_blank(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn port_number(s: &str) -> Option<u16> {
    if !is_digits(s) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

fn rfc_number(s: &str) -> Option<RfcNumber> {
    if !is_digits(s) {
        return None;
    }
    s.parse().ok().map(RfcNumber)
}

fn text(bytes: &[u8]) -> Result<&str, RequestError> {
    let s = std::str::from_utf8(bytes).map_err(|_| RequestError::Encoding)?;
    if bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(RequestError::Control);
    }
    Ok(s)
}

fn request_line(start: &[u8]) -> Result<(&str, Vec<&str>), RequestError> {
    let line = text(start).map_err(|_| RequestError::RequestLine)?;
    let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
    let (Some(&method), Some(&version)) = (tokens.first(), tokens.last()) else {
        return Err(RequestError::RequestLine);
    };
    match check_version(version) {
        VersionCheck::Supported => Ok((method, tokens)),
        VersionCheck::Unsupported => Err(RequestError::Version(version.to_owned())),
        VersionCheck::Malformed => Err(RequestError::RequestLine),
    }
}

fn rfc_target(tokens: &[&str]) -> Result<RfcNumber, RequestError> {
    match tokens {
        [_, "RFC", n, _] => rfc_number(n).ok_or_else(|| RequestError::RfcNumber((*n).to_owned())),
        _ => Err(RequestError::RequestLine),
    }
}

/// What `P2sRequest::from_head` must give on `head`.
pub fn p2s(head: &Head<'_>) -> Result<P2sRequest, RequestError> {
    let (name, tokens) = request_line(head.start)?;
    let method = match name {
        "ADD" | "LOOKUP" => {
            let rfc = rfc_target(&tokens)?;
            let h = Headers::parse(&head.headers)?;
            let peer = h.peer()?;
            let method = if name == "ADD" {
                let title = h.title.ok_or(RequestError::MissingHeader("Title"))?;
                if title.is_empty() {
                    return Err(RequestError::BadHeader("Title"));
                }
                P2sMethod::Add { rfc, title: title.to_owned() }
            } else {
                let title = h.title.filter(|t| !t.is_empty()).map(str::to_owned);
                P2sMethod::Lookup { rfc, title }
            };
            return Ok(P2sRequest { method, peer });
        }
        "LIST" => match &tokens[..] {
            [_, "ALL", _] => P2sMethod::List,
            [_, _, _] => return Err(RequestError::ListTarget),
            _ => return Err(RequestError::RequestLine),
        },
        other => return Err(RequestError::Method(other.to_owned())),
    };
    let peer = Headers::parse(&head.headers)?.peer()?;
    Ok(P2sRequest { method, peer })
}

/// What `GetRequest::from_head` must give on `head`.
pub fn get(head: &Head<'_>) -> Result<GetRequest, RequestError> {
    let (name, tokens) = request_line(head.start)?;
    if name != "GET" {
        return Err(RequestError::Method(name.to_owned()));
    }
    let rfc = rfc_target(&tokens)?;
    let h = Headers::parse(&head.headers)?;
    let host = h.host()?;
    let os = h.os.filter(|os| !os.is_empty()).map(str::to_owned);
    Ok(GetRequest { rfc, host, os, want_digest: h.want_digest })
}
