//! ADDs answered in a connection's output but still waiting for a shared
//! index to place them, so that pipelined ADDs wait together.
//!
//! Behind a shared index an ADD's answer waits for Redis (its place in the
//! global order). Waiting for each before reading the next request would
//! give a client that pipelines ADDs one Redis round trip per ADD. Instead
//! each ADD is stored at once and its `200` written optimistically; the
//! waits are collected here and settled before any byte of the output is
//! written, and before a request whose answer could depend on them (any
//! but an ADD of another RFC) is answered. An ADD the shared index refused
//! has its `200` replaced by the `400` it would have had: the client reads
//! exactly what it would have read one ADD at a time.

use crate::metrics::{Method, ServerMetrics};
use crate::protocol::{RfcNumber, Status};
use crate::store::{AddError, Placed};

use super::answer_status;

/// One ADD whose `200` is in the output at `at..end`.
#[derive(Debug)]
struct Waiting {
    at: usize,
    end: usize,
    rfc: RfcNumber,
    placed: Placed,
}

/// The ADDs of one connection still waiting, in the order answered.
#[derive(Debug, Default)]
pub(super) struct Pending(Vec<Waiting>);

impl Pending {
    pub(super) fn push(&mut self, at: usize, end: usize, rfc: RfcNumber, placed: Placed) {
        self.0.push(Waiting { at, end, rfc, placed });
    }

    /// Whether an ADD of `rfc` is waiting (a second ADD of it must see how
    /// the first went).
    pub(super) fn holds(&self, rfc: RfcNumber) -> bool {
        self.0.iter().any(|w| w.rfc == rfc)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits for every ADD still waiting and counts it; the answer of one
    /// refused becomes `400` in `out`.
    pub(super) async fn settle(&mut self, out: &mut Vec<u8>, metrics: &ServerMetrics) {
        let mut refused = Vec::new();
        for w in self.0.drain(..) {
            match w.placed.wait().await {
                Ok(()) => metrics.request(Method::Add, Status::Ok),
                Err(e) => {
                    tracing::debug!("400: {e}");
                    if let AddError::Cap(cap) = &e {
                        metrics.add_refused(cap);
                    }
                    metrics.request(Method::Add, Status::BadRequest);
                    refused.push((w.at, w.end));
                }
            }
        }
        if refused.is_empty() {
            return;
        }
        // Rare (the shared index at its budget): the output rebuilt with
        // each refused answer in its place.
        let mut fixed = Vec::with_capacity(out.len());
        let mut from = 0;
        for (at, end) in refused {
            fixed.extend_from_slice(&out[from..at]);
            answer_status(Status::BadRequest, &mut fixed);
            from = end;
        }
        fixed.extend_from_slice(&out[from..]);
        *out = fixed;
    }
}
