//! Client mode (`p2pci check client --listen ADDR`), after the Autobahn
//! testsuite's: the checker is the index server and the holders, a client
//! under test is started against it and asked to download a list of RFCs,
//! and the cases judge what the client did.
//!
//! Each RFC on the list is answered, when the client LOOKUPs it, in one
//! form: the exact one of docs/PROTOCOL.md, then each lenient form of its
//! Interoperability section. Its record names a holder on a port of its own,
//! so a GET arriving there shows the client read that form (a client that
//! misread the record would knock elsewhere, or nowhere). One more RFC's
//! holder sends less than its Content-Length, then closes: the client must
//! not keep it (it must neither ADD it nor serve it). The session is
//! recorded byte for byte; the cases run over the record once the client
//! has closed its index connection (or `--wait` ran out).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::case::{Case, CaseResult, Ctx, Exchange, Failure, Level, Stop, Suite};
use super::runner::{self, Report};
use super::wire::{Conn, Line, LineEnd, display, raw};
use crate::protocol::{
    GetRequest, GetResponseHead, Head, P2sMethod, P2sRequest, P2sResponse, Record, RfcNumber, Status,
};

type Run<'a> = BoxFuture<'a, CaseResult>;

/// How a LOOKUP answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Exact,
    NoRfcWord,
    NoEmptyAfterStatus,
    NoFinalEmptyLine,
    HeaderLines,
    OtherPhrase,
    BareLf,
    /// Exact, but the holder sends less than it announces.
    Short,
}

impl Form {
    pub const ALL: [Form; 8] = [
        Form::Exact,
        Form::NoRfcWord,
        Form::NoEmptyAfterStatus,
        Form::NoFinalEmptyLine,
        Form::HeaderLines,
        Form::OtherPhrase,
        Form::BareLf,
        Form::Short,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Form::Exact => "LOOKUP answered in the exact form",
            Form::NoRfcWord => "record lines without the leading RFC word",
            Form::NoEmptyAfterStatus => "no empty line between the status line and the records",
            Form::NoFinalEmptyLine => "the final empty line never comes (the server stays quiet)",
            Form::HeaderLines => "header lines between the status line and the empty line",
            Form::OtherPhrase => "another phrase after the code (200 Okay)",
            Form::BareLf => "bare LF line ends",
            Form::Short => "a holder that sends less than its Content-Length (must not be kept)",
        }
    }

    /// The answer to a LOOKUP of this form's RFC, naming `holder`.
    fn answer(self, holder: &Record) -> Vec<u8> {
        let mut exact = Vec::new();
        P2sResponse { status: Status::Ok, records: vec![holder.clone()] }.encode(&mut exact);
        let line = super::p2s::record_line(holder);
        let line = String::from_utf8_lossy(&line).into_owned();
        let text = match self {
            Form::Exact | Form::Short => return exact,
            Form::NoRfcWord => format!("P2P-CI/1.0 200 OK\r\n\r\n{}\r\n\r\n", &line["RFC ".len()..]),
            Form::NoEmptyAfterStatus => format!("P2P-CI/1.0 200 OK\r\n{line}\r\n\r\n"),
            Form::NoFinalEmptyLine => format!("P2P-CI/1.0 200 OK\r\n\r\n{line}\r\n"),
            Form::HeaderLines => {
                format!("P2P-CI/1.0 200 OK\r\nServer: p2pci-check\r\nX-Records: 1\r\n\r\n{line}\r\n\r\n")
            }
            Form::OtherPhrase => format!("P2P-CI/1.0 200 Okay\r\n\r\n{line}\r\n\r\n"),
            Form::BareLf => format!("P2P-CI/1.0 200 OK\n\n{line}\n\n"),
        };
        text.into_bytes()
    }
}

/// One RFC of the list: its form, number and holder.
#[derive(Debug, Clone)]
pub struct Offer {
    pub form: Form,
    pub rfc: RfcNumber,
    pub holder: SocketAddr,
    pub body: Vec<u8>,
}

/// A request as the client sent it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub lines: Vec<Line>,
    pub raw: Vec<u8>,
}

impl Sent {
    fn head(&self) -> Option<Head<'_>> {
        let (start, rest) = self.lines.split_first()?;
        let headers = rest.iter().filter(|l| !l.is_empty()).map(|l| l.bytes.as_slice()).collect();
        Some(Head { start: &start.bytes, headers })
    }

    fn p2s(&self) -> Option<P2sRequest> {
        P2sRequest::from_head(&self.head()?).ok()
    }

    fn get(&self) -> Option<GetRequest> {
        GetRequest::from_head(&self.head()?).ok()
    }
}

/// What the checker saw of the session.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The client's address on each index connection.
    pub connections: Vec<SocketAddr>,
    pub p2s: Vec<Sent>,
    /// GETs, with the holder port each came to.
    pub gets: Vec<(u16, Sent)>,
    /// The client's upload server (its address, the Port it gave).
    pub upload: Option<SocketAddr>,
    /// What the client's upload server answered for an RFC it was
    /// offered: the body of a 200, or why there was none.
    pub served: Vec<(RfcNumber, Result<Vec<u8>, String>)>,
    /// Index connections still open.
    pub open: usize,
    /// Fetches from the client's upload server not finished yet.
    pub pending: usize,
}

/// The session shared by the servers and, afterwards, the cases.
#[derive(Debug)]
pub struct Session {
    pub offers: Vec<Offer>,
    pub recorded: Mutex<Recorded>,
    pub index: SocketAddr,
    changed: tokio::sync::Notify,
}

impl Session {
    fn rec(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offer(&self, form: Form) -> &Offer {
        // Every form has an offer (see `start`).
        self.offers.iter().find(|o| o.form == form).unwrap_or(&self.offers[0])
    }
}

/// A body for an offered RFC: text that says what it is, about 4 KiB.
fn body(rfc: RfcNumber, form: Form) -> Vec<u8> {
    let line = format!("p2pci check client: RFC {rfc}, {}\n", form.label());
    line.repeat(4096 / line.len() + 1).into_bytes()
}

/// Binds the index server on `listen` and a holder per form beside it.
pub async fn start(listen: SocketAddr, ctx: &Ctx) -> Result<Arc<Session>, String> {
    let index = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let index_addr = index.local_addr().map_err(|e| e.to_string())?;
    let mut offers = Vec::new();
    let mut holders = Vec::new();
    for form in Form::ALL {
        let l = TcpListener::bind(SocketAddr::new(index_addr.ip(), 0))
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", index_addr.ip()))?;
        let holder = l.local_addr().map_err(|e| e.to_string())?;
        let rfc = ctx.fresh_rfc();
        offers.push(Offer { form, rfc, holder, body: body(rfc, form) });
        holders.push((form, l));
    }
    let session = Arc::new(Session {
        offers,
        recorded: Mutex::default(),
        index: index_addr,
        changed: tokio::sync::Notify::new(),
    });
    tokio::spawn(serve_index(index, session.clone()));
    for (form, l) in holders {
        tokio::spawn(serve_holder(l, form, session.clone()));
    }
    Ok(session)
}

/// What to tell the person running the client.
pub fn instructions(s: &Session) -> String {
    let mut out = format!(
        "p2pci check client: the index server is {}\n\
         Start the client under test against it, keep one session, and have it download each RFC below\n\
         (LOOKUP, then GET from the holder the answer names; in p2pci's headless peer, type the lines):\n",
        s.index
    );
    for o in &s.offers {
        out.push_str(&format!("  get {}   # {}\n", o.rfc, o.form.label()));
    }
    out.push_str("Then close the client: the end of its index connection ends the session.\n");
    out
}

/// Waits for the session to end: at least one index connection came and
/// none is open any more, or `wait` ran out. `Err` if no client came.
pub async fn until_done(s: &Session, wait: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let changed = s.changed.notified();
        {
            let r = s.rec();
            if !r.connections.is_empty() && r.open == 0 {
                return Ok(());
            }
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return if s.rec().connections.is_empty() {
                Err(format!("no client connected to {} within {}", s.index, runner::seconds(wait)))
            } else {
                Ok(())
            };
        }
    }
}

/// Waits (at most 8 s) for the fetches from the client's upload server
/// still under way.
pub async fn settle(s: &Session) {
    let _ = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            let changed = s.changed.notified();
            if s.rec().pending == 0 {
                return;
            }
            changed.await;
        }
    })
    .await;
}

/// Runs the client cases over a finished session.
pub async fn judge(
    session: Arc<Session>,
    mut ctx: Ctx,
    cases: &[Case],
    strict: bool,
    on_case: impl FnMut(&runner::CaseReport),
) -> Report {
    ctx.client = Some(session);
    runner::run(Suite::Client, cases, &ctx, strict, on_case).await
}

async fn serve_index(listener: TcpListener, s: Arc<Session>) {
    while let Ok((stream, addr)) = listener.accept().await {
        {
            let mut r = s.rec();
            r.connections.push(addr);
            r.open += 1;
        }
        s.changed.notify_waiters();
        let s = s.clone();
        tokio::spawn(async move {
            let mut conn = Conn::accepted(stream, Arc::new(Mutex::new(Exchange::default())));
            while let Ok(lines) = conn.head().await {
                let complete = lines.last().is_some_and(|l| l.is_empty() && l.end != LineEnd::Missing);
                let sent = Sent { raw: raw(&lines), lines };
                let answer = index_answer(&s, &sent, addr.ip());
                s.rec().p2s.push(sent);
                s.changed.notify_waiters();
                if !complete || conn.write_all(&answer).await.is_err() {
                    break;
                }
            }
            s.rec().open -= 1;
            s.changed.notify_waiters();
        });
    }
}

/// The index's answer to one request: an offered RFC's LOOKUP in its form,
/// everything else in the exact form.
fn index_answer(s: &Arc<Session>, sent: &Sent, client: IpAddr) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(req) = sent.p2s() else {
        P2sResponse { status: Status::BadRequest, records: vec![] }.encode(&mut out);
        return out;
    };
    s.rec().upload = Some(SocketAddr::new(client, req.peer.port));
    let own = |rfc: Option<RfcNumber>| -> Vec<Record> {
        let r = s.rec();
        r.p2s
            .iter()
            .filter_map(Sent::p2s)
            .filter_map(|p| match p.method {
                P2sMethod::Add { rfc: n, title } if rfc.is_none_or(|want| want == n) => {
                    Some(Record { rfc: n, title, host: p.peer.host, port: p.peer.port })
                }
                _ => None,
            })
            .rev()
            .collect()
    };
    match req.method {
        P2sMethod::Add { rfc, title } => {
            let record = Record { rfc, title, host: req.peer.host, port: req.peer.port };
            if let Some(o) = s.offers.iter().find(|o| o.rfc == rfc) {
                // The client ADDs what it downloaded: see what it serves.
                s.rec().pending += 1;
                tokio::spawn(fetch_back(s.clone(), SocketAddr::new(client, record.port), o.rfc));
            }
            P2sResponse { status: Status::Ok, records: vec![record] }.encode(&mut out);
        }
        P2sMethod::Lookup { rfc, .. } => {
            if let Some(o) = s.offers.iter().find(|o| o.rfc == rfc) {
                let holder = Record {
                    rfc,
                    title: format!("p2pci check {:?}", o.form),
                    host: o.holder.ip().to_string(),
                    port: o.holder.port(),
                };
                return o.form.answer(&holder);
            }
            let found = own(Some(rfc));
            let status = if found.is_empty() { Status::NotFound } else { Status::Ok };
            P2sResponse { status, records: found }.encode(&mut out);
        }
        P2sMethod::List => P2sResponse { status: Status::Ok, records: own(None) }.encode(&mut out),
    }
    out
}

async fn serve_holder(listener: TcpListener, form: Form, s: Arc<Session>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    while let Ok((stream, client)) = listener.accept().await {
        let s = s.clone();
        tokio::spawn(async move {
            let mut conn = Conn::accepted(stream, Arc::new(Mutex::new(Exchange::default())));
            let Ok(lines) = conn.head().await else { return };
            let sent = Sent { raw: raw(&lines), lines };
            let req = sent.get();
            s.rec().gets.push((port, sent));
            s.changed.notify_waiters();
            let offer = s.offer(form).clone();
            let mut out = Vec::new();
            match req {
                Some(req) if req.rfc == offer.rfc => {
                    let now = std::time::SystemTime::now();
                    let mut head = GetResponseHead::ok(now, "p2pci-check", now, offer.body.len() as u64);
                    if form == Form::Short {
                        head.content_length = Some(offer.body.len() as u64 + 100);
                    }
                    head.encode(&mut out);
                    out.extend_from_slice(&offer.body);
                }
                Some(_) => GetResponseHead::error(Status::NotFound).encode(&mut out),
                None => GetResponseHead::error(Status::BadRequest).encode(&mut out),
            }
            let mut stream = conn.into_stream();
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
            drop(stream);
            if form == Form::Short {
                s.rec().pending += 1;
                // Once the client has seen the close, it must not serve
                // the short file; ask its upload server (its address from
                // the index connection, its Port from its requests).
                tokio::time::sleep(Duration::from_secs(1)).await;
                let upload = s.rec().upload.map(|u| SocketAddr::new(client.ip(), u.port()));
                match upload {
                    Some(at) => fetch_back(s.clone(), at, offer.rfc).await,
                    None => s.rec().pending -= 1,
                }
            }
        });
    }
}

/// GETs `rfc` from the client's upload server at `at` and records what
/// came: the body of a 200, or why not.
async fn fetch_back(s: Arc<Session>, at: SocketAddr, rfc: RfcNumber) {
    let got = async {
        let mut stream =
            tokio::net::TcpStream::connect(at).await.map_err(|e| format!("cannot reach {at}: {e}"))?;
        let mut req = Vec::new();
        GetRequest { rfc, host: "p2pci-check".into(), os: Some("p2pci-check".into()), want_digest: false }
            .encode(&mut req);
        stream.write_all(&req).await.map_err(|e| e.to_string())?;
        let mut conn = Conn::accepted(stream, Arc::new(Mutex::new(Exchange::default())));
        let lines = conn.head().await.map_err(|_| "no answer".to_owned())?;
        let status = lines.first().map(Line::text).unwrap_or_default();
        if !status.starts_with("P2P-CI/1.0 200") {
            return Err(format!("answered {}", display(status.as_bytes())));
        }
        let len = lines
            .iter()
            .filter_map(|l| {
                l.text().split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        conn.read_up_to(len, super::wire::GRACE).await.map_err(|_| "the body broke off".to_owned())?;
        Ok(conn.take_buffered())
    };
    let got = match tokio::time::timeout(Duration::from_secs(5), got).await {
        Ok(r) => r,
        Err(_) => Err("no answer within 5 s".into()),
    };
    {
        let mut r = s.rec();
        r.served.push((rfc, got));
        r.pending -= 1;
    }
    s.changed.notify_waiters();
}

fn fail(expected: impl Into<String>, actual: impl Into<String>, sent: &[u8], received: &[u8]) -> Stop {
    Stop::Fail(Failure {
        expected: expected.into(),
        actual: actual.into(),
        sent: sent.to_vec(),
        received: received.to_vec(),
    })
}

fn session(ctx: &Ctx) -> Result<&Session, Stop> {
    ctx.client.as_deref().ok_or_else(|| Stop::Skip("not a client session".into()))
}

/// `sent`, or a skip when the client sent no `what` (the case has nothing
/// to look at).
fn any_sent<T>(sent: Vec<T>, what: &str) -> Result<Vec<T>, Stop> {
    if sent.is_empty() {
        return Err(Stop::Skip(format!("the client sent no {what}")));
    }
    Ok(sent)
}

/// The offer in `form`, or a skip when the client never downloaded it.
fn downloaded(s: &Session, form: Form) -> Result<&Offer, Stop> {
    let o = s.offer(form);
    if !s.rec().gets.iter().any(|(p, _)| *p == o.holder.port()) {
        return Err(Stop::Skip(format!("the client never downloaded RFC {}", o.rfc)));
    }
    Ok(o)
}

/// Whether `req` starts with the request line `want` (without its line end).
fn request_line(req: &Sent, want: &[u8]) -> CaseResult {
    if req.lines[0].bytes != want {
        return Err(fail(
            format!("the request line {}", display(want)),
            display(&req.lines[0].bytes),
            &[],
            &req.raw,
        ));
    }
    Ok(())
}

macro_rules! form_case {
    ($fun:ident, $form:expr) => {
        fn $fun(ctx: &Ctx) -> Run<'_> {
            async move { read_form(session(ctx)?, $form) }.boxed()
        }
    };
}

form_case!(answer_exact, Form::Exact);
form_case!(answer_no_rfc_word, Form::NoRfcWord);
form_case!(answer_no_empty_after_status, Form::NoEmptyAfterStatus);
form_case!(answer_no_final_empty_line, Form::NoFinalEmptyLine);
form_case!(answer_header_lines, Form::HeaderLines);
form_case!(answer_other_phrase, Form::OtherPhrase);
form_case!(answer_bare_lf, Form::BareLf);

/// Whether the client, having LOOKed UP the RFC answered in `form`, then
/// GOT it from the holder that answer named.
fn read_form(s: &Session, form: Form) -> CaseResult {
    let o = s.offer(form);
    let r = s.rec();
    let lookup = r.p2s.iter().find(
        |p| matches!(p.p2s(), Some(P2sRequest { method: P2sMethod::Lookup { rfc, .. }, .. }) if rfc == o.rfc),
    );
    let Some(lookup) = lookup else {
        return Err(Stop::Skip(format!("the client never looked up RFC {}", o.rfc)));
    };
    let holder = Record {
        rfc: o.rfc,
        title: format!("p2pci check {form:?}"),
        host: o.holder.ip().to_string(),
        port: o.holder.port(),
    };
    let answer = form.answer(&holder);
    let gets: Vec<u16> =
        r.gets.iter().filter(|(_, g)| g.get().is_some_and(|g| g.rfc == o.rfc)).map(|(p, _)| *p).collect();
    if gets.contains(&o.holder.port()) {
        return Ok(());
    }
    let actual = match gets.first() {
        Some(port) => {
            format!("a GET of RFC {} at port {port}, not at the holder's {}", o.rfc, o.holder.port())
        }
        None => format!("no GET of RFC {} followed: the client did not read the answer", o.rfc),
    };
    Err(fail(
        format!("a GET of RFC {} from {} (the record in the answer)", o.rfc, o.holder),
        actual,
        &answer,
        &lookup.raw,
    ))
}

fn one_connection(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let r = s.rec();
        if r.connections.len() == 1 {
            return Ok(());
        }
        let addrs: Vec<String> = r.connections.iter().map(ToString::to_string).collect();
        Err(fail(
            "one index connection for the whole session",
            format!("{} connections, from {}", addrs.len(), addrs.join(", ")),
            &[],
            &[],
        ))
    }
    .boxed()
}

fn every_request(s: &Session) -> Vec<Sent> {
    let r = s.rec();
    r.p2s.iter().cloned().chain(r.gets.iter().map(|(_, g)| g.clone())).collect()
}

fn crlf(ctx: &Ctx) -> Run<'_> {
    async move {
        for req in any_sent(every_request(session(ctx)?), "request")? {
            if let Some((n, l)) = req.lines.iter().enumerate().find(|(_, l)| l.end != LineEnd::CrLf) {
                let how = if l.end == LineEnd::Lf { "a bare LF" } else { "no line end" };
                return Err(fail(
                    "every request line ending in CR LF",
                    format!("line {} ({}) ends in {how}", n + 1, display(&l.bytes)),
                    &[],
                    &req.raw,
                ));
            }
        }
        Ok(())
    }
    .boxed()
}

/// The request as docs/PROTOCOL.md writes it.
fn exact(p: &P2sRequest) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

fn p2s_form(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let reqs = any_sent(s.rec().p2s.clone(), "request to the index")?;
        for req in reqs {
            let Some(p) = req.p2s() else {
                return Err(fail(
                    "a well-formed ADD, LOOKUP or LIST",
                    "a request p2pci's own server would refuse (400)",
                    &[],
                    &req.raw,
                ));
            };
            let want = exact(&p);
            let want_start = want
                .split(|&b| b == b'\n')
                .next()
                .unwrap_or_default()
                .strip_suffix(b"\r")
                .unwrap_or_default()
                .to_vec();
            request_line(&req, &want_start)?;
            for line in req.lines[1..].iter().filter(|l| !l.is_empty()) {
                let text = line.text();
                let name = text.split(':').next().unwrap_or_default().trim();
                if let Some(shown) = ["Host", "Port", "Title"].iter().find(|k| k.eq_ignore_ascii_case(name))
                    && name != *shown
                {
                    return Err(fail(
                        format!("the header name written {shown}"),
                        display(name.as_bytes()),
                        &[],
                        &req.raw,
                    ));
                }
            }
        }
        Ok(())
    }
    .boxed()
}

fn p2s_exact(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let reqs = any_sent(s.rec().p2s.clone(), "request to the index")?;
        for req in reqs {
            let Some(p) = req.p2s() else { continue };
            let want = exact(&p);
            if req.raw != want {
                return Err(fail(format!("exactly {}", display(&want)), display(&req.raw), &[], &req.raw));
            }
        }
        Ok(())
    }
    .boxed()
}

fn lookup_title(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let reqs = s.rec().p2s.clone();
        let lookups: Vec<&Sent> = reqs
            .iter()
            .filter(|r| matches!(r.p2s(), Some(P2sRequest { method: P2sMethod::Lookup { .. }, .. })))
            .collect();
        for req in any_sent(lookups, "LOOKUP")? {
            if let Some(P2sRequest { method: P2sMethod::Lookup { title: None, .. }, .. }) = req.p2s() {
                return Err(fail("a LOOKUP with a Title", "none", &[], &req.raw));
            }
        }
        Ok(())
    }
    .boxed()
}

fn get_form(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let gets: Vec<Sent> = s.rec().gets.iter().map(|(_, g)| g.clone()).collect();
        for g in any_sent(gets, "GET")? {
            let Some(req) = g.get() else {
                return Err(fail(
                    "a well-formed GET with a Host",
                    "a GET p2pci's own upload server would refuse (400)",
                    &[],
                    &g.raw,
                ));
            };
            request_line(&g, format!("GET RFC {} P2P-CI/1.0", req.rfc).as_bytes())?;
        }
        Ok(())
    }
    .boxed()
}

fn kept(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let o = downloaded(s, Form::Exact)?;
        let r = s.rec();
        match r.served.iter().find(|(rfc, _)| *rfc == o.rfc) {
            None => Err(fail(
                format!("an ADD of RFC {} after downloading it, then the file served", o.rfc),
                "no ADD of it came",
                &[],
                &[],
            )),
            Some((_, Ok(body))) if *body == o.body => Ok(()),
            Some((_, Ok(body))) => Err(fail(
                format!("the {} bytes downloaded, served back", o.body.len()),
                format!("{} other bytes", body.len()),
                &o.body,
                body,
            )),
            Some((_, Err(why))) => {
                Err(fail(format!("RFC {} served by the client after its ADD", o.rfc), why.clone(), &[], &[]))
            }
        }
    }
    .boxed()
}

fn short_dropped(ctx: &Ctx) -> Run<'_> {
    async move {
        let s = session(ctx)?;
        let o = downloaded(s, Form::Short)?;
        let r = s.rec();
        let added = r.p2s.iter().find(|p| matches!(p.p2s(), Some(P2sRequest { method: P2sMethod::Add { rfc, .. }, .. }) if rfc == o.rfc));
        if let Some(add) = added {
            return Err(fail(format!("no ADD of RFC {}, whose download was short", o.rfc), "the client ADDed it", &[], &add.raw));
        }
        if let Some((_, Ok(body))) = r.served.iter().find(|(rfc, _)| *rfc == o.rfc) {
            return Err(fail(format!("no RFC {} served (its download was {} bytes short)", o.rfc, 100), format!("200 and {} bytes", body.len()), &[], body));
        }
        Ok(())
    }
    .boxed()
}

pub const CASES: &[Case] = &[
    Case {
        id: "client.session.one-connection",
        level: Level::Must,
        section: "The system",
        description: "the client keeps one index connection for the whole session",
        rule: "then opens a single TCP connection to the index server and keeps it for as long as it is active",
        run: one_connection,
    },
    Case {
        id: "client.framing.crlf",
        level: Level::Must,
        section: "Framing",
        description: "every line of every request (to the index and to holders) ends in CR LF",
        rule: "p2pci ends every line it writes with CR LF.",
        run: crlf,
    },
    Case {
        id: "client.p2s.form",
        level: Level::Must,
        section: "Peer to server",
        description: "ADD, LOOKUP and LIST are well formed: exact request lines, Host, Port, Title spelled as shown",
        rule: "Header names match without regard to case; p2pci writes them as spelled on this page.",
        run: p2s_form,
    },
    Case {
        id: "client.p2s.exact",
        level: Level::Should,
        section: "Interoperability",
        description: "each request is byte for byte the form docs/PROTOCOL.md writes (headers in its order, no others)",
        rule: "Exactly the forms on this page: CR LF line ends, the headers in the order shown, one empty line to end each request.",
        run: p2s_exact,
    },
    Case {
        id: "client.lookup.title",
        level: Level::Should,
        section: "Interoperability",
        description: "every LOOKUP carries a Title",
        rule: "A LOOKUP always carries a `Title` […] Some servers refuse a LOOKUP without one.",
        run: lookup_title,
    },
    Case {
        id: "client.get.form",
        level: Level::Must,
        section: "Peer to peer",
        description: "each GET is `GET RFC <n> P2P-CI/1.0` with a Host",
        rule: "`Host` is required (**400** without it).",
        run: get_form,
    },
    Case {
        id: "client.answer.exact",
        level: Level::Must,
        section: "The answer",
        description: "a LOOKUP answered in the exact form is read (the client GETs from the holder it names)",
        rule: "A title may hold blanks, so a record line is read from both ends",
        run: answer_exact,
    },
    Case {
        id: "client.answer.no-rfc-word",
        level: Level::Should,
        section: "Interoperability",
        description: "record lines without the leading RFC word are read",
        rule: "Record lines without the leading `RFC` word: `8602 Some Title host 9999`.",
        run: answer_no_rfc_word,
    },
    Case {
        id: "client.answer.no-empty-after-status",
        level: Level::Should,
        section: "Interoperability",
        description: "an answer with no empty line between status line and records is read",
        rule: "No empty line between the status line and the first record",
        run: answer_no_empty_after_status,
    },
    Case {
        id: "client.answer.no-final-empty-line",
        level: Level::Should,
        section: "Interoperability",
        description: "an answer whose final empty line never comes is read after a grace",
        rule: "An answer whose final empty line never comes. Once the status line (and whatever records) arrived and the server either closes the connection or stays quiet for a short grace",
        run: answer_no_final_empty_line,
    },
    Case {
        id: "client.answer.header-lines",
        level: Level::Should,
        section: "Interoperability",
        description: "header lines between the status line and the empty line are skipped",
        rule: "Header lines (`Name: value`) between the status line and the empty line; they are skipped.",
        run: answer_header_lines,
    },
    Case {
        id: "client.answer.other-phrase",
        level: Level::Should,
        section: "Interoperability",
        description: "another phrase after a known code (200 Okay) is read by its code",
        rule: "Any phrase after a known code: the code carries the meaning.",
        run: answer_other_phrase,
    },
    Case {
        id: "client.answer.bare-lf",
        level: Level::Should,
        section: "Interoperability",
        description: "an answer with bare LF line ends is read",
        rule: "Bare LF line ends.",
        run: answer_bare_lf,
    },
    Case {
        id: "client.download.kept",
        level: Level::Should,
        section: "The system",
        description: "a complete download is ADDed and then served byte for byte",
        rule: "The fetching peer may then ADD the RFC to the index, and from then on serves it too.",
        run: kept,
    },
    Case {
        id: "client.download.short-dropped",
        level: Level::Must,
        section: "Peer to peer",
        description: "a download short of its Content-Length is neither ADDed nor served",
        rule: "The downloader keeps the file only if exactly `Content-Length` bytes arrived; a short or broken transfer leaves nothing behind.",
        run: short_dropped,
    },
];
