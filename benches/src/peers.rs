//! The instrumented functions, one per case, and the discarding exporters.
//!
//! Every function does the same user work (`black_box(x) + 1`) and carries
//! the same three attributes where its library lets it: `pipeline.name`,
//! `pipeline.stage.name` and `db.system.name`, all static strings.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
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
}

/// fastrace's reporter: counts spans and drops them.
#[derive(Debug, Clone, Default)]
pub struct DiscardReporter(pub Arc<AtomicU64>);

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}
