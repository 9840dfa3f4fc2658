//! What Redis answers, decoded: stored records, log entries, plain values.
//!
//! Pure functions over redis-rs [`Value`]s and strings, with no I/O, so
//! they are tested without a Redis. Anything not understood (from Redis, or
//! from something posing as it) is `None` or [`StoreError::Garbage`], never
//! a panic.

use redis::Value;

use super::error::{Result, StoreError};
use crate::protocol::RfcNumber;

/// A record as Redis holds it.
#[derive(Debug, PartialEq)]
pub(super) struct Stored<'a> {
    pub(super) server: u64,
    pub(super) conn: u64,
    pub(super) rfc: RfcNumber,
    pub(super) port: u16,
    pub(super) host: &'a str,
    pub(super) title: &'a str,
}

impl<'a> Stored<'a> {
    /// Parses `server conn rfc port host title`; `None` for anything else,
    /// including text that could not go on the wire as it is.
    pub(super) fn parse(v: &'a str) -> Option<Self> {
        let mut it = v.splitn(6, ' ');
        let server = u64::from_str_radix(it.next()?, 16).ok()?;
        let conn = it.next()?.parse().ok()?;
        let rfc = RfcNumber(it.next()?.parse().ok()?);
        let port = it.next()?.parse().ok()?;
        let host = it.next()?;
        let title = it.next()?;
        let clean = |s: &str| !s.bytes().any(|b| b.is_ascii_control());
        (!host.is_empty() && clean(host) && clean(title) && !host.contains(' ')).then_some(Stored {
            server,
            conn,
            rfc,
            port,
            host,
            title,
        })
    }
}

/// A log entry: its id and its fields.
pub(super) type LogEntry<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// `[(id, [(field, value)])]` from an XREAD answer (RESP2 or RESP3); none
/// when the wait ended with nothing new.
pub(super) fn log_entries(v: &Value) -> Result<Vec<LogEntry<'_>>> {
    let garbage = || StoreError::Garbage(format!("XREAD answered {}", preview(v)));
    let streams: Vec<&Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Ok(&kv[1]),
                _ => Err(garbage()),
            })
            .collect::<Result<_>>()?,
        Value::Map(kv) => kv.iter().map(|(_, v)| v).collect(),
        _ => return Err(garbage()),
    };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(entries) = s else { return Err(garbage()) };
        for e in entries {
            let Value::Array(parts) = e else { return Err(garbage()) };
            let [id, fields] = parts.as_slice() else { return Err(garbage()) };
            let id = as_str(id).ok_or_else(garbage)?;
            let Value::Array(fields) = fields else { return Err(garbage()) };
            let mut kv = Vec::with_capacity(fields.len() / 2);
            for pair in fields.chunks_exact(2) {
                kv.push((as_str(&pair[0]).ok_or_else(garbage)?, as_str(&pair[1]).ok_or_else(garbage)?));
            }
            out.push((id, kv));
        }
    }
    Ok(out)
}

/// The widest range of sequences one log entry may cover: far above a
/// batch (the writer's is 256).
pub(super) const MAX_RANGE: u64 = 1 << 16;

/// What one log entry says: the sequences it covers, and what happened.
#[derive(Debug, PartialEq)]
pub(super) struct Logged<'a> {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) what: Happened<'a>,
}

#[derive(Debug, PartialEq)]
pub(super) enum Happened<'a> {
    /// Records `first..=last` were added; they are in `rec`. `by` is the
    /// server that wrote them, when the entry says (a batch's entry does).
    Added { by: Option<u64> },
    /// One record, carried in the entry itself (as an older server wrote
    /// them).
    AddedInline(&'a str),
    /// A peer's removal: `server conn`.
    Removed(&'a str),
    /// Nothing this server knows: only its sequences count.
    Other,
}

impl<'a> Logged<'a> {
    /// Decodes an entry's fields: `n` (the last sequence, always), `f`
    /// (the first, when the entry covers several), `s` (the writing
    /// server), then `a` or `d`. `None` when the sequences are missing or
    /// make no range.
    pub(super) fn decode(fields: &[(&'a str, &'a str)]) -> Option<Self> {
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let last: u64 = get("n")?.parse().ok()?;
        let first: u64 = match get("f") {
            Some(f) => f.parse().ok()?,
            None => last,
        };
        // A batch's entry covers one batch; anything wider is not ours
        // (and would have the follower fetch, and hold, that many).
        if first > last || first == 0 || last - first >= MAX_RANGE {
            return None;
        }
        let what = match (get("a"), get("d")) {
            (Some(""), _) => Happened::Added { by: get("s").and_then(|s| u64::from_str_radix(s, 16).ok()) },
            (Some(text), _) if first == last => Happened::AddedInline(text),
            (None, Some(d)) => Happened::Removed(d),
            _ => Happened::Other,
        };
        Some(Logged { first, last, what })
    }
}

pub(super) fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

pub(super) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::Int(n) => Some(n.to_string()),
        _ => as_str(v).map(str::to_owned),
    }
}

pub(super) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => as_str(v)?.parse().ok(),
    }
}

pub(super) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => as_str(v)?.parse().ok(),
    }
}

/// The start of an answer, for an error message.
pub(super) fn preview(v: &Value) -> String {
    let mut s = format!("{v:?}");
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_records_parse_strictly() {
        let r = Stored::parse("00000000000000ff 7 8600 5000 hostA A title, with spaces").unwrap();
        assert_eq!(
            r,
            Stored {
                server: 255,
                conn: 7,
                rfc: RfcNumber(8600),
                port: 5000,
                host: "hostA",
                title: "A title, with spaces"
            }
        );
        for bad in
            ["", "zz 1 2 3 h t", "ff 1 2 99999 h t", "ff 1 2 3", "ff 1 2 3 h t\r\nRFC 1", "ff x 2 3 h t"]
        {
            assert_eq!(Stored::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn log_answers_parse_or_fail() {
        let entry = |id: &str, kv: &[&str]| {
            Value::Array(vec![
                Value::BulkString(id.into()),
                Value::Array(kv.iter().map(|s| Value::BulkString(s.as_bytes().to_vec())).collect()),
            ])
        };
        let v = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"log".to_vec()),
            Value::Array(vec![entry("1-0", &["n", "1", "a", "x"]), entry("2-0", &["n", "2", "d", "ff 1"])]),
        ])]);
        let got = log_entries(&v).unwrap();
        assert_eq!(got, [("1-0", vec![("n", "1"), ("a", "x")]), ("2-0", vec![("n", "2"), ("d", "ff 1")])]);
        assert!(log_entries(&Value::Nil).unwrap().is_empty());
        for bad in [Value::Int(3), Value::Array(vec![Value::Int(1)]), Value::Okay] {
            assert!(matches!(log_entries(&bad), Err(StoreError::Garbage(_))));
        }
    }

    #[test]
    fn log_entries_decode_to_ranges() {
        let d = |kv: &[(&'static str, &'static str)]| Logged::decode(kv);
        assert_eq!(
            d(&[("n", "9"), ("f", "5"), ("s", "00000000000000ff"), ("a", "")]),
            Some(Logged { first: 5, last: 9, what: Happened::Added { by: Some(255) } })
        );
        // One record, as a server of the per-record log wrote it.
        assert_eq!(
            d(&[("n", "4"), ("a", "")]),
            Some(Logged { first: 4, last: 4, what: Happened::Added { by: None } })
        );
        assert_eq!(
            d(&[("n", "4"), ("a", "ff 1 2 3 h t")]),
            Some(Logged { first: 4, last: 4, what: Happened::AddedInline("ff 1 2 3 h t") })
        );
        assert_eq!(
            d(&[("n", "7"), ("d", "ff 1")]),
            Some(Logged { first: 7, last: 7, what: Happened::Removed("ff 1") })
        );
        assert_eq!(d(&[("n", "7"), ("x", "y")]), Some(Logged { first: 7, last: 7, what: Happened::Other }));
        // Inline text over a range is not something any server writes.
        assert_eq!(
            d(&[("n", "7"), ("f", "6"), ("a", "ff 1 2 3 h t")]).map(|l| l.what),
            Some(Happened::Other)
        );
        assert_eq!(d(&[("n", "65536"), ("f", "1"), ("a", "")]).map(|l| l.last - l.first), Some(65535));
        for bad in [
            &[("a", "")][..],
            &[("n", "x")],
            &[("n", "3"), ("f", "4")],
            &[("n", "0")],
            &[("n", "3"), ("f", "-1")],
            // What no writer sends: a follower would fetch them all.
            &[("n", "18446744073709551615"), ("f", "1"), ("a", "")],
            &[("n", "65537"), ("f", "1"), ("a", "")],
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }
}
