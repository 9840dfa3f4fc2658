//! `p2pci check`: the conformance tester. It runs suites of cases against
//! another implementation of P2P-CI/1.0 and says exactly where it departs
//! from docs/PROTOCOL.md, as h2spec does for HTTP/2 and the Autobahn
//! testsuite for WebSocket.
//!
//! * [`case`] — what a case is (id, level, rule) and what it gives.
//! * [`runner`] — selection by id or prefix, per-case timeouts, counting.
//! * [`report`] — the text, JSON and JUnit forms of a run.
//! * [`wire`] — the checker's own strict view of received bytes (our
//!   parser is lenient, so it cannot be the judge).
//! * [`p2s`] — the index-server requests and judgements the cases share.
//! * [`server`] — the index-server suite.
//! * [`upload`] — the upload-server suite.
//! * [`client`] — client mode: the checker as index server and holders.
//!
//! docs/check.md lists every case with its rule.

pub mod args;
pub mod case;
pub mod client;
pub mod p2s;
pub mod report;
pub mod runner;
pub mod server;
pub mod upload;
pub mod wire;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

pub use args::{CheckArgs, CommonArgs, SuiteArgs};
use case::{Case, Ctx, Suite};
use runner::Report;

/// Every case of `suite`, in running order.
pub fn cases(suite: Suite) -> &'static [Case] {
    match suite {
        Suite::Server => server::CASES,
        Suite::Upload => upload::CASES,
        Suite::Client => client::CASES,
    }
}

/// What a run is asked for, besides its suite and target.
#[derive(Debug, Clone)]
pub struct Options {
    /// Ids or prefixes; all cases when empty.
    pub cases: Vec<String>,
    pub strict: bool,
    /// Per case.
    pub timeout: Duration,
    /// The RFC an upload server under test holds.
    pub rfc: Option<crate::protocol::RfcNumber>,
}

/// Runs the cases `options` select against `target`, telling `on_case` of
/// each as it ends. `Err` is a usage error or an unreachable target (exit
/// status 2), said in one line.
pub async fn check(
    suite: Suite,
    target: &str,
    options: &Options,
    on_start: impl FnOnce(&Ctx, usize),
    on_case: impl FnMut(&runner::CaseReport),
) -> Result<Report, String> {
    let selected = runner::select(cases(suite), &options.cases)?;
    let ctx = Ctx::new(target.to_owned(), options.timeout, options.rfc);
    preflight(suite, &ctx).await?;
    on_start(&ctx, selected.len());
    Ok(runner::run(suite, &selected, &ctx, options.strict, on_case).await)
}

/// Runs `p2pci check …` to its exit status: 0 every counted case passed,
/// 1 one failed, 2 a usage error or an unreachable target.
pub fn command(args: &CheckArgs) -> ExitCode {
    let (suite, target, common) = match &args.suite {
        SuiteArgs::Server(a) => {
            (Suite::Server, a.target.as_deref().map(crate::cli::server_address), &a.common)
        }
        SuiteArgs::Upload(a) => (Suite::Upload, a.target.clone(), &a.common),
        SuiteArgs::Client(a) => (Suite::Client, a.listen.map(|l| l.to_string()), &a.common),
    };
    let rfc = match &args.suite {
        SuiteArgs::Upload(a) => a.rfc.map(crate::protocol::RfcNumber),
        SuiteArgs::Server(_) | SuiteArgs::Client(_) => None,
    };
    if common.list {
        // With --list no target is needed, so a first word there is a case
        // (`p2pci check server --list limits`).
        let mut patterns: Vec<String> = target_word(&args.suite).into_iter().collect();
        patterns.extend(common.cases.iter().cloned());
        return match runner::select(cases(suite), &patterns) {
            Ok(selected) => print(&report::list(&selected)),
            Err(e) => usage(&e),
        };
    }
    let Some(target) = target else { return usage("a target HOST:PORT is needed") };
    let options =
        Options { cases: common.cases.clone(), strict: common.strict, timeout: common.timeout, rfc };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return usage(&format!("cannot start the runtime: {e}")),
    };
    let text = !common.json;
    let colour =
        text && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let on_start = |ctx: &Ctx, n: usize| {
        if text {
            println!("p2pci check {} {} ({n} cases, run {})\n", suite.name(), ctx.target, ctx.run_id);
        }
    };
    let on_case = |r: &runner::CaseReport| {
        if text {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(report::case_lines(r, colour).as_bytes());
            let _ = out.flush();
        }
    };
    let result = runtime.block_on(async {
        if let SuiteArgs::Client(a) = &args.suite {
            return client_session(a, &options, text, on_start, on_case).await;
        }
        check(suite, &target, &options, on_start, on_case).await
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    let report = match result {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let mut out = std::io::stdout().lock();
    let written = if text {
        out.write_all(report::summary(&report, colour).as_bytes())
    } else {
        out.write_all(report::json(&report).as_bytes())
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        eprintln!("p2pci check: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    if let Some(path) = &common.junit
        && let Err(e) = std::fs::write(path, report::junit(&report))
    {
        eprintln!("p2pci check: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    ExitCode::from(report.exit_code())
}

/// Client mode: serve the session, print what to run, wait for the end,
/// judge.
async fn client_session(
    a: &args::ClientCheckArgs,
    options: &Options,
    text: bool,
    on_start: impl FnOnce(&Ctx, usize),
    on_case: impl FnMut(&runner::CaseReport),
) -> Result<Report, String> {
    let Some(listen) = a.listen else { return Err("--listen ADDR:PORT is needed".into()) };
    let selected = runner::select(client::CASES, &options.cases)?;
    let mut ctx = Ctx::new(listen.to_string(), options.timeout, None);
    let session = client::start(listen, &ctx).await?;
    let how = client::instructions(&session);
    // On stdout before the report; on stderr when stdout is the JSON.
    if text {
        print!("{how}");
        let _ = std::io::stdout().flush();
    } else {
        eprint!("{how}");
    }
    client::until_done(&session, a.wait).await?;
    client::settle(&session).await;
    ctx.target = session.index.to_string();
    if text {
        println!();
    }
    on_start(&ctx, selected.len());
    Ok(client::judge(session, ctx, &selected, options.strict, on_case).await)
}

/// Makes sure the target is there and speaks before running anything, so
/// a dead or silent one is one clear message within `--timeout`, not a
/// failure per case.
async fn preflight(suite: Suite, ctx: &Ctx) -> Result<(), String> {
    let t = ctx.timeout;
    let mut conn = match tokio::time::timeout(t, tokio::net::TcpStream::connect(&ctx.target)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(format!("cannot reach {}: {e}", ctx.target)),
        Err(_) => {
            return Err(format!(
                "cannot reach {}: no answer to the connection within {}",
                ctx.target,
                runner::seconds(t)
            ));
        }
    };
    let (probe, what) = match suite {
        Suite::Server => {
            (p2s::lookup(ctx.fresh_rfc(), &ctx.fresh_host(), 7001), "a LOOKUP: is it a P2P-CI index server?")
        }
        Suite::Upload => (
            format!(
                "GET RFC {} P2P-CI/1.0\r\nHost: {}\r\nOS: p2pci-check\r\n\r\n",
                ctx.fresh_rfc(),
                ctx.fresh_host()
            )
            .into_bytes(),
            "a GET: is it a P2P-CI upload server?",
        ),
        Suite::Client => return Ok(()),
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answered = async {
        conn.write_all(&probe).await?;
        let mut byte = [0u8; 1];
        conn.read(&mut byte).await
    };
    match tokio::time::timeout(t, answered).await {
        Ok(Ok(1)) => Ok(()),
        Ok(Ok(_)) => Err(format!("{} closed the connection without answering {what}", ctx.target)),
        Ok(Err(e)) => Err(format!("{} failed the connection before answering {what} ({e})", ctx.target)),
        Err(_) => Err(format!(
            "{} accepted a connection but answered nothing to {what} (waited {})",
            ctx.target,
            runner::seconds(t)
        )),
    }
}

/// The target as typed, if one was.
fn target_word(suite: &SuiteArgs) -> Option<String> {
    match suite {
        SuiteArgs::Server(a) => a.target.clone(),
        SuiteArgs::Upload(a) => a.target.clone(),
        SuiteArgs::Client(_) => None,
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("p2pci check: {message}");
    ExitCode::from(2)
}

fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p2pci check: cannot write the list: {e}");
            ExitCode::FAILURE
        }
    }
}
