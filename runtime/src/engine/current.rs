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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt as _;

use super::context::{map_otel_context, otel_context_live, otel_span_id};
use super::span::{Begun, Frame, SpanRef};

pub(super) fn push(frame: Frame) {
    let _ = super::local::with(|t| t.stack.push(frame));
}

/// Removes the topmost frame that `is` picks.
pub(super) fn pop(is: impl Fn(&Frame) -> bool) {
    let _ = super::local::with(|t| t.leave(is));
}

/// A stage's frame, by its span id (unique on a thread's stack).
fn is_stage(span_id: u64) -> impl Fn(&Frame) -> bool {
    move |f| matches!(f, Frame::Stage(r) if r.span_id == span_id)
}

pub(super) fn is_tracing(f: &Frame) -> bool {
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

/// The innermost stage, unless a context was attached inside it since it
/// started (then that context is the current one).
fn effective_stage() -> Option<SpanRef> {
    current_stage().filter(|r| {
        let now = otel_span_id();
        now == 0 || now == r.seen
    })
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

/// Whether the current OpenTelemetry context is the innermost context on
/// this thread when no stage is ([`stage_context`] is `None`): a context
/// carried by [`crate::context`] is innermost, or one was attached inside
/// the innermost stage. Otherwise the current `tracing` span is.
pub(crate) fn otel_context_innermost() -> bool {
    super::local::with(|t| matches!(t.stack.last(), Some(Frame::Attached | Frame::Stage(_))))
        .unwrap_or(false)
}

/// Makes a context the current one on this thread until dropped: attached
/// as the OpenTelemetry context (which `tracing` spans, log records and
/// stages read), under a frame that hides the stages below it, so it
/// parents what starts inside also when it is carried into a stage's thread
/// (a pool job run inline, a future polled inside a stage).
#[derive(Debug)]
pub(crate) struct Attached {
    /// Whether the frame was pushed (not at thread exit).
    pushed: bool,
    /// Detaches the context when dropped, after the frame is popped.
    _guard: Option<opentelemetry::ContextGuard>,
}

impl Attached {
    pub(crate) fn new(cx: &Context) -> Self {
        // At thread exit, once the context's thread-local is gone, attaching
        // would panic: the code then runs without it.
        if !otel_context_live() {
            return Self {
                pushed: false,
                _guard: None,
            };
        }
        let guard = cx.clone().attach();
        let pushed = super::local::with(|t| t.stack.push(Frame::Attached)).is_some();
        Self {
            pushed,
            _guard: Some(guard),
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if self.pushed {
            pop(|f| matches!(f, Frame::Attached));
        }
    }
}

/// Whether `cx` holds a valid span (a context extracted from a message that
/// carried none does not).
pub(crate) fn has_span(cx: &Context) -> bool {
    cx.has_active_span() && cx.span().span_context().is_valid()
}

/// Notes in `span` (and its frame, when entered) the span id of the
/// OpenTelemetry context current now, once the parent it was begun under
/// ([`Attached`]) is detached.
pub(crate) fn reseat(span: &mut Begun) {
    let now = otel_span_id();
    span.seen = now;
    if span.entered {
        let id = span.span_id;
        let _ = super::local::with(|t| {
            if let Some(Frame::Stage(r)) = t.stack.iter_mut().rev().find(|f| is_stage(id)(f)) {
                r.seen = now;
            }
        });
    }
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

/// A stage call running on this thread ([`running_stage`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Running {
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    pub(crate) site: &'static crate::record::SpanSite,
}

/// The innermost stage running on this thread, looking past `tracing`
/// spans entered inside it; `None` outside a stage or under a context
/// carried in since ([`Attached`]), whose stage, if any, runs elsewhere.
pub(crate) fn running_stage() -> Option<Running> {
    super::local::with(|t| {
        for frame in t.stack.iter().rev() {
            match frame {
                Frame::Stage(r) => {
                    return r.site.map(|site| Running {
                        span_id: r.span_id,
                        sampled: r.sampled,
                        site,
                    });
                }
                Frame::Attached => return None,
                Frame::Tracing => {}
            }
        }
        None
    })
    .flatten()
}
