//! `p2pci check`: the suites against our own server and peer (which must
//! pass every case, at --strict too), the command line's output, reports
//! and exit statuses, and docs/check.md listing exactly the cases there are.

use std::time::{Duration, Instant};

use p2pci::check::case::Suite;
use p2pci::check::{Options, check};
use tokio::net::TcpListener;

use crate::common::{ChildServer, Proc, Raw, TestServer, add, rec};

fn options(strict: bool) -> Options {
    Options { cases: vec![], strict, timeout: Duration::from_secs(5), rfc: None }
}

#[tokio::test]
async fn our_server_passes_every_case_at_strict_and_is_left_as_found() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let target = server.addr.to_string();
    let strict = options(true);
    let run = check(Suite::Server, &target, &strict, |_, _| {}, |_| {});
    let report = tokio::time::timeout(Duration::from_secs(30), run).await.expect("within 30 s").unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(report.failed_ids(), Vec::<&str>::new());
    assert_eq!((report.passed(), report.skipped()), (p2pci::check::cases(Suite::Server).len(), 0));
    server.until("every record of the run gone", |c| c.records == 0 && c.peers == 0).await;
}

#[tokio::test]
async fn on_a_server_in_use_the_empty_list_is_skipped_and_the_others_records_untouched() {
    let server = TestServer::start().await;
    let mut other = Raw::connect(server.addr).await;
    other.send(add(8600, "someone-else", 2222, "Their RFC")).await;
    other.response().await;
    let target = server.addr.to_string();
    let report = check(Suite::Server, &target, &options(false), |_, _| {}, |_| {}).await.unwrap();
    assert_eq!(report.failed_ids(), Vec::<&str>::new());
    assert_eq!(report.skipped(), 1);
    server.until("the run's records gone", |c| c.records == 1).await;
    assert_eq!(server.records(), [rec(8600, "Their RFC", "someone-else", 2222)]);
}

#[test]
fn the_command_prints_a_line_per_case_a_summary_and_the_reports() {
    let server = ChildServer::spawn(&[]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("check.xml");
    let run = Proc::spawn([
        "check",
        "server",
        &server.addr.to_string(),
        "--strict",
        "--junit",
        junit.to_str().unwrap(),
    ])
    .finish();
    let n = p2pci::check::cases(Suite::Server).len();
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("✔ ")).count(), n, "{}", run.stdout);
    assert!(run.stdout.contains(&format!("{n} passed, 0 failed, 0 skipped")), "{}", run.stdout);
    // Not a terminal: no colours.
    assert!(!run.stdout.contains('\x1b'));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), n);
    assert!(xml.contains(&format!("tests=\"{n}\" failures=\"0\"")), "{xml}");

    let json = Proc::spawn(["check", "server", &server.addr.to_string(), "p2s.bad", "--json"]).finish();
    assert!(json.status.success(), "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let bad = p2pci::check::cases(Suite::Server).iter().filter(|c| c.id.starts_with("p2s.bad.")).count();
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(bad as u64), Some(0)));
    assert!(v["cases"].as_array().unwrap().iter().all(|c| c["result"] == "passed"));
}

#[tokio::test]
async fn a_failure_shows_the_rule_and_the_bytes_and_exits_1() {
    let addr = crate::check_standins::standin(crate::check_standins::Defect::LfOnly).await;
    let out = tokio::task::spawn_blocking(move || {
        Proc::spawn(["check", "server", &addr.to_string(), "framing.crlf.answer", "p2s.add.echo"]).finish()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out.stdout);
    assert!(out.stdout.contains("✘ framing.crlf.answer"), "{}", out.stdout);
    assert!(out.stdout.contains("✔ p2s.add.echo"), "{}", out.stdout);
    assert!(
        out.stdout.contains("rule (Framing): \"p2pci ends every line it writes with CR LF.\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("received: \"P2P-CI/1.0 200 OK\\n\\nRFC "), "{}", out.stdout);
    assert!(out.stdout.contains("1 passed, 1 failed, 0 skipped"), "{}", out.stdout);
}

#[tokio::test]
async fn a_dead_or_silent_target_is_exit_2_within_the_timeout() {
    // Nobody listens on a port just freed.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    // This one accepts and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    for (addr, says) in [
        (dead, "cannot reach"),
        (silent_addr, "answered nothing to a LOOKUP: is it a P2P-CI index server? (waited 1 s)"),
    ] {
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            Proc::spawn(["check", "server", &addr.to_string(), "--timeout", "1"]).finish()
        })
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
}

#[test]
fn usage_errors_are_exit_2_and_list_needs_no_target() {
    let out = Proc::spawn(["check", "server", "127.0.0.1:9", "no.such.case"]).finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("no case matches \"no.such.case\""), "{}", out.stderr);
    let out = Proc::spawn(["check", "server"]).finish();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let out = Proc::spawn(["check", "server", "--list", "limits"]).finish();
    assert!(out.status.success(), "{}", out.stderr);
    let ids: Vec<&str> = out.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let want: Vec<&str> = p2pci::check::cases(Suite::Server)
        .iter()
        .map(|c| c.id)
        .filter(|id| id.starts_with("limits."))
        .collect();
    assert_eq!(ids, want);
}

/// Every case id named in docs/check.md's tables (a cell that is one
/// backquoted id), in order.
fn documented_ids(doc: &str) -> Vec<String> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(id, _)| id.to_owned())
        .collect()
}

#[test]
fn docs_check_md_lists_exactly_the_registered_cases() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/check.md")).unwrap();
    let documented = documented_ids(&doc);
    let registered: Vec<String> = [Suite::Server, Suite::Upload, Suite::Client]
        .iter()
        .flat_map(|s| p2pci::check::cases(*s))
        .map(|c| c.id.to_owned())
        .collect();
    assert_eq!(documented, registered, "docs/check.md's tables against the registry, in order");
}
