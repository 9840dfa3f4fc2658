//! The upload server's request path: `parse_head` then `GetRequest::from_head`.
//!
//! Invariants: those of [`framed::check`], and only a plain decimal RFC
//! number comes out (no path can reach the file system).
#![no_main]

mod framed;

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::GetRequest;

fuzz_target!(|data: &[u8]| {
    for limits in &framed::LIMITS {
        if let Some(req) = framed::check(data, limits, GetRequest::from_head, GetRequest::encode) {
            let name = req.rfc.file_name();
            assert!(name.starts_with("rfc") && name.ends_with(".txt"));
            assert!(name[3..name.len() - 4].bytes().all(|b| b.is_ascii_digit()), "{name}");
        }
    }
});
