//! How a server reaches its Redis at start, against real `redis-server`s:
//! one that refuses its credentials or rights makes it exit at once with
//! that error, before it listens; one that never answers, after
//! `--store-wait`; `rediss://` with a CA and certificates the test makes
//! (rcgen), an untrusted certificate and a missing client certificate
//! being clear errors too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use p2pci::protocol::Status;

use crate::common::redis_server::{RedisProc, free_port, redis_args};
use crate::common::*;

/// `p2pci server` on a free loopback port with `args`, run to its end
/// when it fails to start: (exit status, stderr, how long it took). Panics
/// if it starts listening.
fn failed_start(args: &[&str]) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    let f = Proc::spawn_with(ChildServer::args(args), |cmd| {
        cmd.env("RUST_LOG", "warn");
    })
    .finish();
    assert!(!f.stderr.contains("listening"), "{args:?}: it listened:\n{}", f.stderr);
    (f.status, f.stderr, started.elapsed())
}

#[test]
fn a_server_redis_refuses_exits_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = port.to_string();
    let Some(_redis) = RedisProc::start(
        "redis-server",
        port,
        &redis_args(
            &p,
            &[
                "--requirepass",
                "s3cret",
                // An ACL user with every right, and one that may only read.
                "--user",
                "app",
                "on",
                ">app-pw",
                "~*",
                "&*",
                "+@all",
                "--user",
                "reader",
                "on",
                ">reader-pw",
                "~*",
                "+@read",
                "+@connection",
            ],
        ),
        &dir.path().join("redis.log"),
    ) else {
        return;
    };
    let at = format!("127.0.0.1:{port}");
    let refused = [
        (format!("redis://{at}"), "NOAUTH"),
        (format!("redis://:wrong-pw@{at}"), "authentication failed"),
        (format!("redis://app:wrong-pw@{at}"), "authentication failed"),
        (format!("redis://nobody:app-pw@{at}"), "authentication failed"),
        (format!("redis://reader:reader-pw@{at}"), "NOPERM"),
    ];
    for (url, why) in refused {
        let (status, stderr, took) = failed_start(&["--store", &url]);
        assert_eq!(status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.to_lowercase().contains(&why.to_lowercase()), "{url}: {stderr}");
        assert!(stderr.contains("cannot load the index from redis://"), "{url}: {stderr}");
        // At once, not after the 30 s a Redis that does not answer gets.
        assert!(took < Duration::from_secs(10), "{url}: {took:?}");
        for secret in ["wrong-pw", "reader-pw", "app-pw"] {
            assert!(!stderr.contains(secret), "{url}: the password is in\n{stderr}");
        }
    }
    // The right credentials, both ways: listening, and sharing.
    let a = ChildServer::spawn(&["--store", &format!("redis://:s3cret@{at}")]);
    // This one logs everything it can (debug, redis-rs's own lines too):
    // the password is in none of it.
    let store = format!("redis://app:app-pw@{at}");
    let mut b = Proc::spawn_with(ChildServer::args(&["--store", &store]), |cmd| {
        cmd.env("RUST_LOG", "debug");
    });
    // Every line is looked at as it passes (waits take the lines they skip).
    let clean = |l: &str| {
        assert!(!l.contains("app-pw"), "the password is in the log: {l}");
        true
    };
    let loaded = b.wait_err("index loaded line", |l| clean(l) && l.contains("index loaded from"));
    assert!(loaded.contains("index loaded from redis://app:***@"), "{loaded}");
    let prefix = "p2pci server listening on ";
    let line = b.wait_err("listening line", |l| clean(l) && l.starts_with(prefix));
    shares(a.addr, line[prefix.len()..].trim().parse().unwrap());
    b.signal("TERM");
    let logs = b.finish().stderr;
    assert!(logs.lines().all(clean) && logs.contains("peer left"), "{logs}");
}

/// An ADD on `a` is listed by `b`.
fn shares(a: std::net::SocketAddr, b: std::net::SocketAddr) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut peer = Raw::connect(a).await;
        peer.send(add(8600, "hostA", 5000, "Shared")).await;
        assert_eq!(peer.response().await.status, Status::Ok);
        eventually("b lists a's record", || async {
            list_of(b).await == [rec(8600, "Shared", "hostA", 5000)]
        })
        .await;
    });
}

#[test]
fn an_unreachable_redis_fails_the_start_after_store_wait() {
    // Nothing listens there.
    let url = format!("redis://127.0.0.1:{}", free_port());
    let (status, stderr, took) = failed_start(&["--store", &url, "--store-wait", "1"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot load the index from"), "{stderr}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(15), "{took:?}");
    // The same through Sentinels that are not there.
    let url = format!("redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster", free_port(), free_port());
    let (status, stderr, took) = failed_start(&["--store", &url, "--store-wait", "1"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(15), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_older_servers_write_to_is_refused_at_start() {
    let Some(redis) = crate::common::redis_server::RedisServer::start() else { return };
    // What a server of the older layout leaves: a peer's cost kept in a
    // shared hash.
    redis.cmd(&["HSET", "{p2pci}:peerbytes", "00000000000000aa:1", "120"]).await;
    let url = redis.url();
    let started = Instant::now();
    let (status, stderr, _) =
        tokio::task::spawn_blocking(move || failed_start(&["--store", &url])).await.unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("written by an older p2pci"), "{stderr}");
    // At once: waiting cannot help.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client
/// certificate, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa};
    use rcgen::{Issuer, KeyPair, KeyUsagePurpose};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("p2pci test CA");
    let (other_pem, _) = ca("some other CA");
    let leaf = |names: Vec<String>, eku: Eku| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "p2pci test");
        params.extended_key_usages = vec![eku];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], Eku::ServerAuth);
    let (client_pem, client_key) = leaf(vec!["p2pci-server".into()], Eku::ClientAuth);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", &ca_pem),
        server_cert: write("redis.pem", &server_pem),
        server_key: write("redis.key", &server_key),
        client_cert: write("client.pem", &client_pem),
        client_key: write("client.key", &client_key),
        other_ca: write("other-ca.pem", &other_pem),
    }
}

#[test]
fn rediss_with_a_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let port = free_port();
    let p = port.to_string();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (cert, key, ca) = (s(&pki.server_cert), s(&pki.server_key), s(&pki.ca));
    // Redis's default: clients must show a certificate the CA signed.
    let Some(_redis) = RedisProc::start(
        "redis-server",
        port,
        &redis_args(
            "0",
            &["--tls-port", &p, "--tls-cert-file", &cert, "--tls-key-file", &key, "--tls-ca-cert-file", &ca],
        ),
        &dir.path().join("redis.log"),
    ) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{port}");
    let (client_cert, client_key) = (s(&pki.client_cert), s(&pki.client_key));
    let tls = ["--redis-ca", &ca, "--redis-cert", &client_cert, "--redis-key", &client_key];
    let a = ChildServer::spawn(&[&["--store", &url][..], &tls].concat());
    // The CA from the standard variable instead of --redis-ca.
    let b = ChildServer::spawn_with(
        &["--store", &url, "--redis-cert", &client_cert, "--redis-key", &client_key],
        |cmd| {
            cmd.env("SSL_CERT_FILE", &ca);
        },
    );
    shares(a.addr, b.addr);

    // Not trusted: another CA, or the system's (which never signed it).
    let (other, missing) = (s(&pki.other_ca), s(&dir.path().join("nowhere.pem")));
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec!["--redis-ca", &other, "--redis-cert", &client_cert, "--redis-key", &client_key],
            "UnknownIssuer",
        ),
        (vec!["--redis-cert", &client_cert, "--redis-key", &client_key], "UnknownIssuer"),
        // Trusted, but no certificate of ours: Redis refuses us.
        (vec!["--redis-ca", &ca], "CertificateRequired"),
        (vec!["--redis-ca", &missing], "cannot read the CA file"),
        (vec!["--redis-ca", &client_key], "holds no certificate"),
    ];
    for (extra, why) in cases {
        let args = [&["--store", url.as_str()][..], &extra].concat();
        let (status, stderr, took) = failed_start(&args);
        assert_eq!(status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(why), "{extra:?}: want {why:?} in\n{stderr}");
        assert!(took < Duration::from_secs(10), "{extra:?}: {took:?}");
    }
    // TLS files with a plain URL: a mistake, said so.
    let (status, stderr, _) = failed_start(&["--store", "redis://127.0.0.1:1", "--redis-ca", &ca]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("not a TLS URL"), "{stderr}");
}
