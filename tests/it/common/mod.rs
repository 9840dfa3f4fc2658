//! Test harness: real servers and peers on ephemeral loopback ports, in
//! process ([`TestServer`], [`TestPeer`], the raw client [`Raw`]) or as
//! child processes of the real binary ([`Proc`], [`ChildServer`]: the one
//! way tests start `p2pci`).
//!
//! Every wait is bounded ([`within`], [`PROC_WAIT`]); a test that would hang
//! fails instead.
#![allow(dead_code)]

pub mod cut_proxy;
pub mod redis_server;
pub mod tools;

pub use self::tools::need;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use p2pci::peer::{Command, DownloadError, DownloadEvent, Holder, NetEvent, Peer, PeerConfig};
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

/// Polls `f` every 10 ms until it holds (bounded by `WAIT`).
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(what, async {
        while !f().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
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
    /// Takes a download's events until it ends: the holders that failed on
    /// the way (in order, with why) and the final event.
    pub async fn download_outcome(&mut self) -> (Vec<(Holder, DownloadError)>, DownloadEvent) {
        let mut failures = Vec::new();
        loop {
            let ev = self
                .expect("the download's outcome", |e| {
                    matches!(
                        e,
                        NetEvent::Download {
                            event: DownloadEvent::HolderFailed { .. }
                                | DownloadEvent::Done { .. }
                                | DownloadEvent::Failed { .. },
                            ..
                        }
                    )
                })
                .await;
            match ev {
                NetEvent::Download { event: DownloadEvent::HolderFailed { from, reason, .. }, .. } => {
                    failures.push((from, reason))
                }
                NetEvent::Download { event, .. } => return (failures, event),
                _ => unreachable!("expect returned an event it was not asked for"),
            }
        }
    }

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
            NetEvent::Reply(p2pci::peer::Reply::Advertised { added, failed, .. }) => {
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

    /// Reads one P2S response, or `None` when the connection ends (or
    /// fails) first: for load that a test kills the server under.
    pub async fn try_response(&mut self) -> Option<P2sResponse> {
        tokio::time::timeout(WAIT, async {
            loop {
                let (used, resp) = self.decoder.decode(&self.buf).ok()?;
                let _ = self.buf.split_to(used);
                if let Some(r) = resp {
                    return Some(r);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .ok()
        .flatten()
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
    rlimit::increase_nofile_limit(u64::MAX).expect("raising the open-file limit")
}

// The real binary.
//
// Every test that runs `p2pci` as a process starts it with `Proc` (any
// command line), `ChildServer` (the index server) or `Proc::headless_peer`,
// so that all of them get the same guarantees: the child is killed and
// reaped when the test ends, failed or not; its output is read on threads,
// so it never blocks on a full pipe; every wait on it is bounded; and a
// failing test prints what the child wrote on stderr. A program that runs
// the binary elsewhere (in a tmux pane) builds its command line from
// `binary()` and `peer_args`.

/// How long a child process gets to start, to write an awaited line, or to
/// exit: generous, for a debug build on a loaded two-core machine.
pub const PROC_WAIT: Duration = Duration::from_secs(30);

/// The path of the real `p2pci` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_p2pci")
}

/// The arguments of a peer on loopback: `peer --bind 127.0.0.1 --host HOST
/// --server SERVER --rfc-dir <the shipped RFCs> --dir DIR [--rfcs N…]`
/// (add `--headless` for line commands on stdin).
pub fn peer_args(server: SocketAddr, host: &str, dir: &Path, rfcs: &[u32]) -> Vec<String> {
    let mut args: Vec<String> =
        ["peer", "--bind", "127.0.0.1", "--host", host, "--server"].map(str::to_owned).into();
    args.push(server.to_string());
    args.push("--rfc-dir".into());
    args.push(rfc_dir().to_string_lossy().into_owned());
    args.push("--dir".into());
    args.push(dir.to_string_lossy().into_owned());
    if !rfcs.is_empty() {
        args.push("--rfcs".into());
        args.extend(rfcs.iter().map(u32::to_string));
    }
    args
}

/// The lines a child writes on one of its outputs, as they come.
struct Output {
    name: &'static str,
    rx: std::sync::mpsc::Receiver<String>,
    /// The last lines taken, for the message of a failed wait.
    seen: std::collections::VecDeque<String>,
}

impl Output {
    fn new(name: &'static str, r: impl std::io::Read + Send + 'static) -> Output {
        Output { name, rx: lines(r), seen: Default::default() }
    }

    fn keep(&mut self, line: String) {
        if self.seen.len() == 200 {
            self.seen.pop_front();
        }
        self.seen.push_back(line);
    }

    /// The next line satisfying `pred`; `Err` (saying what was seen) if
    /// none comes within `PROC_WAIT` or the output is closed first.
    fn wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> Result<String, String> {
        use std::sync::mpsc::RecvTimeoutError;
        let deadline = std::time::Instant::now() + PROC_WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.keep(line.clone());
                    if pred(&line) {
                        return Ok(line);
                    }
                }
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => format!("not within {PROC_WAIT:?}"),
                        RecvTimeoutError::Disconnected => "closed first".to_owned(),
                    };
                    let seen = Vec::from(self.seen.clone()).join("\n");
                    return Err(format!("no {what} on {} ({why}); it wrote:\n{seen}", self.name));
                }
            }
        }
    }

    /// Every line written so far and not yet taken.
    fn pending(&mut self) -> Vec<String> {
        let lines: Vec<String> = self.rx.try_iter().collect();
        for l in &lines {
            self.keep(l.clone());
        }
        lines
    }

    /// Every line until the output is closed (bounded by `PROC_WAIT`).
    fn rest(&mut self) -> Vec<String> {
        let deadline = std::time::Instant::now() + PROC_WAIT;
        let mut out = Vec::new();
        while let Ok(line) =
            self.rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            self.keep(line.clone());
            out.push(line);
        }
        out
    }
}

/// The real `p2pci` binary as a child process. Its stdin is a pipe
/// ([`Proc::say`], [`Proc::close_stdin`]); its stdout and stderr are read
/// line by line ([`Proc::wait_out`], [`Proc::wait_err`]); `RUST_LOG` is
/// `warn` unless the test's environment sets it. Killed (SIGKILL) and reaped
/// on drop; if the test is failing by then, what it wrote on stderr is
/// printed.
pub struct Proc {
    label: String,
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: Output,
    stderr: Output,
}

/// How a child process ended and everything it wrote ([`Proc::finish`]).
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Proc {
    /// Starts `p2pci ARGS…`.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Proc {
        Proc::spawn_with(args, |_| {})
    }

    /// [`Proc::spawn`], with `tune` given the command before it starts (to
    /// set or remove environment variables; its pipes stay as they are).
    pub fn spawn_with<S: AsRef<std::ffi::OsStr>>(
        args: impl IntoIterator<Item = S>,
        tune: impl FnOnce(&mut std::process::Command),
    ) -> Proc {
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(binary());
        cmd.args(args);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        tune(&mut cmd);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let label = cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start p2pci {label}: {e}"));
        let stdout = Output::new("stdout", child.stdout.take().unwrap());
        let stderr = Output::new("stderr", child.stderr.take().unwrap());
        Proc { label: format!("p2pci {label}"), stdin: child.stdin.take(), child, stdout, stderr }
    }

    /// A headless peer on loopback ([`peer_args`] plus `--headless` and
    /// `extra`), its folder `dir`.
    pub fn headless_peer(server: SocketAddr, host: &str, dir: &Path, rfcs: &[u32], extra: &[&str]) -> Proc {
        let mut args = peer_args(server, host, dir, rfcs);
        args.push("--headless".into());
        args.extend(extra.iter().map(|a| a.to_string()));
        Proc::spawn(args)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to its stdin.
    pub fn say(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).expect("writing to the child's stdin");
    }

    /// Writes `bytes` to its stdin as they are (no line end added). The
    /// pipe is non-blocking meanwhile, so a child that stops reading fails
    /// the test within `PROC_WAIT` instead of hanging it.
    pub fn feed(&mut self, bytes: &[u8]) {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let fd = stdin.as_raw_fd();
        // SAFETY: fcntl on a descriptor the pipe owns, open for the calls.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert!(flags >= 0 && unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } == 0);
        let deadline = std::time::Instant::now() + PROC_WAIT;
        let mut at = 0;
        while at < bytes.len() {
            match stdin.write(&bytes[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let label = &self.label;
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{label} took {at} of {} bytes on stdin, then nothing for {PROC_WAIT:?}",
                        bytes.len()
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("writing to the child's stdin: {e}"),
            }
        }
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }, 0);
    }

    /// Closes its stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line on stdout satisfying `pred` and returns it; lines
    /// before it are skipped.
    pub fn wait_out(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let label = &self.label;
        self.stdout.wait(what, pred).unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    /// [`Proc::wait_out`] on stderr.
    pub fn wait_err(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let label = &self.label;
        self.stderr.wait(what, pred).unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    /// Sends a signal by name (`"TERM"`, `"KILL"`, …) without waiting.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} {}", self.pid());
    }

    /// SIGKILL, as a crash would; returns once the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (at most `PROC_WAIT`) for it to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + PROC_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "{} did not exit within {PROC_WAIT:?}", self.label);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes its stdin, waits for it to exit, and returns its status and
    /// everything it wrote that was not taken yet: for commands that run
    /// to completion (`--help`, a start that must fail).
    pub fn finish(mut self) -> Finished {
        self.close_stdin();
        let status = self.wait_exit();
        let stdout = self.stdout.rest().join("\n");
        let stderr = self.stderr.rest().join("\n");
        Finished { status, stdout, stderr }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            self.stderr.pending();
            let seen = Vec::from(self.stderr.seen.clone());
            eprintln!("--- {} wrote on stderr (last {} lines):", self.label, seen.len());
            for line in seen {
                eprintln!("    {line}");
            }
        }
    }
}

/// The index server as a child process of the real binary, on 127.0.0.1:
/// quiet (no transcript) with [`ChildServer::spawn`], printing it on stdout
/// with [`ChildServer::printing`]. Given `--metrics` among its options, it
/// also knows where it serves `/metrics` ([`ChildServer::metrics`]).
pub struct ChildServer {
    pub addr: SocketAddr,
    pub proc: Proc,
    metrics: Option<SocketAddr>,
}

impl ChildServer {
    /// On a free port, quiet; `extra` are more server options.
    pub fn spawn(extra: &[&str]) -> ChildServer {
        ChildServer::spawn_with(extra, |_| {})
    }

    /// [`ChildServer::spawn`], with `tune` given the command before it
    /// starts (as [`Proc::spawn_with`]: to set environment variables).
    pub fn spawn_with(extra: &[&str], tune: impl Fn(&mut std::process::Command)) -> ChildServer {
        ChildServer::start(0, true, extra, &tune).unwrap_or_else(|e| panic!("{e}"))
    }

    /// On a free port, printing every request and response on stdout
    /// (read them with `proc.wait_out`).
    pub fn printing(extra: &[&str]) -> ChildServer {
        ChildServer::start(0, false, extra, &|_| {}).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Quiet, on `port` again after a kill: retries while the port is still
    /// taken for a moment (at most `PROC_WAIT`).
    pub fn respawn(port: u16, extra: &[&str]) -> ChildServer {
        let deadline = std::time::Instant::now() + PROC_WAIT;
        loop {
            match ChildServer::start(port, true, extra, &|_| {}) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() >= deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The command line of a quiet server on a free port: `server --bind
    /// 127.0.0.1 --port 0 --quiet EXTRA…`, for a test that runs it by hand
    /// (a start that must fail: `Proc::spawn(ChildServer::args(..)).finish()`).
    pub fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        ChildServer::command_line("0", true, extra)
    }

    fn command_line<'a>(port: &'a str, quiet: bool, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["server", "--bind", "127.0.0.1", "--port", port];
        if quiet {
            args.push("--quiet");
        }
        args.extend(extra);
        args
    }

    /// Where it serves `/metrics`; it must have been started with
    /// `--metrics`.
    pub fn metrics(&self) -> SocketAddr {
        self.metrics.expect("a server started with --metrics")
    }

    /// Starts one and waits for the line that gives its address (and,
    /// with `--metrics`, the one before it that gives the metrics address);
    /// `Err` if it exits first (the port is taken) or says nothing in time.
    fn start(
        port: u16,
        quiet: bool,
        extra: &[&str],
        tune: &dyn Fn(&mut std::process::Command),
    ) -> Result<ChildServer, String> {
        let port = port.to_string();
        let mut proc = Proc::spawn_with(ChildServer::command_line(&port, quiet, extra), tune);
        let mut after = |what: &str, prefix: &str| {
            let line = proc.stderr.wait(what, |l| l.starts_with(prefix));
            line.map(|l| l[prefix.len()..].trim().to_owned()).map_err(|e| format!("{}: {e}", proc.label))
        };
        // Said before it listens (main.rs: metrics, then store, then listener).
        let metrics = if extra.contains(&"--metrics") {
            let url = after("metrics line", "p2pci server metrics on http://")?;
            let at = url.strip_suffix("/metrics").and_then(|a| a.parse().ok());
            Some(at.unwrap_or_else(|| panic!("an address in the metrics URL: {url}")))
        } else {
            None
        };
        let addr = after("listening line", "p2pci server listening on ")?;
        let addr = addr.parse().unwrap_or_else(|e| panic!("an address after 'listening on' ({e}): {addr}"));
        Ok(ChildServer { addr, proc, metrics })
    }
}

/// Reads one request head, up to and including its blank line, a byte at
/// a time (so nothing after it is taken); `None` if the connection ends
/// first. For stand-in servers and peers written by hand.
pub async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            return None;
        }
        head.push(b[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// `v` in one fixed order (RFC, host, port, title): to compare what
/// servers sharing one index list, each in an order of its own.
pub fn sorted(mut v: Vec<Record>) -> Vec<Record> {
    v.sort_by(|a, b| (a.rfc, &a.host, a.port, &a.title).cmp(&(b.rfc, &b.host, b.port, &b.title)));
    v
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
