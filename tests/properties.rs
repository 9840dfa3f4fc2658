//! Property tests of the protocol, in the normal suite (the fuzz targets in
//! fuzz/ push the same invariants much further): parsers never panic and stay
//! within the limits on any bytes; what is encoded parses back equal, however
//! the bytes are split into reads.

use std::time::{Duration, UNIX_EPOCH};

use p2pci::protocol::response::P2sResponseDecoder;
use p2pci::protocol::{
    GetRequest, GetResponseHead, Limits, P2sMethod, P2sRequest, P2sResponse, PeerId, Record, RfcNumber,
    Status, parse_head,
};
use proptest::prelude::*;

fn host() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.-]{1,30}"
}

/// A header value as a sender would write it: no CR or LF, no blanks around.
fn value() -> impl Strategy<Value = String> {
    "[^\r\n]{1,60}"
        .prop_map(|s| s.trim_matches([' ', '\t']).to_owned())
        .prop_filter("not empty after trimming", |s| !s.is_empty())
}

fn p2s_request() -> impl Strategy<Value = P2sRequest> {
    let method = prop_oneof![
        (any::<u32>(), value()).prop_map(|(n, title)| P2sMethod::Add { rfc: RfcNumber(n), title }),
        (any::<u32>(), proptest::option::of(value()))
            .prop_map(|(n, title)| P2sMethod::Lookup { rfc: RfcNumber(n), title }),
        Just(P2sMethod::List),
    ];
    (method, host(), 1..=u16::MAX)
        .prop_map(|(method, host, port)| P2sRequest { method, peer: PeerId { host, port } })
}

fn record() -> impl Strategy<Value = Record> {
    (any::<u32>(), "[^\r\n]{0,40}", host(), 1..=u16::MAX).prop_map(|(n, title, host, port)| Record {
        rfc: RfcNumber(n),
        title,
        host,
        port,
    })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Ok),
        Just(Status::BadRequest),
        Just(Status::NotFound),
        Just(Status::VersionNotSupported)
    ]
}

/// Feeds `wire` to the framer in reads of `chunk` bytes, as a connection
/// would, and returns the head's bytes once it is whole.
fn frame_in_chunks(wire: &[u8], chunk: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        if let Some((_, used)) = parse_head(&buf, &Limits::default()).unwrap() {
            return buf[..used].to_vec();
        }
    }
    panic!("never framed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn framing_any_bytes_never_panics_and_stays_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        max_line in 1usize..200, max_head in 1usize..1000, max_headers in 0usize..8,
    ) {
        let limits = Limits { max_line, max_head, max_headers };
        match parse_head(&data, &limits) {
            Err(_) => {}
            Ok(None) => prop_assert!(data.len() <= max_head),
            Ok(Some((head, used))) => {
                prop_assert!(used <= data.len() && used <= max_head);
                prop_assert!(head.headers.len() <= max_headers);
                let _ = P2sRequest::from_head(&head);
                let _ = GetRequest::from_head(&head);
                let _ = GetResponseHead::from_head(&head);
            }
        }
    }

    #[test]
    fn requests_made_of_protocol_words_never_panic(
        words in proptest::collection::vec(prop_oneof![
            Just("ADD"), Just("LOOKUP"), Just("LIST"), Just("GET"), Just("RFC"), Just("ALL"), Just("P2P-CI/1.0"),
            Just("P2P-CI/2.0"), Just("Host:"), Just("Port:"), Just("Title:"), Just("OS:"), Just("1"), Just("65536"),
            Just(" "), Just("\t"), Just("\r\n"), Just("\n"), Just("\r"), Just(":"), Just("é"), Just("\u{85}"),
        ], 0..40),
    ) {
        let data: String = words.concat();
        if let Ok(Some((head, _))) = parse_head(data.as_bytes(), &Limits::default()) {
            if let Ok(req) = P2sRequest::from_head(&head) {
                let mut out = Vec::new();
                req.encode(&mut out);
                let (again, _) = parse_head(&out, &Limits::default()).unwrap().unwrap();
                prop_assert_eq!(P2sRequest::from_head(&again), Ok(req));
            }
            if let Ok(req) = GetRequest::from_head(&head) {
                let mut out = Vec::new();
                req.encode(&mut out);
                let (again, _) = parse_head(&out, &Limits::default()).unwrap().unwrap();
                prop_assert_eq!(GetRequest::from_head(&again), Ok(req));
            }
        }
    }

    #[test]
    fn p2s_requests_round_trip_in_any_reads(req in p2s_request(), chunk in 1usize..64) {
        let mut wire = Vec::new();
        req.encode(&mut wire);
        let framed = frame_in_chunks(&wire, chunk);
        prop_assert_eq!(framed.len(), wire.len());
        let (head, _) = parse_head(&framed, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(P2sRequest::from_head(&head), Ok(req));
    }

    #[test]
    fn get_requests_round_trip_in_any_reads(
        n in any::<u32>(), host in host(), os in proptest::option::of(value()), chunk in 1usize..64,
    ) {
        let req = GetRequest { rfc: RfcNumber(n), host, os };
        let mut wire = Vec::new();
        req.encode(&mut wire);
        let framed = frame_in_chunks(&wire, chunk);
        let (head, _) = parse_head(&framed, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(GetRequest::from_head(&head), Ok(req));
    }

    #[test]
    fn get_response_heads_round_trip(
        date in 0u64..253_402_300_799, lm in 0u64..253_402_300_799, os in value(), len in any::<u64>(),
        err in proptest::option::of(prop_oneof![Just(Status::BadRequest), Just(Status::NotFound)]),
    ) {
        let head = match err {
            None => GetResponseHead::ok(UNIX_EPOCH + Duration::from_secs(date), &os, UNIX_EPOCH + Duration::from_secs(lm), len),
            Some(s) => GetResponseHead::error(s),
        };
        let mut wire = Vec::new();
        head.encode(&mut wire);
        let (framed, used) = parse_head(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(GetResponseHead::from_head(&framed), Ok(head));
    }

    #[test]
    fn p2s_responses_round_trip_in_any_reads(
        answers in proptest::collection::vec((status(), proptest::collection::vec(record(), 0..8)), 1..4),
        chunk in 1usize..100,
    ) {
        let answers: Vec<P2sResponse> =
            answers.into_iter().map(|(status, records)| P2sResponse { status, records }).collect();
        let mut wire = Vec::new();
        for a in &answers {
            a.encode(&mut wire);
        }
        let mut dec = P2sResponseDecoder::default();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                let (used, resp) = dec.decode(&buf).unwrap();
                prop_assert!(used <= buf.len());
                buf.drain(..used);
                match resp {
                    Some(r) => got.push(r),
                    None => break,
                }
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, answers);
    }

    #[test]
    fn the_response_decoder_on_any_bytes_never_panics_and_stays_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..2048), max_line in 1usize..100, max_records in 0usize..5,
    ) {
        let mut dec = P2sResponseDecoder::new(max_line, max_records);
        let mut buf = data.as_slice();
        while let Ok((used, resp)) = dec.decode(buf) {
            prop_assert!(used <= buf.len());
            buf = &buf[used..];
            match resp {
                Some(r) => prop_assert!(r.records.len() <= max_records),
                None => {
                    prop_assert!(buf.len() <= max_line + 1);
                    break;
                }
            }
        }
    }
}
