//! Attributes by convention key, and which of them go on a family's
//! duration metric.

use opentelemetry::{Key, KeyValue};
use semtel_conventions::model::{AttributeKey, MetricDef, MetricDescriptor, RequirementLevel};
use semtel_conventions::value::ValueFor;

/// Whether the registry lists `key` for `metric`, and not as opt-in.
pub(crate) fn is_metric_attribute(metric: Option<&MetricDef>, key: &str) -> bool {
    metric
        .and_then(|m| m.attribute(key))
        .is_some_and(|a| a.requirement != RequirementLevel::OptIn)
}

/// The attributes of `attributes` that go on `metric` (see [`Operation`]).
#[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
pub(crate) fn metric_attributes(
    metric: MetricDescriptor,
    attributes: &[KeyValue],
) -> Vec<KeyValue> {
    let def = semtel_conventions::metric(metric.name);
    attributes
        .iter()
        .filter(|kv| is_metric_attribute(def, kv.key.as_str()))
        .cloned()
        .collect()
}

/// An OpenTelemetry attribute from a convention key and a value that fits it.
#[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
pub(crate) fn key_value<T: ?Sized, V: ValueFor<T> + ?Sized>(
    key: AttributeKey<T>,
    value: &V,
) -> Option<KeyValue> {
    key.value(value).map(|v| {
        KeyValue::new(
            Key::from_static_str(key.name()),
            crate::telemetry::otel_value(v),
        )
    })
}
