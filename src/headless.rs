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
//!
//! Output never stops the peer: a reader that does not read loses lines
//! (counted, and said once it reads again), not the upload server; see
//! [`Output`].

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use thiserror::Error;
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
fn print(out: &Output, lines: &[String]) {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    out.push(text);
}

/// Bytes of output held for a standard output that is not being read;
/// past them, lines are dropped (and counted) rather than held.
pub const OUTPUT_BUDGET: usize = 1 << 20;

/// How long leaving waits for held output to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Standard output, written by a thread of its own.
///
/// A write to a pipe nobody reads blocks once the pipe is full (64 KiB);
/// made on the runtime, it froze the whole peer: its upload server, its
/// downloads, its index connection. Here the front end only appends to a
/// buffer of [`OUTPUT_BUDGET`] bytes and the thread does the blocking
/// writes, so a peer keeps serving whatever its reader does. Lines that do
/// not fit are dropped, counted, and said once stdout drains (`* N output
/// lines dropped: ...`), in their place, so a script sees the gap; the
/// lines written keep their order. A closed stdout ends the thread and
/// output is dropped from then on.
struct Output {
    shared: Arc<OutputShared>,
    /// Bytes held at most ([`OUTPUT_BUDGET`]; smaller in tests).
    budget: usize,
}

struct OutputShared {
    state: Mutex<OutputState>,
    /// Wakes the writer (text to write, or leaving).
    ready: Condvar,
    /// Wakes a close waiting for the writer to catch up.
    written: Condvar,
}

#[derive(Default)]
struct OutputState {
    /// Text not yet taken by the writer: whole lines.
    queue: Vec<u8>,
    /// Bytes the writer took and is writing.
    in_flight: usize,
    /// Lines dropped since the last one held.
    dropped: u64,
    /// The writer waits on `ready`.
    asleep: bool,
    /// No more text will come: write what is left, then end.
    closed: bool,
    /// Standard output failed (closed): nothing more is written.
    broken: bool,
}

impl OutputShared {
    fn lock(&self) -> MutexGuard<'_, OutputState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn dropped_line(n: u64) -> String {
    format!("* {n} output lines dropped: standard output was not being read\n")
}

impl Output {
    /// Starts the writer thread on `out`, holding at most `budget` bytes.
    fn start(out: impl Write + Send + 'static, budget: usize) -> std::io::Result<Output> {
        let shared = Arc::new(OutputShared {
            state: Mutex::new(OutputState::default()),
            ready: Condvar::new(),
            written: Condvar::new(),
        });
        let writer = shared.clone();
        std::thread::Builder::new().name("p2pci-stdout".into()).spawn(move || write_loop(&writer, out))?;
        Ok(Output { shared, budget })
    }

    /// Appends `text` (whole lines), or drops and counts its lines when the
    /// budget is full. Never waits for the writer.
    fn push(&self, text: String) {
        if text.is_empty() {
            return;
        }
        let budget = self.budget;
        let mut state = self.shared.lock();
        if state.broken || state.closed {
            return;
        }
        let held = state.queue.len() + state.in_flight;
        // Taken when nothing is held, however long: the budget bounds what
        // waits behind a slow reader, not the size of one batch.
        if held > 0 && held + text.len() > budget {
            state.dropped += memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
            return;
        }
        if state.dropped > 0 {
            let n = std::mem::take(&mut state.dropped);
            state.queue.extend_from_slice(dropped_line(n).as_bytes());
        }
        state.queue.extend_from_slice(text.as_bytes());
        if state.asleep {
            state.asleep = false;
            self.shared.ready.notify_one();
        }
    }

    /// Waits (at most `wait`) until everything held is written, or stdout
    /// failed; no more text is taken.
    fn close(&self, wait: Duration) {
        let deadline = std::time::Instant::now() + wait;
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.ready.notify_one();
        while !state.broken && (!state.queue.is_empty() || state.in_flight > 0 || state.dropped > 0) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            state = self.shared.written.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Most bytes written in one call (a pipe's capacity).
const WRITE_SLICE: usize = 64 << 10;

/// The writer thread: takes all that is queued, writes it in one call.
fn write_loop(shared: &OutputShared, mut out: impl Write) {
    let mut spare = Vec::new();
    loop {
        let mut state = shared.lock();
        loop {
            if !state.queue.is_empty() {
                break;
            }
            if state.dropped > 0 {
                // Caught up after a gap that nothing has followed yet.
                let n = std::mem::take(&mut state.dropped);
                state.queue.extend_from_slice(dropped_line(n).as_bytes());
                break;
            }
            if state.closed {
                return;
            }
            state.asleep = true;
            state = shared.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        let mut chunk = std::mem::replace(&mut state.queue, std::mem::take(&mut spare));
        state.in_flight = chunk.len();
        drop(state);
        // In slices, each given back to the budget once written: a reader
        // that drains stdout makes room as it reads, not a chunk at a time.
        let mut result = Ok(());
        for slice in chunk.chunks(WRITE_SLICE) {
            result = out.write_all(slice).and_then(|()| out.flush());
            if result.is_err() {
                break;
            }
            shared.lock().in_flight -= slice.len();
        }
        let mut state = shared.lock();
        state.in_flight = 0;
        if result.is_err() {
            // Nowhere to write (a closed stdout): drop output, keep serving.
            state.broken = true;
            state.queue = Vec::new();
            state.dropped = 0;
            shared.written.notify_all();
            return;
        }
        if state.closed {
            shared.written.notify_all();
        }
        drop(state);
        chunk.clear();
        spare = chunk;
    }
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

/// Why the line front end could not run; the peer has been shut down.
#[derive(Debug, Error)]
pub enum HeadlessError {
    /// The front end's task panicked.
    #[error("front end failed")]
    FrontEnd(#[source] tokio::task::JoinError),
    /// The thread that writes standard output (see [`Output`]) did not start.
    #[error("cannot start the output thread")]
    OutputThread(#[source] std::io::Error),
    /// SIGINT or SIGTERM (`name`) could not be listened for.
    #[error("cannot handle {name}")]
    Signal { name: &'static str, source: std::io::Error },
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
) -> Result<(), HeadlessError> {
    tokio::spawn(front(peer, events, options)).await.map_err(HeadlessError::FrontEnd)?
}

async fn front(
    peer: Peer,
    mut events: tokio::sync::mpsc::Receiver<NetEvent>,
    options: Options,
) -> Result<(), HeadlessError> {
    let out = Output::start(std::io::stdout(), OUTPUT_BUDGET).map_err(HeadlessError::OutputThread)?;
    print(
        &out,
        &[format!(
            "* peer {} sharing {} RFC(s) from {}; upload server on {}; index server {}",
            peer.host,
            peer.library.len(),
            peer.dir.display(),
            peer.upload_addr,
            peer.server
        )],
    );
    if options.advertise {
        peer.send(Command::Advertise);
    }
    let mut lines = CommandLines::new(tokio::io::BufReader::new(tokio::io::stdin()));
    let mut stdin_open = true;
    let mut quitting = false;
    // Made once: `tokio::signal::ctrl_c()` registers a new listener each
    // time it is called, which in this loop is once per event.
    let mut term = signal(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt(), "SIGINT")?;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Input::Line(line)) => match parse_command(&line) {
                    // After the commands before it; nothing more is read.
                    Ok(Some(Command::Quit)) => { stdin_open = false; peer.send(Command::Finish); }
                    Ok(Some(cmd)) => { peer.send(cmd); }
                    Ok(None) => {}
                    Err(e) => print(&out, &[format!("ERR {e}")]),
                },
                Ok(Input::TooLong) => print(&out, &[format!(
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
                    out.push(text);
                    if closed { break; }
                }
                None => break,
            },
            _ = interrupt.recv(), if !quitting => { quitting = true; peer.send(Command::Quit); }
            _ = term.recv(), if !quitting => { quitting = true; peer.send(Command::Quit); }
        }
    }
    peer.shutdown(Duration::from_secs(3)).await;
    // What is held goes out before leaving, unless stdout stays unread.
    let _ = tokio::task::spawn_blocking(move || out.close(FLUSH_WAIT)).await;
    Ok(())
}

fn signal(kind: SignalKind, name: &'static str) -> Result<tokio::signal::unix::Signal, HeadlessError> {
    tokio::signal::unix::signal(kind).map_err(|source| HeadlessError::Signal { name, source })
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

    /// A writer that takes nothing until opened, keeping what it took.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(Mutex<bool>, Condvar)>,
        taken: Arc<Mutex<Vec<u8>>>,
    }

    impl Gate {
        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }
        fn text(&self) -> String {
            String::from_utf8(self.taken.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.open;
            let _open = cv.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
            self.taken.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn numbered(range: std::ops::Range<usize>) -> String {
        range.map(|i| format!("line {i:04}\n")).collect()
    }

    #[test]
    fn unread_output_is_dropped_counted_and_said_in_its_place() {
        let gate = Gate::default();
        // Ten lines of 10 bytes fit; the writer holds the first batch.
        let out = Output::start(gate.clone(), 100).unwrap();
        for i in 0..30 {
            out.push(numbered(i..i + 1));
        }
        gate.open();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !gate.text().contains("dropped") {
            assert!(std::time::Instant::now() < deadline, "no gap said: {:?}", gate.text());
            std::thread::sleep(Duration::from_millis(5));
        }
        out.push(numbered(30..32));
        out.close(Duration::from_secs(5));
        let want = format!("{}{}{}", numbered(0..10), dropped_line(20), numbered(30..32));
        assert_eq!(gate.text(), want);
    }

    #[test]
    fn a_gap_is_said_before_the_next_line_kept() {
        let gate = Gate::default();
        let out = Output::start(gate.clone(), 20).unwrap();
        out.push(numbered(0..2));
        out.push(numbered(2..5));
        gate.open();
        out.close(Duration::from_secs(5));
        assert_eq!(gate.text(), format!("{}{}", numbered(0..2), dropped_line(3)));
        // A batch larger than the budget still goes out when nothing waits.
        let gate = Gate::default();
        gate.open();
        let out = Output::start(gate.clone(), 20).unwrap();
        out.push(numbered(0..5));
        out.close(Duration::from_secs(5));
        assert_eq!(gate.text(), numbered(0..5));
    }

    #[test]
    fn leaving_waits_a_bounded_time_for_a_reader_that_never_comes() {
        let gate = Gate::default();
        let out = Output::start(gate.clone(), 100).unwrap();
        out.push(numbered(0..3));
        let started = std::time::Instant::now();
        out.close(Duration::from_millis(100));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(2), "{took:?}");
        assert_eq!(gate.text(), "");
        gate.open();
    }

    /// As a closed stdout: every write fails with EPIPE.
    struct Closed(Arc<std::sync::atomic::AtomicUsize>);

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_ends_the_writer_and_output_is_dropped() {
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let out = Output::start(Closed(writes.clone()), 100).unwrap();
        out.push(numbered(0..1));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // The thread's end drops its share of the state.
        while Arc::strong_count(&out.shared) > 1 {
            assert!(std::time::Instant::now() < deadline, "the writer thread did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 1..1000 {
            out.push(numbered(i..i + 1));
        }
        let state = out.shared.lock();
        assert!(state.broken && state.queue.is_empty() && state.dropped == 0);
        drop(state);
        let started = std::time::Instant::now();
        out.close(Duration::from_secs(5));
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1, "one failed write, no retries");
    }
}
