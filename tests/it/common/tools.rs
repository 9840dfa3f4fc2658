//! The real parts a test needs (redis-server, tmux, promtool, man, bash,
//! systemd-analyze, ...). A test never passes without running: when its
//! tool is missing it fails, naming the tool and `./scripts/test.sh`, which
//! installs them. `P2PCI_SKIP_MISSING=1` turns that into a visible skip:
//! said on stderr and noted in a list that `./scripts/test.sh` counts and
//! prints after the run.

use std::io::Write;
use std::process::{Command, Stdio};

/// Where skipped tests are noted, one line each (`scripts/test.sh` reads
/// and clears it).
pub const SKIPPED_LIST: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-missing-tools.txt");

/// Whether `tool` runs here (probed as `tool ARGS`). When it does not: the
/// test fails, unless `P2PCI_SKIP_MISSING=1`, and then the skip is said and
/// noted, and the caller returns at once.
pub fn need(tool: &str, probe: &[&str]) -> bool {
    let ran = Command::new(tool)
        .args(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if ran.is_ok() {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    if std::env::var_os("P2PCI_SKIP_MISSING").is_none_or(|v| v != "1") {
        panic!(
            "{tool} is missing: this test needs it (./scripts/test.sh installs it; \
             P2PCI_SKIP_MISSING=1 skips such tests instead, visibly)"
        );
    }
    eprintln!("SKIPPED {test}: {tool} is missing (./scripts/test.sh installs it)");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(SKIPPED_LIST) {
        // One write, so that tests skipping at once do not interleave.
        let _ = f.write_all(format!("{test}: needs {tool}\n").as_bytes());
    }
    false
}
