//! Metrics: the latest cumulative state, printed as a table at shutdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use super::format::{BOLD, DIM, Paint, fmt_duration, fmt_float, fmt_value};
use super::sink::{ConsoleSink, lock};

/// The latest rendered state of each metric stream, keyed by (name, unit).
#[derive(Debug, Default)]
pub(crate) struct MetricsSnapshot {
    streams: BTreeMap<(String, String), Stream>,
}

/// One metric: its kind and, per rendered attribute set, its rendered cells.
#[derive(Debug, Default)]
struct Stream {
    kind: &'static str,
    points: BTreeMap<String, Vec<String>>,
}

impl MetricsSnapshot {
    /// Replaces each exported point with its value in `rm` (cumulative totals).
    pub(crate) fn update(&mut self, rm: &ResourceMetrics) {
        for metric in rm.scope_metrics().flat_map(|sm| sm.metrics()) {
            let id = (metric.name().to_owned(), metric.unit().to_owned());
            let seconds = metric.unit() == "s";
            let stream = self.streams.entry(id).or_default();
            match metric.data() {
                AggregatedMetrics::F64(data) => stream.absorb(data, seconds, |v| v),
                AggregatedMetrics::U64(data) => stream.absorb(data, seconds, |v| v as f64),
                AggregatedMetrics::I64(data) => stream.absorb(data, seconds, |v| v as f64),
            }
        }
    }
}

fn attr_key<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> String {
    let attr = |kv: &KeyValue| format!("{}={}", kv.key, fmt_value(&kv.value));
    let mut parts: Vec<String> = attrs.map(attr).collect();
    parts.sort();
    parts.join(" ")
}

impl Stream {
    /// Records `data` as rendered cells; `f` widens the value type (summary
    /// precision); values in `seconds` are shown as durations (`1.2ms`).
    fn absorb<T: Copy>(&mut self, data: &MetricData<T>, seconds: bool, f: impl Fn(T) -> f64) {
        // A value no `Duration` holds (an empty histogram's min and max
        // are the float bounds) is shown as a number.
        let measure = |x: f64| match Duration::try_from_secs_f64(x) {
            Ok(d) if seconds => fmt_duration(d),
            _ => fmt_float(x),
        };
        let num = |v: T| measure(f(v));
        let opt = |label: &str, v: Option<T>| v.map(|v| format!("{label}={}", num(v)));
        match data {
            MetricData::Gauge(g) => {
                self.kind = "gauge";
                for dp in g.data_points() {
                    let cells = vec![format!("last={}", num(dp.value()))];
                    self.points.insert(attr_key(dp.attributes()), cells);
                }
            }
            MetricData::Sum(s) => {
                self.kind = ["up-down counter", "counter"][usize::from(s.is_monotonic())];
                for dp in s.data_points() {
                    let cells = vec![format!("total={}", num(dp.value()))];
                    self.points.insert(attr_key(dp.attributes()), cells);
                }
            }
            MetricData::Histogram(h) => {
                self.kind = "histogram";
                for dp in h.data_points() {
                    let (count, sum) = (dp.count(), num(dp.sum()));
                    let mut cells = vec![format!("count={count}"), format!("sum={sum}")];
                    cells.extend(opt("min", dp.min()).into_iter().chain(opt("max", dp.max())));
                    let (bounds, counts): (Vec<f64>, Vec<u64>) =
                        (dp.bounds().collect(), dp.bucket_counts().collect());
                    let (min, max) = (dp.min().map(&f), dp.max().map(&f));
                    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
                        let v = quantile(&bounds, &counts, [min, max], q);
                        cells.extend(v.map(|v| format!("{label}≈{}", measure(v))));
                    }
                    self.points.insert(attr_key(dp.attributes()), cells);
                }
            }
            MetricData::ExponentialHistogram(h) => {
                self.kind = "histogram";
                for dp in h.data_points() {
                    let (count, sum) = (dp.count(), num(dp.sum()));
                    let mut cells = vec![format!("count={count}"), format!("sum={sum}")];
                    cells.extend(opt("min", dp.min()).into_iter().chain(opt("max", dp.max())));
                    self.points.insert(attr_key(dp.attributes()), cells);
                }
            }
        }
    }
}

/// Estimates quantile `q` from explicit buckets, interpolating linearly inside the
/// bucket that holds the rank and clamping to the recorded min and max.
pub(super) fn quantile(
    bounds: &[f64],
    counts: &[u64],
    range: [Option<f64>; 2],
    q: f64,
) -> Option<f64> {
    let [min, max] = range;
    let total: u64 = counts.iter().sum();
    let rank = q * total as f64;
    let mut seen = 0;
    for (i, &count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
        if ((seen + count) as f64) < rank {
            seen += count;
            continue;
        }
        let lower = match i {
            0 => min.or(bounds.first().copied())?,
            _ => bounds[i - 1],
        };
        let upper = bounds.get(i).copied().or(max).unwrap_or(lower);
        let lower = min.map_or(lower, |m| lower.max(m));
        let upper = max.map_or(upper, |m| upper.min(m)).max(lower);
        return Some(lower + (upper - lower) * (rank - seen as f64) / count as f64);
    }
    None
}

/// The summary table printed at shutdown.
pub(crate) fn render_metrics(snapshot: &MetricsSnapshot, color: bool) -> String {
    let p = Paint(color);
    if snapshot.streams.values().all(|s| s.points.is_empty()) {
        return "semtel metrics: no metrics recorded\n".to_owned();
    }
    let width = |s: &str| s.chars().count();
    let mut out = p.style(BOLD, "semtel metrics summary") + "\n";
    for ((name, unit), stream) in &snapshot.streams {
        if stream.points.is_empty() {
            continue;
        }
        let title = match unit.as_str() {
            "" => name.clone(),
            unit => format!("{name} ({unit})"),
        };
        let _ = write!(out, "  {}", p.style(BOLD, &title));
        p.push(&mut out, DIM, stream.kind);
        if let (1, Some(cells)) = (stream.points.len(), stream.points.get("")) {
            let _ = writeln!(out, "  {}", cells.join("  "));
            continue;
        }
        out.push('\n');
        let label = |k: &str| if k.is_empty() { "(no attributes)" } else { k }.to_owned();
        let mut label_w = 0;
        let mut col_w = Vec::new();
        for (attrs, cells) in &stream.points {
            label_w = label_w.max(width(&label(attrs)));
            col_w.resize(col_w.len().max(cells.len()), 0);
            for (w, c) in col_w.iter_mut().zip(cells) {
                *w = (*w).max(width(c));
            }
        }
        for (attrs, cells) in &stream.points {
            let mut line = format!("    {:<label_w$}", label(attrs));
            for (c, w) in cells.iter().zip(&col_w) {
                let _ = write!(line, "  {c:<w$}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

/// Keeps the latest cumulative snapshot and prints a summary once, at shutdown.
#[derive(Debug)]
pub(crate) struct ConsoleMetricExporter {
    sink: ConsoleSink,
    snapshot: Mutex<MetricsSnapshot>,
    printed: AtomicBool,
}

impl ConsoleMetricExporter {
    /// An exporter writing to `sink`.
    pub(crate) fn new(sink: ConsoleSink) -> Self {
        let (snapshot, printed) = (Mutex::default(), AtomicBool::new(false));
        Self {
            sink,
            snapshot,
            printed,
        }
    }
}

impl PushMetricExporter for ConsoleMetricExporter {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        lock(&self.snapshot).update(metrics);
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if !self.printed.swap(true, Ordering::SeqCst) {
            let block = render_metrics(&lock(&self.snapshot), self.sink.color());
            self.sink.write_block(&block);
        }
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}
