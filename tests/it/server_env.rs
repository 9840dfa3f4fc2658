//! Server settings from the environment, and `--print-config`: every
//! option has a `P2PCI_…` variable shown in `--help`, a flag beats the
//! variable, and the printed file, read back by a real `sh`, prints the
//! same again. A store password is never printed.

use std::process::Command;

use p2pci::protocol::Status;

use crate::common::*;

/// `p2pci ARGS…` with `env` set and every other `P2PCI_…` variable of the
/// test's own environment removed.
fn p2pci(args: &[&str], env: &[(&str, &str)]) -> Finished {
    Proc::spawn_with(args, |cmd| {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("P2PCI_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
    })
    .finish()
}

fn print_config(args: &[&str], env: &[(&str, &str)]) -> String {
    let argv: Vec<&str> = ["server", "--print-config"].iter().chain(args).copied().collect();
    let f = p2pci(&argv, env);
    assert!(f.status.success(), "--print-config failed: {}", f.stderr);
    f.stdout
}

fn setting<'a>(file: &'a str, name: &str) -> Option<&'a str> {
    file.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn help_names_every_variable() {
    let help = p2pci(&["server", "--help"], &[("P2PCI_STORE", "redis://:hunter2@127.0.0.1:1")]);
    assert!(help.status.success());
    for var in
        ["P2PCI_STORE", "P2PCI_LEASE", "P2PCI_PORT", "P2PCI_MAX_LINE", "P2PCI_REDIS_CA", "P2PCI_STORE_WAIT"]
    {
        assert!(help.stdout.contains(&format!("[env: {var}")), "{var} missing from --help");
    }
    // clap shows a variable's value in --help; not the store's.
    assert!(!help.stdout.contains("hunter2"), "{}", help.stdout);
    let peer = p2pci(&["peer", "--help"], &[]);
    for var in ["P2PCI_PEER_SERVER", "P2PCI_PEER_PORT", "P2PCI_PEER_MAX_LINE"] {
        assert!(peer.stdout.contains(&format!("[env: {var}")), "{var} missing from peer --help");
    }
}

#[test]
fn print_config_merges_defaults_env_and_flags() {
    let defaults = print_config(&[], &[]);
    assert_eq!(setting(&defaults, "P2PCI_LEASE"), Some("10"));
    assert_eq!(setting(&defaults, "P2PCI_STORE"), Some("memory"));
    assert_eq!(setting(&defaults, "P2PCI_MAX_LINE"), Some("8192"));
    assert!(defaults.contains("# P2PCI_METRICS=  (not set)"), "{defaults}");
    // Every line is a comment or a setting: nothing else to trip a reader.
    assert!(defaults.lines().all(|l| l.starts_with('#') || l.starts_with("P2PCI_")), "{defaults}");

    let env = [("P2PCI_LEASE", "5"), ("P2PCI_MAX_HEADERS", "9"), ("P2PCI_QUIET", "true")];
    let from_env = print_config(&[], &env);
    assert_eq!(setting(&from_env, "P2PCI_LEASE"), Some("5"));
    assert_eq!(setting(&from_env, "P2PCI_MAX_HEADERS"), Some("9"));
    assert_eq!(setting(&from_env, "P2PCI_QUIET"), Some("true"));
    // A flag overrides the environment.
    let flagged = print_config(&["--lease", "7"], &env);
    assert_eq!(setting(&flagged, "P2PCI_LEASE"), Some("7"));
    assert_eq!(setting(&flagged, "P2PCI_MAX_HEADERS"), Some("9"));
}

/// The printed file is read back by `sh` (`set -a; . FILE`) and printed
/// again: the same text, values with blanks and quotes included.
#[test]
fn print_config_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let first = print_config(
        &[
            "--lease",
            "2.5",
            "--store",
            "redis+sentinel://127.0.0.1:26379,[::1]/my-master/3",
            "--metrics",
            "127.0.0.1:9734",
            "--redis-ca",
            "/etc/p2pci/it's a ca.pem",
            "--max-index-memory",
            "256MiB",
        ],
        &[("P2PCI_PORT", "7000")],
    );
    assert_eq!(setting(&first, "P2PCI_PORT"), Some("7000"));
    let file = dir.path().join("p2pci.env");
    std::fs::write(&file, &first).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            r#"for v in $(env | sed -n 's/^\(P2PCI_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
                set -a; . "$1"; set +a; exec "$2" server --print-config"#,
        )
        .arg("sh")
        .arg(&file)
        .arg(binary())
        .output()
        .expect("running sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // (`finish` gives the lines without the last newline.)
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), first);
}

#[test]
fn print_config_hides_the_store_password() {
    let out = print_config(&[], &[("P2PCI_STORE", "redis://app:hunter2@127.0.0.1:6379/1")]);
    assert!(!out.contains("hunter2"), "{out}");
    assert_eq!(setting(&out, "P2PCI_STORE"), Some("'redis://app:***@127.0.0.1:6379/1'"));
    assert!(out.contains("# P2PCI_STORE: the password is not shown"), "{out}");
    // A malformed URL is a usage error that does not repeat the password.
    let bad = p2pci(&["server"], &[("P2PCI_STORE", "redis://:hunter2@127.0.0.1:notaport")]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(!bad.stderr.contains("hunter2"), "{}", bad.stderr);
    assert!(bad.stderr.contains("invalid --store"), "{}", bad.stderr);
}

/// The variables reach the running server: a cap set only in the
/// environment refuses the second ADD.
#[tokio::test]
async fn a_running_server_takes_its_settings_from_the_environment() {
    let mut proc = Proc::spawn_with(["server"], |cmd| {
        cmd.envs([
            ("P2PCI_BIND", "127.0.0.1"),
            ("P2PCI_PORT", "0"),
            ("P2PCI_QUIET", "true"),
            ("P2PCI_MAX_RECORDS_PER_PEER", "1"),
        ]);
    });
    let prefix = "p2pci server listening on ";
    let line = proc.wait_err("listening line", |l| l.starts_with(prefix));
    let addr = line[prefix.len()..].trim().parse().unwrap();
    let mut c = Raw::connect(addr).await;
    c.send(add(8600, "envhost", 5000, "One")).await;
    assert_eq!(c.response().await.status, Status::Ok);
    c.send(add(8601, "envhost", 5000, "Two")).await;
    assert_eq!(c.response().await.status, Status::BadRequest);
}

#[test]
fn a_bad_variable_is_a_usage_error() {
    for (var, value) in [("P2PCI_LEASE", "soon"), ("P2PCI_PORT", "99999"), ("P2PCI_QUIET", "maybe")] {
        let f = p2pci(&["server", "--print-config"], &[(var, value)]);
        assert_eq!(f.status.code(), Some(2), "{var}={value}: {}", f.stderr);
    }
}
