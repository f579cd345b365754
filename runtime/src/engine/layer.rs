//! semtel's `tracing` layer, through which scoped sessions' stages find
//! their engine, and which keeps the current-span stack in step with
//! `tracing` spans.

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::span;
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::{LookupSpan, Registry};

use super::collector::{Engine, INSTALLED, SCOPED};
use super::context::otel_context_live;
use super::current::{is_tracing, pop, push, stage_context};
use super::span::Frame;

/// The subscriber semtel's layer sits on: the registry under the transport
/// filter and the env filter.
pub(crate) type Base = tracing_subscriber::layer::Layered<
    tracing_subscriber::EnvFilter,
    tracing_subscriber::layer::Layered<crate::filter::TransportFilter, Registry>,
>;

/// semtel's `tracing` layer: it holds the session's span engine (stages find
/// it through the current dispatcher) and keeps the current-span stack in
/// step with `tracing`, around the span and log layers it wraps. `S` is the
/// subscriber under it: [`Base`] for `init()`'s, a user's own otherwise.
pub(crate) struct SemtelLayer<S = Base> {
    engine: EngineRef,
    inner: Box<dyn Layer<S> + Send + Sync>,
}

/// What stages look the current dispatcher up for: one type whatever the
/// subscriber [`SemtelLayer`] sits on.
pub(crate) struct EngineRef(pub(crate) Arc<super::Engine>);

impl<S> std::fmt::Debug for SemtelLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemtelLayer")
            .field("engine", &self.engine.0)
            .finish_non_exhaustive()
    }
}

impl<S> SemtelLayer<S> {
    pub(crate) fn new(
        engine: std::sync::Arc<super::Engine>,
        inner: Box<dyn Layer<S> + Send + Sync>,
    ) -> Self {
        Self {
            engine: EngineRef(engine),
            inner,
        }
    }
}

impl SemtelLayer {
    /// The engine of the current dispatcher, if it is a semtel session's.
    #[inline]
    pub(crate) fn with_current<R>(
        f: impl FnOnce(Option<&std::sync::Arc<super::Engine>>) -> R,
    ) -> R {
        let mut f = Some(f);
        tracing::dispatcher::get_default(|d| {
            let engine = d.downcast_ref::<EngineRef>().map(|l| &l.0);
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

impl<S> Layer<S> for SemtelLayer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: LayerContext<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        with_stage_context(attrs.is_contextual(), || {
            super::unsigned::new_span(attrs, |attrs| self.inner.on_new_span(attrs, id, ctx));
        });
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: LayerContext<'_, S>) {
        match ctx.metadata(span) {
            Some(meta) => super::unsigned::record(meta, values, |values| {
                self.inner.on_record(span, values, ctx);
            }),
            None => self.inner.on_record(span, values, ctx),
        }
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: LayerContext<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) -> bool {
        // The log bridge reads the OpenTelemetry context for every event: at
        // thread exit, once it is gone, events are not exported.
        otel_context_live() && self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        with_stage_context(event.is_contextual(), || self.inner.on_event(event, ctx));
    }

    fn on_enter(&self, id: &span::Id, ctx: LayerContext<'_, S>) {
        // Registers the context's sentinel while the thread is alive.
        let _ = otel_context_live();
        push(Frame::Tracing);
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: LayerContext<'_, S>) {
        self.inner.on_exit(id, ctx);
        pop(is_tracing);
    }

    fn on_close(&self, id: span::Id, ctx: LayerContext<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: LayerContext<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<EngineRef>() {
            return Some(std::ptr::from_ref(&self.engine).cast());
        }
        // SAFETY: the pointer is the wrapped layer's own answer for `id`,
        // passed on unchanged, as `Layered` does for the layers it holds;
        // tracing-opentelemetry's `OpenTelemetrySpanExt` and per-layer
        // filters find their types through this.
        unsafe { self.inner.downcast_raw(id) }
    }
}

impl Engine {
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
}
