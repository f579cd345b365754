//! The per-call work of a `#[stage]` function: the stage metrics of the
//! `pipeline.` conventions and the error recording on its span.
//!
//! Expansions reach this only through [`crate::__private`]; the surface is
//! kept narrow (a static [`StageSite`] per call site, a [`StageGuard`] per
//! call) so the engine behind it can change without touching the macros.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use opentelemetry::metrics::{
    BoundCounter, BoundHistogram, BoundUpDownCounter, Counter, Histogram, UpDownCounter,
};
use opentelemetry::trace::Status;
use opentelemetry::{InstrumentationScope, KeyValue};
use semtel_conventions::attribute as attr;
use semtel_conventions::pipeline::{attribute as pattr, metric as pmetric};
use semtel_conventions::value::ValueFor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::telemetry::{ErrorType, Telemetry};

/// What a stage does in its pipeline (`pipeline.stage.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Reads records in (a file, a topic, a table).
    Source,
    /// Changes records.
    Transform,
    /// Writes records out.
    Sink,
}

impl StageKind {
    /// The attribute value.
    pub const fn as_str(self) -> &'static str {
        match self {
            StageKind::Source => "source",
            StageKind::Transform => "transform",
            StageKind::Sink => "sink",
        }
    }
}

/// The facts of one `#[stage]` call site, known at compile time.
#[derive(Debug)]
pub struct StageSite {
    pipeline: Option<&'static str>,
    stage: &'static str,
    kind: Option<StageKind>,
    /// The metric attribute sets of this call site, built on first use.
    bound: OnceLock<BoundAttributes>,
    /// The metric cells of this call site, bound to the meter provider that
    /// `init()` installed (tagged with its generation).
    cells: OnceLock<SiteCells>,
}

/// Instruments bound to one call site's attribute sets: recording into them
/// skips the SDK's per-measurement sorting and hashing of attributes.
struct SiteCells {
    generation: u64,
    active: BoundUpDownCounter<i64>,
    duration: BoundHistogram<f64>,
    records_in: BoundCounter<u64>,
    records_out: BoundCounter<u64>,
}

impl fmt::Debug for SiteCells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteCells")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Attribute sets a call site records with, built once instead of per call.
#[derive(Debug)]
struct BoundAttributes {
    call: Box<[KeyValue]>,
    records_in: Box<[KeyValue]>,
    records_out: Box<[KeyValue]>,
}

impl StageSite {
    /// A call site of stage `stage`, in pipeline `pipeline` when named.
    pub const fn new(
        pipeline: Option<&'static str>,
        stage: &'static str,
        kind: Option<StageKind>,
    ) -> Self {
        Self {
            pipeline,
            stage,
            kind,
            bound: OnceLock::new(),
            cells: OnceLock::new(),
        }
    }

    /// This site's cells, bound on first use; `None` when the meter provider
    /// changed since they were bound (a second `init()`), in which case calls
    /// record through the unbound instruments.
    fn cells(&self, generation: u64) -> Option<&SiteCells> {
        let cells = self.cells.get_or_init(|| {
            let i = instruments();
            let b = self.bound();
            SiteCells {
                generation,
                active: i.active.bind(&b.call),
                duration: i.duration.bind(&b.call),
                records_in: i.records.bind(&b.records_in),
                records_out: i.records.bind(&b.records_out),
            }
        });
        (cells.generation == generation).then_some(cells)
    }

    fn bound(&self) -> &BoundAttributes {
        self.bound.get_or_init(|| {
            let call = self.attributes(None);
            let with_direction = |direction: &'static str| {
                let mut attrs = call.clone();
                attrs.push(KeyValue::new(
                    pattr::PIPELINE_IO_DIRECTION.name(),
                    direction,
                ));
                attrs.into_boxed_slice()
            };
            BoundAttributes {
                records_in: with_direction("in"),
                records_out: with_direction("out"),
                call: call.into_boxed_slice(),
            }
        })
    }

    /// The stage name.
    pub const fn stage(&self) -> &'static str {
        self.stage
    }

    fn attributes(&self, error_type: Option<&str>) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(4);
        if let Some(p) = self.pipeline {
            attrs.push(KeyValue::new(pattr::PIPELINE_NAME.name(), p));
        }
        attrs.push(KeyValue::new(pattr::PIPELINE_STAGE_NAME.name(), self.stage));
        if let Some(k) = self.kind {
            attrs.push(KeyValue::new(pattr::PIPELINE_STAGE_KIND.name(), k.as_str()));
        }
        if let Some(e) = error_type {
            attrs.push(KeyValue::new(attr::ERROR_TYPE.name(), e.to_owned()));
        }
        attrs
    }
}

/// The stage instruments, from the global meter provider. Rebuilt when
/// [`init`](crate::init) installs a new provider, so stages called before
/// `init` do not keep no-op instruments.
struct Instruments {
    duration: Histogram<f64>,
    records: Counter<u64>,
    failures: Counter<u64>,
    active: UpDownCounter<i64>,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);
/// Whether semtel's `init()` has installed the global meter provider; until
/// then (and after its shutdown) stage calls skip metric work entirely.
static METRICS_ON: AtomicBool = AtomicBool::new(false);
#[allow(clippy::type_complexity)] // a cache slot: (generation, instruments)
static INSTRUMENTS: RwLock<Option<(u64, Arc<Instruments>)>> = RwLock::new(None);

/// Called when `init()` installs the global meter provider.
pub(crate) fn meter_provider_changed() {
    GENERATION.fetch_add(1, Ordering::Release);
    METRICS_ON.store(true, Ordering::Release);
}

/// Called when the installed telemetry shuts down.
pub(crate) fn meter_provider_removed() {
    METRICS_ON.store(false, Ordering::Release);
}

fn instruments() -> Arc<Instruments> {
    let generation = GENERATION.load(Ordering::Acquire);
    if let Some((g, i)) = INSTRUMENTS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        && *g == generation
    {
        return Arc::clone(i);
    }
    let scope = InstrumentationScope::builder("semtel")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(semtel_conventions::SCHEMA_URL)
        .build();
    let meter = opentelemetry::global::meter_with_scope(scope);
    let d = pmetric::PIPELINE_STAGE_DURATION;
    let r = pmetric::PIPELINE_RECORDS;
    let f = pmetric::PIPELINE_STAGE_FAILURES;
    let a = pmetric::PIPELINE_STAGE_ACTIVE;
    let built = Arc::new(Instruments {
        duration: meter
            .f64_histogram(d.name)
            .with_unit(d.unit)
            .with_description("Duration of one stage call")
            .with_boundaries(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 300.0,
            ])
            .build(),
        records: meter
            .u64_counter(r.name)
            .with_unit(r.unit)
            .with_description("Records a stage read or wrote")
            .build(),
        failures: meter
            .u64_counter(f.name)
            .with_unit(f.unit)
            .with_description("Stage calls that failed, by error.type")
            .build(),
        active: meter
            .i64_up_down_counter(a.name)
            .with_unit(a.unit)
            .with_description("Stage calls in flight")
            .build(),
    });
    *INSTRUMENTS.write().unwrap_or_else(PoisonError::into_inner) =
        Some((generation, Arc::clone(&built)));
    built
}

/// An `int` attribute's value as `tracing` should record it: `tracing`
/// records unsigned integers as text in OpenTelemetry, so expansions convert
/// through the same [`ValueFor`] rules as registry keys; `None` leaves the
/// field unset.
pub fn int_field<V: ValueFor<i64> + ?Sized>(value: &V) -> Option<i64> {
    match value.attribute_value() {
        Some(semtel_conventions::value::Value::Int(i)) => Some(i),
        _ => None,
    }
}

/// A `double` attribute's value as `tracing` should record it (integers widen).
pub fn double_field<V: ValueFor<f64> + ?Sized>(value: &V) -> Option<f64> {
    match value.attribute_value() {
        Some(semtel_conventions::value::Value::Double(d)) => Some(d),
        _ => None,
    }
}

/// Counts that a `records` expression can give.
pub trait RecordCount {
    /// As a count.
    fn as_count(&self) -> u64;
}

macro_rules! record_counts {
    ($($t:ty),*) => {$(
        impl RecordCount for $t {
            fn as_count(&self) -> u64 {
                u64::try_from(*self).unwrap_or(0)
            }
        }
    )*};
}
record_counts!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// One stage call: started by the expansion, finished when dropped. Records
/// the duration histogram (with `error.type` when the call failed), the
/// in-flight gauge, the failures counter and the record counters.
pub struct StageGuard {
    site: &'static StageSite,
    span: tracing::Span,
    error_type: Option<Cow<'static, str>>,
    /// When metrics are on: the start time and where to record.
    metrics: Option<(Instant, Recorder)>,
}

/// Where a call records its metrics: the site's bound cells, or (after a
/// second `init()`) the instruments with attribute sets.
enum Recorder {
    Bound(&'static SiteCells),
    Unbound(Arc<Instruments>),
}

impl fmt::Debug for StageGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageGuard")
            .field("stage", &self.site.stage)
            .field("error_type", &self.error_type)
            .finish_non_exhaustive()
    }
}

impl StageGuard {
    /// Starts a call of `site`, whose span is `span`.
    pub fn start(site: &'static StageSite, span: &tracing::Span) -> Self {
        let metrics = METRICS_ON.load(Ordering::Relaxed).then(|| {
            let generation = GENERATION.load(Ordering::Acquire);
            let recorder = match site.cells(generation) {
                Some(cells) => {
                    cells.active.add(1);
                    Recorder::Bound(cells)
                }
                None => {
                    let i = instruments();
                    i.active.add(1, &site.bound().call);
                    Recorder::Unbound(i)
                }
            };
            (Instant::now(), recorder)
        });
        Self {
            site,
            span: span.clone(),
            error_type: None,
            metrics,
        }
    }

    /// Records `n` records read by this call.
    pub fn records_in(&self, n: impl RecordCount) {
        match &self.metrics {
            Some((_, Recorder::Bound(c))) => c.records_in.add(n.as_count()),
            Some((_, Recorder::Unbound(i))) => {
                i.records.add(n.as_count(), &self.site.bound().records_in);
            }
            None => {}
        }
    }

    /// Records `n` records written by this call.
    pub fn records_out(&self, n: impl RecordCount) {
        match &self.metrics {
            Some((_, Recorder::Bound(c))) => c.records_out.add(n.as_count()),
            Some((_, Recorder::Unbound(i))) => {
                i.records.add(n.as_count(), &self.site.bound().records_out);
            }
            None => {}
        }
    }

    /// Adds the attributes of a [`Telemetry`] value to the span.
    pub fn record(&self, value: &(impl Telemetry + ?Sized)) {
        record_on(&self.span, value);
    }

    /// Marks the call failed: span status Error, an `exception` event and
    /// `error.type` on the span, the metrics and the failures counter, and one
    /// ERROR log record (target `semtel::stage`) in the stage's span.
    pub fn fail(&mut self, error_type: Cow<'static, str>, message: &str, exception_type: &str) {
        if self.span.is_disabled() {
            self.error_type = Some(error_type);
            return;
        }
        // Expansions declare `error.type` as an empty field on the span.
        self.span.record(attr::ERROR_TYPE.name(), &*error_type);
        self.span.add_event(
            "exception",
            vec![
                KeyValue::new(attr::EXCEPTION_TYPE.name(), exception_type.to_owned()),
                KeyValue::new(attr::EXCEPTION_MESSAGE.name(), message.to_owned()),
            ],
        );
        self.span.set_status(Status::error(message.to_owned()));
        self.span.in_scope(|| {
            // tracing needs literal field names; the example's end-to-end
            // live check holds them to the registry.
            tracing::event!(
                target: "semtel::stage",
                tracing::Level::ERROR,
                "error.type" = &*error_type,
                "exception.message" = message,
                "pipeline.stage.name" = self.site.stage,
                "stage failed"
            );
        });
        self.error_type = Some(error_type);
    }

    /// Marks the call failed with `error`: its message and type name go on
    /// the `exception` event, `error_type` on the span and metrics.
    pub fn fail_with<E: fmt::Display + ?Sized>(
        &mut self,
        error_type: Cow<'static, str>,
        error: &E,
    ) {
        self.fail(error_type, &error.to_string(), std::any::type_name::<E>());
    }
}

impl Drop for StageGuard {
    fn drop(&mut self) {
        let Some((started, recorder)) = self.metrics.take() else {
            return;
        };
        let elapsed = started.elapsed().as_secs_f64();
        let call = &self.site.bound().call;
        match (&recorder, &self.error_type) {
            (Recorder::Bound(c), None) => {
                c.duration.record(elapsed);
                c.active.add(-1);
            }
            (Recorder::Unbound(i), None) => {
                i.duration.record(elapsed, call);
                i.active.add(-1, call);
            }
            (_, Some(e)) => {
                // Failures carry `error.type`: a few attribute sets, recorded
                // unbound (the rare path).
                match &recorder {
                    Recorder::Bound(c) => c.active.add(-1),
                    Recorder::Unbound(i) => i.active.add(-1, call),
                }
                let i = match recorder {
                    Recorder::Unbound(i) => i,
                    Recorder::Bound(_) => instruments(),
                };
                let attrs = self.site.attributes(Some(e));
                i.duration.record(elapsed, &attrs);
                i.failures.add(1, &attrs);
            }
        }
    }
}

/// Adds every attribute of `value` to `span`.
pub fn record_on(span: &tracing::Span, value: &(impl Telemetry + ?Sized)) {
    for kv in value.attributes().into_vec() {
        span.set_attribute(kv.key, kv.value);
    }
}

/// Links `span` to each context, e.g. those extracted from the messages a
/// batch consumer processes.
pub fn link_contexts(
    span: &tracing::Span,
    contexts: impl IntoIterator<Item = opentelemetry::Context>,
) {
    use opentelemetry::trace::TraceContextExt as _;
    for cx in contexts {
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            span.add_link(sc);
        }
    }
}

/// The `error.type` of an error, chosen at compile time: its [`ErrorType`]
/// when it has one, its type name otherwise. Expansions call
/// `(&ErrorTypeOf(&err)).as_error_type()` with both traits in scope; method
/// resolution prefers [`AsErrorType`] (no autoref needed) and falls back to
/// [`AsTypeName`].
#[derive(Debug)]
pub struct ErrorTypeOf<'a, E: ?Sized>(pub &'a E);

/// The `error.type` of an error with [`ErrorType`].
pub trait AsErrorType {
    /// The error's `error.type`.
    fn as_error_type(&self) -> Cow<'static, str>;
}

impl<E: ErrorType + ?Sized> AsErrorType for ErrorTypeOf<'_, E> {
    fn as_error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.0.error_type())
    }
}

/// The fallback for errors without [`ErrorType`]: the type name.
pub trait AsTypeName {
    /// The error's type name.
    fn as_error_type(&self) -> Cow<'static, str>;
}

impl<E: ?Sized> AsTypeName for &ErrorTypeOf<'_, E> {
    fn as_error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<E>())
    }
}

/// Sets the attribute of a generated registry's key on `span`; the value's
/// type must fit the key's (`fields([registry::KEY] = expr)` in `#[stage]`).
pub fn set_key<T: ?Sized, V: ValueFor<T> + ?Sized>(
    span: &tracing::Span,
    key: semtel_conventions::model::AttributeKey<T>,
    value: &V,
) {
    if let Some(v) = key.value(value) {
        span.set_attribute(key.name(), crate::telemetry::otel_value(v));
    }
}
