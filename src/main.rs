//! `p2pci`: the index server and the peer, behind one binary (Linux only:
//! signals are Unix signals, uploads use `sendfile(2)`).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use p2pci::cli::{Cli, Command, LogFormat, PeerArgs, ServerArgs, StoreArg};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Command::Server(args) = &cli.command
        && args.print_config
    {
        let server = matches.subcommand_matches("server").unwrap_or(&matches);
        return print_text(Ok(p2pci::cli::server_env_file(server).into_bytes()));
    }
    // Every peer is an open connection: allow as many as the system lets us.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // One event loop by default, for the server as for the peer (as Redis
    // and a one-worker nginx): on a machine whose cores the clients share,
    // wake-ups across threads cost more than a second thread gives.
    let threads = match &cli.command {
        Command::Server(args) => args.threads,
        Command::Peer(args) => args.threads,
        // Texts for the shell and man: no runtime, no logging.
        Command::Completions(args) => return print_text(Ok(p2pci::cli::completions(args.shell))),
        Command::Manpage => return print_text(p2pci::cli::manpage()),
        // Runs its own runtime and owns its exit status (0, 1 or 2).
        Command::Check(args) => return p2pci::check::command(args),
    };
    // A server logging JSON says everything on stderr as JSON, its last
    // error included.
    let json = matches!(&cli.command, Command::Server(args) if args.log_format == LogFormat::Json);
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
            Command::Completions(_) | Command::Manpage | Command::Check(_) => Ok(()),
        }
    });
    // Do not wait for blocked stdin readers and the like.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if json {
                tracing::error!("p2pci: {e:#}");
            } else {
                eprintln!("p2pci: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes a generated text on standard output; a failure to make or to
/// write it (a closed pipe) is one line on stderr and exit 1.
fn print_text(text: std::io::Result<Vec<u8>>) -> std::process::ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match text.and_then(|t| stdout.write_all(&t).and_then(|()| stdout.flush())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p2pci: cannot write the text: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Colours only for a person at a terminal who has not asked for none
/// (`NO_COLOR` set and not empty, as no-color.org says).
fn colour(is_terminal: bool, no_color: Option<OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Sets up logging through `RUST_LOG` (default `info`) to `writer`.
fn init_logging<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => logs.with_ansi(ansi).init(),
        // An event's fields at the top level, next to timestamp, level,
        // target and message: what log collectors index without help.
        LogFormat::Json => logs.json().flatten_event(true).with_ansi(false).init(),
    }
}

/// A line about the server itself on stderr: plain text for people, a log
/// event when stderr is JSON.
fn say(format: LogFormat, line: &str) {
    match format {
        LogFormat::Text => eprintln!("{line}"),
        LogFormat::Json => tracing::info!("{line}"),
    }
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let format = args.log_format;
    init_logging(
        format,
        std::io::stderr,
        colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR")),
    );
    // Registered first, so no signal can arrive unhandled (and kill the
    // server without its graceful shutdown), a Ctrl-C while the index
    // loads included.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        say(format, "p2pci server shutting down");
        trigger.cancel();
    });
    // Before the store and the server: their counters are resolved against
    // the recorder installed here (and /readyz says 503 while loading).
    if let Some(at) = args.metrics {
        let bound = p2pci::metrics::start(at, shutdown.clone()).await?;
        say(format, &format!("p2pci server metrics on http://{bound}/metrics"));
    }
    // The store first, then the listener: a server whose Redis refuses it
    // (credentials, certificate) or stays away exits before it listens,
    // rather than taking connections it cannot answer.
    let store = match &args.store {
        StoreArg::Memory => None,
        StoreArg::Redis(url) => {
            let mut config = p2pci::store::RedisConfig::new(url.clone());
            config.lease = args.lease();
            config.tls = args.redis_tls();
            // The whole index is loaded before the first peer is served; a
            // Redis that stays unreachable this long is a start-up failure
            // (one that refuses this server fails it at once).
            let loading = p2pci::store::RedisStore::connect(config, args.store_wait);
            let store = tokio::select! {
                r = loading => r.with_context(|| {
                    format!("cannot load the index from {}", p2pci::store::redis::redact(url))
                })?,
                _ = shutdown.cancelled() => return Ok(()),
            };
            say(
                format,
                &format!("p2pci server sharing its index through redis as server {:016x}", store.server_id()),
            );
            Some(std::sync::Arc::new(store))
        }
    };
    let addr = args.addr();
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    say(format, &format!("p2pci server listening on {}", listener.local_addr()?));
    match store {
        None => {
            let store = std::sync::Arc::new(p2pci::store::MemoryStore::new());
            p2pci::metrics::set_readiness(|| Ok(()));
            p2pci::server::run(listener, args.config(), store, shutdown).await;
        }
        Some(store) => {
            // Ready while Redis answers: a server cut off from it would
            // serve a stale index and record ADDs nobody else sees.
            let watched = store.clone();
            p2pci::metrics::set_readiness(move || {
                watched.is_up().then_some(()).ok_or_else(|| "the shared store (redis) does not answer".into())
            });
            p2pci::server::run(listener, args.config(), store, shutdown).await;
        }
    }
    Ok(())
}

async fn peer(args: PeerArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.log_file {
        let file =
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        init_logging(args.log_format, std::sync::Mutex::new(file), false);
    }
    if let Some(at) = args.metrics {
        // Served for as long as the process runs.
        let bound = p2pci::metrics::start(at, CancellationToken::new()).await?;
        // Resolved now, so every series is there (at zero) from the start.
        p2pci::metrics::peer();
        tracing::info!("metrics on http://{bound}/metrics");
        if args.headless {
            eprintln!("p2pci peer metrics on http://{bound}/metrics");
        }
    }
    let config = args.config();
    if !config.rfcs.is_empty() && !config.rfc_dir.is_dir() {
        let here = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        anyhow::bail!(
            "--rfcs copies RFC files from {} (--rfc-dir), which is not a folder (current directory: {here}); \
             give --rfc-dir the RFCs/ folder of a p2pci checkout",
            config.rfc_dir.display()
        );
    }
    let (peer, events) = p2pci::peer::Peer::start(config).await?;
    // Ready once its upload server listens (the index connection comes and
    // goes, and downloads need none).
    p2pci::metrics::set_readiness(|| Ok(()));
    // The front ends' typed errors end here, as the exit message.
    if args.headless {
        p2pci::headless::run(peer, events, args.headless_options()).await?;
    } else {
        p2pci::tui::run(peer, events, args.tui_options()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsString::new())));
        assert!(!colour(true, Some(OsString::from("1"))));
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsString::from("1"))));
    }
}
