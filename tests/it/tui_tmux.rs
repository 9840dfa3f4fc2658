//! The full-screen peer, end to end, as a person uses it: the real binary in
//! a tmux session of fixed size, driven by keys, read back with
//! `capture-pane`.
//!
//! The index server and the headless peers are children started through
//! the shared launcher (`common::ChildServer`, `common::Proc`), which kills
//! and reaps them when the test ends; the screen peer runs in tmux on a
//! private socket (`-S`, in the test's temporary folder, so parallel runs
//! never share a tmux server and no socket file outlives the test), its
//! command line built from `common::binary()` and `common::peer_args`. Every
//! wait polls the screen with a deadline, and a guard kills the tmux server
//! when the test ends, failed or not. Without tmux the test is skipped with
//! a message, unless `CI` is set, where it fails.
//!
//! Beyond keys, it checks what happens with none: another peer's ADD shows
//! up in the Index on its own (`--refresh 1`), and a file dropped into the
//! screen peer's folder is listed, ADDed (`--auto-advertise`) and
//! downloadable by another peer. A second flow kills and restarts the
//! index server under the screen (issue 19, items 1-3) and opens the reader
//! and the Index filter (items 12-13).

use crate::common::{ChildServer, Proc, binary, need, partial_files, peer_args, rfc_dir, shipped};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// The tmux server the screen peer runs in; killed on drop.
struct Session {
    socket: PathBuf,
}

impl Session {
    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("running tmux")
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "tui"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "tui", "-l", text]);
        assert!(out.status.success(), "send-keys -l {text:?}");
    }

    /// Polls the screen until `pred` holds; panics with the last screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}; the screen was:\n{screen}");
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// Single-quotes a word for the shell tmux runs the pane command with.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn look_up_download_and_leave_with_the_keyboard() {
    if !need("tmux", &["-V"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Dropped before `tmp`: the tmux server is gone before its socket's folder.
    let session = Session { socket: tmp.path().join("tmux.sock") };

    // The index server, on a free loopback port.
    let server = ChildServer::spawn(&[]);

    // A headless peer that holds RFC 8700; its stdin stays open.
    let host_b_dir = tmp.path().join("hostB");
    let mut host_b = Proc::headless_peer(server.addr, "hostB", &host_b_dir, &[8700], &["--advertise"]);
    host_b.wait_out("hostB's ADD", |l| l.starts_with("OK advertised 1"));

    // The screen peer, in a 120x40 tmux pane. When it exits, the pane stays
    // and says how, so the exit status can be checked.
    let host_a_dir = tmp.path().join("hostA");
    let mut args = vec![binary().to_owned()];
    args.extend(peer_args(server.addr, "hostA", &host_a_dir, &[8600]));
    args.extend(["--refresh", "1", "--auto-advertise"].map(str::to_owned));
    let peer = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let pane = format!("{peer}; echo \"p2pci exited with $?\"; sleep 600");
    let out = session.tmux(&["new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", &pane]);
    assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));

    session.wait_for("the UI, connected, with the index loaded", |s| {
        s.contains("Local RFCs (1)") && s.contains("● connected") && s.contains("Index (1)")
    });

    // `/`, the number, Enter: a LOOKUP; hostB is the one holder.
    session.text("/8700");
    session.wait_for("the typed number", |s| s.contains("RFC › 8700"));
    session.keys(&["Enter"]);
    let screen =
        session.wait_for("hostB as a holder", |s| s.contains("1 holder(s)") && s.contains("› hostB:"));
    assert!(screen.contains("LOOKUP RFC 8700 P2P-CI/1.0"), "the LOOKUP is in the log:\n{screen}");

    // Enter again downloads from the chosen holder.
    session.keys(&["Enter"]);
    session.wait_for("the finished download", |s| {
        s.contains("✔ 8700 from hostB:") && s.contains("Local RFCs (2)")
    });
    let got = std::fs::read(host_a_dir.join("rfc8700.txt")).expect("the downloaded file");
    let want = shipped(8700);
    assert!(got == want, "rfc8700.txt differs from RFCs/rfc8700.txt ({} vs {} bytes)", got.len(), want.len());
    let left = partial_files(&host_a_dir);
    assert!(left.is_empty(), "a partial file was left: {left:?}");

    // Another peer joins and ADDs: the Index shows it with no key pressed.
    let host_c_dir = tmp.path().join("hostC");
    let mut host_c = Proc::headless_peer(server.addr, "hostC", &host_c_dir, &[8795], &["--advertise"]);
    host_c.wait_out("hostC's ADD", |l| l.starts_with("OK advertised 1"));
    session.wait_for("hostC's record, refreshed on its own", |s| {
        s.lines().any(|l| l.contains("8795") && l.contains("hostC"))
    });

    // A file dropped into hostA's folder (written aside, then renamed in, as
    // a copy tool would) is listed and ADDed at once…
    let aside = tmp.path().join("rfc8601.txt");
    std::fs::copy(rfc_dir().join("rfc8601.txt"), &aside).unwrap();
    std::fs::rename(&aside, host_a_dir.join("rfc8601.txt")).unwrap();
    session.wait_for("the dropped RFC listed and in the index", |s| {
        s.contains("Local RFCs (3)") && s.lines().any(|l| l.contains("8601") && l.contains("hostA (me)"))
    });
    // …and another peer can download it, byte for byte.
    host_b.say("get 8601");
    host_b.wait_out("hostB's download of 8601", |l| l.starts_with("OK downloaded RFC 8601"));
    let got = std::fs::read(host_b_dir.join("rfc8601.txt")).expect("hostB's copy");
    let want = shipped(8601);
    assert!(got == want, "hostB's rfc8601.txt differs ({} vs {} bytes)", got.len(), want.len());

    // The GET to hostB is in the log; scroll back for it if newer lines
    // pushed it out of view (PgUp pages the focused pane: the log).
    session.keys(&["Tab", "Tab"]);
    session.wait_for("the log focused", |s| s.contains("Home/End oldest/follow"));
    let mut found = false;
    for _ in 0..30 {
        let screen = session.screen();
        if screen.lines().any(|l| l.contains("→ hostB:") && l.contains("GET RFC 8700 P2P-CI/1.0")) {
            found = true;
            break;
        }
        // Each page is read only once it is drawn (frames are coalesced).
        let before = lines_back(&screen);
        session.keys(&["PageUp"]);
        let deadline = Instant::now() + Duration::from_secs(3);
        while lines_back(&session.screen()) == before && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    assert!(found, "no GET in the protocol log:\n{}", session.screen());
    session.keys(&["End"]);
    session.wait_for("the log following again", |s| !s.contains("lines back"));

    // The help overlay opens and closes.
    session.keys(&["?"]);
    session.wait_for("the help", |s| s.contains("? or Esc closes"));
    session.keys(&["Escape"]);
    session.wait_for("the help closed", |s| !s.contains("? or Esc closes"));

    // q leaves cleanly: the engine closes, the terminal is restored, exit 0.
    session.keys(&["q"]);
    let screen = session.wait_for("the peer to exit", |s| s.contains("p2pci exited with"));
    assert!(screen.contains("p2pci exited with 0"), "{screen}");
    assert!(!screen.contains("Protocol log"), "the alternate screen is left:\n{screen}");
}

/// The "N lines back" of the log's title, if it is scrolled back.
fn lines_back(screen: &str) -> Option<usize> {
    let at = screen.find(" lines back")?;
    screen[..at].rsplit(' ').next()?.parse().ok()
}

/// Starts the screen peer `host` in a tmux pane of `width`×`height`, with
/// `extra` options; when it exits, the pane says how.
fn start_screen(
    session: &Session,
    server: std::net::SocketAddr,
    host: &str,
    dir: &std::path::Path,
    rfcs: &[u32],
    extra: &[&str],
    size: (u16, u16),
) {
    let mut args = vec![binary().to_owned()];
    args.extend(peer_args(server, host, dir, rfcs));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let peer = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let pane = format!("{peer}; echo \"p2pci exited with $?\"; sleep 600");
    let (w, h) = (size.0.to_string(), size.1.to_string());
    let out = session.tmux(&["new-session", "-d", "-s", "tui", "-x", &w, "-y", &h, &pane]);
    assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
}

/// The host of the holder selected (`› hostB:40123`) in the Lookup pane.
fn selected_holder(screen: &str) -> Option<String> {
    screen.lines().find_map(|l| {
        let at = l.find("› host")?;
        let rest = &l[at + "› ".len()..];
        Some(rest.split(':').next()?.to_owned())
    })
}

/// Issue 19, items 1-3 and 12-13, as a person meets them: after a download
/// from the Lookup pane the selection stays on the holder used and this
/// peer is listed last; with the server killed the Index and the Lookup say
/// how old they are and a LOOKUP fails; with it back, that LOOKUP is asked
/// again on its own. Then the reader and the Index filter.
#[test]
fn stale_state_the_holder_kept_the_reader_and_the_filter() {
    if !need("tmux", &["-V"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let session = Session { socket: tmp.path().join("tmux.sock") };
    let server = ChildServer::spawn(&[]);
    let port = server.addr.port();
    let mut server = Some(server);

    // Two holders of RFC 8700.
    let mut holders = Vec::new();
    for host in ["hostB", "hostC"] {
        let dir = tmp.path().join(host);
        let mut p = Proc::headless_peer(server.as_ref().unwrap().addr, host, &dir, &[8700], &["--advertise"]);
        p.wait_out("the holder's ADD", |l| l.starts_with("OK advertised 1"));
        holders.push(p);
    }

    let host_a_dir = tmp.path().join("hostA");
    start_screen(
        &session,
        server.as_ref().unwrap().addr,
        "hostA",
        &host_a_dir,
        &[8600],
        &["--refresh", "1"],
        (110, 34),
    );
    session.wait_for("the UI, connected, with the index loaded", |s| {
        s.contains("● connected") && s.contains("Index (2)")
    });

    // Item 3: download from the second holder; the selection stays on it.
    session.text("/8700");
    session.keys(&["Enter"]);
    let screen =
        session.wait_for("two holders", |s| s.contains("2 holder(s)") && selected_holder(s).is_some());
    let first = selected_holder(&screen).unwrap();
    session.keys(&["Down"]);
    let screen =
        session.wait_for("the second holder selected", |s| selected_holder(s).is_some_and(|h| h != first));
    let chosen = selected_holder(&screen).unwrap();
    session.keys(&["Enter"]);
    session.wait_for("the finished download", |s| s.contains(&format!("✔ 8700 from {chosen}:")));
    let got = std::fs::read(host_a_dir.join("rfc8700.txt")).expect("the downloaded file");
    assert!(got == shipped(8700), "rfc8700.txt differs from RFCs/rfc8700.txt");
    let screen = session.wait_for("this peer listed as a holder too", |s| s.contains("3 holder(s)"));
    assert_eq!(selected_holder(&screen).as_deref(), Some(chosen.as_str()), "the selection moved:\n{screen}");
    let order: Vec<&str> = screen.lines().filter(|l| l.contains("  host") || l.contains("› host")).collect();
    assert!(order.last().is_some_and(|l| l.contains("(me)")), "this peer is not last: {order:?}\n{screen}");

    // Item 1: the server goes away; what is shown says how old it is.
    server.take().unwrap().proc.kill();
    let screen = session.wait_for("the Index marked out of date", |s| {
        s.contains("server unreachable") && s.contains("Index (3) · as of ")
    });
    assert!(screen.contains("Lookup · 3 holder(s) · as of"), "{screen}");
    // Item 2: a LOOKUP now fails, and is asked again once the server is back.
    session.text("/8795");
    session.keys(&["Enter"]);
    session.wait_for("the LOOKUP failing", |s| s.contains("LOOKUP RFC 8795 failed"));
    let server = ChildServer::respawn(port, &[]);
    session.wait_for("the LOOKUP redone on reconnecting", |s| {
        s.contains("● connected") && s.contains("No peer holds RFC 8795") && !s.contains("failed")
    });
    session.wait_for("the Index current again", |s| !s.contains("as of "));

    // Item 12: the reader, from Local RFCs (Tab from Lookup: Downloads,
    // Log, Local).
    session.keys(&["Tab", "Tab", "Tab"]);
    session.wait_for("Local RFCs focused", |s| s.contains("Enter/v read"));
    session.keys(&["v"]);
    session.wait_for("the reader", |s| {
        s.contains("RFC 8600 · ") && s.contains(" of ") && s.contains("q/Esc back")
    });
    session.text("/xmpp");
    session.keys(&["Enter"]);
    session.wait_for("the search's matches", |s| s.contains("/xmpp · 1 of "));
    session.keys(&["q"]);
    session.wait_for("back to the panes", |s| s.contains("Protocol log"));

    // Item 13: the Index filter.
    session.keys(&["Tab"]);
    session.wait_for("the Index focused", |s| s.contains("f filter"));
    session.text("fhostC");
    session.wait_for("the filtered Index", |s| s.contains("of 3) · filter: hostC"));
    session.keys(&["Enter"]);

    session.keys(&["q"]);
    let screen = session.wait_for("the peer to exit", |s| s.contains("p2pci exited with"));
    assert!(screen.contains("p2pci exited with 0"), "{screen}");
    drop(server);
    drop(holders);
}
