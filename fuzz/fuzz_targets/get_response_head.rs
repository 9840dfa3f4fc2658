//! The downloader's side: `parse_head` then `GetResponseHead::from_head` on
//! what an uploader (possibly hostile) sends.
//!
//! Invariants: those of [`framed::check`], and a 200 always carries a
//! Content-Length.
#![no_main]

mod framed;

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::{GetResponseHead, Status};

fuzz_target!(|data: &[u8]| {
    for limits in &framed::LIMITS {
        let parsed = framed::check(data, limits, GetResponseHead::from_head, GetResponseHead::encode);
        if let Some(h) = parsed
            && h.status == Status::Ok
        {
            assert!(h.content_length.is_some());
        }
    }
});
