//! The systemd units in contrib/ are valid for the systemd that checks them
//! (`systemd-analyze verify`: no warning at all, the ExecStart binary being
//! the one built here) and hardened (`systemd-analyze security`, offline:
//! exposure at most 2.0 of 10, "OK").

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{binary, need};

/// The unit files shipped in contrib/.
fn units() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    units
}

/// `unit` copied into `dir` with its ExecStart naming the binary built
/// here (verify checks that the command exists and is executable); for a
/// template, as an instance on port 7734. Returns the path to check.
fn staged(unit: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/p2pci server"), "{}: ExecStart", unit.display());
    let text = text.replace("/usr/local/bin/p2pci", binary());
    let name = unit.file_name().unwrap().to_str().unwrap().replace("@.service", "@7734.service");
    let staged = dir.join(name);
    std::fs::write(&staged, text).unwrap();
    staged
}

#[test]
fn the_units_verify_cleanly_and_are_hardened() {
    if !need("systemd-analyze", &["--version"]) {
        return;
    }
    let units = units();
    let names: Vec<_> = units.iter().map(|u| u.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["p2pci-server.service", "p2pci-server@.service"]);
    let tmp = tempfile::tempdir().unwrap();
    for unit in &units {
        let staged = staged(unit, tmp.path());
        let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&staged).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // verify exits 0 for a directive it ignores: a warning fails too.
        assert!(out.status.success() && stderr.trim().is_empty(), "{}: {stderr}", unit.display());
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
            .arg(&staged)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdict = stdout.lines().last().unwrap_or_default();
        assert!(
            out.status.success() && verdict.contains(" OK"),
            "{}: {verdict}\n{}",
            unit.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_directive_is_caught() {
    // The check above would see a mistake: a unit with one bad value warns.
    if !need("systemd-analyze", &["--version"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let staged = staged(&units()[0], tmp.path());
    let text = std::fs::read_to_string(&staged).unwrap().replace("Restart=on-failure", "Restart=bogus");
    std::fs::write(&staged, text).unwrap();
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&staged).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}
