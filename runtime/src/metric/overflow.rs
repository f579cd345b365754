//! A metric that reaches its cardinality limit is said once: the SDK then
//! folds every new attribute set into one point marked
//! `otel.metric.overflow=true`, and its own warning is internal logging
//! that semtel does not export.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};

/// The attribute of the SDK's overflow point.
const OVERFLOW: &str = "otel.metric.overflow";

/// Metrics already reported.
static REPORTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Says on standard error, once per metric, which metrics of `rm`
/// reached their cardinality limit.
pub(crate) fn warn(rm: &ResourceMetrics) {
    for (name, limit) in newly_over(rm) {
        eprintln!(
            "semtel: warning: metric `{name}` reached its cardinality limit of {limit} attribute \
             sets; measurements with new attribute sets are aggregated into one point with \
             `{OVERFLOW}=true`"
        );
    }
}

/// The metrics of `rm` at their limit (with the number of points it
/// allows) that were not reported before.
pub(crate) fn newly_over(rm: &ResourceMetrics) -> Vec<(String, usize)> {
    let mut over = Vec::new();
    for metric in rm.scope_metrics().flat_map(|s| s.metrics()) {
        let (points, overflowed) = match metric.data() {
            AggregatedMetrics::F64(d) => scan(d),
            AggregatedMetrics::U64(d) => scan(d),
            AggregatedMetrics::I64(d) => scan(d),
        };
        // The limit counts the attribute sets kept, not the overflow point.
        if overflowed {
            over.push((metric.name().to_owned(), points.saturating_sub(1)));
        }
    }
    if over.is_empty() {
        return over;
    }
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    let reported = reported.get_or_insert_with(HashSet::new);
    over.retain(|(name, _)| reported.insert(name.clone()));
    over
}

/// The number of points and whether one is the overflow point.
fn scan<T>(data: &MetricData<T>) -> (usize, bool) {
    fn any<'a>(mut attrs: impl Iterator<Item = &'a KeyValue>) -> bool {
        attrs.any(|kv| kv.key.as_str() == OVERFLOW)
    }
    match data {
        MetricData::Gauge(g) => (
            g.data_points().count(),
            g.data_points().any(|p| any(p.attributes())),
        ),
        MetricData::Sum(s) => (
            s.data_points().count(),
            s.data_points().any(|p| any(p.attributes())),
        ),
        MetricData::Histogram(h) => (
            h.data_points().count(),
            h.data_points().any(|p| any(p.attributes())),
        ),
        MetricData::ExponentialHistogram(h) => (
            h.data_points().count(),
            h.data_points().any(|p| any(p.attributes())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::metrics::reader::MetricReader;
    use opentelemetry_sdk::metrics::{Instrument, ManualReader, SdkMeterProvider, Stream};

    use super::newly_over;
    use crate::metric::shared_reader::SharedReader;

    #[test]
    fn a_metric_at_its_cardinality_limit_is_reported_once_with_the_limit() {
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let provider = SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .with_view(|i: &Instrument| {
                (i.name() == "overflow.test.orders")
                    .then(|| Stream::builder().with_cardinality_limit(3).build().ok())
                    .flatten()
            })
            .build();
        let counter = provider
            .meter("t")
            .u64_counter("overflow.test.orders")
            .build();
        let quiet = provider
            .meter("t")
            .u64_counter("overflow.test.quiet")
            .build();
        for i in 0..10 {
            counter.add(1, &[KeyValue::new("customer", i)]);
        }
        quiet.add(1, &[]);
        let mut rm = ResourceMetrics::default();
        reader.collect(&mut rm).unwrap();
        assert_eq!(newly_over(&rm), [("overflow.test.orders".to_owned(), 3)]);
        counter.add(1, &[KeyValue::new("customer", 99)]);
        reader.collect(&mut rm).unwrap();
        assert!(newly_over(&rm).is_empty(), "reported once");
    }
}
