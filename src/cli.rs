//! Command-line interface: `p2pci server` and `p2pci peer`, and the
//! `completions` and `manpage` texts drawn from the same definition.
//!
//! Only argument shapes and defaults live here; turning them into configs is
//! one plain function per subcommand, so both can be tested without a shell.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::peer::PeerConfig;
use crate::protocol::{Limits, RfcNumber};
use crate::server::ServerConfig;

/// The well-known port of the index server.
pub const SERVER_PORT: u16 = 7734;

#[derive(Debug, Parser)]
#[command(
    name = "p2pci",
    // The package version, and the git commit when built from a checkout
    // (build.rs).
    version = env!("P2PCI_VERSION"),
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
    /// Print a shell completion script on standard output.
    ///
    /// For bash, in this shell: source <(p2pci completions bash)
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on standard output.
    ///
    /// To read it: p2pci manpage | man -l -
    Manpage,
    /// Check another implementation against docs/PROTOCOL.md.
    Check(crate::check::CheckArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The completion script for `shell`, whole (written at once, so a closed
/// pipe is an error to report, not a panic inside the generator).
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "p2pci", &mut script);
    script
}

/// The manual page in roff, one page for the whole binary: name, synopsis,
/// description, the commands (listed by name, not as pages of their own such
/// as p2pci-server(1), which are not made), every option of `server` and of
/// `peer` under a heading of its own, examples, version.
pub fn manpage() -> std::io::Result<Vec<u8>> {
    use roff::{Roff, bold, roman};
    let mut cli = Cli::command();
    // Built first, so each subcommand has its --help to list with the rest.
    cli.build();
    let man = clap_mangen::Man::new(cli.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands.control("TP", []);
        commands.text([bold(format!("p2pci {}", sub.get_name()))]);
        commands.text([roman(sub.get_about().map(ToString::to_string).unwrap_or_default())]);
    }
    commands.to_writer(&mut page)?;
    for (name, heading) in [("server", "Server options"), ("peer", "Peer options")] {
        if let Some(sub) = cli.find_subcommand(name) {
            let sub = sub.clone().mut_args(|a| a.help_heading(heading));
            clap_mangen::Man::new(sub).render_options_section(&mut page)?;
        }
    }
    if let Some(after) = cli.get_after_help() {
        let mut examples = Roff::new();
        examples.control("SH", ["EXAMPLES"]).control("nf", []);
        // The help's own "Examples:" line is the heading here.
        for line in after.to_string().lines().skip(1) {
            examples.text([roman(line.trim())]);
        }
        examples.control("fi", []).to_writer(&mut page)?;
    }
    man.render_version_section(&mut page)?;
    Ok(page)
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
#[command(
    mut_arg("max_line", |a| a.env("P2PCI_MAX_LINE")),
    mut_arg("max_head", |a| a.env("P2PCI_MAX_HEAD")),
    mut_arg("max_headers", |a| a.env("P2PCI_MAX_HEADERS"))
)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "P2PCI_BIND", default_value = "0.0.0.0", value_name = "ADDR")]
    pub bind: IpAddr,
    /// Port to listen on (0 picks a free one, printed at start).
    #[arg(long, env = "P2PCI_PORT", default_value_t = SERVER_PORT)]
    pub port: u16,
    /// Do not print requests and responses.
    #[arg(long, env = "P2PCI_QUIET", short)]
    pub quiet: bool,
    /// Most peer connections at once; more are closed on arrival.
    #[arg(long, env = "P2PCI_MAX_CONNECTIONS", default_value_t = 16_384, value_name = "N")]
    pub max_connections: usize,
    /// Most connections at once from one source address (IP, any port);
    /// more from it are closed on arrival, while other addresses are still
    /// served. Behind NAT every peer shares one address: raise it to the
    /// number of peers expected there.
    #[arg(long, env = "P2PCI_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_address: u64,
    /// Threads that serve connections. With 1, one event loop serves every
    /// peer, as Redis does: no wake-ups across threads, the fastest choice
    /// when clients share the machine's cores. More spread peers over cores.
    #[arg(long, env = "P2PCI_THREADS", default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Time a peer has to finish a request it has started (seconds, or with
    /// a unit: 500ms, 2m).
    #[arg(long, env = "P2PCI_REQUEST_TIMEOUT", default_value = "30", value_name = "SECS", value_parser = parse_timeout)]
    pub request_timeout: Duration,
    /// Time a peer has to take an answer; one that stops reading is closed.
    #[arg(long, env = "P2PCI_WRITE_TIMEOUT", default_value = "30", value_name = "SECS", value_parser = parse_timeout)]
    pub write_timeout: Duration,
    /// Serve Prometheus metrics on http://ADDR:PORT/metrics (off by default).
    #[arg(long, env = "P2PCI_METRICS", value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Log lines on standard error as text, or one JSON object per line.
    #[arg(long, env = "P2PCI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where the index lives: `memory` (this process alone), or an index
    /// shared by every server using one Redis: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`,
    /// `rediss://…` (TLS), or `redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]`
    /// (the master a set of Sentinels names, followed through failovers).
    /// Give a password through the environment, not on the command line.
    #[arg(
        long,
        env = "P2PCI_STORE",
        hide_env_values = true,
        default_value = "memory",
        value_name = "memory|redis://…|rediss://…|redis+sentinel://…",
        value_parser = StoreParser
    )]
    pub store: StoreArg,
    /// With rediss://: the CA certificates (PEM) to trust instead of the
    /// system's (which SSL_CERT_FILE or SSL_CERT_DIR may also name).
    #[arg(long, env = "P2PCI_REDIS_CA", value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,
    /// With rediss://: this server's certificate (PEM), for a Redis that
    /// asks clients for one (tls-auth-clients, Redis's default); needs --redis-key.
    #[arg(long, env = "P2PCI_REDIS_CERT", value_name = "FILE", requires = "redis_key")]
    pub redis_cert: Option<PathBuf>,
    /// With rediss://: the key (PEM) of --redis-cert.
    #[arg(long, env = "P2PCI_REDIS_KEY", value_name = "FILE", requires = "redis_cert")]
    pub redis_key: Option<PathBuf>,
    /// With a shared store: seconds after which a server that stopped
    /// renewing its lease counts as dead and its peers' records are removed.
    #[arg(long, env = "P2PCI_LEASE", default_value = "10", value_name = "SECS", value_parser = parse_lease)]
    pub lease: Duration,
    /// With a shared store: how long a starting server keeps trying to
    /// reach a Redis that does not answer (it may be starting too) before
    /// it exits; it listens only once the index is loaded. A Redis that
    /// refuses the server (credentials, certificate) fails it at once.
    #[arg(long, env = "P2PCI_STORE_WAIT", default_value = "30", value_name = "SECS", value_parser = parse_duration)]
    pub store_wait: Duration,
    /// Most records one peer may hold; an ADD past it gets 400 (the
    /// connection stays usable).
    #[arg(long, env = "P2PCI_MAX_RECORDS_PER_PEER", default_value_t = 20_000, value_name = "N")]
    pub max_records_per_peer: usize,
    /// Memory budget of the whole index (of every server sharing it, with
    /// --store redis): record lines and the index's own overhead, counted
    /// per record. An ADD past it gets 400. Bytes, or with a unit (KiB,
    /// MiB, GiB; K, M, G are the same; KB, MB, GB are powers of 1000).
    #[arg(long, env = "P2PCI_MAX_INDEX_MEMORY", default_value = "1GiB", value_name = "SIZE", value_parser = parse_size)]
    pub max_index_memory: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Print the settings this server would run with (defaults, environment
    /// and flags merged) as an environment file, and exit. Passwords are
    /// shown as ***.
    #[arg(long)]
    pub print_config: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event (coloured only on a terminal).
    Text,
    /// For log collectors: one JSON object per line.
    Json,
}

/// The server's `--store`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreArg {
    Memory,
    /// A `redis://`, `rediss://` or `redis+sentinel://` URL, checked by
    /// [`Target::parse`](crate::store::redis::Target::parse).
    Redis(String),
}

/// Without the password, should it be printed.
impl std::fmt::Debug for StoreArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreArg::Memory => f.write_str("Memory"),
            StoreArg::Redis(url) => write!(f, "Redis({:?})", crate::store::redis::redact(url)),
        }
    }
}

fn parse_store(s: &str) -> Result<StoreArg, String> {
    if s == "memory" {
        return Ok(StoreArg::Memory);
    }
    match crate::store::redis::Target::parse(s) {
        Ok(_) => Ok(StoreArg::Redis(s.to_owned())),
        Err(e) if s.contains("://") => Err(e),
        Err(_) => Err("expected `memory`, `redis://…`, `rediss://…` or `redis+sentinel://…`".into()),
    }
}

/// `--store`'s parser. Not a plain function parser, since clap's error for
/// one repeats the value given, and a store URL may hold a password.
#[derive(Clone)]
struct StoreParser;

impl clap::builder::TypedValueParser for StoreParser {
    type Value = StoreArg;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreArg, clap::Error> {
        let fail = |msg: String| {
            let mut cmd = cmd.clone();
            cmd.error(clap::error::ErrorKind::ValueValidation, format!("invalid --store: {msg}"))
        };
        let s = value.to_str().ok_or_else(|| fail("not UTF-8".into()))?;
        parse_store(s).map_err(fail)
    }
}

fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err("a lease must be at least 0.1 s".into());
    }
    Ok(d)
}

/// A timeout: a duration, and never zero (that would close every peer).
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("a timeout must be more than 0".into());
    }
    Ok(d)
}

/// A duration: seconds (`30`, `2.5`) or a number with a unit (`500ms`,
/// `10s`, `2m`). Negative, NaN, infinite and out-of-range values are errors,
/// never clamped: a typo must not silently run with some other timeout.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim_start());
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?} is not a duration (say 30, 2.5, 500ms or 2m)")),
    };
    let n: f64 = number.parse().map_err(|_| format!("{s:?} is not a duration (say 30, 2.5, 500ms or 2m)"))?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("{s:?} is out of range"))
}

/// `p2pci server --print-config`: the settings a server would run with,
/// from the matches of its arguments (defaults, environment and flags as
/// clap merged them: a flag over the environment over the default), as an
/// environment file in the order of `--help`: `P2PCI_NAME=value` lines that
/// systemd's `EnvironmentFile=` and `set -a; . FILE` both read, so the
/// output can be fed back as it is. An option that is not set is a
/// comment (an empty variable would set it to ""). A password in the store
/// URL is printed as `***`, with a comment saying so.
pub fn server_env_file(matches: &clap::ArgMatches) -> String {
    let cli = Cli::command();
    let mut out = String::from(
        "# p2pci server settings (p2pci server --print-config).\n\
         # Read back by systemd's EnvironmentFile=, or in sh: set -a; . FILE; set +a\n",
    );
    let Some(server) = cli.find_subcommand("server") else { return out };
    for arg in server.get_arguments() {
        let Some(env) = arg.get_env().and_then(|e| e.to_str()) else { continue };
        let id = arg.get_id().as_str();
        let raw: Option<Vec<String>> = matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect());
        let Some(values) = raw else {
            out.push_str(&format!("# {env}=  (not set)\n"));
            continue;
        };
        let mut value = values.join(",");
        if id == "store" {
            let shown = crate::store::redis::redact(&value);
            if shown != value {
                out.push_str(&format!("# {env}: the password is not shown; put it back for use\n"));
                value = shown;
            }
        }
        out.push_str(&format!("{env}={}\n", env_quote(&value)));
    }
    out
}

/// A value for an environment file: bare when it is only characters that
/// neither sh nor systemd treat specially, else in single quotes (taken
/// literally by both), else in double quotes with `\\`, `"`, `$` and `` ` ``
/// escaped.
fn env_quote(v: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@,+%=[]".contains(c);
    if !v.is_empty() && v.chars().all(plain) {
        v.to_owned()
    } else if !v.contains(['\'', '\n', '\\']) {
        format!("'{v}'")
    } else {
        let mut q = String::from('"');
        for c in v.chars() {
            if matches!(c, '\\' | '"' | '$' | '`') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    }
}

impl ServerArgs {
    /// The lease a shared store renews.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The TLS files for a `rediss://` store.
    pub fn redis_tls(&self) -> crate::store::redis::TlsFiles {
        crate::store::redis::TlsFiles {
            ca: self.redis_ca.clone(),
            cert: self.redis_cert.clone(),
            key: self.redis_key.clone(),
        }
    }

    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            limits: self.limits.limits(),
            request_timeout: self.request_timeout,
            write_timeout: self.write_timeout,
            max_connections: self.max_connections,
            max_connections_per_address: usize::try_from(self.max_connections_per_address)
                .unwrap_or(usize::MAX),
            print: !self.quiet,
            caps: crate::index::Caps {
                records_per_peer: self.max_records_per_peer,
                memory: self.max_index_memory,
            },
            ..ServerConfig::default()
        }
    }
}

// Doc comments here are --help text, written for a terminal, not rustdoc.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(Debug, Args)]
#[command(
    mut_arg("max_line", |a| a.env("P2PCI_PEER_MAX_LINE")),
    mut_arg("max_head", |a| a.env("P2PCI_PEER_MAX_HEAD")),
    mut_arg("max_headers", |a| a.env("P2PCI_PEER_MAX_HEADERS"))
)]
pub struct PeerArgs {
    /// Upload server port (0 or absent: any free port).
    #[arg(long, env = "P2PCI_PEER_PORT", default_value_t = 0)]
    pub port: u16,
    /// Hostname to advertise (default: this machine's name).
    #[arg(long, env = "P2PCI_PEER_HOST", value_name = "NAME")]
    pub host: Option<String>,
    /// RFC numbers to start with, copied from --rfc-dir into this peer's folder.
    #[arg(long, env = "P2PCI_PEER_RFCS", num_args = 1.., value_delimiter = ',', value_name = "N")]
    pub rfcs: Vec<u32>,
    /// Where starting RFCs are copied from (default: ./RFCs if it exists,
    /// else the RFCs/ folder of the source p2pci was built from).
    #[arg(long, env = "P2PCI_PEER_RFC_DIR", value_name = "DIR")]
    pub rfc_dir: Option<PathBuf>,
    /// This peer's own RFC folder (default: ./<host>).
    #[arg(long, env = "P2PCI_PEER_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The index server, HOST[:PORT] (port 7734 when absent). A comma-separated
    /// list names several: the peer uses the first that answers and, when
    /// its connection is lost, moves to the next and advertises again there.
    #[arg(
        long,
        env = "P2PCI_PEER_SERVER",
        default_value = "localhost:7734",
        value_name = "HOST[:PORT][,HOST[:PORT]...]",
        value_delimiter = ',',
        value_parser = parse_server
    )]
    pub server: Vec<String>,
    /// Address the upload server listens on.
    #[arg(long, env = "P2PCI_PEER_BIND", default_value = "0.0.0.0", value_name = "ADDR")]
    pub bind: IpAddr,
    /// Line commands on standard input instead of the full-screen UI.
    #[arg(long, env = "P2PCI_PEER_HEADLESS")]
    pub headless: bool,
    /// Advertise every local RFC as soon as the server is reached.
    #[arg(long, env = "P2PCI_PEER_ADVERTISE")]
    pub advertise: bool,
    /// ADD RFC files dropped into the folder as soon as they appear (the
    /// folder is always watched: without this, new files are listed, and
    /// ADDed by a or the headless `advertise`; removed ones are withdrawn).
    #[arg(long, env = "P2PCI_PEER_AUTO_ADVERTISE")]
    pub auto_advertise: bool,
    /// With --headless: the end of standard input acts as `close` (the
    /// commands before it finish, then the peer leaves). Without it the
    /// peer keeps serving after its input ends.
    #[arg(long, env = "P2PCI_PEER_EXIT_ON_EOF")]
    pub exit_on_eof: bool,
    /// Seconds between refreshes of the Index (LIST) and the Lookup shown
    /// (LOOKUP) in the full-screen UI; 0 turns them off. A big index is
    /// listed less often: once per period for every 20,000 records.
    #[arg(long, env = "P2PCI_PEER_REFRESH", default_value = "10", value_name = "SECS", value_parser = parse_duration)]
    pub refresh: Duration,
    /// Write a debug log to this file (the screen belongs to the UI).
    #[arg(long, env = "P2PCI_PEER_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Threads running the peer (its upload server, downloads, screen). One
    /// event loop serves uploads fastest when downloaders share the cores.
    #[arg(long, env = "P2PCI_PEER_THREADS", default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Most upload connections at once. When full, the oldest connection
    /// that has not sent its whole GET is closed for a newcomer, so idle or
    /// half-sent sockets cannot lock downloaders out.
    #[arg(long, env = "P2PCI_PEER_UPLOAD_MAX_CONNECTIONS", default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_max_connections: u64,
    /// Most upload connections at once from one source address (IP, any
    /// port); more from it are closed on arrival.
    #[arg(long, env = "P2PCI_PEER_UPLOAD_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_max_connections_per_address: u64,
    /// Largest file this peer downloads, as announced by the uploader:
    /// bytes, or with a unit (KiB, MiB, GiB; K, M, G are the same; KB, MB,
    /// GB are powers of 1000).
    #[arg(long, env = "P2PCI_PEER_MAX_DOWNLOAD", default_value = "256MiB", value_name = "SIZE", value_parser = parse_size)]
    pub max_download: u64,
    /// Slowest a holder may send a download, per second, averaged over 10 s
    /// (a size: 1KiB, 512, 2MiB); a slower one fails and the next holder is
    /// tried. 0 turns the check off.
    #[arg(long, env = "P2PCI_PEER_MIN_DOWNLOAD_RATE", default_value = "1KiB", value_name = "SIZE", value_parser = parse_size)]
    pub min_download_rate: u64,
    /// The span --min-download-rate is averaged over (for tests).
    #[arg(long, env = "P2PCI_PEER_DOWNLOAD_RATE_WINDOW", default_value = "10s", value_name = "DURATION", value_parser = parse_timeout, hide = true)]
    pub download_rate_window: Duration,
    /// Serve Prometheus metrics on http://ADDR:PORT/metrics (off by default).
    #[arg(long, env = "P2PCI_PEER_METRICS", value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Format of the --log-file lines: text, or one JSON object per line.
    #[arg(long, env = "P2PCI_PEER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
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

    pub fn headless_options(&self) -> crate::headless::Options {
        crate::headless::Options { advertise: self.advertise, exit_on_eof: self.exit_on_eof }
    }

    /// `--refresh` as a period, `None` when turned off.
    pub fn refresh(&self) -> Option<Duration> {
        (!self.refresh.is_zero()).then_some(self.refresh)
    }

    pub fn config(&self) -> PeerConfig {
        let host = self.host.clone().unwrap_or_else(machine_hostname);
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from(&host));
        let mut c = PeerConfig::new(host, String::new(), dir);
        c.servers = self.server.clone();
        c.upload_bind = SocketAddr::new(self.bind, self.port);
        c.rfc_dir = self.rfc_dir.clone().unwrap_or_else(|| default_rfc_dir(Path::new(SHIPPED_RFCS)));
        c.rfcs = self.rfcs.iter().copied().map(RfcNumber).collect();
        c.limits = self.limits.limits();
        c.upload_max_connections = usize::try_from(self.upload_max_connections).unwrap_or(usize::MAX);
        c.upload_max_connections_per_address =
            usize::try_from(self.upload_max_connections_per_address).unwrap_or(usize::MAX);
        c.max_download = self.max_download;
        c.min_download_rate = self.min_download_rate;
        c.download_rate_window = self.download_rate_window;
        c.watch = true;
        c.advertise_new = self.auto_advertise;
        c
    }
}

/// A size: `4096`, `512KiB`, `256MiB`, `1.5GiB`, `10MB`, `2 G` (case and a
/// blank before the unit do not matter).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim_start());
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("unknown unit {unit:?} (use bytes, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)")),
    };
    let bad = || format!("{s:?} is not a size (say 4096, 512KiB or 256MiB)");
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n.checked_mul(scale).ok_or_else(|| format!("{s:?} is too large"));
    }
    let n: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (n * scale as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{s:?} is too large"));
    }
    Ok(bytes as u64)
}

/// The RFC texts shipped with the source this binary was built from (a
/// checkout, or the package `cargo install` unpacked).
pub const SHIPPED_RFCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/RFCs");

/// Where `--rfcs` copies from when `--rfc-dir` is not given: `./RFCs`, as in
/// a checkout, else the RFCs shipped with the source (`shipped`), so that
/// an installed `p2pci` run from anywhere still finds them. When neither
/// exists, `./RFCs`, whose absence the error then names.
pub fn default_rfc_dir(shipped: &Path) -> PathBuf {
    let here = PathBuf::from("RFCs");
    if here.is_dir() || !shipped.is_dir() { here } else { shipped.to_owned() }
}

/// This machine's hostname, or `localhost` when it has none we can read.
pub fn machine_hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".into())
}

/// One entry of `--server`: `HOST[:PORT]`, with the well-known port filled
/// in when absent.
fn parse_server(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!("{s:?} is not HOST[:PORT]"));
    }
    Ok(server_address(s))
}

/// `HOST[:PORT]` with the well-known port filled in when absent.
pub fn server_address(s: &str) -> String {
    match crate::protocol::address::split_host_port(s) {
        (host, Some(port)) => crate::protocol::address::join_host_port(host, port),
        (host, None) => crate::protocol::address::join_host_port(host, SERVER_PORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every option of `server` has a `P2PCI_…` variable and every option
    /// of `peer` a `P2PCI_PEER_…` one (actions such as --help and
    /// --print-config aside), one name each.
    #[test]
    fn every_option_has_a_variable() {
        let cli = Cli::command();
        for (sub, prefix) in [("server", "P2PCI_"), ("peer", "P2PCI_PEER_")] {
            let cmd = cli.find_subcommand(sub).unwrap();
            let mut seen = std::collections::HashSet::new();
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "print_config") {
                    continue;
                }
                let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_else(|| panic!("{sub} --{id}"));
                assert_eq!(env, format!("{prefix}{}", id.to_uppercase()), "{sub} --{id}");
                assert!(seen.insert(env.to_owned()), "{env} twice");
            }
        }
    }

    #[test]
    fn env_file_values_are_quoted_when_they_must_be() {
        assert_eq!(env_quote("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(env_quote("[::1]:0"), "[::1]:0");
        assert_eq!(env_quote(""), "''");
        assert_eq!(env_quote("a b$c"), "'a b$c'");
        assert_eq!(env_quote("it's"), r#""it's""#);
        assert_eq!(env_quote(r#"it's "$x""#), r#""it's \"\$x\"""#);
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
                _ => unreachable!(),
            })
        };
        assert_eq!(threads(&[]).unwrap(), 1);
        let peer = Cli::try_parse_from(["p2pci", "peer", "--threads", "3"]).unwrap();
        assert!(matches!(peer.command, Command::Peer(a) if a.threads == 3));
        assert_eq!(threads(&["--threads", "4"]).unwrap(), 4);
        assert!(threads(&["--threads", "0"]).is_err());
    }

    #[test]
    fn server_store_and_lease() {
        let server = |args: &[&str]| {
            let argv = ["p2pci", "server"].iter().chain(args).copied();
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Server(a) => (a.store.clone(), a.lease()),
                _ => unreachable!(),
            })
        };
        assert_eq!(server(&[]).unwrap(), (StoreArg::Memory, Duration::from_secs(10)));
        let (store, lease) = server(&["--store", "redis://127.0.0.1:6380/2", "--lease", "3"]).unwrap();
        assert_eq!(store, StoreArg::Redis("redis://127.0.0.1:6380/2".into()));
        assert_eq!(lease, Duration::from_secs(3));
        assert!(server(&["--store", "postgres://x"]).is_err());
        assert!(server(&["--lease", "0"]).is_err());
        assert!(server(&["--lease", "nan"]).is_err());
    }

    #[test]
    fn server_connection_caps() {
        let config = |args: &[&str]| {
            let argv = ["p2pci", "server"].iter().chain(args).copied();
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Server(a) => a.config(),
                _ => unreachable!(),
            })
        };
        let c = config(&[]).unwrap();
        assert_eq!((c.max_connections, c.max_connections_per_address), (16_384, 256));
        let c = config(&["--max-connections", "500", "--max-connections-per-address", "8"]).unwrap();
        assert_eq!((c.max_connections, c.max_connections_per_address), (500, 8));
        for bad in ["0", "-1", "many"] {
            assert!(config(&["--max-connections-per-address", bad]).is_err(), "{bad}");
        }
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
        assert_eq!(c.servers, ["localhost:7734"]);
        assert_eq!(c.upload_bind.port(), 2222);
        assert_eq!(c.rfcs, [RfcNumber(8600), RfcNumber(8601)]);
        assert!(!args.headless);
        assert_eq!(c.upload_max_connections, 1024);
        assert_eq!(c.upload_max_connections_per_address, 32);
        assert_eq!(c.max_download, 256 * 1024 * 1024);
        assert_eq!((args.metrics, args.log_format), (None, LogFormat::Text));
    }

    #[test]
    fn peer_upload_and_download_limits() {
        let cli = Cli::try_parse_from([
            "p2pci",
            "peer",
            "--upload-max-connections",
            "64",
            "--upload-max-connections-per-address",
            "5",
            "--max-download",
            "1.5GiB",
        ])
        .unwrap();
        let Command::Peer(args) = cli.command else { panic!() };
        let c = args.config();
        assert_eq!(c.upload_max_connections, 64);
        assert_eq!(c.upload_max_connections_per_address, 5);
        assert!(Cli::try_parse_from(["p2pci", "peer", "--upload-max-connections-per-address", "0"]).is_err());
        assert_eq!(c.max_download, 3 << 29);
        assert!(Cli::try_parse_from(["p2pci", "peer", "--upload-max-connections", "0"]).is_err());
        assert!(Cli::try_parse_from(["p2pci", "peer", "--max-download", "lots"]).is_err());
    }

    #[test]
    fn peer_min_download_rate() {
        let rate = |args: &[&str]| {
            let argv = ["p2pci", "peer"].iter().chain(args).copied();
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Peer(a) => (a.config().min_download_rate, a.config().download_rate_window),
                _ => unreachable!(),
            })
        };
        assert_eq!(rate(&[]).unwrap(), (1024, Duration::from_secs(10)));
        assert_eq!(rate(&["--min-download-rate", "0"]).unwrap().0, 0);
        assert_eq!(rate(&["--min-download-rate", "2MiB"]).unwrap().0, 2 << 20);
        let window = rate(&["--download-rate-window", "500ms"]).unwrap().1;
        assert_eq!(window, Duration::from_millis(500));
        for bad in ["-1", "nan", "inf", "-1KiB", "fast", ""] {
            assert!(rate(&["--min-download-rate", bad]).is_err(), "{bad}");
        }
        for bad in ["0", "-2", "nan", "inf", "soon"] {
            assert!(rate(&["--download-rate-window", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        let ok = [
            ("4096", 4096),
            ("0", 0),
            ("512KiB", 512 << 10),
            ("256MiB", 256 << 20),
            ("256mib", 256 << 20),
            ("256M", 256 << 20),
            ("2 G", 2 << 30),
            ("1.5GiB", 3 << 29),
            ("10MB", 10_000_000),
            ("1kb", 1000),
            ("7B", 7),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for s in ["", "MiB", "-1", "1.2.3MiB", "12 parsecs", "99999999999TiB", "1e9"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("30", Duration::from_secs(30)),
            ("0", Duration::ZERO),
            ("2.5", Duration::from_millis(2500)),
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("1 h", Duration::from_secs(3600)),
        ];
        for (s, want) in ok {
            assert_eq!(parse_duration(s), Ok(want), "{s}");
        }
        for s in [
            "",
            "-5",
            "-0.1",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e3",
            "5 parsecs",
            "1e400",
            "99999999999999999999999",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        let server = |args: &[&str]| {
            let argv = ["p2pci", "server"].iter().chain(args).copied();
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Server(a) => a.config().request_timeout,
                _ => unreachable!(),
            })
        };
        assert_eq!(server(&[]).unwrap(), Duration::from_secs(30));
        assert_eq!(server(&["--request-timeout", "1.5"]).unwrap(), Duration::from_millis(1500));
        for bad in ["-5", "nan", "inf", "0", "soon"] {
            let err = server(&[&format!("--request-timeout={bad}")]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
        let refresh = |arg: &str| {
            Cli::try_parse_from(["p2pci", "peer", "--refresh", arg]).map(|cli| match cli.command {
                Command::Peer(a) => a.refresh(),
                _ => unreachable!(),
            })
        };
        assert_eq!(refresh("0").unwrap(), None);
        assert_eq!(refresh("3").unwrap(), Some(Duration::from_secs(3)));
        assert!(refresh("-1").is_err() && refresh("nan").is_err());
    }

    #[test]
    fn server_caps() {
        let caps = |args: &[&str]| {
            let argv = ["p2pci", "server"].iter().chain(args).copied();
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Server(a) => a.config().caps,
                _ => unreachable!(),
            })
        };
        assert_eq!(caps(&[]).unwrap(), crate::index::Caps::DEFAULT);
        assert_eq!(caps(&[]).unwrap().memory, 1 << 30);
        let c = caps(&["--max-records-per-peer", "5", "--max-index-memory", "256MiB"]).unwrap();
        assert_eq!((c.records_per_peer, c.memory), (5, 256 << 20));
        assert_eq!(caps(&["--max-index-memory", "512k"]).unwrap().memory, 512 << 10);
        for bad in ["-1", "nan", "inf", "-inf", "1e3", "lots", "", "99999999999TiB", "1.5.2G"] {
            assert!(caps(&["--max-index-memory", bad]).is_err(), "{bad}");
        }
        for bad in ["-1", "1.5", "x", ""] {
            assert!(caps(&["--max-records-per-peer", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn several_servers() {
        let servers = |arg: &str| {
            Cli::try_parse_from(["p2pci", "peer", "--server", arg]).map(|cli| match cli.command {
                Command::Peer(a) => a.config().servers,
                _ => unreachable!(),
            })
        };
        assert_eq!(servers("hostA").unwrap(), ["hostA:7734"]);
        assert_eq!(servers("hostA,hostB:9000").unwrap(), ["hostA:7734", "hostB:9000"]);
        assert_eq!(servers("[::1]:8000,127.0.0.1").unwrap(), ["[::1]:8000", "127.0.0.1:7734"]);
        assert_eq!(servers(" a , b ").unwrap(), ["a:7734", "b:7734"]);
        assert!(servers("a,,b").is_err());
        assert!(servers("").is_err());
        // Given twice, the lists join.
        let cli = Cli::try_parse_from(["p2pci", "peer", "--server", "a", "--server", "b,c"]).unwrap();
        let Command::Peer(args) = cli.command else { panic!() };
        assert_eq!(args.config().servers, ["a:7734", "b:7734", "c:7734"]);
    }

    #[test]
    fn metrics_and_log_format() {
        let cli =
            Cli::try_parse_from(["p2pci", "server", "--metrics", "127.0.0.1:9734", "--log-format", "json"])
                .unwrap();
        let Command::Server(args) = cli.command else { panic!() };
        assert_eq!(args.metrics, Some("127.0.0.1:9734".parse().unwrap()));
        assert_eq!(args.log_format, LogFormat::Json);
        let cli = Cli::try_parse_from(["p2pci", "peer", "--metrics", "[::1]:0"]).unwrap();
        let Command::Peer(args) = cli.command else { panic!() };
        assert_eq!(args.metrics, Some("[::1]:0".parse().unwrap()));
        assert!(Cli::try_parse_from(["p2pci", "server", "--metrics", "9734"]).is_err());
        assert!(Cli::try_parse_from(["p2pci", "server", "--log-format", "xml"]).is_err());
    }
}
