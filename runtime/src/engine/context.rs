//! The thread's OpenTelemetry context, read safely (not at all once the
//! thread is exiting), and the parent a new stage span continues.

use std::cell::Cell;
use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt as _, TraceState};

use super::span::{Begun, Frame};

/// Whether this thread's OpenTelemetry context can be read ([`OTEL`]).
const UNKNOWN: u8 = 0;
const LIVE: u8 = 1;
const GONE: u8 = 2;

thread_local! {
    /// [`UNKNOWN`] until this thread first reads its OpenTelemetry context
    /// through [`map_otel_context`], [`LIVE`] after, [`GONE`] once the
    /// thread's thread-locals are being destroyed. No destructor of its own,
    /// so it stays readable to the end.
    static OTEL: Cell<u8> = const { Cell::new(UNKNOWN) };
    /// Registered just after OpenTelemetry's context thread-local, so
    /// destroyed just before it: its destructor marks the context gone.
    /// (Thread-locals' destructors run in the reverse order of their
    /// registration, on first use: glibc's, Rust's own list, macOS and
    /// Windows all do so, though std does not promise it.)
    static SENTINEL: Sentinel = const { Sentinel };
}

struct Sentinel;

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = OTEL.try_with(|s| s.set(GONE));
    }
}

/// Whether a run has started in this process: until one has, a stage does
/// not look for a run id in the current context (the stage's own cost).
static RUNS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The baggage key of a run's id, copied onto every stage span.
pub(crate) const RUN_ID_KEYS: [opentelemetry::Key; 1] = [opentelemetry::Key::from_static_str(
    semtel_conventions::pipeline::attribute::PIPELINE_RUN_ID.name(),
)];

/// Notes that a run has started (see [`runs_started`]).
pub(crate) fn note_run() {
    RUNS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a run has started in this process.
#[inline]
pub(crate) fn runs_started() -> bool {
    RUNS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reads this thread's OpenTelemetry context; `None` once the thread is
/// exiting and the context's thread-local is gone, where reading it would
/// panic (and, from another thread-local's destructor, abort the process):
/// a stage called from a destructor at thread exit starts a root span.
#[inline]
pub(crate) fn map_otel_context<T>(f: impl FnOnce(&Context) -> T) -> Option<T> {
    otel_context_live().then(|| Context::map_current(f))
}

/// Whether this thread's OpenTelemetry context can be read (see
/// [`map_otel_context`]).
#[inline]
pub(crate) fn otel_context_live() -> bool {
    // (`OTEL` has no destructor: it is never inaccessible.)
    OTEL.get() == LIVE || otel_context_is_live()
}

/// On this thread's first read of its OpenTelemetry context, makes that
/// thread-local and then [`SENTINEL`] live, in that order; says whether the
/// context can be read.
#[cold]
fn otel_context_is_live() -> bool {
    if OTEL.get() == GONE {
        return false;
    }
    // Events and `tracing` spans get here first on most threads (semtel's
    // layer asks), so the context is already gone only on a thread whose
    // first stage, span or event of all comes from a destructor at its exit
    // after it used the context some other way; then the default panic hook
    // prints the caught panic (and under `panic = "abort"` it aborts).
    let live = std::panic::catch_unwind(|| Context::map_current(|_| ())).is_ok()
        && SENTINEL.try_with(|_| ()).is_ok();
    OTEL.set(if live { LIVE } else { GONE });
    live
}

/// The span id of the current OpenTelemetry context, 0 when it has none.
pub(super) fn otel_span_id() -> u64 {
    map_otel_context(|cx| {
        if !cx.has_active_span() {
            return 0;
        }
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            u64::from_be_bytes(sc.span_id().to_bytes())
        } else {
            0
        }
    })
    .unwrap_or(0)
}

/// Sets `span`'s trace and parent to continue the parent of a span starting
/// now on a thread with current-span stack `stack`: the innermost stage, or
/// else whatever the current OpenTelemetry context holds (a `tracing` span's
/// context, or a context the caller attached). Returns the parent's sampled
/// flag (`None` for a root; `span` is then left as it was) and its W3C trace
/// state. Also notes in `span.seen` the span id of the OpenTelemetry context
/// current now.
#[inline]
pub(crate) fn continue_parent(
    stack: &[Frame],
    span: &mut Begun,
) -> (Option<bool>, Option<Arc<TraceState>>) {
    if let Some(Frame::Stage(r)) = stack.last() {
        let now = otel_span_id();
        if now == 0 || now == r.seen {
            span.trace_id = r.trace_id;
            span.seen = now;
            span.parent_id = r.span_id;
            return (Some(r.sampled), r.trace_state.clone());
        }
    }
    map_otel_context(|cx| {
        if !cx.has_active_span() {
            return (None, None);
        }
        let cx_span = cx.span();
        let sc = cx_span.span_context();
        if !sc.is_valid() {
            return (None, None);
        }
        span.trace_id = u128::from_be_bytes(sc.trace_id().to_bytes());
        span.parent_id = u64::from_be_bytes(sc.span_id().to_bytes());
        span.seen = span.parent_id;
        span.parent_remote = sc.is_remote();
        let trace_state =
            (*sc.trace_state() != TraceState::NONE).then(|| Arc::new(sc.trace_state().clone()));
        (Some(sc.is_sampled()), trace_state)
    })
    .unwrap_or((None, None))
}
