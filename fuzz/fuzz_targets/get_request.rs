//! The upload server's request path: `parse_head` then `GetRequest::from_head`.
//!
//! Invariants: no panic; framing within the limits; only a plain decimal RFC
//! number comes out (no path can reach the file system); what parses encodes
//! to bytes that parse back to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::{GetRequest, Limits, parse_head};

fn check(data: &[u8], limits: &Limits) {
    match parse_head(data, limits) {
        Err(_) => {}
        Ok(None) => assert!(data.len() <= limits.max_head, "need-more past max_head"),
        Ok(Some((head, used))) => {
            assert!(used <= data.len() && used <= limits.max_head);
            assert!(head.headers.len() <= limits.max_headers);
            if let Ok(req) = GetRequest::from_head(&head) {
                let name = req.rfc.file_name();
                assert!(name.starts_with("rfc") && name.ends_with(".txt"));
                assert!(name[3..name.len() - 4].bytes().all(|b| b.is_ascii_digit()), "{name}");
                let mut out = Vec::new();
                req.encode(&mut out);
                let (again, n) = parse_head(&out, &Limits::default())
                    .expect("own encoding within limits")
                    .expect("own encoding is a whole head");
                assert_eq!(n, out.len());
                assert_eq!(
                    GetRequest::from_head(&again).as_ref(),
                    Ok(&req),
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
