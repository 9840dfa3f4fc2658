//! What every head-parsing fuzz target checks, whatever the message: the
//! framer stays within its limits, any prefix of a whole head is "not yet",
//! and a message that parses encodes to bytes that frame whole and parse
//! back equal. Each target adds its own checks on the parsed message.

use std::fmt::Debug;

use p2pci::protocol::{Head, Limits, parse_head};

/// The two limit sets every target runs under: the defaults and tight ones.
pub const LIMITS: [Limits; 2] = [
    Limits { max_line: 8 * 1024, max_head: 64 * 1024, max_headers: 64 },
    Limits { max_line: 64, max_head: 256, max_headers: 4 },
];

/// Frames `data`, parses what frames with `parse`, re-encodes with `encode`,
/// and returns the parsed message for the target's own checks.
pub fn check<T: PartialEq + Debug, E: PartialEq + Debug>(
    data: &[u8],
    limits: &Limits,
    parse: impl Fn(&Head<'_>) -> Result<T, E>,
    encode: impl Fn(&T, &mut Vec<u8>),
) -> Option<T> {
    match parse_head(data, limits) {
        Err(_) => None,
        Ok(None) => {
            assert!(data.len() <= limits.max_head, "need-more past max_head");
            None
        }
        Ok(Some((head, used))) => {
            assert!(used <= data.len() && used <= limits.max_head);
            assert!(head.headers.len() <= limits.max_headers);
            assert!(head.start.len() <= limits.max_line);
            assert!(head.headers.iter().all(|h| h.len() <= limits.max_line));
            // Any shorter prefix is just "not yet".
            let cut = data.first().map_or(0, |b| *b as usize) % used;
            assert_eq!(parse_head(&data[..cut], limits), Ok(None), "prefix {cut} of {used}");
            let msg = parse(&head).ok()?;
            let mut out = Vec::new();
            encode(&msg, &mut out);
            let (again, n) = parse_head(&out, &Limits::default())
                .expect("own encoding within limits")
                .expect("own encoding is a whole head");
            assert_eq!(n, out.len());
            assert_eq!(parse(&again).as_ref(), Ok(&msg), "{:?}", String::from_utf8_lossy(&out));
            Some(msg)
        }
    }
}
