//! The names OTLP metrics and attributes get in Prometheus and Mimir.
//!
//! Prometheus's OTLP receiver, Mimir and Grafana Cloud translate an OTLP
//! metric's name, unit and type into a Prometheus name with the rules of
//! Prometheus's `otlptranslator` (strategy `UnderscoreEscapingWithSuffixes`,
//! their default): the name's dots become underscores, the unit becomes a
//! suffix (`s` gives `_seconds`, `By` gives `_bytes`, `{record}` gives
//! nothing), monotonic sums get `_total` and gauges of unit `1` get `_ratio`.
//! Histograms then add `_bucket`, `_sum` and `_count`. Attributes become
//! labels with every character other than `[a-zA-Z0-9]` replaced by `_`.
//!
//! The rules and dashboards semtel generates and a Prometheus exporter that
//! serves the same names use these functions, so that one set of queries works
//! whether metrics are pushed over OTLP or scraped.
//!
//! ```
//! use semtel_conventions::prometheus::{label_name, metric_name, MetricType};
//!
//! assert_eq!(
//!     metric_name("pipeline.stage.duration", "s", MetricType::Histogram),
//!     "pipeline_stage_duration_seconds"
//! );
//! assert_eq!(
//!     metric_name("pipeline.records", "{record}", MetricType::MonotonicCounter),
//!     "pipeline_records_total"
//! );
//! // A unit already in the name is not repeated.
//! assert_eq!(
//!     metric_name("pipeline.bytes", "By", MetricType::MonotonicCounter),
//!     "pipeline_bytes_total"
//! );
//! assert_eq!(label_name("pipeline.stage.name").as_deref(), Some("pipeline_stage_name"));
//! ```

use crate::model::{Instrument, MetricDef};

/// The kind of an OTLP metric, as far as its Prometheus name depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonic sum (counter): gets `_total`.
    MonotonicCounter,
    /// A non-monotonic sum (up-down counter): a Prometheus gauge, no suffix.
    NonMonotonicCounter,
    /// A gauge: gets `_ratio` when its unit is `1`.
    Gauge,
    /// A histogram: the base name of `_bucket`, `_sum` and `_count`.
    Histogram,
}

impl MetricType {
    /// The OTLP metric type an instrument records (observable instruments
    /// record the same types as their synchronous counterparts).
    #[must_use]
    pub const fn of(instrument: Instrument) -> Self {
        match instrument {
            Instrument::Counter => Self::MonotonicCounter,
            Instrument::UpDownCounter => Self::NonMonotonicCounter,
            Instrument::Gauge => Self::Gauge,
            Instrument::Histogram => Self::Histogram,
        }
    }
}

/// The Prometheus name of a registry metric (for a histogram, the base of
/// its `_bucket`, `_sum` and `_count` series).
///
/// ```
/// let def = semtel_conventions::metric("pipeline.stage.failures").unwrap();
/// assert_eq!(
///     semtel_conventions::prometheus::metric_name_of(def),
///     "pipeline_stage_failures_total"
/// );
/// ```
#[must_use]
pub fn metric_name_of(def: &MetricDef) -> String {
    metric_name(def.name, def.unit, MetricType::of(def.instrument))
}

/// The Prometheus name of an OTLP metric with this name, UCUM unit and type.
///
/// Follows the translator's rules exactly, including its quirks: a name part
/// equal to the unit suffix is not repeated (`system.io` in `By` becomes
/// `system_io_bytes`, `pipeline.bytes` stays `pipeline_bytes`), a `total`
/// part of a counter's name moves to the end, and a name that starts with a
/// digit gets a leading `_`.
#[must_use]
pub fn metric_name(name: &str, unit: &str, ty: MetricType) -> String {
    let mut tokens: Vec<&str> = name
        .split(|c: char| !is_metric_char(c))
        .filter(|t| !t.is_empty())
        .collect();
    let (main, per) = unit_suffixes(unit);
    let mut main = clean_unit(&main);
    let mut per = clean_unit(&per);
    if tokens.contains(&main.as_str()) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if per.ends_with('_') {
            per.pop();
        }
        if tokens.contains(&per.as_str()) {
            per.clear();
        }
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(&main);
    }
    if !per.is_empty() {
        tokens.push(&per);
    }
    if ty == MetricType::MonotonicCounter {
        tokens.retain(|t| *t != "total");
        tokens.push("total");
    }
    if unit == "1" && ty == MetricType::Gauge {
        tokens.retain(|t| *t != "ratio");
        tokens.push("ratio");
    }
    let joined = tokens.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// The Prometheus label an attribute becomes: every run of characters other
/// than `[a-zA-Z0-9]` replaced by one `_`, `key_` in front of a leading digit,
/// a reserved `__name__`-style name kept reserved. `None` for a name that
/// cannot be a label (empty, or only underscores after translation).
#[must_use]
pub fn label_name(attribute: &str) -> Option<String> {
    if attribute.is_empty() {
        return None;
    }
    let reserved = attribute.len() >= 4 && attribute.starts_with("__") && attribute.ends_with("__");
    let inner = if reserved {
        &attribute[2..attribute.len() - 2]
    } else {
        attribute
    };
    let mut out = String::with_capacity(inner.len() + 4);
    let mut underscore = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            underscore = false;
        } else if !underscore {
            out.push('_');
            underscore = true;
        }
    }
    if reserved {
        out = format!("__{out}__");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    (!out.is_empty() && !out.chars().all(|c| c == '_')).then_some(out)
}

/// The Prometheus spelling of a UCUM unit on its own (`s` gives `seconds`,
/// `By/s` gives `bytes_per_second`, `{record}` and `1` give nothing), as
/// Prometheus writes it in `# UNIT` metadata.
#[must_use]
pub fn unit_name(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = (clean_unit(&main), clean_unit(&per));
    let joined = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    joined.trim_matches('_').to_owned()
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// The main and `per_` suffixes of a unit, before cleaning.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let main = main.trim();
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        unit_word(main).unwrap_or(main).to_owned()
    };
    let per = match per.map(str::trim) {
        Some(p) if !p.is_empty() && !p.contains(['{', '}']) => {
            format!("per_{}", per_unit_word(p).unwrap_or(p))
        }
        _ => String::new(),
    };
    (main, per)
}

/// Invalid characters to `_`, runs of `_` to one, no leading `_`.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_metric_char(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    match out.strip_prefix('_') {
        Some(rest) => rest.to_owned(),
        None => out,
    }
}

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricType::{Gauge, Histogram, MonotonicCounter, NonMonotonicCounter};

    #[test]
    fn names_as_the_translator_gives_them() {
        let cases = [
            // The translator's own examples.
            (
                "http.server.request.duration",
                "s",
                Histogram,
                "http_server_request_duration_seconds",
            ),
            (
                "requests.count",
                "1",
                MonotonicCounter,
                "requests_count_total",
            ),
            ("memory.usage", "By", Gauge, "memory_usage_bytes"),
            ("system.io", "By", MonotonicCounter, "system_io_bytes_total"),
            (
                "network.transmit",
                "By/s",
                Gauge,
                "network_transmit_bytes_per_second",
            ),
            ("cpu.utilization", "1", Gauge, "cpu_utilization_ratio"),
            (
                "cpu.utilization",
                "1",
                NonMonotonicCounter,
                "cpu_utilization",
            ),
            ("foo.total", "", MonotonicCounter, "foo_total"),
            ("total.foo", "", MonotonicCounter, "foo_total"),
            ("disk.ratio.used", "1", Gauge, "disk_used_ratio"),
            (
                "2xx.responses",
                "",
                MonotonicCounter,
                "_2xx_responses_total",
            ),
            ("a..b__c", "", Gauge, "a_b_c"),
            ("unknown.unit", "widgets", Gauge, "unknown_unit_widgets"),
            ("braced", "{packet}/s", Gauge, "braced_per_second"),
            ("per.only", "{x}/{y}", Gauge, "per_only"),
            ("latency", "ms", Histogram, "latency_milliseconds"),
            // semtel's own.
            (
                "pipeline.stage.duration",
                "s",
                Histogram,
                "pipeline_stage_duration_seconds",
            ),
            (
                "pipeline.records",
                "{record}",
                MonotonicCounter,
                "pipeline_records_total",
            ),
            (
                "pipeline.bytes",
                "By",
                MonotonicCounter,
                "pipeline_bytes_total",
            ),
            (
                "pipeline.stage.failures",
                "{failure}",
                MonotonicCounter,
                "pipeline_stage_failures_total",
            ),
            (
                "pipeline.stage.active",
                "{execution}",
                NonMonotonicCounter,
                "pipeline_stage_active",
            ),
            ("pipeline.lag", "s", Gauge, "pipeline_lag_seconds"),
            ("pipeline.backlog", "{record}", Gauge, "pipeline_backlog"),
            (
                "pipeline.dead_letters",
                "{record}",
                MonotonicCounter,
                "pipeline_dead_letters_total",
            ),
            (
                "otel.sdk.exporter.metric_data_point.exported",
                "{data_point}",
                MonotonicCounter,
                "otel_sdk_exporter_metric_data_point_exported_total",
            ),
            (
                "otel.sdk.processor.span.queue.size",
                "{span}",
                NonMonotonicCounter,
                "otel_sdk_processor_span_queue_size",
            ),
        ];
        for (name, unit, ty, want) in cases {
            assert_eq!(metric_name(name, unit, ty), want, "{name} [{unit}] {ty:?}");
        }
    }

    #[test]
    fn labels_as_the_translator_gives_them() {
        assert_eq!(label_name("error.type").as_deref(), Some("error_type"));
        assert_eq!(
            label_name("http.request.header.content-type").as_deref(),
            Some("http_request_header_content_type")
        );
        assert_eq!(label_name("a..b").as_deref(), Some("a_b"));
        assert_eq!(label_name("2xx").as_deref(), Some("key_2xx"));
        assert_eq!(label_name("__name__").as_deref(), Some("__name__"));
        assert_eq!(label_name("ünïcode").as_deref(), Some("_n_code"));
        assert_eq!(label_name(""), None);
        assert_eq!(label_name("..."), None);
    }

    #[test]
    fn unit_names() {
        assert_eq!(unit_name("s"), "seconds");
        assert_eq!(unit_name("By/s"), "bytes_per_second");
        assert_eq!(unit_name("{record}"), "");
        assert_eq!(unit_name("1"), "");
        assert_eq!(unit_name("%"), "percent");
    }

    #[test]
    fn every_official_and_pipeline_metric_gets_a_valid_name() {
        for def in crate::metrics() {
            let name = metric_name_of(def);
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                    && !name.starts_with(|c: char| c.is_ascii_digit()),
                "{} gives {name:?}",
                def.name
            );
        }
    }
}
