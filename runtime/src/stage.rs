//! The per-call work of a `#[stage]` function: its span in semtel's span
//! engine (`crate::engine`), the stage metrics of the `pipeline.`
//! conventions and the error recording on its span.
//!
//! Expansions reach this only through [`crate::__private`]; the surface is
//! kept narrow (a static [`StageSite`] per call site, a [`StageGuard`] per
//! call) so the engine behind it can change without touching the macros.

use std::borrow::Cow;
use std::fmt;
use std::mem::ManuallyDrop;
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
    /// The fields every span of this site has, encoded for OTLP: name,
    /// kind and the attributes above.
    encoded_span_fields: OnceLock<Box<[u8]>>,
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
            encoded_span_fields: OnceLock::new(),
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

    /// The span name, kind and [`StageSite::span_attributes`] encoded for
    /// OTLP, built on first use.
    pub(crate) fn encoded_span_fields(&self) -> &[u8] {
        self.encoded_span_fields.get_or_init(|| {
            crate::engine::encode::site_span_fields(
                self.stage,
                self.span_kind.as_ref(),
                self.span_attributes(),
            )
        })
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

/// One stage call: started by the expansion, finished when dropped. Records
/// its span into the session's span engine, and the duration histogram (with
/// `error.type` when the call failed), the in-flight gauge, the failures
/// counter and the record counters.
pub struct StageGuard {
    site: &'static StageSite,
    /// Flat, not an `Option` of nested state: the guard is built in place
    /// and moved cheaply.
    live: Live,
}

/// The state of a call.
struct Live {
    /// Whether telemetry is on for the call: when not, nothing else is set
    /// and the call does nothing else.
    on: bool,
    start: u64,
    /// The span (`span.span_id` zero: none).
    span: engine::local::Begun,
    /// The engine that records the span; 0 when it is not recorded (no
    /// traces exporter), though it still has ids for log correlation.
    engine: u64,
    /// Whether the call records metrics; into `cells` when bound, else (after
    /// a second `init()`) through the instruments with attribute sets.
    metrics: bool,
    cells: Option<&'static SiteCells>,
    /// What few calls have: a failure, dynamic attributes, a remote parent,
    /// a trace state. Taken out (and so dropped) by [`StageGuard`]'s `Drop`:
    /// as a plain field its drop glue was an out-of-line call on every call,
    /// also the disabled ones.
    extra: ManuallyDrop<Option<Box<Extra>>>,
}

impl Live {
    const OFF: Live = Live {
        on: false,
        start: 0,
        span: engine::local::Begun::NONE,
        engine: 0,
        metrics: false,
        cells: None,
        extra: ManuallyDrop::new(None),
    };

    fn has_span(&self) -> bool {
        self.span.span_id != 0
    }

    /// Whether the call's span is sampled and exported.
    fn recording(&self) -> bool {
        self.engine != 0 && self.span.sampled
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

impl fmt::Debug for StageGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageGuard")
            .field("stage", &self.site.stage)
            .field("live", &self.live.on)
            .finish_non_exhaustive()
    }
}

impl StageGuard {
    /// A call of `site`, not started yet. Expansions make the guard in
    /// place and then start it ([`StageGuard::enter`], [`StageGuard::start`]),
    /// so the filled-in state is never moved on the per-call path.
    #[inline]
    pub const fn new(site: &'static StageSite) -> Self {
        Self {
            site,
            live: Live::OFF,
        }
    }

    /// Starts a call whose body runs later (an async stage: its span is
    /// current while [`StageGuard::instrument`]'s future is polled).
    #[inline]
    pub fn start(&mut self) {
        if active() {
            self.start_live(false);
        }
    }

    /// Starts a call and makes its span the innermost one on this thread
    /// until the guard is dropped (a sync stage).
    #[inline]
    pub fn enter(&mut self) {
        if active() {
            self.start_live(true);
        }
    }

    #[inline(never)]
    fn start_live(&mut self, enter: bool) {
        debug_assert!(!self.live.on, "a stage call is started once");
        let site = self.site;
        let live = &mut self.live;
        live.metrics = METRICS_ON.load(Ordering::Relaxed);
        if live.metrics {
            site.active.fetch_add(1, Ordering::Relaxed);
            live.cells = site.cells(GENERATION.load(Ordering::Acquire));
        }
        Engine::with_current(|engine| {
            let Some(engine) = engine.filter(|e| e.is_open()) else {
                return;
            };
            let trace_state = engine::local::begin(engine, enter, &mut live.span);
            if engine.records() {
                live.engine = engine.id();
            }
            // Rare: a remote parent, or a trace state to pass on and export.
            if live.span.parent_remote || trace_state.is_some() {
                *live.extra = Some(Box::new(Extra {
                    trace_state,
                    parent_remote: live.span.parent_remote,
                    ..Extra::default()
                }));
            }
        });
        live.on = live.metrics || live.has_span();
        if live.on {
            live.start = clock::now();
        }
    }

    /// Restarts the call's clock: a future made at the call starts timing
    /// at its first poll.
    pub fn restart_clock(&mut self) {
        if self.live.on {
            self.live.start = clock::now();
        }
    }

    /// Whether this call's span records attributes (telemetry on and the
    /// span sampled); expansions evaluate `fields(...)` only then.
    #[inline]
    pub fn recording(&self) -> bool {
        self.live.recording()
    }

    /// The call's state, when its span records.
    fn recording_live(&mut self) -> Option<&mut Live> {
        Some(&mut self.live).filter(|l| l.recording())
    }

    /// The call's span as a frame of the current-span stack, when it is not
    /// entered already. `None` is answered inline (a disabled call): an
    /// `Option<SpanRef>` returned from a call is written in parts and read
    /// back whole, which stalls store forwarding (~6 ns per async call).
    #[inline]
    fn frame(&self) -> Option<SpanRef> {
        let live = &self.live;
        if live.has_span() && !live.span.entered {
            Some(self.span_frame())
        } else {
            None
        }
    }

    fn span_frame(&self) -> SpanRef {
        let live = &self.live;
        let trace_state = live.extra.as_ref().and_then(|e| e.trace_state.clone());
        live.span.frame(trace_state)
    }

    /// Runs `f` with this call's span current (already so for an entered
    /// call).
    #[inline]
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        engine::context::in_frame(self.frame().as_ref(), f)
    }

    /// The body of an async stage, with this call's span current while polled.
    pub fn instrument<F: std::future::Future>(&self, fut: F) -> Instrumented<F> {
        Instrumented::new(fut, self.frame())
    }

    /// Sets a span attribute (`None` leaves it unset).
    pub fn set_attribute(&mut self, key: &'static str, value: Option<Value>) {
        if let (Some(live), Some(value)) = (self.recording_live(), value) {
            live.extra().attributes.push(KeyValue::new(key, value));
        }
    }

    /// Records `n` records read by this call.
    pub fn records_in(&self, n: impl RecordCount) {
        self.add_records(n.as_count(), |c| &c.records_in, |b| &b.records_in);
    }

    /// Records `n` records written by this call.
    pub fn records_out(&self, n: impl RecordCount) {
        self.add_records(n.as_count(), |c| &c.records_out, |b| &b.records_out);
    }

    fn add_records(
        &self,
        n: u64,
        cell: impl Fn(&SiteCells) -> &BoundCounter<u64>,
        attrs: impl Fn(&BoundAttributes) -> &[KeyValue],
    ) {
        match (self.live.metrics, self.live.cells) {
            (true, Some(c)) => cell(c).add(n),
            (true, None) => instruments().records.add(n, attrs(self.site.bound())),
            (false, _) => {}
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
        if let Some(live) = self.recording_live() {
            let extra = live.extra();
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
        if self.live.on {
            self.live.extra().error_type = Some(error_type);
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
    /// A disabled call's guard drops in one branch: `extra` is only ever set
    /// on a call that is on.
    #[inline(always)]
    fn drop(&mut self) {
        if self.live.on {
            finish(self.site, &mut self.live);
        }
    }
}

/// Ends a call, reading its state in place (the guard is being dropped).
#[inline(never)]
fn finish(site: &'static StageSite, live: &mut Live) {
    let end = clock::now();
    let start = live.start;
    let failed = live.extra.as_ref().is_some_and(|e| e.error_type.is_some());
    let recorded = live.recording();
    // A successful call's duration goes into its bound histogram cell on the
    // collector thread, which handles the span anyway
    // (`SpanRecord::duration_cell`).
    let deferred = live.cells.filter(|_| live.metrics && recorded && !failed);
    if deferred.is_none() && live.metrics {
        let error_type = live.extra.as_ref().and_then(|e| e.error_type.as_deref());
        record_metrics(site, live.cells, error_type, start, end);
    }
    // The record is built before the in-flight gauge's atomic update, which
    // lets its stores drain: copying it into the ring right after writing it
    // field by field would stall store forwarding.
    let span = &live.span;
    let record = recorded.then(|| {
        SpanRecord::new(
            span.trace_id,
            site,
            span.span_id,
            span.parent_id,
            start,
            end,
            deferred.is_some(),
            live.extra.take(),
        )
    });
    if deferred.is_some() {
        site.active.fetch_sub(1, Ordering::Relaxed);
    }
    // What the record did not take (a call not recorded).
    drop(live.extra.take());
    if !live.has_span() {
        return;
    }
    let entered = span.entered.then_some(span.span_id);
    let rejected = engine::local::end(entered, live.engine, record);
    // The span is lost (counted); its duration is not.
    if let (Some(cells), true) = (deferred, rejected) {
        cells.record_duration(start, end);
    }
}

/// Records a call's metrics on the calling thread: into its bound cells, or
/// through the instruments when the cells are from an earlier provider or the
/// call failed (`error.type` selects among a few attribute sets).
fn record_metrics(
    site: &StageSite,
    cells: Option<&SiteCells>,
    error_type: Option<&str>,
    start: u64,
    end: u64,
) {
    site.active.fetch_sub(1, Ordering::Relaxed);
    let elapsed = clock::seconds_between(start, end);
    match (cells, error_type) {
        (Some(c), None) => c.duration.record(elapsed),
        (None, None) => instruments().duration.record(elapsed, &site.bound().call),
        (_, Some(e)) => {
            let i = instruments();
            let attrs = site.attributes(Some(e));
            i.duration.record(elapsed, &attrs);
            i.failures.add(1, &attrs);
        }
    }
}

/// Adds every attribute of `value` to the call's span.
pub fn record_on(guard: &mut StageGuard, value: &(impl Telemetry + ?Sized)) {
    if let Some(live) = guard.recording_live() {
        live.extra()
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
    let Some(live) = guard.recording_live() else {
        return;
    };
    for cx in contexts {
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            live.extra().links.push(Link::with_context(sc));
        }
    }
}

/// Runs a sync stage's body. A closure called in place would be `FnMut`
/// when rustc infers its kind from the body, and a body returning a `&mut`
/// borrowed from an argument could not compile; through this it is `FnOnce`.
#[inline(always)]
pub fn run<R>(body: impl FnOnce() -> R) -> R {
    body()
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
