//! `p2pci check`'s command line: the suite, its target, and the options
//! every suite shares.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
#[command(
    about = "Check an implementation against docs/PROTOCOL.md (a conformance tester)",
    long_about = "Check an implementation against docs/PROTOCOL.md, case by case, and say exactly where it \
        departs from it: the bytes sent, the bytes received, the rule.\n\n\
        Exit status: 0 when every counted case passes, 1 when one fails, 2 for a usage error or an \
        unreachable target.",
    after_help = "Examples:\n  p2pci check server 127.0.0.1:7734\n  p2pci check server --list\n  \
        p2pci check server 127.0.0.1:7734 p2s.bad framing.crlf.answer --strict\n  \
        p2pci check server 127.0.0.1:7734 --json > report.json\n  \
        p2pci check server 127.0.0.1:7734 --junit check.xml\n  \
        p2pci check upload 127.0.0.1:5678 --rfc 8600\n  \
        p2pci check client --listen 127.0.0.1:7734"
)]
pub struct CheckArgs {
    #[command(subcommand)]
    pub suite: SuiteArgs,
}

#[derive(Debug, Subcommand)]
pub enum SuiteArgs {
    /// Check an index server.
    Server(ServerCheckArgs),
    /// Check a peer's upload server (the GET side).
    Upload(UploadCheckArgs),
    /// Check a client: act as its index server and holders, and judge
    /// what it sends and how it reads the answers.
    Client(ClientCheckArgs),
}

#[derive(Debug, Args)]
pub struct ClientCheckArgs {
    /// Where the checker's index server listens (the holders listen on
    /// the same address, on ports of their own).
    #[arg(long, value_name = "ADDR:PORT", required_unless_present = "list")]
    pub listen: Option<std::net::SocketAddr>,
    /// The longest the session may take, from the start until the client
    /// closes its index connection (seconds, or with a unit).
    #[arg(long, default_value = "300", value_name = "SECS", value_parser = parse_case_timeout)]
    pub wait: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct UploadCheckArgs {
    /// The upload server, HOST:PORT.
    #[arg(value_name = "HOST:PORT", required_unless_present = "list")]
    pub target: Option<String>,
    /// An RFC the upload server holds: the cases about a 200 answer need
    /// one (they are skipped without it).
    #[arg(long, value_name = "N")]
    pub rfc: Option<u32>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ServerCheckArgs {
    /// The index server, HOST:PORT (port 7734 when absent).
    #[arg(value_name = "HOST:PORT", required_unless_present = "list")]
    pub target: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What every suite takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Cases to run: ids, or prefixes ending at a dot of an id
    /// (`p2s.bad` runs every `p2s.bad.*`); all when none is given.
    #[arg(value_name = "CASE", last = false, num_args = 0..)]
    pub cases: Vec<String>,
    /// Count the `should` cases too: a failure of one then fails the run.
    #[arg(long)]
    pub strict: bool,
    /// Time one case may take, connecting included (seconds, or with a
    /// unit: 500ms, 2m).
    #[arg(long, default_value = "5", value_name = "SECS", value_parser = parse_case_timeout)]
    pub timeout: Duration,
    /// Print the cases (id, level, description) without running them.
    #[arg(long)]
    pub list: bool,
    /// Write the report as JSON on standard output instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn parse_case_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::cli::parse_duration(s)?;
    if d < Duration::from_millis(10) {
        return Err("a case needs at least 10ms".into());
    }
    Ok(d)
}
