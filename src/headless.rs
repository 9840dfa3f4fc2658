//! The line-oriented peer: one command per line on standard input, every raw
//! protocol message and one outcome line per result on standard output.
//!
//! Scripts, tests and benchmarks drive peers this way, so the command words
//! (`advertise`, `lookup N`, `get N`, `list`, `close`) and the outcome
//! prefixes (`OK`, `ERR`, `*`) are an interface: keep them stable.
//!
//! Commands are taken in the order given and answered as they are ready (a
//! lookup is not held up behind a long advertise; downloads run side by
//! side). `close` waits for every command before it to finish (answers,
//! downloads and the ADDs after them), then leaves; Ctrl-C and SIGTERM leave
//! at once. End of input does not make the peer leave, so it can keep
//! serving in the background; with `--exit-on-eof` it acts as `close`.
//!
//! Input is read [`MAX_COMMAND_LINE`] bytes of a line at most: a longer one
//! is answered with one `ERR` line and dropped up to its end, so no input
//! (a descriptor that never ends a line, say) can make the peer hold it all.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::signal::unix::SignalKind;

use crate::peer::{
    AdvertiseCause, Command, Direction, DownloadEvent, Link, NetEvent, Peer, Reply, WithdrawOutcome,
    Withdrawal,
};
use crate::protocol::{RfcNumber, Status, escape_line, escape_message};

/// A line typed by the user, understood.
pub fn parse_command(line: &str) -> Result<Option<Command>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |w: &str| RfcNumber::parse(w).ok_or_else(|| format!("not an RFC number: {w:?}"));
    match words.as_slice() {
        [] => Ok(None),
        ["advertise"] => Ok(Some(Command::Advertise)),
        ["list"] => Ok(Some(Command::List)),
        ["lookup", n] => Ok(Some(Command::Lookup(number(n)?))),
        ["get", n] => Ok(Some(Command::Download { rfc: number(n)?, from: None })),
        ["close"] => Ok(Some(Command::Quit)),
        _ => Err(format!("unknown command {line:?}; use: advertise | lookup N | get N | list | close")),
    }
}

/// The lines to print for one event (none for progress ticks). Whatever
/// another party sent is printed escaped (PROTOCOL.md, Framing): a message's
/// lines keep their tabs but any other control character is written `\x1b`,
/// and every other line (which may quote a title, a host or an answer) is
/// one line with every control character escaped, so nothing received can
/// drive the terminal or forge an outcome line (`OK ...`) for a script.
pub fn describe(ev: &NetEvent) -> Vec<String> {
    let NetEvent::Wire(w) = ev else {
        return describe_outcome(ev).into_iter().map(escaped_line).collect();
    };
    let mut out = Vec::new();
    let (arrow, whom) = match (&w.direction, &w.link) {
        (Direction::Sent, Link::Server) => (">>", "to server".to_string()),
        (Direction::Received, Link::Server) => ("<<", "from server".to_string()),
        (Direction::Sent, Link::Download(h)) => (">>", format!("to peer {h}")),
        (Direction::Received, Link::Download(h)) => ("<<", format!("from peer {h}")),
        (Direction::Sent, Link::Upload(a)) => (">>", format!("to downloader {a}")),
        (Direction::Received, Link::Upload(a)) => ("<<", format!("from downloader {a}")),
    };
    out.push(escaped_line(format!("{arrow} {whom}")));
    out.extend(
        w.text.trim_end_matches(['\r', '\n']).split('\n').map(|l| message_line(l.trim_end_matches('\r'))),
    );
    out.push(String::new());
    out
}

/// `line` with every control character escaped; no copy when it has none.
fn escaped_line(line: String) -> String {
    match escape_line(line.as_bytes()) {
        Cow::Borrowed(_) => line,
        Cow::Owned(escaped) => escaped,
    }
}

/// One line of a protocol message (no line end in it): tabs kept, any other
/// control character (a lone CR included) escaped.
fn message_line(line: &str) -> String {
    if let Cow::Borrowed(plain) = escape_line(line.as_bytes()) {
        return plain.to_owned();
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    escape_message(line.as_bytes(), &mut out);
    // Escaping writes ASCII escapes and whole UTF-8 characters only.
    String::from_utf8(out).unwrap_or_default()
}

/// The lines for every event but a protocol message, unescaped.
fn describe_outcome(ev: &NetEvent) -> Vec<String> {
    let mut out = Vec::new();
    match ev {
        NetEvent::Wire(_) => {}
        NetEvent::Connected { server } => out.push(format!("* connected to index server {server}")),
        NetEvent::Disconnected { reason, retry_in } => out.push(match retry_in {
            Some(d) => format!("ERR index server: {reason} (retrying in {})", crate::human::duration(*d)),
            None => format!("ERR index server: {reason}"),
        }),
        NetEvent::Advertising { count, cause } => {
            out.push(format!("* advertising {count} RFC(s){}", because(cause)))
        }
        NetEvent::Reply(Reply::Advertised { added, failed, .. }) => {
            if !added.is_empty() || failed.is_empty() {
                out.push(format!("OK advertised {} RFC(s)", added.len()));
            }
            out.extend(failed.iter().map(|(rfc, s)| format!("ERR ADD RFC {rfc}: {s}")));
        }
        NetEvent::Reply(Reply::Lookup { rfc, status, records }) => out.push(match status {
            Status::Ok => format!("OK lookup RFC {rfc}: {} holder(s)", records.len()),
            s => format!("ERR lookup RFC {rfc}: {s}"),
        }),
        NetEvent::Reply(Reply::List { status, records }) => out.push(match status {
            Status::Ok => format!("OK list: {} record(s)", records.len()),
            s => format!("ERR list: {s}"),
        }),
        NetEvent::Error(e) => out.push(format!("ERR {e}")),
        NetEvent::FolderError(e) => out.push(format!("ERR {e}")),
        NetEvent::Notice(n) => out.push(format!("* {n}")),
        NetEvent::Skipped(skipped) => {
            out.extend(crate::peer::library::skipped_lines(skipped).into_iter().map(|l| format!("* {l}")))
        }
        NetEvent::Unshared { rfc, to } => {
            out.push(format!("* RFC {rfc} is no longer shared (moved to {})", to.display()))
        }
        NetEvent::Withdrawn { rfcs, why, outcome } => {
            let rfcs: Vec<String> = rfcs.iter().map(|r| r.to_string()).collect();
            let what = match why {
                Withdrawal::Unshared => "stopped sharing",
                Withdrawal::Removed => "file removed:",
            };
            let rfcs = rfcs.join(", ");
            out.push(match outcome {
                WithdrawOutcome::NotAdvertised => format!("OK {what} RFC {rfcs}; it was not in the index"),
                WithdrawOutcome::Offline => {
                    format!("OK {what} RFC {rfcs}; not connected, so the index holds none of ours")
                }
                WithdrawOutcome::Done { readvertised, restored: 0 } => {
                    format!(
                        "OK {what} RFC {rfcs}; withdrawn, the other {readvertised} re-advertised and checked"
                    )
                }
                WithdrawOutcome::Done { readvertised, restored } => format!(
                    "OK {what} RFC {rfcs}; withdrawn, the other {readvertised} re-advertised \
                     ({restored} again after the index dropped them late)"
                ),
                WithdrawOutcome::Incomplete(e) => {
                    format!("ERR {what} RFC {rfcs}; re-advertising the rest: {e}")
                }
            })
        }
        NetEvent::Library(l) => out.push(format!("* now sharing {} RFC(s)", l.len())),
        NetEvent::Download { event, .. } => match event {
            DownloadEvent::Queued { rfc, attempt } if *attempt > 1 => {
                out.push(format!("* retrying RFC {rfc} (attempt {attempt})"))
            }
            DownloadEvent::Started { rfc, from } => out.push(format!("* downloading RFC {rfc} from {from}")),
            DownloadEvent::Queued { .. } | DownloadEvent::Waiting { .. } | DownloadEvent::Progress { .. } => {
            }
            DownloadEvent::Cancelled { rfc } => out.push(format!("OK cancelled the download of RFC {rfc}")),
            DownloadEvent::HolderFailed { from, reason, retrying } => out.push(format!(
                "ERR from {from}: {reason}{}",
                if *retrying { " (trying the next holder)" } else { "" }
            )),
            DownloadEvent::Done { rfc, from, path, bytes, .. } => {
                out.push(format!("OK downloaded RFC {rfc} from {from}: {bytes} bytes in {}", path.display()))
            }
            DownloadEvent::Failed { rfc, reason } => out.push(format!("ERR download RFC {rfc}: {reason}")),
        },
        NetEvent::Uploaded { to, rfc, status, bytes } => out.push(match rfc {
            Some(rfc) => format!("* served RFC {rfc} to {to}: {status}, {bytes} bytes"),
            None => format!("* answered {to}: {status}"),
        }),
        NetEvent::Closed => out.push("OK closed".into()),
    }
    out
}

/// `" after reconnecting"` and the like; nothing for the user's own.
fn because(cause: &AdvertiseCause) -> String {
    match cause {
        AdvertiseCause::Asked => String::new(),
        AdvertiseCause::Reconnected => " after reconnecting".into(),
        AdvertiseCause::NewFiles => " new in the folder".into(),
        AdvertiseCause::Downloaded(rfc) => format!(" (downloaded RFC {rfc})"),
        AdvertiseCause::Withdrawal { .. } => " again after the withdrawal".into(),
        AdvertiseCause::Restore => " once more: the index dropped them after the reconnection".into(),
    }
}

/// One write per batch of lines: stdout is line-buffered, so written line
/// by line, a busy upload server would pay a system call per line.
fn print(lines: &[String]) {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    write_out(&text);
}

fn write_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Most events printed in one write; bounds the text held at once.
const BATCH: usize = 256;

/// Appends the lines of `ev` to `text`.
fn describe_into(ev: &NetEvent, text: &mut String) {
    for l in describe(ev) {
        text.push_str(&l);
        text.push('\n');
    }
}

/// How the headless peer starts and ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Advertise every local RFC at once (`--advertise`).
    pub advertise: bool,
    /// End of input acts as `close` (`--exit-on-eof`).
    pub exit_on_eof: bool,
}

/// Runs until `close`, Ctrl-C or SIGTERM, then leaves cleanly.
///
/// The loop runs as a task of the runtime, not on the thread that called
/// `block_on`: there every event would wake another thread (a futex wake-up
/// and a context switch per event, three per upload).
pub async fn run(
    peer: Peer,
    events: tokio::sync::mpsc::Receiver<NetEvent>,
    options: Options,
) -> anyhow::Result<()> {
    tokio::spawn(front(peer, events, options)).await.map_err(|e| anyhow::anyhow!("front end failed: {e}"))?
}

async fn front(
    peer: Peer,
    mut events: tokio::sync::mpsc::Receiver<NetEvent>,
    options: Options,
) -> anyhow::Result<()> {
    print(&[format!(
        "* peer {} sharing {} RFC(s) from {}; upload server on {}; index server {}",
        peer.host,
        peer.library.len(),
        peer.dir.display(),
        peer.upload_addr,
        peer.server
    )]);
    if options.advertise {
        peer.send(Command::Advertise);
    }
    let mut lines = CommandLines::new(tokio::io::BufReader::new(tokio::io::stdin()));
    let mut stdin_open = true;
    let mut quitting = false;
    // Made once: `tokio::signal::ctrl_c()` registers a new listener each
    // time it is called, which in this loop is once per event.
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Input::Line(line)) => match parse_command(&line) {
                    // After the commands before it; nothing more is read.
                    Ok(Some(Command::Quit)) => { stdin_open = false; peer.send(Command::Finish); }
                    Ok(Some(cmd)) => { peer.send(cmd); }
                    Ok(None) => {}
                    Err(e) => print(&[format!("ERR {e}")]),
                },
                Ok(Input::TooLong) => print(&[format!(
                    "ERR a line of standard input is longer than {MAX_COMMAND_LINE} bytes: \
                     ignored up to its end"
                )]),
                // End of input is a goodbye only when asked: else keep serving.
                _ => {
                    stdin_open = false;
                    if options.exit_on_eof {
                        peer.send(Command::Finish);
                    }
                }
            },
            ev = events.recv() => match ev {
                Some(ev) => {
                    // Print what is already queued along with it, in one
                    // write: a busy upload server reports three events per
                    // download. Nothing waits: only events already here join.
                    let mut closed = ev == NetEvent::Closed;
                    let mut text = String::new();
                    describe_into(&ev, &mut text);
                    for _ in 1..BATCH {
                        if closed {
                            break;
                        }
                        let Ok(ev) = events.try_recv() else { break };
                        closed = ev == NetEvent::Closed;
                        describe_into(&ev, &mut text);
                    }
                    write_out(&text);
                    if closed { break; }
                }
                None => break,
            },
            _ = interrupt.recv(), if !quitting => { quitting = true; peer.send(Command::Quit); }
            _ = term.recv(), if !quitting => { quitting = true; peer.send(Command::Quit); }
        }
    }
    peer.shutdown(Duration::from_secs(3)).await;
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    Ok(tokio::signal::unix::signal(kind)?)
}

/// Longest command line taken from standard input, in bytes. The longest
/// command is a few dozen bytes; this leaves room for any spacing.
pub const MAX_COMMAND_LINE: usize = 4096;

/// One read of standard input.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    /// A line, without its end (LF, or the end of input); bytes that are
    /// not UTF-8 become U+FFFD (the command is then unknown, and said so).
    Line(String),
    /// A line grew past [`MAX_COMMAND_LINE`]: its bytes so far are dropped,
    /// and so are the rest up to its end, as they come.
    TooLong,
    /// End of input.
    End,
}

/// Command lines, each held [`MAX_COMMAND_LINE`] bytes at most.
///
/// `AsyncBufReadExt::lines` holds a line until its end comes, however long:
/// a standard input that never ends a line (a stray descriptor, `/dev/zero`)
/// would grow the peer by every byte read, without a word on standard
/// output. Here a line past the cap is reported once and skipped.
///
/// Cancel-safe, as the front end's `select!` needs: the only wait is
/// `fill_buf`, and the partial line lives in `self`.
struct CommandLines<R> {
    reader: R,
    line: Vec<u8>,
    /// Dropping the rest of a line that was too long.
    skipping: bool,
}

impl<R: AsyncBufRead + Unpin> CommandLines<R> {
    fn new(reader: R) -> Self {
        CommandLines { reader, line: Vec::new(), skipping: false }
    }

    async fn next_line(&mut self) -> std::io::Result<Input> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                // A last line without its LF still counts.
                self.skipping = false;
                if self.line.is_empty() {
                    return Ok(Input::End);
                }
                return Ok(Input::Line(self.take()));
            }
            let end = memchr::memchr(b'\n', available);
            let part = &available[..end.unwrap_or(available.len())];
            let used = part.len() + usize::from(end.is_some());
            let mut too_long = false;
            if !self.skipping {
                if self.line.len() + part.len() > MAX_COMMAND_LINE {
                    self.line = Vec::new();
                    self.skipping = end.is_none();
                    too_long = true;
                } else {
                    self.line.extend_from_slice(part);
                }
            } else if end.is_some() {
                self.skipping = false;
            }
            self.reader.consume(used);
            if too_long {
                return Ok(Input::TooLong);
            }
            // An empty line, or the end of a skipped one, is no command.
            if end.is_some() && !self.line.is_empty() {
                return Ok(Input::Line(self.take()));
            }
        }
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command("advertise"), Ok(Some(Command::Advertise)));
        assert_eq!(parse_command("  lookup 8600 "), Ok(Some(Command::Lookup(RfcNumber(8600)))));
        assert_eq!(parse_command("get 1"), Ok(Some(Command::Download { rfc: RfcNumber(1), from: None })));
        assert_eq!(parse_command("list"), Ok(Some(Command::List)));
        assert_eq!(parse_command("close"), Ok(Some(Command::Quit)));
        assert_eq!(parse_command(""), Ok(None));
        assert!(parse_command("get x").is_err());
        assert!(parse_command("lookup").is_err());
        assert!(parse_command("fly").is_err());
    }

    /// Every read of `input`, through a buffer of `capacity` bytes (so
    /// lines cross reads), up to the end.
    async fn inputs(input: &[u8], capacity: usize) -> Vec<Input> {
        let mut lines = CommandLines::new(tokio::io::BufReader::with_capacity(capacity, input));
        let mut out = Vec::new();
        loop {
            match lines.next_line().await.unwrap() {
                Input::End => return out,
                i => out.push(i),
            }
        }
    }

    fn line(s: &str) -> Input {
        Input::Line(s.to_owned())
    }

    #[tokio::test]
    async fn command_lines_split_and_end() {
        for capacity in [1, 3, 8192] {
            let got = inputs(b"lookup 1\n\nlist\r\n\xffget 2\nclose", capacity).await;
            assert_eq!(got, [line("lookup 1"), line("list\r"), line("\u{fffd}get 2"), line("close")]);
        }
        let exact = "x".repeat(MAX_COMMAND_LINE);
        assert_eq!(inputs(format!("{exact}\n").as_bytes(), 100).await, [line(&exact)]);
    }

    #[tokio::test]
    async fn a_line_past_the_cap_is_said_once_and_skipped_to_its_end() {
        let mut input = vec![b'x'; 3 * MAX_COMMAND_LINE];
        input.extend_from_slice(b"\nlist\n");
        input.extend(vec![b'y'; MAX_COMMAND_LINE + 1]);
        for capacity in [5, 8192] {
            assert_eq!(inputs(&input, capacity).await, [Input::TooLong, line("list"), Input::TooLong]);
        }
    }

    #[tokio::test]
    async fn input_that_never_ends_a_line_is_not_held() {
        // As a descriptor that yields bytes and never a line end.
        let endless = tokio::io::BufReader::new(tokio::io::repeat(b'x'));
        let mut lines = CommandLines::new(endless);
        assert_eq!(lines.next_line().await.unwrap(), Input::TooLong);
        let more = tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await;
        assert!(more.is_err(), "still inside the endless line: {more:?}");
        assert!(lines.line.capacity() <= MAX_COMMAND_LINE, "held {} bytes", lines.line.capacity());
    }
}
