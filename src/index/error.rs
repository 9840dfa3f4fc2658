//! Why the index refuses an ADD.

use super::CapExceeded;
use crate::protocol::PeerId;

/// The request names a different peer than the connection registered as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this connection is peer {registered}, not {claimed}")]
pub struct IdentityMismatch {
    pub registered: PeerId,
    pub claimed: PeerId,
}

/// Why an ADD was refused; each is answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Identity(#[from] IdentityMismatch),
    #[error(transparent)]
    Cap(#[from] CapExceeded),
    /// The store cannot hold another record (4 billion of them).
    #[error("the index is full")]
    Full,
}
