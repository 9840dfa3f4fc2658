//! Command-line interface: `p2pci server` and `p2pci peer`.
//!
//! Only argument shapes and defaults live here; turning them into configs is
//! one plain function per subcommand, so both can be tested without a shell.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::peer::PeerConfig;
use crate::protocol::{Limits, RfcNumber};
use crate::server::ServerConfig;

/// The well-known port of the index server.
pub const SERVER_PORT: u16 = 7734;

#[derive(Debug, Parser)]
#[command(
    name = "p2pci",
    version,
    about = "Share RFCs peer to peer, with a central index (P2P-CI/1.0)",
    long_about = "Share RFCs peer to peer, with a central index (P2P-CI/1.0).\n\n\
        Start one index server, then any number of peers. Each peer serves the RFCs in its own\n\
        folder to other peers and can find and download theirs.",
    after_help = "Examples:\n  p2pci server\n  p2pci peer --port 2222 --host hostA --rfcs 8600 8601\n  \
        p2pci peer --host hostB --rfcs 8700 --headless"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the index server (headless; prints every request and response).
    Server(ServerArgs),
    /// Run a peer: a full-screen terminal UI, or line commands with --headless.
    Peer(PeerArgs),
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Longest request or header line, in bytes.
    #[arg(long, default_value_t = 8 * 1024, value_name = "BYTES")]
    pub max_line: usize,
    /// Largest request head, in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub max_head: usize,
    /// Most header lines in one request.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_headers: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits { max_line: self.max_line, max_head: self.max_head, max_headers: self.max_headers }
    }
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0", value_name = "ADDR")]
    pub bind: IpAddr,
    /// Port to listen on (0 picks a free one, printed at start).
    #[arg(long, default_value_t = SERVER_PORT)]
    pub port: u16,
    /// Do not print requests and responses.
    #[arg(long, short)]
    pub quiet: bool,
    /// Most peer connections at once; more are closed on arrival.
    #[arg(long, default_value_t = 16_384, value_name = "N")]
    pub max_connections: usize,
    /// Threads that serve connections. With 1, one event loop serves every
    /// peer, as Redis does: no wake-ups across threads, the fastest choice
    /// when clients share the machine's cores. More spread peers over cores.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Seconds a peer has to finish a request it has started.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub request_timeout: f64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl ServerArgs {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            limits: self.limits.limits(),
            request_timeout: secs(self.request_timeout),
            max_connections: self.max_connections,
            print: !self.quiet,
            ..ServerConfig::default()
        }
    }
}

// Doc comments here are --help text, written for a terminal, not rustdoc.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// Upload server port (0 or absent: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Hostname to advertise (default: this machine's name).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// RFC numbers to start with, copied from --rfc-dir into this peer's folder.
    #[arg(long, num_args = 1.., value_name = "N")]
    pub rfcs: Vec<u32>,
    /// Where starting RFCs are copied from.
    #[arg(long, default_value = "RFCs", value_name = "DIR")]
    pub rfc_dir: PathBuf,
    /// This peer's own RFC folder (default: ./<host>).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The index server, HOST[:PORT].
    #[arg(long, default_value = "localhost:7734", value_name = "HOST[:PORT]")]
    pub server: String,
    /// Address the upload server listens on.
    #[arg(long, default_value = "0.0.0.0", value_name = "ADDR")]
    pub bind: IpAddr,
    /// Line commands on standard input instead of the full-screen UI.
    #[arg(long)]
    pub headless: bool,
    /// Advertise every local RFC as soon as the server is reached.
    #[arg(long)]
    pub advertise: bool,
    /// ADD RFC files dropped into the folder as soon as they appear (the
    /// full-screen UI watches the folder; without this, press a).
    #[arg(long)]
    pub auto_advertise: bool,
    /// Seconds between refreshes of the Index (LIST) and the Lookup shown
    /// (LOOKUP) in the full-screen UI; 0 turns them off. A big index is
    /// listed less often: once per period for every 20,000 records.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub refresh: f64,
    /// Write a debug log to this file (the screen belongs to the UI).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Threads running the peer (its upload server, downloads, screen). One
    /// event loop serves uploads fastest when downloaders share the cores.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl PeerArgs {
    pub fn tui_options(&self) -> crate::tui::Options {
        crate::tui::Options {
            advertise: self.advertise,
            auto_advertise: self.auto_advertise,
            refresh: self.refresh(),
        }
    }

    /// `--refresh` as a period, `None` when turned off.
    pub fn refresh(&self) -> Option<Duration> {
        (self.refresh > 0.0).then(|| secs(self.refresh))
    }

    pub fn config(&self) -> PeerConfig {
        let host = self.host.clone().unwrap_or_else(machine_hostname);
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from(&host));
        let mut c = PeerConfig::new(host, server_address(&self.server), dir);
        c.upload_bind = SocketAddr::new(self.bind, self.port);
        c.rfc_dir = self.rfc_dir.clone();
        c.rfcs = self.rfcs.iter().copied().map(RfcNumber).collect();
        c.limits = self.limits.limits();
        c
    }
}

/// This machine's hostname, or `localhost` when it has none we can read.
pub fn machine_hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".into())
}

/// `HOST[:PORT]` with the well-known port filled in when absent.
pub fn server_address(s: &str) -> String {
    if s.parse::<SocketAddr>().is_ok() {
        return s.to_owned();
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return SocketAddr::new(ip, SERVER_PORT).to_string();
    }
    match s.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => s.to_owned(),
        _ => format!("{s}:{SERVER_PORT}"),
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.001)).unwrap_or(Duration::from_secs(30))
}

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_addresses() {
        assert_eq!(server_address("localhost"), "localhost:7734");
        assert_eq!(server_address("localhost:9000"), "localhost:9000");
        assert_eq!(server_address("127.0.0.1"), "127.0.0.1:7734");
        assert_eq!(server_address("::1"), "[::1]:7734");
        assert_eq!(server_address("[::1]"), "[::1]:7734");
        assert_eq!(server_address("[::1]:8000"), "[::1]:8000");
    }

    #[test]
    fn server_threads() {
        let threads = |args: &[&str]| {
            let argv = ["p2pci", "server"].iter().chain(args).copied();
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Server(a) => a.threads,
                Command::Peer(_) => unreachable!(),
            })
        };
        assert_eq!(threads(&[]).unwrap(), 1);
        let peer = Cli::try_parse_from(["p2pci", "peer", "--threads", "3"]).unwrap();
        assert!(matches!(peer.command, Command::Peer(a) if a.threads == 3));
        assert_eq!(threads(&["--threads", "4"]).unwrap(), 4);
        assert!(threads(&["--threads", "0"]).is_err());
    }

    #[test]
    fn peer_defaults() {
        let cli = Cli::try_parse_from([
            "p2pci", "peer", "--port", "2222", "--host", "hostA", "--rfcs", "8600", "8601",
        ])
        .unwrap();
        let Command::Peer(args) = cli.command else { panic!() };
        let c = args.config();
        assert_eq!(c.host, "hostA");
        assert_eq!(c.dir, PathBuf::from("hostA"));
        assert_eq!(c.server, "localhost:7734");
        assert_eq!(c.upload_bind.port(), 2222);
        assert_eq!(c.rfcs, [RfcNumber(8600), RfcNumber(8601)]);
        assert!(!args.headless);
    }
}
