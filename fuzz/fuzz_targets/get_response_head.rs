//! The downloader's side: `parse_head` then `GetResponseHead::from_head` on
//! what an uploader (possibly hostile) sends.
//!
//! Invariants: no panic; framing within the limits; a 200 always carries a
//! Content-Length; what parses encodes to bytes that parse back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::{GetResponseHead, Limits, Status, parse_head};

fn check(data: &[u8], limits: &Limits) {
    match parse_head(data, limits) {
        Err(_) => {}
        Ok(None) => assert!(data.len() <= limits.max_head, "need-more past max_head"),
        Ok(Some((head, used))) => {
            assert!(used <= data.len() && used <= limits.max_head);
            if let Ok(h) = GetResponseHead::from_head(&head) {
                if h.status == Status::Ok {
                    assert!(h.content_length.is_some());
                }
                let mut out = Vec::new();
                h.encode(&mut out);
                let (again, n) = parse_head(&out, &Limits::default())
                    .expect("own encoding within limits")
                    .expect("own encoding is a whole head");
                assert_eq!(n, out.len());
                assert_eq!(
                    GetResponseHead::from_head(&again).as_ref(),
                    Ok(&h),
                    "{:?}",
                    String::from_utf8_lossy(&out)
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &Limits::default());
    check(data, &Limits { max_line: 64, max_head: 256, max_headers: 4 });
});
