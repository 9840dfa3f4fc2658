//! Metrics and logs of the real binary, as an operator sees them: known
//! traffic in, `/metrics` scraped over HTTP and read with a Prometheus text
//! parser, every counter checked exactly; the exposition, the sample alert
//! rules and scrape config of docs/operating.md checked by `promtool`; log
//! files free of terminal colours, and JSON logs one object per line.
//!
//! `promtool` (Debian's `prometheus` package, installed by scripts/test.sh)
//! is required ([`crate::common::need`]).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ChildServer, Proc, WAIT, shipped};
use p2pci::protocol::response::P2sResponseDecoder;

/// The rest of the first stderr line of `p` that starts with `prefix`.
fn err_line(p: &mut Proc, prefix: &str) -> String {
    let line = p.wait_err(prefix, |l| l.starts_with(prefix));
    line[prefix.len()..].trim().to_owned()
}

/// The address in `http://ADDR/metrics`.
fn metrics_addr(url: &str) -> SocketAddr {
    url.strip_prefix("http://").and_then(|u| u.strip_suffix("/metrics")).unwrap().parse().unwrap()
}

/// One HTTP GET, bounded; returns the status line and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect to /metrics");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).expect("read the scrape");
    let (head, body) = all.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.lines().next().unwrap_or_default().to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.trim().parse().ok())
        .expect("Content-Length");
    assert_eq!(body.len(), len, "body as long as announced");
    (status, body.to_owned())
}

/// Every series of one scrape: `name{label="v",…}` → value (a histogram's
/// total count under its base name).
#[derive(Debug)]
struct Scrape {
    text: String,
    series: BTreeMap<String, f64>,
}

impl Scrape {
    fn take(addr: SocketAddr) -> Scrape {
        let (status, text) = http_get(addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let mut series = BTreeMap::new();
        for s in parsed.samples {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().find(|b| b.less_than.is_infinite()).expect("a +Inf bucket").count
                }
                prometheus_parse::Value::Summary(_) => panic!("{} is a summary, not a histogram", s.metric),
            };
            let mut labels: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            labels.sort();
            let key = if labels.is_empty() {
                s.metric.clone()
            } else {
                format!("{}{{{}}}", s.metric, labels.join(","))
            };
            series.insert(key, value);
        }
        Scrape { text, series }
    }

    /// The value of one series, which must be there.
    fn get(&self, key: &str) -> f64 {
        match self.series.get(key) {
            Some(v) => *v,
            None => panic!(
                "no series {key}; have:\n{}",
                self.series.keys().cloned().collect::<Vec<_>>().join("\n")
            ),
        }
    }

    /// Checks several series at once, reporting every mismatch.
    fn expect(&self, want: &[(&str, f64)]) {
        let wrong: Vec<String> = want
            .iter()
            .filter(|(k, v)| self.get(k) != *v)
            .map(|(k, v)| format!("{k} = {}, expected {v}", self.get(k)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// Metric names (without labels or histogram suffixes).
    fn names(&self) -> Vec<String> {
        let all: std::collections::BTreeSet<&str> =
            self.series.keys().map(|k| k.split('{').next().unwrap()).collect();
        let base = |n: &str| {
            let trimmed = n.strip_suffix("_sum").or_else(|| n.strip_suffix("_count"));
            trimmed.filter(|b| all.contains(b)).unwrap_or(n).to_owned()
        };
        let mut names: Vec<String> = all.iter().map(|n| base(n)).collect();
        names.dedup();
        names
    }
}

/// Scrapes until `ready` holds (state that changes a moment after the
/// traffic: a closed connection noticed), then returns that scrape.
fn scrape_until(addr: SocketAddr, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = Scrape::take(addr);
        if ready(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last scrape:\n{}", s.text);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `promtool ARGS` with `input` on stdin (or none). `None` when promtool
/// is missing and may be skipped ([`crate::common::need`]).
fn promtool(args: &[&str], input: Option<&str>) -> Option<std::process::Output> {
    if !crate::common::need("promtool", &["--version"]) {
        return None;
    }
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run promtool: {e}"));
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "promtool did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

/// The exposition passes `promtool check metrics` (format and naming lint).
fn promtool_check_metrics(text: &str) {
    if let Some(out) = promtool(&["check", "metrics"], Some(text)) {
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One P2S request on a blocking socket; returns the raw answer, framed by
/// the crate's own response decoder.
fn exchange(s: &mut TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).unwrap();
    let mut decoder = P2sResponseDecoder::default();
    let (mut buf, mut raw) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    loop {
        let (used, done) = decoder.decode(&buf).expect("a well-formed answer");
        raw.extend(buf.drain(..used));
        if done.is_some() {
            assert!(buf.is_empty(), "more than one answer");
            return String::from_utf8(raw).unwrap();
        }
        let n = s.read(&mut chunk).expect("an answer in time");
        assert!(n > 0, "closed before the answer ended: {:?}", String::from_utf8_lossy(&raw));
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads until the server closes; returns what came.
fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    all
}

#[test]
fn server_counts_known_traffic_exactly() {
    let server = ChildServer::spawn(&[
        "--metrics",
        "127.0.0.1:0",
        "--max-connections",
        "3",
        "--request-timeout",
        "0.3",
        "--max-line",
        "200",
    ]);
    let (m, addr) = (server.metrics(), server.addr);

    // Before any traffic, every server series is there, at zero.
    let zero = Scrape::take(m);
    zero.expect(&[
        ("p2pci_server_requests_total{method=\"ADD\",status=\"200\"}", 0.0),
        ("p2pci_server_connections_open", 0.0),
        ("p2pci_server_request_duration_seconds{method=\"LIST\"}", 0.0),
    ]);
    promtool_check_metrics(&zero.text);

    let (mut sent, mut received) = (0usize, 0usize);
    // Three connections fill the cap; a fourth is closed on arrival.
    let mut a = connect(addr);
    let b = connect(addr);
    let c = connect(addr);
    let mut d = connect(addr);
    assert!(until_closed(&mut d).is_empty(), "the connection over the cap gets no answer");
    scrape_until(m, "three open connections", |s| s.get("p2pci_server_connections_open") == 3.0);
    drop(b);
    drop(c);
    scrape_until(m, "two connections closed by their peers", |s| {
        s.get("p2pci_server_connections_open") == 1.0
    });

    let add = |rfc: u32, host: &str, title: &str| {
        format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: {host}\r\nPort: 5000\r\nTitle: {title}\r\n\r\n")
    };
    let lookup = |rfc: u32| format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: hostA\r\nPort: 5000\r\n\r\n");
    let traffic = [
        (add(8600, "hostA", "One"), "P2P-CI/1.0 200 OK\r\n"),
        (add(8601, "hostA", "Two"), "P2P-CI/1.0 200 OK\r\n"),
        (add(8600, "hostA", "One"), "P2P-CI/1.0 200 OK\r\n"),
        // Another identity on the same connection.
        (add(8602, "hostB", "Three"), "P2P-CI/1.0 400 Bad Request\r\n"),
        (lookup(8600), "P2P-CI/1.0 200 OK\r\n"),
        (lookup(9999), "P2P-CI/1.0 404 Not Found\r\n"),
        ("LIST ALL P2P-CI/1.0\r\nHost: hostA\r\nPort: 5000\r\n\r\n".into(), "P2P-CI/1.0 200 OK\r\n"),
        (
            "LOOKUP RFC 1 P2P-CI/2.0\r\nHost: hostA\r\nPort: 5000\r\n\r\n".into(),
            "P2P-CI/1.0 505 P2P-CI Version Not Supported\r\n",
        ),
        ("HELLO\r\n\r\n".into(), "P2P-CI/1.0 400 Bad Request\r\n"),
    ];
    for (request, status) in &traffic {
        let answer = exchange(&mut a, request);
        assert!(answer.starts_with(status), "{request:?} answered {answer:?}");
        sent += request.len();
        received += answer.len();
    }

    // A request line over --max-line: 400, and the connection is closed.
    let mut big = connect(addr);
    let line = format!("ADD RFC 1 P2P-CI/1.0 {}", "x".repeat(300));
    big.write_all(line.as_bytes()).unwrap();
    sent += line.len();
    let answer = until_closed(&mut big);
    assert_eq!(answer, b"P2P-CI/1.0 400 Bad Request\r\n\r\n\r\n");
    received += answer.len();
    // The server drains what a refused peer still sends until it closes.
    drop(big);

    // A request begun and never finished: closed at the request deadline.
    let mut slow = connect(addr);
    let part = "LIST ALL P2P-CI/1.0\r\n";
    slow.write_all(part.as_bytes()).unwrap();
    sent += part.len();
    assert!(until_closed(&mut slow).is_empty());

    let s = scrape_until(m, "the limit and deadline closes", |s| {
        s.get("p2pci_server_connections_closed_total{reason=\"request_timeout\"}") == 1.0
            && s.get("p2pci_server_connections_closed_total{reason=\"limits\"}") == 1.0
            && s.get("p2pci_server_connections_open") == 1.0
    });
    s.expect(&[
        ("p2pci_server_requests_total{method=\"ADD\",status=\"200\"}", 3.0),
        // The identity clash and the over-long line.
        ("p2pci_server_requests_total{method=\"ADD\",status=\"400\"}", 2.0),
        ("p2pci_server_requests_total{method=\"LOOKUP\",status=\"200\"}", 1.0),
        ("p2pci_server_requests_total{method=\"LOOKUP\",status=\"404\"}", 1.0),
        ("p2pci_server_requests_total{method=\"LOOKUP\",status=\"505\"}", 1.0),
        ("p2pci_server_requests_total{method=\"LIST\",status=\"200\"}", 1.0),
        ("p2pci_server_requests_total{method=\"other\",status=\"400\"}", 1.0),
        ("p2pci_server_requests_total{method=\"LIST\",status=\"400\"}", 0.0),
        ("p2pci_server_request_duration_seconds{method=\"ADD\"}", 5.0),
        ("p2pci_server_request_duration_seconds{method=\"LOOKUP\"}", 3.0),
        ("p2pci_server_request_duration_seconds{method=\"LIST\"}", 1.0),
        ("p2pci_server_request_duration_seconds{method=\"other\"}", 1.0),
        ("p2pci_server_received_bytes_total", sent as f64),
        ("p2pci_server_sent_bytes_total", received as f64),
        ("p2pci_server_connections_total", 5.0),
        ("p2pci_server_connections_refused_total", 1.0),
        ("p2pci_server_connections_open", 1.0),
        ("p2pci_server_connections_closed_total{reason=\"peer\"}", 2.0),
        ("p2pci_server_connections_closed_total{reason=\"write_timeout\"}", 0.0),
        ("p2pci_server_connections_closed_total{reason=\"error\"}", 0.0),
        ("p2pci_server_connections_closed_total{reason=\"shutdown\"}", 0.0),
        ("p2pci_server_peers", 1.0),
        ("p2pci_server_records", 2.0),
        ("p2pci_server_transcript_pending_bytes", 0.0),
        ("p2pci_server_transcript_lag_seconds", 0.0),
        ("p2pci_server_transcript_waits_total", 0.0),
    ]);
    promtool_check_metrics(&s.text);
    documented(&s);

    // The peer leaves: its records go with it.
    drop(a);
    let s = scrape_until(m, "the peer's records removed", |s| s.get("p2pci_server_records") == 0.0);
    s.expect(&[
        ("p2pci_server_peers", 0.0),
        ("p2pci_server_connections_open", 0.0),
        ("p2pci_server_connections_closed_total{reason=\"peer\"}", 3.0),
    ]);

    // Only /metrics is served.
    assert!(http_get(m, "/").0.starts_with("HTTP/1.1 404"));
}

/// A peer that asks and never reads is closed at the write timeout, and
/// counted so.
#[test]
fn a_reader_that_stops_is_counted_as_a_write_timeout() {
    let server = ChildServer::spawn(&["--metrics", "127.0.0.1:0", "--write-timeout", "0.3"]);
    let (m, addr) = (server.metrics(), server.addr);
    // Enough records that LIST answers fill the socket buffers.
    const RECORDS: usize = 2000;
    let mut filler = connect(addr);
    let batch: String = (1..=RECORDS)
        .map(|n| {
            format!(
                "ADD RFC {n} P2P-CI/1.0\r\nHost: filler\r\nPort: 1\r\nTitle: A title long enough to make a LIST heavy\r\n\r\n"
            )
        })
        .collect();
    let mut writer = filler.try_clone().unwrap();
    let sending = std::thread::spawn(move || writer.write_all(batch.as_bytes()).unwrap());
    let mut decoder = P2sResponseDecoder::default();
    let (mut buf, mut answered) = (Vec::new(), 0);
    let mut chunk = [0u8; 64 * 1024];
    while answered < RECORDS {
        let (used, done) = decoder.decode(&buf).expect("a well-formed answer");
        buf.drain(..used);
        if done.is_some() {
            answered += 1;
            continue;
        }
        let n = filler.read(&mut chunk).expect("answers in time");
        assert!(n > 0, "closed after {answered} answers");
        buf.extend_from_slice(&chunk[..n]);
    }
    sending.join().unwrap();

    let mut stuck = connect(addr);
    let ad = "ADD RFC 1 P2P-CI/1.0\r\nHost: stuck\r\nPort: 2\r\nTitle: T\r\n\r\n";
    assert!(exchange(&mut stuck, ad).starts_with("P2P-CI/1.0 200 OK"));
    let lists = "LIST ALL P2P-CI/1.0\r\nHost: stuck\r\nPort: 2\r\n\r\n".repeat(200);
    // The server stops reading while it cannot write, so this write may
    // block too: bounded, and its outcome does not matter.
    stuck.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = stuck.write_all(lists.as_bytes());
    let s = scrape_until(m, "the stuck reader closed", |s| {
        s.get("p2pci_server_connections_closed_total{reason=\"write_timeout\"}") == 1.0
            && s.get("p2pci_server_peers") == 1.0
            && s.get("p2pci_server_connections_open") == 1.0
    });
    s.expect(&[
        ("p2pci_server_records", RECORDS as f64),
        ("p2pci_server_requests_total{method=\"ADD\",status=\"200\"}", RECORDS as f64 + 1.0),
        ("p2pci_server_connections_closed_total{reason=\"peer\"}", 0.0),
    ]);
    drop(stuck);
}

#[test]
fn peers_count_uploads_downloads_and_reconnects() {
    let tmp = tempfile::tempdir().unwrap();
    let server = ChildServer::spawn(&[]);
    let port = server.addr.port().to_string();
    let index = server.addr.to_string();
    let rfcs = crate::common::rfc_dir();
    let peer = |host: &str, extra: &[&str]| {
        let dir = tmp.path().join(host);
        let mut args = vec!["peer", "--headless", "--host", host, "--bind", "127.0.0.1", "--server", &index];
        args.extend(["--metrics", "127.0.0.1:0", "--rfc-dir", rfcs.to_str().unwrap()]);
        args.extend(["--dir", dir.to_str().unwrap()]);
        args.extend(extra);
        let mut p = Proc::spawn(&args);
        let m = metrics_addr(&err_line(&mut p, "p2pci peer metrics on "));
        (p, m)
    };
    let (mut a, am) = peer("hostA", &["--rfcs", "8600", "--advertise"]);
    a.wait_out("RFC 8600 advertised", |l| l.starts_with("OK advertised 1 RFC(s)"));
    let (mut b, bm) = peer("hostB", &[]);
    b.wait_out("connected", |l| l.starts_with("* connected to index server"));
    Scrape::take(bm).expect(&[
        ("p2pci_peer_index_up", 1.0),
        ("p2pci_peer_index_reconnects_total", 0.0),
        ("p2pci_peer_downloads_total{outcome=\"done\"}", 0.0),
    ]);

    // A download that works, checked byte for byte.
    b.say("get 8600");
    b.wait_out("download done", |l| l.starts_with("OK downloaded RFC 8600"));
    assert_eq!(std::fs::read(tmp.path().join("hostB/rfc8600.txt")).unwrap(), shipped(8600));
    // One nobody holds.
    b.say("get 8700");
    b.wait_out("no holder", |l| l.starts_with("ERR download RFC 8700"));
    // One whose only holder is gone: a registration naming a closed port.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut fake = connect(server.addr);
    let ad =
        format!("ADD RFC 8701 P2P-CI/1.0\r\nHost: 127.0.0.1\r\nPort: {closed_port}\r\nTitle: Gone\r\n\r\n");
    assert!(exchange(&mut fake, &ad).starts_with("P2P-CI/1.0 200 OK"));
    b.say("get 8701");
    b.wait_out("failed download", |l| l.starts_with("ERR download RFC 8701"));
    // A GET for an RFC the uploader does not have.
    let lookup = "LOOKUP RFC 8600 P2P-CI/1.0\r\nHost: x\r\nPort: 1\r\n\r\n";
    let holders = exchange(&mut fake, lookup);
    let upload_port: u16 = holders
        .lines()
        .find(|l| l.contains(" hostA "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("hostA's upload port");
    let mut get = connect(SocketAddr::from(([127, 0, 0, 1], upload_port)));
    get.write_all(b"GET RFC 9999 P2P-CI/1.0\r\nHost: x\r\nOS: y\r\n\r\n").unwrap();
    assert!(String::from_utf8(until_closed(&mut get)).unwrap().starts_with("P2P-CI/1.0 404 Not Found\r\n"));
    drop(fake);

    let size = shipped(8600).len() as f64;
    let s =
        scrape_until(am, "the uploads counted", |s| s.get("p2pci_peer_uploads_total{status=\"404\"}") == 1.0);
    s.expect(&[
        ("p2pci_peer_uploads_total{status=\"200\"}", 1.0),
        ("p2pci_peer_uploads_total{status=\"400\"}", 0.0),
        ("p2pci_peer_uploaded_bytes_total", size),
        ("p2pci_peer_uploads_refused_total", 0.0),
        ("p2pci_peer_downloads_total{outcome=\"done\"}", 0.0),
    ]);
    promtool_check_metrics(&s.text);
    documented(&s);
    let s = Scrape::take(bm);
    s.expect(&[
        ("p2pci_peer_downloads_total{outcome=\"done\"}", 1.0),
        ("p2pci_peer_downloads_total{outcome=\"failed\"}", 1.0),
        ("p2pci_peer_downloads_total{outcome=\"no_holder\"}", 1.0),
        ("p2pci_peer_download_duration_seconds{outcome=\"done\"}", 1.0),
        ("p2pci_peer_download_duration_seconds{outcome=\"failed\"}", 1.0),
        ("p2pci_peer_downloaded_bytes_total", size),
        ("p2pci_peer_download_holder_failures_total", 1.0),
        ("p2pci_peer_uploads_total{status=\"200\"}", 0.0),
    ]);
    promtool_check_metrics(&s.text);

    // The index server restarts: the peer notices, and reconnects once.
    drop(server);
    scrape_until(bm, "the index connection down", |s| s.get("p2pci_peer_index_up") == 0.0);
    let _again = ChildServer::respawn(port.parse().unwrap(), &[]);
    let s = scrape_until(bm, "a reconnect", |s| s.get("p2pci_peer_index_up") == 1.0);
    s.expect(&[("p2pci_peer_index_reconnects_total", 1.0)]);
}

/// Every metric a scrape shows is described in docs/operating.md.
fn documented(s: &Scrape) {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operating.md")).unwrap();
    let missing: Vec<String> = s.names().into_iter().filter(|n| !doc.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "not in docs/operating.md: {missing:?}");
}

/// The fenced ```yaml blocks of docs/operating.md whose first line is `first`.
fn yaml_blocks(first: &str) -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operating.md")).unwrap();
    doc.split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split_once("\n```").map(|(block, _)| block.to_owned()))
        .filter(|b| b.lines().next() == Some(first))
        .collect()
}

#[test]
fn the_documented_alert_rules_and_scrape_config_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let rules = yaml_blocks("groups:");
    assert_eq!(rules.len(), 1, "one rules file in docs/operating.md");
    let rules_path = dir.path().join("p2pci-rules.yml");
    std::fs::write(&rules_path, &rules[0]).unwrap();
    for name in ["P2pciNoPeers", "P2pciBadRequests", "P2pciStoreDown"] {
        assert!(rules[0].contains(&format!("alert: {name}")), "no {name} rule");
    }
    if let Some(out) = promtool(&["check", "rules", rules_path.to_str().unwrap()], None) {
        assert!(out.status.success(), "promtool check rules: {}", String::from_utf8_lossy(&out.stdout));
    }
    // The alerts fire when they should, on made-up series.
    let desc = "Peers register with their first ADD. None for this long usually means peers cannot reach the server (network, DNS, firewall) or keep being refused.";
    let unit = format!(
        r#"rule_files: [p2pci-rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'p2pci_server_peers{{instance="i", job="p2pci-server"}}'
        values: '3 3 0x30'
      - series: 'p2pci_store_up{{instance="i", job="p2pci-server"}}'
        values: '1x5 0x10 1x10'
    alert_rule_test:
      - eval_time: 10m
        alertname: P2pciNoPeers
        exp_alerts: []
      - eval_time: 20m
        alertname: P2pciNoPeers
        exp_alerts:
          - exp_labels: {{severity: warn, instance: i, job: p2pci-server}}
            exp_annotations:
              summary: "no peer registered on i for 15 minutes"
              description: "{desc}"
      - eval_time: 6m
        alertname: P2pciStoreDown
        exp_alerts: []
      - eval_time: 8m
        alertname: P2pciStoreDown
        exp_alerts:
          - exp_labels: {{severity: page, instance: i, job: p2pci-server}}
            exp_annotations:
              summary: "i cannot reach its Redis store"
      - eval_time: 20m
        alertname: P2pciStoreDown
        exp_alerts: []
"#
    );
    let unit_path = dir.path().join("p2pci-rules.test.yml");
    std::fs::write(&unit_path, unit).unwrap();
    if let Some(out) = promtool(&["test", "rules", unit_path.to_str().unwrap()], None) {
        assert!(
            out.status.success(),
            "promtool test rules: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let configs = yaml_blocks("scrape_configs:");
    assert_eq!(configs.len(), 1, "one scrape config in docs/operating.md");
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, &configs[0]).unwrap();
    if let Some(out) = promtool(&["check", "config", "--syntax-only", config_path.to_str().unwrap()], None) {
        assert!(
            out.status.success(),
            "promtool check config: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Starts a server whose stderr is not a terminal (a pipe, as a file is for
/// `p2pci server 2>server.log`), with the default log level; returns it and
/// its address and its stderr lines so far, once it is listening.
fn server_not_on_a_terminal(extra: &[&str]) -> (Proc, SocketAddr, Vec<String>) {
    let mut server = Proc::spawn_with(ChildServer::args(extra), |cmd| {
        cmd.env_remove("RUST_LOG").env_remove("NO_COLOR");
    });
    let seen = err_until(&mut server, "listening on ");
    let line = seen.last().unwrap();
    let at = line.find("listening on ").unwrap() + "listening on ".len();
    let addr = line[at..].split(|c: char| c.is_whitespace() || c == '"').next().unwrap().parse().unwrap();
    (server, addr, seen)
}

/// Every stderr line of `p` up to and including the first that contains
/// `needle`.
fn err_until(p: &mut Proc, needle: &str) -> Vec<String> {
    let seen = std::cell::RefCell::new(Vec::new());
    p.wait_err(needle, |l| {
        seen.borrow_mut().push(l.to_owned());
        l.contains(needle)
    });
    seen.into_inner()
}

/// A peer that adds one record and leaves: an info line ("peer left").
fn visit(addr: SocketAddr) {
    let mut s = connect(addr);
    let answer = exchange(&mut s, "ADD RFC 1 P2P-CI/1.0\r\nHost: h\r\nPort: 1\r\nTitle: t\r\n\r\n");
    assert!(answer.starts_with("P2P-CI/1.0 200 OK"));
}

#[test]
fn a_server_log_off_a_terminal_has_no_terminal_colours() {
    let (mut server, addr, _) = server_not_on_a_terminal(&[]);
    visit(addr);
    let lines = err_until(&mut server, "peer left");
    let text = lines.join("\n");
    assert!(!text.contains('\x1b'), "escape sequences in a log off a terminal:\n{text:?}");
    assert!(lines.iter().any(|l| l.contains("INFO") && l.contains("peer left") && l.contains("removed=1")));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (mut server, addr, mut lines) =
        server_not_on_a_terminal(&["--log-format", "json", "--metrics", "127.0.0.1:0"]);
    visit(addr);
    lines.extend(err_until(&mut server, "peer left"));
    // A clean stop logs its own line too.
    server.signal("TERM");
    let done = server.finish();
    lines.extend(done.stderr.lines().map(str::to_owned));
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    for e in &events {
        assert!(
            e.is_object() && e["level"].is_string() && e["message"].is_string() && e["timestamp"].is_string(),
            "{e}"
        );
    }
    let messages: Vec<&str> = events.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(messages.iter().any(|m| m.starts_with("p2pci server metrics on http://")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("p2pci server listening on ")), "{messages:?}");
    assert!(messages.contains(&"p2pci server shutting down"), "{messages:?}");
    let left = events.iter().find(|e| e["message"] == "peer left").expect("a peer left event");
    assert_eq!(left["level"], "INFO");
    assert_eq!(left["removed"], 1);
    assert!(left["addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "{left}");

    // A peer's log file too.
    let dir = tempfile::tempdir().unwrap();
    let peer_log = dir.path().join("peer.log");
    let peer_dir = dir.path().join("peer");
    let (peer_dir, peer_log_arg) = (peer_dir.to_str().unwrap(), peer_log.to_str().unwrap());
    let args = ["peer", "--headless", "--host", "p", "--bind", "127.0.0.1", "--server", "127.0.0.1:1"];
    let more = ["--dir", peer_dir, "--log-format", "json", "--log-file", peer_log_arg];
    let _peer = Proc::spawn_with(args.iter().chain(&more), |cmd| {
        cmd.env_remove("RUST_LOG");
    });
    let text = wait_for_log(&peer_log, "peer started");
    for line in text.lines() {
        let e: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert!(e.is_object(), "{e}");
    }
}

/// The log's text once it contains `needle`.
fn wait_for_log(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_metrics_address_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let done = Proc::spawn(ChildServer::args(&["--metrics", &at])).finish();
    let err = done.stderr;
    assert!(!done.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("p2pci: cannot listen for metrics on {at}: ")), "{err}");
    assert_eq!(err.matches("in use").count(), 1, "{err}");
}

/// Many peers at once, each pipelining its requests: every request and byte
/// counted, whatever the interleaving.
#[test]
fn pipelined_load_from_many_peers_is_counted_exactly() {
    const PEERS: usize = 16;
    const ADDS: usize = 200;
    const LOOKUPS: usize = 800;
    let server = ChildServer::spawn(&["--metrics", "127.0.0.1:0"]);
    let (m, addr) = (server.metrics(), server.addr);
    let peers: Vec<_> = (0..PEERS)
        .map(|p| {
            std::thread::spawn(move || {
                let host = format!("host{p}");
                let mut batch = String::new();
                for rfc in 1..=ADDS {
                    batch += &format!(
                        "ADD RFC {rfc} P2P-CI/1.0\r\nHost: {host}\r\nPort: 1\r\nTitle: T {rfc}\r\n\r\n"
                    );
                }
                // The first ADDS are this peer's own (so found), the rest found nowhere.
                for rfc in 1..=LOOKUPS {
                    batch += &format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: {host}\r\nPort: 1\r\n\r\n");
                }
                let mut s = connect(addr);
                let mut writer = s.try_clone().unwrap();
                let sent = batch.len();
                let sending = std::thread::spawn(move || writer.write_all(batch.as_bytes()).unwrap());
                let mut decoder = P2sResponseDecoder::default();
                let (mut buf, mut received, mut statuses) = (Vec::new(), 0, BTreeMap::new());
                let mut chunk = [0u8; 64 * 1024];
                while statuses.values().sum::<usize>() < ADDS + LOOKUPS {
                    let (used, done) = decoder.decode(&buf).expect("a well-formed answer");
                    buf.drain(..used);
                    received += used;
                    if let Some(r) = done {
                        *statuses.entry(r.status.code()).or_insert(0) += 1;
                        continue;
                    }
                    let n = s.read(&mut chunk).expect("answers in time");
                    assert!(n > 0, "closed early");
                    buf.extend_from_slice(&chunk[..n]);
                }
                sending.join().unwrap();
                (sent, received, statuses, s)
            })
        })
        .collect();
    let results: Vec<_> = peers.into_iter().map(|t| t.join().unwrap()).collect();
    for (_, _, statuses, _) in &results {
        assert_eq!(statuses.get(&200), Some(&(2 * ADDS)));
        assert_eq!(statuses.get(&404), Some(&(LOOKUPS - ADDS)));
    }
    let sent: usize = results.iter().map(|r| r.0).sum();
    let received: usize = results.iter().map(|r| r.1).sum();
    let n = PEERS as f64;
    // A peer can read its last answer a moment before the server, back from
    // the write, counts it.
    let s = scrape_until(m, "the last answers counted", |s| {
        s.get("p2pci_server_sent_bytes_total") == received as f64
            && s.get("p2pci_server_request_duration_seconds{method=\"LOOKUP\"}") == n * LOOKUPS as f64
    });
    s.expect(&[
        ("p2pci_server_requests_total{method=\"ADD\",status=\"200\"}", n * ADDS as f64),
        ("p2pci_server_requests_total{method=\"LOOKUP\",status=\"200\"}", n * ADDS as f64),
        ("p2pci_server_requests_total{method=\"LOOKUP\",status=\"404\"}", n * (LOOKUPS - ADDS) as f64),
        ("p2pci_server_request_duration_seconds{method=\"ADD\"}", n * ADDS as f64),
        ("p2pci_server_request_duration_seconds{method=\"LOOKUP\"}", n * LOOKUPS as f64),
        ("p2pci_server_received_bytes_total", sent as f64),
        ("p2pci_server_sent_bytes_total", received as f64),
        ("p2pci_server_connections_total", n),
        ("p2pci_server_connections_open", n),
        ("p2pci_server_peers", n),
        ("p2pci_server_records", n * ADDS as f64),
    ]);
    promtool_check_metrics(&s.text);
}

/// `/healthz` answers while the process runs; `/readyz` only while the
/// server serves: with a Redis store, while Redis answers.
#[tokio::test]
async fn health_and_readiness_follow_the_shared_store() {
    let Some(mut redis) = crate::common::redis_server::RedisServer::start() else { return };
    let url = redis.url();
    let server = ChildServer::spawn(&["--metrics", "127.0.0.1:0", "--store", &url, "--lease", "1"]);
    let m = server.metrics();
    let get = move |path: &'static str| async move {
        tokio::task::spawn_blocking(move || http_get(m, path)).await.unwrap()
    };
    let ready = || async move { get("/readyz").await == ("HTTP/1.1 200 OK".into(), "ready\n".into()) };
    crate::common::eventually("ready once the index is loaded", ready).await;
    assert_eq!(get("/healthz").await, ("HTTP/1.1 200 OK".into(), "ok\n".into()));

    redis.kill();
    crate::common::eventually("not ready while redis is gone", || async move {
        get("/readyz").await
            == (
                "HTTP/1.1 503 Service Unavailable".into(),
                "not ready: the shared store (redis) does not answer\n".into(),
            )
    })
    .await;
    assert_eq!(get("/healthz").await, ("HTTP/1.1 200 OK".into(), "ok\n".into()), "alive all along");

    redis.restart_empty();
    crate::common::eventually("ready again once redis is back", ready).await;
}

/// The in-memory server is ready as soon as it listens.
#[test]
fn an_in_memory_server_is_ready_at_once() {
    let server = ChildServer::spawn(&["--metrics", "127.0.0.1:0"]);
    let m = server.metrics();
    // Ready within moments of listening (nothing to load).
    let deadline = Instant::now() + Duration::from_secs(2);
    while http_get(m, "/readyz") != ("HTTP/1.1 200 OK".into(), "ready\n".into()) {
        assert!(Instant::now() < deadline, "not ready 2 s after listening");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(http_get(m, "/healthz"), ("HTTP/1.1 200 OK".into(), "ok\n".into()));
    assert_eq!(http_get(m, "/nothing").0, "HTTP/1.1 404 Not Found");
}
