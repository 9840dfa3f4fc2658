//! p2pci: a peer-to-peer system with a centralized index (P2P-CI/1.0) for
//! sharing RFC documents.
//!
//! Data flows one way through the modules:
//!
//! * [`protocol`] — pure parsing and encoding of every message; no I/O.
//! * [`index`] — the server's peers and RFC records; pure, no I/O.
//! * [`store`] — the index store the server talks to: the embedded
//!   [`index`] by default, or one shared by several servers.
//! * [`server`] — the index server: accept loop, one task per connection.
//! * [`peer`] — the peer engine: its RFC folder, its index connection, its
//!   upload server and its downloads, all reporting through [`peer::NetEvent`]s.
//! * [`tui`] — the full-screen peer: state, keys to commands, drawing.
//! * [`headless`] — the line-oriented peer for scripts and tests.
//! * [`metrics`] — Prometheus metrics of the server and the peer, and the
//!   `/metrics` endpoint.
//! * [`human`] — sizes, rates and durations for people, the one copy.
//! * [`check`] — `p2pci check`, the conformance tester of other
//!   implementations (docs/check.md).
//! * [`backoff`] — the one reconnection backoff (with jitter), used by the
//!   peer and the Redis store.
//!
//! The protocol itself, as p2pci speaks it (framing, every status, limits,
//! identity, what it accepts from other implementations), is described in
//! `docs/PROTOCOL.md` in the repository; the code cites its sections by
//! name.

pub mod accept;
pub mod backoff;
pub mod check;
pub mod cli;
pub mod headless;
pub mod human;
pub mod index;
pub mod metrics;
pub mod peer;
pub mod protocol;
pub mod server;
pub mod store;
pub mod tui;
