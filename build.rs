//! Build script: `P2PCI_VERSION`, the version `--version` prints. Built from
//! a git checkout of p2pci it names the commit (`0.1.0 (1a2b3c4d5e6f)`);
//! anywhere else (a packaged crate, no git, an unpacked source inside some
//! other repository) it is the plain package version.
//!
//! It reruns when HEAD moves: a commit, a checkout, a reset. Edits not yet
//! committed are not marked; the commit is the one the tree was built on.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let version = match dir.as_deref().and_then(commit) {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=P2PCI_VERSION={version}");
}

/// The short hash of HEAD, if `dir` is the top of a git work tree, with the
/// files whose change moves HEAD marked for a rerun.
fn commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        // A source inside another work tree, as `cargo package` verifies
        // it (target/package/p2pci-…): cargo gives that build and the
        // checkout's the same build-script output in the same target
        // folder, so without a rerun here the checkout's next build would
        // keep this plain version. A path that does not exist makes cargo
        // rerun the script on every build of either. (The other way round,
        // a packaged copy built right after the checkout in the checkout's
        // target folder keeps the checkout's version, the commit it was
        // packaged from.)
        println!("cargo:rerun-if-changed={}", dir.join(".git").display());
        return None;
    }
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // HEAD itself (a checkout), the branch it names (a commit) and
    // packed-refs (where a branch may live); worktrees included, since git
    // says where each file is.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            // A missing file would make cargo rerun on every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(hash)
}

/// `git -C dir ARGS…`'s output, trimmed, if it ran and succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
