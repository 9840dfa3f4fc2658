//! The Index pane's records, held compactly.
//!
//! A LIST answer can name a million records, and the screen keeps the last
//! one for as long as it shows it. Held as `Record`s (two `String`s each),
//! that is about 150 bytes of headers and allocator overhead per record
//! before the text itself. Here each record is one 24-byte [`Row`]: the
//! titles sit back to back in one string, and the hosts, which repeat (a
//! peer holds many RFCs), are interned once each. What a frame needs is read
//! through [`IndexRecords::get`], for the visible rows only.

use std::collections::HashMap;

use crate::peer::Holder;
use crate::protocol::{Record, RfcNumber};

/// One record: its RFC, where its title lies in the title arena, which
/// interned host it names, and the host's upload port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    rfc: RfcNumber,
    title_at: u64,
    title_len: u32,
    host: u32,
    port: u16,
}

/// One record, borrowed from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub rfc: RfcNumber,
    pub title: &'a str,
    pub host: &'a str,
    pub port: u16,
}

impl RecordRef<'_> {
    pub fn holder(&self) -> Holder {
        Holder { host: self.host.to_owned(), port: self.port }
    }

    pub fn to_record(&self) -> Record {
        Record { rfc: self.rfc, title: self.title.to_owned(), host: self.host.to_owned(), port: self.port }
    }
}

/// The decimal digits of `n`, in `buf`.
fn number(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// A peer as the index names it, with how many records it has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSummary {
    pub host: String,
    pub port: u16,
    pub rfcs: usize,
}

/// The records of one LIST answer, in the server's order (newest first).
#[derive(Debug, Default, Clone)]
pub struct IndexRecords {
    rows: Vec<Row>,
    titles: String,
    hosts: Vec<Box<str>>,
    /// Longest host name, in characters, for the Host column's width.
    host_width: usize,
    /// Longest title, in characters, so the screen can share its width by
    /// what there is to show.
    title_width: usize,
    /// The title arena in ASCII lowercase (same offsets), made the first
    /// time the Index is filtered and kept with the table.
    titles_lower: std::sync::OnceLock<Box<str>>,
}

impl IndexRecords {
    /// Takes the records apart into the compact form; the `Record`s are
    /// dropped one by one as they are read, so the peak is not doubled.
    pub fn from_records(records: Vec<Record>) -> IndexRecords {
        let mut out = IndexRecords::default();
        let mut host_ids: HashMap<String, u32> = HashMap::new();
        out.rows.reserve_exact(records.len());
        for r in records {
            let host = match host_ids.get(&r.host) {
                Some(&id) => id,
                None => {
                    let id = out.hosts.len() as u32;
                    out.host_width = out.host_width.max(r.host.chars().count());
                    out.hosts.push(r.host.as_str().into());
                    host_ids.insert(r.host, id);
                    id
                }
            };
            out.title_width = out.title_width.max(r.title.chars().count());
            let title_at = out.titles.len() as u64;
            out.titles.push_str(&r.title);
            out.rows.push(Row { rfc: r.rfc, title_at, title_len: r.title.len() as u32, host, port: r.port });
        }
        out.titles.shrink_to_fit();
        out.hosts.shrink_to_fit();
        out
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<RecordRef<'_>> {
        let row = self.rows.get(i)?;
        let start = row.title_at as usize;
        let title = self.titles.get(start..start + row.title_len as usize).unwrap_or("");
        let host = self.hosts.get(row.host as usize).map(|h| &**h).unwrap_or("");
        Some(RecordRef { rfc: row.rfc, title, host, port: row.port })
    }

    /// Records `range`, clipped to what there is.
    pub fn window(&self, start: usize, len: usize) -> impl Iterator<Item = RecordRef<'_>> {
        let end = start.saturating_add(len).min(self.len());
        (start.min(end)..end).filter_map(|i| self.get(i))
    }

    /// Longest host name, in characters.
    pub fn host_width(&self) -> usize {
        self.host_width
    }

    /// Longest title, in characters.
    pub fn title_width(&self) -> usize {
        self.title_width
    }

    /// The rows whose number, title or host holds `needle`, ignoring ASCII
    /// case, in order. Built for a million rows on each key typed: titles
    /// are searched in one pass over a lowercase copy of the arena
    /// (`memchr::memmem`, vectorized), each match placed by binary search;
    /// hosts are matched once each (they repeat); numbers only when the
    /// needle is all digits. No row is copied or formatted.
    pub fn matching(&self, needle: &str) -> Vec<u32> {
        let needle = needle.to_ascii_lowercase();
        let n = needle.as_bytes();
        if n.is_empty() {
            return (0..self.rows.len() as u32).collect();
        }
        let lower = self.titles_lower.get_or_init(|| self.titles.to_ascii_lowercase().into_boxed_str());
        // Rows are in arena order, so a match's row is found by its offset.
        let mut title_hits: Vec<u32> = Vec::new();
        for at in memchr::memmem::find_iter(lower.as_bytes(), n) {
            let row = self.rows.partition_point(|r| r.title_at <= at as u64).saturating_sub(1);
            if let Some(r) = self.rows.get(row)
                && at as u64 + n.len() as u64 <= r.title_at + u64::from(r.title_len)
                && title_hits.last() != Some(&(row as u32))
            {
                title_hits.push(row as u32);
            }
        }
        let finder = memchr::memmem::Finder::new(n);
        let host_hit: Vec<bool> =
            self.hosts.iter().map(|h| finder.find(h.to_ascii_lowercase().as_bytes()).is_some()).collect();
        let digits = n.iter().all(u8::is_ascii_digit);
        let mut titles = title_hits.into_iter().peekable();
        let mut out = Vec::new();
        let mut buf = [0u8; 10];
        for (i, r) in self.rows.iter().enumerate() {
            let i = i as u32;
            let by_title = titles.next_if_eq(&i).is_some();
            let hit = by_title
                || host_hit.get(r.host as usize).copied().unwrap_or(false)
                || (digits && finder.find(number(r.rfc.0, &mut buf)).is_some());
            if hit {
                out.push(i);
            }
        }
        out
    }

    /// Bytes this table holds on the heap (what it asked for, not counting
    /// the allocator's own overhead).
    pub fn heap_bytes(&self) -> usize {
        self.rows.capacity() * size_of::<Row>()
            + self.titles.capacity()
            + self.hosts.capacity() * size_of::<Box<str>>()
            + self.hosts.iter().map(|h| h.len()).sum::<usize>()
    }

    /// Every peer the index names (host and port), with its number of
    /// records, most records first.
    pub fn peers(&self) -> Vec<PeerSummary> {
        let mut counts: HashMap<(u32, u16), usize> = HashMap::new();
        for row in &self.rows {
            *counts.entry((row.host, row.port)).or_default() += 1;
        }
        let mut peers: Vec<PeerSummary> = counts
            .into_iter()
            .map(|((host, port), rfcs)| PeerSummary {
                host: self.hosts.get(host as usize).map(|h| h.to_string()).unwrap_or_default(),
                port,
                rfcs,
            })
            .collect();
        peers.sort_by(|a, b| b.rfcs.cmp(&a.rfcs).then_with(|| (&a.host, a.port).cmp(&(&b.host, b.port))));
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rfc: u32, title: &str, host: &str, port: u16) -> Record {
        Record { rfc: RfcNumber(rfc), title: title.into(), host: host.into(), port }
    }

    #[test]
    fn rows_read_back_as_given_and_hosts_are_shared() {
        let records = vec![
            record(1, "One", "hostB", 5000),
            record(2, "", "hostC", 5001),
            record(3, "Three é", "hostB", 5000),
        ];
        let table = IndexRecords::from_records(records.clone());
        assert_eq!(table.len(), 3);
        assert_eq!(table.hosts.len(), 2);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(table.get(i).unwrap().to_record(), *r);
        }
        assert_eq!(table.get(3), None);
        assert_eq!(table.window(1, 10).map(|r| r.rfc.0).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(table.window(5, 10).count(), 0);
        assert_eq!(table.host_width(), 5);
        assert_eq!(table.title_width(), 7);
        assert_eq!(size_of::<Row>(), 24);
    }

    #[test]
    fn matching_finds_number_title_or_host_and_no_title_across_two() {
        let table = IndexRecords::from_records(vec![
            record(4301, "Security for IPsec", "hostB", 5000),
            record(8700, "Fifty Years", "ipsec-gw", 5001),
            record(77, "ab", "h", 1),
            record(78, "cd", "h", 1),
            record(1870, "Other", "hostC", 5002),
        ]);
        assert_eq!(table.matching("IPSEC"), [0, 1]);
        assert_eq!(table.matching("870"), [1, 4]);
        assert_eq!(table.matching("bc"), Vec::<u32>::new(), "\"ab\" then \"cd\" is no \"bc\"");
        assert_eq!(table.matching("host"), [0, 4]);
        assert_eq!(table.matching("").len(), 5);
        let mut buf = [0; 10];
        assert_eq!(number(0, &mut buf), b"0");
        assert_eq!(number(4_294_967_295, &mut buf), b"4294967295");
    }

    #[test]
    fn peers_are_counted() {
        let table = IndexRecords::from_records(vec![
            record(1, "a", "hostB", 5000),
            record(2, "b", "hostC", 5001),
            record(3, "c", "hostB", 5000),
            record(3, "c", "hostB", 6000),
        ]);
        assert_eq!(
            table.peers(),
            [
                PeerSummary { host: "hostB".into(), port: 5000, rfcs: 2 },
                PeerSummary { host: "hostB".into(), port: 6000, rfcs: 1 },
                PeerSummary { host: "hostC".into(), port: 5001, rfcs: 1 },
            ]
        );
    }
}
