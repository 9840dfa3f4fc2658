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
//! What requests and responses both carry (the version, [`RfcNumber`],
//! [`PeerId`], ports) is in [`types`], so neither module depends on the
//! other; the names used across the crate are re-exported here.
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
pub mod types;

pub use digest::{DigestError, Sha256Digest};
pub use escape::{escape_line, escape_message};
pub use head::{Head, LimitError, Limits, frame, parse_head};
pub use request::{
    GetRequest, GetRequestRef, P2sMethod, P2sMethodRef, P2sRequest, P2sRequestRef, RequestError, parse_get,
    parse_p2s,
};
pub use response::{GetResponseHead, P2sResponse, Record, ResponseError};
pub use status::Status;
pub use types::{PeerId, PeerIdRef, RfcNumber, VERSION, VersionCheck, check_version};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference;
