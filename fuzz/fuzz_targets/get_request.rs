//! The upload server's request path: `parse_get`, the single pass it reads
//! requests with, held to `parse_head` then `GetRequest::from_head`.
//!
//! Invariants: those of [`framed::check`], the single pass gives the same
//! answer as the two stages, and only a plain decimal RFC number comes out
//! (no path can reach the file system).
#![no_main]

mod framed;

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::{GetRequest, GetRequestRef, parse_get, parse_head};

fuzz_target!(|data: &[u8]| {
    for limits in &framed::LIMITS {
        let two_stage = parse_head(data, limits).map(|h| h.map(|(h, n)| (GetRequestRef::from_head(&h), n)));
        assert_eq!(parse_get(data, limits), two_stage);
        if let Some(req) = framed::check(data, limits, GetRequest::from_head, GetRequest::encode) {
            let name = req.rfc.file_name();
            assert!(name.starts_with("rfc") && name.ends_with(".txt"));
            assert!(name[3..name.len() - 4].bytes().all(|b| b.is_ascii_digit()), "{name}");
        }
    }
});
