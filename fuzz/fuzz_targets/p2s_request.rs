//! The index server's request path: `parse_p2s`, the single pass it reads
//! requests with, held to `parse_head` then `P2sRequest::from_head`.
//!
//! Invariants: those of [`framed::check`], and the single pass gives the
//! same answer as the two stages, under every limit set.
#![no_main]

mod framed;

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::{P2sRequest, P2sRequestRef, parse_head, parse_p2s};

fuzz_target!(|data: &[u8]| {
    for limits in &framed::LIMITS {
        framed::check(data, limits, P2sRequest::from_head, P2sRequest::encode);
        let two_stage = parse_head(data, limits).map(|h| h.map(|(h, n)| (P2sRequestRef::from_head(&h), n)));
        assert_eq!(parse_p2s(data, limits), two_stage);
    }
});
