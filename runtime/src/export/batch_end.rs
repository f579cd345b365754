//! The end of a batch handed to an exporter, which takes it out of flight
//! and counts it, on whatever thread the export ends.

use std::fmt;
use std::sync::Arc;

/// The end of one batch handed to an exporter, given its result once the
/// export is over: at once for a synchronous exporter, or later on another
/// thread (a send running on the export runtime). Dropped without a result
/// (its task abandoned when the runtime stopped), the batch counts as failed.
pub(crate) struct BatchEnd {
    pub(super) queue: Arc<dyn EndBatch>,
    pub(super) items: usize,
    pub(super) ended: bool,
}

/// How a batch's export ended, when only part of it may have arrived.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Items that did not arrive: in requests that failed, or rejected by
    /// the collector (partial success); the rest arrived.
    pub(crate) failed: usize,
    /// Attributes, events and links the span limits dropped, and attribute
    /// values they shortened.
    pub(crate) limited: u64,
    /// Why items did not arrive (or the collector's partial-success message).
    pub(crate) error: Option<String>,
}

impl BatchEnd {
    /// Counts the batch as exported or failed and takes it out of flight.
    pub(crate) fn end(self, result: Result<(), String>) {
        let outcome = match result {
            Ok(()) => Outcome::default(),
            Err(e) => Outcome {
                failed: self.items,
                limited: 0,
                error: Some(e),
            },
        };
        self.end_with(outcome);
    }

    /// Counts what of the batch arrived and what did not, and takes it out
    /// of flight.
    pub(crate) fn end_with(mut self, mut outcome: Outcome) {
        self.ended = true;
        outcome.failed = outcome.failed.min(self.items);
        self.queue.end_batch(self.items, outcome);
    }
}

impl Drop for BatchEnd {
    fn drop(&mut self) {
        if !self.ended {
            self.queue.end_batch(
                self.items,
                Outcome {
                    failed: self.items,
                    limited: 0,
                    error: Some("the export was abandoned".to_owned()),
                },
            );
        }
    }
}

impl fmt::Debug for BatchEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchEnd")
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

pub(super) trait EndBatch: Send + Sync {
    fn end_batch(&self, items: usize, outcome: Outcome);
}
