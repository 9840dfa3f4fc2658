//! The headless peer's standard input holds no more than a command line,
//! whatever comes there: a peer left running with a descriptor that never
//! ends a line grew by every byte it read (23.6 GB in 28 minutes), without a
//! word on its output.

use crate::common::{ChildServer, Proc};

/// Peak resident memory of a process (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/PID/status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

#[test]
fn a_line_that_does_not_end_is_refused_not_held() {
    let server = ChildServer::spawn(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut peer =
        Proc::headless_peer(server.addr, "hostA", &dir.path().join("hostA"), &[8600], &["--advertise"]);
    peer.wait_out("advertised", |l| l == "OK advertised 1 RFC(s)");
    let before = peak_rss(peer.pid());
    // 32 MiB and no line end, then a command: bounded, so the old peer
    // (which held it all) fails here in about a second, not by swapping.
    const FLOOD: usize = 32 << 20;
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..FLOOD / chunk.len() {
        peer.feed(&chunk);
    }
    peer.feed(b"\n");
    peer.say("lookup 8600");
    let refusal = peer.wait_out("the answer to the long line", |l| l.starts_with("ERR"));
    peer.wait_out("the next command answered", |l| l == "OK lookup RFC 8600: 1 holder(s)");
    let grown = peak_rss(peer.pid()).saturating_sub(before);
    assert!(grown < 8 << 20, "the peer grew by {} KiB reading a {} MiB line", grown >> 10, FLOOD >> 20);
    let shown: String = refusal.chars().take(120).collect();
    assert!(
        refusal == "ERR a line of standard input is longer than 4096 bytes: ignored up to its end",
        "the answer to the long line: {shown:?}… ({} bytes)",
        refusal.len()
    );
}
