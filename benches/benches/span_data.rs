//! What an OpenTelemetry SDK span exporter's input costs by itself: building
//! and dropping the SDK's `SpanData` for a span with the per-call cases'
//! three attributes, in batches of 512 (a batch processor's export size).
//! Every span that reaches an SDK exporter is one of these, whoever
//! produced it: the SDK peers build it on the calling thread, semtel in the
//! exporter's worker (`semtel_enabled_discard` in `cpu_per_call`). So it is
//! a floor under "CPU per call including background threads" for any case
//! that exports through an SDK exporter.
//! `cargo bench -p semtel-benches --bench span_data`.

mod common;

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

const BATCH: u64 = 512;

fn batch(scope: &InstrumentationScope, round: u64) -> Vec<SpanData> {
    let attributes = semtel_benches::peers::attributes();
    (1..=BATCH)
        .map(|i| SpanData {
            span_context: SpanContext::new(
                TraceId::from(u128::from(round) << 64 | u128::from(i)),
                SpanId::from(i),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed("load"),
            start_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(i),
            end_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(i + 50),
            attributes: attributes.to_vec(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope.clone(),
        })
        .collect()
}

fn span_data(c: &mut Criterion) {
    let scope = InstrumentationScope::builder("semtel")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(semtel::SCHEMA_URL)
        .build();
    let mut group = c.benchmark_group("span_data");
    group.throughput(Throughput::Elements(BATCH));
    let mut round = 0;
    group.bench_function("build_and_drop_512", |b| {
        b.iter_batched(
            || {
                round += 1;
                round
            },
            |r| drop(black_box(batch(&scope, r))),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = span_data
}
criterion_main!(benches);
