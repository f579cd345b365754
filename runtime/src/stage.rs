//! The per-call work of a `#[stage]` function: its span in semtel's span
//! engine (`crate::engine`), the stage metrics of the `pipeline.`
//! conventions and the error recording on its span.
//!
//! Expansions reach this only through [`crate::__private`]; the surface is
//! kept narrow (a static [`StageSite`] per call site, a [`StageGuard`] per
//! call) so the engine behind it can change without touching the macros.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use opentelemetry::metrics::{
    BoundCounter, BoundHistogram, Counter, Histogram, ObservableUpDownCounter,
};
use opentelemetry::trace::{Event, Link, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use semtel_conventions::attribute as attr;
use semtel_conventions::pipeline::{attribute as pattr, metric as pmetric};
use semtel_conventions::value::ValueFor;

use crate::engine::{self, Engine, Extra, Instrumented, SpanRecord, SpanRef, clock};
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
    span_kind: Option<SpanKind>,
    /// `fields(...)` whose values are literals, known at compile time.
    fields: &'static [(&'static str, StaticValue)],
    /// The span attributes every call of this site has, built on first use.
    span_attributes: OnceLock<Box<[KeyValue]>>,
    /// The same, encoded as OTLP `Span.attributes`.
    encoded_span_attributes: OnceLock<Box<[u8]>>,
    /// The metric attribute sets of this call site, built on first use.
    bound: OnceLock<BoundAttributes>,
    /// Calls of this site in flight (`pipeline.stage.active`), observed at
    /// collection instead of recorded per call.
    active: AtomicI64,
    /// Whether this site is in [`SITES`].
    listed: AtomicBool,
    /// The metric cells of this call site, bound to the meter provider that
    /// `init()` installed (tagged with its generation).
    cells: OnceLock<SiteCells>,
}

/// Instruments bound to one call site's attribute sets: recording into them
/// skips the SDK's per-measurement sorting and hashing of attributes.
pub(crate) struct SiteCells {
    generation: u64,
    duration: BoundHistogram<f64>,
    records_in: BoundCounter<u64>,
    records_out: BoundCounter<u64>,
}

impl SiteCells {
    /// Records a successful call's duration.
    pub(crate) fn record_duration(&self, start: u64, end: u64) {
        self.duration.record(clock::seconds_between(start, end));
    }
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
        span_kind: Option<SpanKind>,
        fields: &'static [(&'static str, StaticValue)],
    ) -> Self {
        Self {
            pipeline,
            stage,
            kind,
            span_kind,
            fields,
            span_attributes: OnceLock::new(),
            encoded_span_attributes: OnceLock::new(),
            active: AtomicI64::new(0),
            listed: AtomicBool::new(false),
            bound: OnceLock::new(),
            cells: OnceLock::new(),
        }
    }

    /// This site's cells, bound on first use; `None` when the meter provider
    /// changed since they were bound (a second `init()`), in which case calls
    /// record through the unbound instruments.
    fn cells(&'static self, generation: u64) -> Option<&'static SiteCells> {
        if !self.listed.load(Ordering::Relaxed) && !self.listed.swap(true, Ordering::AcqRel) {
            SITES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self);
        }
        let cells = self.cells.get_or_init(|| {
            let i = instruments();
            let b = self.bound();
            SiteCells {
                generation,
                duration: i.duration.bind(&b.call),
                records_in: i.records.bind(&b.records_in),
                records_out: i.records.bind(&b.records_out),
            }
        });
        (cells.generation == generation).then_some(cells)
    }

    /// This site's bound cells, once a call has bound them.
    pub(crate) fn bound_cells(&self) -> Option<&SiteCells> {
        self.cells.get()
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

    pub(crate) fn span_kind(&self) -> Option<SpanKind> {
        self.span_kind.clone()
    }

    /// [`StageSite::span_attributes`] encoded for OTLP, built on first use.
    pub(crate) fn encoded_span_attributes(&self) -> &[u8] {
        self.encoded_span_attributes
            .get_or_init(|| crate::engine::encode::span_attributes(self.span_attributes()))
    }

    /// The attributes every span of this site starts with.
    pub(crate) fn span_attributes(&self) -> &[KeyValue] {
        self.span_attributes.get_or_init(|| {
            let mut attrs = self.attributes(None);
            attrs.extend(
                self.fields
                    .iter()
                    .map(|(k, v)| KeyValue::new(*k, v.value())),
            );
            attrs.into_boxed_slice()
        })
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
    /// Observes every call site's [`StageSite::active`] at collection.
    _active: ObservableUpDownCounter<i64>,
}

/// Call sites that have recorded metrics, for the in-flight observer.
static SITES: Mutex<Vec<&'static StageSite>> = Mutex::new(Vec::new());

static GENERATION: AtomicU64 = AtomicU64::new(1);
/// Whether semtel's `init()` has installed the global meter provider; until
/// then (and after its shutdown) stage calls skip metric work entirely.
static METRICS_ON: AtomicBool = AtomicBool::new(false);
#[allow(clippy::type_complexity)] // a cache slot: (generation, instruments)
static INSTRUMENTS: RwLock<Option<(u64, Arc<Instruments>)>> = RwLock::new(None);

/// Called when `init()` installs the global meter provider.
pub(crate) fn meter_provider_changed() {
    GENERATION.fetch_add(1, Ordering::Release);
    if !METRICS_ON.swap(true, Ordering::AcqRel) {
        activate();
    }
}

/// Called when the installed telemetry shuts down.
pub(crate) fn meter_provider_removed() {
    if METRICS_ON.swap(false, Ordering::AcqRel) {
        deactivate();
    }
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
        _active: meter
            .i64_observable_up_down_counter(a.name)
            .with_unit(a.unit)
            .with_description("Stage calls in flight")
            .with_callback(|observer| {
                for site in SITES.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                    observer.observe(site.active.load(Ordering::Relaxed), &site.bound().call);
                }
            })
            .build(),
    });
    *INSTRUMENTS.write().unwrap_or_else(PoisonError::into_inner) =
        Some((generation, Arc::clone(&built)));
    built
}

/// An `int` attribute's value, converted by the same [`ValueFor`] rules as
/// registry keys; `None` leaves the attribute unset.
pub fn int_value<V: ValueFor<i64> + ?Sized>(value: &V) -> Option<Value> {
    match value.attribute_value() {
        Some(semtel_conventions::value::Value::Int(i)) => Some(Value::I64(i)),
        _ => None,
    }
}

/// A `double` attribute's value (integers widen).
pub fn double_value<V: ValueFor<f64> + ?Sized>(value: &V) -> Option<Value> {
    match value.attribute_value() {
        Some(semtel_conventions::value::Value::Double(d)) => Some(Value::F64(d)),
        _ => None,
    }
}

/// The value of a `fields(...)` entry of any other type.
pub fn any_value<V: crate::telemetry::TelemetryValue + ?Sized>(value: &V) -> Option<Value> {
    value.telemetry_value()
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

/// A `fields(...)` value known at compile time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StaticValue {
    /// A string literal.
    Str(&'static str),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Double(f64),
    /// A bool literal.
    Bool(bool),
}

impl StaticValue {
    fn value(self) -> Value {
        match self {
            StaticValue::Str(s) => Value::from(s),
            StaticValue::Int(i) => Value::I64(i),
            StaticValue::Double(d) => Value::F64(d),
            StaticValue::Bool(b) => Value::Bool(b),
        }
    }
}

/// Reasons for stage calls to do any work: one per live span engine, and
/// one while `init()`'s meter provider is installed. At zero, a stage call
/// is the plain function plus one relaxed load.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn activate() {
    ACTIVE.fetch_add(1, Ordering::Release);
}

pub(crate) fn deactivate() {
    ACTIVE.fetch_sub(1, Ordering::Release);
}

/// One stage call: started by the expansion, finished when dropped. Records
/// its span into the session's span engine, and the duration histogram (with
/// `error.type` when the call failed), the in-flight gauge, the failures
/// counter and the record counters.
pub struct StageGuard {
    site: &'static StageSite,
    /// `None` when telemetry is off: the call does nothing else.
    live: Option<Live>,
}

/// The state of a call while telemetry is on.
struct Live {
    start: u64,
    span: Option<LiveSpan>,
    error_type: Option<Cow<'static, str>>,
    /// Where to record metrics, when they are on.
    metrics: Option<Recorder>,
}

/// The span of a call: its identity, and what it records when sampled.
struct LiveSpan {
    engine: u64,
    span: SpanRef,
    /// The parent span id (zero for a root); whether it is remote and its
    /// trace state go in `extra`.
    parent_id: u64,
    extra: Option<Box<Extra>>,
}

impl LiveSpan {
    fn recording(&self) -> bool {
        self.span.sampled
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
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
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

impl StageGuard {
    /// Starts a call of `site`.
    #[inline]
    pub fn start(site: &'static StageSite) -> Self {
        if ACTIVE.load(Ordering::Relaxed) == 0 {
            return Self { site, live: None };
        }
        Self::start_live(site)
    }

    #[inline(never)]
    fn start_live(site: &'static StageSite) -> Self {
        let span = Engine::with_current(|engine| {
            // This thread's ring is registered when the span is pushed.
            let engine = engine.filter(|e| e.is_open())?;
            let (parent, seen) = engine::context::current_parent();
            let span = SpanRef::new(engine, parent.as_ref(), seen);
            let (parent_id, parent_remote) = parent.map_or((0, false), |p| (p.span_id, p.remote));
            // Rare: a remote parent, or a trace state to export with the span.
            let extra = (parent_remote || span.trace_state.is_some()).then(|| {
                Box::new(Extra {
                    trace_state: span.trace_state.as_deref().cloned(),
                    parent_remote,
                    ..Extra::default()
                })
            });
            Some(LiveSpan {
                engine: if engine.records() { engine.id() } else { 0 },
                span,
                parent_id,
                extra,
            })
        });
        let metrics = METRICS_ON.load(Ordering::Relaxed).then(|| {
            let generation = GENERATION.load(Ordering::Acquire);
            site.active.fetch_add(1, Ordering::Relaxed);
            match site.cells(generation) {
                Some(cells) => Recorder::Bound(cells),
                None => Recorder::Unbound(instruments()),
            }
        });
        if span.is_none() && metrics.is_none() {
            return Self { site, live: None };
        }
        Self {
            site,
            live: Some(Live {
                start: clock::now(),
                span,
                error_type: None,
                metrics,
            }),
        }
    }

    /// Restarts the call's clock: a future made at the call starts timing
    /// at its first poll.
    pub fn restart_clock(&mut self) {
        if let Some(live) = &mut self.live {
            live.start = clock::now();
        }
    }

    /// Whether this call's span records attributes (telemetry on and the
    /// span sampled); expansions evaluate `fields(...)` only then.
    #[inline]
    pub fn recording(&self) -> bool {
        self.span().is_some_and(LiveSpan::recording)
    }

    fn span(&self) -> Option<&LiveSpan> {
        self.live.as_ref().and_then(|l| l.span.as_ref())
    }

    fn recording_span(&mut self) -> Option<&mut LiveSpan> {
        self.live
            .as_mut()
            .and_then(|l| l.span.as_mut())
            .filter(|s| s.recording())
    }

    fn frame(&self) -> Option<SpanRef> {
        self.span().map(|s| s.span.clone())
    }

    /// Runs the body of a sync stage with this call's span current.
    #[inline]
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        engine::context::in_frame(self.frame(), f)
    }

    /// The body of an async stage, with this call's span current while polled.
    pub fn instrument<F: std::future::Future>(&self, fut: F) -> Instrumented<F> {
        Instrumented::new(fut, self.frame())
    }

    /// Sets a span attribute (`None` leaves it unset).
    pub fn set_attribute(&mut self, key: &'static str, value: Option<Value>) {
        if let (Some(span), Some(value)) = (self.recording_span(), value) {
            span.extra().attributes.push(KeyValue::new(key, value));
        }
    }

    /// Records `n` records read by this call.
    pub fn records_in(&self, n: impl RecordCount) {
        match self.live.as_ref().and_then(|l| l.metrics.as_ref()) {
            Some(Recorder::Bound(c)) => c.records_in.add(n.as_count()),
            Some(Recorder::Unbound(i)) => {
                i.records.add(n.as_count(), &self.site.bound().records_in);
            }
            None => {}
        }
    }

    /// Records `n` records written by this call.
    pub fn records_out(&self, n: impl RecordCount) {
        match self.live.as_ref().and_then(|l| l.metrics.as_ref()) {
            Some(Recorder::Bound(c)) => c.records_out.add(n.as_count()),
            Some(Recorder::Unbound(i)) => {
                i.records.add(n.as_count(), &self.site.bound().records_out);
            }
            None => {}
        }
    }

    /// Adds the attributes of a [`Telemetry`] value to the span.
    pub fn record(&mut self, value: &(impl Telemetry + ?Sized)) {
        record_on(self, value);
    }

    /// Marks the call failed: span status Error, an `exception` event and
    /// `error.type` on the span, the metrics and the failures counter, and one
    /// ERROR log record (target `semtel::stage`) in the stage's span.
    pub fn fail(&mut self, error_type: Cow<'static, str>, message: &str, exception_type: &str) {
        if let Some(span) = self.recording_span() {
            let extra = span.extra();
            extra.attributes.push(KeyValue::new(
                attr::ERROR_TYPE.name(),
                Value::from(error_type.clone().into_owned()),
            ));
            extra.events.push(Event::new(
                "exception",
                std::time::SystemTime::now(),
                vec![
                    KeyValue::new(attr::EXCEPTION_TYPE.name(), exception_type.to_owned()),
                    KeyValue::new(attr::EXCEPTION_MESSAGE.name(), message.to_owned()),
                ],
                0,
            ));
            extra.status = Status::error(message.to_owned());
            extra.failed = true;
        }
        self.in_scope(|| {
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
        if let Some(live) = self.live.as_mut() {
            live.error_type = Some(error_type);
        }
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
    #[inline]
    fn drop(&mut self) {
        if let Some(live) = &mut self.live {
            finish(self.site, live);
        }
    }
}

/// Ends a call, reading its state in place (the guard is being dropped).
#[inline(never)]
fn finish(site: &'static StageSite, live: &mut Live) {
    let end = clock::now();
    let start = live.start;
    let error_type = live.error_type.as_deref();
    let Some(span) = live
        .span
        .as_mut()
        .filter(|s| s.engine != 0 && s.span.sampled)
    else {
        if let Some(recorder) = &live.metrics {
            let elapsed = clock::seconds_between(start, end);
            record_metrics(site, recorder, error_type, elapsed);
        }
        return;
    };
    // A successful call's duration goes into its bound histogram cell on the
    // collector thread, which handles the span anyway
    // (`SpanRecord::duration_cell`); only the in-flight gauge is updated here.
    let deferred = match (&live.metrics, error_type) {
        (Some(Recorder::Bound(cells)), None) => {
            site.active.fetch_sub(1, Ordering::Relaxed);
            Some(*cells)
        }
        (Some(recorder), _) => {
            let elapsed = clock::seconds_between(start, end);
            record_metrics(site, recorder, error_type, elapsed);
            None
        }
        (None, _) => None,
    };
    let rejected = engine::push(
        span.engine,
        SpanRecord::new(
            span.span.trace_id,
            site,
            span.span.span_id,
            span.parent_id,
            start,
            end,
            deferred.is_some(),
            span.extra.take(),
        ),
    );
    // The span is lost (counted); its duration is not.
    if let (Some(cells), Some(_)) = (deferred, rejected) {
        cells.record_duration(start, end);
    }
}

fn record_metrics(site: &StageSite, recorder: &Recorder, error_type: Option<&str>, elapsed: f64) {
    site.active.fetch_sub(1, Ordering::Relaxed);
    match (recorder, error_type) {
        (Recorder::Bound(c), None) => c.duration.record(elapsed),
        (Recorder::Unbound(i), None) => i.duration.record(elapsed, &site.bound().call),
        (_, Some(e)) => {
            // Failures carry `error.type`: a few attribute sets, recorded
            // unbound (the rare path).
            let i = match recorder {
                Recorder::Bound(_) => instruments(),
                Recorder::Unbound(i) => Arc::clone(i),
            };
            let attrs = site.attributes(Some(e));
            i.duration.record(elapsed, &attrs);
            i.failures.add(1, &attrs);
        }
    }
}

/// Adds every attribute of `value` to the call's span.
pub fn record_on(guard: &mut StageGuard, value: &(impl Telemetry + ?Sized)) {
    if let Some(span) = guard.recording_span() {
        span.extra()
            .attributes
            .extend(value.attributes().into_vec());
    }
}

/// Links the call's span to each context, e.g. those extracted from the
/// messages a batch consumer processes.
pub fn link_contexts(
    guard: &mut StageGuard,
    contexts: impl IntoIterator<Item = opentelemetry::Context>,
) {
    use opentelemetry::trace::TraceContextExt as _;
    let Some(span) = guard.recording_span() else {
        return;
    };
    for cx in contexts {
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            span.extra().links.push(Link::with_context(sc));
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

/// Sets the attribute of a generated registry's key on the call's span; the
/// value's type must fit the key's (`fields([registry::KEY] = expr)` in
/// `#[stage]`).
pub fn set_key<T: ?Sized, V: ValueFor<T> + ?Sized>(
    guard: &mut StageGuard,
    key: semtel_conventions::model::AttributeKey<T>,
    value: &V,
) {
    if let Some(v) = key.value(value) {
        guard.set_attribute(key.name(), Some(crate::telemetry::otel_value(v)));
    }
}
