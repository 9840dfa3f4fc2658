//! The cases of docs/PROTOCOL.md's "Limits" that a bounded test can show:
//! the line, head and header-count limits (refused beyond, accepted at).

use futures::FutureExt;

use super::{Run, v};
use crate::check::case::{CaseResult, Ctx};
use crate::check::p2s::expect_bare;
use crate::check::wire::Conn;

/// Sends a request breaking a limit and requires 400, then the close.
async fn refused_and_closed(ctx: &Ctx, req: &[u8], what: &str) -> CaseResult {
    let mut c = Conn::open(ctx).await?;
    // The server may answer and close before it has read it all.
    c.send_unchecked(req).await;
    let a = c.answer().await?;
    expect_bare(&c, &a, 400, what)?;
    if c.closes_within(ctx.timeout / 2).await? {
        return Ok(());
    }
    Err(c.stop(
        "the connection closed after the 400",
        &format!("still open {} later", crate::check::runner::seconds(ctx.timeout / 2)),
    ))
}

/// A LOOKUP whose Title line is `len` bytes long (line end not counted).
fn lookup_with_title_line(ctx: &Ctx, len: usize) -> Vec<u8> {
    let rfc = ctx.fresh_rfc();
    let title = "t".repeat(len - "Title: ".len());
    v(format!(
        "LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: {}\r\nPort: 7001\r\nTitle: {title}\r\n\r\n",
        ctx.fresh_host()
    ))
}

/// A LOOKUP with `n` header lines in all (Host, Port, Title and padding).
fn lookup_with_headers(ctx: &Ctx, n: usize, pad: usize) -> Vec<u8> {
    let rfc = ctx.fresh_rfc();
    let mut req = format!(
        "LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: {}\r\nPort: 7001\r\nTitle: RFC {rfc}\r\n",
        ctx.fresh_host()
    );
    for i in 3..n {
        req.push_str(&format!("X-Pad-{i}: {}\r\n", "p".repeat(pad)));
    }
    req.push_str("\r\n");
    v(req)
}

pub(super) fn limits_line(ctx: &Ctx) -> Run<'_> {
    async move {
        refused_and_closed(ctx, &lookup_with_title_line(ctx, 8 * 1024 + 100), "a header line of 8,292 bytes")
            .await
    }
    .boxed()
}

pub(super) fn limits_line_at(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut c = Conn::open(ctx).await?;
        c.send(&lookup_with_title_line(ctx, 8 * 1024)).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 404, "a LOOKUP with an 8,192-byte Title line (of an RFC nobody holds)")
    }
    .boxed()
}

pub(super) fn limits_head(ctx: &Ctx) -> Run<'_> {
    async move {
        // 12 lines, none over 7.9 KiB, about 71 KiB in all.
        refused_and_closed(ctx, &lookup_with_headers(ctx, 12, 7_900), "a request head of about 71 KiB").await
    }
    .boxed()
}

pub(super) fn limits_headers(ctx: &Ctx) -> Run<'_> {
    async move {
        refused_and_closed(ctx, &lookup_with_headers(ctx, 65, 8), "a request with 65 header lines").await
    }
    .boxed()
}

pub(super) fn limits_headers_at(ctx: &Ctx) -> Run<'_> {
    async move {
        let mut c = Conn::open(ctx).await?;
        c.send(&lookup_with_headers(ctx, 64, 8)).await?;
        let a = c.answer().await?;
        expect_bare(&c, &a, 404, "a LOOKUP with 64 header lines (of an RFC nobody holds)")
    }
    .boxed()
}
