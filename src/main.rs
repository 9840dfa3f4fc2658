//! `p2pci`: the index server and the peer, behind one binary.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use p2pci::cli::{Cli, Command, PeerArgs, ServerArgs};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Every peer is an open connection: allow as many as the system lets us.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // One event loop by default, for the server as for the peer (as Redis
    // and a one-worker nginx): on a machine whose cores the clients share,
    // wake-ups across threads cost more than a second thread gives.
    let threads = match &cli.command {
        Command::Server(args) => args.threads,
        Command::Peer(args) => args.threads,
    };
    let built = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads.into()).enable_all().build()
    };
    let runtime = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("p2pci: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server(args).await,
            Command::Peer(args) => peer(args).await,
        }
    });
    // Do not wait for blocked stdin readers and the like.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p2pci: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let addr = args.addr();
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!("p2pci server listening on {}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("p2pci server shutting down");
        trigger.cancel();
    });
    p2pci::server::run(listener, args.config(), shutdown).await;
    Ok(())
}

async fn peer(args: PeerArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.log_file {
        let file =
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init();
    }
    let config = args.config();
    let (peer, events) = p2pci::peer::Peer::start(config).await?;
    if args.headless {
        p2pci::headless::run(peer, events, args.advertise).await
    } else {
        p2pci::tui::run(peer, events, args.tui_options()).await
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
