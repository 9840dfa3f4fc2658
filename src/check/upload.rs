//! The upload-server suite (`p2pci check upload HOST:PORT --rfc N`): the
//! answer to a GET (its five headers and their formats, a body of exactly
//! Content-Length bytes, the close after it), the error answers, path
//! tricks, and, for the RFC the target holds (`--rfc N`), the same bytes
//! on every GET. Cases that need a held RFC are skipped without `--rfc`.
//!
//! Each case opens its own short connection, as a downloader does; none
//! sends load.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::case::{Case, CaseResult, Ctx, Level, Stop};
use super::wire::{Conn, GRACE, Line, LineEnd, display};
use crate::protocol::{RfcNumber, Status};

type Run<'a> = BoxFuture<'a, CaseResult>;

pub const CASES: &[Case] = &[
    Case {
        id: "p2p.get.headers",
        level: Level::Must,
        section: "Peer to peer",
        description: "a GET of the held RFC is 200 with Date, OS, Last-Modified, Content-Length, Content-Type",
        rule: "A found file is answered: P2P-CI/1.0 200 OK, Date, OS, Last-Modified, Content-Length, Content-Type, an empty line, the file",
        run: get_headers,
    },
    Case {
        id: "p2p.get.dates",
        level: Level::Must,
        section: "Peer to peer",
        description: "Date and Last-Modified are IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the right weekday)",
        rule: "Dates are in the HTTP date format (IMF-fixdate).",
        run: get_dates,
    },
    Case {
        id: "p2p.get.date-now",
        level: Level::Should,
        section: "Peer to peer",
        description: "Date is the time of sending (within 10 minutes of the checker's clock)",
        rule: "`Date` is when the answer was sent",
        run: get_date_now,
    },
    Case {
        id: "p2p.get.content-length",
        level: Level::Must,
        section: "Peer to peer",
        description: "the body is exactly Content-Length bytes, nothing more or less",
        rule: "`Content-Length` is its size in bytes.",
        run: get_content_length,
    },
    Case {
        id: "p2p.get.close",
        level: Level::Must,
        section: "Peer to peer",
        description: "the upload server closes the connection after the last byte",
        rule: "The connection is closed after the last byte.",
        run: get_close,
    },
    Case {
        id: "p2p.get.identical",
        level: Level::Must,
        section: "Peer to peer",
        description: "two GETs of the held RFC give byte-identical bodies",
        rule: "A found file is answered: […] <the file: exactly Content-Length bytes>",
        run: get_identical,
    },
    Case {
        id: "p2p.get.os-optional",
        level: Level::Must,
        section: "Peer to peer",
        description: "a GET without OS is served (200)",
        rule: "`OS` is sent by p2pci but not required from others.",
        run: get_os_optional,
    },
    Case {
        id: "p2p.get.five-headers",
        level: Level::Should,
        section: "Extension: content digest",
        description: "a GET without Want-Repr-Digest gets the five headers and no other",
        rule: "A GET without `Want-Repr-Digest` is answered with the five headers above and nothing more",
        run: get_five_headers,
    },
    Case {
        id: "p2p.error.404",
        level: Level::Must,
        section: "Peer to peer",
        description: "a GET of an RFC not held is 404: status line, empty line, close",
        rule: "**404** when this peer has no such RFC; […] Each is the status line, an empty line, and the close.",
        run: error_404,
    },
    Case {
        id: "p2p.error.host-required",
        level: Level::Must,
        section: "Peer to peer",
        description: "a GET without Host is 400: status line, empty line, close",
        rule: "`Host` is required (**400** without it).",
        run: error_host,
    },
    Case {
        id: "p2p.error.505",
        level: Level::Must,
        section: "Peer to peer",
        description: "a GET of another version (P2P-CI/2.0) is 505: status line, empty line, close",
        rule: "**505** for another version. Each is the status line, an empty line, and the close.",
        run: error_505,
    },
    Case {
        id: "p2p.error.path",
        level: Level::Must,
        section: "Peer to peer",
        description: "an RFC \"number\" that is a path or not plain digits (/etc/passwd, ../.., abc, -1) is 400, never a file",
        rule: "**400** for a malformed request, including any RFC \"number\" that is not plain decimal digits (so that no request can ever name a path)",
        run: error_path,
    },
    Case {
        id: "p2p.framing.bytewise",
        level: Level::Must,
        section: "Framing",
        description: "a GET arriving one byte per TCP segment is answered as a whole",
        rule: "A request is one request line, any number of `Name: value` header lines, and an empty line.",
        run: bytewise,
    },
    Case {
        id: "p2p.framing.bare-lf",
        level: Level::Should,
        section: "Framing",
        description: "a GET whose lines end in a bare LF is answered",
        rule: "p2pci ends every line it writes with CR LF. It reads a bare LF as a line end too.",
        run: bare_lf,
    },
    Case {
        id: "p2p.framing.crlf",
        level: Level::Must,
        section: "Framing",
        description: "every line of the answers' heads (200, 404, 400, 505) ends in CR LF",
        rule: "p2pci ends every line it writes with CR LF.",
        run: crlf,
    },
    Case {
        id: "p2p.framing.status-exact",
        level: Level::Must,
        section: "Statuses",
        description: "every status line is exactly one of the four of the table",
        rule: "A status line is the version, a code and its phrase, separated by single spaces.",
        run: status_exact,
    },
];

/// A GET as p2pci sends it, or with parts left out.
fn get(token: &str, host: Option<&str>, os: Option<&str>) -> Vec<u8> {
    let mut req = format!("GET RFC {token} P2P-CI/1.0\r\n");
    if let Some(h) = host {
        req.push_str(&format!("Host: {h}\r\n"));
    }
    if let Some(os) = os {
        req.push_str(&format!("OS: {os}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

fn get_of(ctx: &Ctx, rfc: RfcNumber) -> Vec<u8> {
    get(&rfc.to_string(), Some(&ctx.fresh_host()), Some("p2pci-check"))
}

/// An answer's head: its lines up to the empty line, as they came.
struct Head {
    lines: Vec<Line>,
}

impl Head {
    fn status(&self) -> &Line {
        &self.lines[0]
    }

    fn code(&self) -> Option<u16> {
        self.status().text().split_whitespace().nth(1)?.parse().ok()
    }

    /// Header lines (between the status line and the empty line).
    fn headers(&self) -> impl Iterator<Item = &Line> {
        self.lines[1..].iter().filter(|l| !l.is_empty())
    }

    /// The trimmed value of header `name` (any letter case), if present.
    fn header(&self, name: &str) -> Option<String> {
        self.headers().find_map(|l| {
            let text = l.text();
            let (n, v) = text.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim_matches([' ', '\t']).to_owned())
        })
    }

    /// The head ended on its empty line.
    fn complete(&self) -> bool {
        self.lines.last().is_some_and(|l| l.is_empty() && l.end != LineEnd::Missing) && self.lines.len() > 1
    }

    fn summary(&self) -> String {
        let n = self.headers().count();
        format!("{} with {n} header line(s)", display(&self.status().bytes))
    }
}

async fn ask(ctx: &Ctx, req: &[u8]) -> Result<(Conn, Head), Stop> {
    let mut c = Conn::open(ctx).await?;
    c.send(req).await?;
    let lines = c.head().await?;
    Ok((c, Head { lines }))
}

/// The RFC `--rfc` names, or a skip.
fn held(ctx: &Ctx) -> Result<RfcNumber, Stop> {
    ctx.rfc.ok_or_else(|| Stop::Skip("no --rfc N: name an RFC the target holds".into()))
}

/// A GET of the held RFC, required to be a 200 with a Content-Length.
async fn fetch(ctx: &Ctx, req: &[u8]) -> Result<(Conn, Head, usize), Stop> {
    let (c, head) = ask(ctx, req).await?;
    if head.code() != Some(200) {
        return Err(c.stop("200 to a GET of the RFC --rfc names (does the target hold it?)", &head.summary()));
    }
    let len = head.header("Content-Length").and_then(|v| v.parse::<usize>().ok());
    let Some(len) = len else {
        return Err(
            c.stop("a Content-Length of decimal digits", &format!("{:?}", head.header("Content-Length")))
        );
    };
    Ok((c, head, len))
}

/// The body: what arrives until the connection closes, or until
/// Content-Length bytes are in and nothing more comes within the grace.
async fn body(c: &mut Conn, len: usize) -> Result<Vec<u8>, Stop> {
    c.read_up_to(len, GRACE).await?;
    if !c.is_closed() {
        // Bytes past Content-Length, if the server sends any.
        c.read_up_to(len + 1, GRACE).await?;
    }
    Ok(c.take_buffered())
}

fn get_headers(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (c, head, _) = fetch(ctx, &get_of(ctx, rfc)).await?;
        let missing: Vec<&str> = ["Date", "OS", "Last-Modified", "Content-Length", "Content-Type"]
            .into_iter()
            .filter(|h| head.header(h).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(c.stop("the five headers", &format!("no {}", missing.join(", no "))));
        }
        if !head.complete() {
            return Err(c.stop("an empty line after the headers", "none before the connection closed"));
        }
        Ok(())
    }
    .boxed()
}

/// Whether `value` is an IMF-fixdate exactly (the form HTTP writes, with
/// the weekday that date falls on).
fn imf_fixdate(value: &str) -> bool {
    httpdate::parse_http_date(value).is_ok_and(|t| httpdate::fmt_http_date(t) == value)
}

fn get_dates(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (c, head, _) = fetch(ctx, &get_of(ctx, rfc)).await?;
        for name in ["Date", "Last-Modified"] {
            let value = head.header(name).unwrap_or_default();
            if !imf_fixdate(&value) {
                return Err(c.stop(
                    &format!("{name} as an IMF-fixdate, such as \"Sun, 06 Nov 1994 08:49:37 GMT\""),
                    &format!("{name}: {}", display(value.as_bytes())),
                ));
            }
        }
        Ok(())
    }
    .boxed()
}

fn get_date_now(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (c, head, _) = fetch(ctx, &get_of(ctx, rfc)).await?;
        let value = head.header("Date").unwrap_or_default();
        let Ok(date) = httpdate::parse_http_date(&value) else {
            return Err(c.stop("a Date that can be read", &display(value.as_bytes())));
        };
        let now = std::time::SystemTime::now();
        let off = now.duration_since(date).or_else(|e| Ok::<_, ()>(e.duration())).unwrap_or_default();
        if off > std::time::Duration::from_secs(600) {
            return Err(c.stop(
                &format!("a Date within 10 minutes of {}", httpdate::fmt_http_date(now)),
                &format!("Date: {value} ({} s off)", off.as_secs()),
            ));
        }
        Ok(())
    }
    .boxed()
}

fn get_content_length(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (mut c, _, len) = fetch(ctx, &get_of(ctx, rfc)).await?;
        let got = body(&mut c, len).await?;
        if got.len() == len {
            return Ok(());
        }
        let how =
            if got.len() < len { "the connection closed (or went quiet) after" } else { "the server sent" };
        Err(c.stop(&format!("a body of Content-Length: {len} bytes"), &format!("{how} {} bytes", got.len())))
    }
    .boxed()
}

fn get_close(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (mut c, _, len) = fetch(ctx, &get_of(ctx, rfc)).await?;
        c.read_up_to(len, GRACE).await?;
        let wait = ctx.timeout / 2;
        if c.is_closed() || c.closes_within(wait).await? {
            return Ok(());
        }
        Err(c.stop(
            "the connection closed after the last byte",
            &format!("still open {} after {len} bytes", super::runner::seconds(wait)),
        ))
    }
    .boxed()
}

fn get_identical(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (mut c, _, len) = fetch(ctx, &get_of(ctx, rfc)).await?;
        let first = body(&mut c, len).await?;
        let (mut c, _, len2) = fetch(ctx, &get_of(ctx, rfc)).await?;
        let second = body(&mut c, len2).await?;
        if first == second {
            return Ok(());
        }
        let at = first.iter().zip(&second).position(|(a, b)| a != b).unwrap_or(first.len().min(second.len()));
        Err(c.stop(
            "the same bytes as the first GET",
            &format!("{} bytes then {}, first differing at byte {at}", first.len(), second.len()),
        ))
    }
    .boxed()
}

fn get_os_optional(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (c, head) = ask(ctx, &get(&rfc.to_string(), Some(&ctx.fresh_host()), None)).await?;
        if head.code() == Some(200) {
            return Ok(());
        }
        Err(c.stop("200 to a GET without OS", &head.summary()))
    }
    .boxed()
}

fn get_five_headers(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = held(ctx)?;
        let (c, head, _) = fetch(ctx, &get_of(ctx, rfc)).await?;
        let known = ["Date", "OS", "Last-Modified", "Content-Length", "Content-Type"];
        let extra: Vec<String> = head
            .headers()
            .map(Line::text)
            .filter(|l| {
                !known.iter().any(|k| l.split(':').next().is_some_and(|n| n.trim().eq_ignore_ascii_case(k)))
            })
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        Err(c.stop("the five headers and no other", &format!("also {}", extra.join(", "))))
    }
    .boxed()
}

/// Requires `code`, then only the empty line, then the close.
async fn error_form(ctx: &Ctx, req: &[u8], code: u16, what: &str) -> CaseResult {
    let (mut c, head) = ask(ctx, req).await?;
    if head.code() != Some(code) {
        return Err(c.stop(&format!("{code} to {what}"), &head.summary()));
    }
    if head.headers().next().is_some() || !head.complete() {
        return Err(c.stop(&format!("{code}: the status line, then one empty line"), &head.summary()));
    }
    let wait = ctx.timeout / 2;
    if !c.closes_within(wait).await? {
        return Err(c.stop(
            &format!("the close after the {code}"),
            &format!("still open {} later", super::runner::seconds(wait)),
        ));
    }
    let extra = c.take_buffered();
    if !extra.is_empty() {
        return Err(c.stop(
            &format!("nothing after the {code}'s empty line"),
            &format!("{} more bytes", extra.len()),
        ));
    }
    Ok(())
}

fn error_404(ctx: &Ctx) -> Run<'_> {
    async move { error_form(ctx, &get_of(ctx, ctx.fresh_rfc()), 404, "a GET of an RFC not held").await }
        .boxed()
}

fn error_host(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = ctx.rfc.unwrap_or_else(|| ctx.fresh_rfc());
        error_form(ctx, &get(&rfc.to_string(), None, Some("p2pci-check")), 400, "a GET without Host").await
    }
    .boxed()
}

fn error_505(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = ctx.rfc.unwrap_or_else(|| ctx.fresh_rfc());
        let req =
            format!("GET RFC {rfc} P2P-CI/2.0\r\nHost: {}\r\nOS: p2pci-check\r\n\r\n", ctx.fresh_host());
        error_form(ctx, req.as_bytes(), 505, "a GET of version P2P-CI/2.0").await
    }
    .boxed()
}

fn error_path(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut tokens: Vec<String> =
            ["/etc/passwd", "../../../../../../etc/passwd", "abc", "-1", "+1", "0x10", "1.0", "%2e%2e%2f"]
                .map(str::to_owned)
                .into();
        if let Some(rfc) = ctx.rfc {
            tokens.extend([
                format!("./{rfc}"),
                format!("{rfc}/"),
                format!("rfc{rfc}.txt"),
                format!("{rfc}.txt"),
            ]);
        }
        for token in tokens {
            let req = get(&token, Some(&ctx.fresh_host()), Some("p2pci-check"));
            error_form(ctx, &req, 400, &format!("GET RFC {token}")).await?;
        }
        Ok(())
    }
    .boxed()
}

fn bytewise(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut c = Conn::open(ctx).await?;
        c.send_bytewise(&get_of(ctx, ctx.fresh_rfc())).await?;
        let head = Head { lines: c.head().await? };
        if head.code() == Some(404) {
            return Ok(());
        }
        Err(c.stop("404 to a GET (of an RFC not held) sent a byte at a time", &head.summary()))
    }
    .boxed()
}

fn bare_lf(ctx: &Ctx) -> Run<'_> {
    async move {
        let req = format!(
            "GET RFC {} P2P-CI/1.0\nHost: {}\nOS: p2pci-check\n\n",
            ctx.fresh_rfc(),
            ctx.fresh_host()
        );
        let (c, head) = ask(ctx, req.as_bytes()).await?;
        if head.code() == Some(404) {
            return Ok(());
        }
        Err(c.stop("404 to a GET (of an RFC not held) with bare LF line ends", &head.summary()))
    }
    .boxed()
}

/// The heads of one answer of each status the target can give here.
async fn sample_heads(ctx: &Ctx) -> Result<Vec<(&'static str, Vec<u8>, Head)>, Stop> {
    let rfc = ctx.rfc.unwrap_or_else(|| ctx.fresh_rfc());
    let mut reqs = vec![
        ("a GET of an RFC not held", get_of(ctx, ctx.fresh_rfc())),
        ("a GET without Host", get(&rfc.to_string(), None, Some("x"))),
        (
            "a GET of P2P-CI/2.0",
            format!("GET RFC {rfc} P2P-CI/2.0\r\nHost: {}\r\n\r\n", ctx.fresh_host()).into_bytes(),
        ),
    ];
    if let Some(rfc) = ctx.rfc {
        reqs.insert(0, ("a GET of the held RFC", get_of(ctx, rfc)));
    }
    let mut out = Vec::new();
    for (what, req) in reqs {
        let (_, head) = ask(ctx, &req).await?;
        out.push((what, req, head));
    }
    Ok(out)
}

fn sample_fail(sent: Vec<u8>, head: &Head, expected: String, actual: String) -> Stop {
    Stop::Fail(super::case::Failure { expected, actual, sent, received: super::wire::raw(&head.lines) })
}

fn crlf(ctx: &Ctx) -> Run<'_> {
    async move {
        for (what, sent, head) in sample_heads(ctx).await? {
            if let Some((n, l)) = head.lines.iter().enumerate().find(|(_, l)| l.end != LineEnd::CrLf) {
                let how = if l.end == LineEnd::Lf { "a bare LF" } else { "no line end at all" };
                let actual = format!("line {} ({}) ends in {how}", n + 1, display(&l.bytes));
                return Err(sample_fail(
                    sent,
                    &head,
                    format!("every head line of the answer to {what} ending in CR LF"),
                    actual,
                ));
            }
        }
        Ok(())
    }
    .boxed()
}

fn status_exact(ctx: &Ctx) -> Run<'_> {
    async move {
        for (what, sent, head) in sample_heads(ctx).await? {
            let line = &head.status().bytes;
            if !Status::ALL.iter().any(|s| s.line_str().as_bytes() == line.as_slice()) {
                let actual = display(line);
                return Err(sample_fail(
                    sent,
                    &head,
                    format!("one of the four status lines, for {what}"),
                    actual,
                ));
            }
        }
        Ok(())
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdate_exactly() {
        assert!(imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"));
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "",
        ] {
            assert!(!imf_fixdate(bad), "{bad}");
        }
    }
}
