//! A stage span while it runs: as begun on its thread ([`Begun`]), and as a
//! frame of the thread's current-span stack ([`SpanRef`], [`Frame`]).

use std::sync::Arc;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::record::SpanSite;

/// A stage span's identity while it runs.
#[derive(Debug, Clone)]
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
    /// The stage's call site, for what is recorded from inside the call
    /// (`semtel::stage::current()`) with the stage's labels.
    pub(crate) site: Option<&'static SpanSite>,
}

/// One entry of the current-span stack.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    Stage(SpanRef),
    /// An entered `tracing` span; its context is what tracing-opentelemetry
    /// attached as the current OpenTelemetry context.
    Tracing,
    /// A context carried into a task, thread or closure
    /// ([`crate::context`]), attached as the current OpenTelemetry context:
    /// it parents what starts inside, whatever stage is below it.
    Attached,
}

/// A stage span begun on this thread ([`begin`]): plain values, so a stage
/// call's state has no drop glue but its rare extras.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Begun {
    pub(crate) trace_id: u128,
    /// Zero: no span.
    pub(crate) span_id: u64,
    /// Zero for a root span.
    pub(crate) parent_id: u64,
    /// The span id of the OpenTelemetry context current when the span began
    /// ([`SpanRef::seen`]).
    pub(crate) seen: u64,
    pub(crate) sampled: bool,
    pub(crate) parent_remote: bool,
    /// Whether the span was made the innermost one ([`end`] leaves it).
    pub(crate) entered: bool,
    /// The stage's call site ([`SpanRef::site`]).
    pub(crate) site: Option<&'static SpanSite>,
}

impl Begun {
    pub(crate) const NONE: Begun = Begun {
        trace_id: 0,
        span_id: 0,
        parent_id: 0,
        seen: 0,
        sampled: false,
        parent_remote: false,
        entered: false,
        site: None,
    };

    /// The span as a frame of the current-span stack.
    pub(crate) fn frame(&self, trace_state: Option<Arc<TraceState>>) -> SpanRef {
        SpanRef {
            trace_id: self.trace_id,
            span_id: self.span_id,
            sampled: self.sampled,
            trace_state,
            seen: self.seen,
            site: self.site,
        }
    }
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
