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

impl BatchEnd {
    /// Counts the batch as exported or failed and takes it out of flight.
    pub(crate) fn end(mut self, result: Result<(), String>) {
        self.ended = true;
        self.queue.end_batch(self.items, result);
    }
}

impl Drop for BatchEnd {
    fn drop(&mut self) {
        if !self.ended {
            self.queue
                .end_batch(self.items, Err("the export was abandoned".to_owned()));
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
    fn end_batch(&self, items: usize, result: Result<(), String>);
}
