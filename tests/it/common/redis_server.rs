//! A real `redis-server` for tests: on a free loopback port, nothing saved
//! to disk unless asked (`SAVE` in [`RedisServer::start_saving`]'s folder),
//! stopped when dropped; a replica of another with [`RedisServer::replica_of`]. Where `redis-server` is missing the test
//! fails, or is skipped visibly with `P2PCI_SKIP_MISSING=1` ([`super::need`]).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pci::server::ServerConfig;
use p2pci::store::{RedisConfig, RedisStore};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
    /// Its working folder, where `SAVE` (and a replica's full sync, which
    /// saves on the primary) writes `dump.rdb` and a restart loads it from:
    /// never the test's own working folder, the source tree.
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts one, or returns `None` when the machine has no
    /// `redis-server` and missing tools may be skipped ([`super::need`]).
    pub fn start() -> Option<RedisServer> {
        if !super::need("redis-server", &["--version"]) {
            return None;
        }
        Some(RedisServer::start_with(tempfile::tempdir().unwrap(), Vec::new()))
    }

    fn start_with(dir: tempfile::TempDir, extra: Vec<String>) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = RedisServer { port, child: None, dir, extra };
        r.launch();
        r
    }

    /// One whose `SAVE` writes `dump.rdb` in a folder of its own, and whose
    /// restarts ([`RedisServer::restart`]) load it.
    pub fn start_saving() -> Option<RedisServer> {
        if !super::need("redis-server", &["--version"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let extra =
            vec!["--dir".into(), dir.path().display().to_string(), "--dbfilename".into(), "dump.rdb".into()];
        Some(RedisServer::start_with(dir, extra))
    }

    /// A replica of `primary`, once it has the primary's data.
    pub async fn replica_of(primary: &RedisServer) -> RedisServer {
        // Its own folder: a replica writes the primary's dump to disk.
        let dir = tempfile::tempdir().unwrap();
        let extra = vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary.port.to_string(),
            "--dir".into(),
            dir.path().display().to_string(),
        ];
        let r = RedisServer::start_with(dir, extra);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info = r.cmd(&["INFO", "replication"]).await;
            let redis::Value::BulkString(b) = &info else { panic!("INFO answered {info:?}") };
            let text = String::from_utf8_lossy(b);
            if text.contains("master_link_status:up") && text.contains("master_sync_in_progress:0") {
                return r;
            }
            assert!(Instant::now() < deadline, "the replica did not catch up: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn launch(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = Command::new("redis-server")
                .current_dir(self.dir.path())
                .args(redis_args(&self.port.to_string(), &[]))
                .args(&self.extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            self.child = Some(child);
            while Instant::now() < deadline {
                if self.ping() {
                    return;
                }
                if let Some(c) = self.child.as_mut()
                    && let Ok(Some(_)) = c.try_wait()
                {
                    break; // exited: the port was not free yet
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The file `SAVE` writes (with [`RedisServer::start_saving`]).
    pub fn dump(&self) -> std::path::PathBuf {
        self.dir.path().join("dump.rdb")
    }

    /// Sends the process a signal (`STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill").args([format!("-{name}"), pid.to_string()]).status().unwrap().success();
        assert!(ok, "kill -{name} {pid}");
    }

    /// Kills it and starts it again on the same port, loading the dump
    /// file if there is one.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Kills it (its data is lost: nothing is saved).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills it and starts an empty one on the same port.
    pub fn restart_empty(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dump());
        self.launch();
    }

    /// Runs one command and returns its answer as text.
    pub async fn cmd(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
            .await
            .expect("connect to redis in time")
            .unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        tokio::time::timeout(Duration::from_secs(5), cmd.query_async(&mut c))
            .await
            .expect("redis answers")
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An index server sharing its index through Redis, in this process.
pub struct SharedServer {
    pub addr: SocketAddr,
    pub store: Arc<RedisStore>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl SharedServer {
    pub async fn start(url: &str, lease: Duration) -> SharedServer {
        let mut config = RedisConfig::new(url);
        config.lease = lease;
        config.timeout = Duration::from_millis(500);
        let store = tokio::time::timeout(
            Duration::from_secs(10),
            RedisStore::connect(config, Duration::from_secs(5)),
        )
        .await
        .expect("index loaded in time")
        .expect("index loaded");
        let store = Arc::new(store);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let config = ServerConfig { print: false, ..ServerConfig::default() };
        let task = tokio::spawn(p2pci::server::run(listener, config, store.clone(), shutdown.clone()));
        SharedServer { addr, store, shutdown, task: Some(task) }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t).await.expect("server stops in time").unwrap();
        }
    }
}

impl Drop for SharedServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A free TCP port on 127.0.0.1 (free when asked: start the user soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The arguments of a `redis-server` on 127.0.0.1:`port` that keeps
/// nothing on disk (no RDB snapshots, no AOF), then `extra`.
pub fn redis_args<'a>(port: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    args.extend(extra);
    args
}

/// A `redis-server` or `redis-sentinel` started with any arguments (TLS,
/// `requirepass`, `replicaof`, a config file), its output in `dir`'s log;
/// SIGKILLed on drop. [`RedisProc::start`] returns once `port` takes TCP
/// connections (whatever the protocol on it, TLS included), or `None`
/// when the tool is missing and may be skipped ([`super::need`]).
pub struct RedisProc {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisProc {
    pub fn start(tool: &str, port: u16, args: &[&str], log: &std::path::Path) -> Option<RedisProc> {
        if !super::need(tool, &["--version"]) {
            return None;
        }
        let out = std::fs::File::create(log).expect("creating the redis log");
        // A working folder of its own, beside its log: the dumps it writes
        // (a primary's full sync to a replica, the replica's copy) stay out
        // of the source tree and apart from another node's.
        let cwd = log.with_extension("d");
        std::fs::create_dir_all(&cwd).expect("creating the redis folder");
        let child = Command::new(tool)
            .current_dir(&cwd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {tool}: {e}"));
        let mut p = RedisProc { port, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(c) = p.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let said = std::fs::read_to_string(log).unwrap_or_default();
                panic!("{tool} {args:?} exited ({status}):\n{said}");
            }
            assert!(Instant::now() < deadline, "{tool} did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(p)
    }

    /// SIGKILL, as a crash would; returns once it is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
    }
}
