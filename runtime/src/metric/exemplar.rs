//! Exemplars of the stage metrics: the trace and span id, value and time of
//! a few sampled calls, kept per call site and attribute set, and attached
//! to the SDK's data points when they are exported or scraped (the SDK
//! records none).
//!
//! The duration histogram keeps the last measurement of each bucket (the
//! specification's `AlignedHistogramBucketExemplarReservoir`); the
//! counters keep [`FIXED`] by reservoir sampling
//! (`SimpleFixedSizeExemplarReservoir`), the span id, which is random,
//! standing in for the random number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use opentelemetry::KeyValue;

use crate::config::ExemplarFilter;

/// The bucket boundaries of `pipeline.stage.duration`, in seconds.
pub(crate) const DURATION_BOUNDS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];
const BUCKETS: usize = DURATION_BOUNDS.len() + 1;
/// Exemplars a counter's attribute set keeps.
pub(crate) const FIXED: usize = 4;

/// The metric names exemplars are kept for.
pub(crate) const DURATION: &str = "pipeline.stage.duration";
pub(crate) const RECORDS: &str = "pipeline.records";
pub(crate) const FAILURES: &str = "pipeline.stage.failures";

/// `OTEL_METRICS_EXEMPLAR_FILTER` of the session that installed the meter
/// provider; always off until one does.
static FILTER: AtomicU8 = AtomicU8::new(OFF);
const OFF: u8 = 0;
const TRACE_BASED: u8 = 1;
const ALWAYS_ON: u8 = 2;

/// Sets the filter (`init()`, with its meter provider).
pub(crate) fn set_filter(filter: ExemplarFilter) {
    let f = match filter {
        ExemplarFilter::AlwaysOff => OFF,
        ExemplarFilter::TraceBased => TRACE_BASED,
        ExemplarFilter::AlwaysOn => ALWAYS_ON,
    };
    FILTER.store(f, Ordering::Relaxed);
}

/// Whether a measurement of a call whose span is `sampled` (recorded and
/// exported) may become an exemplar; `has_span`: the call has ids at all.
#[inline]
pub(crate) fn admits(sampled: bool, has_span: bool) -> bool {
    match FILTER.load(Ordering::Relaxed) {
        TRACE_BASED => sampled,
        ALWAYS_ON => has_span,
        _ => false,
    }
}

/// One exemplar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) value: f64,
    /// Whether the measurement is an integer (a counter's).
    pub(crate) integer: bool,
    /// Unix time in nanoseconds.
    pub(crate) time: u64,
}

/// The last exemplar of each duration bucket.
#[derive(Debug)]
struct Aligned(Mutex<[Option<Exemplar>; BUCKETS]>);

impl Aligned {
    const fn new() -> Self {
        Self(Mutex::new([None; BUCKETS]))
    }

    fn offer(&self, e: Exemplar) {
        lock(&self.0)[bucket(e.value)] = Some(e);
    }

    fn collect(&self, out: &mut Vec<Exemplar>) {
        out.extend(lock(&self.0).iter().flatten());
    }
}

/// The duration bucket of `value`: the first whose bound is not below it.
fn bucket(value: f64) -> usize {
    DURATION_BOUNDS.partition_point(|b| *b < value)
}

/// A site's duration exemplars held for a run of its calls (the collector
/// takes the lock once for consecutive records of one site).
#[derive(Debug)]
pub(crate) struct Durations<'a>(MutexGuard<'a, [Option<Exemplar>; BUCKETS]>);

impl Durations<'_> {
    pub(crate) fn offer(&mut self, e: Exemplar) {
        self.0[bucket(e.value)] = Some(e);
    }
}

/// [`FIXED`] exemplars by reservoir sampling over the measurements offered
/// since the last collection.
#[derive(Debug)]
struct Fixed(Mutex<FixedState>);

#[derive(Debug)]
struct FixedState {
    slots: [Option<Exemplar>; FIXED],
    offered: u64,
}

impl Fixed {
    const fn new() -> Self {
        Self(Mutex::new(FixedState {
            slots: [None; FIXED],
            offered: 0,
        }))
    }

    fn offer(&self, e: Exemplar) {
        let mut s = lock(&self.0);
        let n = s.offered;
        s.offered += 1;
        // The span id is random: a uniform pick among the n + 1 offered.
        let pick = if n < FIXED as u64 {
            n
        } else {
            e.span_id % (n + 1)
        };
        if let Some(slot) = usize::try_from(pick).ok().and_then(|i| s.slots.get_mut(i)) {
            *slot = Some(e);
        }
    }

    fn collect(&self, out: &mut Vec<Exemplar>) {
        let mut s = lock(&self.0);
        s.offered = 0;
        out.extend(s.slots.iter().flatten());
    }

    /// Whether a slot is still empty (a counter's first measurements are
    /// always offered).
    fn has_room(&self) -> bool {
        lock(&self.0).slots.iter().any(Option::is_none)
    }
}

/// The exemplars of one stage call site.
#[derive(Debug)]
pub(crate) struct SiteExemplars {
    listed: AtomicBool,
    /// Both records counters have a full reservoir (the calling thread
    /// then offers only some calls' counts).
    records_full: AtomicBool,
    duration: Aligned,
    records_in: Fixed,
    records_out: Fixed,
    failed: Mutex<Vec<Failed>>,
}

/// The exemplars of a site's failed calls with one `error.type`.
#[derive(Debug)]
struct Failed {
    error_type: String,
    duration: Aligned,
    failures: Fixed,
}

/// Sites that have exemplars, with their attribute set (no `error.type`,
/// no direction).
static SITES: Mutex<Vec<(&'static SiteExemplars, Vec<KeyValue>)>> = Mutex::new(Vec::new());

impl SiteExemplars {
    pub(crate) const fn new() -> Self {
        Self {
            listed: AtomicBool::new(false),
            records_full: AtomicBool::new(false),
            duration: Aligned::new(),
            records_in: Fixed::new(),
            records_out: Fixed::new(),
            failed: Mutex::new(Vec::new()),
        }
    }

    /// Lists the site for export on its first exemplar; `attributes`: its
    /// metric attributes.
    fn list(&'static self, attributes: impl FnOnce() -> Vec<KeyValue>) {
        if !self.listed.load(Ordering::Relaxed) && !self.listed.swap(true, Ordering::AcqRel) {
            lock(&SITES).push((self, attributes()));
        }
    }

    /// A call's duration, with `error_type` when it failed.
    pub(crate) fn duration(
        &'static self,
        attributes: impl FnOnce() -> Vec<KeyValue>,
        error_type: Option<&str>,
        e: Exemplar,
    ) {
        self.list(attributes);
        match error_type {
            None => self.duration.offer(e),
            Some(t) => self.with_failed(t, |f| f.duration.offer(e)),
        }
    }

    /// The successful calls' durations, held for several offers.
    pub(crate) fn durations(
        &'static self,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Durations<'static> {
        self.list(attributes);
        Durations(lock(&self.duration.0))
    }

    /// A failed call (value 1).
    pub(crate) fn failure(
        &'static self,
        attributes: impl FnOnce() -> Vec<KeyValue>,
        error_type: &str,
        e: Exemplar,
    ) {
        self.list(attributes);
        self.with_failed(error_type, |f| f.failures.offer(e));
    }

    /// Whether a records count of a call with this span id is offered: all
    /// while a reservoir has room, then one call in 16 (by its random span
    /// id), so the calling thread rarely takes the lock.
    #[inline]
    pub(crate) fn wants_records(&self, span_id: u64) -> bool {
        span_id & 15 == 0 || !self.records_full.load(Ordering::Relaxed)
    }

    /// Records read (`out` false) or written by a call.
    pub(crate) fn records(
        &'static self,
        attributes: impl FnOnce() -> Vec<KeyValue>,
        out: bool,
        e: Exemplar,
    ) {
        self.list(attributes);
        if out {
            self.records_out.offer(e);
        } else {
            self.records_in.offer(e);
        }
        if !self.records_in.has_room() || !self.records_out.has_room() {
            self.records_full.store(true, Ordering::Relaxed);
        }
    }

    fn with_failed(&self, error_type: &str, f: impl FnOnce(&Failed)) {
        let mut failed = lock(&self.failed);
        if let Some(found) = failed.iter().find(|x| x.error_type == error_type) {
            return f(found);
        }
        // The cardinality of `error.type` is bounded by the SDK's limit on
        // the metric; this list by as much.
        if failed.len() < 64 {
            failed.push(Failed {
                error_type: error_type.to_owned(),
                duration: Aligned::new(),
                failures: Fixed::new(),
            });
            if let Some(last) = failed.last() {
                f(last);
            }
        }
    }
}

/// Every site's exemplars by metric and attribute set, taken for one
/// export or scrape.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    series: HashMap<(&'static str, String), Vec<Exemplar>>,
}

/// Takes the exemplars of every site (and restarts the counters'
/// reservoir sampling).
pub(crate) fn snapshot() -> Snapshot {
    let mut snap = Snapshot::default();
    let sites = lock(&SITES);
    for (site, attributes) in sites.iter() {
        let with = |extra: Option<(&str, &str)>| {
            let mut pairs: Vec<(String, String)> = attributes
                .iter()
                .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
                .collect();
            if let Some((k, v)) = extra {
                pairs.push((k.to_owned(), v.to_owned()));
            }
            key(pairs)
        };
        let mut put =
            |metric: &'static str, attrs: String, collect: &dyn Fn(&mut Vec<Exemplar>)| {
                let list = snap.series.entry((metric, attrs)).or_default();
                collect(list);
            };
        put(DURATION, with(None), &|o| site.duration.collect(o));
        put(RECORDS, with(Some(("pipeline.io.direction", "in"))), &|o| {
            site.records_in.collect(o);
        });
        put(
            RECORDS,
            with(Some(("pipeline.io.direction", "out"))),
            &|o| {
                site.records_out.collect(o);
            },
        );
        for f in lock(&site.failed).iter() {
            let attrs = with(Some(("error.type", &f.error_type)));
            put(DURATION, attrs.clone(), &|o| f.duration.collect(o));
            put(FAILURES, attrs, &|o| f.failures.collect(o));
        }
    }
    snap.series.retain(|_, v| !v.is_empty());
    snap
}

impl Snapshot {
    /// The exemplars of `metric`'s data point with `attributes` (scope
    /// `semtel` only: the caller checks).
    pub(crate) fn get<'a>(
        &self,
        metric: &str,
        attributes: impl Iterator<Item = &'a KeyValue>,
    ) -> &[Exemplar] {
        let Some(metric) = [DURATION, RECORDS, FAILURES]
            .into_iter()
            .find(|m| *m == metric)
        else {
            return &[];
        };
        let pairs = attributes
            .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
            .collect();
        self.get_pairs(metric, pairs)
    }

    /// As [`Snapshot::get`], with the attributes as text.
    pub(crate) fn get_pairs(&self, metric: &str, pairs: Vec<(String, String)>) -> &[Exemplar] {
        let Some(metric) = [DURATION, RECORDS, FAILURES]
            .into_iter()
            .find(|m| *m == metric)
        else {
            return &[];
        };
        self.series
            .get(&(metric, key(pairs)))
            .map_or(&[], Vec::as_slice)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// An attribute set as a map key: sorted `key=value` pairs.
fn key(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&k);
        out.push('\u{1f}');
        out.push_str(&v);
        out.push('\u{1e}');
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(value: f64, span_id: u64) -> Exemplar {
        Exemplar {
            trace_id: 1,
            span_id,
            value,
            integer: false,
            time: 0,
        }
    }

    #[test]
    fn the_aligned_reservoir_keeps_the_last_exemplar_of_each_bucket() {
        assert_eq!(bucket(0.0005), 0);
        assert_eq!(bucket(0.00051), 1);
        assert_eq!(bucket(300.0), BUCKETS - 2);
        assert_eq!(bucket(301.0), BUCKETS - 1);
        let r = Aligned::new();
        r.offer(ex(0.0001, 1));
        r.offer(ex(0.0002, 2));
        r.offer(ex(1000.0, 3));
        let mut out = Vec::new();
        r.collect(&mut out);
        assert_eq!(out, [ex(0.0002, 2), ex(1000.0, 3)]);
    }

    #[test]
    fn the_fixed_reservoir_keeps_at_most_its_size_and_fills_first() {
        let r = Fixed::new();
        for i in 0..100 {
            r.offer(ex(1.0, i * 7919));
        }
        let mut out = Vec::new();
        r.collect(&mut out);
        assert_eq!(out.len(), FIXED);
        assert!(!r.has_room());
    }

    #[test]
    fn a_snapshot_finds_a_series_whatever_the_attribute_order() {
        static SITE: SiteExemplars = SiteExemplars::new();
        let attrs = || {
            vec![
                KeyValue::new("pipeline.name", "p-snapshot"),
                KeyValue::new("pipeline.stage.name", "s"),
            ]
        };
        SITE.failure(attrs, "timeout", ex(1.0, 5));
        let snap = snapshot();
        let point = [
            KeyValue::new("error.type", "timeout"),
            KeyValue::new("pipeline.stage.name", "s"),
            KeyValue::new("pipeline.name", "p-snapshot"),
        ];
        assert_eq!(snap.get(FAILURES, point.iter()), [ex(1.0, 5)]);
        assert!(snap.get(DURATION, point.iter()).is_empty());
    }
}
