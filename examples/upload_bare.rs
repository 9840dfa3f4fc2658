//! The upload server alone, without a peer around it, to tell its own cost
//! from its front end's (see BENCHMARKS.md): serves `--dir` on loopback for
//! `--secs` seconds, then exits. `--events none` reports nothing (as a peer
//! with no front end would), `--events drop` reports every event into a
//! channel whose receiver drops them, `--events print` formats them as the
//! headless peer does and writes them to standard output.
//!
//!     cargo run --release --example upload_bare -- --dir FOLDER --port 17736 --secs 30 --events none

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use p2pci::peer::upload::{UploadConfig, run};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = arg(&args, "--dir").ok_or_else(|| anyhow::anyhow!("--dir FOLDER is required"))?;
    let port: u16 = arg(&args, "--port").unwrap_or_else(|| "0".into()).parse()?;
    let secs: u64 = arg(&args, "--secs").unwrap_or_else(|| "30".into()).parse()?;
    let mode = arg(&args, "--events").unwrap_or_else(|| "none".into());
    // Loopback only, and bounded in time.
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    eprintln!("upload_bare on {} for {secs} s, events: {mode}", listener.local_addr()?);
    let events = match mode.as_str() {
        "none" => None,
        "drop" | "print" => {
            let (tx, mut rx) = mpsc::channel(4096);
            let print = mode == "print";
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    if print {
                        let mut text = String::new();
                        for l in p2pci::headless::describe(&ev) {
                            text.push_str(&l);
                            text.push('\n');
                        }
                        let _ = std::io::stdout().lock().write_all(text.as_bytes());
                    }
                }
            });
            Some(tx)
        }
        other => anyhow::bail!("--events none|drop|print, not {other:?}"),
    };
    let shutdown = CancellationToken::new();
    let config = UploadConfig::new(dir.into(), "Linux".into());
    let server = tokio::spawn(run(listener, config, events, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(())
}
