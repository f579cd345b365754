//! What the engine keeps per thread, in one thread-local, so a stage call
//! reaches it once when it starts and once when it ends: the current-span
//! stack, the id generator and the thread's ring.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::trace::TraceState;
use rtrb::{Consumer, Producer, RingBuffer};

use super::collector::{Engine, FILL_CHECK_EVERY, find};
use super::context::continue_parent;
use super::ids::{self, Ids};
use super::span::{Begun, Frame, SpanRef};
use crate::record::{SpanRecord, SpanSite};

/// One thread's share of the engine.
#[derive(Debug)]
pub(crate) struct Thread {
    /// The current-span stack: stages and entered `tracing` spans.
    pub(crate) stack: Vec<Frame>,
    pub(crate) ids: Ids,
    ring: Option<Ring>,
    /// The engine whose ring this thread could not allocate: its spans here
    /// are dropped and counted, without trying again for each.
    no_ring: Option<Arc<Engine>>,
}

/// This thread's ring, tied to one engine.
#[derive(Debug)]
struct Ring {
    engine: Arc<Engine>,
    producer: Producer<SpanRecord>,
    pushes: u32,
    /// Whether the ring may still grow (a larger one could not be
    /// allocated: this one stays).
    grows: bool,
}

thread_local! {
    static THREAD: RefCell<Thread> = const {
        RefCell::new(Thread {
            stack: Vec::new(),
            ids: Ids::new(),
            ring: None,
            no_ring: None,
        })
    };
}

/// Runs `f` on this thread's state; `None` when the thread is exiting (its
/// state is gone) or `f` would re-enter it.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&mut Thread) -> R) -> Option<R> {
    THREAD
        .try_with(|t| t.try_borrow_mut().ok().map(|mut t| f(&mut t)))
        .ok()
        .flatten()
}

/// Starts a span into `out` (in place: a stage call's state is moved as
/// little as possible) under the current parent, the innermost stage or the
/// current OpenTelemetry context. With `enter`, it also becomes the
/// innermost span until [`end`] (a sync stage runs its body inside it).
/// Returns the W3C trace state the span inherits.
#[inline]
pub(crate) fn begin(engine: &Engine, enter: bool, out: &mut Begun) -> Option<Arc<TraceState>> {
    let done = with(|t| {
        let (parent_sampled, trace_state) = continue_parent(&t.stack, out);
        let (new_trace, span_id) = t.ids.next(parent_sampled.is_none());
        out.finish(engine, parent_sampled, new_trace, span_id);
        if enter {
            out.entered = true;
            t.enter(out, &trace_state);
        }
        trace_state
    });
    done.unwrap_or_else(|| {
        // The thread's state is gone (it is exiting) or in use further up
        // this thread's stack: no frame, fresh ids.
        let (parent_sampled, trace_state) = continue_parent(&[], out);
        let (new_trace, span_id) = ids::fresh(parent_sampled.is_none());
        out.finish(engine, parent_sampled, new_trace, span_id);
        trace_state
    })
}

impl Begun {
    #[inline]
    fn finish(
        &mut self,
        engine: &Engine,
        parent_sampled: Option<bool>,
        new_trace: u128,
        span_id: u64,
    ) {
        if parent_sampled.is_none() {
            self.trace_id = new_trace;
        }
        self.span_id = span_id;
        self.sampled = engine.sampled(self.trace_id, parent_sampled);
    }
}

/// Ends a span on this thread: leaves it when `entered` (its span id), and
/// pushes `record` into this thread's ring for engine `engine_id`. Returns
/// whether a record was not pushed (the ring was full, or the engine is
/// closed or gone; counted as dropped unless the engine is gone), so the
/// caller can still record the call's metrics.
#[inline]
pub(crate) fn end(entered: Option<u64>, engine_id: u64, record: Option<SpanRecord>) -> bool {
    let mut record = record;
    let rejected = with(|t| {
        if let Some(span_id) = entered {
            t.leave(|f| matches!(f, Frame::Stage(r) if r.span_id == span_id));
        }
        record.take().is_some_and(|r| t.push(engine_id, r))
    });
    match rejected {
        Some(rejected) => rejected,
        None => {
            // The thread's state is gone (it is exiting): no ring to push to.
            if record.is_some()
                && let Some(engine) = find(engine_id)
            {
                engine.dropped.fetch_add(1, Ordering::Relaxed);
            }
            true
        }
    }
}

impl Thread {
    /// Pushes a stage's frame. Written field by field into the pushed slot:
    /// moving a whole frame built on the stack makes the CPU reload it with
    /// wider loads than it was stored with, which stalls store forwarding.
    #[inline]
    fn enter(&mut self, span: &Begun, trace_state: &Option<Arc<TraceState>>) {
        self.push_stage(
            span.trace_id,
            span.span_id,
            span.sampled,
            span.seen,
            trace_state,
            span.site,
        );
    }

    /// Pushes a copy of `frame` (an async stage's, on each poll), field by
    /// field as [`Thread::enter`] does.
    #[inline]
    pub(crate) fn enter_frame(&mut self, frame: &SpanRef) {
        self.push_stage(
            frame.trace_id,
            frame.span_id,
            frame.sampled,
            frame.seen,
            &frame.trace_state,
            frame.site,
        );
    }

    #[inline]
    fn push_stage(
        &mut self,
        trace_id: u128,
        span_id: u64,
        sampled: bool,
        seen: u64,
        trace_state: &Option<Arc<TraceState>>,
        site: Option<&'static SpanSite>,
    ) {
        self.stack.push(Frame::Stage(SpanRef {
            trace_id: 0,
            span_id: 0,
            sampled: false,
            trace_state: None,
            seen: 0,
            site: None,
        }));
        if let Some(Frame::Stage(f)) = self.stack.last_mut() {
            f.trace_id = trace_id;
            f.span_id = span_id;
            f.sampled = sampled;
            f.seen = seen;
            f.trace_state.clone_from(trace_state);
            f.site = site;
        }
    }

    /// Removes the topmost frame that `is` picks (frames are normally left
    /// in order; a `tracing` span may be exited out of order). Inlined:
    /// a stage call's end runs it.
    #[inline]
    pub(crate) fn leave(&mut self, is: impl Fn(&Frame) -> bool) {
        if self.stack.last().is_some_and(&is) {
            // Dropped in place, not moved out as `pop` would: the frame was
            // written field by field moments ago, and reading it back whole
            // stalls store forwarding.
            self.stack.truncate(self.stack.len() - 1);
        } else if let Some(i) = self.stack.iter().rposition(&is) {
            self.stack.remove(i);
        }
    }

    /// Pushes an ended span into this thread's ring for engine `engine_id`,
    /// registering a ring first when the thread has none for it (the span
    /// started on another thread, or under another session). Returns whether
    /// it was not pushed.
    #[inline]
    fn push(&mut self, engine_id: u64, record: SpanRecord) -> bool {
        if self.ring.as_ref().is_none_or(|r| r.engine.id != engine_id) && !self.attach(engine_id) {
            return true;
        }
        let Some(ring) = self.ring.as_mut() else {
            return true;
        };
        if !ring.engine.is_open() {
            // Ended after its session began shutting down: nothing may drain
            // the ring any more.
            ring.engine.dropped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if ring.producer.push(record).is_err() {
            // Full. The collector was woken when the ring passed half full.
            ring.engine.dropped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        ring.pushes = ring.pushes.wrapping_add(1);
        if ring.pushes % FILL_CHECK_EVERY != 0 {
            return false;
        }
        let capacity = ring.producer.buffer().capacity();
        if ring.producer.slots() < capacity / 2 {
            // Past half full between two of the collector's timed drains:
            // this thread is busy. Waking the collector costs the calling
            // thread microseconds each time (a system call, and on a VM an
            // interrupt to a halted CPU), and while it drains, the calls
            // run slower; a ring twice the size halves how often that
            // happens. The full ring is left to the collector's next drain.
            self.grow_or_wake(capacity);
        }
        false
    }

    /// Gives this thread a ring of engine `engine_id` when it has none for
    /// it (its first span under this engine, or one that started on
    /// another thread); `false` when the span cannot be pushed: the engine
    /// is closed or gone, or its ring cannot be allocated (counted as
    /// dropped; this thread's stages then run untraced under that engine).
    /// Out of line, as [`Thread::grow_or_wake`]: with them inline, rtrb's
    /// push was no longer inlined into the stage call's end.
    #[cold]
    #[inline(never)]
    fn attach(&mut self, engine_id: u64) -> bool {
        if let Some(engine) = self.no_ring.as_ref().filter(|e| e.id == engine_id) {
            engine.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match find(engine_id) {
            Some(e) if e.is_open() => {
                if self.register(&e, e.ring_capacity) {
                    return true;
                }
                e.dropped.fetch_add(1, Ordering::Relaxed);
                self.no_ring = Some(e);
                false
            }
            _ => false,
        }
    }

    /// Moves a busy thread to a ring twice the size of this one
    /// (`capacity`), up to the limit; at the limit, or when the larger ring
    /// cannot be allocated (this one then stays as it is), wakes the
    /// collector instead.
    #[cold]
    #[inline(never)]
    fn grow_or_wake(&mut self, capacity: usize) {
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        if ring.grows && capacity < ring.engine.ring_limit {
            let engine = Arc::clone(&ring.engine);
            let larger = capacity.saturating_mul(2).min(engine.ring_limit);
            if self.register(&engine, larger) {
                return;
            }
            if let Some(ring) = self.ring.as_mut() {
                ring.grows = false;
            }
        }
        if let Some(ring) = self.ring.as_ref() {
            ring.engine.wake();
        }
    }

    /// Gives this thread a ring of `engine` holding `capacity` records; the
    /// previous one (another session's, or a smaller one) is abandoned, and
    /// its collector drains what is left in it. `false`, with the previous
    /// ring kept, when the memory for the new one cannot be had.
    fn register(&mut self, engine: &Arc<Engine>, capacity: usize) -> bool {
        let Some((producer, consumer)) = new_ring(capacity) else {
            return false;
        };
        engine.add_ring(consumer);
        self.ring = Some(Ring {
            engine: Arc::clone(engine),
            producer,
            pushes: 0,
            grows: true,
        });
        if self.no_ring.as_ref().is_some_and(|e| e.id == engine.id) {
            self.no_ring = None;
        }
        true
    }

    /// The records this thread's ring holds, if it has one.
    #[cfg(test)]
    pub(crate) fn ring_capacity(&self) -> Option<usize> {
        self.ring.as_ref().map(|r| r.producer.buffer().capacity())
    }
}

/// A ring of `capacity` records, or `None` when its memory cannot be had.
/// rtrb allocates with `Vec::with_capacity`, which aborts the process when
/// the allocator fails and panics on a size past `isize::MAX` bytes: the
/// allocation is tried first with `try_reserve_exact`, which does neither,
/// and given back at once for rtrb's own. (Only a ring's first allocation
/// on a thread, and each growth, come here: not a stage call's path.)
fn new_ring(capacity: usize) -> Option<(Producer<SpanRecord>, Consumer<SpanRecord>)> {
    let mut probe: Vec<SpanRecord> = Vec::new();
    probe.try_reserve_exact(capacity).ok()?;
    drop(probe);
    Some(RingBuffer::new(capacity))
}
