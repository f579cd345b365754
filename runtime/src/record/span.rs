//! A stage span as recorded on its calling thread, and what a traces queue
//! carries: such a record or a span the SDK built.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::clock;
use super::site::{SiteCells, SpanSite};
use crate::metric::Exemplar;

const _: () = assert!(std::mem::size_of::<SpanRecord>() == 64);

/// One ended stage span, as recorded on the calling thread.
#[derive(Debug, Clone)]
/// 64 bytes, one cache line: only sampled spans are recorded, and what few
/// spans have (a remote parent, a failure) lives in `extra`.
pub(crate) struct SpanRecord {
    pub(crate) trace_id: u128,
    pub(crate) site: &'static SpanSite,
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
        site: &'static SpanSite,
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

    pub(crate) fn parent_remote(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.parent_remote)
    }

    /// This call's duration as an exemplar; `wall` converts its end tick.
    pub(crate) fn exemplar(&self, wall: &clock::UnixNanos) -> Exemplar {
        let end = self.end();
        Exemplar {
            trace_id: self.trace_id,
            span_id: self.span_id,
            value: clock::seconds_between(self.start, end),
            integer: false,
            time: wall.at(end),
        }
    }

    /// The cells to record this call's duration into, when the calling
    /// thread left that to the collector.
    pub(crate) fn duration_cell(&self) -> Option<&'static SiteCells> {
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
    /// The run the call is inside, which counts it when it ends (taken
    /// before the record is built).
    pub(crate) run: Option<Arc<RunTally>>,
}

/// The stage calls of one run, counted as they end, and the records they
/// counted: the run's span gets the counts when the run ends.
#[derive(Debug)]
pub(crate) struct RunTally {
    /// `pipeline.run.id` as a span attribute, made once for every span of
    /// the run (its value is shared, not copied).
    pub(crate) id: KeyValue,
    pub(crate) stages: std::sync::atomic::AtomicU64,
    pub(crate) failures: std::sync::atomic::AtomicU64,
    pub(crate) records_in: std::sync::atomic::AtomicU64,
    pub(crate) records_out: std::sync::atomic::AtomicU64,
}

impl RunTally {
    /// The tally of the run with id `id`.
    pub(crate) fn new(id: &str) -> Self {
        let id: std::sync::Arc<str> = id.into();
        Self {
            id: KeyValue::new(
                semtel_conventions::pipeline::attribute::PIPELINE_RUN_ID.name(),
                id,
            ),
            stages: 0.into(),
            failures: 0.into(),
            records_in: 0.into(),
            records_out: 0.into(),
        }
    }

    /// Counts a call that ended, failed or not.
    pub(crate) fn count(&self, failed: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.stages.fetch_add(1, Relaxed);
        if failed {
            self.failures.fetch_add(1, Relaxed);
        }
    }

    /// Counts `n` records a call read (`out`: wrote).
    pub(crate) fn records(&self, out: bool, n: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        if n == 0 {
            return;
        }
        let total = if out {
            &self.records_out
        } else {
            &self.records_in
        };
        total.fetch_add(n, Relaxed);
    }
}

impl Extra {
    /// Whether an attribute set on the call repeats a key: one of the site's
    /// constant attributes (`site`) or one set on the call before it.
    pub(crate) fn repeats_a_key(&self, site: &[KeyValue]) -> bool {
        self.attributes.iter().enumerate().any(|(i, kv)| {
            site.iter()
                .chain(&self.attributes[..i])
                .any(|earlier| earlier.key == kv.key)
        })
    }
}

/// A span's attributes with one value per key, as OTLP requires: the site's
/// constant ones, then those set on the call in order, a key set again
/// taking the later value (`record(..)` over `fields(..)`, a failure's
/// `error.type` over both), in the place of its first setting.
pub(crate) fn unique_attributes(site: &[KeyValue], call: &[KeyValue]) -> Vec<KeyValue> {
    let mut merged: Vec<KeyValue> = Vec::with_capacity(site.len() + call.len());
    for kv in site.iter().chain(call) {
        match merged.iter_mut().find(|m| m.key == kv.key) {
            Some(m) => m.value = kv.value.clone(),
            None => merged.push(kv.clone()),
        }
    }
    merged
}

/// What the span export queue carries: a stage's record or a `tracing`
/// span the SDK built.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Stage(SpanRecord),
    /// Boxed: a `SpanData` is several times a record's size.
    Sdk(Box<SpanData>),
}

impl Item {
    /// As the SDK's exporters take it; `stage_scope` is stage spans' scope,
    /// `wall` the clock's conversion (read once for a batch).
    pub(crate) fn into_span_data(
        self,
        stage_scope: &InstrumentationScope,
        wall: &clock::UnixNanos,
    ) -> SpanData {
        match self {
            Item::Stage(r) => span_data(r, stage_scope, wall),
            Item::Sdk(span) => *span,
        }
    }
}

impl From<SpanData> for Item {
    fn from(span: SpanData) -> Self {
        Item::Sdk(Box::new(span))
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
    let site_attributes = r.site.span_attributes();
    let mut attributes = site_attributes.to_vec();
    let (events, links, status, trace_state) = match r.extra {
        Some(extra) => {
            if extra.repeats_a_key(site_attributes) {
                attributes = unique_attributes(site_attributes, &extra.attributes);
            } else {
                attributes.extend_from_slice(&extra.attributes);
            }
            let Extra {
                events,
                links,
                status,
                trace_state,
                ..
            } = *extra;
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
pub(crate) fn stage_scope() -> InstrumentationScope {
    InstrumentationScope::builder("semtel")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(semtel_conventions::SCHEMA_URL)
        .build()
}
