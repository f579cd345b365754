//! Exports on threads other than the queue's workers: the span engine's
//! collector hands batches to an exporter itself while that is quick,
//! which saves waking a worker (two context switches) per batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::batch_end::BatchEnd;
use super::chunks::batches;
use super::queue::BatchQueue;
use super::sync::lock;

/// The longest export a helping thread may run before exports are left to
/// the queue's workers alone: handing a batch to the export runtime or to a
/// discarding exporter takes microseconds, a synchronous network exporter
/// milliseconds.
pub(super) const HELP_LIMIT: Duration = Duration::from_millis(2);
/// Slow exports in a row on helping threads before helping stops.
pub(super) const SLOW_HELPS: u32 = 3;

impl<T: Send + 'static> BatchQueue<T> {
    /// Exports `chunks` on the calling thread, as the worker would, a
    /// chunk a batch, while nothing else is queued and the exporter has a
    /// free slot (no copy through the queue); otherwise queues the rest
    /// ([`BatchQueue::push_many`], waking the worker for a full batch if
    /// `wake`) and exports what it can of the queue
    /// ([`BatchQueue::export_queued`]).
    pub(crate) fn export_now(self: &Arc<Self>, chunks: Vec<Vec<T>>, give_up: Instant, wake: bool) {
        if !self.helpers_welcome.load(Ordering::Relaxed) {
            return self.push_many(chunks, give_up, true);
        }
        let mut chunks = batches(chunks, self.config.max_export_batch_size);
        // Held from here until queued, exported or dropped (a report made
        // meanwhile counts them unsent).
        let mut state = lock(&self.state);
        state.held += chunks.iter().map(Vec::len).sum::<usize>();
        while let Some(batch) = chunks.pop_front() {
            let n = batch.len();
            if state.shutdown
                || !state.items.is_empty()
                || state.batches_in_flight >= self.max_in_flight
                || self.room(&state) < n
            {
                chunks.push_front(batch);
                break;
            }
            state.held -= n;
            let end = self.begin_batch(&mut state, n);
            drop(state);
            self.help_export(batch, end);
            state = lock(&self.state);
        }
        if chunks.is_empty() {
            return;
        }
        self.push_held(state, &mut chunks, give_up, wake);
        self.export_queued();
    }

    /// Whether each export hands its batch off without blocking (encoding
    /// it and spawning the send), and other threads are still welcome to
    /// run it ([`BatchQueue::export_now`]).
    pub(crate) fn hands_off(&self) -> bool {
        self.non_blocking && self.helpers_welcome.load(Ordering::Relaxed)
    }

    /// How many items a caller may export on its own thread right now
    /// ([`BatchQueue::export_now`]) without waiting: `None` unless the
    /// exports never block, nothing is queued or in flight, and helping is
    /// still welcome.
    pub(crate) fn room_to_export_here(&self) -> Option<usize> {
        if !self.hands_off() {
            return None;
        }
        let state = lock(&self.state);
        let idle = state.items.is_empty() && state.in_flight == 0 && !state.shutdown;
        // What the free slots take, so none is left for the worker.
        let slots = self.max_in_flight * self.config.max_export_batch_size.max(1);
        idle.then_some(self.config.max_queue_size.min(slots))
    }

    /// Exports what is queued on the calling thread, as the worker would,
    /// while the exporter has a free slot (never two calls at once to an
    /// exporter that takes one batch at a time). What is left stays queued
    /// for the worker, which a flush wakes. The span engine's collector
    /// calls this on a flush, so a flush wakes one thread instead of two.
    ///
    /// Only while exports are quick: once one on a helping thread has taken
    /// longer than [`HELP_LIMIT`] (a synchronous network exporter), the
    /// exports are left to the worker, so the helper (the collector, which
    /// drains the threads' rings) is never held up by them again.
    pub(crate) fn export_queued(self: &Arc<Self>) {
        loop {
            if !self.helpers_welcome.load(Ordering::Relaxed) {
                let state = lock(&self.state);
                if !state.items.is_empty() {
                    self.work.notify_one();
                }
                return;
            }
            let mut state = lock(&self.state);
            if state.shutdown {
                return;
            }
            let Some((batch, end)) = self.take_batch(&mut state) else {
                return;
            };
            drop(state);
            self.help_export(batch, end);
        }
    }

    /// An export on a helping thread, timed: [`SLOW_HELPS`] slow ones in a
    /// row (not one that was preempted) turn helping off.
    fn help_export(&self, batch: Vec<T>, end: BatchEnd) {
        let started = Instant::now();
        self.export_batch(batch, end);
        if started.elapsed() <= HELP_LIMIT {
            self.slow_helps.store(0, Ordering::Relaxed);
        } else if self.slow_helps.fetch_add(1, Ordering::Relaxed) + 1 >= SLOW_HELPS {
            self.helpers_welcome.store(false, Ordering::Relaxed);
        }
    }
}
