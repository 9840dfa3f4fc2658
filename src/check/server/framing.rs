//! The framing of answers: one answer of each kind (200 to ADD, LOOKUP and
//! LIST, 404, 400, 505) judged for one thing per case: line ends, shape,
//! status lines, record lines. Judging one thing each is what makes a
//! defect fail only the case that names it.

use futures::FutureExt;

use super::{Run, v};
use crate::check::case::{CaseResult, Ctx, Stop};
use crate::check::p2s::{Peer, add, list, lookup, record_line, title};
use crate::check::wire::{Answer, Conn, Ending, LineEnd, display, raw};
use crate::protocol::Status;

/// One answer of each kind, with the request that drew it and the status
/// it should carry: what the framing cases judge.
struct Sample {
    what: &'static str,
    sent: Vec<u8>,
    answer: Answer,
    status: Status,
}

async fn samples(ctx: &Ctx) -> Result<Vec<Sample>, Stop> {
    let (rfc, absent, t) = (ctx.fresh_rfc(), ctx.fresh_rfc(), title("framing"));
    let mut p = Peer::fresh(ctx, 7001).await?;
    let mut out = Vec::new();
    let asks: [(&str, Vec<u8>, Status); 4] = [
        ("ADD", add(rfc, &p.host, p.port, &t), Status::Ok),
        ("LOOKUP (found)", lookup(rfc, &p.host, p.port), Status::Ok),
        ("LOOKUP (not found)", lookup(absent, &p.host, p.port), Status::NotFound),
        ("LIST", list(&p.host, p.port), Status::Ok),
    ];
    for (what, sent, status) in asks {
        p.conn.send(&sent).await?;
        let answer = p.conn.answer().await?;
        out.push(Sample { what, sent, answer, status });
    }
    // Each refusal on a connection of its own: a server that cannot go on
    // after one fails p2s.bad.then-usable, not the framing cases.
    let refusals: [(&str, Vec<u8>, Status); 2] = [
        (
            "a 400",
            v(format!("LIST SOME P2P-CI/1.0\r\nHost: {}\r\nPort: 7001\r\n\r\n", p.host)),
            Status::BadRequest,
        ),
        (
            "a 505",
            v(format!("LIST ALL P2P-CI/2.0\r\nHost: {}\r\nPort: 7001\r\n\r\n", p.host)),
            Status::VersionNotSupported,
        ),
    ];
    for (what, sent, status) in refusals {
        let mut c = Conn::open(ctx).await?;
        c.send(&sent).await?;
        let answer = c.answer().await?;
        out.push(Sample { what, sent, answer, status });
    }
    Ok(out)
}

fn sample_fail(s: &Sample, expected: String, actual: String) -> Stop {
    Stop::Fail(crate::check::case::Failure {
        expected,
        actual,
        sent: s.sent.clone(),
        received: raw(&s.answer.lines),
    })
}

/// Runs `judge` over every sample answer; the first complaint fails.
async fn judge_samples(ctx: &Ctx, judge: fn(&Sample) -> Option<(String, String)>) -> CaseResult {
    for s in samples(ctx).await? {
        if let Some((expected, actual)) = judge(&s) {
            return Err(sample_fail(&s, expected, actual));
        }
    }
    Ok(())
}

pub(super) fn crlf_answer(ctx: &Ctx) -> Run<'_> {
    judge_samples(ctx, |s| {
        let (n, line) = s.answer.lines.iter().enumerate().find(|(_, l)| l.end != LineEnd::CrLf)?;
        let how = match line.end {
            LineEnd::Lf => "a bare LF",
            _ => "no line end at all",
        };
        Some((
            format!("every line of the answer to {} ending in CR LF", s.what),
            format!("line {} ({}) ends in {how}", n + 1, display(&line.bytes)),
        ))
    })
    .boxed()
}

pub(super) fn answer_shape(ctx: &Ctx) -> Run<'_> {
    judge_samples(ctx, |s| {
        let a = &s.answer;
        let want = format!("the answer to {}: status line, empty line, records, empty line", s.what);
        let problem = if a.leading_blanks > 0 {
            Some(format!("{} empty line(s) before the status line", a.leading_blanks))
        } else if !a.empty_after_status {
            Some("no empty line after the status line".to_owned())
        } else if a.ending != Ending::EmptyLine {
            Some(match a.ending {
                Ending::Closed => "the connection closed before the final empty line".to_owned(),
                Ending::NextAnswer => "the next answer began before the final empty line".to_owned(),
                _ => {
                    format!(
                        "no final empty line ({} of silence)",
                        crate::check::runner::seconds(crate::check::wire::GRACE)
                    )
                }
            })
        } else if let Some(bad) = a.bad_lines().first() {
            Some(format!("a line that is not a record: {}", display(bad.as_bytes())))
        } else if s.status != Status::Ok && !a.body.is_empty() {
            Some(format!("{} record line(s) in a {} answer", a.body.len(), s.status.code()))
        } else {
            None
        };
        problem.map(|p| (want, p))
    })
    .boxed()
}

pub(super) fn status_exact(ctx: &Ctx) -> Run<'_> {
    judge_samples(ctx, |s| {
        let line = &s.answer.status_line().bytes;
        if Status::ALL.iter().any(|st| st.line_str().as_bytes() == line.as_slice()) {
            return None;
        }
        Some((
            format!(
                "one of the four status lines for {} (here {})",
                s.what,
                display(s.status.line_str().as_bytes())
            ),
            display(line),
        ))
    })
    .boxed()
}

pub(super) fn record_form(ctx: &Ctx) -> Run<'_> {
    judge_samples(ctx, |s| {
        for line in &s.answer.body {
            let Some(r) = crate::protocol::Record::parse_line(&line.text()) else { continue };
            let exact = record_line(&r);
            if exact != line.bytes {
                return Some((
                    format!("record lines in the exact form, as {}", display(&exact)),
                    format!("{} in the answer to {}", display(&line.bytes), s.what),
                ));
            }
        }
        None
    })
    .boxed()
}
