//! What integrations need from the telemetry session they run under: its
//! meter (for the families' duration histograms), and, by feature, its
//! logger and tracer. A `HubLayer` in the session's `tracing` subscriber
//! carries it, so an operation finds the session current on its thread the
//! same way a stage finds its engine: through the current dispatcher, under
//! `init()` as under a test's `set_default`.

use std::sync::{PoisonError, RwLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use semtel_conventions::model::MetricDescriptor;

/// The session's handles for integrations.
pub(crate) struct Hub {
    meter: Meter,
    /// The families' histograms by metric name: a few, found by the
    /// name's address first (a query records one value, hashing the name
    /// cost more than the scan).
    histograms: RwLock<Vec<(&'static str, Histogram<f64>)>>,
    /// The families' message counters (`messaging.client.sent.messages`, …),
    /// found the same way.
    counters: RwLock<Vec<(&'static str, Counter<u64>)>>,
    /// `pipeline.backlog` of the Kafka consumers' lag, observed from their
    /// partitions' series.
    #[cfg(feature = "rdkafka")]
    backlog: super::kafka::BacklogGauge,
    #[cfg(feature = "log")]
    pub(crate) logger: Option<opentelemetry_sdk::logs::SdkLogger>,
    #[cfg(feature = "log")]
    pub(crate) log_filter: Option<super::log_filter::LogFilter>,
    #[cfg(feature = "sqlx")]
    pub(crate) tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    pub(crate) fn new(
        #[cfg_attr(not(feature = "log"), allow(unused_variables))] directives: &str,
        meter_provider: &SdkMeterProvider,
        #[cfg_attr(not(feature = "log"), allow(unused_variables))] logger_provider: Option<
            &opentelemetry_sdk::logs::SdkLoggerProvider,
        >,
        #[cfg_attr(not(feature = "sqlx"), allow(unused_variables))] tracer_provider: Option<
            &opentelemetry_sdk::trace::SdkTracerProvider,
        >,
    ) -> Self {
        Self {
            meter: meter_provider.meter_with_scope(crate::record::stage_scope()),
            histograms: RwLock::default(),
            counters: RwLock::default(),
            #[cfg(feature = "rdkafka")]
            backlog: super::kafka::BacklogGauge::new(meter_provider),
            #[cfg(feature = "log")]
            logger: logger_provider.map(|lp| {
                use opentelemetry::logs::LoggerProvider as _;
                lp.logger_with_scope(crate::record::stage_scope())
            }),
            #[cfg(feature = "log")]
            log_filter: logger_provider.map(|_| super::log_filter::LogFilter::new(directives)),
            #[cfg(feature = "sqlx")]
            tracer: tracer_provider.map(|tp| {
                use opentelemetry::trace::TracerProvider as _;
                tp.tracer_with_scope(crate::record::stage_scope())
            }),
        }
    }

    /// Records `seconds` in the histogram of `metric`, creating it on first
    /// use with the bucket boundaries the conventions recommend.
    pub(crate) fn record_duration(
        &self,
        metric: MetricDescriptor,
        seconds: f64,
        attributes: &[KeyValue],
    ) {
        let same = |name: &&'static str| std::ptr::eq(*name, metric.name);
        {
            let list = self
                .histograms
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, h)) = list.iter().find(|(name, _)| same(name)) {
                h.record(seconds, attributes);
                return;
            }
        }
        let mut list = self
            .histograms
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // The same name at another address shares the histogram, and gets
        // an entry of its own for the fast path above.
        let histogram = match list
            .iter()
            .find(|(name, _)| same(name) || *name == metric.name)
        {
            Some((_, h)) => h.clone(),
            None => {
                let mut builder = self.meter.f64_histogram(metric.name).with_unit(metric.unit);
                if let Some(b) = super::buckets::boundaries(metric.name) {
                    builder = builder.with_boundaries(b.to_vec());
                }
                builder.build()
            }
        };
        if !list.iter().any(|(name, _)| same(name)) {
            list.push((metric.name, histogram.clone()));
        }
        drop(list);
        histogram.record(seconds, attributes);
    }

    /// Adds `n` to the counter `metric`, creating it on first use.
    pub(crate) fn add_count(&self, metric: MetricDescriptor, n: u64, attributes: &[KeyValue]) {
        let same = |name: &&'static str| std::ptr::eq(*name, metric.name);
        {
            let list = self.counters.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, c)) = list.iter().find(|(name, _)| same(name)) {
                c.add(n, attributes);
                return;
            }
        }
        let mut list = self
            .counters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let counter = match list
            .iter()
            .find(|(name, _)| same(name) || *name == metric.name)
        {
            Some((_, c)) => c.clone(),
            None => self
                .meter
                .u64_counter(metric.name)
                .with_unit(metric.unit)
                .build(),
        };
        if !list.iter().any(|(name, _)| same(name)) {
            list.push((metric.name, counter.clone()));
        }
        drop(list);
        counter.add(n, attributes);
    }

    /// A new set of `pipeline.backlog` series (one per partition), with
    /// `labels`, reported while it is alive.
    #[cfg(feature = "rdkafka")]
    pub(crate) fn backlog_series(
        &self,
        labels: std::sync::Arc<[KeyValue]>,
    ) -> std::sync::Arc<super::kafka::Backlogs> {
        self.backlog.series(labels)
    }
}
