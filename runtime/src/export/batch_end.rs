//! The end of a batch handed to an exporter, which takes it out of flight
//! and counts it, on whatever thread the export ends.

use std::fmt;
use std::sync::Arc;

use super::queue::BatchQueue;
use super::sync::lock;

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

impl<T: Send + 'static> EndBatch for BatchQueue<T> {
    fn end_batch(&self, items: usize, result: Result<(), String>) {
        let mut state = lock(&self.state);
        // Counted and taken out of flight together, so a report never sees
        // a batch as both exported and unflushed.
        self.counters.record(items as u64, result);
        state.in_flight -= items;
        state.batches_in_flight -= 1;
        // The last batch of a flush ends it here, without a detour through
        // the worker: every wake-up of another thread costs microseconds.
        let idle = state.items.is_empty() && state.in_flight == 0;
        if idle && state.flush_requested > state.flush_done {
            state.flush_done = state.flush_requested;
            self.done.notify_all();
        }
        // A worker needs the free slot if it waits for one (a thread
        // exporting the queue itself takes the next batch on its own), for
        // what was queued during a flush, and at shutdown to see the last
        // batch end.
        let flushing = state.flush_requested > state.flush_done;
        let wake_worker =
            state.waiting_for_slot > 0 || state.shutdown || (flushing && !state.items.is_empty());
        // Room for producers (in-flight batches count against the queue
        // size), once there is as much as they wait for.
        let wake_producers = state.shutdown || self.room(&state) >= state.room_wanted;
        if wake_producers {
            state.room_wanted = usize::MAX;
            #[cfg(test)]
            {
                state.producer_wake_ups += 1;
            }
        }
        drop(state);
        if wake_producers {
            self.space.notify_all();
        }
        if wake_worker {
            self.work.notify_all();
        }
    }
}
