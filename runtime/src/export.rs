//! The export engine: bounded queues in front of every exporter, worker
//! threads that batch and export, and the accounting behind
//! [`ShutdownReport`].
//!
//! The OpenTelemetry SDK's batch processors drop telemetry silently when full
//! and need a runtime of the caller's kind; here every queue counts what it
//! drops, every export is bounded by a timeout, and network exporters run on
//! semtel's own runtime thread, so a slow or absent collector never blocks the
//! pipeline and shutdown cannot deadlock on the caller's (possibly
//! current-thread) tokio runtime.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

use crate::config::{BatchConfig, Signal};
use crate::engine::encode::{Encoder, Item};
use crate::engine::send::{BufferPool, Transport};

mod chunks;
pub(crate) use chunks::Chunks;
use chunks::batches;

/// Runs exporter futures: on semtel's tokio runtime for network exporters,
/// or on the calling thread for exporters that never wait (the console).
#[derive(Clone, Debug)]
pub(crate) enum Executor {
    Tokio(tokio::runtime::Handle),
    Local,
}

impl Executor {
    /// Runs `fut` to completion, giving up after `timeout`.
    pub(crate) fn run<F>(&self, timeout: Duration, fut: F) -> Result<(), String>
    where
        F: Future<Output = OTelSdkResult>,
    {
        let result = match self {
            Executor::Tokio(handle) => {
                handle.block_on(async { tokio::time::timeout(timeout, fut).await })
            }
            Executor::Local => Ok(park_block_on(fut)),
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("export timed out after {timeout:?}")),
        }
    }
}

fn describe(e: &OTelSdkError) -> String {
    match e {
        OTelSdkError::InternalFailure(m) => m.clone(),
        OTelSdkError::Timeout(d) => format!("timed out after {d:?}"),
        other => other.to_string(),
    }
}

/// Polls a future on this thread, parking between wake-ups.
fn park_block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// semtel's own tokio runtime, on one thread named `semtel-export`, where
/// gRPC and HTTP exporters do their I/O.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl ExportRuntime {
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("semtel-export")
            .on_thread_start(suppress_telemetry_on_this_thread)
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime is only taken in drop"),
        }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        // Never blocks, so it is safe inside the caller's async context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Telemetry that the exporters themselves produce (tonic, hyper, the SDK's
/// internal logs) must not be exported again, or a failing collector would
/// feed itself. Called once on every thread semtel owns.
pub(crate) fn suppress_telemetry_on_this_thread() {
    // The guard resets the thread's context when dropped; these threads keep
    // the suppressed context for life, so it is deliberately never dropped.
    std::mem::forget(Context::enter_telemetry_suppressed_scope());
}

/// What became of one exporter's telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalReport {
    /// The signal.
    pub signal: Signal,
    /// Where it was going, e.g. `otlp grpc http://localhost:4317` or `console`.
    pub destination: String,
    /// Items (spans, log records, metric data points) the exporter accepted.
    pub exported: u64,
    /// Items dropped because the queue was full (or shutdown had begun).
    pub dropped: u64,
    /// Items in exports that failed or timed out.
    pub failed: u64,
    /// Items still queued when the shutdown deadline passed.
    pub unflushed: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
}

impl SignalReport {
    /// Items that never reached the destination.
    pub fn lost(&self) -> u64 {
        self.dropped + self.failed + self.unflushed
    }
}

impl fmt::Display for SignalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.signal {
            Signal::Traces => "spans",
            Signal::Metrics => "metric points",
            Signal::Logs => "log records",
        };
        write!(
            f,
            "{} → {}: {} {unit} exported",
            self.signal, self.destination, self.exported
        )?;
        if self.lost() > 0 {
            write!(f, ", {} lost (", self.lost())?;
            let mut parts = Vec::new();
            if self.dropped > 0 {
                parts.push(format!("{} dropped, queue full", self.dropped));
            }
            if self.failed > 0 {
                parts.push(format!("{} in failed exports", self.failed));
            }
            if self.unflushed > 0 {
                parts.push(format!("{} unsent at shutdown deadline", self.unflushed));
            }
            write!(f, "{})", parts.join("; "))?;
            if let Some(e) = &self.last_error {
                write!(f, "; last error: {e}")?;
            }
        }
        Ok(())
    }
}

/// What shutdown achieved, per exporter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub(crate) signals: Vec<SignalReport>,
    pub(crate) timed_out: bool,
}

impl ShutdownReport {
    /// One entry per exporter (a signal sent to two places has two).
    pub fn signals(&self) -> &[SignalReport] {
        &self.signals
    }

    /// The entries for one signal.
    pub fn signal(&self, signal: Signal) -> impl Iterator<Item = &SignalReport> {
        self.signals.iter().filter(move |s| s.signal == signal)
    }

    /// Everything that did not arrive, over all exporters.
    pub fn lost(&self) -> u64 {
        self.signals.iter().map(SignalReport::lost).sum()
    }

    /// Whether the shutdown deadline passed before every exporter finished.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lost = self.lost();
        if lost == 0 {
            f.write_str("semtel: all telemetry delivered")?;
        } else {
            write!(f, "semtel: {lost} telemetry items lost")?;
        }
        if self.timed_out {
            f.write_str(" (shutdown deadline passed)")?;
        }
        for s in &self.signals {
            write!(f, "\n  {s}")?;
        }
        Ok(())
    }
}

/// Counters shared between producers, the worker and the report.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn record(&self, items: u64, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.exported.fetch_add(items, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(items, Ordering::Relaxed);
                *lock(&self.last_error) = Some(e);
            }
        }
    }

    pub(crate) fn drop_items(&self, items: u64) {
        self.dropped.fetch_add(items, Ordering::Relaxed);
    }

    fn report(&self, signal: Signal, destination: &str, unflushed: u64) -> SignalReport {
        SignalReport {
            signal,
            destination: destination.to_owned(),
            exported: self.exported.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            unflushed,
            last_error: lock(&self.last_error).clone(),
        }
    }
}

/// Waits on `cv` until `done` holds for the guarded state or `deadline`
/// passes; says whether `done` held.
fn wait_until<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Instant,
    done: impl Fn(&T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    while !done(&guard) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (guard, false);
        }
        guard = cv
            .wait_timeout(guard, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    (guard, true)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take telemetry down with it: the data under
    // these locks stays consistent at every await-free step.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The part of a processor that telemetry's owner keeps to report and to
/// start shutdown on every signal at once.
pub(crate) trait Reporter: Send + Sync + fmt::Debug {
    fn begin_shutdown(&self);
    fn wait(&self, deadline: Instant) -> bool;
    fn report(&self) -> SignalReport;
}

struct QueueState<T> {
    items: Chunks<T>,
    in_flight: usize,
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    finished: bool,
    /// Worker threads still running.
    workers: usize,
    /// Batches handed to the exporter whose end has not come back yet.
    batches_in_flight: usize,
    /// Workers waiting for a batch in flight to end before they take the
    /// next.
    waiting_for_slot: usize,
    /// The least room a producer waiting in [`BatchQueue::push_many`] waits
    /// for; `usize::MAX` when none waits.
    room_wanted: usize,
    /// Times batch ends woke producers waiting for room.
    #[cfg(test)]
    producer_wake_ups: usize,
    /// Workers asleep until their schedule delay or a wake-up.
    #[cfg(test)]
    idle_workers: usize,
}

/// A bounded queue drained by worker threads into one exporter.
pub(crate) struct BatchQueue<T> {
    signal: Signal,
    destination: String,
    config: BatchConfig,
    state: Mutex<QueueState<T>>,
    /// Wakes the worker.
    work: Condvar,
    /// Wakes callers waiting for a flush or for shutdown.
    done: Condvar,
    /// Wakes producers waiting for room ([`BatchQueue::push_many`]).
    space: Condvar,
    counters: Counters,
    /// Batches the workers may have in flight at once before they wait for
    /// one to end (one per worker for a synchronous export, whose call is
    /// the whole export, so an exporter is never called concurrently).
    max_in_flight: usize,
    /// What each batch is handed to, by a worker or by a thread that helps
    /// ([`BatchQueue::export_queued`]).
    export: Box<ExportFn<T>>,
    /// Whether other threads may export (until exports there were slow).
    helpers_welcome: AtomicBool,
    /// Slow exports on helping threads in a row.
    slow_helps: AtomicU32,
    /// Whether an export hands its batch off without blocking (encoding and
    /// spawning the send), so any thread may run it, even inside an async
    /// runtime.
    non_blocking: AtomicBool,
}

/// The longest export a helping thread may run before exports are left to
/// the queue's workers alone: handing a batch to the export runtime or to a
/// discarding exporter takes microseconds, a synchronous network exporter
/// milliseconds.
const HELP_LIMIT: Duration = Duration::from_millis(2);
/// Slow exports in a row on helping threads before helping stops.
const SLOW_HELPS: u32 = 3;

/// The end of one batch handed to an exporter, given its result once the
/// export is over: at once for a synchronous exporter, or later on another
/// thread (a send running on the export runtime). Dropped without a result
/// (its task abandoned when the runtime stopped), the batch counts as failed.
pub(crate) struct BatchEnd {
    queue: Arc<dyn EndBatch>,
    items: usize,
    ended: bool,
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

trait EndBatch: Send + Sync {
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

/// What a worker hands each batch to.
type ExportFn<T> = dyn Fn(Vec<T>, BatchEnd) + Send + Sync;

impl<T> fmt::Debug for BatchQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchQueue")
            .field("signal", &self.signal)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Starts the worker thread. `export` sends one batch and says how it went;
    /// `finish` shuts the exporter down.
    pub(crate) fn start(
        signal: Signal,
        destination: String,
        config: BatchConfig,
        export: impl Fn(Vec<T>) -> Result<(), String> + Send + Sync + 'static,
        finish: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Arc<Self>> {
        Self::start_workers(signal, destination, config, 1, export, finish)
    }

    /// Starts `workers` worker threads, so that many batches can be in
    /// flight at once (one exported while another is taken).
    pub(crate) fn start_workers(
        signal: Signal,
        destination: String,
        config: BatchConfig,
        workers: usize,
        export: impl Fn(Vec<T>) -> Result<(), String> + Send + Sync + 'static,
        finish: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Arc<Self>> {
        Self::start_concurrent(
            signal,
            destination,
            config,
            workers,
            // A synchronous export holds its worker: one batch each.
            workers,
            move |batch, end: BatchEnd| end.end(export(batch)),
            finish,
        )
    }

    /// Starts `workers` worker threads that hand each batch to `export`
    /// with its [`BatchEnd`] and go on to the next while up to
    /// `max_in_flight` batches have not ended: with one worker, for exports
    /// that run elsewhere (sends on the export runtime), so no thread waits
    /// on each one.
    pub(crate) fn start_concurrent(
        signal: Signal,
        destination: String,
        config: BatchConfig,
        workers: usize,
        max_in_flight: usize,
        export: impl Fn(Vec<T>, BatchEnd) + Send + Sync + 'static,
        finish: impl FnOnce() + Send + 'static,
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
                #[cfg(test)]
                producer_wake_ups: 0,
                #[cfg(test)]
                idle_workers: 0,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            space: Condvar::new(),
            counters: Counters::default(),
            max_in_flight: max_in_flight.max(1),
            export: Box::new(export),
            helpers_welcome: AtomicBool::new(true),
            slow_helps: AtomicU32::new(0),
            non_blocking: AtomicBool::new(false),
        });
        let finish = Arc::new(Mutex::new(Some(finish)));
        for i in 0..workers {
            let worker = Arc::clone(&queue);
            let finish = Arc::clone(&finish);
            let name = if i == 0 {
                format!("semtel-{signal}")
            } else {
                format!("semtel-{signal}-{i}")
            };
            let spawned = thread::Builder::new().name(name).spawn(move || {
                suppress_telemetry_on_this_thread();
                worker.run();
                worker.worker_done(&finish);
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
            drop(state);
            self.counters.drop_items(1);
            return;
        }
        state.items.push(item);
        if state.items.len() >= self.config.max_export_batch_size {
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
    fn push_chunks(&self, chunks: &mut VecDeque<Vec<T>>, give_up: Instant, wake: bool) {
        let mut left: usize = chunks.iter().map(Vec::len).sum();
        let mut state = lock(&self.state);
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
                state.items.append(chunk);
            }
            if (wake && state.items.len() >= self.config.max_export_batch_size) || left > 0 {
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
        drop(state);
        if left > 0 {
            chunks.clear();
            self.counters.drop_items(left as u64);
        }
    }

    /// A worker has ended; the last one shuts the exporter down.
    fn worker_done<F: FnOnce()>(&self, finish: &Mutex<Option<F>>) {
        let last = {
            let mut state = lock(&self.state);
            state.workers -= 1;
            state.workers == 0
        };
        if last {
            if let Some(finish) = lock(finish).take() {
                finish();
            }
            let mut state = lock(&self.state);
            state.finished = true;
            self.done.notify_all();
        }
    }

    fn run(self: &Arc<Self>) {
        let mut state = lock(&self.state);
        let mut next_export = Instant::now() + self.config.schedule_delay;
        loop {
            let flush_target = state.flush_requested;
            let draining = state.shutdown || flush_target > state.flush_done;
            let full = state.items.len() >= self.config.max_export_batch_size;
            let due = Instant::now() >= next_export;
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
                    state = self
                        .work
                        .wait_timeout(state, self.config.schedule_delay)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                continue;
            }
            let slot = state.batches_in_flight < self.max_in_flight;
            if !slot || !(draining || full || due) {
                let wait = next_export.saturating_duration_since(Instant::now());
                state = if slot {
                    #[cfg(test)]
                    {
                        state.idle_workers += 1;
                    }
                    #[allow(unused_mut)]
                    let mut state = self
                        .work
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    #[cfg(test)]
                    {
                        state.idle_workers -= 1;
                    }
                    state
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

    /// Items the queue can still take: batches being exported count too, so
    /// the queue size bounds the memory a destination holds.
    fn room(&self, state: &QueueState<T>) -> usize {
        self.config
            .max_queue_size
            .saturating_sub(state.items.len() + state.in_flight)
    }

    /// Takes the next batch (the first chunk queued, at most the batch
    /// size) if a slot is free, and counts it in flight.
    fn take_batch(self: &Arc<Self>, state: &mut QueueState<T>) -> Option<(Vec<T>, BatchEnd)> {
        if state.items.is_empty() || state.batches_in_flight >= self.max_in_flight {
            return None;
        }
        let batch = state.items.take();
        let n = batch.len();
        Some((batch, self.begin_batch(state, n)))
    }

    /// Counts a batch of `n` items in flight; its end takes it out.
    fn begin_batch(self: &Arc<Self>, state: &mut QueueState<T>, n: usize) -> BatchEnd {
        state.in_flight += n;
        state.batches_in_flight += 1;
        BatchEnd {
            queue: Arc::<Self>::clone(self) as Arc<dyn EndBatch>,
            items: n,
            ended: false,
        }
    }

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
        while let Some(batch) = chunks.pop_front() {
            let mut state = lock(&self.state);
            let n = batch.len();
            if state.shutdown
                || !state.items.is_empty()
                || state.batches_in_flight >= self.max_in_flight
                || self.room(&state) < n
            {
                drop(state);
                chunks.push_front(batch);
                break;
            }
            let end = self.begin_batch(&mut state, n);
            drop(state);
            self.help_export(batch, end);
        }
        if !chunks.is_empty() {
            self.push_chunks(&mut chunks, give_up, wake);
            self.export_queued();
        }
    }

    /// Whether each export hands its batch off without blocking (encoding
    /// it and spawning the send), and other threads are still welcome to
    /// run it ([`BatchQueue::export_now`]).
    pub(crate) fn hands_off(&self) -> bool {
        self.non_blocking.load(Ordering::Relaxed) && self.helpers_welcome.load(Ordering::Relaxed)
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

    /// Hands one batch to the exporter. A panic in it fails the batch (its
    /// end, dropped, counts it) and goes no further: the thread exporting
    /// may be the span engine's collector.
    fn export_batch(&self, batch: Vec<T>, end: BatchEnd) {
        let export = std::panic::AssertUnwindSafe(|| (self.export)(batch, end));
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
    fn shutdown_within(&self, timeout: Duration) -> OTelSdkResult {
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
        let unflushed = if state.finished {
            0
        } else {
            (state.items.len() + state.in_flight) as u64
        };
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

/// Feeds ended, sampled spans into a [`BatchQueue`] of [`Item`]s, which
/// its worker turns into `SpanData` for an SDK exporter, or encodes itself
/// as OTLP.
#[derive(Debug)]
pub(crate) struct SpanQueueProcessor(pub(crate) Arc<BatchQueue<Item>>);

impl SpanQueueProcessor {
    /// A queue whose worker hands each batch to an SDK `exporter`.
    pub(crate) fn start<E: SpanExporter + 'static>(
        mut exporter: E,
        resource: &Resource,
        destination: String,
        config: BatchConfig,
        executor: Executor,
    ) -> std::io::Result<Self> {
        exporter.set_resource(resource);
        let exporter = Arc::new(exporter);
        let finisher = Arc::clone(&exporter);
        let timeout = config.export_timeout;
        let stage_scope = crate::engine::scope();
        let queue = BatchQueue::start(
            Signal::Traces,
            destination,
            config,
            move |batch: Vec<Item>| {
                let wall = crate::engine::clock::UnixNanos::current();
                let mut spans = Vec::with_capacity(batch.len());
                spans.extend(
                    batch
                        .into_iter()
                        .map(|item| item.into_span_data(&stage_scope, &wall)),
                );
                let batch = spans;
                executor.run(timeout, exporter.export(batch))
            },
            move || {
                let _ = finisher.shutdown_with_timeout(timeout);
            },
        )?;
        Ok(Self(queue))
    }

    /// A queue whose worker encodes each batch itself and hands the request
    /// to `runtime` to send with `transport`, going on to the next batch
    /// while up to [`SENDS_IN_FLIGHT`] are on their way: stage spans never
    /// become `SpanData`, and no thread waits on a send.
    pub(crate) fn start_direct(
        transport: Transport,
        encoder: Encoder,
        destination: String,
        config: BatchConfig,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<Self> {
        let timeout = config.export_timeout;
        // The requests on their way and the one being encoded.
        let buffers = BufferPool::new(SENDS_IN_FLIGHT + 1);
        let queue = BatchQueue::start_concurrent(
            Signal::Traces,
            destination,
            config,
            1,
            SENDS_IN_FLIGHT,
            move |batch: Vec<Item>, end: BatchEnd| {
                let mut buf = buffers.take();
                encoder.request_into(&batch, &mut buf.buf);
                let body = match transport.prepare(buf) {
                    Ok(body) => body,
                    Err(e) => return end.end(Err(e)),
                };
                drop(batch);
                if let Transport::Discard { .. } = transport {
                    // Dropped where the send would begin: the export
                    // runtime, the transport and the receiver are left out.
                    drop(std::hint::black_box(body));
                    return end.end(Ok(()));
                }
                let transport = transport.clone();
                runtime.spawn(async move {
                    let result = match tokio::time::timeout(timeout, transport.send(body)).await {
                        Ok(result) => result,
                        Err(_) => Err(format!("export timed out after {timeout:?}")),
                    };
                    end.end(result);
                });
            },
            || {},
        )?;
        // Encoding and spawning the send: any thread may do it.
        queue.non_blocking.store(true, Ordering::Relaxed);
        Ok(Self(queue))
    }
}

/// Requests one OTLP destination has on their way at once: enough to keep
/// the connection busy while the worker encodes the next batch.
const SENDS_IN_FLIGHT: usize = 4;

impl SpanProcessor for SpanQueueProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, mut span: SpanData) {
        if span.span_context.is_sampled() {
            // tracing-opentelemetry adds `code.module.name`, which is not a
            // semantic-convention attribute (the module is part of
            // `code.function.name` where that is known).
            span.attributes
                .retain(|kv| kv.key.as_str() != "code.module.name");
            self.0.push(Item::from(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush(self.0.config.export_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_within(timeout)
    }
}

type LogItem = (SdkLogRecord, InstrumentationScope);

/// Feeds log records into a [`BatchQueue`].
#[derive(Debug)]
pub(crate) struct LogQueueProcessor(pub(crate) Arc<BatchQueue<LogItem>>);

impl LogQueueProcessor {
    pub(crate) fn start<E: LogExporter + 'static>(
        mut exporter: E,
        resource: &Resource,
        destination: String,
        config: BatchConfig,
        executor: Executor,
    ) -> std::io::Result<Self> {
        exporter.set_resource(resource);
        let exporter = Arc::new(exporter);
        let finisher = Arc::clone(&exporter);
        let timeout = config.export_timeout;
        let queue = BatchQueue::start(
            Signal::Logs,
            destination,
            config,
            move |batch: Vec<LogItem>| {
                let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
                    batch.iter().map(|(r, s)| (r, s)).collect();
                executor.run(timeout, exporter.export(LogBatch::new(&refs)))
            },
            move || {
                let _ = finisher.shutdown_with_timeout(timeout);
            },
        )?;
        Ok(Self(queue))
    }
}

impl LogProcessor for LogQueueProcessor {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        self.0.push((data.clone(), instrumentation.clone()));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush(self.0.config.export_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_within(timeout)
    }
}

/// Wraps a metric exporter so that its exports run on semtel's executor with
/// a timeout, and counts the data points that arrive or are lost.
pub(crate) struct CountingMetricExporter<E> {
    inner: E,
    executor: Executor,
    timeout: Duration,
    state: Arc<MetricState>,
}

#[derive(Debug)]
pub(crate) struct MetricState {
    destination: String,
    counters: Counters,
    /// Points of the export under way, reported as unsent if shutdown's
    /// deadline passes during it.
    in_flight: AtomicU64,
    finished: Mutex<bool>,
    done: Condvar,
}

impl<E> fmt::Debug for CountingMetricExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingMetricExporter")
            .field("destination", &self.state.destination)
            .finish_non_exhaustive()
    }
}

impl<E: PushMetricExporter> CountingMetricExporter<E> {
    pub(crate) fn new(
        inner: E,
        destination: String,
        executor: Executor,
        timeout: Duration,
    ) -> (Self, Arc<MetricState>) {
        let state = Arc::new(MetricState {
            destination,
            counters: Counters::default(),
            in_flight: AtomicU64::new(0),
            finished: Mutex::new(false),
            done: Condvar::new(),
        });
        let exporter = Self {
            inner,
            executor,
            timeout,
            state: Arc::clone(&state),
        };
        (exporter, state)
    }
}

/// Data points in one collection.
pub(crate) fn count_points(metrics: &ResourceMetrics) -> u64 {
    fn points<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .map(|m| match m.data() {
            AggregatedMetrics::F64(d) => points(d),
            AggregatedMetrics::U64(d) => points(d),
            AggregatedMetrics::I64(d) => points(d),
        } as u64)
        .sum()
}

impl<E: PushMetricExporter> PushMetricExporter for CountingMetricExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let points = count_points(metrics);
        self.state.in_flight.store(points, Ordering::Relaxed);
        let result = self.executor.run(self.timeout, self.inner.export(metrics));
        let outcome = result.clone().map_err(OTelSdkError::InternalFailure);
        self.state.counters.record(points, result);
        self.state.in_flight.store(0, Ordering::Relaxed);
        outcome
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        *lock(&self.state.finished) = true;
        self.state.done.notify_all();
        result
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl Reporter for MetricState {
    fn begin_shutdown(&self) {}

    fn wait(&self, deadline: Instant) -> bool {
        wait_until(&self.done, lock(&self.finished), deadline, |f| *f).1
    }

    fn report(&self) -> SignalReport {
        let unflushed = if *lock(&self.finished) {
            0
        } else {
            self.in_flight.load(Ordering::Relaxed)
        };
        self.counters
            .report(Signal::Metrics, &self.destination, unflushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn config(queue: usize, batch: usize) -> BatchConfig {
        BatchConfig {
            schedule_delay: Duration::from_secs(3600),
            export_timeout: Duration::from_secs(5),
            max_queue_size: queue,
            max_export_batch_size: batch,
        }
    }

    /// A queue whose exports each say they started, then block until
    /// released: send one `()` on the first channel per export to end.
    fn blocking_queue(
        config: BatchConfig,
        workers: usize,
    ) -> (Arc<BatchQueue<u32>>, mpsc::Sender<()>, mpsc::Receiver<()>) {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let q = BatchQueue::start_workers(
            Signal::Traces,
            "test".into(),
            config,
            workers,
            move |_batch: Vec<u32>| {
                let _ = lock(&started_tx).send(());
                let _ = lock(&release_rx).recv();
                Ok(())
            },
            || {},
        )
        .unwrap();
        (q, release_tx, started_rx)
    }

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        // The exporter blocks until released, so the queue fills up.
        let (q, release_tx, started_rx) = blocking_queue(config(4, 2), 1);
        q.push(1);
        q.push(2); // a full batch: the worker takes it and blocks in export
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        for i in 0..10 {
            q.push(i);
        }
        let report = q.report();
        // The batch being exported counts against the queue size too.
        assert_eq!(
            report.dropped, 8,
            "2 in flight, 2 queued, 8 dropped: {report:?}"
        );
        for _ in 0..10 {
            let _ = release_tx.send(());
        }
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
        let report = q.report();
        assert_eq!(
            (report.exported, report.dropped, report.unflushed),
            (4, 8, 0)
        );
    }

    #[test]
    fn a_producer_waiting_for_room_wakes_when_a_batch_in_flight_ends() {
        let (q, release_tx, started_rx) = blocking_queue(config(2, 2), 1);
        q.push_many(vec![vec![1, 2]], Instant::now(), true);
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // The queue is full with the batch in flight: this waits for room,
        // which only the end of that export makes.
        let (pushed_tx, pushed_rx) = mpsc::channel::<()>();
        let producer = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                q.push_many(
                    vec![vec![3]],
                    Instant::now() + Duration::from_secs(600),
                    true,
                );
                let _ = pushed_tx.send(());
            })
        };
        release_tx.send(()).unwrap();
        // Woken by the export's end, not by its 600 s give-up time.
        pushed_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the producer was not woken when the batch in flight ended");
        producer.join().unwrap();
        assert_eq!(q.report().dropped, 0, "{:?}", q.report());
        release_tx.send(()).unwrap();
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
        assert_eq!(q.report().exported, 3);
    }

    /// Waits, boundedly, until `holds` is true of `q`'s state.
    fn wait_for(q: &BatchQueue<u32>, what: &str, holds: impl Fn(&QueueState<u32>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !holds(&lock(&q.state)) {
            assert!(Instant::now() < deadline, "waited 30 s for {what}");
            thread::yield_now();
        }
    }

    /// A producer waiting for room is woken once half the queue is free
    /// (or room for all it has left), not at every batch's end: each
    /// wake-up is two context switches, and the worker has half a queue
    /// to export meanwhile.
    #[test]
    fn a_waiting_producer_is_woken_once_half_the_queue_is_free() {
        let (q, release_tx, started_rx) = blocking_queue(config(8, 2), 1);
        q.push_many(vec![(0..8).collect()], Instant::now(), true);
        // One batch of 2 in flight and 6 queued: full.
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let producer = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                q.push_many(
                    vec![(8..20).collect()],
                    Instant::now() + Duration::from_secs(600),
                    true,
                );
            })
        };
        let next_export = || {
            release_tx.send(()).unwrap();
            started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        };
        for round in 0..3 {
            wait_for(&q, "the producer to wait for 4 free", |s| {
                s.room_wanted == 4
            });
            next_export();
            assert_eq!(
                lock(&q.state).producer_wake_ups,
                round,
                "2 free of 8: the producer sleeps on"
            );
            next_export();
            wait_for(&q, "the producer to fill the queue again", |s| {
                s.items.len() + s.in_flight == 8
            });
        }
        producer.join().unwrap();
        assert_eq!(lock(&q.state).producer_wake_ups, 3, "4 of 12 each time");
        for _ in 0..4 {
            release_tx.send(()).unwrap();
        }
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
        let report = q.report();
        assert_eq!((report.exported, report.dropped), (20, 0), "{report:?}");
    }

    #[test]
    fn a_flush_waits_for_every_workers_batch() {
        let (q, release_tx, started_rx) = blocking_queue(config(8, 2), 2);
        for i in 0..4 {
            q.push(i);
        }
        // Both workers hold a batch.
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let flusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let result = q.flush(Duration::from_secs(10));
                (result, q.report().exported)
            })
        };
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        let (result, exported) = flusher.join().unwrap();
        assert!(result.is_ok());
        assert_eq!(
            exported, 4,
            "flush returned before both batches were exported"
        );
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn export_queued_exports_on_the_calling_thread() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let q = BatchQueue::start(
            Signal::Traces,
            "test".into(),
            config(8, 2),
            move |batch: Vec<u32>| {
                let _ = lock(&tx).send((batch, thread::current().id()));
                Ok(())
            },
            || {},
        )
        .unwrap();
        // Not waking the worker: the caller exports what it queued.
        q.push_many(vec![vec![1, 2, 3]], Instant::now(), false);
        q.export_queued();
        let me = thread::current().id();
        assert_eq!(rx.try_recv(), Ok((vec![1, 2], me)));
        assert_eq!(rx.try_recv(), Ok((vec![3], me)));
        let r = q.report();
        assert_eq!((r.exported, r.unflushed), (3, 0), "{r:?}");
        // Nothing queued or in flight: a flush has nothing to wait for.
        q.flush(Duration::ZERO).unwrap();
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn export_queued_leaves_a_busy_exporter_alone() {
        // One batch at a time: while the worker's export runs, a thread that
        // helps must not call the exporter beside it.
        let (q, release_tx, started_rx) = blocking_queue(config(8, 2), 1);
        q.push_many(vec![vec![1, 2]], Instant::now(), true);
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        q.push_many(vec![vec![3, 4]], Instant::now(), false);
        let (done_tx, done_rx) = mpsc::channel();
        let helper = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                q.export_queued();
                let _ = done_tx.send(());
            })
        };
        // Had it called the exporter, it would block there until released.
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("export_queued called an exporter that was busy");
        helper.join().unwrap();
        assert!(started_rx.try_recv().is_err(), "a second export started");
        assert_eq!(q.report().unflushed, 4);
        // The worker takes the rest once its export ends.
        let flusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.flush(Duration::from_secs(30)))
        };
        release_tx.send(()).unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        release_tx.send(()).unwrap();
        flusher.join().unwrap().unwrap();
        assert_eq!(q.report().exported, 4);
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn what_a_flush_finds_queued_after_its_sends_goes_out_without_waiting_for_the_delay() {
        // A flush is waiting for a send when a span below the batch size is
        // queued: the send's end wakes the worker for it (the schedule delay
        // is an hour here).
        // (Two slots: the worker does not wait for one, which would wake it.)
        let (q, rx) = concurrent_queue(config(8, 4), 2);
        q.push_many(vec![vec![1, 2, 3, 4]], Instant::now(), true);
        let wait = Duration::from_secs(30);
        let (first, end1) = rx.recv_timeout(wait).unwrap();
        assert_eq!(first, vec![1, 2, 3, 4]);
        let flusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.flush(Duration::from_secs(60)))
        };
        // The flush is asked for before the span is queued.
        wait_for(&q, "the flush to be asked for", |s| s.flush_requested > 0);
        q.push(5);
        end1.end(Ok(()));
        let (second, end2) = rx
            .recv_timeout(wait)
            .expect("the worker was not woken for what the flush found queued");
        assert_eq!(second, vec![5]);
        end2.end(Ok(()));
        flusher.join().unwrap().unwrap();
        assert_eq!(q.report().exported, 5);
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + wait));
    }

    #[test]
    fn a_slow_export_on_a_helping_thread_leaves_exports_to_the_worker() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let q = BatchQueue::start(
            Signal::Traces,
            "slow".into(),
            config(8, 1),
            move |batch: Vec<u32>| {
                // The first exports outlast the limit (spinning, not
                // sleeping: they only have to take longer).
                if batch[0] <= SLOW_HELPS {
                    let start = Instant::now();
                    while start.elapsed() <= HELP_LIMIT {
                        std::hint::spin_loop();
                    }
                }
                let _ = lock(&tx).send((batch, thread::current().id()));
                Ok(())
            },
            || {},
        )
        .unwrap();
        let me = thread::current().id();
        for i in 1..=SLOW_HELPS {
            q.export_now(vec![vec![i]], Instant::now(), false);
            assert_eq!(rx.try_recv(), Ok((vec![i], me)));
        }
        // From now on the worker exports, woken for it.
        q.export_now(vec![vec![SLOW_HELPS + 1]], Instant::now(), false);
        let (batch, by) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(batch, vec![SLOW_HELPS + 1]);
        assert_ne!(by, me, "a helping thread exported after a slow export");
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn a_panicking_exporter_fails_its_batch_and_the_helping_thread_goes_on() {
        let q = BatchQueue::start(
            Signal::Traces,
            "panics".into(),
            config(8, 2),
            |batch: Vec<u32>| {
                assert!(batch != [1, 2], "exporter bug");
                Ok(())
            },
            || {},
        )
        .unwrap();
        q.export_now(vec![vec![1, 2, 3]], Instant::now(), false);
        let r = q.report();
        assert_eq!((r.exported, r.failed, r.unflushed), (1, 2, 0), "{r:?}");
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn flush_exports_a_partial_batch_before_the_schedule_delay() {
        let (tx, rx) = mpsc::channel::<usize>();
        let q = BatchQueue::start(
            Signal::Logs,
            "test".into(),
            config(100, 50),
            move |batch: Vec<u32>| {
                let _ = tx.send(batch.len());
                Ok(())
            },
            || {},
        )
        .unwrap();
        q.push(1);
        q.push(2);
        q.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
    }

    #[test]
    fn failed_exports_are_counted_with_the_error() {
        let q = BatchQueue::start(
            Signal::Metrics,
            "otlp grpc http://127.0.0.1:1".into(),
            config(10, 10),
            |_batch: Vec<u32>| Err("connection refused".to_owned()),
            || {},
        )
        .unwrap();
        q.push(1);
        q.push(2);
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
        let r = q.report();
        assert_eq!((r.exported, r.failed), (0, 2));
        assert_eq!(r.last_error.as_deref(), Some("connection refused"));
        let text = r.to_string();
        assert!(text.contains("2 lost"), "{text}");
        assert!(text.contains("otlp grpc http://127.0.0.1:1"), "{text}");
    }

    #[test]
    fn shutdown_deadline_reports_unflushed_items() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let q = BatchQueue::start(
            Signal::Traces,
            "slow".into(),
            config(10, 2),
            move |_batch: Vec<u32>| {
                let _ = lock(&release_rx).recv();
                Ok(())
            },
            || {},
        )
        .unwrap();
        for i in 0..5 {
            q.push(i);
        }
        q.begin_shutdown();
        assert!(!q.wait(Instant::now() + Duration::from_millis(50)));
        assert_eq!(q.report().unflushed, 5);
        drop(release_tx); // lets the worker finish
    }

    type Handed = mpsc::Receiver<(Vec<u32>, BatchEnd)>;

    /// A queue that hands each batch and its end to the test, which ends
    /// them when it likes (as sends on the export runtime end).
    fn concurrent_queue(
        config: BatchConfig,
        max_in_flight: usize,
    ) -> (Arc<BatchQueue<u32>>, Handed) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let q = BatchQueue::start_concurrent(
            Signal::Traces,
            "test".into(),
            config,
            1,
            max_in_flight,
            move |batch: Vec<u32>, end: BatchEnd| {
                let _ = lock(&tx).send((batch, end));
            },
            || {},
        )
        .unwrap();
        (q, rx)
    }

    #[test]
    fn what_export_now_leaves_queued_wakes_the_worker_when_asked() {
        // One slot: the first batch goes out on this thread and stays in
        // flight, the second is queued. Asked to wake it (the collector's
        // steady drains), the worker sends the second once the first ends,
        // with no flush and an hour's schedule delay.
        let (q, rx) = concurrent_queue(config(8, 2), 1);
        // Asleep (the wait releases the state's lock this sees it under),
        // so only a wake-up gets it to the queued batch.
        wait_for(&q, "the worker to sleep", |s| s.idle_workers == 1);
        q.export_now(vec![vec![1, 2], vec![3, 4]], Instant::now(), true);
        let wait = Duration::from_secs(30);
        let (first, end1) = rx.try_recv().expect("exported on the calling thread");
        assert_eq!(first, vec![1, 2]);
        assert_eq!(q.report().unflushed, 4);
        end1.end(Ok(()));
        let (second, end2) = rx
            .recv_timeout(wait)
            .expect("the worker was not woken for the queued batch");
        assert_eq!(second, vec![3, 4]);
        end2.end(Ok(()));
        assert_eq!(q.report().exported, 4);
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + wait));
    }

    #[test]
    fn concurrent_batches_stay_in_flight_until_they_end() {
        let (q, rx) = concurrent_queue(config(8, 2), 2);
        for i in 0..6 {
            q.push(i);
        }
        let wait = Duration::from_secs(10);
        let (first, end1) = rx.recv_timeout(wait).unwrap();
        let (second, end2) = rx.recv_timeout(wait).unwrap();
        assert_eq!((first, second), (vec![0, 1], vec![2, 3]));
        // Two in flight: the third waits for one of them to end.
        assert!(rx.try_recv().is_err(), "a third batch went out");
        assert_eq!(q.report().unflushed, 6);
        let flusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.flush(Duration::from_secs(10)))
        };
        end1.end(Ok(()));
        let (third, end3) = rx.recv_timeout(wait).unwrap();
        assert_eq!(third, vec![4, 5]);
        end3.end(Ok(()));
        // The flush is not done while the second batch is on its way.
        assert!(
            !flusher.is_finished(),
            "the flush returned with a batch on its way"
        );
        end2.end(Err("refused".to_owned()));
        flusher.join().unwrap().unwrap();
        let r = q.report();
        assert_eq!((r.exported, r.failed, r.unflushed), (4, 2, 0), "{r:?}");
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + wait));
    }

    #[test]
    fn a_batch_whose_end_is_dropped_counts_as_failed() {
        let (q, rx) = concurrent_queue(config(8, 2), 4);
        q.push(1);
        q.push(2);
        let (_batch, end) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // As when the runtime drops a send's task before it ends.
        drop(end);
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + Duration::from_secs(10)));
        let r = q.report();
        assert_eq!((r.exported, r.failed, r.unflushed), (0, 2, 0), "{r:?}");
        assert_eq!(r.last_error.as_deref(), Some("the export was abandoned"));
    }

    #[test]
    fn executor_times_out_a_hanging_export() {
        let rt = ExportRuntime::start().unwrap();
        let ex = Executor::Tokio(rt.handle());
        let err = ex
            .run(Duration::from_millis(20), std::future::pending())
            .unwrap_err();
        assert!(err.contains("timed out"), "{err}");
    }
}
