//! The real binary, as a user runs it: server and headless peers as separate
//! processes, talking over loopback.

mod common;

use common::lines;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_p2pci");
const WAIT: Duration = Duration::from_secs(15);

fn rfc_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/RFCs").to_string()
}

/// A child process whose output lines are collected; killed on drop.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        Proc { stdin: child.stdin.take(), child, out, err, seen: Vec::new() }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a stdout line satisfying `pred`.
    fn wait_out(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what} on stdout; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn wait_err(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no {what} on stderr"),
            }
        }
    }

    fn signal(&self, sig: &str) {
        Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(quiet: bool) -> (Proc, SocketAddr) {
    let mut args = vec!["server", "--bind", "127.0.0.1", "--port", "0"];
    if quiet {
        args.push("--quiet");
    }
    let mut p = Proc::spawn(&args);
    let line = p.wait_err("listening line", |l| l.starts_with("p2pci server listening on "));
    let addr = line.rsplit(' ').next().unwrap().parse().unwrap();
    (p, addr)
}

fn peer(server: SocketAddr, host: &str, dir: &std::path::Path, rfcs: &[&str], extra: &[&str]) -> Proc {
    let server = server.to_string();
    let dir = dir.join(host);
    let rfc_dir = rfc_dir();
    let mut args = vec![
        "peer",
        "--headless",
        "--bind",
        "127.0.0.1",
        "--host",
        host,
        "--server",
        &server,
        "--rfc-dir",
        &rfc_dir,
        "--dir",
    ];
    let dir = dir.to_string_lossy().into_owned();
    args.push(&dir);
    if !rfcs.is_empty() {
        args.push("--rfcs");
        args.extend(rfcs);
    }
    args.extend(extra);
    Proc::spawn(&args)
}

/// One LIST over a raw connection, as record lines.
fn list(server: SocketAddr) -> Vec<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"LIST ALL P2P-CI/1.0\r\nHost: probe\r\nPort: 9\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !complete(&got) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    text.split("\r\n").filter(|l| l.starts_with("RFC ")).map(str::to_owned).collect()
}

/// A whole 200 answer: status, blank, records, blank.
fn complete(b: &[u8]) -> bool {
    let head = b"P2P-CI/1.0 200 OK\r\n\r\n";
    b.starts_with(head)
        && (b.len() == head.len() + 2 || b.len() > head.len() + 2 && b.ends_with(b"\r\n\r\n"))
        && b.ends_with(b"\r\n")
}

#[test]
fn help_and_version_read_well() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(text.contains("server") && text.contains("peer") && text.contains("Examples"), "{text}");
    let out = Command::new(BIN).args(["peer", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--port", "--host", "--rfcs", "--server", "--dir", "--rfc-dir", "--headless"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("p2pci {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_missing_starting_rfc_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["peer", "--headless", "--host", "x", "--rfcs", "1234", "--rfc-dir"])
        .arg(tmp.path())
        .arg("--dir")
        .arg(tmp.path().join("x"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("RFC 1234") && err.contains(&tmp.path().join("rfc1234.txt").display().to_string()),
        "{err}"
    );
}

#[test]
fn three_processes_download_and_a_killed_peer_vanishes() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut srv, addr) = server(false);
    let mut a = peer(addr, "hostA", tmp.path(), &["8600", "8601"], &["--advertise"]);
    a.wait_out("advertised", |l| l == "OK advertised 2 RFC(s)");
    let mut b = peer(addr, "hostB", tmp.path(), &["8700"], &[]);
    b.wait_out("connected", |l| l.starts_with("* connected"));
    b.say("advertise");
    b.wait_out("advertised", |l| l == "OK advertised 1 RFC(s)");
    b.say("lookup 8601");
    b.wait_out("lookup", |l| l == "OK lookup RFC 8601: 1 holder(s)");
    b.say("get 8601");
    b.wait_out("GET sent", |l| l == "GET RFC 8601 P2P-CI/1.0");
    let done = b.wait_out("downloaded", |l| l.starts_with("OK downloaded RFC 8601") || l.starts_with("ERR"));
    assert!(done.starts_with("OK downloaded RFC 8601 from hostA:"), "{done}");
    let got = std::fs::read(tmp.path().join("hostB/rfc8601.txt")).unwrap();
    assert!(got == std::fs::read(format!("{}/rfc8601.txt", rfc_dir())).unwrap());
    b.wait_out("re-advertised", |l| l == "OK advertised 1 RFC(s)");
    // End of input does not make a peer leave.
    drop(a.stdin.take());
    assert_eq!(list(addr).len(), 4);
    // The server printed what it received and sent, raw.
    srv.wait_out("printed ADD", |l| l == "ADD RFC 8600 P2P-CI/1.0");
    srv.wait_out("printed answer", |l| l == "P2P-CI/1.0 200 OK");

    // Killed without a goodbye: its records vanish.
    a.signal("-KILL");
    let deadline = Instant::now() + WAIT;
    while list(addr).iter().any(|r| r.contains(" hostA ")) {
        assert!(Instant::now() < deadline, "hostA's records still listed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(list(addr).len(), 2);

    // `close` leaves cleanly.
    b.say("close");
    b.wait_out("closed", |l| l == "OK closed");
    assert!(b.wait_exit().success());
    assert!(list(addr).is_empty());

    // SIGTERM stops the server cleanly.
    srv.signal("-TERM");
    assert!(srv.wait_exit().success());
}

#[test]
fn sigterm_makes_a_peer_leave_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_srv, addr) = server(true);
    let mut a = peer(addr, "hostA", tmp.path(), &["8602"], &["--advertise"]);
    a.wait_out("advertised", |l| l == "OK advertised 1 RFC(s)");
    assert_eq!(list(addr).len(), 1);
    a.signal("-TERM");
    a.wait_out("closed", |l| l == "OK closed");
    assert!(a.wait_exit().success());
    assert!(list(addr).is_empty());
}
