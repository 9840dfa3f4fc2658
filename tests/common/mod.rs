//! Test harness: real servers and peers on ephemeral loopback ports.
//!
//! Every wait is bounded ([`within`]); a test that would hang fails instead.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use p2pci::index::Index;
use p2pci::peer::{Command, NetEvent, Peer, PeerConfig};
use p2pci::protocol::response::P2sResponseDecoder;
use p2pci::protocol::{P2sResponse, Record, RfcNumber};
use p2pci::server::ServerConfig;
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
    pub index: Arc<Mutex<Index>>,
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
        let index = Arc::new(Mutex::new(Index::new()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(p2pci::server::serve(listener, config, index.clone(), shutdown.clone()));
        TestServer { addr, index, shutdown, task: Some(task) }
    }

    pub fn records(&self) -> Vec<Record> {
        self.index.lock().unwrap().list()
    }

    pub fn peer_count(&self) -> usize {
        self.index.lock().unwrap().peer_count()
    }

    /// Waits until the index satisfies `pred` (removal happens when the
    /// server notices a closed connection, a moment after the close).
    pub async fn until(&self, what: &str, pred: impl Fn(&Index) -> bool) {
        within(what, async {
            while !pred(&self.index.lock().unwrap()) {
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
