//! Test harness: real servers and peers on ephemeral loopback ports.
//!
//! Every wait is bounded ([`within`]); a test that would hang fails instead.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use p2pci::peer::{Command, NetEvent, Peer, PeerConfig};
use p2pci::protocol::response::P2sResponseDecoder;
use p2pci::protocol::{P2sResponse, Record, RfcNumber};
use p2pci::server::ServerConfig;
use p2pci::store::{Counts, IndexStore, MemoryStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut` for at most `WAIT`, failing the test with `what` otherwise.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// The 33 shipped RFC texts.
pub fn rfc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("RFCs")
}

pub fn shipped(rfc: u32) -> Vec<u8> {
    std::fs::read(rfc_dir().join(format!("rfc{rfc}.txt"))).unwrap()
}

pub fn all_shipped() -> Vec<u32> {
    (8595..=8605).chain(8695..=8705).chain(8795..=8805).collect()
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<MemoryStore>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_config(ServerConfig { print: false, ..ServerConfig::default() }).await
    }

    pub async fn with_config(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::on(listener, config)
    }

    pub fn on(listener: TcpListener, config: ServerConfig) -> TestServer {
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(MemoryStore::new());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(p2pci::server::run(listener, config, store.clone(), shutdown.clone()));
        TestServer { addr, store, shutdown, task: Some(task) }
    }

    /// Every record, newest first, read through the store's interface (the
    /// in-memory store answers at once, so this never blocks).
    pub fn records(&self) -> Vec<Record> {
        futures::executor::block_on(p2pci::store::records(&*self.store, None))
    }

    /// The holders of `rfc`, newest first.
    pub fn lookup(&self, rfc: RfcNumber) -> Vec<Record> {
        futures::executor::block_on(p2pci::store::records(&*self.store, Some(rfc)))
    }

    pub fn peer_count(&self) -> usize {
        self.store.counts().peers
    }

    /// Waits until the store's counts satisfy `pred` (removal happens when
    /// the server notices a closed connection, a moment after the close).
    pub async fn until(&self, what: &str, pred: impl Fn(Counts) -> bool) {
        within(what, async {
            while !pred(self.store.counts()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            within("server shutdown", t).await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct TestPeer {
    pub peer: Option<Peer>,
    pub events: tokio::sync::mpsc::Receiver<NetEvent>,
    pub dir: PathBuf,
    pub upload_addr: SocketAddr,
    _tmp: tempfile::TempDir,
}

pub fn peer_config(server: SocketAddr, host: &str, rfcs: &[u32], dir: PathBuf) -> PeerConfig {
    let mut c = PeerConfig::new(host, server.to_string(), dir);
    c.upload_bind = "127.0.0.1:0".parse().unwrap();
    c.rfc_dir = rfc_dir();
    c.rfcs = rfcs.iter().copied().map(RfcNumber).collect();
    c.max_backoff = Duration::from_millis(200);
    c
}

impl TestPeer {
    pub async fn start(server: SocketAddr, host: &str, rfcs: &[u32]) -> TestPeer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(host);
        TestPeer::with_config(peer_config(server, host, rfcs, dir), tmp).await
    }

    pub async fn with_config(config: PeerConfig, tmp: tempfile::TempDir) -> TestPeer {
        let dir = config.dir.clone();
        let (peer, events) = Peer::start(config).await.unwrap();
        let upload_addr = peer.upload_addr;
        let mut p = TestPeer { peer: Some(peer), events, dir, upload_addr, _tmp: tmp };
        p.expect("connected", |e| matches!(e, NetEvent::Connected { .. })).await;
        p
    }

    pub fn send(&self, cmd: Command) {
        assert!(self.peer.as_ref().unwrap().send(cmd));
    }

    /// Skips events until one matches; returns it.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&NetEvent) -> bool) -> NetEvent {
        within(what, async {
            loop {
                let ev =
                    self.events.recv().await.unwrap_or_else(|| panic!("events ended waiting for {what}"));
                if pred(&ev) {
                    return ev;
                }
            }
        })
        .await
    }

    pub async fn advertise(&mut self) -> Vec<Record> {
        self.send(Command::Advertise);
        match self
            .expect("advertised", |e| matches!(e, NetEvent::Reply(p2pci::peer::Reply::Advertised { .. })))
            .await
        {
            NetEvent::Reply(p2pci::peer::Reply::Advertised { added, failed }) => {
                assert!(failed.is_empty(), "{failed:?}");
                added
            }
            _ => unreachable!(),
        }
    }

    pub async fn quit(mut self) {
        let peer = self.peer.take().unwrap();
        peer.send(Command::Quit);
        self.expect("closed", |e| *e == NetEvent::Closed).await;
        within("peer shutdown", peer.shutdown(Duration::from_secs(3))).await;
    }
}

/// A hand-driven client: raw bytes in, raw bytes or parsed responses out.
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: P2sResponseDecoder,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = within("connect", TcpStream::connect(addr)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream, buf: BytesMut::new(), decoder: P2sResponseDecoder::default() }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        within("send", self.stream.write_all(bytes.as_ref())).await.unwrap();
    }

    /// Sends one byte at a time, each in its own write.
    pub async fn trickle(&mut self, bytes: impl AsRef<[u8]>) {
        for b in bytes.as_ref() {
            self.send([*b]).await;
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Reads one P2S response.
    pub async fn response(&mut self) -> P2sResponse {
        within("response", async {
            loop {
                let (used, resp) = self.decoder.decode(&self.buf).expect("well-formed response");
                let _ = self.buf.split_to(used);
                if let Some(r) = resp {
                    return r;
                }
                let n = self.stream.read_buf(&mut self.buf).await.unwrap();
                assert!(n > 0, "connection closed before a whole response");
            }
        })
        .await
    }

    /// Reads exactly `n` raw bytes.
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        within("bytes", async {
            while self.buf.len() < n {
                let got = self.stream.read_buf(&mut self.buf).await.unwrap();
                assert!(
                    got > 0,
                    "closed after {} of {n} bytes: {:?}",
                    self.buf.len(),
                    String::from_utf8_lossy(&self.buf)
                );
            }
        })
        .await;
        self.buf.split_to(n).to_vec()
    }

    /// Reads everything until the other side closes.
    pub async fn until_closed(&mut self) -> Vec<u8> {
        within("to end", async {
            loop {
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        self.buf.split().to_vec()
    }

    /// Closes abruptly: a TCP reset, as a crashed peer would.
    pub fn reset(self) {
        let std = self.stream.into_std().unwrap();
        socket2::SockRef::from(&std).set_linger(Some(Duration::ZERO)).unwrap();
        drop(std);
    }
}

pub fn add(rfc: u32, host: &str, port: u16, title: &str) -> String {
    format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: {host}\r\nPort: {port}\r\nTitle: {title}\r\n\r\n")
}

pub fn lookup(rfc: u32, host: &str, port: u16) -> String {
    format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: {host}\r\nPort: {port}\r\n\r\n")
}

pub fn list(host: &str, port: u16) -> String {
    format!("LIST ALL P2P-CI/1.0\r\nHost: {host}\r\nPort: {port}\r\n\r\n")
}

pub fn rec(rfc: u32, title: &str, host: &str, port: u16) -> Record {
    Record { rfc: RfcNumber(rfc), title: title.into(), host: host.into(), port }
}

/// Raises this process's open-file soft limit to its hard limit (children
/// inherit it); returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
        lim.rlim_cur
    }
}

/// The real `p2pci` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_p2pci")
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Child(pub std::process::Child);

impl Child {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, as a crash would; waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The index server as a child process of the real binary (quiet, logging
/// only warnings), on 127.0.0.1 and `port` (0: any free port).
pub struct ChildServer {
    pub addr: SocketAddr,
    pub child: Child,
}

impl ChildServer {
    pub fn spawn(port: u16, extra: &[&str]) -> ChildServer {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(binary());
        cmd.args(["server", "--bind", "127.0.0.1", "--port", &port.to_string(), "--quiet"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Child(cmd.spawn().expect("spawn the server"));
        let stderr = child.0.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then keeps draining so the child never blocks.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("p2pci server listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                } else if tx.is_none() && !line.contains("refused") {
                    eprintln!("[server] {line}");
                }
            }
        });
        let addr = rx.recv_timeout(WAIT).expect("server printed its address");
        ChildServer { addr: addr.parse().unwrap(), child }
    }

    /// Restarts on the same port after a kill (retrying while the port is
    /// still in use for a moment).
    pub fn respawn(port: u16, extra: &[&str]) -> ChildServer {
        let start = std::time::Instant::now();
        loop {
            let attempt = std::panic::catch_unwind(|| ChildServer::spawn(port, extra));
            match attempt {
                Ok(s) => return s,
                Err(e) if start.elapsed() > WAIT => std::panic::resume_unwind(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// Every record the server at `addr` lists, through a fresh connection.
pub async fn list_of(addr: SocketAddr) -> Vec<Record> {
    let mut c = Raw::connect(addr).await;
    c.send(list("observer", 1)).await;
    c.response().await.records
}

/// Files in `dir` whose names end in `.part` (leftovers of a download).
pub fn partial_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}

/// Lines a child process writes, readable with a timeout.
pub fn lines(r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
