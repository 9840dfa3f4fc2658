//! Requests and judgements shared by the index-server cases: the exact
//! request forms, a peer (one connection under one Host and Port), an
//! observer reading the index, and the checks every case makes the same
//! way.

use std::time::Duration;

use super::case::{Ctx, Stop};
use super::wire::{Answer, Conn, display};
use crate::protocol::{P2sMethod, P2sRequest, PeerId, Record, RfcNumber};

/// The exact form of a request, as docs/PROTOCOL.md writes it.
pub fn request(method: P2sMethod, host: &str, port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    P2sRequest { method, peer: PeerId { host: host.to_owned(), port } }.encode(&mut out);
    out
}

pub fn add(rfc: RfcNumber, host: &str, port: u16, title: &str) -> Vec<u8> {
    request(P2sMethod::Add { rfc, title: title.to_owned() }, host, port)
}

/// A LOOKUP with a Title, as p2pci sends it (some servers refuse one
/// without; `p2s.lookup.no-title` checks that separately).
pub fn lookup(rfc: RfcNumber, host: &str, port: u16) -> Vec<u8> {
    request(P2sMethod::Lookup { rfc, title: Some(format!("RFC {rfc}")) }, host, port)
}

pub fn list(host: &str, port: u16) -> Vec<u8> {
    request(P2sMethod::List, host, port)
}

/// The title the checker ADDs under: says who put the record there.
pub fn title(what: &str) -> String {
    format!("p2pci check {what}")
}

/// Fails unless `answer` has status code `code`.
pub fn expect_code(conn: &Conn, answer: &Answer, code: u16, what: &str) -> Result<(), Stop> {
    if answer.code() == Some(code) {
        return Ok(());
    }
    Err(conn.stop(&format!("{code} to {what}"), &answer.summary()))
}

/// Fails unless `answer` is `code` with no record lines.
pub fn expect_bare(conn: &Conn, answer: &Answer, code: u16, what: &str) -> Result<(), Stop> {
    expect_code(conn, answer, code, what)?;
    if answer.body.is_empty() {
        return Ok(());
    }
    Err(conn.stop(&format!("{code} with no record lines to {what}"), &answer.summary()))
}

/// One connection to the index speaking as one peer.
pub struct Peer {
    pub conn: Conn,
    pub host: String,
    pub port: u16,
}

impl Peer {
    pub async fn open(ctx: &Ctx, host: String, port: u16) -> Result<Peer, Stop> {
        Ok(Peer { conn: Conn::open(ctx).await?, host, port })
    }

    /// A peer under a hostname of its own.
    pub async fn fresh(ctx: &Ctx, port: u16) -> Result<Peer, Stop> {
        Peer::open(ctx, ctx.fresh_host(), port).await
    }

    pub fn record(&self, rfc: RfcNumber, title: &str) -> Record {
        Record { rfc, title: title.to_owned(), host: self.host.clone(), port: self.port }
    }

    /// ADDs `rfc`, returning the answer unjudged.
    pub async fn try_add(&mut self, rfc: RfcNumber, title: &str) -> Result<Answer, Stop> {
        self.conn.send(&add(rfc, &self.host, self.port, title)).await?;
        self.conn.answer().await
    }

    /// ADDs `rfc` and requires the echo: 200 and exactly the record sent.
    pub async fn add(&mut self, rfc: RfcNumber, title: &str) -> Result<(), Stop> {
        let answer = self.try_add(rfc, title).await?;
        expect_echo(&self.conn, &answer, &self.record(rfc, title))
    }

    /// Whether a record is this peer's.
    pub fn owns(&self, r: &Record) -> bool {
        r.host.eq_ignore_ascii_case(&self.host) && r.port == self.port
    }
}

/// Fails unless `answer` is 200 with exactly the one record `want`.
pub fn expect_echo(conn: &Conn, answer: &Answer, want: &Record) -> Result<(), Stop> {
    let expected = format!("200 with the one record {}", display(&record_line(want)));
    expect_code(conn, answer, 200, "the ADD").map_err(|_| conn.stop(&expected, &answer.summary()))?;
    let records = answer.records();
    if records.len() == 1 && records[0] == *want && answer.body.len() == 1 {
        return Ok(());
    }
    let actual = match answer.body.as_slice() {
        [] => "200 with no record line".to_owned(),
        lines => {
            format!("200 with {}", lines.iter().map(|l| display(&l.bytes)).collect::<Vec<_>>().join(", "))
        }
    };
    Err(conn.stop(&expected, &actual))
}

/// A record's line as p2pci writes it, without its line end.
pub fn record_line(r: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(&mut out);
    out.truncate(out.len() - 2);
    out
}

/// A connection that only reads the index.
pub struct Observer {
    pub conn: Conn,
    host: String,
}

impl Observer {
    pub async fn open(ctx: &Ctx) -> Result<Observer, Stop> {
        Ok(Observer { conn: Conn::open(ctx).await?, host: ctx.fresh_host() })
    }

    /// The holders of `rfc`: the records of a 200, none for a 404; any
    /// other answer fails.
    pub async fn holders(&mut self, rfc: RfcNumber) -> Result<Vec<Record>, Stop> {
        self.conn.send(&lookup(rfc, &self.host, 1)).await?;
        let answer = self.conn.answer().await?;
        match answer.code() {
            Some(200) => Ok(answer.records()),
            Some(404) => Ok(Vec::new()),
            _ => Err(self.conn.stop("200 or 404 to a LOOKUP", &answer.summary())),
        }
    }

    /// Waits (at most three quarters of the case's time, so this failure
    /// and not the timeout's is the one shown) until no record of `rfc`
    /// is `peer`'s.
    pub async fn until_gone(
        &mut self,
        ctx: &Ctx,
        rfc: RfcNumber,
        owns: impl Fn(&Record) -> bool,
        after: &str,
    ) -> Result<(), Stop> {
        let deadline = tokio::time::Instant::now() + ctx.timeout * 3 / 4;
        loop {
            let holders = self.holders(rfc).await?;
            if !holders.iter().any(&owns) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.conn.stop(
                    &format!("the record gone from LOOKUP {after}"),
                    &format!("still listed {} later", super::runner::seconds(ctx.timeout * 3 / 4)),
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
