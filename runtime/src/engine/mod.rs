//! semtel's own span engine for `#[stage]` calls.
//!
//! On the calling thread a stage call touches one thread-local block
//! ([`local::Thread`]: the current-span stack, the id generator and the
//! thread's ring) once when it starts and once when it ends, reads the clock
//! twice (`rdtsc`, [`clock`]) and records its span into a fixed-size
//! [`SpanRecord`] (no allocation unless it carries dynamic attributes,
//! events, links or a trace state). The record goes into a ring owned by the
//! calling thread: a single-producer single-consumer queue, so the push is a
//! slot write and one release store.
//!
//! The collector thread drains every thread's ring in batches of the export
//! batch size, records the successful calls' durations into their sites'
//! bound histogram cells, and hands the batches to each traces exporter's
//! queue, which keeps them whole. Semtel's own OTLP encoder ([`encode`],
//! [`send`]) hands each batch off without blocking (encode, then spawn the
//! send), so the collector runs those exports itself rather than wake the
//! queue's worker, which takes over only while the sends in flight fill
//! their slots. For an SDK exporter (the console, OTLP/HTTP JSON,
//! [`crate::Builder::span_exporter`]) the worker turns each batch into the
//! SDK's `SpanData`. Batching, back-pressure and loss accounting are
//! semtel's export queues' ([`crate::export`]), and nothing of it runs on
//! the calling thread.
//!
//! A flush wakes the collector alone: it drains the rings, exports what it
//! moved on its own thread as the queues' workers would, and waits for what
//! is in flight, whose end wakes it. On a VM, waking a thread on another CPU
//! costs tens of microseconds of CPU, more than a thousand stage calls, so
//! every hop saved counts.
//!
//! A thread's ring starts at the configured queue size
//! (`OTEL_BSP_MAX_QUEUE_SIZE`). A ring that passes half full before the
//! collector's timed drain (a thread running more than ~10,000 stages a
//! second at the default size) is swapped for one twice the size, up to
//! [`RING_GROWTH`] times the first but not past [`GROWN_RING`] records
//! (2 MiB) unless the queue size is larger already; the collector drains
//! the ring left behind and frees it. Only at that limit does a filling
//! ring wake the collector. Each wake-up costs the calling thread
//! microseconds, and the calls made while the collector drains run slower,
//! so a busy thread pays that once per 16,384 records instead of once per
//! 1,024 (BENCHMARKS.md, "Rings that grow").
//!
//! A full ring drops the record and counts it; the count is reported with the
//! traces exporters' losses at shutdown. Memory is bounded: each thread's ring
//! holds at most the limit above.
//!
//! The engine `init()` installed is used directly; scoped sessions (tests,
//! [`crate::Builder::build`]) are found through the current `tracing`
//! dispatcher (see [`context::SemtelLayer`]), so each routes its stages to its
//! own exporters.
//!
//! The per-call code is written for the CPU as much as for the reader: the
//! guard is made in place and filled through `&mut`, its state is plain
//! values, and records are built before an atomic that lets their stores
//! drain. Moving a freshly written struct made the CPU reload it with wider
//! loads than it was stored with, and those store-forwarding stalls were
//! most of the cost before (`perf annotate` shows them as hot `movaps`).

pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod encode;
mod ids;
pub(crate) mod local;
pub(crate) mod send;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use rtrb::Consumer;

use crate::config::{ParentBasedRoot, SamplerConfig};
use crate::export::{BatchQueue, Chunks};
use crate::stage::{SiteCells, StageSite};

const _: () = assert!(std::mem::size_of::<SpanRecord>() == 64);

pub use context::Instrumented;
pub(crate) use context::{SemtelLayer, SpanRef};

/// How often the collector drains idle threads' rings when nobody asks.
const DRAIN_INTERVAL: Duration = Duration::from_millis(100);
/// Records a busy producer pushes between checks of its ring's fill level.
const FILL_CHECK_EVERY: u32 = 64;
/// How many times its first size a busy thread's ring may grow.
const RING_GROWTH: usize = 16;
/// The most records a ring grows to when the configured queue size is
/// smaller: 2 MiB of 64-byte records.
const GROWN_RING: usize = 32_768;

/// One ended stage span, as recorded on the calling thread.
#[derive(Debug, Clone)]
/// 64 bytes, one cache line: only sampled spans are recorded, and what few
/// spans have (a remote parent, a failure) lives in `extra`.
pub(crate) struct SpanRecord {
    pub(crate) trace_id: u128,
    pub(crate) site: &'static StageSite,
    pub(crate) span_id: u64,
    /// Zero for a root span.
    pub(crate) parent_id: u64,
    pub(crate) start: u64,
    /// The end tick, with [`SpanRecord::DEFERRED`] set when the collector is
    /// to record the call's duration (ticks never reach bit 63: that is a
    /// century of TSC or nanoseconds).
    end: u64,
    pub(crate) extra: Option<Box<Extra>>,
}

impl SpanRecord {
    const DEFERRED: u64 = 1 << 63;

    /// Sets the end tick; `deferred` as in [`SpanRecord::new`].
    #[inline]
    pub(crate) fn set_end(&mut self, end: u64, deferred: bool) {
        self.end = (end & !Self::DEFERRED) | if deferred { Self::DEFERRED } else { 0 };
    }

    /// A record; `deferred`: the collector records the call's duration into
    /// its site's bound cells (the calling thread did not).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        trace_id: u128,
        site: &'static StageSite,
        span_id: u64,
        parent_id: u64,
        start: u64,
        end: u64,
        deferred: bool,
        extra: Option<Box<Extra>>,
    ) -> Self {
        let mut record = Self {
            trace_id,
            site,
            span_id,
            parent_id,
            start,
            end: 0,
            extra,
        };
        record.set_end(end, deferred);
        record
    }

    pub(crate) fn end(&self) -> u64 {
        self.end & !Self::DEFERRED
    }

    fn parent_remote(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.parent_remote)
    }

    /// The cells to record this call's duration into, when the calling
    /// thread left that to the collector.
    fn duration_cell(&self) -> Option<&'static SiteCells> {
        if self.end & Self::DEFERRED == 0 {
            return None;
        }
        self.site.bound_cells()
    }
}

/// What only some spans carry, boxed so the common record stays small.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extra {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) status: Status,
    pub(crate) trace_state: Option<Arc<TraceState>>,
    pub(crate) parent_remote: bool,
    /// The call failed with this `error.type` (its metrics, when on, were
    /// recorded by the calling thread).
    pub(crate) error_type: Option<Cow<'static, str>>,
}

/// A traces exporter's queue, as the engine feeds it: records go as they
/// are, and become OTLP (semtel's encoder) or `SpanData` (an SDK exporter) in
/// the exporter's worker, a batch at a time.
pub(crate) type Sink = Arc<BatchQueue<encode::Item>>;

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);
/// The engine `init()` installed for the whole process: stages use it
/// without looking up the current dispatcher while no other engine runs.
static INSTALLED: OnceLock<Arc<Engine>> = OnceLock::new();
/// Engines running that `init()` did not install (scoped sessions, as in
/// tests); while there are any, stages find theirs through the dispatcher.
static SCOPED: AtomicUsize = AtomicUsize::new(0);
/// Every engine started, so a span that ends on a thread other than the one
/// it started on (an async stage resumed elsewhere) finds its engine.
static ENGINES: Mutex<Vec<std::sync::Weak<Engine>>> = Mutex::new(Vec::new());

/// One session's span engine.
pub(crate) struct Engine {
    id: u64,
    sampler: SamplerConfig,
    /// Where spans go (one queue per traces exporter).
    queues: Vec<Sink>,
    /// The records a thread's ring holds at first.
    ring_capacity: usize,
    /// The records a busy thread's ring may grow to ([`ring_limit`]).
    ring_limit: usize,
    /// The export batch size: records are taken out of the rings in
    /// batches of it, which the queues take whole.
    batch_size: usize,
    /// How long the collector waits for room in a full export queue before
    /// it drops (the export timeout: an export must have ended by then).
    give_up: Duration,
    rings: Mutex<Vec<Consumer<SpanRecord>>>,
    /// Records dropped because a thread's ring was full.
    dropped: AtomicU64,
    open: AtomicBool,
    control: Mutex<Control>,
    done: Condvar,
    collector: Mutex<Option<Thread>>,
    /// Held from taking records out of the rings until they are in the
    /// queues (or exported): a flush on the caller's thread that finds the
    /// rings empty knows no records are between the two.
    delivery: Mutex<()>,
    /// Counted in [`SCOPED`].
    scoped: AtomicBool,
}

/// Panics the collector survives before it stops for good (a bug that
/// panics every time would otherwise spin). Once it has stopped, flushes
/// return `false` at once, the shutdown does not wait for it, and what is
/// left in the rings is reported as unflushed.
const COLLECTOR_PANICS: u32 = 3;

#[derive(Debug, Default)]
struct Control {
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    finished: bool,
    /// The collector stopped after [`COLLECTOR_PANICS`] panics.
    gave_up: bool,
    /// The shutdown deadline: the last deliveries wait no longer.
    deadline: Option<Instant>,
    /// The latest deadline of the flushes asked for: the collector waits no
    /// longer for their exports.
    flush_deadline: Option<Instant>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("id", &self.id)
            .field("sampler", &self.sampler)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts an engine and its collector thread. With no queues, stages
    /// still get ids (for log correlation) but nothing is recorded.
    pub(crate) fn start(
        sampler: SamplerConfig,
        queues: Vec<Sink>,
        batch: crate::config::BatchConfig,
    ) -> std::io::Result<Arc<Self>> {
        clock::start();
        let engine = Arc::new(Self {
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
            sampler,
            queues,
            ring_capacity: batch.max_queue_size.max(2),
            ring_limit: ring_limit(batch.max_queue_size.max(2)),
            batch_size: batch.max_export_batch_size.max(1),
            give_up: batch.export_timeout,
            rings: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            open: AtomicBool::new(true),
            control: Mutex::new(Control::default()),
            done: Condvar::new(),
            collector: Mutex::new(None),
            delivery: Mutex::new(()),
            scoped: AtomicBool::new(true),
        });
        let worker = Arc::clone(&engine);
        let handle = thread::Builder::new()
            .name("semtel-spans".into())
            .spawn(move || worker.run())?;
        *lock(&engine.collector) = Some(handle.thread().clone());
        SCOPED.fetch_add(1, Ordering::AcqRel);
        {
            let mut all = lock(&ENGINES);
            all.retain(|e| e.strong_count() > 0);
            all.push(Arc::downgrade(&engine));
        }
        crate::stage::activate();
        Ok(engine)
    }

    /// Makes this the process-wide engine (`init()` installed its session).
    pub(crate) fn install(self: &Arc<Self>) {
        if INSTALLED.set(Arc::clone(self)).is_ok() && self.scoped.swap(false, Ordering::AcqRel) {
            SCOPED.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Runs `f` with the engine of this thread's stages: the installed one
    /// while it is the only one running, else the current dispatcher's.
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Arc<Engine>>) -> R) -> R {
        if SCOPED.load(Ordering::Acquire) == 0
            && let Some(engine) = INSTALLED.get()
        {
            return f(Some(engine));
        }
        SemtelLayer::with_current(f)
    }

    /// Whether the session is still running.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether spans are recorded at all.
    pub(crate) fn records(&self) -> bool {
        !self.queues.is_empty() && self.open.load(Ordering::Relaxed)
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Records dropped because a thread's ring was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The sampling decision for a new span with `trace_id` under `parent`,
    /// as the SDK's samplers decide it.
    /// `parent_sampled`: the parent's sampled flag, `None` for a root.
    pub(crate) fn sampled(&self, trace_id: u128, parent_sampled: Option<bool>) -> bool {
        match (self.sampler, parent_sampled) {
            (SamplerConfig::AlwaysOn, _) => true,
            (SamplerConfig::AlwaysOff, _) => false,
            (SamplerConfig::TraceIdRatio(r), _) => ratio_sampled(r, trace_id),
            (SamplerConfig::ParentBased(_), Some(sampled)) => sampled,
            (SamplerConfig::ParentBased(root), None) => match root {
                ParentBasedRoot::AlwaysOn => true,
                ParentBasedRoot::AlwaysOff => false,
                ParentBasedRoot::TraceIdRatio(r) => ratio_sampled(r, trace_id),
            },
        }
    }

    /// Adds a thread's ring for the collector to drain.
    fn add_ring(&self, ring: Consumer<SpanRecord>) {
        lock(&self.rings).push(ring);
    }

    /// Asks the collector to drain every ring into the export queues and to
    /// export them, and waits until it has, or until `deadline`; `false`
    /// when the deadline passed first. The collector exports on its own
    /// thread what the queues' workers would (while those exports are
    /// quick, [`BatchQueue::export_queued`]), and waits for what is in
    /// flight: one thread woken for the whole flush, where each wake-up of
    /// another CPU costs microseconds. The collector gives up on the
    /// queues at the latest deadline asked for, and the flush counts as
    /// done then: what is still on its way is reported at shutdown.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
        if let Some(done) = self.flush_here(deadline) {
            return done;
        }
        let mut control = lock(&self.control);
        if control.finished {
            return !control.gave_up;
        }
        control.flush_deadline = control.flush_deadline.max(Some(deadline));
        control.flush_requested += 1;
        let target = control.flush_requested;
        drop(control);
        self.wake();
        self.wait(deadline, |c| c.flush_done >= target || c.finished)
            && !lock(&self.control).gave_up
    }

    /// Stops recording, drains every ring and ends the collector.
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        if self.open.swap(false, Ordering::AcqRel) {
            crate::stage::deactivate();
        }
        if self.scoped.swap(false, Ordering::AcqRel) {
            SCOPED.fetch_sub(1, Ordering::AcqRel);
        }
        {
            let mut control = lock(&self.control);
            control.shutdown = true;
            control.deadline = Some(deadline);
        }
        self.wake();
        self.wait(deadline, |c| c.finished)
    }

    /// Records still in threads' rings (after a shutdown that ran out of
    /// time): reported as unflushed.
    pub(crate) fn leftover(&self) -> u64 {
        lock(&self.rings).iter().map(|r| r.slots() as u64).sum()
    }

    fn wait(&self, deadline: Instant, done: impl Fn(&Control) -> bool) -> bool {
        let mut control = lock(&self.control);
        while !done(&control) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            control = self
                .done
                .wait_timeout(control, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    fn wake(&self) {
        if let Some(t) = lock(&self.collector).as_ref() {
            t.unpark();
        }
    }

    /// The collector thread: [`Engine::collect`], which a panic (a bug in
    /// semtel: exporters' panics are caught where they are called) does not
    /// end, up to [`COLLECTOR_PANICS`] times.
    fn run(&self) {
        crate::export::suppress_telemetry_on_this_thread();
        for _ in 0..COLLECTOR_PANICS {
            let collected =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.collect()));
            if collected.is_ok() {
                return;
            }
        }
        // Given up: no flush or shutdown waits for this thread any more.
        let mut c = lock(&self.control);
        c.finished = true;
        c.gave_up = true;
        c.flush_done = c.flush_requested;
        self.done.notify_all();
    }

    /// Drains the rings and runs flushes until the shutdown.
    fn collect(&self) {
        loop {
            let (target, flushing, shutdown, flush_deadline) = {
                let c = lock(&self.control);
                let flushing = c.flush_requested > c.flush_done;
                (c.flush_requested, flushing, c.shutdown, c.flush_deadline)
            };
            // What a flush moves, this thread exports itself: the workers
            // are not woken for it.
            let moved = self.drain(flushing && !shutdown);
            if flushing && !shutdown {
                #[cfg(test)]
                tests::maybe_panic(&tests::PANIC_IN_COLLECTOR, self.id);
                for sink in &self.queues {
                    sink.export_queued();
                }
                let deadline = flush_deadline.unwrap_or_else(Instant::now);
                for sink in &self.queues {
                    // In slices, draining the rings in between (the
                    // workers export that), so threads' rings do not fill
                    // while a slow export holds the flush up.
                    loop {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let done = sink.flush(left.min(DRAIN_INTERVAL)).is_ok();
                        if done || left.is_zero() || lock(&self.control).shutdown {
                            break;
                        }
                        self.drain(false);
                    }
                }
            }
            if flushing || shutdown {
                let mut c = lock(&self.control);
                c.flush_done = c.flush_done.max(target);
                if c.flush_done >= c.flush_requested {
                    c.flush_deadline = None;
                }
                if shutdown {
                    c.finished = true;
                }
                self.done.notify_all();
                if shutdown {
                    return;
                }
            }
            if moved == 0 && !self.asked() {
                thread::park_timeout(DRAIN_INTERVAL);
            }
        }
    }

    /// Whether a flush or the shutdown is waiting for the collector (an
    /// exporter run on its thread may have taken the wake-up meant for it).
    fn asked(&self) -> bool {
        let c = lock(&self.control);
        c.flush_requested > c.flush_done || c.shutdown
    }

    /// Moves every ring's records into the export queues; returns how many.
    /// `export`: this thread exports them itself (a flush), without waking
    /// the queues' workers.
    fn drain(&self, export: bool) -> usize {
        let _delivery = lock(&self.delivery);
        let Some(batch) = self.take(usize::MAX) else {
            return 0;
        };
        self.record_and_deliver(batch, export, None)
    }

    /// A flush on the calling thread, with no other thread woken, when every
    /// queue hands its batches off without blocking (semtel's own OTLP
    /// encoder, whose sends run on the export runtime), is idle, and has
    /// room for everything in the rings; `None` when the collector must do
    /// it (or is delivering right now).
    fn flush_here(&self, deadline: Instant) -> Option<bool> {
        if !self.is_open() {
            return None;
        }
        let delivery = self.delivery.try_lock().ok()?;
        let room = self
            .queues
            .iter()
            .map(|q| q.room_to_export_here())
            .try_fold(usize::MAX, |room, q| Some(room.min(q?)))?;
        if room == usize::MAX {
            return None;
        }
        let batch = self.take(room)?;
        {
            // What the exporters and the SDK's histogram might log is not
            // exported again, as on semtel's own threads (the context is
            // not touched once gone, at thread exit).
            let _suppressed = context::otel_context_live()
                .then(opentelemetry::Context::enter_telemetry_suppressed_scope);
            self.record_and_deliver(batch, true, Some(deadline));
        }
        drop(delivery);
        let mut done = true;
        for sink in &self.queues {
            let left = deadline.saturating_duration_since(Instant::now());
            done &= sink.flush(left).is_ok();
        }
        Some(done)
    }

    /// Takes every record out of the rings, in batches of the export batch
    /// size, unless more than `limit` are waiting (then none).
    fn take(&self, limit: usize) -> Option<Vec<Vec<encode::Item>>> {
        clock::refine();
        let mut rings = lock(&self.rings);
        let waiting: usize = rings.iter().map(Consumer::slots).sum();
        if waiting > limit {
            return None;
        }
        let mut batches = Chunks::new(self.batch_size);
        // At most what was counted: records pushed since are not this
        // call's to take.
        let mut left = waiting;
        rings.retain_mut(|ring| {
            // A ring abandoned by its thread is dropped once empty.
            let abandoned = ring.is_abandoned();
            let n = ring.slots().min(left);
            left -= n;
            if let Ok(chunk) = ring.read_chunk(n) {
                for record in chunk {
                    batches.push(encode::Item::Stage(record));
                }
            }
            !(abandoned && ring.is_empty())
        });
        Some(batches.into_batches())
    }

    /// Records the durations the calling threads left to the collector and
    /// hands the records to the queues; returns how many. `deadline`: a
    /// flush's, which waiting for room in a queue does not pass.
    fn record_and_deliver(
        &self,
        batches: Vec<Vec<encode::Item>>,
        flush: bool,
        deadline: Option<Instant>,
    ) -> usize {
        let moved = batches.iter().map(Vec::len).sum();
        // A panic here (a bug in semtel: exporters' panics are caught where
        // they are called) drops the batch, counted, and goes no further:
        // this may be a thread of the user's flushing. If some queues had
        // the batch already, the count is too high by what they export.
        let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            #[cfg(test)]
            tests::maybe_panic(&tests::PANIC_IN_DELIVERY, self.id);
            for item in batches.iter().flatten() {
                if let encode::Item::Stage(r) = item
                    && let Some(cells) = r.duration_cell()
                {
                    cells.record_duration(r.start, r.end());
                }
            }
            if moved > 0 {
                self.deliver(batches, flush, deadline);
            }
        }));
        if delivered.is_err() {
            self.dropped.fetch_add(moved as u64, Ordering::Relaxed);
        }
        moved
    }

    fn deliver(&self, batches: Vec<Vec<encode::Item>>, flush: bool, deadline: Option<Instant>) {
        let mut give_up = Instant::now() + self.give_up;
        if let Some(shutdown) = lock(&self.control).deadline {
            give_up = give_up.min(shutdown);
        }
        if let Some(deadline) = deadline {
            give_up = give_up.min(deadline);
        }
        let Some((last, rest)) = self.queues.split_last() else {
            return;
        };
        for sink in rest {
            deliver_to(sink, batches.clone(), give_up, flush);
        }
        deliver_to(last, batches, give_up, flush);
    }
}

/// Hands `batches` to one queue. This thread exports them itself, as the
/// queue's worker would, for a flush (the worker is not woken), and when
/// the exporter hands each batch off without blocking (semtel's own OTLP
/// encoder): waking the worker, two context switches each time, cost more
/// than the encoding (BENCHMARKS.md, "Batches that are not copied").
fn deliver_to(sink: &Sink, batches: Vec<Vec<encode::Item>>, give_up: Instant, flush: bool) {
    if flush || sink.hands_off() {
        sink.export_now(batches, give_up, !flush);
    } else {
        sink.push_many(batches, give_up, true);
    }
}

/// A stage span as the SDK's exporters take it.
pub(crate) fn span_data(
    r: SpanRecord,
    scope: &InstrumentationScope,
    wall: &clock::UnixNanos,
) -> SpanData {
    let parent_remote = r.parent_remote();
    let end = r.end();
    let mut attributes = r.site.span_attributes().to_vec();
    let (events, links, status, trace_state) = match r.extra {
        Some(extra) => {
            let Extra {
                attributes: more,
                events,
                links,
                status,
                trace_state,
                ..
            } = *extra;
            attributes.extend(more);
            (events, links, status, trace_state)
        }
        None => (Vec::new(), Vec::new(), Status::Unset, None),
    };
    let mut span_events = SpanEvents::default();
    span_events.events = events;
    let mut span_links = SpanLinks::default();
    span_links.links = links;
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(r.trace_id),
            SpanId::from(r.span_id),
            TraceFlags::SAMPLED,
            false,
            trace_state.map(Arc::unwrap_or_clone).unwrap_or_default(),
        ),
        parent_span_id: SpanId::from(r.parent_id),
        parent_span_is_remote: parent_remote,
        span_kind: r.site.span_kind().unwrap_or(SpanKind::Internal),
        name: Cow::Borrowed(r.site.stage()),
        start_time: wall.system_time(r.start),
        end_time: wall.system_time(end),
        attributes,
        dropped_attributes_count: 0,
        events: span_events,
        links: span_links,
        status,
        instrumentation_scope: scope.clone(),
    }
}

/// The instrumentation scope of stage spans.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("semtel")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(semtel_conventions::SCHEMA_URL)
        .build()
}

/// The SDK's `TraceIdRatioBased` decision: the low 63 bits of the trace id
/// against the ratio.
fn ratio_sampled(ratio: f64, trace_id: u128) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    ((trace_id as u64) >> 1) < bound
}

impl SpanRef {
    pub(crate) fn span_context(&self, trace_state: TraceState) -> SpanContext {
        SpanContext::new(
            TraceId::from(self.trace_id),
            SpanId::from(self.span_id),
            if self.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            false,
            trace_state,
        )
    }
}

/// The records a busy thread's ring may grow to from `first`: up to
/// [`RING_GROWTH`] times, but not past [`GROWN_RING`] unless `first` is
/// larger already.
fn ring_limit(first: usize) -> usize {
    first.saturating_mul(RING_GROWTH).min(first.max(GROWN_RING))
}

/// A running engine by its id (a span that ends on another thread than it
/// started on, or under another session, finds its engine here).
fn find(engine_id: u64) -> Option<Arc<Engine>> {
    lock(&ENGINES)
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .find(|e| e.id == engine_id)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BatchConfig, Signal};
    use crate::export::BatchQueue;

    /// Fault injection: panics to make, by engine id (tests run side by
    /// side, each with its own engine).
    pub(super) static PANIC_IN_COLLECTOR: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub(super) static PANIC_IN_DELIVERY: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    /// Panics once for each time `engine` is listed in `panics`.
    pub(super) fn maybe_panic(panics: &Mutex<Vec<u64>>, engine: u64) {
        let mut panics = lock(panics);
        if let Some(i) = panics.iter().position(|&e| e == engine) {
            panics.remove(i);
            drop(panics);
            panic!("injected panic for engine {engine}");
        }
    }

    fn engine_with_one_queue() -> Arc<Engine> {
        engine_counting_exports(Arc::default())
    }

    /// An engine with rings of 64 records (growing to 1,024) and one
    /// traces queue whose exporter adds the spans it gets to `exported`.
    fn engine_counting_exports(exported: Arc<AtomicUsize>) -> Arc<Engine> {
        let config = BatchConfig {
            schedule_delay: Duration::from_secs(3600),
            export_timeout: Duration::from_secs(5),
            max_queue_size: 64,
            max_export_batch_size: 16,
        };
        let export = move |batch: Vec<encode::Item>| {
            exported.fetch_add(batch.len(), Ordering::Relaxed);
            Ok(())
        };
        let queue =
            BatchQueue::start(Signal::Traces, "test".into(), config, export, || {}).unwrap();
        Engine::start(SamplerConfig::AlwaysOn, vec![queue], config).unwrap()
    }

    #[test]
    fn ring_limits_grow_sixteen_times_up_to_2_mib_unless_configured_larger() {
        assert_eq!(ring_limit(2), 32);
        assert_eq!(ring_limit(64), 1024);
        assert_eq!(ring_limit(2048), GROWN_RING);
        assert_eq!(ring_limit(4096), GROWN_RING);
        assert_eq!(ring_limit(GROWN_RING * 2), GROWN_RING * 2);
        assert_eq!(ring_limit(usize::MAX / 2), usize::MAX / 2);
    }

    /// A thread whose ring passes half full before the collector drains it
    /// moves to a ring twice the size, up to the limit, and only then wakes
    /// the collector and drops once that ring is full; every record pushed
    /// into the rings it left behind is exported, and those rings are freed.
    #[test]
    fn a_busy_threads_ring_doubles_up_to_its_limit_and_loses_nothing_on_the_way() {
        static SITE: StageSite = StageSite::new(None, "busy", None, None, &[]);
        let exported = Arc::new(AtomicUsize::new(0));
        let engine = engine_counting_exports(Arc::clone(&exported));
        assert_eq!((engine.ring_capacity, engine.ring_limit), (64, 1024));
        clock::start();
        // Rings that fill past half before the collector drains: it waits
        // for this lock before it takes anything.
        let held = lock(&engine.delivery);
        const PUSHES: u64 = 3000;
        let mut capacities = Vec::new();
        let mut rejected = 0;
        for i in 1..=PUSHES {
            let t = clock::now();
            let record = SpanRecord::new(1, &SITE, i, 0, t, t, false, None);
            rejected += u64::from(local::end(None, engine.id, Some(record)));
            let capacity = local::with(|t| t.ring_capacity()).flatten().unwrap();
            if capacities.last() != Some(&capacity) {
                capacities.push(capacity);
            }
        }
        assert_eq!(capacities, [64, 128, 256, 512, 1024]);
        // Each smaller ring was left at the first fill check (every 64
        // records) that found it past half full; the last one fills.
        let held_in_rings: u64 = 64 + 128 + 192 + 320 + 1024;
        assert_eq!(rejected, PUSHES - held_in_rings);
        assert_eq!(engine.dropped(), rejected);
        assert_eq!(lock(&engine.rings).len(), 5);
        drop(held);
        assert!(engine.flush(Instant::now() + Duration::from_secs(20)));
        assert_eq!(exported.load(Ordering::Relaxed) as u64, held_in_rings);
        assert_eq!(
            lock(&engine.rings).len(),
            1,
            "the abandoned rings are freed once drained"
        );
        assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
    }

    /// A panic in the collector (a bug in semtel) does not end it: the
    /// flush it interrupted is done by the next round; after
    /// [`COLLECTOR_PANICS`] it stops, and the shutdown returns at once
    /// instead of waiting out its deadline.
    #[test]
    fn the_collector_survives_panics_then_stops_without_stalling_shutdown() {
        let engine = engine_with_one_queue();
        lock(&PANIC_IN_COLLECTOR).push(engine.id);
        assert!(engine.flush(Instant::now() + Duration::from_secs(20)));
        assert!(lock(&PANIC_IN_COLLECTOR).is_empty(), "the panic happened");
        assert!(engine.flush(Instant::now() + Duration::from_secs(20)));

        lock(&PANIC_IN_COLLECTOR).extend([engine.id; COLLECTOR_PANICS as usize]);
        let started = Instant::now();
        assert!(
            !engine.flush(Instant::now() + Duration::from_secs(20)),
            "a flush the collector gave up on is not done"
        );
        assert!(!engine.flush(Instant::now() + Duration::from_secs(20)));
        assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "returned when the collector gave up, not at the deadline"
        );
        // It gave up after two of the three: its rounds were used up.
        assert_eq!(lock(&PANIC_IN_COLLECTOR).len(), 1);
    }

    /// A panic between the rings and the queues drops that batch, counted,
    /// and the caller's thread (a flush on it) does not see it.
    #[test]
    fn a_panic_in_delivery_drops_the_batch_counted() {
        let engine = engine_with_one_queue();
        lock(&PANIC_IN_DELIVERY).push(engine.id);
        let batch = (0..5)
            .map(|_| {
                encode::Item::from(SpanData {
                    span_context: SpanContext::empty_context(),
                    parent_span_id: SpanId::INVALID,
                    parent_span_is_remote: false,
                    span_kind: SpanKind::Internal,
                    name: "x".into(),
                    start_time: std::time::SystemTime::UNIX_EPOCH,
                    end_time: std::time::SystemTime::UNIX_EPOCH,
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                    events: SpanEvents::default(),
                    links: SpanLinks::default(),
                    status: Status::Unset,
                    instrumentation_scope: scope(),
                })
            })
            .collect();
        assert_eq!(engine.record_and_deliver(vec![batch], true, None), 5);
        assert_eq!(engine.dropped(), 5);
        assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
    }

    #[test]
    fn ratio_sampling_matches_the_sdk() {
        use opentelemetry::trace::SpanKind;
        use opentelemetry_sdk::trace::SamplingDecision;
        use opentelemetry_sdk::trace::{Sampler, ShouldSample as _};
        for ratio in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let sdk = Sampler::TraceIdRatioBased(ratio);
            for _ in 0..2000 {
                let trace_id = ids::trace_id();
                let ours = ratio_sampled(ratio, trace_id);
                let theirs = sdk.should_sample(
                    None,
                    TraceId::from(trace_id),
                    "x",
                    &SpanKind::Internal,
                    &[],
                    &[],
                );
                assert_eq!(
                    ours,
                    theirs.decision == SamplingDecision::RecordAndSample,
                    "ratio {ratio}, trace id {trace_id:032x}"
                );
            }
        }
    }
}
