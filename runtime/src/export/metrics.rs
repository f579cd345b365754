//! Metric exports, timed out and counted: the SDK's periodic reader drives
//! them, so they need no queue of semtel's.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use super::report::{Counters, Reporter, SignalReport};
use super::runtime::Executor;
use super::sync::{lock, wait_until};
use crate::config::Signal;

/// Wraps a metric exporter so that its exports run on semtel's executor with
/// a timeout, and counts the data points that arrive or are lost.
pub(crate) struct CountingMetricExporter<E> {
    inner: E,
    executor: Executor,
    timeout: Duration,
    state: Arc<MetricState>,
}

#[derive(Debug)]
pub(crate) struct MetricState {
    destination: String,
    counters: Counters,
    /// Points of the export under way, reported as unsent if shutdown's
    /// deadline passes during it.
    in_flight: AtomicU64,
    finished: Mutex<bool>,
    done: Condvar,
}

impl<E> fmt::Debug for CountingMetricExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingMetricExporter")
            .field("destination", &self.state.destination)
            .finish_non_exhaustive()
    }
}

impl<E: PushMetricExporter> CountingMetricExporter<E> {
    pub(crate) fn new(
        inner: E,
        destination: String,
        executor: Executor,
        timeout: Duration,
    ) -> (Self, Arc<MetricState>) {
        let state = Arc::new(MetricState {
            destination,
            counters: Counters::default(),
            in_flight: AtomicU64::new(0),
            finished: Mutex::new(false),
            done: Condvar::new(),
        });
        let exporter = Self {
            inner,
            executor,
            timeout,
            state: Arc::clone(&state),
        };
        (exporter, state)
    }
}

/// Data points in one collection.
pub(crate) fn count_points(metrics: &ResourceMetrics) -> u64 {
    fn points<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .map(|m| match m.data() {
            AggregatedMetrics::F64(d) => points(d),
            AggregatedMetrics::U64(d) => points(d),
            AggregatedMetrics::I64(d) => points(d),
        } as u64)
        .sum()
}

impl<E: PushMetricExporter> PushMetricExporter for CountingMetricExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        crate::metric::overflow::warn(metrics);
        let points = count_points(metrics);
        self.state.in_flight.store(points, Ordering::Relaxed);
        let result = self.executor.run(self.timeout, self.inner.export(metrics));
        let outcome = result.clone().map_err(OTelSdkError::InternalFailure);
        self.state.counters.record(points, result);
        self.state.in_flight.store(0, Ordering::Relaxed);
        outcome
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        *lock(&self.state.finished) = true;
        self.state.done.notify_all();
        result
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl Reporter for MetricState {
    fn begin_shutdown(&self) {}

    fn wait(&self, deadline: Instant) -> bool {
        wait_until(&self.done, lock(&self.finished), deadline, |f| *f).1
    }

    fn report(&self) -> SignalReport {
        let unflushed = if *lock(&self.finished) {
            0
        } else {
            self.in_flight.load(Ordering::Relaxed)
        };
        self.counters
            .report(Signal::Metrics, &self.destination, unflushed)
    }
}
