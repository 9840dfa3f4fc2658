//! The case model: what a case is (an id tied to a section of
//! docs/PROTOCOL.md, a level, a one-line description, the rule it checks,
//! quoted) and what running one gives (passed, failed with the exact bytes,
//! or skipped with why).
//!
//! Levels follow h2spec: a **must** case checks what the page requires; a
//! **should** case checks what interoperates best (being lenient in what one
//! reads), and counts only with `--strict`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::protocol::RfcNumber;

/// How much a case weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// docs/PROTOCOL.md requires it: a failure always counts.
    Must,
    /// What interoperates best: a failure counts with `--strict`.
    Should,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
        }
    }
}

/// Which side of the protocol a suite checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Server,
    Upload,
    Client,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Server => "server",
            Suite::Upload => "upload",
            Suite::Client => "client",
        }
    }
}

/// A case's body: runs against the target described by its [`Ctx`].
pub type RunFn = for<'a> fn(&'a Ctx) -> BoxFuture<'a, CaseResult>;

/// One case of a suite.
#[derive(Clone, Copy)]
pub struct Case {
    /// Dotted, starting with the part of docs/PROTOCOL.md it checks:
    /// `p2s.add.echo`, `framing.crlf.answer`.
    pub id: &'static str,
    pub level: Level,
    /// The docs/PROTOCOL.md section the rule is quoted from.
    pub section: &'static str,
    /// What the case does and expects, in one line.
    pub description: &'static str,
    /// The rule, quoted from docs/PROTOCOL.md.
    pub rule: &'static str,
    pub run: RunFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("id", &self.id).field("level", &self.level).finish_non_exhaustive()
    }
}

/// Why a case stopped before passing. `?` carries either out of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Fail(Failure),
    /// The case cannot be judged here (a server in use, no `--rfc`).
    Skip(String),
}

pub type CaseResult = Result<(), Stop>;

/// What a failed case saw: what it expected, what came instead, and the
/// exchange that showed it (the bytes last sent and those received since).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    pub expected: String,
    pub actual: String,
    pub sent: Vec<u8>,
    pub received: Vec<u8>,
}

/// The bytes of the exchange a case is in: what was last sent, and what
/// arrived since. Shared with the runner, so a case stopped by its timeout
/// still shows what it sent and what (if anything) came back.
#[derive(Debug, Default)]
pub struct Exchange {
    pub sent: Vec<u8>,
    pub received: Vec<u8>,
}

/// Everything a case needs: the target, its time, and names unique to this
/// run, so cases are safe on a server others are using.
#[derive(Debug)]
pub struct Ctx {
    pub target: String,
    pub timeout: Duration,
    /// The RFC the upload server under test holds (`--rfc`).
    pub rfc: Option<RfcNumber>,
    /// Eight hex digits, different on every run.
    pub run_id: String,
    /// The first RFC number this run may use; numbers after it are taken
    /// one at a time ([`Ctx::fresh_rfc`]).
    pub rfc_base: u32,
    next: AtomicU32,
    pub(crate) exchange: Arc<Mutex<Exchange>>,
    /// Client mode: the recorded session the cases judge.
    pub client: Option<Arc<super::client::Session>>,
}

impl Ctx {
    pub fn new(target: String, timeout: Duration, rfc: Option<RfcNumber>) -> Ctx {
        let seed = random_u64();
        Ctx {
            target,
            timeout,
            rfc,
            run_id: format!("{:08x}", seed as u32),
            // Below 2^31, for implementations that keep RFC numbers in a
            // signed 32-bit integer; far above any published RFC.
            rfc_base: 1_000_000_000 + ((seed >> 32) as u32 % 900_000_000),
            next: AtomicU32::new(0),
            exchange: Arc::default(),
            client: None,
        }
    }

    fn take(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A hostname no other run and no other case of this run uses.
    pub fn fresh_host(&self) -> String {
        format!("p2pci-check-{}-{}", self.run_id, self.take())
    }

    /// An RFC number no other case of this run uses (nor, very probably,
    /// anybody else on the server).
    pub fn fresh_rfc(&self) -> RfcNumber {
        RfcNumber(self.rfc_base + self.take())
    }

    /// A failure showing the current exchange.
    pub fn fail(&self, expected: impl Into<String>, actual: impl Into<String>) -> Stop {
        let ex = self.exchange.lock().unwrap_or_else(|e| e.into_inner());
        Stop::Fail(Failure {
            expected: expected.into(),
            actual: actual.into(),
            sent: ex.sent.clone(),
            received: ex.received.clone(),
        })
    }

    /// Clears the exchange (each case starts with none).
    pub(crate) fn reset_exchange(&self) {
        let mut ex = self.exchange.lock().unwrap_or_else(|e| e.into_inner());
        ex.sent.clear();
        ex.received.clear();
    }
}

/// 64 bits that differ from run to run (std's hasher keys are random per
/// process; the clock and the process id make two runs differ even so).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_a_run_and_differ_between_runs() {
        let a = Ctx::new("x:1".into(), Duration::from_secs(1), None);
        let b = Ctx::new("x:1".into(), Duration::from_secs(1), None);
        assert_ne!(a.run_id, b.run_id);
        assert_ne!(a.fresh_host(), a.fresh_host());
        let (r1, r2) = (a.fresh_rfc(), a.fresh_rfc());
        assert_ne!(r1, r2);
        assert!(r1.0 < i32::MAX as u32 && r2.0 > 1_000_000_000);
    }
}
