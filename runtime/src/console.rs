//! Console exporters: traces, logs and metrics rendered for a person on a
//! terminal when no OTLP collector is configured.
//!
//! Rendering is pure (data in, `String` out). The exporters only buffer, call
//! a renderer and write whole blocks through one shared [`ConsoleSink`], so
//! output from different signals never interleaves mid-line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::AnyValue;
use opentelemetry::trace::{Event, SpanId, SpanKind, Status, TraceId};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Longest attribute value shown before it is cut with `…`.
const MAX_VALUE_CHARS: usize = 80;
/// Most spans held while waiting for their local root; later ones are dropped and counted.
const MAX_BUFFERED_SPANS: usize = 10_000;
/// Width of the right-aligned duration column in span trees.
const DURATION_WIDTH: usize = 8;

/// The one sentence the caller prints once when falling back to the console.
pub(crate) fn collector_hint() -> &'static str {
    "semtel: no OTLP endpoint configured, rendering telemetry here; set \
     OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 (or \
     OTEL_TRACES_EXPORTER/OTEL_METRICS_EXPORTER/OTEL_LOGS_EXPORTER=otlp) to export to a collector"
}

/// Whether to colour output: only on a terminal, and never when `NO_COLOR` is set
/// to a non-empty value (<https://no-color.org>).
pub(crate) fn use_color(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

// ---------------------------------------------------------------------------
// Sink

/// A writer shared by the three console exporters; every write is a whole block.
#[derive(Clone)]
pub(crate) struct ConsoleSink {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    color: bool,
    write_errors: Arc<AtomicU64>,
}

impl fmt::Debug for ConsoleSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSink")
            .field("color", &self.color)
            .field("write_errors", &self.write_errors())
            .finish_non_exhaustive()
    }
}

impl ConsoleSink {
    /// A sink over any writer; `color` turns ANSI colours on.
    pub(crate) fn new(writer: Box<dyn Write + Send>, color: bool) -> Self {
        Self {
            out: Arc::new(Mutex::new(writer)),
            color,
            write_errors: Arc::default(),
        }
    }

    /// A sink over stderr, coloured when stderr is a terminal and `NO_COLOR` is unset.
    pub(crate) fn stderr() -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        let color = use_color(std::io::stderr().is_terminal(), no_color.as_deref());
        Self::new(Box::new(std::io::stderr()), color)
    }

    /// Whether this sink renders ANSI colours.
    pub(crate) fn color(&self) -> bool {
        self.color
    }

    /// Writes `block` (complete lines) under the lock; failures are counted, never raised.
    pub(crate) fn write_block(&self, block: &str) {
        if block.is_empty() {
            return;
        }
        let mut out = lock(&self.out);
        let written = out.write_all(block.as_bytes()).and_then(|()| out.flush());
        if written.is_err() {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many blocks failed to write.
    pub(crate) fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Shared formatting helpers

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const BLUE: &str = "34";
const CYAN: &str = "36";
const BOLD: &str = "1";
const DIM: &str = "2";

/// Wraps text in an ANSI style when colour is on.
#[derive(Clone, Copy, Debug)]
struct Paint(bool);

impl Paint {
    fn style(self, code: &str, text: &str) -> String {
        match self.0 && !code.is_empty() && !text.is_empty() {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_owned(),
        }
    }

    /// Appends a space and `text` in `code`.
    fn push(self, line: &mut String, code: &str, text: &str) {
        line.push(' ');
        line.push_str(&self.style(code, text));
    }

    /// Appends ` key=value` with the key dimmed.
    fn attr(self, line: &mut String, key: &str, value: &str) {
        self.push(line, DIM, &format!("{key}="));
        line.push_str(value);
    }
}

/// Cuts `s` to [`MAX_VALUE_CHARS`] characters, ending with `…` when cut.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS - 1) {
        Some((end, _)) if s[end..].chars().nth(1).is_some() => format!("{}…", &s[..end]),
        _ => s.to_owned(),
    }
}

/// Quotes (with escapes) only strings that would be ambiguous bare.
fn quote_if_needed(s: &str) -> String {
    let plain = |c: char| !c.is_whitespace() && !matches!(c, '"' | '=');
    match !s.is_empty() && s.chars().all(plain) {
        true => s.to_owned(),
        false => format!("{s:?}"),
    }
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote_if_needed(&truncate(s.as_str())),
        other => truncate(&other.to_string()),
    }
}

fn fmt_any(v: &AnyValue) -> String {
    let joined = |open, mut items: Vec<String>, close| {
        if open == "{" {
            items.sort();
        }
        truncate(&format!("{open}{}{close}", items.join(",")))
    };
    match v {
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::String(s) => quote_if_needed(&truncate(s.as_str())),
        AnyValue::Bytes(b) => truncate(&format!("0x{}", hex(b))),
        AnyValue::ListAny(items) => joined("[", items.iter().map(fmt_any).collect(), "]"),
        AnyValue::Map(map) => {
            let entries = map.iter().map(|(k, v)| format!("{k}:{}", fmt_any(v)));
            joined("{", entries.collect(), "}")
        }
        other => truncate(&format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut acc, b| {
        let _ = write!(acc, "{b:02x}");
        acc
    })
}

/// `HH:MM:SS.mmm` in UTC.
fn clock(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    let (h, m, s, ms) = (s / 3600, s / 60 % 60, s % 60, d.subsec_millis());
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        1_000_000..60_000_000 => format!("{:.2}s", us as f64 / 1e6),
        _ => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
    }
}

/// A number with at most three decimals and no trailing zeros.
fn fmt_float(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The first 8 hex digits of a trace or span id.
fn short(id: impl fmt::Display) -> String {
    id.to_string()[..8].to_owned()
}

// ---------------------------------------------------------------------------
// Traces

type SpanKey = (TraceId, SpanId);

fn key(s: &SpanData, id: SpanId) -> SpanKey {
    (s.span_context.trace_id(), id)
}

fn id_of(s: &SpanData) -> SpanKey {
    key(s, s.span_context.span_id())
}

/// Renders every tree in `spans`, one line per span. Roots are spans whose
/// parent is not in `spans` (or is remote); children are sorted by start time.
pub(crate) fn render_spans(spans: &[SpanData], color: bool) -> String {
    let ids: HashSet<SpanKey> = spans.iter().map(id_of).collect();
    let mut tree = Tree {
        p: Paint(color),
        children: HashMap::new(),
        out: String::new(),
    };
    let mut roots = Vec::new();
    for s in spans {
        let parent = key(s, s.parent_span_id);
        match !s.parent_span_is_remote && ids.contains(&parent) {
            true => tree.children.entry(parent).or_default().push(s),
            false => roots.push(s),
        }
    }
    for list in tree.children.values_mut() {
        list.sort_by(|a, b| (a.start_time, &a.name).cmp(&(b.start_time, &b.name)));
    }
    roots.sort_by_key(|s| s.start_time);
    for root in roots {
        tree.node(root, "", "");
    }
    tree.out
}

struct Tree<'a> {
    p: Paint,
    children: HashMap<SpanKey, Vec<&'a SpanData>>,
    out: String,
}

impl Tree<'_> {
    /// Writes `s` after the `branch` glyphs, then its events and children under `cont`.
    fn node(&mut self, s: &SpanData, branch: &str, cont: &str) {
        let (p, root) = (self.p, branch.is_empty());
        let dur = fmt_duration(s.end_time.duration_since(s.start_time).unwrap_or_default());
        let mut line = p.style(DIM, &format!("{dur:>DURATION_WIDTH$}"));
        line.push(' ');
        line.push_str(branch);
        line.push_str(&p.style(if root { BOLD } else { "" }, &s.name));
        let kind = match s.span_kind {
            SpanKind::Client => "client",
            SpanKind::Server => "server",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Internal => "",
        };
        if !kind.is_empty() {
            p.push(&mut line, CYAN, kind);
        }
        if let Status::Error { description } = &s.status {
            let sep = if description.is_empty() { "" } else { ": " };
            p.push(&mut line, RED, &format!("✗ error{sep}{description}"));
        }
        for kv in s.attributes.iter().filter(|kv| !is_noise(kv.key.as_str())) {
            p.attr(&mut line, kv.key.as_str(), &fmt_value(&kv.value));
        }
        if root {
            let mut tag = format!("[trace={}", short(s.span_context.trace_id()));
            if s.parent_span_id != SpanId::INVALID {
                let _ = write!(tag, " parent={}", short(s.parent_span_id));
                if s.parent_span_is_remote {
                    tag.push_str(" (remote)");
                }
            }
            let _ = write!(tag, " {}]", clock(s.start_time));
            p.push(&mut line, DIM, &tag);
        }
        let _ = writeln!(self.out, "{line}");

        let kids = self.children.get(&id_of(s)).cloned().unwrap_or_default();
        let bar = if kids.is_empty() { "   " } else { "│  " };
        // Events from `tracing` (they carry `level`) are already printed as log
        // lines; the tree keeps the others, such as exceptions.
        let from_log = |ev: &&Event| ev.attributes.iter().any(|kv| kv.key.as_str() == "level");
        for ev in s
            .events
            .iter()
            .filter(|ev| ev.name == "exception" || !from_log(ev))
        {
            let pad = " ".repeat(DURATION_WIDTH);
            let _ = writeln!(self.out, "{pad} {cont}{bar}{}", render_event(ev, p));
        }
        for (i, kid) in kids.iter().enumerate() {
            let last = i + 1 == kids.len();
            let (b, c) = [("├─ ", "│  "), ("└─ ", "   ")][usize::from(last)];
            self.node(kid, &format!("{cont}{b}"), &format!("{cont}{c}"));
        }
    }
}

/// Attributes that help a machine (Tempo links code and threads) but only
/// clutter a terminal: they are still exported over OTLP.
fn is_noise(key: &str) -> bool {
    key.starts_with("code.")
        || key.starts_with("thread.")
        || matches!(key, "target" | "level" | "busy_ns" | "idle_ns")
}

/// `• name key=value…`; exceptions as `• exception: Type: message` in red.
fn render_event(ev: &Event, p: Paint) -> String {
    let attr = |k: &&str| ev.attributes.iter().find(|kv| kv.key.as_str() == *k);
    let exception = ev.name == "exception";
    let mut line = match exception {
        true => {
            let parts = ["exception.type", "exception.message"]
                .iter()
                .filter_map(attr);
            let msg: Vec<String> = parts.map(|kv| kv.value.to_string()).collect();
            p.style(RED, &format!("• exception: {}", msg.join(": ")))
        }
        false => format!("• {}", ev.name),
    };
    for kv in ev.attributes.iter().filter(|kv| !is_noise(kv.key.as_str())) {
        if !(exception && kv.key.as_str().starts_with("exception.")) {
            p.attr(&mut line, kv.key.as_str(), &fmt_value(&kv.value));
        }
    }
    line
}

/// Spans waiting for their local root, grouped by trace.
#[derive(Debug, Default)]
struct SpanBuffer {
    traces: HashMap<TraceId, Vec<SpanData>>,
    len: usize,
    dropped: u64,
    /// Spans already printed, so a child that ends after its parent starts its own tree.
    printed: HashSet<SpanKey>,
}

impl SpanBuffer {
    /// Buffers `batch`; returns the complete groups (a local root and its descendants).
    fn accept(&mut self, batch: Vec<SpanData>, cap: usize) -> Vec<Vec<SpanData>> {
        let mut ready = Vec::new();
        for span in batch {
            let trace = span.span_context.trace_id();
            let local_root = span.parent_span_id == SpanId::INVALID
                || span.parent_span_is_remote
                || self.printed.contains(&(trace, span.parent_span_id));
            if local_root {
                let mut group = self.take_descendants(trace, span.span_context.span_id());
                group.push(span);
                if self.printed.len() + group.len() > cap {
                    self.printed.clear();
                }
                self.printed.extend(group.iter().map(id_of));
                ready.push(group);
            } else if self.len >= cap {
                self.dropped += 1;
            } else {
                self.len += 1;
                self.traces.entry(trace).or_default().push(span);
            }
        }
        ready
    }

    fn take_descendants(&mut self, trace: TraceId, root: SpanId) -> Vec<SpanData> {
        let Some(spans) = self.traces.get_mut(&trace) else {
            return Vec::new();
        };
        let mut wanted = HashSet::from([root]);
        let mut group = Vec::new();
        loop {
            let (take, keep): (Vec<_>, Vec<_>) = std::mem::take(spans)
                .into_iter()
                .partition(|s| wanted.contains(&s.parent_span_id));
            *spans = keep;
            if take.is_empty() {
                break;
            }
            wanted.extend(take.iter().map(|s| s.span_context.span_id()));
            group.extend(take);
        }
        if spans.is_empty() {
            self.traces.remove(&trace);
        }
        self.len -= group.len();
        group
    }

    /// Everything still buffered, one group per trace, earliest first.
    fn drain(&mut self) -> Vec<Vec<SpanData>> {
        self.len = 0;
        let mut groups: Vec<Vec<SpanData>> = self.traces.drain().map(|(_, g)| g).collect();
        groups.sort_by_key(|g| g.iter().map(|s| s.start_time).min());
        groups
    }
}

/// Prints each trace as an indented tree once its local root has ended.
#[derive(Debug)]
pub(crate) struct ConsoleSpanExporter {
    sink: ConsoleSink,
    buffer: Mutex<SpanBuffer>,
    cap: usize,
}

impl ConsoleSpanExporter {
    /// An exporter writing to `sink`.
    pub(crate) fn new(sink: ConsoleSink) -> Self {
        let buffer = Mutex::default();
        let cap = MAX_BUFFERED_SPANS;
        Self { sink, buffer, cap }
    }

    fn write_groups(&self, groups: &[Vec<SpanData>], dropped: u64) {
        let color = self.sink.color();
        let mut block: String = groups.iter().map(|g| render_spans(g, color)).collect();
        if dropped > 0 {
            let _ = writeln!(block, "semtel: dropped {dropped} spans (buffer full)");
        }
        self.sink.write_block(&block);
    }

    /// Prints buffered spans whose root never arrived, each as its own tree.
    fn flush_orphans(&self) {
        let mut buffer = lock(&self.buffer);
        let (groups, dropped) = (buffer.drain(), std::mem::take(&mut buffer.dropped));
        drop(buffer);
        self.write_groups(&groups, dropped);
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let groups = lock(&self.buffer).accept(batch, self.cap);
        self.write_groups(&groups, 0);
        std::future::ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush_orphans();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Logs

/// One line: `HH:MM:SS.mmm LEVEL target: body key=value … [trace=8hex span=8hex]`.
pub(crate) fn render_log(rec: &SdkLogRecord, scope: &InstrumentationScope, color: bool) -> String {
    let p = Paint(color);
    let time = rec.timestamp().or(rec.observed_timestamp());
    let mut line = p.style(DIM, &time.map_or_else(|| "--:--:--.---".into(), clock));
    let digit = |c: char| c.is_ascii_digit();
    let level = match (rec.severity_number(), rec.severity_text()) {
        (Some(sev), _) => sev.name().trim_end_matches(digit).to_owned(),
        (None, Some(text)) => text.to_uppercase(),
        (None, None) => "-".to_owned(),
    };
    let code = match level.as_str() {
        "ERROR" | "FATAL" => RED,
        "WARN" => YELLOW,
        "INFO" => GREEN,
        "DEBUG" => BLUE,
        _ => DIM,
    };
    p.push(&mut line, code, &format!("{level:<5}"));
    let target = rec.target().map_or(scope.name(), |t| t.as_ref());
    if !target.is_empty() {
        p.push(&mut line, DIM, &format!("{target}:"));
    }
    let body = match rec.body() {
        Some(AnyValue::String(s)) => s.as_str().replace('\n', "\n    "),
        Some(other) => fmt_any(other),
        None => rec.event_name().unwrap_or_default().to_owned(),
    };
    if !body.is_empty() {
        p.push(&mut line, "", &body);
    }
    for (k, v) in rec.attributes_iter() {
        p.attr(&mut line, k.as_str(), &fmt_any(v));
    }
    if let Some(ctx) = rec.trace_context() {
        let (trace, span) = (short(ctx.trace_id), short(ctx.span_id));
        p.push(&mut line, DIM, &format!("[trace={trace} span={span}]"));
    }
    line.push('\n');
    line
}

/// Prints one line per log record.
#[derive(Debug)]
pub(crate) struct ConsoleLogExporter {
    sink: ConsoleSink,
}

impl ConsoleLogExporter {
    /// An exporter writing to `sink`.
    pub(crate) fn new(sink: ConsoleSink) -> Self {
        Self { sink }
    }
}

impl LogExporter for ConsoleLogExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let color = self.sink.color();
        let block: String = batch.iter().map(|(r, s)| render_log(r, s, color)).collect();
        self.sink.write_block(&block);
        std::future::ready(Ok(()))
    }
}

// ---------------------------------------------------------------------------
// Metrics

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
        let measure = |x: f64| match seconds && x.is_finite() && x >= 0.0 {
            true => fmt_duration(Duration::from_secs_f64(x)),
            false => fmt_float(x),
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
fn quantile(bounds: &[f64], counts: &[u64], range: [Option<f64>; 2], q: f64) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::{
        SpanContext, TraceFlags, TraceState, Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{Array, Key, StringValue};
    use opentelemetry_sdk::logs::SdkLoggerProvider;
    use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanEvents, SpanLinks};
    use std::task::{Context, Poll, Waker};

    /// 2024-05-01T12:00:00Z.
    const T0: u64 = 1_714_564_800_000;
    const TRACE: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;

    /// A `Vec<u8>` writer the test can read back after handing it to a sink.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn sink(&self) -> ConsoleSink {
            ConsoleSink::new(Box::new(self.clone()), false)
        }
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *lock(&self.0))).unwrap()
        }
    }

    /// Polls an exporter future, which completes immediately.
    fn ready<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("console exporters never wait"),
        }
    }

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(T0 + ms)
    }

    fn span(id: u64, parent: u64, name: &'static str, start_ms: u64, end_ms: u64) -> SpanData {
        let ctx = SpanContext::new(
            TRACE.into(),
            id.into(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        SpanData {
            span_context: ctx,
            parent_span_id: parent.into(),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: name.into(),
            start_time: at(start_ms),
            end_time: at(end_ms),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    /// A pipeline run as spans end: children first, `load` started before `transform`.
    fn pipeline() -> Vec<SpanData> {
        let mut parse = span(4, 2, "parse", 1, 13);
        parse.status = Status::error("bad row 17");
        let mut ev = Event::with_name("exception");
        ev.attributes = vec![
            KeyValue::new("exception.type", "ParseError"),
            KeyValue::new("exception.message", "unexpected EOF"),
        ];
        parse.events.events.push(ev);
        let mut extract = span(2, 1, "extract", 0, 80);
        extract.attributes = vec![
            KeyValue::new("rows", 1000_i64),
            KeyValue::new("source", "s3 bucket"),
        ];
        let mut load = span(3, 1, "load", 81, 120);
        load.span_kind = SpanKind::Client;
        let mut root = span(1, 0, "pipeline.run", 0, 120);
        root.span_kind = SpanKind::Server;
        root.attributes = vec![KeyValue::new("job", "nightly")];
        vec![parse, extract, span(5, 1, "transform", 90, 91), load, root]
    }

    const PIPELINE: &str = " 120.0ms pipeline.run server job=nightly [trace=4bf92f35 12:00:00.000]
  80.0ms ├─ extract rows=1000 source=\"s3 bucket\"
  12.0ms │  └─ parse ✗ error: bad row 17
         │        • exception: ParseError: unexpected EOF
  39.0ms ├─ load client
   1.0ms └─ transform
";

    #[test]
    fn span_tree_nests_children_sorted_by_start_with_colour() {
        assert_eq!(render_spans(&pipeline(), false), PIPELINE);
        let out = render_spans(&pipeline(), true);
        assert!(out.contains("\x1b[31m✗ error: bad row 17\x1b[0m"), "{out}");
        assert!(out.contains("\x1b[2m  12.0ms\x1b[0m"), "{out}");
        assert!(
            out.contains("\x1b[1mpipeline.run\x1b[0m \x1b[36mserver\x1b[0m"),
            "{out}"
        );
    }

    #[test]
    fn span_exporter_waits_for_local_root_across_batches() {
        let buf = Buf::default();
        let exporter = ConsoleSpanExporter::new(buf.sink());
        let mut spans = pipeline();
        let root = spans.pop().unwrap();
        ready(exporter.export(spans)).unwrap();
        assert_eq!(buf.take(), "", "nothing printed before the root ends");
        ready(exporter.export(vec![root])).unwrap();
        assert_eq!(buf.take(), PIPELINE);
        exporter.shutdown().unwrap();
        assert_eq!(buf.take(), "", "nothing left buffered");
    }

    #[test]
    fn remote_parent_and_late_child_start_their_own_trees() {
        let buf = Buf::default();
        let exporter = ConsoleSpanExporter::new(buf.sink());
        let mut consumer = span(7, 0xabcd_ef01_0000_0000, "consume", 0, 5);
        consumer.parent_span_is_remote = true;
        // `flush` ends after its parent `consume` was printed (a detached task).
        ready(exporter.export(vec![consumer, span(8, 7, "flush", 1, 9)])).unwrap();
        assert_eq!(
            buf.take(),
            "   5.0ms consume [trace=4bf92f35 parent=abcdef01 (remote) 12:00:00.000]\n\
             \x20  8.0ms flush [trace=4bf92f35 parent=00000000 12:00:00.001]\n"
        );
    }

    #[test]
    fn orphans_flush_on_shutdown_and_overflow_is_counted() {
        let buf = Buf::default();
        let mut exporter = ConsoleSpanExporter::new(buf.sink());
        exporter.cap = 2;
        let batch = vec![
            span(11, 10, "a", 0, 1),
            span(12, 11, "b", 0, 1),
            span(13, 10, "c", 2, 3),
        ];
        ready(exporter.export(batch)).unwrap();
        assert_eq!(buf.take(), "");
        exporter.force_flush().unwrap();
        assert_eq!(
            buf.take(),
            "   1.0ms a [trace=4bf92f35 parent=00000000 12:00:00.000]\n\
             \x20  1.0ms └─ b\n\
             semtel: dropped 1 spans (buffer full)\n"
        );
        exporter.shutdown().unwrap();
        assert_eq!(buf.take(), "");
    }

    #[test]
    fn values_durations_and_clock_format_compactly() {
        assert_eq!(fmt_value(&Value::from("plain")), "plain");
        assert_eq!(fmt_value(&Value::from("two words")), "\"two words\"");
        assert_eq!(fmt_value(&Value::from("")), "\"\"");
        assert_eq!(fmt_value(&Value::from(2.5)), "2.5");
        assert_eq!(fmt_value(&Value::Array(Array::I64(vec![1, 2]))), "[1,2]");
        let long = fmt_value(&Value::from("x".repeat(200)));
        assert_eq!(long.chars().count(), MAX_VALUE_CHARS);
        assert!(long.ends_with("x…"));
        assert_eq!(
            truncate(&"y".repeat(MAX_VALUE_CHARS)),
            "y".repeat(MAX_VALUE_CHARS)
        );
        let d = |us| fmt_duration(Duration::from_micros(us));
        assert_eq!(
            [d(999), d(12_345), d(1_500_000), d(125_000_000)],
            ["999µs", "12.3ms", "1.50s", "2m05s"]
        );
        assert_eq!(clock(at(3_723_004)), "13:02:03.004");
    }

    #[test]
    fn real_tracer_provider_renders_nested_spans() {
        let buf = Buf::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(ConsoleSpanExporter::new(buf.sink()))
            .build();
        let tracer = provider.tracer("test");
        tracer.in_span("outer", |_| tracer.in_span("inner", |_| {}));
        provider.shutdown().unwrap();
        let out = buf.take();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].contains(" outer [trace="), "{out}");
        assert!(lines[1].ends_with("└─ inner"), "{out}");
    }

    fn new_record() -> SdkLogRecord {
        let provider = SdkLoggerProvider::builder().build();
        provider.logger("etl").create_log_record()
    }

    fn record(with_trace: bool) -> SdkLogRecord {
        let mut r = new_record();
        r.set_timestamp(at(1_234));
        r.set_severity_number(Severity::Warn2);
        r.set_target("etl::load");
        r.set_body("slow batch".into());
        r.add_attribute("rows", 12_i64);
        r.add_attribute("table", "daily sales");
        if with_trace {
            r.set_trace_context(TRACE.into(), 0x00f0_67aa_0ba9_02b7_u64.into(), None);
        }
        r
    }

    #[test]
    fn log_lines_with_and_without_trace_context() {
        let scope = InstrumentationScope::builder("etl").build();
        let (plain, traced) = (record(false), record(true));
        assert_eq!(
            render_log(&plain, &scope, false),
            "12:00:01.234 WARN  etl::load: slow batch rows=12 table=\"daily sales\"\n"
        );
        assert_eq!(
            render_log(&traced, &scope, false),
            "12:00:01.234 WARN  etl::load: slow batch rows=12 table=\"daily sales\" [trace=4bf92f35 span=00f067aa]\n"
        );
        assert!(render_log(&plain, &scope, true).contains("\x1b[33mWARN \x1b[0m"));

        let buf = Buf::default();
        let exporter = ConsoleLogExporter::new(buf.sink());
        ready(exporter.export(LogBatch::new(&[(&plain, &scope), (&traced, &scope)]))).unwrap();
        assert_eq!(buf.take().lines().count(), 2);
    }

    #[test]
    fn log_attributes_render_every_any_value() {
        let map = HashMap::from([
            (Key::from("b"), AnyValue::Int(2)),
            (Key::from("a"), AnyValue::Boolean(true)),
        ]);
        let list = vec![
            AnyValue::Double(1.5),
            AnyValue::String(StringValue::from("a b")),
        ];
        assert_eq!(fmt_any(&AnyValue::Map(Box::new(map))), "{a:true,b:2}");
        assert_eq!(fmt_any(&AnyValue::ListAny(Box::new(list))), "[1.5,\"a b\"]");
        assert_eq!(
            fmt_any(&AnyValue::Bytes(Box::new(vec![0xde, 0xad, 0x01]))),
            "0xdead01"
        );

        let mut r = new_record();
        r.set_severity_number(Severity::Error);
        r.set_body(AnyValue::Int(7));
        r.add_attribute("raw", AnyValue::Bytes(Box::new(vec![1])));
        let scope = InstrumentationScope::builder("etl").build();
        assert_eq!(
            render_log(&r, &scope, false),
            "--:--:--.--- ERROR etl: 7 raw=0x01\n"
        );
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        // 1..=100 into the SDK's default bounds.
        let bounds = [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0];
        let counts = [0, 5, 5, 15, 25, 25, 25, 0, 0];
        let q = |q| quantile(&bounds, &counts, [Some(1.0), Some(100.0)], q);
        assert_eq!((q(0.5), q(0.99)), (Some(50.0), Some(99.0)));
        assert_eq!(
            quantile(&[10.0], &[0, 4], [Some(12.0), Some(20.0)], 0.5),
            Some(16.0)
        );
        assert_eq!(quantile(&bounds, &[0; 9], [None, None], 0.5), None);
    }

    #[test]
    fn metrics_summary_at_shutdown_only() {
        let buf = Buf::default();
        let reader = PeriodicReader::builder(ConsoleMetricExporter::new(buf.sink()))
            .with_interval(Duration::from_secs(3600))
            .build();
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        let meter = provider.meter("etl");
        let rows = meter.u64_counter("etl.rows").with_unit("{row}").build();
        rows.add(1500, &[KeyValue::new("stage", "extract")]);
        rows.add(1498, &[KeyValue::new("stage", "load")]);
        let queue = meter.i64_up_down_counter("etl.queue.depth").build();
        queue.add(5, &[]);
        queue.add(-2, &[]);
        let lag = meter.f64_gauge("etl.lag").with_unit("s").build();
        lag.record(0.25, &[KeyValue::new("source", "kafka")]);
        let batch = meter
            .f64_histogram("etl.batch.duration")
            .with_unit("ms")
            .build();
        for ms in 1..=100 {
            batch.record(f64::from(ms), &[KeyValue::new("stage", "load")]);
        }
        provider.force_flush().unwrap();
        assert_eq!(buf.take(), "", "periodic exports print nothing");
        provider.shutdown().unwrap();
        assert_eq!(
            buf.take(),
            "semtel metrics summary
  etl.batch.duration (ms) histogram
    stage=load  count=100  sum=5050  min=1  max=100  p50≈50  p99≈99
  etl.lag (s) gauge
    source=kafka  last=250.0ms
  etl.queue.depth up-down counter  total=3
  etl.rows ({row}) counter
    stage=extract  total=1500
    stage=load     total=1498
"
        );
    }

    #[test]
    fn metrics_summary_without_data_says_so() {
        let buf = Buf::default();
        let exporter = ConsoleMetricExporter::new(buf.sink());
        exporter.shutdown().unwrap();
        exporter.shutdown().unwrap();
        assert_eq!(buf.take(), "semtel metrics: no metrics recorded\n");
    }

    #[test]
    fn sink_colours_only_terminals_and_counts_write_errors() {
        assert!(use_color(true, None));
        assert!(use_color(true, Some(OsStr::new(""))));
        assert!(!use_color(true, Some(OsStr::new("1"))));
        assert!(!use_color(false, None));
        let full = std::io::Cursor::new([0_u8; 4]);
        let sink = ConsoleSink::new(Box::new(full), false);
        sink.write_block("lost\n");
        assert_eq!(sink.write_errors(), 1);
        assert!(collector_hint().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
}
