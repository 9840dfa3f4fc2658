//! Property tests: whatever we encode parses back to itself, at any split of
//! the bytes, and no input makes a parser panic or misreport what it used.

use proptest::prelude::*;

use super::head::{Limits, parse_head};
use super::reference;
use super::request::{GetRequest, GetRequestRef, P2sMethod, P2sRequest, P2sRequestRef, parse_get, parse_p2s};
use super::response::{GetResponseHead, P2sResponse, P2sResponseDecoder, Record};
use super::status::Status;
use super::types::{PeerId, RfcNumber};

fn host() -> impl Strategy<Value = String> {
    // One token, no blanks: any printable non-space text, including Unicode.
    "[a-zA-Z0-9.\\-_:\\[\\]éß☃]{1,40}"
}

fn title() -> impl Strategy<Value = String> {
    // Any character but a control (tab aside: PROTOCOL.md, Framing), and no
    // blanks at either end (they are trimmed).
    r"[^\x00-\x1f\x7f ]([^\x00-\x08\x0a-\x1f\x7f]{0,60}[^\x00-\x1f\x7f ])?"
}

fn rfc() -> impl Strategy<Value = RfcNumber> {
    any::<u32>().prop_map(RfcNumber)
}

fn port() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn p2s_request() -> impl Strategy<Value = P2sRequest> {
    let method = prop_oneof![
        (rfc(), title()).prop_map(|(rfc, title)| P2sMethod::Add { rfc, title }),
        (rfc(), proptest::option::of(title())).prop_map(|(rfc, title)| P2sMethod::Lookup { rfc, title }),
        Just(P2sMethod::List),
    ];
    (method, host(), port())
        .prop_map(|(method, host, port)| P2sRequest { method, peer: PeerId { host, port } })
}

fn record() -> impl Strategy<Value = Record> {
    (rfc(), title(), host(), port()).prop_map(|(rfc, title, host, port)| Record { rfc, title, host, port })
}

fn status() -> impl Strategy<Value = Status> {
    proptest::sample::select(Status::ALL.to_vec())
}

/// Feeds `wire` to the head parser in pieces of `chunk` bytes, as a socket
/// might deliver it, and returns every head's meaning in order.
fn parse_all<T>(wire: &[u8], chunk: usize, mut meaning: impl FnMut(&super::Head<'_>) -> T) -> Vec<T> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Some((head, used)) = parse_head(&buf, &Limits::default()).unwrap() {
            out.push(meaning(&head));
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    out
}

/// The borrowed parse, the owned parse and the plain reference parser
/// ([`reference`]) give the same request or the same error on `head`.
fn parsers_agree(head: &super::Head<'_>) -> Result<(), TestCaseError> {
    let owned = P2sRequest::from_head(head);
    prop_assert_eq!(P2sRequestRef::from_head(head).map(P2sRequestRef::into_owned), owned.clone());
    prop_assert_eq!(owned, reference::p2s(head));
    let owned = GetRequest::from_head(head);
    prop_assert_eq!(GetRequestRef::from_head(head).map(GetRequestRef::into_owned), owned.clone());
    prop_assert_eq!(owned, reference::get(head));
    Ok(())
}

/// The single-pass parsers the servers use ([`parse_p2s`], [`parse_get`])
/// give exactly what framing then understanding gives: the same limit
/// error, the same "incomplete", the same request or error, the same length.
fn single_pass_agrees(data: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let p2s = parse_p2s(data, limits);
    let get = parse_get(data, limits);
    match parse_head(data, limits) {
        Err(e) => {
            prop_assert_eq!(p2s, Err(e));
            prop_assert_eq!(get, Err(e));
        }
        Ok(None) => {
            prop_assert_eq!(p2s, Ok(None));
            prop_assert_eq!(get, Ok(None));
        }
        Ok(Some((head, used))) => {
            prop_assert_eq!(p2s, Ok(Some((P2sRequestRef::from_head(&head), used))));
            prop_assert_eq!(get, Ok(Some((GetRequestRef::from_head(&head), used))));
        }
    }
    Ok(())
}

/// Pieces of requests, good and bad: protocol words, every kind of blank
/// (ASCII and Unicode), separators, stray CRs, non-ASCII text and invalid
/// UTF-8.
fn request_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::sample::select(vec![
            "ADD", "LOOKUP", "LIST", "GET", "RFC", "ALL", "P2P-CI/1.0", "P2P-CI/2.0", "P2P-CI/1.", "HTTP/1.1",
            "Host", "Port", "Title", "OS", "hOsT", "PORT", "title", "os", "X-Other", ":", ": ", " ", "  ", "\t",
            "\x0b", "\x0c", "\r", "\r\n", "\n", "0", "1", "007", "65535", "65536", "4294967295", "4294967296",
            "-1", "+1", "1.5", "x", "é", "☃", "\u{85}", "\u{a0}", "\u{2003}", "h.example.org", "\x1b", "\x7f", "\x00",
        ]).prop_map(|w| w.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ]
}

/// Nothing, or a run of blanks of any kind.
fn blank() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "", " ", " ", " ", "  ", "\t", " \t", "\x0b", "\x0c", "\r", "\u{85}", "\u{a0}", "\u{2003}",
    ])
}

proptest! {
    /// The borrowed and owned parses (and the reference parser) agree on any
    /// framed head: arbitrary bytes, and requests made of protocol pieces.
    #[test]
    fn borrowed_and_owned_parses_agree_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        single_pass_agrees(&data, &Limits::default())?;
        if let Ok(Some((head, _))) = parse_head(&data, &Limits::default()) {
            parsers_agree(&head)?;
        }
    }

    #[test]
    fn borrowed_and_owned_parses_agree_on_request_pieces(
        start in proptest::collection::vec(request_piece(), 0..8),
        headers in proptest::collection::vec(proptest::collection::vec(request_piece(), 0..6), 0..6),
    ) {
        let mut data = start.concat();
        for h in &headers {
            data.extend_from_slice(b"\r\n");
            data.extend_from_slice(&h.concat());
        }
        data.extend_from_slice(b"\r\n\r\n");
        single_pass_agrees(&data, &Limits::default())?;
        if let Ok(Some((head, _))) = parse_head(&data, &Limits::default()) {
            parsers_agree(&head)?;
        }
    }

    /// Nearly valid requests: every field picked from good and bad forms,
    /// separated by any kind of blank.
    #[test]
    fn borrowed_and_owned_parses_agree_on_nearly_valid_requests(
        line in proptest::collection::vec((blank(), request_piece()), 1..6),
        end in blank(),
        headers in proptest::collection::vec((request_piece(), blank(), blank(), request_piece(), blank()), 0..5),
    ) {
        let mut data = Vec::new();
        for (b, w) in &line {
            data.extend_from_slice(b.as_bytes());
            data.extend_from_slice(w);
        }
        data.extend_from_slice(end.as_bytes());
        for (name, b1, b2, value, b3) in &headers {
            data.extend_from_slice(b"\r\n");
            data.extend_from_slice(name);
            data.extend_from_slice(b1.as_bytes());
            data.push(b':');
            data.extend_from_slice(b2.as_bytes());
            data.extend_from_slice(value);
            data.extend_from_slice(b3.as_bytes());
        }
        data.extend_from_slice(b"\r\n\r\n");
        single_pass_agrees(&data, &Limits::default())?;
        if let Ok(Some((head, _))) = parse_head(&data, &Limits::default()) {
            parsers_agree(&head)?;
        }
    }

    #[test]
    fn borrowed_and_owned_parses_agree_on_valid_requests(req in p2s_request(), get in (rfc(), host(), proptest::option::of(title()), any::<bool>())) {
        let mut wire = Vec::new();
        req.encode(&mut wire);
        let (head, _) = parse_head(&wire, &Limits::default()).unwrap().unwrap();
        parsers_agree(&head)?;
        prop_assert_eq!(P2sRequestRef::from_head(&head).map(P2sRequestRef::into_owned), Ok(req));
        let get = GetRequest { rfc: get.0, host: get.1, os: get.2, want_digest: get.3 };
        let mut wire = Vec::new();
        get.encode(&mut wire);
        let (head, _) = parse_head(&wire, &Limits::default()).unwrap().unwrap();
        parsers_agree(&head)?;
        prop_assert_eq!(GetRequestRef::from_head(&head).map(GetRequestRef::into_owned), Ok(get));
    }

    #[test]
    fn p2s_requests_round_trip(reqs in proptest::collection::vec(p2s_request(), 1..5), chunk in 1usize..64) {
        let mut wire = Vec::new();
        for r in &reqs {
            r.encode(&mut wire);
        }
        let got = parse_all(&wire, chunk, |h| P2sRequest::from_head(h).unwrap());
        prop_assert_eq!(&got, &reqs);
        // And as the server reads them: one pass each, as the bytes arrive.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some((req, used)) = parse_p2s(&buf, &Limits::default()).unwrap() {
                got.push(req.unwrap().into_owned());
                buf.drain(..used);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, reqs);
    }

    #[test]
    fn get_requests_round_trip(rfc in rfc(), host in host(), os in proptest::option::of(title()), want_digest in any::<bool>(), chunk in 1usize..64) {
        let req = GetRequest { rfc, host, os, want_digest };
        let mut wire = Vec::new();
        req.encode(&mut wire);
        let got = parse_all(&wire, chunk, |h| GetRequest::from_head(h).unwrap());
        prop_assert_eq!(got, vec![req]);
    }

    #[test]
    fn p2s_responses_round_trip(
        resps in proptest::collection::vec((status(), proptest::collection::vec(record(), 0..6)), 1..4),
        chunk in 1usize..128,
    ) {
        let resps: Vec<P2sResponse> = resps.into_iter().map(|(status, records)| P2sResponse { status, records }).collect();
        let mut wire = Vec::new();
        for r in &resps {
            r.encode(&mut wire);
        }
        let (got, left) = super::response::tests::decode_in_chunks(&wire, chunk);
        prop_assert_eq!(got, resps);
        prop_assert!(left.is_empty());
    }

    #[test]
    fn get_response_heads_round_trip(status in status(), secs in 0u64..4_000_000_000, os in title(), len in any::<u64>()) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let head = if status == Status::Ok { GetResponseHead::ok(t, &os, t, len) } else { GetResponseHead::error(status) };
        let mut wire = Vec::new();
        head.encode(&mut wire);
        let (framed, used) = parse_head(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(GetResponseHead::from_head(&framed).unwrap(), head);
    }

    /// Arbitrary bytes under arbitrary limits: no panic, and nothing framed
    /// or buffered beyond what the limits allow.
    #[test]
    fn framing_any_bytes_never_panics_and_stays_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        max_line in 1usize..200, max_head in 1usize..1000, max_headers in 0usize..8,
    ) {
        let limits = Limits { max_line, max_head, max_headers };
        single_pass_agrees(&data, &limits)?;
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

    /// Text made of protocol words: no panic, and what parses re-encodes to
    /// itself.
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

    /// The response decoder on any bytes: no panic, records and pending
    /// bytes within its caps.
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

    /// Request-shaped text with random tokens: parsing either succeeds and
    /// re-encodes to an equivalent request, or fails with 400 or 505.
    #[test]
    fn request_shaped_text(
        method in "(ADD|LOOKUP|LIST|GET|add|FOO)",
        target in "(RFC|ALL|rfc)",
        number in "([0-9]{1,12}|-1|x|)",
        version in "(P2P-CI/1\\.0|P2P-CI/[0-9]\\.[0-9]|HTTP/1\\.1|P2P-CI/x)",
        headers in proptest::collection::vec(("(Host|Port|Title|OS|X)", "[ -~]{0,12}"), 0..5),
    ) {
        let mut text = format!("{method} {target} {number} {version}\r\n");
        for (n, v) in &headers {
            text += &format!("{n}: {v}\r\n");
        }
        text += "\r\n";
        let (head, _) = parse_head(text.as_bytes(), &Limits::default()).unwrap().unwrap();
        match P2sRequest::from_head(&head) {
            Ok(req) => {
                let mut wire = Vec::new();
                req.encode(&mut wire);
                let (again, _) = parse_head(&wire, &Limits::default()).unwrap().unwrap();
                prop_assert_eq!(P2sRequest::from_head(&again).unwrap(), req);
            }
            Err(e) => prop_assert!(matches!(e.status().code(), 400 | 505)),
        }
    }
}
