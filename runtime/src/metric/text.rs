//! A collection in the Prometheus text formats: OpenMetrics 1.0 (with
//! exemplars) or the classic 0.0.4 format, chosen by the scraper's
//! `Accept` header.
//!
//! Written by hand over the SDK's `ResourceMetrics`: the `prometheus` and
//! `prometheus-client` crates keep registries of their own (a second
//! aggregation), and opentelemetry-prometheus is no longer released for
//! the SDK's current versions; the formats are a few lines each. Names and
//! labels are those Prometheus and Mimir give the same metrics over OTLP
//! ([`semtel_conventions::prometheus`]), so queries work on both paths.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Histogram, Metric, MetricData, ResourceMetrics,
};
use semtel_conventions::prometheus::{MetricType, label_name, metric_name, unit_name};

use super::exemplar::{Exemplar, Snapshot};

/// The exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenMetrics,
    Classic,
}

impl Format {
    /// What a request's `Accept` header asks for (OpenMetrics when it lists
    /// it: Prometheus does when it stores exemplars).
    pub(crate) fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Classic,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// `rm` in `format`, with the exemplars of `exemplars` on semtel's stage
/// metrics (OpenMetrics only: the classic format has none).
pub(crate) fn render(rm: &ResourceMetrics, exemplars: &Snapshot, format: Format) -> String {
    let mut out = String::with_capacity(4096);
    target_info(&mut out, rm, format);
    let mut seen = HashSet::new();
    for scope in rm.scope_metrics() {
        let semtel = scope.scope().name() == "semtel";
        for metric in scope.metrics() {
            let exemplars = semtel.then_some(exemplars);
            write_metric(&mut out, metric, exemplars, format, &mut seen);
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// Resource attributes as the labels of `target_info`, as Prometheus's
/// OTLP receiver and the SDK exporters write them.
fn target_info(out: &mut String, rm: &ResourceMetrics, format: Format) {
    let labels = labels(rm.resource().iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // An OpenMetrics info family is named without `_info`, its sample with.
    let (family, kind) = match format {
        Format::OpenMetrics => ("target", "info"),
        Format::Classic => ("target_info", "gauge"),
    };
    let _ = writeln!(out, "# TYPE {family} {kind}");
    let _ = writeln!(out, "# HELP {family} Target metadata");
    let _ = writeln!(out, "target_info{labels} 1");
}

/// A number as Prometheus reads it.
trait Number: Copy {
    fn text(self) -> String;
}

impl Number for f64 {
    fn text(self) -> String {
        float(self)
    }
}

impl Number for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Number for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn write_metric(
    out: &mut String,
    metric: &Metric,
    exemplars: Option<&Snapshot>,
    format: Format,
    seen: &mut HashSet<String>,
) {
    match metric.data() {
        AggregatedMetrics::F64(d) => write_data(out, metric, d, exemplars, format, seen),
        AggregatedMetrics::U64(d) => write_data(out, metric, d, exemplars, format, seen),
        AggregatedMetrics::I64(d) => write_data(out, metric, d, exemplars, format, seen),
    }
}

fn write_data<T: Number>(
    out: &mut String,
    metric: &Metric,
    data: &MetricData<T>,
    exemplars: Option<&Snapshot>,
    format: Format,
    seen: &mut HashSet<String>,
) {
    let ty = match data {
        MetricData::Sum(s) if s.is_monotonic() => MetricType::MonotonicCounter,
        MetricData::Sum(_) => MetricType::NonMonotonicCounter,
        MetricData::Gauge(_) => MetricType::Gauge,
        MetricData::Histogram(_) => MetricType::Histogram,
        // No text form (native histograms are protobuf only).
        MetricData::ExponentialHistogram(_) => return,
    };
    let name = metric_name(metric.name(), metric.unit(), ty);
    // In OpenMetrics a counter's family drops `_total`, its sample has it.
    let family = match (format, ty) {
        (Format::OpenMetrics, MetricType::MonotonicCounter) => {
            name.strip_suffix("_total").unwrap_or(&name).to_owned()
        }
        _ => name.clone(),
    };
    // Two metrics with one name (from two scopes) would make the scrape
    // invalid: the first one wins.
    if !seen.insert(family.clone()) {
        return;
    }
    let kind = match ty {
        MetricType::MonotonicCounter => "counter",
        MetricType::Histogram => "histogram",
        _ => "gauge",
    };
    let _ = writeln!(out, "# TYPE {family} {kind}");
    let unit = unit_name(metric.unit());
    if format == Format::OpenMetrics && !unit.is_empty() && family.ends_with(&format!("_{unit}")) {
        let _ = writeln!(out, "# UNIT {family} {unit}");
    }
    if !metric.description().is_empty() {
        let _ = writeln!(out, "# HELP {family} {}", escape_help(metric.description()));
    }
    let find = |attrs: &[&KeyValue]| -> Vec<Exemplar> {
        match (exemplars, format) {
            (Some(snap), Format::OpenMetrics) => {
                snap.get(metric.name(), attrs.iter().copied()).to_vec()
            }
            _ => Vec::new(),
        }
    };
    match data {
        MetricData::Sum(s) => {
            for p in s.data_points() {
                let attrs: Vec<&KeyValue> = p.attributes().collect();
                let latest = find(&attrs).into_iter().max_by_key(|e| e.time);
                sample(out, &name, &attrs, None, &p.value().text(), latest);
            }
        }
        MetricData::Gauge(g) => {
            for p in g.data_points() {
                let attrs: Vec<&KeyValue> = p.attributes().collect();
                sample(out, &name, &attrs, None, &p.value().text(), None);
            }
        }
        MetricData::Histogram(h) => histogram(out, &name, h, &find),
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn histogram<T: Number>(
    out: &mut String,
    name: &str,
    h: &Histogram<T>,
    find: &dyn Fn(&[&KeyValue]) -> Vec<Exemplar>,
) {
    let bucket = format!("{name}_bucket");
    for p in h.data_points() {
        let attrs: Vec<&KeyValue> = p.attributes().collect();
        let mut exemplars = find(&attrs);
        let bounds: Vec<f64> = p.bounds().collect();
        let mut cumulative = 0u64;
        let mut lower = f64::NEG_INFINITY;
        for (i, count) in p.bucket_counts().enumerate() {
            cumulative += count;
            let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
            // The latest exemplar that falls in this bucket.
            let here = exemplars
                .iter()
                .filter(|e| e.value > lower && e.value <= upper)
                .max_by_key(|e| e.time)
                .copied();
            exemplars.retain(|e| !(e.value > lower && e.value <= upper));
            let le = float(upper);
            sample(
                out,
                &bucket,
                &attrs,
                Some(("le", &le)),
                &cumulative.to_string(),
                here,
            );
            lower = upper;
        }
        sample(
            out,
            &format!("{name}_sum"),
            &attrs,
            None,
            &p.sum().text(),
            None,
        );
        sample(
            out,
            &format!("{name}_count"),
            &attrs,
            None,
            &p.count().to_string(),
            None,
        );
    }
}

fn sample(
    out: &mut String,
    name: &str,
    attrs: &[&KeyValue],
    extra: Option<(&str, &str)>,
    value: &str,
    exemplar: Option<Exemplar>,
) {
    let pairs = attrs.iter().map(|kv| (kv.key.as_str(), kv.value.as_str()));
    let mut labels = labels(pairs);
    if let Some((k, v)) = extra {
        let pair = format!("{k}=\"{}\"", escape(v));
        labels = if labels.is_empty() {
            format!("{{{pair}}}")
        } else {
            format!("{},{pair}}}", &labels[..labels.len() - 1])
        };
    }
    let _ = write!(out, "{name}{labels} {value}");
    if let Some(e) = exemplar {
        let value = if e.integer {
            format!("{}", e.value as u64)
        } else {
            float(e.value)
        };
        let _ = write!(
            out,
            " # {{trace_id=\"{:032x}\",span_id=\"{:016x}\"}} {value} {}.{:09}",
            e.trace_id,
            e.span_id,
            e.time / 1_000_000_000,
            e.time % 1_000_000_000
        );
    }
    out.push('\n');
}

/// `{a="1",b="2"}` (empty for no labels): attribute keys translated as
/// Prometheus does, the values of keys that translate alike joined by `;`
/// in key order.
fn labels<'a, V: AsRef<str>>(pairs: impl Iterator<Item = (&'a str, V)>) -> String {
    let mut by_label: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for (k, v) in pairs {
        if let Some(label) = label_name(k) {
            by_label
                .entry(label)
                .or_default()
                .push((k, v.as_ref().to_owned()));
        }
    }
    if by_label.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (label, mut values)) in by_label.into_iter().enumerate() {
        values.sort();
        let joined: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{label}=\"{}\"", escape(&joined.join(";")));
    }
    out.push('}');
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_translated_sorted_and_escaped() {
        let pairs = [
            ("pipeline.stage.name", "a\"b"),
            ("error.type", "x\\y"),
            ("a.b", "1"),
            ("a_b", "2"),
        ];
        assert_eq!(
            labels(pairs.into_iter()),
            r#"{a_b="1;2",error_type="x\\y",pipeline_stage_name="a\"b"}"#
        );
    }

    #[test]
    fn accept_chooses_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Classic);
        assert_eq!(Format::from_accept(None), Format::Classic);
    }
}
