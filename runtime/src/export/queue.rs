//! The bounded queue in front of every exporter, and the worker threads
//! that batch and export.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::batch_end::{BatchEnd, EndBatch, Outcome};
use super::chunks::{Chunks, batches};
use super::exporter::BatchExporter;
use super::report::{Counters, Reporter, SignalReport};
use super::runtime::suppress_telemetry_on_this_thread;
use super::sync::{lock, wait_until};
use crate::config::{BatchConfig, Signal};

pub(super) struct QueueState<T> {
    pub(super) items: Chunks<T>,
    pub(super) in_flight: usize,
    pub(super) flush_requested: u64,
    pub(super) flush_done: u64,
    pub(super) shutdown: bool,
    pub(super) finished: bool,
    /// Worker threads still running.
    pub(super) workers: usize,
    /// Batches handed to the exporter whose end has not come back yet.
    pub(super) batches_in_flight: usize,
    /// Workers waiting for a batch in flight to end before they take the
    /// next.
    pub(super) waiting_for_slot: usize,
    /// The least room a producer waiting in [`BatchQueue::push_many`] waits
    /// for; `usize::MAX` when none waits.
    pub(super) room_wanted: usize,
    /// Items producers hold while they wait for room ([`BatchQueue::push_many`],
    /// [`BatchQueue::export_now`]): neither queued nor counted yet, so a
    /// report made meanwhile counts them as unsent.
    pub(super) held: usize,
    /// What tests watch; nothing in other builds.
    #[cfg(test)]
    pub(super) probe: Probe,
}

/// What tests watch of a queue, counted under its state's lock.
#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct Probe {
    /// Times batch ends woke producers waiting for room.
    pub(super) producer_wake_ups: usize,
    /// Workers asleep until their schedule delay or a wake-up.
    pub(super) idle_workers: usize,
    /// Rounds of the workers' loops.
    pub(super) worker_rounds: usize,
}

/// A bounded queue drained by worker threads into one exporter.
pub(crate) struct BatchQueue<T> {
    pub(super) signal: Signal,
    pub(super) destination: String,
    pub(super) config: BatchConfig,
    pub(super) state: Mutex<QueueState<T>>,
    /// Wakes the worker.
    pub(super) work: Condvar,
    /// Wakes callers waiting for a flush or for shutdown.
    pub(super) done: Condvar,
    /// Wakes producers waiting for room ([`BatchQueue::push_many`]).
    pub(super) space: Condvar,
    pub(super) counters: Counters,
    /// Batches the workers may have in flight at once before they wait for
    /// one to end (one per worker for a synchronous export, whose call is
    /// the whole export, so an exporter is never called concurrently).
    pub(super) max_in_flight: usize,
    /// What each batch is handed to, by a worker or by a thread that helps
    /// ([`BatchQueue::export_queued`]).
    pub(super) export: Box<dyn BatchExporter<T>>,
    /// Whether other threads may export (until exports there were slow).
    pub(super) helpers_welcome: AtomicBool,
    /// Slow exports on helping threads in a row.
    pub(super) slow_helps: AtomicU32,
    /// Whether an export hands its batch off without blocking (encoding and
    /// spawning the send), so any thread may run it, even inside an async
    /// runtime ([`BatchExporter::hands_off`]).
    pub(super) non_blocking: bool,
}

impl<T: Send + 'static> EndBatch for BatchQueue<T> {
    fn end_batch(&self, items: usize, outcome: Outcome) {
        let mut state = lock(&self.state);
        // Counted and taken out of flight together, so a report never sees
        // a batch as both exported and unflushed.
        self.counters.record_outcome(items as u64, outcome);
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
        // what was queued during a flush or with no schedule delay (due at
        // once, and the worker may be asleep with no timeout), and at
        // shutdown to see the last batch end.
        let flushing = state.flush_requested > state.flush_done;
        let queued_due = !state.items.is_empty() && (flushing || self.wakes_for_each_item());
        let wake_worker = state.waiting_for_slot > 0 || state.shutdown || queued_due;
        // Room for producers (in-flight batches count against the queue
        // size), once there is as much as they wait for.
        let wake_producers = state.shutdown || self.room(&state) >= state.room_wanted;
        if wake_producers {
            state.room_wanted = usize::MAX;
            #[cfg(test)]
            {
                state.probe.producer_wake_ups += 1;
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

impl<T> fmt::Debug for BatchQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchQueue")
            .field("signal", &self.signal)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Starts the worker thread, which hands each batch to `exporter`.
    pub(crate) fn start(
        signal: Signal,
        destination: String,
        config: BatchConfig,
        exporter: impl BatchExporter<T>,
    ) -> std::io::Result<Arc<Self>> {
        Self::start_workers(signal, destination, config, 1, exporter)
    }

    /// Starts `workers` worker threads. They go on to the next batch while
    /// fewer than the exporter's [`BatchExporter::in_flight`] batches are
    /// on their way (one per worker when its call is the whole export).
    pub(crate) fn start_workers(
        signal: Signal,
        destination: String,
        config: BatchConfig,
        workers: usize,
        exporter: impl BatchExporter<T>,
    ) -> std::io::Result<Arc<Self>> {
        let workers = workers.max(1);
        let queue = Arc::new(Self {
            signal,
            destination,
            config,
            state: Mutex::new(QueueState {
                items: Chunks::new(config.max_export_batch_size),
                in_flight: 0,
                flush_requested: 0,
                flush_done: 0,
                shutdown: false,
                finished: false,
                workers,
                batches_in_flight: 0,
                waiting_for_slot: 0,
                room_wanted: usize::MAX,
                held: 0,
                #[cfg(test)]
                probe: Probe::default(),
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            space: Condvar::new(),
            counters: Counters::default(),
            // A synchronous export holds its worker: one batch each.
            max_in_flight: exporter.in_flight().unwrap_or(workers).max(1),
            non_blocking: exporter.hands_off(),
            export: Box::new(exporter),
            helpers_welcome: AtomicBool::new(true),
            slow_helps: AtomicU32::new(0),
        });
        for i in 0..workers {
            let worker = Arc::clone(&queue);
            let name = if i == 0 {
                format!("semtel-{signal}")
            } else {
                format!("semtel-{signal}-{i}")
            };
            let spawned = thread::Builder::new().name(name).spawn(move || {
                suppress_telemetry_on_this_thread();
                worker.run();
                worker.worker_done();
            });
            if let Err(e) = spawned {
                // The workers already running stay; none at all is an error.
                if i == 0 {
                    return Err(e);
                }
                let mut state = lock(&queue.state);
                state.workers -= workers - i;
                break;
            }
        }
        Ok(queue)
    }

    /// Enqueues one item, or drops and counts it when the queue is full.
    /// Never blocks on the exporter.
    pub(crate) fn push(&self, item: T) {
        let mut state = lock(&self.state);
        if state.shutdown || state.items.len() + state.in_flight >= self.config.max_queue_size {
            // Counted under the lock, as a report reads the counters.
            self.counters.drop_items(1);
            return;
        }
        state.items.push(item);
        let first = state.items.len() == 1 && self.wakes_for_each_item();
        if first || state.items.len() >= self.config.max_export_batch_size {
            self.work.notify_one();
        }
    }

    /// Enqueues `chunks` (each taken whole when it is at most a batch,
    /// [`Chunks`]), waiting for room while the worker exports, up to
    /// `give_up`; drops and counts what still does not fit then (or once
    /// shutdown has begun). The span engine's collector calls this, so a slow
    /// exporter holds records back in the threads' rings instead of losing
    /// them, and only full rings drop. `wake`: whether a full batch wakes
    /// the worker (not when the caller exports it itself next,
    /// [`BatchQueue::export_queued`]); waiting for room always does.
    pub(crate) fn push_many(&self, chunks: Vec<Vec<T>>, give_up: Instant, wake: bool) {
        let mut chunks = batches(chunks, self.config.max_export_batch_size);
        self.push_chunks(&mut chunks, give_up, wake);
    }

    /// [`BatchQueue::push_many`] of chunks of at most a batch each.
    pub(super) fn push_chunks(&self, chunks: &mut VecDeque<Vec<T>>, give_up: Instant, wake: bool) {
        let mut state = lock(&self.state);
        state.held += chunks.iter().map(Vec::len).sum::<usize>();
        self.push_held(state, chunks, give_up, wake);
    }

    /// [`BatchQueue::push_chunks`] of chunks already counted in
    /// [`QueueState::held`]: each leaves it as it is queued, or as it is
    /// dropped and counted, under the same lock, so that a report never
    /// misses an item a producer holds, whenever it is made.
    pub(super) fn push_held(
        &self,
        mut state: MutexGuard<'_, QueueState<T>>,
        chunks: &mut VecDeque<Vec<T>>,
        give_up: Instant,
        wake: bool,
    ) {
        let mut left: usize = chunks.iter().map(Vec::len).sum();
        while left > 0 && !state.shutdown {
            let mut room = self.room(&state);
            while room > 0
                && let Some(mut chunk) = chunks.pop_front()
            {
                if chunk.len() > room {
                    // Only what fits: the rest (less than a batch) waits.
                    chunks.push_front(chunk.split_off(room));
                }
                room -= chunk.len();
                left -= chunk.len();
                state.held -= chunk.len();
                state.items.append(chunk);
            }
            let full = state.items.len() >= self.config.max_export_batch_size;
            if (wake && (full || self.wakes_for_each_item())) || left > 0 {
                self.work.notify_one();
            }
            let wait = give_up.saturating_duration_since(Instant::now());
            if left == 0 || wait.is_zero() {
                break;
            }
            // Woken once half the queue is free (or room for all that is
            // left), not at every batch's end: each wake-up is two context
            // switches, and the worker still has half a queue to export.
            let wanted = left.min(self.config.max_queue_size / 2).max(1);
            state.room_wanted = state.room_wanted.min(wanted);
            state = self
                .space
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if left > 0 {
            state.held -= left;
            self.counters.drop_items(left as u64);
        }
        drop(state);
        chunks.clear();
    }

    /// A worker has ended; the last one shuts the exporter down.
    fn worker_done(&self) {
        let last = {
            let mut state = lock(&self.state);
            state.workers -= 1;
            state.workers == 0
        };
        if last {
            self.export.shutdown();
            let mut state = lock(&self.state);
            state.finished = true;
            self.done.notify_all();
        }
    }

    fn run(self: &Arc<Self>) {
        let mut state = lock(&self.state);
        let mut next_export = Instant::now() + self.config.schedule_delay;
        loop {
            #[cfg(test)]
            {
                state.probe.worker_rounds += 1;
            }
            let flush_target = state.flush_requested;
            let draining = state.shutdown || flush_target > state.flush_done;
            let full = state.items.len() >= self.config.max_export_batch_size;
            let due = !state.items.is_empty() && Instant::now() >= next_export;
            if state.items.is_empty() && draining {
                if state.in_flight == 0 {
                    if state.shutdown {
                        return;
                    }
                    state.flush_done = flush_target;
                    self.done.notify_all();
                } else {
                    // Done when the batches in flight (this worker's sends,
                    // other workers' exports) have ended: the last to end
                    // completes a flush itself, and wakes this worker at
                    // shutdown or for what a flush queued meanwhile; else
                    // it is next due at the schedule delay.
                    state = self.sleep(state, self.config.schedule_delay);
                }
                continue;
            }
            let slot = state.batches_in_flight < self.max_in_flight;
            if !slot || !(draining || full || due) {
                state = if slot {
                    let now = Instant::now();
                    if state.items.is_empty() && now >= next_export {
                        // Nothing to export: the delay runs from now (with
                        // no delay, until an item queued wakes the worker).
                        next_export = now + self.config.schedule_delay;
                    }
                    let wait = next_export.saturating_duration_since(now);
                    if wait.is_zero() && !state.items.is_empty() {
                        continue; // due by now
                    }
                    self.sleep(state, wait)
                } else {
                    state.waiting_for_slot += 1;
                    let mut state = self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    state.waiting_for_slot -= 1;
                    state
                };
                continue;
            }
            let Some((batch, end)) = self.take_batch(&mut state) else {
                next_export = Instant::now() + self.config.schedule_delay;
                continue;
            };
            drop(state);
            // Producers waiting for room are not woken here: a batch taken
            // is still in flight and counts against the queue until it ends
            // (`end_batch` wakes them). Waking them here woke the collector
            // once per batch for nothing, two context switches each.
            self.export_batch(batch, end);
            // The delay counts from the end of a synchronous export, from
            // the hand-over of one that runs elsewhere.
            next_export = Instant::now() + self.config.schedule_delay;
            state = lock(&self.state);
        }
    }

    /// Sleeps until the worker is woken or `timeout` passes; a zero
    /// `timeout` (a zero schedule delay, with nothing queued) waits for a
    /// wake-up alone: every item queued then wakes the worker
    /// ([`BatchQueue::wakes_for_each_item`]), and a wait of zero would spin.
    fn sleep<'a>(
        &self,
        mut state: MutexGuard<'a, QueueState<T>>,
        timeout: Duration,
    ) -> MutexGuard<'a, QueueState<T>> {
        #[cfg(test)]
        {
            state.probe.idle_workers += 1;
        }
        state = if timeout.is_zero() {
            self.work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner)
        } else {
            self.work
                .wait_timeout(state, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        };
        #[cfg(test)]
        {
            state.probe.idle_workers -= 1;
        }
        state
    }

    /// Whether every item queued wakes the worker: with a zero schedule
    /// delay, an item is exported as soon as it is queued.
    fn wakes_for_each_item(&self) -> bool {
        self.config.schedule_delay.is_zero()
    }

    /// Items the queue can still take: batches being exported count too, so
    /// the queue size bounds the memory a destination holds.
    pub(super) fn room(&self, state: &QueueState<T>) -> usize {
        self.config
            .max_queue_size
            .saturating_sub(state.items.len() + state.in_flight)
    }

    /// Takes the next batch (the first chunk queued, at most the batch
    /// size) if a slot is free, and counts it in flight.
    pub(super) fn take_batch(
        self: &Arc<Self>,
        state: &mut QueueState<T>,
    ) -> Option<(Vec<T>, BatchEnd)> {
        if state.items.is_empty() || state.batches_in_flight >= self.max_in_flight {
            return None;
        }
        let batch = state.items.take();
        let n = batch.len();
        Some((batch, self.begin_batch(state, n)))
    }

    /// Counts a batch of `n` items in flight; its end takes it out.
    pub(super) fn begin_batch(self: &Arc<Self>, state: &mut QueueState<T>, n: usize) -> BatchEnd {
        state.in_flight += n;
        state.batches_in_flight += 1;
        BatchEnd {
            queue: Arc::<Self>::clone(self) as Arc<dyn EndBatch>,
            items: n,
            ended: false,
        }
    }

    /// Hands one batch to the exporter. A panic in it fails the batch (its
    /// end, dropped, counts it) and goes no further: the thread exporting
    /// may be the span engine's collector.
    pub(super) fn export_batch(&self, batch: Vec<T>, end: BatchEnd) {
        let export = std::panic::AssertUnwindSafe(|| self.export.export(batch, end));
        let _ = std::panic::catch_unwind(export);
    }

    /// Exports everything queued now; waits at most `timeout`. Returns at
    /// once when nothing is queued or being exported: everything before
    /// the call has been.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.state);
        if state.finished || (state.items.is_empty() && state.in_flight == 0) {
            return Ok(());
        }
        state.flush_requested += 1;
        let target = state.flush_requested;
        // The last batch in flight ends the flush itself when nothing else
        // is queued (`end_batch`).
        if !state.items.is_empty() {
            self.work.notify_all();
        }
        let (_state, done) = wait_until(&self.done, state, deadline, |s| {
            s.flush_done >= target || s.finished
        });
        if done {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    /// Begins shutdown and waits at most `timeout` for the worker to finish.
    pub(super) fn shutdown_within(&self, timeout: Duration) -> OTelSdkResult {
        self.begin_shutdown();
        if self.wait(Instant::now() + timeout) {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }
}

impl<T: Send + 'static> Reporter for BatchQueue<T> {
    fn begin_shutdown(&self) {
        lock(&self.state).shutdown = true;
        self.work.notify_all();
        self.space.notify_all();
    }

    fn wait(&self, deadline: Instant) -> bool {
        wait_until(&self.done, lock(&self.state), deadline, |s| s.finished).1
    }

    fn report(&self) -> SignalReport {
        let state = lock(&self.state);
        let queued = if state.finished {
            0
        } else {
            state.items.len() + state.in_flight
        };
        let unflushed = (queued + state.held) as u64;
        // Read under the state lock, which a batch's end holds while it is
        // counted and taken out of flight: never both exported and
        // unflushed.
        let report = self
            .counters
            .report(self.signal, &self.destination, unflushed);
        drop(state);
        report
    }
}
