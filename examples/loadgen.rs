//! `loadgen`: a bounded load generator for p2pci, and for the anchors it is
//! measured against (Redis through RESP, nginx through plain HTTP GET).
//!
//! ```text
//! cargo run --release --example loadgen -- --proto p2pci --scenario lookup \
//!     --target 127.0.0.1:7734 --conns 50 --depth 16 --k 10000 --duration 5
//! ```
//!
//! Scenarios and their anchors (the same client does the same work for each):
//!
//! | scenario | p2pci (P2P-CI/1.0)                 | redis (RESP)          | http (nginx)      |
//! |----------|------------------------------------|-----------------------|-------------------|
//! | `add`    | ADD distinct RFCs, one peer a conn | SET distinct keys     | —                 |
//! | `lookup` | LOOKUP random RFCs of K            | GET random keys of K  | —                 |
//! | `list`   | LIST ALL over K records            | LRANGE of K items     | —                 |
//! | `churn`  | peers join, ADD R, leave; lookups  | —                     | —                 |
//! | `get`    | GET RFC over and over              | —                     | GET the same file |
//! | `idle`   | hold C registered, idle peers      | —                     | —                 |
//!
//! Every run is bounded: warm-up plus duration (and `--max-ops`), then it
//! stops by itself; a watchdog ends the process if anything hangs. Only
//! loopback targets (127.0.0.0/8, ::1) are accepted.
//!
//! Output: a human summary on stderr and, with `--json`, one JSON line on
//! stdout that `benches/report.py` turns into tables and a picture.
//! Redis runs start with FLUSHALL: point it only at a scratch Redis.

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use clap::{Parser, ValueEnum};
use p2pci::protocol::{GetRequest, P2sMethod, P2sRequest, PeerId, RfcNumber};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Proto {
    P2pci,
    Redis,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Add,
    Lookup,
    List,
    Churn,
    Get,
    Idle,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", about = "Bounded load generator for p2pci, Redis and HTTP (loopback only)")]
#[command(args_override_self = true)]
struct Args {
    /// Protocol to speak.
    #[arg(long, value_enum, default_value = "p2pci")]
    proto: Proto,
    /// What to do.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// HOST:PORT of the server under test; must be loopback.
    #[arg(long)]
    target: String,
    /// Concurrent connections (for `get`: downloads at a time).
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Requests in flight per connection (pipelining; 1 = none).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds before that.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Records (keys, list items) loaded before `lookup`, `list` and `churn`.
    #[arg(long, default_value_t = 1000)]
    k: u32,
    /// Records each churning peer adds before it leaves.
    #[arg(long, default_value_t = 100)]
    r: u32,
    /// Churning peers at once (`churn`), besides the `--conns` lookup connections.
    #[arg(long, default_value_t = 4)]
    churners: usize,
    /// RFC number to GET from a p2pci upload server.
    #[arg(long, default_value_t = 1)]
    rfc: u32,
    /// Path to GET from an HTTP server.
    #[arg(long, default_value = "/rfc1.txt")]
    path: String,
    /// Length of each record's title (value) text, in bytes.
    #[arg(long, default_value_t = 40)]
    title_len: usize,
    /// Stop after this many measured operations, whatever the duration.
    #[arg(long, default_value_t = 100_000_000)]
    max_ops: u64,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to wait for any one answer before counting an error.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// A label copied into the JSON line (e.g. the repetition number).
    #[arg(long, default_value = "")]
    label: String,
    /// Print one JSON line with the results on stdout.
    #[arg(long)]
    json: bool,
    /// A local server process whose resident memory (VmRSS) to report,
    /// read before the run (before any prefill) and at the end of it.
    #[arg(long)]
    server_pid: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = loopback_target(&args.target)?;
    if args.conns == 0 || args.depth == 0 || args.duration <= 0.0 {
        bail!("--conns, --depth and --duration must be positive");
    }
    // The hard bound: whatever happens, the process ends.
    let limit = Duration::from_secs_f64(args.warmup + args.duration + args.timeout + 60.0);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("loadgen: watchdog: still running after {limit:?}; exiting");
        std::process::exit(2);
    });
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?
    };
    let report = rt.block_on(run(args.clone(), target))?;
    eprintln!("{}", report.human());
    if args.json {
        println!("{}", report.json(&args));
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// Resolves `s` and refuses anything that is not loopback.
fn loopback_target(s: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> =
        s.to_socket_addrs().with_context(|| format!("cannot resolve {s}"))?.collect();
    let Some(first) = addrs.first() else { bail!("{s} resolves to nothing") };
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!("refusing {s}: {} is not a loopback address (only 127.0.0.0/8 and ::1)", bad.ip());
    }
    Ok(*first)
}

// ---------------------------------------------------------------------------
// Measurement

/// Shared run state: when measurement starts and stops.
struct Control {
    recording: AtomicBool,
    stop: AtomicBool,
    ops: AtomicU64,
    max_ops: u64,
    timeout: Duration,
}

impl Control {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// What one task measured.
#[derive(Default)]
struct Stats {
    ops: u64,
    bytes: u64,
    errors: u64,
    /// Latencies in nanoseconds, one per measured operation.
    lat: Vec<u64>,
    /// Secondary count (churn: peers that joined and left).
    cycles: u64,
    first_error: Option<String>,
}

impl Stats {
    fn record(&mut self, ctl: &Control, lat: Duration, bytes: usize, ok: bool) {
        if !ctl.recording.load(Ordering::Relaxed) {
            return;
        }
        self.bytes += bytes as u64;
        if ok {
            self.ops += 1;
            self.lat.push(lat.as_nanos() as u64);
            if ctl.ops.fetch_add(1, Ordering::Relaxed) + 1 >= ctl.max_ops {
                ctl.stop.store(true, Ordering::Relaxed);
            }
        } else {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some("an answer with an error status".into());
            }
        }
    }

    fn error(&mut self, ctl: &Control, e: impl std::fmt::Display) {
        if ctl.recording.load(Ordering::Relaxed) && !ctl.stopped() {
            self.errors += 1;
        }
        if self.first_error.is_none() && !ctl.stopped() {
            self.first_error = Some(e.to_string());
        }
    }

    fn merge(&mut self, other: Stats) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.cycles += other.cycles;
        self.lat.extend(other.lat);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

struct Report {
    /// Server VmRSS in KiB before the run and at its end (with `--server-pid`).
    rss_kb: (u64, u64),
    proto: Proto,
    scenario: Scenario,
    secs: f64,
    stats: Stats,
    p50: f64,
    p99: f64,
    p999: f64,
}

/// The `q` quantile (0..=1) of sorted nanoseconds, in microseconds.
fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

impl Report {
    fn new(proto: Proto, scenario: Scenario, secs: f64, mut stats: Stats) -> Report {
        stats.lat.sort_unstable();
        let (p50, p99, p999) =
            (quantile_us(&stats.lat, 0.50), quantile_us(&stats.lat, 0.99), quantile_us(&stats.lat, 0.999));
        Report { rss_kb: (0, 0), proto, scenario, secs, stats, p50, p99, p999 }
    }

    fn ops_s(&self) -> f64 {
        self.stats.ops as f64 / self.secs
    }

    fn bytes_s(&self) -> f64 {
        self.stats.bytes as f64 / self.secs
    }

    fn human(&self) -> String {
        let mut s = format!(
            "{:?} {:?}: {:.0} ops/s, {:.1} MB/s, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, {} ops, {} errors in {:.2} s",
            self.proto,
            self.scenario,
            self.ops_s(),
            self.bytes_s() / 1e6,
            self.p50,
            self.p99,
            self.p999,
            self.stats.ops,
            self.stats.errors,
            self.secs
        );
        if self.stats.cycles > 0 {
            s += &format!(", {:.0} peers joined+left/s", self.stats.cycles as f64 / self.secs);
        }
        if self.rss_kb.1 > 0 {
            s += &format!(", server RSS {} KiB before, {} KiB at the end", self.rss_kb.0, self.rss_kb.1);
        }
        if let Some(e) = &self.stats.first_error {
            s += &format!("\nfirst error: {e}");
        }
        s
    }

    fn json(&self, a: &Args) -> String {
        let name = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
        format!(
            concat!(
                "{{\"proto\":\"{}\",\"scenario\":\"{}\",\"conns\":{},\"depth\":{},\"k\":{},\"r\":{},",
                "\"label\":\"{}\",\"secs\":{:.3},\"ops\":{},\"errors\":{},\"ops_s\":{:.1},\"bytes_s\":{:.1},",
                "\"p50_us\":{:.2},\"p99_us\":{:.2},\"p999_us\":{:.2},\"cycles_s\":{:.1},",
                "\"rss_before_kb\":{},\"rss_after_kb\":{}}}"
            ),
            name(&self.proto),
            name(&self.scenario),
            a.conns,
            a.depth,
            a.k,
            a.r,
            a.label.replace(['"', '\\'], ""),
            self.secs,
            self.stats.ops,
            self.stats.errors,
            self.ops_s(),
            self.bytes_s(),
            self.p50,
            self.p99,
            self.p999,
            self.stats.cycles as f64 / self.secs,
            self.rss_kb.0,
            self.rss_kb.1
        )
    }
}

// ---------------------------------------------------------------------------
// Codecs: one request encoder and one incremental response framer per
// protocol and scenario. Framers check the status and count bytes; they do
// the same (small) amount of work for every protocol, so the client costs the
// same whichever server it measures.

/// A small, fast, deterministic random source (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % u64::from(n.max(1))) as u32
    }
}

/// The title of record `n`: `title_len` bytes, distinct per RFC.
fn title(n: u32, len: usize) -> String {
    let mut t = format!("Title of RFC {n} ");
    while t.len() < len {
        t.push('x');
    }
    t.truncate(len.max(1));
    t
}

/// What one request asks for.
#[derive(Debug, Clone, Copy)]
enum Op {
    Add(u32),
    Lookup(u32),
    List,
}

/// The peer a p2pci connection speaks as.
fn bench_peer(i: usize) -> PeerId {
    PeerId { host: format!("bench{i}"), port: 1024 + (i % 60_000) as u16 }
}

/// Appends one request for `op` in protocol `proto` from connection `conn`.
fn encode(proto: Proto, conn: usize, op: Op, title_len: usize, out: &mut Vec<u8>) {
    match proto {
        Proto::P2pci => {
            let method = match op {
                Op::Add(n) => P2sMethod::Add { rfc: RfcNumber(n), title: title(n, title_len) },
                Op::Lookup(n) => P2sMethod::Lookup { rfc: RfcNumber(n), title: None },
                Op::List => P2sMethod::List,
            };
            P2sRequest { method, peer: bench_peer(conn) }.encode(out);
        }
        Proto::Redis => match op {
            // The value is the record line p2pci would send back.
            Op::Add(n) => resp(out, &["SET", &format!("rfc:{n}"), &redis_record(n, conn, title_len)]),
            Op::Lookup(n) => resp(out, &["GET", &format!("rfc:{n}")]),
            Op::List => resp(out, &["LRANGE", "rfcs", "0", "-1"]),
        },
        Proto::Http => unreachable!("http speaks only GET"),
    }
}

fn redis_record(n: u32, conn: usize, title_len: usize) -> String {
    let p = bench_peer(conn);
    format!("RFC {n} {} {} {}", title(n, title_len), p.host, p.port)
}

/// Appends a RESP array of bulk strings.
fn resp(out: &mut Vec<u8>, parts: &[&str]) {
    use std::io::Write;
    let _ = write!(out, "*{}\r\n", parts.len());
    for p in parts {
        let _ = write!(out, "${}\r\n{p}\r\n", p.len());
    }
}

/// Frames responses out of a buffer, incrementally: `pos` remembers how far
/// a long answer (a LIST) has been scanned, so it is scanned once.
#[derive(Default)]
struct Framer {
    pos: usize,
    stage: u8,
    ok: bool,
    /// RESP: bulk items still to skip in the current array.
    items: i64,
}

impl Framer {
    /// `Ok(Some((used, ok)))` once a whole response is at the start of `buf`.
    fn next(&mut self, proto: Proto, buf: &[u8]) -> Result<Option<(usize, bool)>, String> {
        match proto {
            Proto::P2pci => self.p2pci(buf),
            Proto::Redis => self.redis(buf),
            Proto::Http => Err("http responses are read by the GET loop".into()),
        }
    }

    /// Status line, empty line, record lines, empty line.
    fn p2pci(&mut self, buf: &[u8]) -> Result<Option<(usize, bool)>, String> {
        while let Some(off) = memchr::memchr(b'\n', &buf[self.pos..]) {
            let line = &buf[self.pos..self.pos + off];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.pos += off + 1;
            match self.stage {
                0 => {
                    if !line.starts_with(b"P2P-CI/1.0 ") {
                        return Err(format!("bad status line {:?}", String::from_utf8_lossy(line)));
                    }
                    self.ok = line.get(11..14) == Some(b"200");
                    self.stage = 1;
                }
                1 if line.is_empty() => self.stage = 2,
                1 => return Err("no empty line after the status line".into()),
                _ if line.is_empty() => {
                    let ok = self.ok;
                    return Ok(Some(self.finish(ok)));
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// `+OK`, `$n` bulk (or `$-1`), `*n` array of bulks, `-ERR`.
    fn redis(&mut self, buf: &[u8]) -> Result<Option<(usize, bool)>, String> {
        loop {
            let Some(off) = memchr::memchr(b'\n', &buf[self.pos..]) else { return Ok(None) };
            let line = &buf[self.pos..self.pos + off];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let after = self.pos + off + 1;
            let num = || -> Result<i64, String> {
                std::str::from_utf8(&line[1..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad RESP line {:?}", String::from_utf8_lossy(line)))
            };
            let (kind, done_item) = match line.first() {
                Some(b'+') => (true, true),
                Some(b'-') => (false, true),
                Some(b':') => (true, true),
                Some(b'$') => {
                    let n = num()?;
                    if n < 0 {
                        (false, true)
                    } else {
                        let end = after + n as usize + 2;
                        if buf.len() < end {
                            return Ok(None);
                        }
                        self.pos = end;
                        if self.items > 0 {
                            self.items -= 1;
                            if self.items == 0 {
                                return Ok(Some(self.finish(true)));
                            }
                            continue;
                        }
                        return Ok(Some(self.finish(true)));
                    }
                }
                Some(b'*') => {
                    let n = num()?;
                    self.pos = after;
                    if n <= 0 {
                        return Ok(Some(self.finish(n == 0)));
                    }
                    self.items = n;
                    continue;
                }
                _ => return Err(format!("bad RESP line {:?}", String::from_utf8_lossy(line))),
            };
            self.pos = after;
            if done_item {
                return Ok(Some(self.finish(kind)));
            }
        }
    }

    fn finish(&mut self, ok: bool) -> (usize, bool) {
        let used = self.pos;
        *self = Framer::default();
        (used, ok)
    }
}

// ---------------------------------------------------------------------------
// Connections

async fn connect(target: SocketAddr, ctl: &Control) -> anyhow::Result<TcpStream> {
    let s = tokio::time::timeout(ctl.timeout, TcpStream::connect(target))
        .await
        .context("connect timed out")?
        .context("connect")?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A request-response connection that keeps `depth` requests in flight:
/// whenever answers arrive, as many new requests go out, in one write.
struct Pipe {
    stream: TcpStream,
    proto: Proto,
    framer: Framer,
    buf: BytesMut,
    out: Vec<u8>,
    sent: VecDeque<Instant>,
}

impl Pipe {
    fn new(stream: TcpStream, proto: Proto) -> Pipe {
        Pipe {
            stream,
            proto,
            framer: Framer::default(),
            buf: BytesMut::with_capacity(64 * 1024),
            out: Vec::with_capacity(16 * 1024),
            sent: VecDeque::new(),
        }
    }

    /// Sends what `fill` encodes (one request per call, until it says no).
    async fn send(&mut self, depth: usize, mut fill: impl FnMut(&mut Vec<u8>) -> bool) -> anyhow::Result<()> {
        let now = Instant::now();
        while self.sent.len() < depth && fill(&mut self.out) {
            self.sent.push_back(now);
        }
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Waits for at least one answer; calls `on` for each complete one with
    /// its latency, size and status.
    async fn recv(
        &mut self,
        ctl: &Control,
        mut on: impl FnMut(Duration, usize, bool),
    ) -> anyhow::Result<usize> {
        let mut got = 0;
        loop {
            while let Some((used, ok)) =
                self.framer.next(self.proto, &self.buf).map_err(anyhow::Error::msg)?
            {
                let t0 = self.sent.pop_front().context("an answer to no request")?;
                on(t0.elapsed(), used, ok);
                self.buf.advance(used);
                got += 1;
            }
            if got > 0 || self.sent.is_empty() {
                return Ok(got);
            }
            if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            let n = tokio::time::timeout(ctl.timeout, self.stream.read_buf(&mut self.buf))
                .await
                .context("answer timed out")??;
            if n == 0 {
                bail!("connection closed by the server");
            }
        }
    }
}

/// Loads `k` records (p2pci: one peer that stays connected until the run
/// ends, so its records stay; Redis: K keys and a K-item list).
async fn prefill(
    a: &Args,
    target: SocketAddr,
    ctl: &Control,
    list: bool,
) -> anyhow::Result<Option<TcpStream>> {
    let mut pipe = Pipe::new(connect(target, ctl).await?, a.proto);
    if a.proto == Proto::Redis {
        pipe.send(1, |out| {
            resp(out, &["FLUSHALL"]);
            true
        })
        .await?;
        pipe.recv(ctl, |_, _, _| {}).await?;
    }
    let mut next = 1u32;
    let mut errors = 0u64;
    let owner = usize::MAX / 2;
    while next <= a.k || !pipe.sent.is_empty() {
        pipe.send(256, |out| {
            if next > a.k {
                return false;
            }
            match (a.proto, list) {
                (Proto::Redis, true) => {
                    resp(out, &["RPUSH", "rfcs", &redis_record(next, owner, a.title_len)])
                }
                (Proto::Redis, false) => {
                    resp(out, &["SET", &format!("rfc:{next}"), &redis_record(next, owner, a.title_len)])
                }
                _ => encode(a.proto, owner, Op::Add(next), a.title_len, out),
            }
            next += 1;
            true
        })
        .await?;
        pipe.recv(ctl, |_, _, ok| errors += u64::from(!ok)).await?;
    }
    if errors > 0 {
        bail!("prefill: {errors} records refused");
    }
    Ok(if a.proto == Proto::P2pci { Some(pipe.stream) } else { None })
}

/// One connection of `add`, `lookup` or `list`.
async fn request_loop(a: Arc<Args>, target: SocketAddr, ctl: Arc<Control>, conn: usize) -> Stats {
    let mut stats = Stats::default();
    let mut pipe = match connect(target, &ctl).await {
        Ok(s) => Pipe::new(s, a.proto),
        Err(e) => {
            stats.error(&ctl, e);
            return stats;
        }
    };
    let mut rng = Rng::new(conn as u64 + 1);
    let mut seq = 0u32;
    let conns = a.conns as u32;
    while !ctl.stopped() {
        let sent = pipe
            .send(a.depth, |out| {
                let op = match a.scenario {
                    // Distinct across connections: conn, conn + C, conn + 2C, …
                    Scenario::Add => {
                        seq += 1;
                        Op::Add(1 + conn as u32 + seq.wrapping_mul(conns) % (u32::MAX - conns))
                    }
                    Scenario::Lookup | Scenario::Churn => Op::Lookup(1 + rng.below(a.k)),
                    _ => Op::List,
                };
                encode(a.proto, conn, op, a.title_len, out);
                true
            })
            .await;
        if let Err(e) = sent {
            stats.error(&ctl, e);
            break;
        }
        if let Err(e) = pipe.recv(&ctl, |lat, bytes, ok| stats.record(&ctl, lat, bytes, ok)).await {
            stats.error(&ctl, e);
            break;
        }
    }
    stats
}

/// One churning peer, over and over: connect, ADD R records, leave.
async fn churn_loop(a: Arc<Args>, target: SocketAddr, ctl: Arc<Control>, id: usize) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng::new(0xC0FFEE + id as u64);
    let mut round = 0usize;
    while !ctl.stopped() {
        round += 1;
        let conn = 1_000_000 + id * 1_000_000 + round;
        let res: anyhow::Result<()> = async {
            let mut pipe = Pipe::new(connect(target, &ctl).await?, Proto::P2pci);
            let mut left = a.r;
            while left > 0 || !pipe.sent.is_empty() {
                pipe.send(a.depth.max(16), |out| {
                    if left == 0 {
                        return false;
                    }
                    left -= 1;
                    encode(Proto::P2pci, conn, Op::Add(1 + rng.below(a.k)), a.title_len, out);
                    true
                })
                .await?;
                pipe.recv(&ctl, |_, _, _| {}).await?;
            }
            Ok(())
        }
        .await;
        match res {
            Ok(()) if ctl.recording.load(Ordering::Relaxed) => stats.cycles += 1,
            Ok(()) => {}
            Err(e) => {
                stats.error(&ctl, e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    stats
}

/// One download at a time, over and over, each on its own connection (the
/// P2P-CI upload server closes after each file; HTTP asks for the same).
async fn get_loop(a: Arc<Args>, target: SocketAddr, ctl: Arc<Control>, conn: usize) -> Stats {
    let mut stats = Stats::default();
    let mut request = Vec::new();
    match a.proto {
        Proto::P2pci => GetRequest {
            rfc: RfcNumber(a.rfc),
            host: format!("bench{conn}"),
            os: Some("Linux".into()),
            want_digest: false,
        }
        .encode(&mut request),
        _ => request.extend_from_slice(
            format!("GET {} HTTP/1.1\r\nHost: bench{conn}\r\nConnection: close\r\n\r\n", a.path).as_bytes(),
        ),
    }
    let mut buf = vec![0u8; 256 * 1024];
    while !ctl.stopped() {
        let t0 = Instant::now();
        match get_once(target, &ctl, &request, &mut buf).await {
            Ok((bytes, ok)) => stats.record(&ctl, t0.elapsed(), bytes, ok),
            Err(e) => stats.error(&ctl, e),
        }
    }
    stats
}

/// One GET: returns the bytes received and whether it was a complete 200.
async fn get_once(
    target: SocketAddr,
    ctl: &Control,
    request: &[u8],
    buf: &mut [u8],
) -> anyhow::Result<(usize, bool)> {
    let mut s = connect(target, ctl).await?;
    s.write_all(request).await?;
    let mut have = 0;
    let (head_len, status, length) = loop {
        let n =
            tokio::time::timeout(ctl.timeout, s.read(&mut buf[have..])).await.context("head timed out")??;
        if n == 0 {
            bail!("closed before the head ended");
        }
        have += n;
        if let Some(h) = parse_get_head(&buf[..have])? {
            break h;
        }
        if have == buf.len() {
            bail!("head too large");
        }
    };
    let mut body = (have - head_len) as u64;
    loop {
        let n = tokio::time::timeout(ctl.timeout, s.read(buf)).await.context("body timed out")??;
        if n == 0 {
            break;
        }
        body += n as u64;
        if ctl.stopped() {
            bail!("stopped");
        }
    }
    let ok = status == 200 && Some(body) == length;
    Ok((head_len + body as usize, ok))
}

/// `(head length, status code, Content-Length)` once the head is complete.
fn parse_get_head(buf: &[u8]) -> anyhow::Result<Option<(usize, u16, Option<u64>)>> {
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else { return Ok(None) };
    let head = std::str::from_utf8(&buf[..end]).context("head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .context("bad status line")?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok());
    Ok(Some((end + 4, status, length)))
}

/// `idle`: C peers that register (one LOOKUP each) and then just stay.
async fn idle_loop(a: Arc<Args>, target: SocketAddr, ctl: Arc<Control>, conn: usize) -> Stats {
    let mut stats = Stats::default();
    let res: anyhow::Result<Pipe> = async {
        let mut pipe = Pipe::new(connect(target, &ctl).await?, Proto::P2pci);
        pipe.buf = BytesMut::with_capacity(256);
        pipe.out = Vec::with_capacity(256);
        pipe.send(1, |out| {
            encode(Proto::P2pci, conn, Op::Lookup(1), a.title_len, out);
            true
        })
        .await?;
        pipe.recv(&ctl, |_, _, _| {}).await?;
        Ok(pipe)
    }
    .await;
    match res {
        Ok(_pipe) => {
            stats.ops = 1;
            while !ctl.stopped() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Err(e) => stats.error(&ctl, e),
    }
    stats
}

async fn run(a: Args, target: SocketAddr) -> anyhow::Result<Report> {
    use Scenario as S;
    match (a.proto, a.scenario) {
        (Proto::P2pci, _) | (Proto::Redis, S::Add | S::Lookup | S::List) | (Proto::Http, S::Get) => {}
        (p, s) => bail!("scenario {s:?} has no {p:?} form"),
    }
    let ctl = Arc::new(Control {
        recording: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        max_ops: a.max_ops,
        timeout: Duration::from_secs_f64(a.timeout),
    });
    let rss_before = a.server_pid.map(rss_kb).unwrap_or(0);
    let _owner = match a.scenario {
        S::Lookup | S::Churn => prefill(&a, target, &ctl, false).await.context("prefill")?,
        S::Idle if a.k > 0 => prefill(&a, target, &ctl, false).await.context("prefill")?,
        S::List => prefill(&a, target, &ctl, true).await.context("prefill")?,
        _ => None,
    };
    let a = Arc::new(a);
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..a.conns {
        let (a, ctl) = (a.clone(), ctl.clone());
        match a.scenario {
            S::Get => tasks.spawn(get_loop(a, target, ctl, conn)),
            S::Idle => tasks.spawn(idle_loop(a, target, ctl, conn)),
            _ => tasks.spawn(request_loop(a, target, ctl, conn)),
        };
    }
    if a.scenario == S::Churn {
        for id in 0..a.churners {
            tasks.spawn(churn_loop(a.clone(), target, ctl.clone(), id));
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    ctl.recording.store(true, Ordering::Relaxed);
    // For scripts that measure around the measured part (benches/cpu.sh).
    eprintln!("loadgen: measuring");
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration);
    while Instant::now() < end && !ctl.stopped() {
        tokio::time::sleep(Duration::from_millis(20).min(end - Instant::now())).await;
    }
    eprintln!("loadgen: measured");
    let rss_after = a.server_pid.map(rss_kb).unwrap_or(0);
    ctl.stop.store(true, Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    ctl.recording.store(false, Ordering::Relaxed);
    let mut total = Stats::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.timeout);
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        total.merge(done.context("a client task panicked")?);
    }
    let mut report = Report::new(a.proto, a.scenario, secs, total);
    report.rss_kb = (rss_before, rss_after);
    Ok(report)
}

/// VmRSS of a local process, in KiB (0 when it cannot be read).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback() {
        assert!(loopback_target("127.0.0.1:7734").is_ok());
        assert!(loopback_target("127.9.9.9:1").is_ok());
        assert!(loopback_target("[::1]:80").is_ok());
        for bad in ["10.0.0.1:80", "192.168.1.1:6379", "8.8.8.8:53", "[::2]:1", "0.0.0.0:7734"] {
            assert!(loopback_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_p2pci() {
        let mut f = Framer::default();
        let two = b"P2P-CI/1.0 200 OK\r\n\r\nRFC 1 t h 1\r\n\r\nP2P-CI/1.0 404 Not Found\r\n\r\n\r\n";
        let (used, ok) = f.next(Proto::P2pci, &two[..]).unwrap().unwrap();
        assert!(ok);
        assert_eq!(used, 36);
        assert_eq!(f.next(Proto::P2pci, &two[used..]).unwrap(), Some((two.len() - used, false)));
        // Byte at a time, the framer keeps its place.
        let mut f = Framer::default();
        for cut in 0..36 {
            assert_eq!(f.next(Proto::P2pci, &two[..cut]).unwrap(), None, "{cut}");
        }
        assert_eq!(f.next(Proto::P2pci, &two[..36]).unwrap(), Some((36, true)));
    }

    #[test]
    fn frames_resp() {
        let mut f = Framer::default();
        let all = b"+OK\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n*0\r\n";
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((used, ok)) = f.next(Proto::Redis, &all[at..]).unwrap() {
            got.push((used, ok));
            at += used;
        }
        assert_eq!(got, [(5, true), (9, true), (5, false), (19, true), (4, true)]);
        assert_eq!(at, all.len());
        let mut f = Framer::default();
        for cut in 0..19 {
            assert_eq!(f.next(Proto::Redis, &all[19..19 + cut]).unwrap(), None, "{cut}");
        }
    }

    #[test]
    fn get_heads() {
        let h = b"P2P-CI/1.0 200 OK\r\nContent-Length: 12\r\n\r\nbody";
        assert_eq!(parse_get_head(h).unwrap(), Some((41, 200, Some(12))));
        assert_eq!(parse_get_head(b"HTTP/1.1 404 Not Found\r\n").unwrap(), None);
    }

    #[test]
    fn titles_and_requests() {
        assert_eq!(title(7, 20).len(), 20);
        let mut out = Vec::new();
        encode(Proto::Redis, 0, Op::Lookup(5), 40, &mut out);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$5\r\nrfc:5\r\n");
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(10) < 10));
    }
}
