//! `staleness`: how long after an ADD is answered 200 by one index server
//! the record is visible to LOOKUP on another server sharing the index.
//!
//! ```text
//! cargo run --release --example staleness -- --writer 127.0.0.1:7734 \
//!     --reader 127.0.0.1:7735 --samples 500
//! ```
//!
//! One connection ADDs a fresh RFC on the writer; as soon as the 200 is
//! read, another connection LOOKUPs it on the reader over and over until it
//! is there. The time from the 200 to the first LOOKUP that finds it is one
//! sample (an upper bound: it includes the reader's LOOKUP round trips).
//! Run it alongside a load (`loadgen`) to measure staleness under load.
//! Loopback only; every wait is bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use clap::Parser;
use p2pci::protocol::response::P2sResponseDecoder;
use p2pci::protocol::{P2sResponse, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(name = "staleness", about = "Cross-server staleness of a shared index (loopback only)")]
struct Args {
    /// Server the ADDs go to.
    #[arg(long)]
    writer: SocketAddr,
    /// Server the LOOKUPs go to.
    #[arg(long)]
    reader: SocketAddr,
    /// How many ADDs to time.
    #[arg(long, default_value_t = 500)]
    samples: u32,
    /// First RFC number used (RFCs no one else adds).
    #[arg(long, default_value_t = 3_000_000)]
    base: u32,
    /// Print one JSON line with the results on stdout.
    #[arg(long)]
    json: bool,
}

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: P2sResponseDecoder,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        if !addr.ip().is_loopback() {
            bail!("refusing {addr}: not a loopback address");
        }
        let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: BytesMut::new(), decoder: P2sResponseDecoder::default() })
    }

    async fn ask(&mut self, request: &str) -> anyhow::Result<P2sResponse> {
        self.stream.write_all(request.as_bytes()).await?;
        loop {
            let (used, resp) = self.decoder.decode(&self.buf)?;
            let _ = self.buf.split_to(used);
            if let Some(r) = resp {
                return Ok(r);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = measure(&args);
    let mut samples =
        tokio::time::timeout(Duration::from_secs(120), run).await.context("gave up after 120 s")??;
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    let (p50, p99, max) = (pct(0.5), pct(0.99), pct(1.0));
    eprintln!("staleness over {} ADDs: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms", samples.len());
    if args.json {
        println!(
            "{{\"scenario\":\"staleness\",\"samples\":{},\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3},\"max_ms\":{max:.3}}}",
            samples.len()
        );
    }
    Ok(())
}

async fn measure(args: &Args) -> anyhow::Result<Vec<Duration>> {
    let mut writer = Conn::connect(args.writer).await?;
    let mut reader = Conn::connect(args.reader).await?;
    let mut samples = Vec::with_capacity(args.samples as usize);
    for i in 0..args.samples {
        let rfc = args.base + i;
        let add = format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: stale\r\nPort: 1\r\nTitle: t\r\n\r\n");
        let r = writer.ask(&add).await?;
        if r.status != Status::Ok {
            bail!("ADD {rfc} answered {:?}", r.status);
        }
        let added = Instant::now();
        let lookup = format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: reader\r\nPort: 2\r\n\r\n");
        loop {
            if !reader.ask(&lookup).await?.records.is_empty() {
                break;
            }
            if added.elapsed() > Duration::from_secs(10) {
                bail!("RFC {rfc} not visible on the reader after 10 s");
            }
        }
        samples.push(added.elapsed());
    }
    if samples.is_empty() {
        bail!("no samples");
    }
    Ok(samples)
}
