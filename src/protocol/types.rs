//! The values both directions of the protocol carry, and the rules they are
//! read by: the version token, RFC numbers, who a peer is (its `Host` and
//! `Port`), plain decimal numbers; and the one write helper the encoders
//! share. Requests, responses and status lines (and the reference parser)
//! take them from here, so no one of them owns what all of them use.

use std::fmt;

/// The one version this implementation speaks, as written on the wire.
pub const VERSION: &str = "P2P-CI/1.0";

/// How a version token compares with [`VERSION`] (PROTOCOL.md, Framing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionCheck {
    /// Exactly `P2P-CI/1.0`.
    Supported,
    /// `P2P-CI/<digits>.<digits>` but not ours: answer 505.
    Unsupported,
    /// Anything else: answer 400.
    Malformed,
}

/// Classifies a version token.
pub fn check_version(token: &str) -> VersionCheck {
    if token == VERSION {
        return VersionCheck::Supported;
    }
    let well_formed = token.strip_prefix("P2P-CI/").is_some_and(|rest| {
        rest.split_once('.').is_some_and(|(major, minor)| is_digits(major) && is_digits(minor))
    });
    if well_formed { VersionCheck::Unsupported } else { VersionCheck::Malformed }
}

/// True for a non-empty run of ASCII decimal digits (no sign, no blanks).
pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An RFC number. Only plain decimal digits parse into one, which is what
/// keeps request text away from file paths (PROTOCOL.md, Peer to peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RfcNumber(pub u32);

impl RfcNumber {
    /// Parses a plain decimal number (no sign, no blanks) that fits in 32 bits.
    pub fn parse(s: &str) -> Option<RfcNumber> {
        decimal(s.as_bytes(), u32::MAX.into()).map(|n| RfcNumber(n as u32))
    }

    /// The file that holds this RFC in a peer's folder: `rfc<N>.txt`.
    pub fn file_name(self) -> String {
        format!("rfc{}.txt", self.0)
    }
}

impl fmt::Display for RfcNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who a P2S request comes from: the `Host` and `Port` headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerId {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// [`PeerId`], borrowed from the request's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerIdRef<'a> {
    pub host: &'a str,
    pub port: u16,
}

impl PeerIdRef<'_> {
    pub fn into_owned(self) -> PeerId {
        PeerId { host: self.host.to_owned(), port: self.port }
    }
}

/// A plain decimal number (digits only: no sign, no blanks, not empty) no
/// larger than `max`. Leading zeros are allowed.
#[inline]
pub(super) fn decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + u64::from(digit);
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// A port: plain decimal digits, 1–65535.
pub fn parse_port(s: &str) -> Option<u16> {
    decimal(s.as_bytes(), u16::MAX.into()).filter(|p| *p != 0).map(|p| p as u16)
}

/// Appends formatted text to an encoder's output.
pub(crate) fn push(out: &mut Vec<u8>, args: fmt::Arguments<'_>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = out.write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tokens() {
        assert_eq!(check_version("P2P-CI/1.0"), VersionCheck::Supported);
        for v in ["P2P-CI/2.0", "P2P-CI/1.1", "P2P-CI/0.9", "P2P-CI/10.00", "P2P-CI/1.00"] {
            assert_eq!(check_version(v), VersionCheck::Unsupported, "{v}");
        }
        for v in [
            "",
            "P2P-CI",
            "P2P-CI/",
            "P2P-CI/1",
            "P2P-CI/1.",
            "P2P-CI/.0",
            "p2p-ci/1.0",
            "HTTP/1.1",
            "P2P-CI/1.0a",
            "P2P-CI/a.b",
            "P2P-CI/+1.0",
            "P2P-CI/1.0.0",
            " P2P-CI/1.0",
        ] {
            assert_eq!(check_version(v), VersionCheck::Malformed, "{v:?}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("1"), Some(1));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("08080"), Some(8080));
        assert_eq!(parse_port("0000000080"), Some(80));
        for bad in ["", "0", "00000", "65536", "-1", "+1", " 1", "1e3", "٣"] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc_numbers() {
        assert_eq!(RfcNumber::parse("8600"), Some(RfcNumber(8600)));
        assert_eq!(RfcNumber::parse("0042"), Some(RfcNumber(42)));
        assert_eq!(RfcNumber::parse("4294967295"), Some(RfcNumber(u32::MAX)));
        for bad in ["", "4294967296", "-1", "+1", " 1", "1 ", "0x10", "١"] {
            assert_eq!(RfcNumber::parse(bad), None, "{bad:?}");
        }
        assert_eq!(RfcNumber(8600).file_name(), "rfc8600.txt");
        assert_eq!(RfcNumber(8600).to_string(), "8600");
    }
}
