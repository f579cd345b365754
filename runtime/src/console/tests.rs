//! Rendering and the exporters, over a sink the tests read back.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::AnyValue;
use opentelemetry::trace::{Event, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::format::*;
use super::logs::*;
use super::metrics::*;
use super::sink::*;
use super::spans::*;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanContext, TraceFlags, TraceState, Tracer as _, TracerProvider as _};
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
