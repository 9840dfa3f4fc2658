//! The index server's request path: `parse_head` then `P2sRequest::from_head`.
//!
//! Invariants: no panic; framing stays inside the limits (so a connection's
//! buffer is bounded); a prefix of a framed head is "need more"; what parses
//! encodes to bytes that parse back to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::{Limits, P2sRequest, parse_head};

fn check(data: &[u8], limits: &Limits) {
    match parse_head(data, limits) {
        Err(_) => {}
        Ok(None) => assert!(data.len() <= limits.max_head, "need-more past max_head"),
        Ok(Some((head, used))) => {
            assert!(used <= data.len() && used <= limits.max_head);
            assert!(head.headers.len() <= limits.max_headers);
            assert!(head.start.len() <= limits.max_line);
            assert!(head.headers.iter().all(|h| h.len() <= limits.max_line));
            // Any shorter prefix is just "not yet".
            let cut = data.first().map_or(0, |b| *b as usize) % used;
            assert_eq!(parse_head(&data[..cut], limits), Ok(None), "prefix {cut} of {used}");
            if let Ok(req) = P2sRequest::from_head(&head) {
                let mut out = Vec::new();
                req.encode(&mut out);
                let (again, n) = parse_head(&out, &Limits::default())
                    .expect("own encoding within limits")
                    .expect("own encoding is a whole head");
                assert_eq!(n, out.len());
                assert_eq!(
                    P2sRequest::from_head(&again).as_ref(),
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
