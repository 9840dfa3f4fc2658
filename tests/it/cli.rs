//! The real binary, as a user runs it: server and headless peers as separate
//! processes, talking over loopback.

use crate::common::{ChildServer, PROC_WAIT, Proc, need};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

fn peer(server: SocketAddr, host: &str, dir: &Path, rfcs: &[u32], extra: &[&str]) -> Proc {
    Proc::headless_peer(server, host, &dir.join(host), rfcs, extra)
}

/// One LIST over a raw connection, as record lines.
fn list(server: SocketAddr) -> Vec<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(PROC_WAIT)).unwrap();
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
    let out = Proc::spawn(["--help"]).finish();
    assert!(out.status.success());
    let text = out.stdout;
    assert!(text.contains("server") && text.contains("peer") && text.contains("Examples"), "{text}");
    let text = Proc::spawn(["peer", "--help"]).finish().stdout;
    for flag in ["--port", "--host", "--rfcs", "--server", "--dir", "--rfc-dir", "--headless"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let out = Proc::spawn(["--version"]).finish();
    let version = out.stdout.trim();
    assert!(version.starts_with(&format!("p2pci {}", env!("CARGO_PKG_VERSION"))), "{version}");
    // From a checkout of p2pci (as ./scripts/test.sh runs), the commit is
    // named; from anywhere else (the packaged crate, no git), it is not.
    let expected = match checkout_head() {
        Some(head) => format!("p2pci {} ({head})", env!("CARGO_PKG_VERSION")),
        None => format!("p2pci {}", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(version, expected);
}

/// The short hash of HEAD if this crate's folder is the top of a git work
/// tree (build.rs's rule, asked of git independently).
fn checkout_head() -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// What bash's completion for `p2pci` offers for the words typed so far
/// (the last one being completed), from the script `p2pci completions bash`
/// prints, loaded by a real bash as a user's shell would.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    // The function is the one the script registers with `complete -F`.
    let probe = r#"
        source "$1" || exit 10
        spec=$(complete -p p2pci) || exit 11
        fn=${spec#*-F }; fn=${fn%% *}
        shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        "$fn" p2pci "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", probe, "probe"])
        .arg(script)
        .args(words)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "bash: {:?}\n{stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn bash_completes_subcommands_options_and_shells() {
    if !need("bash", &["--version"]) {
        return;
    }
    let out = Proc::spawn(["completions", "bash"]).finish();
    assert!(out.status.success(), "{}", out.stderr);
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("p2pci.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    assert_eq!(bash_completes(&script, &["p2pci", "se"]), ["server"]);
    assert_eq!(bash_completes(&script, &["p2pci", "completions", "b"]), ["bash"]);
    let mut options = bash_completes(&script, &["p2pci", "server", "--max-connections"]);
    options.sort();
    assert_eq!(options, ["--max-connections", "--max-connections-per-address"]);
    // Every shell has a script that names the binary.
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = Proc::spawn(["completions", shell]).finish();
        assert!(out.status.success() && out.stdout.contains("p2pci"), "{shell}: {}", out.stderr);
    }
    let out = Proc::spawn(["completions", "tcsh"]).finish();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}

#[test]
fn the_man_page_renders_with_man() {
    if !need("man", &["--version"]) {
        return;
    }
    let out = Proc::spawn(["manpage"]).finish();
    assert!(out.status.success(), "{}", out.stderr);
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("p2pci.1");
    std::fs::write(&page, &out.stdout).unwrap();
    // groff's warnings on (a page that is not valid roff says so on stderr),
    // plain text out, at a fixed width.
    let man = std::process::Command::new("man")
        .args(["--warnings", "-P", "cat", "-l"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("MANPAGER")
        .env_remove("PAGER")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&man.stdout);
    let err = String::from_utf8_lossy(&man.stderr);
    assert!(man.status.success() && err.trim().is_empty(), "man: {:?}\n{err}", man.status);
    for want in [
        "NAME",
        "SYNOPSIS",
        "p2pci",
        "Share RFCs peer to peer",
        "COMMANDS",
        "p2pci completions",
        "p2pci manpage",
        "EXAMPLES",
        "p2pci peer --port 2222 --host hostA --rfcs 8600 8601",
        "SERVER OPTIONS",
        "--max-connections-per-address",
        "PEER OPTIONS",
        "--min-download-rate",
        concat!("v", env!("P2PCI_VERSION")),
    ] {
        assert!(text.contains(want), "{want:?} missing from the rendered page:\n{text}");
    }
}

#[test]
fn a_missing_starting_rfc_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Proc::spawn(
        ["peer", "--headless", "--host", "x", "--rfcs", "1234", "--rfc-dir"]
            .map(std::ffi::OsStr::new)
            .into_iter()
            .chain([tmp.path().as_os_str(), "--dir".as_ref(), tmp.path().join("x").as_os_str()]),
    )
    .finish();
    assert!(!out.status.success());
    let err = out.stderr;
    assert!(
        err.contains("RFC 1234") && err.contains(&tmp.path().join("rfc1234.txt").display().to_string()),
        "{err}"
    );
}

#[test]
fn three_processes_download_and_a_killed_peer_vanishes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut srv = ChildServer::printing(&[]);
    let addr = srv.addr;
    let mut a = peer(addr, "hostA", tmp.path(), &[8600, 8601], &["--advertise"]);
    a.wait_out("advertised", |l| l == "OK advertised 2 RFC(s)");
    let mut b = peer(addr, "hostB", tmp.path(), &[8700], &[]);
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
    assert!(got == crate::common::shipped(8601), "the download differs from the shipped file");
    b.wait_out("re-advertised", |l| l == "OK advertised 1 RFC(s)");
    // End of input does not make a peer leave.
    a.close_stdin();
    assert_eq!(list(addr).len(), 4);
    // The server printed what it received and sent, raw.
    srv.proc.wait_out("printed ADD", |l| l == "ADD RFC 8600 P2P-CI/1.0");
    srv.proc.wait_out("printed answer", |l| l == "P2P-CI/1.0 200 OK");

    // Killed without a goodbye: its records vanish.
    a.kill();
    let deadline = Instant::now() + PROC_WAIT;
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
    srv.proc.signal("TERM");
    assert!(srv.proc.wait_exit().success());
}

#[test]
fn sigterm_makes_a_peer_leave_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = ChildServer::spawn(&[]);
    let mut a = peer(srv.addr, "hostA", tmp.path(), &[8602], &["--advertise"]);
    a.wait_out("advertised", |l| l == "OK advertised 1 RFC(s)");
    assert_eq!(list(srv.addr).len(), 1);
    a.signal("TERM");
    a.wait_out("closed", |l| l == "OK closed");
    assert!(a.wait_exit().success());
    assert!(list(srv.addr).is_empty());
}

/// A nonsensical duration or size is refused by the binary itself with
/// clap's usage error (exit status 2), never run with some clamped value.
#[test]
fn nonsense_durations_and_sizes_exit_2() {
    for args in [
        &["server", "--request-timeout=-5"][..],
        &["server", "--request-timeout=nan"],
        &["server", "--write-timeout=inf"],
        &["server", "--lease=-1"],
        &["peer", "--headless", "--refresh=nan"],
        &["peer", "--headless", "--max-download=-1"],
        &["peer", "--headless", "--min-download-rate=-1"],
        &["peer", "--headless", "--min-download-rate=nan"],
        &["peer", "--headless", "--download-rate-window=inf"],
    ] {
        let out = Proc::spawn(args.iter().copied()).finish();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        let flag = args[args.len() - 1].split('=').next().unwrap();
        assert!(
            out.stderr.contains("invalid value") && out.stderr.contains(flag),
            "{args:?}: {}",
            out.stderr
        );
    }
}

/// `--rfcs` from outside the checkout (as an installed `p2pci` is run):
/// the RFCs shipped with the source it was built from are found; a
/// `--rfc-dir` that is no folder is said plainly, naming the option.
#[test]
fn starting_rfcs_are_found_from_anywhere() {
    let server = ChildServer::spawn(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("far");
    let addr = server.addr.to_string();
    let args = ["peer", "--headless", "--port", "0", "--host", "far", "--server", &addr, "--rfcs", "8600"];
    let mut peer = Proc::spawn_with(args.iter().copied().chain(["--dir", dir.to_str().unwrap()]), |c| {
        c.current_dir(tmp.path());
    });
    let copied = dir.join("rfc8600.txt");
    let deadline = Instant::now() + PROC_WAIT;
    while std::fs::read(&copied).ok() != Some(crate::common::shipped(8600)) {
        assert!(Instant::now() < deadline, "rfc8600.txt not copied from the shipped RFCs");
        std::thread::sleep(Duration::from_millis(20));
    }
    peer.kill();

    let out = Proc::spawn_with(args.iter().copied().chain(["--rfc-dir", "no-such-dir"]), |c| {
        c.current_dir(tmp.path());
    })
    .finish();
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("--rfcs copies RFC files from no-such-dir (--rfc-dir), which is not a folder"),
        "{}",
        out.stderr
    );
}
