//! One session's span engine: the rings each thread pushes its ended
//! stage spans into, and the collector thread that drains them into the
//! traces exporters' queues.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use rtrb::Consumer;

use super::context;
use super::sampler;
use crate::config::SamplerConfig;
use crate::export::{BatchQueue, Chunks};
use crate::metric;
use crate::record::{Item, SpanRecord, clock};

/// How often the collector drains idle threads' rings when nobody asks.
const DRAIN_INTERVAL: Duration = Duration::from_millis(100);
/// Records a busy producer pushes between checks of its ring's fill level.
pub(super) const FILL_CHECK_EVERY: u32 = 64;
/// How many times its first size a busy thread's ring may grow.
pub(super) const RING_GROWTH: usize = 16;
/// The most records a ring grows to when the configured queue size is
/// smaller: 2 MiB of 64-byte records.
pub(super) const GROWN_RING: usize = 32_768;

/// A traces exporter's queue, as the engine feeds it: records go as they
/// are, and become OTLP (semtel's encoder) or `SpanData` (an SDK exporter) in
/// the exporter's worker, a batch at a time.
pub(crate) type Sink = Arc<BatchQueue<Item>>;

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);
/// The engine `init()` installed for the whole process: stages use it
/// without looking up the current dispatcher while no other engine runs.
pub(super) static INSTALLED: OnceLock<Arc<Engine>> = OnceLock::new();
/// Engines running that `init()` did not install (scoped sessions, as in
/// tests); while there are any, stages find theirs through the dispatcher.
pub(super) static SCOPED: AtomicUsize = AtomicUsize::new(0);
/// Every engine started, so a span that ends on a thread other than the one
/// it started on (an async stage resumed elsewhere) finds its engine.
static ENGINES: Mutex<Vec<std::sync::Weak<Engine>>> = Mutex::new(Vec::new());

/// One session's span engine.
pub(crate) struct Engine {
    pub(super) id: u64,
    pub(super) sampler: SamplerConfig,
    /// Where spans go (one queue per traces exporter).
    pub(super) queues: Vec<Sink>,
    /// The records a thread's ring holds at first.
    pub(super) ring_capacity: usize,
    /// The records a busy thread's ring may grow to ([`ring_limit`]).
    pub(super) ring_limit: usize,
    /// The export batch size: records are taken out of the rings in
    /// batches of it, which the queues take whole.
    pub(super) batch_size: usize,
    /// How long the collector waits for room in a full export queue before
    /// it drops (the export timeout: an export must have ended by then).
    pub(super) give_up: Duration,
    pub(super) rings: Mutex<Vec<Consumer<SpanRecord>>>,
    /// Records dropped because a thread's ring was full.
    pub(super) dropped: AtomicU64,
    pub(super) open: AtomicBool,
    control: Mutex<Control>,
    pub(super) done: Condvar,
    pub(super) collector: Mutex<Option<Thread>>,
    /// Held from taking records out of the rings until they are in the
    /// queues (or exported): a flush on the caller's thread that finds the
    /// rings empty knows no records are between the two.
    pub(super) delivery: Mutex<()>,
    /// Counted in [`SCOPED`].
    pub(super) scoped: AtomicBool,
    /// The baggage keys whose entries stages copy onto their spans
    /// (`SEMTEL_BAGGAGE_ATTRIBUTES`); unset: none.
    pub(crate) baggage_keys: OnceLock<Box<[opentelemetry::Key]>>,
}

/// Panics the collector survives before it stops for good (a bug that
/// panics every time would otherwise spin). Once it has stopped, flushes
/// return `false` at once, the shutdown does not wait for it, and what is
/// left in the rings is reported as unflushed.
pub(super) const COLLECTOR_PANICS: u32 = 3;

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
            baggage_keys: OnceLock::new(),
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
        activate();
        Ok(engine)
    }

    /// Makes this the process-wide engine (`init()` installed its session).
    pub(crate) fn install(self: &Arc<Self>) {
        if INSTALLED.set(Arc::clone(self)).is_ok() && self.scoped.swap(false, Ordering::AcqRel) {
            SCOPED.fetch_sub(1, Ordering::AcqRel);
        }
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
    /// The sampling decision for a new span with `trace_id`; `parent_sampled`:
    /// the parent's sampled flag, `None` for a root.
    pub(crate) fn sampled(&self, trace_id: u128, parent_sampled: Option<bool>) -> bool {
        sampler::sampled(self.sampler, trace_id, parent_sampled)
    }

    /// Adds a thread's ring for the collector to drain.
    pub(super) fn add_ring(&self, ring: Consumer<SpanRecord>) {
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
            deactivate();
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

    pub(super) fn wake(&self) {
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
                Faults::hit(|f| &mut f.in_collector, self.id);
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
    pub(super) fn take(&self, limit: usize) -> Option<Vec<Vec<Item>>> {
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
                    batches.push(Item::Stage(record));
                }
            }
            !(abandoned && ring.is_empty())
        });
        Some(batches.into_batches())
    }

    /// Records the durations the calling threads left to the collector and
    /// hands the records to the queues; returns how many. `deadline`: a
    /// flush's, which waiting for room in a queue does not pass.
    pub(super) fn record_and_deliver(
        &self,
        batches: Vec<Vec<Item>>,
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
            Faults::hit(|f| &mut f.in_delivery, self.id);
            // Exemplars of these sampled calls' durations: the record has
            // their ids, so the calling thread did nothing for them.
            let wall = metric::admits(true, true).then(clock::UnixNanos::current);
            // The exemplars of the site of the last records, locked once
            // for a run of them.
            let mut held = None;
            for item in batches.iter().flatten() {
                if let Item::Stage(r) = item
                    && let Some(cells) = r.duration_cell()
                {
                    cells.record_duration(r.start, r.end());
                    if let Some(wall) = &wall {
                        let exemplars = r.site.exemplars();
                        let same = held
                            .as_ref()
                            .is_some_and(|(s, _)| std::ptr::eq(*s, exemplars));
                        if !same {
                            held =
                                Some((exemplars, exemplars.durations(|| r.site.attributes(None))));
                        }
                        if let Some((_, durations)) = &mut held {
                            durations.offer(r.exemplar(wall));
                        }
                    }
                }
            }
            drop(held);
            if moved > 0 {
                self.deliver(batches, flush, deadline);
            }
        }));
        if delivered.is_err() {
            self.dropped.fetch_add(moved as u64, Ordering::Relaxed);
        }
        moved
    }

    fn deliver(&self, batches: Vec<Vec<Item>>, flush: bool, deadline: Option<Instant>) {
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
/// encoder): waking the worker, two context switches each time, costs more
/// than the encoding.
fn deliver_to(sink: &Sink, batches: Vec<Vec<Item>>, give_up: Instant, flush: bool) {
    if flush || sink.hands_off() {
        sink.export_now(batches, give_up, !flush);
    } else {
        sink.push_many(batches, give_up, true);
    }
}

/// Reasons for stage calls to do any work: one per live span engine, and
/// one while `init()`'s meter provider is installed. At zero, a stage call
/// is the plain function plus one relaxed load.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether stage calls do any work: a session is live or `init()`'s meter
/// provider is installed. Expansions of async stages await the body as it is
/// when not.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

pub(crate) fn activate() {
    ACTIVE.fetch_add(1, Ordering::Release);
}

pub(crate) fn deactivate() {
    ACTIVE.fetch_sub(1, Ordering::Release);
}

/// Panics tests inject, by engine id (tests run side by side, each with
/// its own engine); nothing in other builds.
#[cfg(test)]
#[derive(Debug)]
pub(super) struct Faults {
    /// Engines whose collector panics, once per entry.
    pub(super) in_collector: Vec<u64>,
    /// Engines whose delivery to the queues panics, once per entry.
    pub(super) in_delivery: Vec<u64>,
}

#[cfg(test)]
pub(super) static FAULTS: Mutex<Faults> = Mutex::new(Faults {
    in_collector: Vec::new(),
    in_delivery: Vec::new(),
});

#[cfg(test)]
impl Faults {
    /// Panics once for each time `engine` is listed where `list` points.
    fn hit(list: fn(&mut Faults) -> &mut Vec<u64>, engine: u64) {
        let mut faults = lock(&FAULTS);
        let engines = list(&mut faults);
        if let Some(i) = engines.iter().position(|&e| e == engine) {
            engines.remove(i);
            drop(faults);
            panic!("injected panic for engine {engine}");
        }
    }
}

/// The records a busy thread's ring may grow to from `first`: up to
/// [`RING_GROWTH`] times, but not past [`GROWN_RING`] unless `first` is
/// larger already.
pub(super) fn ring_limit(first: usize) -> usize {
    first.saturating_mul(RING_GROWTH).min(first.max(GROWN_RING))
}

/// A running engine by its id (a span that ends on another thread than it
/// started on, or under another session, finds its engine here).
pub(super) fn find(engine_id: u64) -> Option<Arc<Engine>> {
    lock(&ENGINES)
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .find(|e| e.id == engine_id)
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
