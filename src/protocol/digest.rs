//! The content-digest extension (PROTOCOL.md, Extension: content digest),
//! in the form HTTP uses (RFC 9530): a downloader asks with
//! `Want-Repr-Digest: sha-256=1`, and an upload server that knows the
//! extension answers with `Repr-Digest: sha-256=:<base64>:`.
//!
//! Both headers are structured-field dictionaries (RFC 8941). Only the
//! parts this protocol uses are read: the `sha-256` member, and for
//! `Want-Repr-Digest` its preference (an integer, 0 meaning "not wanted").
//! Asking is optional and harmless, so a `Want-Repr-Digest` that cannot be
//! read is simply not a request; a `Repr-Digest` that cannot be read is an
//! error, since a downloader would otherwise keep a file it was told to
//! check and could not.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

/// The header a downloader sends, exactly.
pub const WANT_REPR_DIGEST: &str = "Want-Repr-Digest: sha-256=1";

/// A SHA-256 digest of a whole file.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        use sha2::Digest as _;
        Sha256Digest(sha2::Sha256::digest(bytes).into())
    }

    /// Appends the `Repr-Digest` header line, with its CR LF.
    pub fn encode_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Repr-Digest: sha-256=:");
        out.extend_from_slice(STANDARD.encode(self.0).as_bytes());
        out.extend_from_slice(b":\r\n");
    }
}

/// Shown as in the header: `:<base64>:`.
impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{}:", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

/// Why a `Repr-Digest` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    #[error("malformed Repr-Digest member {0:?}")]
    Member(String),
    #[error("sha-256 digest is not a byte sequence of 32 bytes")]
    Sha256,
    #[error("repeated sha-256 member")]
    Repeated,
}

/// The members of a dictionary: `key[=value]`, comma-separated, blanks
/// around each ignored. Parameters (`;a=b`) are cut off the value.
fn members(value: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    value.split(',').map(|m| m.trim_matches([' ', '\t'])).filter(|m| !m.is_empty()).map(|m| {
        let m = m.split_once(';').map_or(m, |(v, _)| v);
        match m.split_once('=') {
            Some((k, v)) => (k.trim_matches([' ', '\t']), Some(v.trim_matches([' ', '\t']))),
            None => (m, None),
        }
    })
}

/// Whether a `Want-Repr-Digest` value asks for SHA-256: a `sha-256` member
/// with a preference from 1 to 10 (or a bare `sha-256`, a true boolean).
pub fn wants_sha256(value: &str) -> bool {
    members(value).any(|(key, v)| {
        key.eq_ignore_ascii_case("sha-256")
            && match v {
                None | Some("?1") => true,
                Some(n) => n.parse::<u8>().is_ok_and(|n| (1..=10).contains(&n)),
            }
    })
}

/// The SHA-256 member of a `Repr-Digest` value; `Ok(None)` when it has
/// none (only other algorithms), which leaves nothing to check.
pub fn parse_repr_digest(value: &str) -> Result<Option<Sha256Digest>, DigestError> {
    let mut found = None;
    for (key, v) in members(value) {
        let Some(v) = v else {
            return Err(DigestError::Member(key.to_owned()));
        };
        if !key.eq_ignore_ascii_case("sha-256") {
            continue;
        }
        let b64 = v.strip_prefix(':').and_then(|v| v.strip_suffix(':')).ok_or(DigestError::Sha256)?;
        let bytes = STANDARD.decode(b64).map_err(|_| DigestError::Sha256)?;
        let digest: [u8; 32] = bytes.try_into().map_err(|_| DigestError::Sha256)?;
        if found.replace(Sha256Digest(digest)).is_some() {
            return Err(DigestError::Repeated);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256 of "hello world", from `sha256sum`.
    const HELLO: &str = ":uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:";

    #[test]
    fn digest_round_trip() {
        let d = Sha256Digest::of(b"hello world");
        assert_eq!(d.to_string(), HELLO);
        let mut out = Vec::new();
        d.encode_header(&mut out);
        assert_eq!(out, format!("Repr-Digest: sha-256={HELLO}\r\n").as_bytes());
        assert_eq!(parse_repr_digest(&format!("sha-256={HELLO}")), Ok(Some(d)));
    }

    #[test]
    fn repr_digest_values() {
        let d = Sha256Digest::of(b"hello world");
        let ok = [
            format!("sha-256={HELLO}"),
            format!("  SHA-256 = {HELLO} "),
            format!("sha-512=:AAAA:, sha-256={HELLO}"),
            format!("sha-256={HELLO};p=1"),
        ];
        for v in ok {
            assert_eq!(parse_repr_digest(&v), Ok(Some(d)), "{v:?}");
        }
        assert_eq!(parse_repr_digest("sha-512=:AAAA:"), Ok(None));
        assert_eq!(parse_repr_digest(""), Ok(None));
        let bad = [
            ("sha-256=uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=", DigestError::Sha256),
            ("sha-256=:AAAA:", DigestError::Sha256),
            ("sha-256=:not base64!:", DigestError::Sha256),
            ("sha-256", DigestError::Member("sha-256".into())),
        ];
        for (v, want) in bad {
            assert_eq!(parse_repr_digest(v), Err(want), "{v:?}");
        }
        let twice = format!("sha-256={HELLO}, sha-256={HELLO}");
        assert_eq!(parse_repr_digest(&twice), Err(DigestError::Repeated));
    }

    #[test]
    fn want_repr_digest_values() {
        for v in ["sha-256=1", "sha-256=10", "sha-512=3, sha-256=2", "SHA-256=5", "sha-256", "sha-256=?1"] {
            assert!(wants_sha256(v), "{v:?}");
        }
        for v in ["", "sha-256=0", "sha-256=11", "sha-512=1", "sha-256=x", "sha-256=-1", "sha-2566=1"] {
            assert!(!wants_sha256(v), "{v:?}");
        }
        assert_eq!(WANT_REPR_DIGEST.split_once(": ").map(|(_, v)| wants_sha256(v)), Some(true));
    }
}
