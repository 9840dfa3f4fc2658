//! The index-server suite (`p2pci check server HOST:PORT`): every request
//! form and every answer rule of docs/PROTOCOL.md, one case each.
//!
//! Every case works under hostnames and RFC numbers of its own run
//! ([`Ctx::fresh_host`], [`Ctx::fresh_rfc`]), so it is safe on a server
//! others use, and every record it ADDs goes when its connection closes,
//! so the server is left as it was found. Nothing here sends load: each
//! case makes a handful of requests, one connection at a time.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::case::{Case, CaseResult, Ctx, Level, Stop};
use super::p2s::{
    Observer, Peer, add, expect_bare, expect_code, expect_echo, list, lookup, record_line, title,
};
use super::wire::{Answer, Conn, display};
use crate::protocol::P2sMethod;

/// The server suite, in running order (`p2s.list.empty` first, while the
/// index holds none of this run's records).
pub const CASES: &[Case] = &[
    Case {
        id: "p2s.list.empty",
        level: Level::Must,
        section: "The answer",
        description: "LIST of an empty index is 200 with no records (skipped on an index in use)",
        rule: "LIST: 200 and every record, newest first. An empty index is 200 with no records, not 404.",
        run: list_empty,
    },
    Case {
        id: "p2s.add.echo",
        level: Level::Must,
        section: "The answer",
        description: "ADD is answered 200 with the one record it stored, as sent",
        rule: "ADD: 200, and the one record it stored.",
        run: add_echo,
    },
    Case {
        id: "p2s.add.utf8-title",
        level: Level::Must,
        section: "Framing",
        description: "a Title in UTF-8 beyond ASCII is stored and echoed byte for byte",
        rule: "Text is UTF-8. A header value (Host, Port, Title, OS, …) may hold any character but a control character",
        run: add_utf8,
    },
    Case {
        id: "p2s.add.idempotent",
        level: Level::Must,
        section: "Peer to server",
        description: "ADDing the same RFC twice on one connection stores one record, 200 both times",
        rule: "ADDing an RFC this connection already added changes nothing and is answered 200 with the record as first stored.",
        run: add_idempotent,
    },
    Case {
        id: "p2s.lookup.newest-first",
        level: Level::Must,
        section: "The answer",
        description: "LOOKUP lists every holder of the RFC, the newest first",
        rule: "LOOKUP: 200 and a record per peer holding that RFC, newest first",
        run: lookup_newest_first,
    },
    Case {
        id: "p2s.lookup.not-found",
        level: Level::Must,
        section: "The answer",
        description: "LOOKUP of an RFC no peer holds is 404 with no records",
        rule: "**404** and no records when no active peer holds it.",
        run: lookup_not_found,
    },
    Case {
        id: "p2s.lookup.no-title",
        level: Level::Must,
        section: "Peer to server",
        description: "LOOKUP without a Title is answered (404 here), not refused",
        rule: "LOOKUP and LIST: `Host` and `Port`; LOOKUP's `Title` may be absent and is not used for the search.",
        run: lookup_no_title,
    },
    Case {
        id: "p2s.list.all",
        level: Level::Must,
        section: "The answer",
        description: "LIST holds every record, the newest first",
        rule: "LIST: 200 and every record, newest first.",
        run: list_all,
    },
    Case {
        id: "p2s.bad.missing-host",
        level: Level::Must,
        section: "Peer to server",
        description: "ADD and LIST without Host are 400 with no records",
        rule: "A missing or malformed required header, […]: **400**.",
        run: bad_missing_host,
    },
    Case {
        id: "p2s.bad.missing-port",
        level: Level::Must,
        section: "Peer to server",
        description: "ADD and LOOKUP without Port are 400 with no records",
        rule: "A missing or malformed required header, […]: **400**.",
        run: bad_missing_port,
    },
    Case {
        id: "p2s.bad.missing-title",
        level: Level::Must,
        section: "Peer to server",
        description: "ADD without Title is 400 with no records",
        rule: "ADD: `Host`, `Port` and `Title`. […] A missing or malformed required header […]: **400**.",
        run: bad_missing_title,
    },
    Case {
        id: "p2s.bad.rfc-number",
        level: Level::Must,
        section: "Peer to server",
        description: "an RFC number that is not plain decimal digits (abc, -1, 12x, 0x10) is 400",
        rule: "an RFC number that is not a plain decimal number […]: **400**.",
        run: bad_rfc_number,
    },
    Case {
        id: "p2s.bad.port",
        level: Level::Must,
        section: "Peer to server",
        description: "a Port of 0, 65536, -1 or abc is 400",
        rule: "a port outside 1–65535 […]: **400**.",
        run: bad_port,
    },
    Case {
        id: "p2s.bad.method",
        level: Level::Must,
        section: "Peer to server",
        description: "an unknown method (REMOVE, or a GET sent to the index) is 400",
        rule: "an unknown method […]: **400**.",
        run: bad_method,
    },
    Case {
        id: "p2s.bad.list-target",
        level: Level::Must,
        section: "Peer to server",
        description: "LIST followed by anything but ALL is 400",
        rule: "or `LIST` followed by anything but `ALL`: **400**.",
        run: bad_list_target,
    },
    Case {
        id: "p2s.bad.then-usable",
        level: Level::Must,
        section: "The answer",
        description: "after a 400, the next request on the same connection gets its own answer",
        rule: "After a 400 the connection goes on, except when the request broke a size limit",
        run: bad_then_usable,
    },
    Case {
        id: "framing.version.505",
        level: Level::Must,
        section: "Framing",
        description: "a well-formed other version (P2P-CI/2.0, P2P-CI/1.1) is 505",
        rule: "A token of the shape `P2P-CI/<digits>.<digits>` naming another version is answered **505**",
        run: version_505,
    },
    Case {
        id: "framing.version.400",
        level: Level::Must,
        section: "Framing",
        description: "any other version token (HTTP/1.1, P2P-CI/1, P2P-CI/x.y) is 400",
        rule: "anything else in that place is answered **400**.",
        run: version_400,
    },
    Case {
        id: "framing.control-char",
        level: Level::Must,
        section: "Framing",
        description: "a control character (ESC, BEL, DEL) in a header value is 400 and stores nothing",
        rule: "A request with one in its request line or in any header value is answered **400** and stores nothing",
        run: control_char,
    },
    Case {
        id: "framing.headers.lenient",
        level: Level::Must,
        section: "Framing",
        description: "header names in any case and order, blanks around values, unknown headers: all accepted",
        rule: "Header names match without regard to case; […] Order is free, unknown headers are skipped, and blanks around a value are dropped.",
        run: headers_lenient,
    },
    Case {
        id: "framing.bytewise",
        level: Level::Must,
        section: "Framing",
        description: "an ADD arriving one byte per TCP segment is answered as a whole",
        rule: "A request is one request line, any number of `Name: value` header lines, and an empty line.",
        run: bytewise,
    },
    Case {
        id: "framing.bare-lf",
        level: Level::Should,
        section: "Framing",
        description: "an ADD whose lines end in a bare LF is accepted",
        rule: "p2pci ends every line it writes with CR LF. It reads a bare LF as a line end too.",
        run: bare_lf,
    },
    Case {
        id: "p2s.pipelining",
        level: Level::Must,
        section: "The system",
        description: "three requests in one write get three answers, in order",
        rule: "Everything it tells or asks the index travels over that one connection, one request at a time",
        run: pipelining,
    },
    Case {
        id: "system.close.polite",
        level: Level::Must,
        section: "The system",
        description: "a peer's records go when it closes its connection (FIN)",
        rule: "When it closes, for any reason (a goodbye, a crash, a reset, a network that went away), the server forgets every record that came over it.",
        run: close_polite,
    },
    Case {
        id: "system.close.reset",
        level: Level::Must,
        section: "The system",
        description: "a peer's records go when its connection is reset (RST)",
        rule: "When it closes, for any reason (a goodbye, a crash, a reset, a network that went away), the server forgets every record that came over it.",
        run: close_reset,
    },
    Case {
        id: "system.close.half",
        level: Level::Must,
        section: "The system",
        description: "a peer's records go when it half-closes (shuts down its sending side)",
        rule: "When it closes, for any reason (a goodbye, a crash, a reset, a network that went away), the server forgets every record that came over it.",
        run: close_half,
    },
    Case {
        id: "system.identity.same-host",
        level: Level::Must,
        section: "The system",
        description: "two connections under one hostname are two peers: one leaving keeps the other's records",
        rule: "Two connections are two peers even if they give the same hostname, and one of them leaving never touches the other's records.",
        run: identity_same_host,
    },
    Case {
        id: "p2s.identity.other-peer",
        level: Level::Must,
        section: "Peer to server",
        description: "a later ADD naming another Host or Port on the same connection is 400 and stores nothing",
        rule: "Any later ADD on that connection must name the same pair; one naming another is refused with **400** and changes nothing.",
        run: identity_other_peer,
    },
    Case {
        id: "p2s.identity.case-insensitive",
        level: Level::Must,
        section: "Peer to server",
        description: "a later ADD naming the same Host in other letter case is the same peer (200)",
        rule: "Hostnames compare without regard to case (`hostA` and `HOSTA` are one name).",
        run: identity_case,
    },
    Case {
        id: "p2s.reads.register-nothing",
        level: Level::Must,
        section: "Peer to server",
        description: "LOOKUP and LIST under other names neither register a peer nor get refused",
        rule: "LOOKUP and LIST register nothing. They are answered whatever `Host` and `Port` they carry, before or after an ADD",
        run: reads_register_nothing,
    },
    Case {
        id: "limits.line",
        level: Level::Must,
        section: "Limits",
        description: "a header line over 8 KiB is 400, then the connection closes",
        rule: "One request line or header line: 8 KiB. […] A request beyond any of these gets 400 and the connection is closed.",
        run: limits_line,
    },
    Case {
        id: "limits.line.at-limit",
        level: Level::Should,
        section: "Limits",
        description: "a header line of exactly 8 KiB is accepted",
        rule: "One request line or header line: 8 KiB.",
        run: limits_line_at,
    },
    Case {
        id: "limits.head",
        level: Level::Must,
        section: "Limits",
        description: "a request head over 64 KiB (each line under 8 KiB) is 400, then the connection closes",
        rule: "A whole request head: 64 KiB. […] A request beyond any of these gets 400 and the connection is closed.",
        run: limits_head,
    },
    Case {
        id: "limits.headers",
        level: Level::Must,
        section: "Limits",
        description: "65 header lines are 400, then the connection closes",
        rule: "At most 64 header lines. A request beyond any of these gets 400 and the connection is closed.",
        run: limits_headers,
    },
    Case {
        id: "limits.headers.at-limit",
        level: Level::Should,
        section: "Limits",
        description: "exactly 64 header lines are accepted",
        rule: "At most 64 header lines.",
        run: limits_headers_at,
    },
    Case {
        id: "framing.crlf.answer",
        level: Level::Must,
        section: "Framing",
        description: "every line of every answer (200, 404, 400, 505) ends in CR LF",
        rule: "p2pci ends every line it writes with CR LF.",
        run: crlf_answer,
    },
    Case {
        id: "p2s.answer.shape",
        level: Level::Must,
        section: "The answer",
        description: "every answer is status line, empty line, records, empty line: nothing more or less",
        rule: "Every answer, success or failure, has one shape: status line, an empty line, none or more record lines, an empty line",
        run: answer_shape,
    },
    Case {
        id: "framing.status.exact",
        level: Level::Must,
        section: "Statuses",
        description: "every status line is exactly one of the four of the table",
        rule: "A status line is the version, a code and its phrase, separated by single spaces.",
        run: status_exact,
    },
    Case {
        id: "p2s.answer.record-form",
        level: Level::Must,
        section: "The answer",
        description: "record lines are `RFC <number> <title> <hostname> <port>`, single spaces",
        rule: "RFC <number> <title> <hostname> <upload port>",
        run: record_form,
    },
];

type Run<'a> = BoxFuture<'a, CaseResult>;

mod framing;
mod limits;
mod system;

use framing::{answer_shape, crlf_answer, record_form, status_exact};
use limits::{limits_head, limits_headers, limits_headers_at, limits_line, limits_line_at};
use system::{close_half, close_polite, close_reset, identity_same_host};

fn list_empty(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut c = Conn::open(ctx).await?;
        c.send(&list(&ctx.fresh_host(), 7001)).await?;
        let a = c.answer().await?;
        match a.code() {
            Some(200) if a.body.is_empty() => Ok(()),
            Some(200) => Err(Stop::Skip(format!("the index is in use ({} records)", a.body.len()))),
            _ => Err(c.stop("200 with no record lines (the index looked empty)", &a.summary())),
        }
    }
    .boxed()
}

fn add_echo(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut p = Peer::fresh(ctx, 7001).await?;
        p.add(ctx.fresh_rfc(), &title("echo of an ADD")).await
    }
    .boxed()
}

fn add_utf8(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut p = Peer::fresh(ctx, 7001).await?;
        p.add(ctx.fresh_rfc(), &title("Überprüfung — 検証 ✓")).await
    }
    .boxed()
}

fn add_idempotent(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, t) = (ctx.fresh_rfc(), title("idempotent ADD"));
        let mut p = Peer::fresh(ctx, 7001).await?;
        p.add(rfc, &t).await?;
        p.add(rfc, &t).await?;
        let mut obs = Observer::open(ctx).await?;
        let ours = obs.holders(rfc).await?.into_iter().filter(|r| p.owns(r)).count();
        if ours != 1 {
            return Err(obs.conn.stop("one record after two identical ADDs", &format!("{ours} records")));
        }
        Ok(())
    }
    .boxed()
}

fn lookup_newest_first(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, t) = (ctx.fresh_rfc(), title("newest first"));
        let mut older = Peer::fresh(ctx, 7001).await?;
        older.add(rfc, &t).await?;
        let mut newer = Peer::fresh(ctx, 7002).await?;
        newer.add(rfc, &t).await?;
        let mut obs = Observer::open(ctx).await?;
        let holders = obs.holders(rfc).await?;
        let ours: Vec<_> = holders.iter().filter(|r| older.owns(r) || newer.owns(r)).collect();
        if ours.len() == 2 && newer.owns(ours[0]) && older.owns(ours[1]) {
            return Ok(());
        }
        let want = format!(
            "200 listing {} then {}",
            display(&record_line(&newer.record(rfc, &t))),
            display(&record_line(&older.record(rfc, &t)))
        );
        let got = ours.iter().map(|r| display(&record_line(r))).collect::<Vec<_>>();
        Err(obs.conn.stop(&want, &format!("our records in this order: [{}]", got.join(", "))))
    }
    .boxed()
}

fn lookup_not_found(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut c = Conn::open(ctx).await?;
        c.send(&lookup(ctx.fresh_rfc(), &ctx.fresh_host(), 7001)).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 404, "a LOOKUP of an RFC nobody holds")
    }
    .boxed()
}

fn lookup_no_title(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut c = Conn::open(ctx).await?;
        let req = super::p2s::request(
            P2sMethod::Lookup { rfc: ctx.fresh_rfc(), title: None },
            &ctx.fresh_host(),
            7001,
        );
        c.send(&req).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 404, "a LOOKUP without Title of an RFC nobody holds")
    }
    .boxed()
}

fn list_all(ctx: &Ctx) -> Run<'_> {
    async move {
        let (first, second) = (ctx.fresh_rfc(), ctx.fresh_rfc());
        let t = title("LIST");
        let mut p = Peer::fresh(ctx, 7001).await?;
        p.add(first, &t).await?;
        p.add(second, &t).await?;
        let mut c = Conn::open(ctx).await?;
        c.send(&list(&ctx.fresh_host(), 7002)).await?;
        let a = c.answer().await?;
        expect_code(&c, &a, 200, "a LIST")?;
        let ours: Vec<_> = a.records().into_iter().filter(|r| p.owns(r)).map(|r| r.rfc).collect();
        if ours == [second, first] {
            return Ok(());
        }
        Err(c.stop(
            &format!("RFC {second} then RFC {first} among the records"),
            &format!("ours were {ours:?}"),
        ))
    }
    .boxed()
}

/// Sends each request on a fresh connection and requires `code` with no
/// records for every one.
async fn each_refused(ctx: &Ctx, requests: &[Vec<u8>], code: u16, what: &str) -> CaseResult {
    for req in requests {
        let mut c = Conn::open(ctx).await?;
        c.send(req).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, code, what)?;
    }
    Ok(())
}

pub(super) fn v(s: String) -> Vec<u8> {
    s.into_bytes()
}

fn bad_missing_host(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = ctx.fresh_rfc();
        let reqs = [
            v(format!("ADD RFC {rfc} P2P-CI/1.0\r\nPort: 7001\r\nTitle: {}\r\n\r\n", title("no Host"))),
            v("LIST ALL P2P-CI/1.0\r\nPort: 7001\r\n\r\n".into()),
        ];
        each_refused(ctx, &reqs, 400, "a request without Host").await
    }
    .boxed()
}

fn bad_missing_port(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let reqs = [
            v(format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nTitle: {}\r\n\r\n", title("no Port"))),
            v(format!("LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nTitle: RFC {rfc}\r\n\r\n")),
        ];
        each_refused(ctx, &reqs, 400, "a request without Port").await
    }
    .boxed()
}

fn bad_missing_title(ctx: &Ctx) -> Run<'_> {
    async move {
        let req = v(format!(
            "ADD RFC {} P2P-CI/1.0\r\nHost: {}\r\nPort: 7001\r\n\r\n",
            ctx.fresh_rfc(),
            ctx.fresh_host()
        ));
        each_refused(ctx, &[req], 400, "an ADD without Title").await
    }
    .boxed()
}

fn bad_rfc_number(ctx: &Ctx) -> Run<'_> {
    async move {
        let h = ctx.fresh_host();
        let t = title("bad number");
        let mut reqs =
            vec![v(format!("ADD RFC abc P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\nTitle: {t}\r\n\r\n"))];
        for n in ["-1", "12x", "0x10"] {
            reqs.push(v(format!(
                "LOOKUP RFC {n} P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\nTitle: {t}\r\n\r\n"
            )));
        }
        each_refused(ctx, &reqs, 400, "a request whose RFC number is not plain decimal digits").await
    }
    .boxed()
}

fn bad_port(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let reqs: Vec<_> = ["0", "65536", "-1", "abc"]
            .iter()
            .map(|port| {
                v(format!(
                    "ADD RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nPort: {port}\r\nTitle: {}\r\n\r\n",
                    title("bad port")
                ))
            })
            .collect();
        each_refused(ctx, &reqs, 400, "an ADD whose Port is not 1–65535").await
    }
    .boxed()
}

fn bad_method(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let reqs = [
            v(format!("REMOVE RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\nTitle: x\r\n\r\n")),
            v(format!("GET RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nOS: Linux\r\n\r\n")),
        ];
        each_refused(ctx, &reqs, 400, "an unknown method").await
    }
    .boxed()
}

fn bad_list_target(ctx: &Ctx) -> Run<'_> {
    async move {
        let h = ctx.fresh_host();
        let reqs = [
            v(format!("LIST SOME P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\n\r\n")),
            v(format!("LIST RFC P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\n\r\n")),
        ];
        each_refused(ctx, &reqs, 400, "LIST with another word than ALL").await
    }
    .boxed()
}

fn bad_then_usable(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let mut c = Conn::open(ctx).await?;
        // Several header lines after the bad request line: a server that
        // skips only the line it refused reads them as more requests.
        c.send(
            v(format!("REMOVE RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\nTitle: x\r\n\r\n"))
                .as_slice(),
        )
        .await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 400, "an unknown method")?;
        c.send(&lookup(rfc, &h, 7001)).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 404, "the LOOKUP sent after the 400 (of an RFC nobody holds)")?;
        // Nothing more may follow: a desynchronised server would still be
        // answering the rest of the refused request.
        if c.read_up_to(1, super::wire::GRACE).await? > 0 {
            let extra = c.take_buffered();
            return Err(
                c.stop("nothing after the LOOKUP's answer", &format!("more bytes: {}", display(&extra)))
            );
        }
        Ok(())
    }
    .boxed()
}

fn version_505(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let reqs: Vec<_> = ["P2P-CI/2.0", "P2P-CI/1.1"]
            .iter()
            .map(|ver| {
                v(format!("LOOKUP RFC {rfc} {ver}\r\nHost: {h}\r\nPort: 7001\r\nTitle: RFC {rfc}\r\n\r\n"))
            })
            .collect();
        each_refused(ctx, &reqs, 505, "a LOOKUP of another version").await
    }
    .boxed()
}

fn version_400(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let reqs: Vec<_> = ["HTTP/1.1", "P2P-CI/1", "P2P-CI/x.y"]
            .iter()
            .map(|ver| {
                v(format!("LOOKUP RFC {rfc} {ver}\r\nHost: {h}\r\nPort: 7001\r\nTitle: RFC {rfc}\r\n\r\n"))
            })
            .collect();
        each_refused(ctx, &reqs, 400, "a LOOKUP whose version token is malformed").await
    }
    .boxed()
}

fn control_char(ctx: &Ctx) -> Run<'_> {
    async move {
        let rfc = ctx.fresh_rfc();
        let h = ctx.fresh_host();
        let reqs = [
            v(format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\nTitle: esc\x1b]0;owned\x07 title\r\n\r\n")),
            v(format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: {h}\x07\r\nPort: 7001\r\nTitle: bell\r\n\r\n")),
            v(format!("ADD RFC {rfc} P2P-CI/1.0\r\nHost: {h}\r\nPort: 7001\r\nTitle: del\x7f\r\n\r\n")),
        ];
        each_refused(ctx, &reqs, 400, "an ADD with a control character").await?;
        let mut obs = Observer::open(ctx).await?;
        let stored = obs.holders(rfc).await?;
        if let Some(r) = stored.iter().find(|r| r.host.starts_with(&h)) {
            return Err(obs.conn.stop("no record stored by a refused ADD", &format!("a record: {}", display(&record_line(r)))));
        }
        Ok(())
    }
    .boxed()
}

fn headers_lenient(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, h) = (ctx.fresh_rfc(), ctx.fresh_host());
        let t = title("lenient headers");
        let mut c = Conn::open(ctx).await?;
        c.send(v(format!("ADD RFC {rfc} P2P-CI/1.0\r\ntitle:   {t} \t\r\nX-Checker: p2pci\r\nPORT:7001\r\nhost: {h}\r\n\r\n")).as_slice()).await?;
        let a = c.answer().await?;
        let want = crate::protocol::Record { rfc, title: t, host: h, port: 7001 };
        expect_echo(&c, &a, &want)
    }
    .boxed()
}

fn bytewise(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, t) = (ctx.fresh_rfc(), title("one byte at a time"));
        let mut p = Peer::fresh(ctx, 7001).await?;
        p.conn.send_bytewise(&add(rfc, &p.host, p.port, &t)).await?;
        let a = p.conn.answer().await?;
        expect_echo(&p.conn, &a, &p.record(rfc, &t))
    }
    .boxed()
}

fn bare_lf(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, t) = (ctx.fresh_rfc(), title("bare LF"));
        let mut p = Peer::fresh(ctx, 7001).await?;
        let req = format!("ADD RFC {rfc} P2P-CI/1.0\nHost: {}\nPort: {}\nTitle: {t}\n\n", p.host, p.port);
        p.conn.send(req.as_bytes()).await?;
        let a = p.conn.answer().await?;
        expect_echo(&p.conn, &a, &p.record(rfc, &t))
    }
    .boxed()
}

/// The next answer, within half the case's time, or a failure saying
/// which answer never came.
async fn nth_answer(c: &mut Conn, ctx: &Ctx, nth: &str) -> Result<Answer, Stop> {
    match tokio::time::timeout(ctx.timeout / 2, c.answer()).await {
        Ok(r) => r,
        Err(_) => Err(c.stop(
            &format!("the {nth} answer"),
            &format!(
                "none within {} (were the bytes after the first request dropped?)",
                super::runner::seconds(ctx.timeout / 2)
            ),
        )),
    }
}

fn pipelining(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, absent, t) = (ctx.fresh_rfc(), ctx.fresh_rfc(), title("pipelined"));
        let mut p = Peer::fresh(ctx, 7001).await?;
        let mut burst = add(rfc, &p.host, p.port, &t);
        burst.extend(lookup(rfc, &p.host, p.port));
        burst.extend(lookup(absent, &p.host, p.port));
        p.conn.send(&burst).await?;
        let first = nth_answer(&mut p.conn, ctx, "first").await?;
        expect_echo(&p.conn, &first, &p.record(rfc, &t))?;
        let second = nth_answer(&mut p.conn, ctx, "second").await?;
        expect_code(&p.conn, &second, 200, "the second request, a LOOKUP of the RFC just added")?;
        if !second.records().iter().any(|r| p.owns(r)) {
            return Err(p.conn.stop("the second answer to list the record just added", &second.summary()));
        }
        let third = nth_answer(&mut p.conn, ctx, "third").await?;
        expect_bare(&p.conn, &third, 404, "the third request, a LOOKUP of an RFC nobody holds")
    }
    .boxed()
}

fn identity_other_peer(ctx: &Ctx) -> Run<'_> {
    async move {
        let t = title("one connection one peer");
        let (first, other_host, other_port) = (ctx.fresh_rfc(), ctx.fresh_rfc(), ctx.fresh_rfc());
        let mut a = Peer::fresh(ctx, 7001).await?;
        a.add(first, &t).await?;
        let other = ctx.fresh_host();
        a.conn.send(&add(other_host, &other, 7001, &t)).await?;
        let ans = a.conn.answer().await?;
        expect_bare(&a.conn, &ans, 400, "an ADD naming another Host on a registered connection")?;
        // The second breach on a connection of its own, so a server that
        // cannot go on after a 400 fails p2s.bad.then-usable, not this.
        let mut b = Peer::fresh(ctx, 7002).await?;
        b.add(first, &t).await?;
        b.conn.send(&add(other_port, &b.host, 7003, &t)).await?;
        let ans = b.conn.answer().await?;
        expect_bare(&b.conn, &ans, 400, "an ADD naming another Port on a registered connection")?;
        let mut obs = Observer::open(ctx).await?;
        for (rfc, what) in [(other_host, "another Host"), (other_port, "another Port")] {
            if let Some(r) = obs.holders(rfc).await?.first() {
                return Err(obs.conn.stop(
                    &format!("nothing stored by the refused ADD naming {what}"),
                    &format!("a record: {}", display(&record_line(r))),
                ));
            }
        }
        Ok(())
    }
    .boxed()
}

fn identity_case(ctx: &Ctx) -> Run<'_> {
    async move {
        let t = title("hostname case");
        let mut p = Peer::fresh(ctx, 7001).await?;
        p.add(ctx.fresh_rfc(), &t).await?;
        let upper = p.host.to_ascii_uppercase();
        p.conn.send(&add(ctx.fresh_rfc(), &upper, p.port, &t)).await?;
        let a = p.conn.answer().await?;
        expect_code(&p.conn, &a, 200, "an ADD naming the same Host in capitals")
    }
    .boxed()
}

fn reads_register_nothing(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, t) = (ctx.fresh_rfc(), title("reads register nothing"));
        let mut c = Conn::open(ctx).await?;
        c.send(&lookup(rfc, &ctx.fresh_host(), 7001)).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 404, "a LOOKUP of an RFC nobody holds")?;
        c.send(&list(&ctx.fresh_host(), 7002)).await?;
        let a = c.answer().await?;
        if a.code() == Some(400) {
            return Err(c.stop("a LIST answered under any Host and Port", &a.summary()));
        }
        let host = ctx.fresh_host();
        c.send(&add(rfc, &host, 7003, &t)).await?;
        let a = c.answer().await?;
        let want = crate::protocol::Record { rfc, title: t, host, port: 7003 };
        expect_echo(&c, &a, &want).map_err(|_| {
            c.stop("200 to an ADD after reads under other names (they registered nothing)", &a.summary())
        })?;
        c.send(&lookup(rfc, &ctx.fresh_host(), 7004)).await?;
        let a = c.answer().await?;
        expect_code(&c, &a, 200, "a LOOKUP under yet another name, after the ADD")
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_dotted() {
        let mut ids: Vec<_> = CASES.iter().map(|c| c.id).collect();
        assert!(ids.iter().all(|id| id.contains('.') && !id.contains(' ')));
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CASES.len());
    }
}
