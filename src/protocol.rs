//! P2P-CI/1.0, the wire protocol, as pure functions over bytes.
//!
//! Nothing in here touches a socket, a file or a clock: parsers take `&[u8]`
//! and say "need more bytes" (`Ok(None)`), "here is one message and how many
//! bytes it used", or "this is malformed, answer with this status". Encoders
//! append to a `Vec<u8>`. Keeping the protocol pure is what lets us test it
//! exhaustively (tables, property tests, fuzzing) and share it between the
//! index server, the upload server, the downloader and the benchmarks.
//!
//! Parsing has two stages so that a malformed request never desynchronises
//! a connection: framing ([`head`]) cuts a request out of the bytes (lines
//! up to the empty line) and enforces the size limits, whose breach closes
//! the connection; the request modules then give the lines their meaning,
//! and their errors carry the status to answer with while the connection
//! lives on. The servers run both stages in one pass ([`parse_p2s`],
//! [`parse_get`]: each line is understood as soon as it is framed, and the
//! scan that finds its end also tells whether it is plain ASCII); tests and
//! the peer side may frame first ([`parse_head`]) and understand after. The
//! two give the same answer on any bytes, which property tests and fuzzing
//! hold them to.
//!
//! The reference is `docs/PROTOCOL.md`; section names are cited where a rule is
//! not obvious.

pub mod address;
pub mod digest;
pub mod escape;
pub mod head;
pub mod request;
pub mod response;
pub mod status;
mod swar;

pub use digest::{DigestError, Sha256Digest};
pub use escape::{escape_line, escape_message};
pub use head::{Head, LimitError, Limits, frame, parse_head};
pub use request::{
    GetRequest, GetRequestRef, P2sMethod, P2sMethodRef, P2sRequest, P2sRequestRef, PeerId, PeerIdRef,
    RequestError, RfcNumber, parse_get, parse_p2s,
};
pub use response::{GetResponseHead, P2sResponse, Record, ResponseError};
pub use status::Status;

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
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference;
