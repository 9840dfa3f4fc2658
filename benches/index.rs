//! The index at scale: ADD, LOOKUP and the removal of a departing peer cost
//! the same whether the index holds a thousand records or a million, and a
//! removal costs time in proportion to that peer's records (R), not to the
//! index (K). Run with `cargo bench --bench index`.

use std::cell::{Cell, RefCell};

use divan::{Bencher, black_box};
use p2pci::index::{ConnId, Index};
use p2pci::protocol::{PeerId, RfcNumber};

fn main() {
    divan::main();
}

const SIZES: [u32; 3] = [1_000, 100_000, 1_000_000];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

fn peer(c: ConnId) -> PeerId {
    PeerId { host: format!("host{}", c.0), port: 1024 + (c.0 % 60_000) as u16 }
}

/// `k` records of distinct RFCs, from 100 peers (the owners stay).
fn filled(k: u32) -> Index {
    let mut ix = Index::new();
    for c in 0..100 {
        ix.admit(ConnId(c), &peer(ConnId(c))).unwrap();
    }
    for n in 0..k {
        ix.add(ConnId(u64::from(n % 100)), RfcNumber(n + 1), "A forty byte title of some RFC, roughly.")
            .unwrap();
    }
    ix
}

#[divan::bench(args = SIZES)]
fn lookup(b: Bencher, k: u32) {
    let ix = filled(k);
    let mut rng = Rng(0x9E37_79B9);
    b.bench_local(|| ix.lookup(RfcNumber(1 + rng.below(k))));
}

/// LOOKUP as the server answers it: each record's stored line copied into a reused buffer.
#[divan::bench(args = SIZES)]
fn lookup_encode(b: Bencher, k: u32) {
    let ix = filled(k);
    let mut rng = Rng(0x9E37_79B9);
    let mut out = Vec::with_capacity(4096);
    b.bench_local(|| {
        out.clear();
        ix.lookup_each(RfcNumber(1 + rng.below(k)), |r| out.extend_from_slice(r.line().as_bytes()))
    });
}

/// The identity check every request makes, for a connection already admitted.
#[divan::bench]
fn admit_again(b: Bencher) {
    let mut ix = filled(1_000);
    let peers: Vec<(ConnId, PeerId)> = (0..100).map(|c| (ConnId(c), peer(ConnId(c)))).collect();
    let mut rng = Rng(0x0BAD_CAFE);
    b.bench_local(|| {
        let (c, id) = &peers[rng.below(100) as usize];
        ix.admit_as(*c, black_box(&id.host), id.port)
    });
}

/// A new record for an RFC already held elsewhere, at index size K.
#[divan::bench(args = SIZES)]
fn add(b: Bencher, k: u32) {
    let mut ix = filled(k);
    let c = ConnId(1_000_000_000);
    ix.admit(c, &peer(c)).unwrap();
    let mut rng = Rng(0x1234_5678);
    b.bench_local(|| {
        ix.add(c, RfcNumber(1 + rng.below(k)), black_box("A forty byte title of some RFC, roughly."))
    });
}

/// ADD as the server answers it: `add_ref`, the stored record's line copied into a
/// reused buffer.
#[divan::bench(args = SIZES)]
fn add_encode(b: Bencher, k: u32) {
    let mut ix = filled(k);
    let c = ConnId(1_000_000_000);
    ix.admit(c, &peer(c)).unwrap();
    let mut rng = Rng(0x1234_5678);
    let mut out = Vec::with_capacity(4096);
    b.bench_local(|| {
        out.clear();
        let title = black_box("A forty byte title of some RFC, roughly.");
        if let Some(r) = ix.add_ref(c, RfcNumber(1 + rng.below(k)), title) {
            out.extend_from_slice(r.line().as_bytes());
        }
    });
}

/// Removing a peer that holds `r` records, in an index of `k`.
fn removal(b: Bencher, k: u32, r: u32) {
    let ix = RefCell::new(filled(k));
    let next = Cell::new(1_000u64);
    let mut rng = Rng(0xDEAD_BEEF);
    b.with_inputs(|| {
        let c = ConnId(next.get());
        next.set(c.0 + 1);
        let mut ix = ix.borrow_mut();
        ix.admit(c, &peer(c)).unwrap();
        for _ in 0..r {
            ix.add(c, RfcNumber(1 + rng.below(k)), "A forty byte title of some RFC, roughly.");
        }
        c
    })
    .bench_local_values(|c| ix.borrow_mut().remove_peer(c));
}

/// R = 100 at K = 1k, 100k, 1M: flat.
#[divan::bench(args = SIZES)]
fn remove_peer_r100(b: Bencher, k: u32) {
    removal(b, k, 100);
}

/// K = 1M with R = 10, 100, 1000: proportional to R.
#[divan::bench(args = [10, 100, 1_000])]
fn remove_peer_k1m(b: Bencher, r: u32) {
    removal(b, 1_000_000, r);
}
