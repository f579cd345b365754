//! [`LiveCheck`]: everything in a [`Snapshot`] checked against the
//! semantic-convention registries, as Weaver's `live-check` checks what
//! reaches a collector.

use std::collections::BTreeSet;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data};
use semtel_conventions::model::{
    AttributeDef, AttributeType, EnumValue, Instrument, MetricDef, Registry, RequirementLevel,
    ValueType,
};

use super::snapshot::Snapshot;

/// One way something in a snapshot differs from the registries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    /// Where it was seen: `span "load"`, `metric pipeline.records`,
    /// `log record`, `resource`.
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

/// What a [`LiveCheck`] found, and what it checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveReport {
    /// What differs from the registries, sorted, without repeats.
    pub findings: Vec<Finding>,
    /// The attribute names that were checked and found in a registry.
    pub checked_attributes: BTreeSet<String>,
    /// The metric names that were checked and found in a registry.
    pub checked_metrics: BTreeSet<String>,
}

impl LiveReport {
    /// Whether nothing differs.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for LiveReport {
    /// Every finding on a line of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// Checks every attribute and metric of a [`Snapshot`] against the official
/// registry, semtel's `pipeline.` registry and the registries you add:
///
/// - every resource, span, event, link, log record and metric point
///   attribute must be in a registry, with the registry's value type (an
///   enum's members' type);
/// - every metric must be in a registry, with its unit and instrument, its
///   points may carry only the metric's attributes, and every attribute the
///   registry makes `required` on it.
///
/// The registries say nothing of span names or of which attributes a span
/// must have, so neither is checked.
///
/// ```
/// # use semtel::testing::Snapshot;
/// # let snapshot = Snapshot::default();
/// let report = snapshot.live_check().ignore("order.").assert_clean();
/// assert!(report.checked_metrics.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct LiveCheck<'a> {
    snapshot: &'a Snapshot,
    registries: Vec<&'static Registry>,
    ignored: Vec<String>,
}

impl Snapshot {
    /// A check of everything in this snapshot against the semantic
    /// conventions (see [`LiveCheck`]).
    #[must_use]
    pub fn live_check(&self) -> LiveCheck<'_> {
        LiveCheck {
            snapshot: self,
            registries: Vec::new(),
            ignored: Vec::new(),
        }
    }
}

impl<'a> LiveCheck<'a> {
    /// Also accepts the names of `registry`: your own conventions, the
    /// `REGISTRY` that `semtel_conventions::codegen` generates.
    #[must_use]
    pub fn registry(mut self, registry: &'static Registry) -> Self {
        self.registries.push(registry);
        self
    }

    /// Leaves the attribute `key` out of the check, or every key under a
    /// prefix ending in `.` (free-form fields of log records, say).
    #[must_use]
    pub fn ignore(mut self, key: &str) -> Self {
        self.ignored.push(key.to_owned());
        self
    }

    /// Runs the check.
    #[must_use]
    pub fn run(&self) -> LiveReport {
        let mut run = Run {
            check: self,
            findings: BTreeSet::new(),
            report: LiveReport::default(),
        };
        let s = self.snapshot;
        for rs in s.trace_requests().iter().flat_map(|r| &r.resource_spans) {
            if let Some(res) = &rs.resource {
                run.attrs("resource", &res.attributes);
            }
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let place = format!("span {:?}", span.name);
                run.attrs(&place, &span.attributes);
                for event in &span.events {
                    let place = format!("event {:?} of span {:?}", event.name, span.name);
                    run.attrs(&place, &event.attributes);
                }
                for link in &span.links {
                    run.attrs(&format!("link of span {:?}", span.name), &link.attributes);
                }
            }
        }
        for rl in s.log_requests().iter().flat_map(|r| &r.resource_logs) {
            if let Some(res) = &rl.resource {
                run.attrs("resource", &res.attributes);
            }
            for log in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                run.attrs("log record", &log.attributes);
            }
        }
        for rm in s.metric_requests().iter().flat_map(|r| &r.resource_metrics) {
            if let Some(res) = &rm.resource {
                run.attrs("resource", &res.attributes);
            }
            for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                run.metric(metric);
            }
        }
        let mut report = run.report;
        report.findings = run.findings.into_iter().collect();
        report
    }

    /// Runs the check and asserts that nothing differs.
    ///
    /// # Panics
    /// When something does, with every finding on a line of its own.
    #[allow(clippy::must_use_candidate)] // the report is there when wanted
    pub fn assert_clean(&self) -> LiveReport {
        let report = self.run();
        assert!(report.is_clean(), "not as the registries say:\n{report}");
        report
    }

    fn attribute(&self, key: &str) -> Option<&'static AttributeDef> {
        semtel_conventions::attribute_for_key(key).or_else(|| {
            self.registries
                .iter()
                .find_map(|r| r.attribute_for_key(key))
        })
    }

    fn metric_def(&self, name: &str) -> Option<&'static MetricDef> {
        semtel_conventions::metric(name)
            .or_else(|| self.registries.iter().find_map(|r| r.metric(name)))
    }

    fn is_ignored(&self, key: &str) -> bool {
        self.ignored
            .iter()
            .any(|i| key == i || (i.ends_with('.') && key.starts_with(i.as_str())))
    }
}

/// One run's state.
struct Run<'c, 'a> {
    check: &'c LiveCheck<'a>,
    findings: BTreeSet<Finding>,
    report: LiveReport,
}

impl Run<'_, '_> {
    fn find(&mut self, place: &str, problem: String) {
        self.findings.insert(Finding {
            place: place.to_owned(),
            problem,
        });
    }

    fn metric(&mut self, metric: &Metric) {
        let place = format!("metric {}", metric.name);
        let Some(def) = self.check.metric_def(&metric.name) else {
            let hint = semtel_conventions::suggest_metric(&metric.name)
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_default();
            return self.find(&place, format!("not in the registry{hint}"));
        };
        self.report.checked_metrics.insert(metric.name.clone());
        if def.unit != metric.unit {
            let problem = format!("unit `{}`, the registry says `{}`", metric.unit, def.unit);
            self.find(&place, problem);
        }
        let attrs = |points: &mut dyn Iterator<Item = &[KeyValue]>| -> Vec<Vec<KeyValue>> {
            points.map(<[KeyValue]>::to_vec).collect()
        };
        let (arrived, points) = match &metric.data {
            Some(Data::Histogram(h)) => (
                Instrument::Histogram,
                attrs(&mut h.data_points.iter().map(|p| p.attributes.as_slice())),
            ),
            Some(Data::Sum(s)) => (
                if s.is_monotonic {
                    Instrument::Counter
                } else {
                    Instrument::UpDownCounter
                },
                attrs(&mut s.data_points.iter().map(|p| p.attributes.as_slice())),
            ),
            Some(Data::Gauge(g)) => (
                Instrument::Gauge,
                attrs(&mut g.data_points.iter().map(|p| p.attributes.as_slice())),
            ),
            other => return self.find(&place, format!("unexpected data {other:?}")),
        };
        if arrived != def.instrument {
            let problem = format!(
                "arrived as a {arrived}, the registry says {}",
                def.instrument
            );
            self.find(&place, problem);
        }
        for attrs in points {
            self.attrs(&place, &attrs);
            for kv in &attrs {
                if def.attribute(&kv.key).is_none() && !self.check.is_ignored(&kv.key) {
                    let problem = format!("attribute `{}` is not one of this metric's", kv.key);
                    self.find(&place, problem);
                }
            }
            let required = def
                .attributes
                .iter()
                .filter(|a| a.requirement == RequirementLevel::Required);
            for a in required {
                if !attrs.iter().any(|kv| kv.key == a.name) {
                    let problem = format!("required attribute `{}` is missing", a.name);
                    self.find(&place, problem);
                }
            }
        }
    }

    fn attrs(&mut self, place: &str, attrs: &[KeyValue]) {
        for kv in attrs {
            if self.check.is_ignored(&kv.key) {
                continue;
            }
            let Some(def) = self.check.attribute(&kv.key) else {
                let hint = semtel_conventions::suggest_attribute(&kv.key)
                    .map(|s| format!(", did you mean `{s}`?"))
                    .unwrap_or_default();
                let problem = format!("attribute `{}` is not in the registry{hint}", kv.key);
                self.find(place, problem);
                continue;
            };
            self.report.checked_attributes.insert(kv.key.clone());
            let expected = match def.ty {
                AttributeType::Value(t) | AttributeType::Template(t) => t,
                AttributeType::Enum(members) => {
                    if members.iter().all(|m| matches!(m.value, EnumValue::Str(_))) {
                        ValueType::String
                    } else {
                        ValueType::Int
                    }
                }
            };
            let arrived = value_type(kv.value.as_ref());
            if expected != ValueType::Any && arrived != Some(expected) {
                let problem = format!(
                    "attribute `{}` arrived as {}, the registry says {expected}",
                    kv.key,
                    arrived.map_or("nothing", ValueType::as_str)
                );
                self.find(place, problem);
            }
        }
    }
}

fn value_type(value: Option<&AnyValue>) -> Option<ValueType> {
    Some(match value?.value.as_ref()? {
        Value::StringValue(_) => ValueType::String,
        Value::IntValue(_) => ValueType::Int,
        Value::DoubleValue(_) => ValueType::Double,
        Value::BoolValue(_) => ValueType::Boolean,
        Value::ArrayValue(a) => match a.values.first().and_then(|v| v.value.as_ref()) {
            Some(Value::IntValue(_)) => ValueType::IntArray,
            Some(Value::DoubleValue(_)) => ValueType::DoubleArray,
            Some(Value::BoolValue(_)) => ValueType::BooleanArray,
            _ => ValueType::StringArray,
        },
        _ => return None,
    })
}
