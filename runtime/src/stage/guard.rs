//! One stage call: [`StageGuard`], from the expansion's start to its drop.

use std::borrow::Cow;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::metrics::BoundCounter;
use opentelemetry::trace::{Event, Link, Status};
use opentelemetry::{KeyValue, Value};
use semtel_conventions::attribute as attr;
use semtel_conventions::value::ValueFor;

use super::args::{RecordCount, public_type_name};
use super::metrics::{GENERATION, METRICS_ON, instruments, record_metrics, records_exemplar};
use super::site::{BoundAttributes, StageSite};
use crate::engine::{self, Begun, Engine, Instrumented, SpanRef, active};
use crate::metric;
use crate::record::{Extra, RunTally, SiteCells, SpanRecord, clock};
use crate::telemetry::Telemetry;

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
    span: Begun,
    /// The engine that records the span; 0 when it is not recorded (no
    /// traces exporter), though it still has ids for log correlation.
    engine: u64,
    /// Whether the call records metrics; into `cells` when bound, else (after
    /// a second `init()`) through the instruments with attribute sets.
    metrics: bool,
    cells: Option<&'static SiteCells>,
    /// What few calls have: a failure, dynamic attributes, a remote parent,
    /// a trace state. Taken out (and so dropped) by [`StageGuard`]'s `Drop`:
    /// as a plain field its drop glue would be an out-of-line call on every
    /// call, also the disabled ones.
    extra: ManuallyDrop<Option<Box<Extra>>>,
}

impl Live {
    const OFF: Live = Live {
        on: false,
        start: 0,
        span: Begun::NONE,
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

/// Adds the allow-listed entries of the current context's baggage (the
/// parent's) to the span's attributes.
#[cold]
#[inline(never)]
fn copy_baggage(keys: &[opentelemetry::Key], live: &mut Live) {
    use opentelemetry::baggage::BaggageExt as _;
    if !engine::context::otel_context_live() {
        return;
    }
    opentelemetry::Context::map_current(|cx| {
        let run = cx.get::<Arc<RunTally>>();
        if let Some(run) = run {
            // The run's id, shared: the baggage holds the same.
            let extra = live.extra();
            extra.attributes.push(run.id.clone());
            extra.run = Some(Arc::clone(run));
        }
        let run_id = &engine::context::RUN_ID_KEYS[0];
        let mut keys = keys.iter().filter(|k| run.is_none() || *k != run_id);
        let Some(first) = keys.next() else {
            return;
        };
        let baggage = cx.baggage();
        for k in std::iter::once(first).chain(keys) {
            if let Some(v) = baggage.get(k.as_str()) {
                let kv = KeyValue::new(k.clone(), v.as_str().to_owned());
                live.extra().attributes.push(kv);
            }
        }
    });
}

impl fmt::Debug for StageGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageGuard")
            .field("stage", &self.site.stage())
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

    /// [`StageGuard::start`] under `parent` (`#[stage(parent = ..)]`); a
    /// context without a span leaves the parent as `start` takes it.
    #[inline]
    pub fn start_under(&mut self, parent: &opentelemetry::Context) {
        if active() {
            self.start_live_under(false, parent);
        }
    }

    /// [`StageGuard::enter`] under `parent` (see [`StageGuard::start_under`]).
    #[inline]
    pub fn enter_under(&mut self, parent: &opentelemetry::Context) {
        if active() {
            self.start_live_under(true, parent);
        }
    }

    #[inline(never)]
    fn start_live(&mut self, enter: bool) {
        debug_assert!(!self.live.on, "a stage call is started once");
        let site = self.site;
        let live = &mut self.live;
        live.span.site = Some(&site.span);
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
            if live.recording() {
                if let Some(keys) = engine.baggage_keys.get() {
                    copy_baggage(keys, live);
                } else if engine::context::runs_started() {
                    copy_baggage(&engine::context::RUN_ID_KEYS, live);
                }
            }
        });
        live.on = live.metrics || live.has_span();
        if live.on {
            live.start = clock::now();
        }
    }

    /// [`StageGuard::start_live`] under `parent`: attached while the call
    /// starts, it is the context the call continues (rather than a parent
    /// passed down `start_live`'s path, which every call takes).
    #[cold]
    #[inline(never)]
    fn start_live_under(&mut self, enter: bool, parent: &opentelemetry::Context) {
        if !engine::current::has_span(parent) {
            self.start_live(enter);
            return;
        }
        {
            let _attached = engine::current::Attached::new(parent);
            self.start_live(enter);
        }
        // The context current now, not the parent's, tells a context
        // attached inside the call apart (`SpanRef::seen`).
        engine::current::reseat(&mut self.live.span);
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
        engine::current::in_frame(self.frame().as_ref(), f)
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
        self.add_records(n.as_count(), false, |c| &c.records_in, |b| &b.records_in);
    }

    /// Records `n` records written by this call.
    pub fn records_out(&self, n: impl RecordCount) {
        self.add_records(n.as_count(), true, |c| &c.records_out, |b| &b.records_out);
    }

    /// Records `n` bytes read by this call (`bytes_in = ..`).
    pub fn bytes_in(&self, n: impl RecordCount) {
        if self.live.metrics {
            super::counters::add(
                &self.site.span,
                super::counters::Counted::BytesIn,
                n.as_count(),
            );
        }
    }

    /// Records `n` bytes written by this call (`bytes_out = ..`).
    pub fn bytes_out(&self, n: impl RecordCount) {
        if self.live.metrics {
            super::counters::add(
                &self.site.span,
                super::counters::Counted::BytesOut,
                n.as_count(),
            );
        }
    }

    fn add_records(
        &self,
        n: u64,
        out: bool,
        cell: impl Fn(&SiteCells) -> &Option<BoundCounter<u64>>,
        attrs: impl Fn(&BoundAttributes) -> &[KeyValue],
    ) {
        let live = &self.live;
        if let Some(run) = live.extra.as_ref().and_then(|e| e.run.as_ref()) {
            run.records(out, n);
        }
        match (live.metrics, live.cells) {
            (true, Some(c)) => {
                if let Some(counter) = cell(c) {
                    counter.add(n);
                }
            }
            (true, None) => instruments().records.add(n, attrs(self.site.bound())),
            (false, _) => return,
        }
        // An exemplar for some calls only: the span id picks them.
        if live.has_span()
            && metric::admits(live.recording(), true)
            && self.site.span.exemplars().wants_records(live.span.span_id)
        {
            records_exemplar(self.site, out, n, live.span.trace_id, live.span.span_id);
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
        self.fail_as(error_type, Some(message), exception_type);
    }

    /// [`StageGuard::fail`], the message left out when not known.
    fn fail_as(
        &mut self,
        error_type: Cow<'static, str>,
        message: Option<&str>,
        exception_type: &str,
    ) {
        if let Some(live) = self.recording_live() {
            let extra = live.extra();
            extra.attributes.push(KeyValue::new(
                attr::ERROR_TYPE.name(),
                Value::from(error_type.clone().into_owned()),
            ));
            let mut attributes = vec![KeyValue::new(
                attr::EXCEPTION_TYPE.name(),
                exception_type.to_owned(),
            )];
            if let Some(m) = message {
                attributes.push(KeyValue::new(attr::EXCEPTION_MESSAGE.name(), m.to_owned()));
            }
            extra.events.push(Event::new(
                "exception",
                std::time::SystemTime::now(),
                attributes,
                0,
            ));
            extra.status = Status::error(message.unwrap_or(&error_type).to_owned());
        }
        self.in_scope(|| {
            // tracing needs literal field names; the example's end-to-end
            // live check holds them to the registry.
            tracing::event!(
                target: "semtel::stage",
                tracing::Level::ERROR,
                "error.type" = &*error_type,
                "exception.message" = message,
                "pipeline.stage.name" = self.site.stage(),
                "stage failed"
            );
        });
        if self.live.on {
            self.live.extra().error_type = Some(error_type);
        }
    }

    /// The body's value, or, when it panicked, the panic recorded on the
    /// call (`error.type` `panic`, the message on the `exception` event when
    /// it is a string) and resumed with its payload unchanged.
    #[inline]
    pub fn resume<T>(&mut self, caught: std::thread::Result<T>) -> T {
        match caught {
            Ok(value) => value,
            Err(payload) => {
                self.panicked(super::panic::message(&*payload));
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Records a panic ending the call, unless the call has failed already.
    #[cold]
    #[inline(never)]
    fn panicked(&mut self, message: Option<&str>) {
        let failed = self
            .live
            .extra
            .as_ref()
            .is_some_and(|e| e.error_type.is_some());
        if self.live.on && !failed {
            self.fail_as(
                Cow::Borrowed(super::panic::PANIC),
                message,
                super::panic::PANIC,
            );
        }
    }

    /// Ends a call that is on; a panic unwinding through it that the body's
    /// catch did not see (in a field expression, or an async call's future
    /// dropped by an unwinding caller) ends it failed.
    #[inline(never)]
    fn end(&mut self) {
        if std::thread::panicking() {
            self.panicked(None);
        }
        finish(self.site, &mut self.live);
    }

    /// Marks the call failed with `error`: its message and type name go on
    /// the `exception` event, `error_type` on the span and metrics.
    pub fn fail_with<E: fmt::Display + ?Sized>(
        &mut self,
        error_type: Cow<'static, str>,
        error: &E,
    ) {
        let exception_type = public_type_name(std::any::type_name::<E>());
        self.fail(error_type, &error.to_string(), &exception_type);
    }
}

impl Drop for StageGuard {
    /// A disabled call's guard drops in one branch: `extra` is only ever set
    /// on a call that is on.
    #[inline(always)]
    fn drop(&mut self) {
        if self.live.on {
            self.end();
        }
    }
}

/// Ends a call, reading its state in place (the guard is being dropped).
#[inline(always)]
fn finish(site: &'static StageSite, live: &mut Live) {
    let end = clock::now();
    let start = live.start;
    // What the body added through `semtel::stage::current()`.
    if let Some(pending) = super::handle::take(live.span.span_id) {
        let recording = live.recording();
        pending.merge_into(live.extra(), recording);
    }
    let failed = live.extra.as_ref().is_some_and(|e| e.error_type.is_some());
    let recorded = live.recording();
    // A successful call's duration goes into its bound histogram cell on the
    // collector thread, which handles the span anyway
    // (`SpanRecord::duration_cell`).
    let deferred = live.cells.filter(|_| live.metrics && recorded && !failed);
    if deferred.is_none() && live.metrics {
        let error_type = live.extra.as_ref().and_then(|e| e.error_type.as_deref());
        let ids = metric::admits(recorded, live.has_span())
            .then_some((live.span.trace_id, live.span.span_id));
        record_metrics(site, live.cells, error_type, (start, end), ids);
    }
    // The record is built before the in-flight gauge's atomic update, which
    // lets its stores drain: copying it into the ring right after writing it
    // field by field would stall store forwarding.
    if let Some(run) = live.extra.as_mut().and_then(|e| e.run.take()) {
        run.count(failed);
    }
    let span = &live.span;
    let record = recorded.then(|| {
        SpanRecord::new(
            span.trace_id,
            &site.span,
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

/// Runs a sync stage's body; a panic in it is recorded on the call and
/// resumed. A closure called in place would be `FnMut` when rustc infers its
/// kind from the body, and a body returning a `&mut` borrowed from an
/// argument could not compile; through this it is `FnOnce`.
#[inline(always)]
pub fn run<R>(guard: &mut StageGuard, body: impl FnOnce() -> R) -> R {
    guard.resume(super::panic::catch(body))
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
