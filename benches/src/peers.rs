//! The instrumented functions, one per case, and the discarding exporters.
//!
//! Every function does the same user work (`black_box(x) + 1`) and carries
//! the same three attributes where its library lets it: `pipeline.name`,
//! `pipeline.stage.name` and `db.system.name`, all static strings. Each has
//! an `async` twin whose body awaits [`Polls`], so it is polled as often as
//! the caller chooses (the per-poll benchmark).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::metrics::{Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};

/// The three attributes, as OpenTelemetry key-values.
pub fn attributes() -> [KeyValue; 3] {
    [
        KeyValue::new("pipeline.name", "bench"),
        KeyValue::new("pipeline.stage.name", "load"),
        KeyValue::new("db.system.name", "sqlite"),
    ]
}

/// No instrumentation.
#[inline(never)]
pub fn plain(x: u64) -> u64 {
    black_box(x) + 1
}

/// semtel's stage: a span through `tracing` and the stage metrics.
/// `pipeline.stage.name` is the function name.
#[semtel::stage(pipeline = "bench", fields(db.system.name = "sqlite"))]
#[inline(never)]
pub fn load(x: u64) -> u64 {
    black_box(x) + 1
}

/// [`load`] counting one more thing from its body through the stage handle:
/// 8 bytes out (`pipeline.bytes`).
#[semtel::stage(pipeline = "bench", fields(db.system.name = "sqlite"))]
#[inline(never)]
pub fn load_counted(x: u64) -> u64 {
    semtel::stage::current().bytes_out(8u64);
    black_box(x) + 1
}

/// A counter of a registry, as `semtel_conventions::codegen` generates its
/// descriptor: the three attributes listed, so the stage's labels land on
/// it.
pub static ROWS: semtel::instrument::Counter<u64> = semtel::instrument::Counter::new(ROWS_METRIC);

const ROWS_METRIC: semtel::conventions::model::CounterDescriptor<
    semtel::conventions::model::number::Int,
> = {
    use semtel::conventions::model::{
        CounterDescriptor, Instrument, MetricAttribute, MetricDescriptor, NumberType,
        RequirementLevel, Stability,
    };
    let descriptor = MetricDescriptor {
        name: "bench.rows",
        instrument: Instrument::Counter,
        unit: "{row}",
        number: Some(NumberType::Int),
        stability: Stability::Development,
        attributes: &[
            MetricAttribute {
                name: "db.system.name",
                requirement: RequirementLevel::Recommended,
            },
            MetricAttribute {
                name: "pipeline.name",
                requirement: RequirementLevel::Required,
            },
            MetricAttribute {
                name: "pipeline.stage.name",
                requirement: RequirementLevel::Required,
            },
        ],
    };
    match CounterDescriptor::new(descriptor) {
        Ok(d) => d,
        Err(_) => panic!("a counter"),
    }
};

/// [`load`] recording one typed instrument of a registry from its body:
/// 8 rows ([`ROWS`]).
#[semtel::stage(pipeline = "bench", fields(db.system.name = "sqlite"))]
#[inline(never)]
pub fn load_instrumented(x: u64) -> u64 {
    ROWS.add(8, &[]);
    black_box(x) + 1
}

/// `tracing`'s own attribute macro with the same three fields.
#[tracing::instrument(
    name = "load",
    level = "info",
    skip_all,
    fields(pipeline.name = "bench", pipeline.stage.name = "load", db.system.name = "sqlite")
)]
#[inline(never)]
pub fn tracing_load(x: u64) -> u64 {
    black_box(x) + 1
}

/// fastrace's attribute macro. It records only under a local parent, so
/// [`fastrace_call`] opens a root span around each call.
#[fastrace::trace(
    name = "load",
    properties = { "pipeline.name": "bench", "pipeline.stage.name": "load", "db.system.name": "sqlite" }
)]
#[inline(never)]
pub fn fastrace_load(x: u64) -> u64 {
    black_box(x) + 1
}

/// One fastrace call: a root span (a new trace, as a stage call without a
/// parent is) and the `#[trace]` span under it.
#[inline(never)]
pub fn fastrace_call(x: u64) -> u64 {
    let root = fastrace::Span::root("call", fastrace::prelude::SpanContext::random());
    let _parent = root.set_local_parent();
    fastrace_load(x)
}

/// autometrics: a call counter and a duration histogram with its own labels
/// (function, module, caller); it has no way to add other attributes.
#[autometrics::autometrics]
#[inline(never)]
pub fn autometrics_load(x: u64) -> u64 {
    black_box(x) + 1
}

/// A future pending on its first `polls - 1` polls and ready on the next:
/// an `async` body awaiting it is polled `polls` times (at least once). It
/// does not wake its task; the per-poll benchmark polls in a loop.
#[derive(Debug)]
pub struct Polls(u32);

impl Polls {
    /// Ready on poll number `polls`.
    pub fn new(polls: u32) -> Self {
        Self(polls.saturating_sub(1))
    }
}

impl Future for Polls {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            Poll::Pending
        }
    }
}

/// [`plain`], `async`, polled `polls` times.
#[inline(never)]
pub async fn plain_async(x: u64, polls: u32) -> u64 {
    Polls::new(polls).await;
    black_box(x) + 1
}

/// [`load`], `async`: the stage's span is the innermost one while its future
/// is polled.
#[semtel::stage(name = "load", pipeline = "bench", fields(db.system.name = "sqlite"))]
#[inline(never)]
pub async fn load_async(x: u64, polls: u32) -> u64 {
    Polls::new(polls).await;
    black_box(x) + 1
}

/// [`tracing_load`], `async`: `#[instrument]` enters its span on each poll.
#[tracing::instrument(
    name = "load",
    level = "info",
    skip_all,
    fields(pipeline.name = "bench", pipeline.stage.name = "load", db.system.name = "sqlite")
)]
#[inline(never)]
pub async fn tracing_load_async(x: u64, polls: u32) -> u64 {
    Polls::new(polls).await;
    black_box(x) + 1
}

/// [`fastrace_load`], `async`: `#[trace]` sets its span as the local parent
/// on each poll.
#[fastrace::trace(
    name = "load",
    properties = { "pipeline.name": "bench", "pipeline.stage.name": "load", "db.system.name": "sqlite" }
)]
#[inline(never)]
pub async fn fastrace_load_async(x: u64, polls: u32) -> u64 {
    Polls::new(polls).await;
    black_box(x) + 1
}

/// One async fastrace call: a root span is the local parent while the
/// `#[trace]` future is made (which takes its span from it), as in
/// [`fastrace_call`], and ends once the future is done.
#[inline(never)]
pub async fn fastrace_call_async(x: u64, polls: u32) -> u64 {
    let root = fastrace::Span::root("call", fastrace::prelude::SpanContext::random());
    let future = {
        let _parent = root.set_local_parent();
        fastrace_load_async(x, polls)
    };
    let ret = future.await;
    drop(root);
    ret
}

/// [`autometrics_load`], `async`: autometrics times the whole call and does
/// nothing per poll.
#[autometrics::autometrics]
#[inline(never)]
pub async fn autometrics_load_async(x: u64, polls: u32) -> u64 {
    Polls::new(polls).await;
    black_box(x) + 1
}

/// Counts spans and drops them.
#[derive(Debug, Clone, Default)]
pub struct DiscardSpans(pub Arc<AtomicU64>);

impl SpanExporter for DiscardSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Counts exports and drops them.
#[derive(Debug, Clone, Default)]
pub struct DiscardMetrics(pub Arc<AtomicU64>);

impl PushMetricExporter for DiscardMetrics {
    async fn export(&self, _metrics: &ResourceMetrics) -> OTelSdkResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// A tracer provider with the SDK's batch processor (default queue 2048,
/// batch 512, delay 5 s — the same defaults semtel's queue uses) in front of
/// [`DiscardSpans`].
pub fn tracer_provider(spans: &DiscardSpans) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(spans.clone()).build())
        .build()
}

/// A meter provider whose periodic reader (60 s, semtel's default interval)
/// exports to [`DiscardMetrics`].
pub fn meter_provider(exports: &DiscardMetrics) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(exports.clone())
                .with_interval(Duration::from_secs(60))
                .build(),
        )
        .build()
}

/// The raw OpenTelemetry SDK doing by hand what a stage call does: a span
/// with the attributes, the in-flight up-down counter around the call and
/// the duration histogram after it.
#[derive(Debug)]
pub struct RawSdk {
    tracer: SdkTracer,
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    attrs: [KeyValue; 3],
}

impl RawSdk {
    /// Instruments from `tp` and `mp`.
    pub fn new(tp: &SdkTracerProvider, mp: &SdkMeterProvider) -> Self {
        let meter = mp.meter("bench");
        Self {
            tracer: tp.tracer("bench"),
            duration: meter.f64_histogram("pipeline.stage.duration").build(),
            active: meter.i64_up_down_counter("pipeline.stage.active").build(),
            attrs: attributes(),
        }
    }

    /// One call.
    #[inline(never)]
    pub fn call(&self, x: u64) -> u64 {
        let started = Instant::now();
        self.active.add(1, &self.attrs);
        let span = self
            .tracer
            .span_builder("load")
            .with_attributes(self.attrs.clone())
            .start(&self.tracer);
        let ret = {
            let _active = opentelemetry::trace::mark_span_as_active(span);
            black_box(x) + 1
        };
        self.active.add(-1, &self.attrs);
        self.duration
            .record(started.elapsed().as_secs_f64(), &self.attrs);
        ret
    }

    /// One `async` call, as the SDK's documentation has it: the span's
    /// context attached on each poll (`FutureExt::with_context`).
    #[inline(never)]
    pub async fn call_async(&self, x: u64, polls: u32) -> u64 {
        let started = Instant::now();
        self.active.add(1, &self.attrs);
        let span = self
            .tracer
            .span_builder("load")
            .with_attributes(self.attrs.clone())
            .start(&self.tracer);
        let cx = opentelemetry::Context::current_with_span(span);
        let ret = async {
            Polls::new(polls).await;
            black_box(x) + 1
        }
        .with_context(cx)
        .await;
        self.active.add(-1, &self.attrs);
        self.duration
            .record(started.elapsed().as_secs_f64(), &self.attrs);
        ret
    }
}

/// fastrace's reporter: counts spans and drops them.
#[derive(Debug, Clone, Default)]
pub struct DiscardReporter(pub Arc<AtomicU64>);

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}
