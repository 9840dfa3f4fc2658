//! The peer's side of P2S: `P2sResponseDecoder` on what a (possibly
//! hostile) index server sends.
//!
//! Invariants: no panic; `used <= len`; what is left unconsumed after a
//! "need more" is less than one line (the buffer stays bounded); the record
//! cap holds; feeding the bytes whole or in two pieces gives the same
//! responses; every response decoded re-encodes to bytes that decode equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pci::protocol::P2sResponse;
use p2pci::protocol::response::P2sResponseDecoder;

const MAX_LINE: usize = 200;
const MAX_RECORDS: usize = 16;

/// Feeds `pieces` in order, as reads would deliver them; returns the
/// responses and whether it ended in an error.
fn run(pieces: &[&[u8]]) -> (Vec<P2sResponse>, bool) {
    let mut dec = P2sResponseDecoder::new(MAX_LINE, MAX_RECORDS);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&buf) {
                Err(_) => return (got, true),
                Ok((used, resp)) => {
                    assert!(used <= buf.len());
                    buf.drain(..used);
                    match resp {
                        Some(r) => {
                            assert!(r.records.len() <= MAX_RECORDS);
                            got.push(r);
                        }
                        None => {
                            assert!(buf.len() <= MAX_LINE + 1, "unconsumed {} bytes", buf.len());
                            break;
                        }
                    }
                }
            }
        }
    }
    (got, false)
}

fuzz_target!(|data: &[u8]| {
    let whole = run(&[data]);
    let cut = data.first().map_or(0, |b| *b as usize * 7) % (data.len() + 1);
    let split = run(&[&data[..cut], &data[cut..]]);
    assert_eq!(whole, split, "split at {cut}");
    for r in &whole.0 {
        let mut out = Vec::new();
        r.encode(&mut out);
        let (again, err) = run(&[&out]);
        assert!(!err, "own encoding rejected: {:?}", String::from_utf8_lossy(&out));
        assert_eq!(again.as_slice(), std::slice::from_ref(r));
    }
});
