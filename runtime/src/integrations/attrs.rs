//! Attributes by convention key, and which of them go on a family's
//! duration metric.

use std::cell::RefCell;

use opentelemetry::{Key, KeyValue};
use semtel_conventions::model::{AttributeKey, MetricDef, MetricDescriptor, RequirementLevel};
use semtel_conventions::value::ValueFor;

/// Answers of the registry memoised by the addresses of the static names
/// asked about: an operation asks them for every attribute of every call,
/// and a pointer comparison is a fraction of a binary search over names.
/// Names are compared by address and length; the same name at another
/// address is only a second entry.
#[derive(Default)]
struct Memo {
    /// Metric name → definition.
    metrics: Vec<((usize, usize), Option<&'static MetricDef>)>,
    /// (definition, attribute key) → whether the metric takes the key.
    attributes: Vec<((usize, usize, usize), bool)>,
}

/// Entries a memo holds before it starts again (callers use a few dozen
/// static names).
const MEMO_CAP: usize = 256;

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

fn address(s: &'static str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// [`semtel_conventions::metric`], memoised per thread.
pub(crate) fn metric_def(name: &'static str) -> Option<&'static MetricDef> {
    let key = address(name);
    MEMO.try_with(|memo| {
        let mut memo = memo.try_borrow_mut().ok()?;
        if let Some((_, def)) = memo.metrics.iter().find(|(k, _)| *k == key) {
            return Some(*def);
        }
        let def = semtel_conventions::metric(name);
        if memo.metrics.len() >= MEMO_CAP {
            memo.metrics.clear();
        }
        memo.metrics.push((key, def));
        Some(def)
    })
    .ok()
    .flatten()
    .unwrap_or_else(|| semtel_conventions::metric(name))
}

/// [`is_metric_attribute`] for a static key, memoised per thread.
pub(crate) fn is_metric_key(metric: Option<&'static MetricDef>, key: &'static str) -> bool {
    let Some(def) = metric else {
        return false;
    };
    let (ptr, len) = address(key);
    let memo_key = (std::ptr::from_ref(def) as usize, ptr, len);
    MEMO.try_with(|memo| {
        let mut memo = memo.try_borrow_mut().ok()?;
        if let Some((_, yes)) = memo.attributes.iter().find(|(k, _)| *k == memo_key) {
            return Some(*yes);
        }
        let yes = is_metric_attribute(metric, key);
        if memo.attributes.len() >= MEMO_CAP {
            memo.attributes.clear();
        }
        memo.attributes.push((memo_key, yes));
        Some(yes)
    })
    .ok()
    .flatten()
    .unwrap_or_else(|| is_metric_attribute(metric, key))
}

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

/// A Rust name in snake case, for an `error.type` from an error code's
/// variant name: `UnknownTopicOrPartition` → `unknown_topic_or_partition`.
#[cfg(any(feature = "rdkafka", feature = "reqwest-middleware"))]
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(all(test, any(feature = "rdkafka", feature = "reqwest-middleware")))]
mod tests {
    use crate::integrations::attrs::snake_case;

    #[test]
    fn names_are_snake_case() {
        assert_eq!(snake_case("ConnectionRefused"), "connection_refused");
        assert_eq!(snake_case("TimedOut"), "timed_out");
        assert_eq!(
            snake_case("UnknownTopicOrPartition"),
            "unknown_topic_or_partition"
        );
    }
}
