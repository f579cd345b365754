//! The stage instruments of the `pipeline.` conventions, from the global
//! meter provider, and the calling thread's part of recording them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, ObservableUpDownCounter};
use semtel_conventions::model::{CounterDescriptor, number::Int};
use semtel_conventions::pipeline::metric as pmetric;

use super::site::StageSite;
use crate::config::ExemplarFilter;
use crate::engine::{activate, deactivate};
use crate::metric::Exemplar;
use crate::metric::exemplar::DURATION_BOUNDS;
use crate::record::{SiteCells, clock};

/// The stage instruments, from the global meter provider. Rebuilt when
/// [`init`](crate::init) installs a new provider, so stages called before
/// `init` do not keep no-op instruments.
pub(super) struct Instruments {
    pub(super) duration: Histogram<f64>,
    pub(super) records: Counter<u64>,
    pub(super) failures: Counter<u64>,
    /// What a body counts through its handle ([`super::counters`]).
    pub(super) bytes: Counter<u64>,
    pub(super) retries: Counter<u64>,
    pub(super) dead_letters: Counter<u64>,
    /// The lag gauges ([`crate::lag`]).
    pub(super) lag: Gauge<f64>,
    pub(super) backlog: Gauge<u64>,
    /// Observes every call site's [`StageSite::active`] at collection.
    _active: ObservableUpDownCounter<i64>,
    /// The meter of these, for the typed instruments ([`super::instrument`]).
    pub(super) meter: Meter,
}

/// The description of `pipeline.backlog`: an integration that records the
/// gauge from a session's meter (the Kafka consumer's lag) gives the same
/// one, so that both record into the one instrument.
pub(crate) const BACKLOG_DESCRIPTION: &str = "Records of its input a stage has yet to process";

/// Call sites that have recorded metrics, for the in-flight observer.
pub(super) static SITES: Mutex<Vec<&'static StageSite>> = Mutex::new(Vec::new());

pub(super) static GENERATION: AtomicU64 = AtomicU64::new(1);
/// Whether semtel's `init()` has installed the global meter provider; until
/// then (and after its shutdown) stage calls skip metric work entirely.
pub(super) static METRICS_ON: AtomicBool = AtomicBool::new(false);
#[allow(clippy::type_complexity)] // a cache slot: (generation, instruments)
static INSTRUMENTS: RwLock<Option<(u64, Arc<Instruments>)>> = RwLock::new(None);

/// Called when `init()` installs the global meter provider, whose stage
/// metrics get exemplars as `filter` says.
pub(crate) fn meter_provider_changed(filter: ExemplarFilter) {
    crate::metric::exemplar::set_filter(filter);
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

pub(super) fn instruments() -> Arc<Instruments> {
    let generation = GENERATION.load(Ordering::Acquire);
    if let Some((g, i)) = INSTRUMENTS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        && *g == generation
    {
        return Arc::clone(i);
    }
    let meter = opentelemetry::global::meter_with_scope(crate::record::stage_scope());
    let d = pmetric::PIPELINE_STAGE_DURATION;
    let r = pmetric::PIPELINE_RECORDS;
    let f = pmetric::PIPELINE_STAGE_FAILURES;
    let a = pmetric::PIPELINE_STAGE_ACTIVE;
    let counter = |m: CounterDescriptor<Int>, description: &'static str| {
        meter
            .u64_counter(m.name)
            .with_unit(m.unit)
            .with_description(description)
            .build()
    };
    let built = Arc::new(Instruments {
        duration: meter
            .f64_histogram(d.name)
            .with_unit(d.unit)
            .with_description("Duration of one stage call")
            .with_boundaries(DURATION_BOUNDS.to_vec())
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
        bytes: counter(pmetric::PIPELINE_BYTES, "Bytes a stage read or wrote"),
        retries: counter(pmetric::PIPELINE_RETRIES, "Operations a stage retried"),
        dead_letters: counter(
            pmetric::PIPELINE_DEAD_LETTERS,
            "Records a stage sent to a dead-letter destination",
        ),
        lag: meter
            .f64_gauge(pmetric::PIPELINE_LAG.name)
            .with_unit(pmetric::PIPELINE_LAG.unit)
            .with_description("How far a stage trails its input")
            .build(),
        backlog: meter
            .u64_gauge(pmetric::PIPELINE_BACKLOG.name)
            .with_unit(pmetric::PIPELINE_BACKLOG.unit)
            .with_description(BACKLOG_DESCRIPTION)
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
        meter,
    });
    *INSTRUMENTS.write().unwrap_or_else(PoisonError::into_inner) =
        Some((generation, Arc::clone(&built)));
    built
}

/// Records a call's metrics on the calling thread: into its bound cells, or
/// through the instruments when the cells are from an earlier provider or the
/// call failed (`error.type` selects among a few attribute sets). `ids`:
/// the call's trace and span id when the exemplar filter admits it.
pub(super) fn record_metrics(
    site: &'static StageSite,
    cells: Option<&SiteCells>,
    error_type: Option<&str>,
    (start, end): (u64, u64),
    ids: Option<(u128, u64)>,
) {
    site.active.fetch_sub(1, Ordering::Relaxed);
    let elapsed = clock::seconds_between(start, end);
    match (cells, error_type) {
        (Some(c), None) => c.duration.record(elapsed),
        (None, None) => instruments().duration.record(elapsed, &site.bound().call),
        (_, Some(e)) => {
            let i = instruments();
            let attrs = site.span.attributes(Some(e));
            i.duration.record(elapsed, &attrs);
            i.failures.add(1, &attrs);
        }
    }
    if let Some((trace_id, span_id)) = ids {
        exemplars(site, error_type, end, elapsed, trace_id, span_id);
    }
}

/// The exemplars of a call whose metrics the calling thread recorded (a
/// failed call, or one whose span is not deferred to the collector).
#[cold]
fn exemplars(
    site: &'static StageSite,
    error_type: Option<&str>,
    end: u64,
    elapsed: f64,
    trace_id: u128,
    span_id: u64,
) {
    let e = Exemplar {
        trace_id,
        span_id,
        value: elapsed,
        integer: false,
        time: clock::UnixNanos::current().at(end),
    };
    site.span.duration_exemplar(error_type, e);
    if let Some(t) = error_type {
        let one = Exemplar {
            value: 1.0,
            integer: true,
            ..e
        };
        site.span
            .exemplars()
            .failure(|| site.span.attributes(None), t, one);
    }
}

/// Offers a records count as an exemplar.
#[cold]
pub(super) fn records_exemplar(
    site: &'static StageSite,
    out: bool,
    n: u64,
    trace_id: u128,
    span_id: u64,
) {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    #[allow(clippy::cast_precision_loss)] // an exemplar's value, as the SDK's f64
    let e = Exemplar {
        trace_id,
        span_id,
        value: n as f64,
        integer: true,
        time,
    };
    site.span
        .exemplars()
        .records(|| site.span.attributes(None), out, e);
}

impl StageSite {
    /// This site's cells, bound on first use; `None` when the meter provider
    /// changed since they were bound (a second `init()`), in which case calls
    /// record through the unbound instruments. Inline: it is on every
    /// call's path, from another module than its caller.
    #[inline]
    pub(super) fn cells(&'static self, generation: u64) -> Option<&'static SiteCells> {
        if !self.listed.load(Ordering::Relaxed) && !self.listed.swap(true, Ordering::AcqRel) {
            SITES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self);
        }
        let cells = self.span.cells.get_or_init(|| {
            let i = instruments();
            let b = self.bound();
            SiteCells {
                generation,
                duration: i.duration.bind(&b.call),
                records_in: self
                    .records
                    .records_in
                    .then(|| i.records.bind(&b.records_in)),
                records_out: self
                    .records
                    .records_out
                    .then(|| i.records.bind(&b.records_out)),
            }
        });
        (cells.generation == generation).then_some(cells)
    }
}
