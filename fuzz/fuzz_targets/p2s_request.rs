//! The index server's request path: `parse_head` then `P2sRequest::from_head`.
//!
//! Invariants: those of [`framed::check`].
#![no_main]

mod framed;

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::P2sRequest;

fuzz_target!(|data: &[u8]| {
    for limits in &framed::LIMITS {
        framed::check(data, limits, P2sRequest::from_head, P2sRequest::encode);
    }
});
