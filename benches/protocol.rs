//! Micro-benchmarks: parsing and encoding every P2P-CI/1.0 message, next to
//! `httparse` parsing (and a plain encoder writing) the equivalent HTTP/1.1
//! message, the yardstick. Run with `cargo bench --bench protocol`; each
//! group's `http_*` line is the anchor for the `p2pci_*` lines in it.
//!
//! "Parse" means what the servers do on receipt: frame the head (size limits
//! included) and give it its meaning (version, method, RFC number, required
//! headers). httparse only tokenizes, so the comparison flatters it. Each
//! request is parsed two ways: `*_p2pci` frames and understands it in one
//! pass, borrowing its text from the buffer, as httparse does (and as the
//! servers do: `parse_p2s`, `parse_get`); `*_owned_p2pci` frames the lines
//! first (`parse_head`) and then copies the text into `String`s (the
//! `P2sRequest` / `GetRequest` tests and tools use).

use std::time::{Duration, UNIX_EPOCH};

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use p2pci::protocol::response::{P2sResponseDecoder, encode_p2s_end, encode_p2s_head, encode_record};
use p2pci::protocol::{
    GetRequest, GetResponseHead, Limits, P2sMethod, P2sRequest, PeerId, RfcNumber, Status, parse_get,
    parse_head, parse_p2s,
};

fn main() {
    // A fixed batch per sample: each call is well above the timer's
    // precision, and divan's automatic sizing sometimes settles on one call
    // per sample, which measures the timer and cold caches instead.
    divan::Divan::default().sample_size(256).sample_count(200).config_with_args().main();
}

const ADD: &[u8] =
    b"ADD RFC 123 P2P-CI/1.0\r\nHost: thishost.example.org\r\nPort: 5678\r\nTitle: A Proferred Official ICP\r\n\r\n";
const HTTP_ADD: &[u8] =
    b"PUT /rfc/123 HTTP/1.1\r\nHost: thishost.example.org\r\nPort: 5678\r\nTitle: A Proferred Official ICP\r\n\r\n";
const LOOKUP: &[u8] = b"LOOKUP RFC 3457 P2P-CI/1.0\r\nHost: thishost.example.org\r\nPort: 5678\r\nTitle: Requirements for IPsec Remote Access Scenarios\r\n\r\n";
const HTTP_LOOKUP: &[u8] = b"GET /rfc/3457 HTTP/1.1\r\nHost: thishost.example.org\r\nPort: 5678\r\nTitle: Requirements for IPsec Remote Access Scenarios\r\n\r\n";
const LIST: &[u8] = b"LIST ALL P2P-CI/1.0\r\nHost: thishost.example.org\r\nPort: 5678\r\n\r\n";
const HTTP_LIST: &[u8] = b"GET /rfc HTTP/1.1\r\nHost: thishost.example.org\r\nPort: 5678\r\n\r\n";
const GET: &[u8] = b"GET RFC 1234 P2P-CI/1.0\r\nHost: somehost.example.org\r\nOS: Linux 6.1\r\n\r\n";
const HTTP_GET: &[u8] =
    b"GET /rfc1234.txt HTTP/1.1\r\nHost: somehost.example.org\r\nUser-Agent: Linux 6.1\r\n\r\n";

const LOOKUP_RESPONSE: &[u8] = b"P2P-CI/1.0 200 OK\r\n\r\nRFC 3457 Requirements for IPsec Remote Access Scenarios thishost.example.org 5678\r\n\r\n";
const HTTP_LOOKUP_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 81\r\n\r\nRFC 3457 Requirements for IPsec Remote Access Scenarios thishost.example.org 5678\r\n";
const GET_RESPONSE: &[u8] = b"P2P-CI/1.0 200 OK\r\nDate: Thu, 12 Feb 2009 15:12:05 GMT\r\nOS: Linux 6.1\r\nLast-Modified: Sun, 21 Jan 2001 09:23:46 GMT\r\nContent-Length: 12345\r\nContent-Type: text/plain\r\n\r\n";
const HTTP_GET_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nDate: Thu, 12 Feb 2009 15:12:05 GMT\r\nServer: Linux 6.1\r\nLast-Modified: Sun, 21 Jan 2001 09:23:46 GMT\r\nContent-Length: 12345\r\nContent-Type: text/plain\r\n\r\n";

fn p2s(bytes: &[u8]) -> P2sRequest {
    let (head, _) = parse_head(bytes, &Limits::default()).unwrap().unwrap();
    P2sRequest::from_head(&head).unwrap()
}

fn httparse_request(bytes: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes).unwrap() {
        httparse::Status::Complete(n) => n + req.headers.len(),
        httparse::Status::Partial => unreachable!(),
    }
}

fn httparse_response(bytes: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(bytes).unwrap() {
        httparse::Status::Complete(n) => n + res.headers.len(),
        httparse::Status::Partial => unreachable!(),
    }
}

/// Parsing requests as the servers do: borrowed (`*_p2pci`), owned
/// (`*_owned_p2pci`), and httparse on the equivalent HTTP/1.1 request.
mod parse_request {
    use super::*;

    macro_rules! trio {
        ($ours:ident, $owned:ident, $theirs:ident, $p2p:expr, $http:expr, $borrowed:expr, $parse:expr) => {
            #[divan::bench]
            fn $ours(b: Bencher) {
                // The request's fields are used (summed) so that nothing
                // is optimized away; httparse's side does the same.
                b.counter(BytesCount::of_slice($p2p)).bench(|| $borrowed(black_box($p2p)));
            }

            #[divan::bench]
            fn $owned(b: Bencher) {
                b.counter(BytesCount::of_slice($p2p)).bench(|| $parse(black_box($p2p)));
            }

            #[divan::bench]
            fn $theirs(b: Bencher) {
                b.counter(BytesCount::of_slice($http)).bench(|| httparse_request(black_box($http)));
            }
        };
    }

    fn get(bytes: &[u8]) -> GetRequest {
        let (head, _) = parse_head(bytes, &Limits::default()).unwrap().unwrap();
        GetRequest::from_head(&head).unwrap()
    }

    fn p2s_ref(bytes: &[u8]) -> usize {
        let (req, used) = parse_p2s(bytes, &Limits::default()).unwrap().unwrap();
        let req = req.unwrap();
        used + req.peer.host.len() + usize::from(req.peer.port)
    }

    fn get_ref(bytes: &[u8]) -> usize {
        let (req, used) = parse_get(bytes, &Limits::default()).unwrap().unwrap();
        let req = req.unwrap();
        used + req.host.len() + req.rfc.0 as usize
    }

    trio!(add_p2pci, add_owned_p2pci, add_http, ADD, HTTP_ADD, p2s_ref, p2s);
    trio!(lookup_p2pci, lookup_owned_p2pci, lookup_http, LOOKUP, HTTP_LOOKUP, p2s_ref, p2s);
    trio!(list_p2pci, list_owned_p2pci, list_http, LIST, HTTP_LIST, p2s_ref, p2s);
    trio!(get_p2pci, get_owned_p2pci, get_http, GET, HTTP_GET, get_ref, get);
}

/// Parsing responses as the peers do.
mod parse_response {
    use super::*;

    #[divan::bench]
    fn lookup_p2pci(b: Bencher) {
        let mut d = P2sResponseDecoder::default();
        b.counter(BytesCount::of_slice(LOOKUP_RESPONSE))
            .bench_local(|| d.decode(black_box(LOOKUP_RESPONSE)).unwrap());
    }

    #[divan::bench]
    fn lookup_http(b: Bencher) {
        b.counter(BytesCount::of_slice(HTTP_LOOKUP_RESPONSE))
            .bench(|| httparse_response(black_box(HTTP_LOOKUP_RESPONSE)));
    }

    #[divan::bench]
    fn get_p2pci(b: Bencher) {
        b.counter(BytesCount::of_slice(GET_RESPONSE)).bench(|| {
            let (head, _) = parse_head(black_box(GET_RESPONSE), &Limits::default()).unwrap().unwrap();
            GetResponseHead::from_head(&head).unwrap()
        });
    }

    #[divan::bench]
    fn get_http(b: Bencher) {
        b.counter(BytesCount::of_slice(HTTP_GET_RESPONSE))
            .bench(|| httparse_response(black_box(HTTP_GET_RESPONSE)));
    }
}

/// Encoding, into a reused buffer as the servers do. The anchor writes the
/// same-sized HTTP/1.1 message from its parts.
mod encode {
    use super::*;
    use std::io::Write;

    #[divan::bench]
    fn add_request_p2pci(b: Bencher) {
        let req = p2s(ADD);
        let mut out = Vec::with_capacity(256);
        b.counter(BytesCount::of_slice(ADD)).bench_local(|| {
            out.clear();
            black_box(&req).encode(&mut out);
            out.len()
        });
    }

    #[divan::bench]
    fn add_request_http(b: Bencher) {
        let (rfc, host, port, title) = (123u32, "thishost.example.org", 5678u16, "A Proferred Official ICP");
        let mut out = Vec::with_capacity(256);
        b.counter(BytesCount::of_slice(HTTP_ADD)).bench_local(|| {
            out.clear();
            let _ = write!(
                out,
                "PUT /rfc/{} HTTP/1.1\r\nHost: {}\r\nPort: {}\r\nTitle: {}\r\n\r\n",
                black_box(rfc),
                black_box(host),
                port,
                title
            );
            out.len()
        });
    }

    #[divan::bench]
    fn lookup_request_p2pci(b: Bencher) {
        let req = P2sRequest {
            method: P2sMethod::Lookup { rfc: RfcNumber(3457), title: None },
            peer: PeerId { host: "thishost.example.org".into(), port: 5678 },
        };
        let mut out = Vec::with_capacity(256);
        b.bench_local(|| {
            out.clear();
            black_box(&req).encode(&mut out);
            out.len()
        });
    }

    #[divan::bench]
    fn lookup_response_p2pci(b: Bencher) {
        let mut out = Vec::with_capacity(256);
        b.counter(BytesCount::of_slice(LOOKUP_RESPONSE)).bench_local(|| {
            out.clear();
            encode_p2s_head(Status::Ok, &mut out);
            encode_record(
                black_box(RfcNumber(3457)),
                black_box("Requirements for IPsec Remote Access Scenarios"),
                "thishost.example.org",
                5678,
                &mut out,
            );
            encode_p2s_end(&mut out);
            out.len()
        });
    }

    #[divan::bench]
    fn lookup_response_http(b: Bencher) {
        let mut out = Vec::with_capacity(256);
        b.counter(BytesCount::of_slice(HTTP_LOOKUP_RESPONSE)).bench_local(|| {
            out.clear();
            let body_len = 81;
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\nRFC {} {} {} {}\r\n",
                body_len,
                black_box(3457u32),
                black_box("Requirements for IPsec Remote Access Scenarios"),
                black_box("thishost.example.org"),
                5678
            );
            out.len()
        });
    }

    #[divan::bench]
    fn get_response_p2pci(b: Bencher) {
        let t = UNIX_EPOCH + Duration::from_secs(1_234_451_525);
        let mut out = Vec::with_capacity(256);
        b.counter(BytesCount::of_slice(GET_RESPONSE)).bench_local(|| {
            out.clear();
            GetResponseHead::ok(black_box(t), "Linux 6.1", t, 12345).encode(&mut out);
            out.len()
        });
    }

    #[divan::bench]
    fn get_response_http(b: Bencher) {
        let t = UNIX_EPOCH + Duration::from_secs(1_234_451_525);
        let mut out = Vec::with_capacity(256);
        b.counter(BytesCount::of_slice(HTTP_GET_RESPONSE)).bench_local(|| {
            out.clear();
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nDate: {}\r\nServer: {}\r\nLast-Modified: {}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
                httpdate::fmt_http_date(black_box(t)),
                black_box("Linux 6.1"),
                httpdate::fmt_http_date(t),
                12345
            );
            out.len()
        });
    }
}

/// The two stages of the two-stage parse (`parse_head`, then `from_head`), apart.
mod stages {
    use super::*;

    #[divan::bench]
    fn frame_add(b: Bencher) {
        b.counter(BytesCount::of_slice(ADD))
            .bench(|| parse_head(black_box(ADD), &Limits::default()).unwrap());
    }

    #[divan::bench]
    fn meaning_add(b: Bencher) {
        let (head, _) = parse_head(ADD, &Limits::default()).unwrap().unwrap();
        b.bench(|| p2pci::protocol::P2sRequestRef::from_head(black_box(&head)).unwrap());
    }

    #[divan::bench]
    fn meaning_owned_add(b: Bencher) {
        let (head, _) = parse_head(ADD, &Limits::default()).unwrap().unwrap();
        b.bench(|| P2sRequest::from_head(black_box(&head)).unwrap());
    }
}
