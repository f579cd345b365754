//! Which span is current on this thread, shared between semtel's stages and
//! `tracing` spans.
//!
//! A stage does not open a `tracing` span or attach an OpenTelemetry
//! [`Context`] (either costs more than the whole stage call should). It pushes
//! a [`Frame`] onto a thread-local stack from the call to its return (per
//! poll, for async stages); [`SemtelLayer`] pushes a marker for every entered
//! `tracing` span. When the top frame is a stage, the layer attaches the
//! stage's context around the calls that read the current context:
//! tracing-opentelemetry choosing a new span's parent, and the log bridge
//! stamping an event with trace and span ids. So library spans nest under
//! stages, stages under library spans, and logs carry the innermost span's ids.

use std::any::TypeId;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt as _, TraceState};
use tracing::span;
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::Registry;

use super::local::Begun;

/// The subscriber semtel's layer sits on: the registry under the transport
/// filter and the env filter.
pub(crate) type Base = tracing_subscriber::layer::Layered<
    tracing_subscriber::EnvFilter,
    tracing_subscriber::layer::Layered<crate::filter::TransportFilter, Registry>,
>;

/// A stage span's identity while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanRef {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    /// The W3C trace state, inherited from the parent (shared: cloning a
    /// frame must stay cheap).
    pub(crate) trace_state: Option<Arc<TraceState>>,
    /// The span id of the OpenTelemetry context current when the stage
    /// started (0: none). A different one current later was attached inside
    /// the stage (e.g. a message's extracted context), and wins over it.
    pub(crate) seen: u64,
}

/// One entry of the current-span stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Stage(SpanRef),
    /// An entered `tracing` span; its context is what tracing-opentelemetry
    /// attached as the current OpenTelemetry context.
    Tracing,
}

fn push(frame: Frame) {
    let _ = super::local::with(|t| t.stack.push(frame));
}

/// Removes the topmost frame that `is` picks.
fn pop(is: impl Fn(&Frame) -> bool) {
    let _ = super::local::with(|t| t.leave(is));
}

/// A stage's frame, by its span id (unique on a thread's stack).
fn is_stage(span_id: u64) -> impl Fn(&Frame) -> bool {
    move |f| matches!(f, Frame::Stage(r) if r.span_id == span_id)
}

fn is_tracing(f: &Frame) -> bool {
    matches!(f, Frame::Tracing)
}

/// The innermost stage, when it is the innermost span on this thread.
pub(crate) fn current_stage() -> Option<SpanRef> {
    super::local::with(|t| match t.stack.last() {
        Some(Frame::Stage(r)) => Some(r.clone()),
        _ => None,
    })
    .flatten()
}

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
fn otel_span_id() -> u64 {
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

/// The innermost stage, unless a context was attached inside it since it
/// started (then that context is the current one).
fn effective_stage() -> Option<SpanRef> {
    current_stage().filter(|r| {
        let now = otel_span_id();
        now == 0 || now == r.seen
    })
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

/// The OpenTelemetry context of the innermost stage, on top of the current
/// context (keeping its baggage); `None` when a stage is not innermost or a
/// context was attached inside it.
pub(crate) fn stage_context() -> Option<Context> {
    effective_stage().map(|r| {
        let ts = r.trace_state.as_deref().cloned().unwrap_or_default();
        map_otel_context(Context::clone)
            .unwrap_or_default()
            .with_remote_span_context(r.span_context(ts))
    })
}

/// Runs `f` with `frame` as the innermost span of this thread.
#[inline]
pub(crate) fn in_frame<R>(frame: Option<&SpanRef>, f: impl FnOnce() -> R) -> R {
    let _entered = frame.map(Entered::new);
    f()
}

/// Pops its stage's frame when dropped, also when the body panics.
struct Entered(u64);

impl Entered {
    /// Pushes a copy of `r` (written in place: see `Thread::enter_frame`).
    #[inline]
    fn new(r: &SpanRef) -> Self {
        let _ = super::local::with(|t| t.enter_frame(r));
        Entered(r.span_id)
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        pop(is_stage(self.0));
    }
}

pin_project_lite::pin_project! {
    /// An async stage body: its stage is the innermost span while it is polled.
    #[derive(Debug)]
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        frame: Option<SpanRef>,
    }
}

impl<F> Instrumented<F> {
    pub(crate) fn new(inner: F, frame: Option<SpanRef>) -> Self {
        Self { inner, frame }
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.frame.as_ref().map(Entered::new);
        this.inner.poll(cx)
    }
}

/// semtel's `tracing` layer: it holds the session's span engine (stages find
/// it through the current dispatcher) and keeps the current-span stack in
/// step with `tracing`, around the span and log layers it wraps.
pub(crate) struct SemtelLayer {
    pub(crate) engine: std::sync::Arc<super::Engine>,
    inner: Box<dyn Layer<Base> + Send + Sync>,
}

impl std::fmt::Debug for SemtelLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemtelLayer")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl SemtelLayer {
    pub(crate) fn new(
        engine: std::sync::Arc<super::Engine>,
        inner: Box<dyn Layer<Base> + Send + Sync>,
    ) -> Self {
        Self { engine, inner }
    }

    /// The engine of the current dispatcher, if it is a semtel session's.
    #[inline]
    pub(crate) fn with_current<R>(
        f: impl FnOnce(Option<&std::sync::Arc<super::Engine>>) -> R,
    ) -> R {
        let mut f = Some(f);
        tracing::dispatcher::get_default(|d| {
            let engine = d.downcast_ref::<SemtelLayer>().map(|l| &l.engine);
            f.take().map(|f| f(engine))
        })
        .unwrap_or_else(|| unreachable!("get_default calls its closure exactly once"))
    }
}

/// Runs `f` with the innermost stage's context attached, when a stage is the
/// innermost span and `contextual` (the event or span has no explicit parent).
fn with_stage_context(contextual: bool, f: impl FnOnce()) {
    match contextual.then(stage_context).flatten() {
        // (Attaching touches the context's thread-local.)
        Some(cx) if otel_context_live() => {
            let _attached = cx.attach();
            f();
        }
        _ => f(),
    }
}

impl Layer<Base> for SemtelLayer {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut Base) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: LayerContext<'_, Base>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(
        &self,
        attrs: &span::Attributes<'_>,
        id: &span::Id,
        ctx: LayerContext<'_, Base>,
    ) {
        with_stage_context(attrs.is_contextual(), || {
            self.inner.on_new_span(attrs, id, ctx)
        });
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: LayerContext<'_, Base>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: LayerContext<'_, Base>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, Base>) -> bool {
        // The log bridge reads the OpenTelemetry context for every event: at
        // thread exit, once it is gone, events are not exported.
        otel_context_live() && self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, Base>) {
        with_stage_context(event.is_contextual(), || self.inner.on_event(event, ctx));
    }

    fn on_enter(&self, id: &span::Id, ctx: LayerContext<'_, Base>) {
        // Registers the context's sentinel while the thread is alive.
        let _ = otel_context_live();
        push(Frame::Tracing);
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: LayerContext<'_, Base>) {
        self.inner.on_exit(id, ctx);
        pop(is_tracing);
    }

    fn on_close(&self, id: span::Id, ctx: LayerContext<'_, Base>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: LayerContext<'_, Base>) {
        self.inner.on_id_change(old, new, ctx);
    }

    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: the pointer is the wrapped layer's own answer for `id`,
        // passed on unchanged, as `Layered` does for the layers it holds;
        // tracing-opentelemetry's `OpenTelemetrySpanExt` and per-layer
        // filters find their types through this.
        unsafe { self.inner.downcast_raw(id) }
    }
}
