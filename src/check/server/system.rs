//! The cases of docs/PROTOCOL.md's "The system": a peer's records go when
//! its connection does, however it goes, and a connection is a peer.

use futures::FutureExt;

use super::Run;
use crate::check::case::{CaseResult, Ctx};
use crate::check::p2s::{Observer, Peer, title};

#[derive(Clone, Copy)]
enum Leave {
    Polite,
    Reset,
    Half,
}

async fn records_go(ctx: &Ctx, how: Leave, after: &str) -> CaseResult {
    let (rfc, t) = (ctx.fresh_rfc(), title("leaving"));
    let mut p = Peer::fresh(ctx, 7001).await?;
    p.add(rfc, &t).await?;
    let mut obs = Observer::open(ctx).await?;
    if !obs.holders(rfc).await?.iter().any(|r| p.owns(r)) {
        return Err(obs.conn.stop("LOOKUP to list the record just added", "it did not"));
    }
    let (host, port) = (p.host.clone(), p.port);
    let owns = move |r: &crate::protocol::Record| r.host.eq_ignore_ascii_case(&host) && r.port == port;
    // Kept open (reading side) while we watch, for the half-close.
    let _kept = match how {
        Leave::Polite => {
            p.conn.close().await;
            None
        }
        Leave::Reset => {
            p.conn.reset();
            None
        }
        Leave::Half => {
            p.conn.half_close().await?;
            Some(p.conn)
        }
    };
    obs.until_gone(ctx, rfc, owns, after).await
}

pub(super) fn close_polite(ctx: &Ctx) -> Run<'_> {
    records_go(ctx, Leave::Polite, "after its peer closed the connection").boxed()
}

pub(super) fn close_reset(ctx: &Ctx) -> Run<'_> {
    records_go(ctx, Leave::Reset, "after its peer's connection was reset").boxed()
}

pub(super) fn close_half(ctx: &Ctx) -> Run<'_> {
    records_go(ctx, Leave::Half, "after its peer shut down its sending side").boxed()
}

pub(super) fn identity_same_host(ctx: &Ctx) -> Run<'_> {
    async move {
        let (rfc, t, host) = (ctx.fresh_rfc(), title("same hostname"), ctx.fresh_host());
        let mut a = Peer::open(ctx, host.clone(), 7001).await?;
        let mut b = Peer::open(ctx, host.clone(), 7002).await?;
        a.add(rfc, &t).await?;
        b.add(rfc, &t).await?;
        let mut obs = Observer::open(ctx).await?;
        a.conn.close().await;
        let h = host.clone();
        obs.until_gone(
            ctx,
            rfc,
            move |r| r.host.eq_ignore_ascii_case(&h) && r.port == 7001,
            "after its peer closed",
        )
        .await?;
        if !obs.holders(rfc).await?.iter().any(|r| b.owns(r)) {
            return Err(obs.conn.stop(
                "the other peer's record (same hostname, port 7002) still listed",
                "it went with the first peer's",
            ));
        }
        Ok(())
    }
    .boxed()
}
