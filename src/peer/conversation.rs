//! The index conversation: one task owns the connection to the index server
//! and everything said on it.
//!
//! It has its own task because a request may take as long as the server
//! likes (up to the request timeout) and an advertise is one ADD per RFC:
//! the engine hands work over and goes on serving its front end, so Quit, a
//! new download or the screen never wait behind the network. Here every
//! wait (connecting, writing, reading, skipping) also watches the stop
//! signal, so leaving is immediate even while the server is silent.
//!
//! The rules it follows (docs/PROTOCOL.md, Interoperability):
//!
//! * One request at a time, each answer read before the next request.
//!   Reads (LOOKUP, LIST) go ahead of ADDs still queued, so a long advertise
//!   does not hold up a lookup or a download; requests of one kind keep
//!   their order.
//! * Answers are read leniently ([`P2sResponseDecoder`]). One whose final
//!   empty line never comes is taken once the server has been quiet for the
//!   answer grace, or has closed, with a notice saying what it lacked.
//! * A reply that cannot be understood fails that one request; the
//!   connection stays. To find the start of the next answer we skip what
//!   the server sends until it has been quiet for the answer grace: one
//!   request is outstanding at a time, so once the server is quiet the rest
//!   of the bad answer has been read, and the next answer must begin with a
//!   status line. Breaches of a size limit (a server streaming without end),
//!   silence past the request timeout (a late answer would be taken for the
//!   next one) and a closed connection end the connection.
//! * Every reconnection waits: the delay doubles from the minimum to the
//!   cap, with ±20 % jitter (never below the minimum, never above the cap),
//!   and starts afresh only after a connection that lasted
//!   [`STABLE_AFTER`]. A server that accepts and then hangs up at once
//!   therefore costs at most one connection per minimum delay, then fewer.
//! * With several servers, the first that answers is used; when the
//!   connection is lost the next one in the list is tried (round robin).
//! * After every new connection, everything advertised so far is ADDed
//!   again, without being asked: the server dropped our records when the
//!   old connection closed, and a new server never had them.
//! * A withdrawal closes the connection on purpose. Servers drop a peer's
//!   records by (host, port) when they process the close, which may come
//!   after the new connection's ADDs and take them too: so the old socket
//!   is held until the server closes its side (at most [`CLOSE_WAIT`]),
//!   and after the re-advertise a LOOKUP of the first record ADDed checks
//!   that it is still there; if it is not, everything is ADDed once more.
//!   A server slower than that to close is watched for [`LATE_CHECK`]; when
//!   it closes (or that time is up) the check is made again.
//! * Off-spec answers that are read anyway are said once per connection
//!   (an answer lacking its final empty line, each time).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::{AdvertiseCause, Direction, Link, WireMessage, WithdrawOutcome, Withdrawal};
use super::{DownloadId, Holder, IndexError, NetEvent, PeerError, Request};
use crate::backoff::Backoff;
use crate::protocol::response::{Leniency, Missing, P2sResponseDecoder};
use crate::protocol::{P2sMethod, P2sRequest, P2sResponse, PeerId, Record, RfcNumber, Status};

/// A connection that lasted this long was a real one: losing it starts the
/// backoff afresh.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// After closing the connection on purpose (a withdrawal), the longest wait
/// for the server to close its side, which it does once it has processed
/// our close (and dropped our records) before the new connection's ADDs.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How long an old connection the server had not closed within
/// [`CLOSE_WAIT`] is watched, for a second check once it does.
pub const LATE_CHECK: Duration = Duration::from_secs(10);

/// How the conversation behaves; filled from the peer's config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Who we are in every request (Host, Port).
    pub me: PeerId,
    /// The index servers, `HOST:PORT`, in order of preference.
    pub servers: Vec<String>,
    /// Longest wait for a whole answer (and for the request to be written).
    pub request_timeout: Duration,
    /// How long a server must be quiet before an answer that lacks its end
    /// is taken as it stands, or before a bad answer counts as over.
    pub answer_grace: Duration,
    /// Longest wait for a name to resolve, and for each connection attempt.
    pub connect_timeout: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub max_line: usize,
    pub max_answer_records: usize,
    pub max_answer_bytes: usize,
}

/// Work the engine hands over.
#[derive(Debug)]
pub enum Job {
    /// ADD each of these (number, title), and ADD them again after every
    /// new connection from now on. Answered by one [`Answer::Advertised`]
    /// with this cause.
    Advertise(Vec<(RfcNumber, String)>, AdvertiseCause),
    Lookup {
        rfc: RfcNumber,
        title: String,
        purpose: Purpose,
    },
    List,
    /// Stop advertising these: P2P-CI has no message that removes a record,
    /// so if any of them is in the index, the connection is closed (the
    /// server drops every record of ours) and opened again, the rest are
    /// ADDed anew, and that is checked. Answered by one
    /// [`Answer::Withdrawn`].
    Withdraw(Vec<RfcNumber>, Withdrawal),
}

/// Why a LOOKUP was asked, so its answer goes where it is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The user asked.
    User,
    /// To find holders for this download.
    /// `last`: a retry's holder to try last.
    Download { id: DownloadId, from: Option<Holder>, last: Option<Holder> },
}

/// What the conversation reports back, in the order it happened. Every job
/// gets exactly one answer (an `Advertised` whose cause is one a job gives,
/// a `Lookup`, a `List` or a `Withdrawn`); the ADDs it makes on its own
/// (causes `Reconnected`, `Withdrawal`, `Restore`) are answered too.
#[derive(Debug)]
pub enum Answer {
    /// For the front end as it is (wire messages, connection changes, notices).
    Event(NetEvent),
    /// The outcome of one [`Job::Advertise`] (or of a re-advertise).
    Advertised {
        cause: AdvertiseCause,
        added: Vec<Record>,
        failed: Vec<(RfcNumber, Status)>,
        error: Option<PeerError>,
    },
    Lookup {
        rfc: RfcNumber,
        purpose: Purpose,
        result: Result<P2sResponse, IndexError>,
    },
    List(Result<P2sResponse, IndexError>),
    Withdrawn {
        rfcs: Vec<RfcNumber>,
        why: Withdrawal,
        outcome: WithdrawOutcome,
    },
}

/// A request waiting its turn.
#[derive(Debug)]
enum Step {
    Lookup {
        rfc: RfcNumber,
        title: String,
        purpose: Purpose,
    },
    List,
    Add {
        rfc: RfcNumber,
        title: String,
        batch: u64,
    },
    /// After a withdrawal's re-advertise: is our record of `rfc` there?
    Verify {
        rfc: RfcNumber,
        title: String,
    },
}

impl Step {
    fn request(&self) -> Request {
        match self {
            Step::Lookup { rfc, .. } | Step::Verify { rfc, .. } => Request::Lookup(*rfc),
            Step::List => Request::List,
            Step::Add { rfc, .. } => Request::Add(*rfc),
        }
    }

    fn method(&self) -> P2sMethod {
        match self {
            Step::Lookup { rfc, title, .. } | Step::Verify { rfc, title } => {
                P2sMethod::Lookup { rfc: *rfc, title: Some(title.clone()) }
            }
            Step::List => P2sMethod::List,
            Step::Add { rfc, title, .. } => P2sMethod::Add { rfc: *rfc, title: title.clone() },
        }
    }
}

/// The ADDs of one advertise, collected into one answer.
#[derive(Debug)]
struct Batch {
    cause: AdvertiseCause,
    added: Vec<Record>,
    failed: Vec<(RfcNumber, Status)>,
    error: Option<PeerError>,
    left: usize,
}

/// The index connection: the socket, unread bytes and the decoder (kept
/// together so a read dropped by `select!` loses nothing).
struct ServerConn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: P2sResponseDecoder,
    server: String,
    since: Instant,
    /// Off-spec forms already said on this connection.
    said: HashSet<Leniency>,
}

/// Withdrawals waiting for their fresh connection, re-advertise and check.
#[derive(Debug)]
struct Check {
    /// Each withdrawal asked, answered when the check ends.
    asked: Vec<(Vec<RfcNumber>, Withdrawal)>,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The connection is to be renewed.
    Renew,
    /// The re-advertise (this batch) is under way.
    Readvertise(u64),
    /// The LOOKUP is under way; `n` records were re-advertised.
    Verify { n: usize },
    /// Everything is being ADDed once more (this batch).
    Restore(u64),
}

/// The conversation task's state.
pub struct Conversation {
    settings: Settings,
    jobs: mpsc::UnboundedReceiver<Job>,
    // Unbounded: everything sent here follows from a job the engine gave or
    // from a reconnection (spaced by the backoff), so it cannot run away
    // from the engine, and sending never waits (a wait would need its own
    // watch on the stop signal).
    answers: mpsc::UnboundedSender<Answer>,
    stop: CancellationToken,
    conn: Option<ServerConn>,
    /// Index in `settings.servers` of the server in use, or to try first.
    current: usize,
    retry_at: Instant,
    backoff: Backoff,
    /// Everything asked to be advertised (number → title), ADDed again on
    /// each new connection. An RFC the server refused (not 200) leaves it.
    wanted: BTreeMap<RfcNumber, String>,
    /// Withdrawals under way: a fresh connection is made before the next
    /// request, then the re-advertise is checked.
    check: Option<Check>,
    /// The old connection of a withdrawal that the server had not closed
    /// in time, and until when it is watched.
    old: Option<(TcpStream, Instant)>,
    reads: VecDeque<Step>,
    adds: VecDeque<Step>,
    batches: HashMap<u64, Batch>,
    next_batch: u64,
}

impl Conversation {
    pub fn new(
        settings: Settings,
        jobs: mpsc::UnboundedReceiver<Job>,
        answers: mpsc::UnboundedSender<Answer>,
        stop: CancellationToken,
    ) -> Conversation {
        let backoff = Backoff::new(settings.min_backoff, settings.max_backoff);
        Conversation {
            settings,
            jobs,
            answers,
            stop,
            conn: None,
            current: 0,
            retry_at: Instant::now(),
            backoff,
            wanted: BTreeMap::new(),
            check: None,
            old: None,
            reads: VecDeque::new(),
            adds: VecDeque::new(),
            batches: HashMap::new(),
            next_batch: 0,
        }
    }

    /// Runs until `stop` is cancelled or the engine goes away; then closes
    /// the connection (the server drops our records at once).
    pub async fn run(mut self) {
        self.connect().await;
        while !self.stop.is_cancelled() {
            while let Ok(job) = self.jobs.try_recv() {
                self.take(job);
            }
            if self.check.as_ref().is_some_and(|c| c.stage == Stage::Renew) {
                self.renew().await;
                continue;
            }
            if let Some(step) = self.reads.pop_front().or_else(|| self.adds.pop_front()) {
                self.perform(step).await;
                continue;
            }
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                job = self.jobs.recv() => match job {
                    Some(job) => self.take(job),
                    None => break,
                },
                // Between answers the server has nothing to say.
                read = idle(&mut self.conn) => self.on_idle_read(read).await,
                _ = old_closed(&mut self.old), if self.old.is_some() => {
                    self.old = None;
                    self.late_check();
                }
                _ = tokio::time::sleep_until(self.retry_at), if self.conn.is_none() => self.connect().await,
            }
        }
        if let Some(mut conn) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.stream.shutdown()).await;
        }
    }

    fn say(&self, answer: Answer) {
        let _ = self.answers.send(answer);
    }

    fn event(&self, ev: NetEvent) {
        self.say(Answer::Event(ev));
    }

    fn notice(&self, text: String) {
        self.event(NetEvent::Notice(text));
    }

    fn wire(&self, direction: Direction, request: Option<Request>, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let at = SystemTime::now();
        self.event(NetEvent::Wire(WireMessage { at, direction, link: Link::Server, request, text }));
    }

    fn not_connected(&self) -> IndexError {
        IndexError::NotConnected { servers: self.settings.servers.join(" or ") }
    }

    /// Queues a job, or fails it at once when there is no connection (an
    /// advertise is still remembered, for the next connection).
    fn take(&mut self, job: Job) {
        let connected = self.conn.is_some();
        match job {
            Job::Advertise(rfcs, cause) => {
                self.wanted.extend(rfcs.iter().cloned());
                if connected && !rfcs.is_empty() {
                    self.queue_batch(rfcs, cause);
                } else {
                    let error = rfcs
                        .first()
                        .map(|(rfc, _)| PeerError::about(Request::Add(*rfc), self.not_connected()));
                    self.say(Answer::Advertised { cause, added: vec![], failed: vec![], error });
                }
            }
            Job::Lookup { rfc, title, purpose } if connected => {
                self.reads.push_back(Step::Lookup { rfc, title, purpose })
            }
            Job::Lookup { rfc, purpose, .. } => {
                self.say(Answer::Lookup { rfc, purpose, result: Err(self.not_connected()) })
            }
            Job::List if connected => self.reads.push_back(Step::List),
            Job::List => self.say(Answer::List(Err(self.not_connected()))),
            Job::Withdraw(rfcs, why) => {
                let withdrawn: Vec<String> =
                    rfcs.iter().filter(|r| self.wanted.remove(r).is_some()).map(|r| r.to_string()).collect();
                if withdrawn.is_empty() {
                    let outcome = WithdrawOutcome::NotAdvertised;
                    return self.say(Answer::Withdrawn { rfcs, why, outcome });
                }
                if !connected {
                    // The server dropped them with the connection.
                    return self.say(Answer::Withdrawn { rfcs, why, outcome: WithdrawOutcome::Offline });
                }
                let rest = match self.wanted.len() {
                    0 => "nothing else to advertise again".to_owned(),
                    n => format!("then advertising the other {n} again"),
                };
                self.notice(format!(
                    "withdrawing RFC {} from the index: reconnecting, {rest}",
                    withdrawn.join(", ")
                ));
                match &mut self.check {
                    // Not renewed yet, or renewed but not checked: one more
                    // renewal covers them all.
                    Some(check) => {
                        check.asked.push((rfcs, why));
                        check.stage = Stage::Renew;
                    }
                    None => self.check = Some(Check { asked: vec![(rfcs, why)], stage: Stage::Renew }),
                }
            }
        }
    }

    /// Ends the withdrawals under way with `outcome`.
    fn end_check(&mut self, outcome: WithdrawOutcome) {
        let Some(check) = self.check.take() else { return };
        for (rfcs, why) in check.asked {
            self.say(Answer::Withdrawn { rfcs, why, outcome: outcome.clone() });
        }
    }

    /// The withdrawals' cause for the re-advertise: all their RFCs, and why
    /// (the first's, if they differ).
    fn withdrawal_cause(&self) -> AdvertiseCause {
        let asked = self.check.as_ref().map_or(&[][..], |c| &c.asked[..]);
        let rfcs = asked.iter().flat_map(|(r, _)| r.iter().copied()).collect();
        let why = asked.first().map_or(Withdrawal::Removed, |(_, why)| *why);
        AdvertiseCause::Withdrawal { rfcs, why }
    }

    /// Closes the connection on purpose and opens it again (a withdrawal):
    /// queued ADDs are dropped, since the new connection ADDs everything
    /// still wanted; queued reads wait for it. Between the two, the server
    /// is given [`CLOSE_WAIT`] to close its side: until it has processed
    /// our close it may still drop (by host and port) what we ADD anew.
    async fn renew(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return self.end_check(WithdrawOutcome::Offline);
        };
        let began = Instant::now();
        let closed = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return,
            closed = close_and_wait(&mut conn, CLOSE_WAIT) => closed,
        };
        debug!(closed, waited = ?began.elapsed(), "closed the index connection to withdraw");
        self.old = (!closed).then(|| (conn.stream, began + LATE_CHECK));
        for step in std::mem::take(&mut self.adds) {
            if let Step::Add { batch, .. } = step {
                self.settle(batch);
            }
        }
        let cause = self.withdrawal_cause();
        let batch = self.connect_with(cause).await;
        if self.conn.is_none() {
            // Disconnected said why; the next connection ADDs the rest.
            let error = PeerError::from(self.not_connected());
            return self.end_check(WithdrawOutcome::Incomplete(error));
        }
        match batch {
            Some(batch) => {
                if let Some(check) = self.check.as_mut() {
                    check.stage = Stage::Readvertise(batch);
                }
            }
            None => self.end_check(WithdrawOutcome::Done { readvertised: 0, restored: 0 }),
        }
    }

    /// One of a batch's ADDs will not be sent: the batch may be complete.
    fn settle(&mut self, batch: u64) {
        let Some(b) = self.batches.get_mut(&batch) else { return };
        b.left = b.left.saturating_sub(1);
        if b.left == 0
            && let Some(b) = self.batches.remove(&batch)
        {
            self.checked(batch, &b);
            self.say(Answer::Advertised { cause: b.cause, added: b.added, failed: b.failed, error: b.error });
        }
    }

    /// A batch is complete: if a withdrawal's check waits for it, the next
    /// step (the LOOKUP, or the outcome).
    fn checked(&mut self, batch: u64, b: &Batch) {
        let Some(stage) = self.check.as_ref().map(|c| c.stage) else { return };
        match stage {
            Stage::Readvertise(id) if id == batch => {
                if let Some(e) = &b.error {
                    return self.end_check(WithdrawOutcome::Incomplete(e.clone()));
                }
                let me = &self.settings.me;
                // The first ADDed is the one a late cleanup takes for sure.
                let Some(first) = b.added.iter().find(|r| r.host == me.host && r.port == me.port) else {
                    return self.end_check(WithdrawOutcome::Done { readvertised: 0, restored: 0 });
                };
                let step = Step::Verify { rfc: first.rfc, title: first.title.clone() };
                self.reads.push_front(step);
                if let Some(check) = self.check.as_mut() {
                    check.stage = Stage::Verify { n: b.added.len() };
                }
            }
            Stage::Restore(id) if id == batch => match &b.error {
                Some(e) => self.end_check(WithdrawOutcome::Incomplete(e.clone())),
                None => {
                    let n = b.added.len();
                    self.end_check(WithdrawOutcome::Done { readvertised: n, restored: n })
                }
            },
            _ => {}
        }
    }

    /// The answer to a withdrawal's check: our record is there, or
    /// everything is ADDed once more.
    fn on_verify(&mut self, rfc: RfcNumber, result: Result<P2sResponse, IndexError>) {
        let Some(Stage::Verify { n }) = self.check.as_ref().map(|c| c.stage) else { return };
        let me = &self.settings.me;
        match result {
            Ok(r)
                if r.status == Status::Ok
                    && r.records.iter().any(|x| x.host == me.host && x.port == me.port) =>
            {
                self.end_check(WithdrawOutcome::Done { readvertised: n, restored: 0 })
            }
            Ok(_) => {
                let again: Vec<(RfcNumber, String)> =
                    self.wanted.iter().map(|(r, t)| (*r, t.clone())).collect();
                info!(%rfc, again = again.len(), "our records went with the old connection's cleanup");
                self.notice(format!(
                    "the index dropped our records after the reconnection (LOOKUP RFC {rfc} no longer \
                     lists us): advertising {} RFC(s) once more",
                    again.len()
                ));
                if again.is_empty() {
                    return self.end_check(WithdrawOutcome::Done { readvertised: 0, restored: 0 });
                }
                let batch = self.queue_batch(again, AdvertiseCause::Restore);
                if let Some(check) = self.check.as_mut() {
                    check.stage = Stage::Restore(batch);
                }
            }
            Err(e) => self.end_check(WithdrawOutcome::Incomplete(PeerError::about(Request::Lookup(rfc), e))),
        }
    }

    /// The server closed a withdrawal's old connection late (or never, in
    /// [`LATE_CHECK`]): its cleanup may have come after the check, so the
    /// check is made again (a `Restore` advertise follows if it took ours).
    fn late_check(&mut self) {
        if self.conn.is_none() || self.check.is_some() {
            // A new connection re-advertises anyway; a check under way
            // comes after this.
            return;
        }
        let Some((rfc, title)) = self.wanted.first_key_value().map(|(r, t)| (*r, t.clone())) else { return };
        debug!(%rfc, "the old connection closed late: checking our records again");
        self.reads.push_front(Step::Verify { rfc, title });
        self.check = Some(Check { asked: vec![], stage: Stage::Verify { n: self.wanted.len() } });
    }

    /// Queues the ADDs of one advertise; returns the batch's id.
    fn queue_batch(&mut self, rfcs: Vec<(RfcNumber, String)>, cause: AdvertiseCause) -> u64 {
        let batch = self.next_batch;
        self.next_batch += 1;
        self.event(NetEvent::Advertising { count: rfcs.len(), cause: cause.clone() });
        let b = Batch { cause, added: vec![], failed: vec![], error: None, left: rfcs.len() };
        self.batches.insert(batch, b);
        self.adds.extend(rfcs.into_iter().map(|(rfc, title)| Step::Add { rfc, title, batch }));
        batch
    }

    /// Sends one request and reads its answer, watching the stop signal.
    async fn perform(&mut self, step: Step) {
        if self.conn.is_none() {
            let reason = self.not_connected();
            self.deliver(step, Err(reason));
            return;
        }
        let mut out = Vec::new();
        P2sRequest { method: step.method(), peer: self.settings.me.clone() }.encode(&mut out);
        let request = step.request();
        self.wire(Direction::Sent, Some(request), &out);
        let Some(conn) = self.conn.as_mut() else { return };
        let done = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return,
            done = exchange(conn, &out, &self.settings) => done,
        };
        if !done.raw.is_empty() {
            self.wire(Direction::Received, Some(request), &done.raw);
        }
        self.say_leniencies(request);
        if let Some((missing, cut)) = done.cut {
            let how = match cut {
                Cut::Closed => "before the server closed the connection".to_owned(),
                Cut::Quiet(d) => format!("after {d:?} of silence"),
            };
            debug!(%request, %missing, %how, "answer taken as it stood");
            self.notice(format!(
                "{request}: the index server's answer lacked {missing}; used what arrived {how}"
            ));
        }
        if let Err(e) = &done.result {
            debug!(%request, error = %e, "request failed");
        }
        self.deliver(step, done.result);
        match done.then {
            Then::Keep => {}
            Then::Skip => {
                if let Some(reason) = self.skip_until_quiet().await {
                    self.lose(reason);
                }
            }
            Then::Close(reason) => self.lose(reason),
        }
    }

    /// Says, once per connection, each off-spec form the server's answers
    /// came in that was read anyway.
    fn say_leniencies(&mut self, request: Request) {
        let Some(conn) = self.conn.as_mut() else { return };
        let fresh: Vec<Leniency> =
            conn.decoder.take_leniencies().into_iter().filter(|l| conn.said.insert(*l)).collect();
        for form in fresh {
            debug!(%request, %form, "off-spec answer read anyway");
            self.notice(format!(
                "{request}: the index server's answer has {form}; read anyway (said once per connection)"
            ));
        }
    }

    /// Hands a result to whoever waits for it.
    fn deliver(&mut self, step: Step, result: Result<P2sResponse, IndexError>) {
        match step {
            Step::Verify { rfc, .. } => self.on_verify(rfc, result),
            Step::Lookup { rfc, purpose, .. } => self.say(Answer::Lookup { rfc, purpose, result }),
            Step::List => self.say(Answer::List(result)),
            Step::Add { rfc, title, batch } => {
                let Some(b) = self.batches.get_mut(&batch) else { return };
                match result {
                    Ok(r) if r.status == Status::Ok && r.records.is_empty() => {
                        // Some servers answer an ADD with the status alone:
                        // the record is the one we sent.
                        let me = &self.settings.me;
                        b.added.push(Record { rfc, title, host: me.host.clone(), port: me.port });
                    }
                    Ok(r) if r.status == Status::Ok => b.added.extend(r.records),
                    Ok(r) => {
                        b.failed.push((rfc, r.status));
                        self.wanted.remove(&rfc);
                    }
                    Err(e) => {
                        if b.error.is_none() {
                            b.error = Some(PeerError::about(Request::Add(rfc), e));
                        }
                    }
                }
                self.settle(batch);
            }
        }
    }

    /// After a bad answer: drops whatever the server sends until it has
    /// been quiet for the answer grace. Returns why the connection must go
    /// instead, if it must.
    async fn skip_until_quiet(&mut self) -> Option<IndexError> {
        let conn = self.conn.as_mut()?;
        conn.buf.clear();
        conn.decoder.reset();
        let mut skipped = 0usize;
        let deadline = Instant::now() + self.settings.request_timeout;
        loop {
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => return None,
                read = conn.stream.read_buf(&mut conn.buf) => match read {
                    Ok(0) => return Some(IndexError::Closed),
                    Ok(n) => {
                        skipped += n;
                        conn.buf.clear();
                        if skipped > self.settings.max_answer_bytes {
                            return Some(IndexError::Flood);
                        }
                    }
                    Err(e) => return Some(IndexError::Lost(e.to_string())),
                },
                _ = tokio::time::sleep(self.settings.answer_grace) => {
                    if skipped > 0 {
                        debug!(skipped, "skipped the rest of a bad answer");
                    }
                    return None;
                }
                _ = tokio::time::sleep_until(deadline) => return Some(IndexError::Flood),
            }
        }
    }

    /// Bytes, an end or an error while no request is outstanding.
    async fn on_idle_read(&mut self, read: std::io::Result<usize>) {
        match read {
            Ok(0) => self.lose(IndexError::Closed),
            Err(e) => self.lose(IndexError::Lost(e.to_string())),
            Ok(_) => {
                let Some(conn) = self.conn.as_mut() else { return };
                // Empty lines are the late end of an answer already taken
                // as it stood: nothing to say about them.
                let blank = conn.buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                conn.buf.advance(blank);
                if conn.buf.is_empty() {
                    return;
                }
                let stray = conn.buf.split().freeze();
                self.wire(Direction::Received, None, &stray);
                self.notice(format!(
                    "ignored {} byte(s) the index server sent while no request was waiting",
                    stray.len()
                ));
                if let Some(reason) = self.skip_until_quiet().await {
                    self.lose(reason);
                }
            }
        }
    }

    /// The connection is gone: fail what waited for it, move to the next
    /// server, and schedule the next attempt.
    fn lose(&mut self, reason: IndexError) {
        let Some(conn) = self.conn.take() else { return };
        if conn.since.elapsed() >= STABLE_AFTER {
            self.backoff.reset();
        }
        self.current = (self.current + 1) % self.settings.servers.len().max(1);
        let wait = self.backoff.next_delay();
        self.retry_at = Instant::now() + wait;
        info!(server = %conn.server, %reason, ?wait, "lost the index server");
        crate::metrics::peer().index_down();
        let not_connected = self.not_connected();
        for step in std::mem::take(&mut self.reads).into_iter().chain(std::mem::take(&mut self.adds)) {
            self.deliver(step, Err(not_connected.clone()));
        }
        self.event(NetEvent::Disconnected { reason, retry_in: Some(wait) });
    }

    /// One round over the servers, starting with the current one: the first
    /// that answers is used. If none does, the next round waits its backoff.
    async fn connect(&mut self) {
        self.connect_with(AdvertiseCause::Reconnected).await;
    }

    /// As [`connect`](Self::connect), naming why everything is ADDed again;
    /// returns the batch of those ADDs, if any.
    async fn connect_with(&mut self, cause: AdvertiseCause) -> Option<u64> {
        let n = self.settings.servers.len();
        let mut last = None;
        for i in 0..n {
            let idx = (self.current + i) % n;
            let server = self.settings.servers[idx].clone();
            let dialed = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return None,
                dialed = dial(&server, self.settings.connect_timeout) => dialed,
            };
            match dialed {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let decoder =
                        P2sResponseDecoder::new(self.settings.max_line, self.settings.max_answer_records);
                    let buf = BytesMut::with_capacity(16 * 1024);
                    let since = Instant::now();
                    let said = HashSet::new();
                    self.conn =
                        Some(ServerConn { stream, buf, decoder, server: server.clone(), since, said });
                    self.current = idx;
                    info!(%server, "connected");
                    crate::metrics::peer().index_connected();
                    self.event(NetEvent::Connected { server });
                    if !self.wanted.is_empty() {
                        let again: Vec<(RfcNumber, String)> =
                            self.wanted.iter().map(|(r, t)| (*r, t.clone())).collect();
                        return Some(self.queue_batch(again, cause));
                    }
                    return None;
                }
                Err(e) => {
                    debug!(%server, error = %e, "cannot reach the index server");
                    if i + 1 < n {
                        let next = &self.settings.servers[(idx + 1) % n];
                        self.notice(format!("{e}; trying {next}"));
                    }
                    last = Some(e);
                }
            }
        }
        crate::metrics::peer().index_down();
        let wait = self.backoff.next_delay();
        self.retry_at = Instant::now() + wait;
        let reason = last.unwrap_or_else(|| self.not_connected());
        self.event(NetEvent::Disconnected { reason, retry_in: Some(wait) });
        None
    }
}

/// Closes our side of `conn` and reads (dropping what comes) until the
/// server closes its side, at most `limit`. True if it did.
async fn close_and_wait(conn: &mut ServerConn, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    if tokio::time::timeout_at(deadline, conn.stream.shutdown()).await.is_err() {
        return false;
    }
    loop {
        conn.buf.clear();
        match tokio::time::timeout_at(deadline, conn.stream.read_buf(&mut conn.buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Resolves once the old connection is closed by the server (or broken),
/// or its watch time is up; what it sends meanwhile is dropped.
async fn old_closed(old: &mut Option<(TcpStream, Instant)>) {
    let Some((stream, until)) = old.as_mut() else { return std::future::pending().await };
    let mut scratch = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(*until, stream.read(&mut scratch)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
    }
}

/// Resolves when the idle connection has bytes, an end or an error; never
/// while there is no connection. `read_buf` is cancel-safe: a read dropped
/// by `select!` has consumed nothing.
async fn idle(conn: &mut Option<ServerConn>) -> std::io::Result<usize> {
    match conn.as_mut() {
        Some(conn) => conn.stream.read_buf(&mut conn.buf).await,
        None => std::future::pending().await,
    }
}

/// Resolves `server` (`HOST:PORT`) and connects to the first address that
/// accepts, each step bounded by `limit`.
async fn dial(server: &str, limit: Duration) -> Result<TcpStream, IndexError> {
    let host = host_part(server).to_owned();
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(limit, tokio::net::lookup_host(server)).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(_)) | Err(_) => return Err(IndexError::Unresolvable { host }),
        };
    let mut last = IndexError::Unresolvable { host };
    for addr in addrs {
        match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = IndexError::Connect { server: server.to_owned(), error: e.to_string() },
            Err(_) => last = IndexError::ConnectTimeout { server: server.to_owned(), after: limit },
        }
    }
    Err(last)
}

/// `host` of `host:port` or `[v6]:port`.
fn host_part(server: &str) -> &str {
    crate::protocol::address::split_host_port(server).0
}

/// How an answer that lacked its end was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Closed,
    Quiet(Duration),
}

/// What to do with the connection after an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    Keep,
    /// Skip the rest of a bad answer, then go on.
    Skip,
    Close(IndexError),
}

/// One request and its answer.
struct Exchanged {
    /// What arrived for this request, for the log.
    raw: Vec<u8>,
    result: Result<P2sResponse, IndexError>,
    cut: Option<(Missing, Cut)>,
    then: Then,
}

impl Exchanged {
    fn fail(raw: Vec<u8>, result: IndexError, then: IndexError) -> Exchanged {
        Exchanged { raw, result: Err(result), cut: None, then: Then::Close(then) }
    }
}

/// Writes one request and reads its answer (whole, or cut short and taken
/// after the grace), all within the request timeout.
async fn exchange(conn: &mut ServerConn, request: &[u8], s: &Settings) -> Exchanged {
    let deadline = Instant::now() + s.request_timeout;
    match tokio::time::timeout_at(deadline, conn.stream.write_all(request)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let e = IndexError::Lost(e.to_string());
            return Exchanged::fail(vec![], e.clone(), e);
        }
        Err(_) => {
            let e = IndexError::Silent(s.request_timeout);
            return Exchanged::fail(vec![], e.clone(), e);
        }
    }
    // Shorter than the request timeout, or an answer lacking its end would
    // fail instead of being taken.
    let grace = s.answer_grace.min(s.request_timeout / 2);
    let mut raw = Vec::new();
    let mut last_read = Instant::now();
    loop {
        match conn.decoder.decode(&conn.buf) {
            Ok((used, resp)) => {
                raw.extend_from_slice(&conn.buf[..used]);
                conn.buf.advance(used);
                if let Some(resp) = resp {
                    return Exchanged { raw, result: Ok(resp), cut: None, then: Then::Keep };
                }
            }
            Err(e) => {
                raw.extend_from_slice(&conn.buf);
                conn.buf.clear();
                let bad = IndexError::BadAnswer(e.clone());
                let then = if e.is_limit() { Then::Close(bad.clone()) } else { Then::Skip };
                return Exchanged { raw, result: Err(bad), cut: None, then };
            }
        }
        if raw.len() + conn.buf.len() > s.max_answer_bytes {
            conn.buf.clear();
            conn.decoder.reset();
            let e = IndexError::AnswerTooLong(s.max_answer_bytes);
            return Exchanged::fail(raw, e.clone(), e);
        }
        let quiet_at = conn.decoder.can_finish(&conn.buf).then_some(last_read + grace);
        tokio::select! {
            read = conn.stream.read_buf(&mut conn.buf) => match read {
                Ok(0) => {
                    let unread = conn.buf.split();
                    raw.extend_from_slice(&unread);
                    return match conn.decoder.finish(&unread) {
                        Ok(Some((resp, missing))) => Exchanged {
                            raw,
                            result: Ok(resp),
                            cut: Some((missing, Cut::Closed)),
                            then: Then::Close(IndexError::Closed),
                        },
                        Ok(None) => Exchanged::fail(raw, IndexError::Closed, IndexError::Closed),
                        Err(e) => Exchanged::fail(raw, IndexError::BadAnswer(e), IndexError::Closed),
                    };
                }
                Ok(_) => last_read = Instant::now(),
                Err(e) => {
                    let e = IndexError::Lost(e.to_string());
                    return Exchanged::fail(raw, e.clone(), e);
                }
            },
            _ = tokio::time::sleep_until(quiet_at.unwrap_or(deadline)), if quiet_at.is_some() => {
                if let Ok(Some((resp, missing))) = conn.decoder.finish(&[]) {
                    let cut = Some((missing, Cut::Quiet(grace)));
                    return Exchanged { raw, result: Ok(resp), cut, then: Then::Keep };
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let e = if raw.is_empty() && conn.buf.is_empty() {
                    IndexError::Silent(s.request_timeout)
                } else {
                    IndexError::Stalled { progress: conn.decoder.progress(), waited: s.request_timeout }
                };
                raw.extend_from_slice(&conn.buf);
                conn.buf.clear();
                conn.decoder.reset();
                return Exchanged::fail(raw, e.clone(), e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parts() {
        assert_eq!(host_part("hostX:7734"), "hostX");
        assert_eq!(host_part("[::1]:7734"), "::1");
        assert_eq!(host_part("hostX"), "hostX");
        assert_eq!(host_part("a.b.example:1"), "a.b.example");
    }
}
