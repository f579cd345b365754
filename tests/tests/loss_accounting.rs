//! The shutdown report adds up, per signal: what it calls exported plus
//! what it calls lost (dropped, failed, unsent) is exactly what was
//! emitted, and what it calls exported is what arrived. Against a
//! blackholed collector (accepts, never answers) and one that answers 503
//! with `Retry-After` before it accepts, over gRPC, HTTP/protobuf and
//! HTTP/JSON.

mod common;

use std::time::Duration;

use common::builder;
use opentelemetry::KeyValue;
use semtel::{ShutdownReport, Signal, SignalReport};
use semtel_tests::proto::tonic::metrics::v1::metric::Data;
use semtel_tests::{Receiver, Refusal, RetryAfter, Snapshot};

const PROTOCOLS: [&str; 3] = ["grpc", "http/protobuf", "http/json"];
/// Series the workload records into: one data point each per collection.
const SERIES: u64 = 3;

#[semtel::stage(pipeline = "loss")]
fn step(i: u64) -> u64 {
    i
}

/// What a workload emitted, per signal.
struct Emitted {
    spans: u64,
    logs: u64,
}

/// `stage_spans` stage calls, `tracing_spans` spans each with a log record
/// inside, and a counter over [`SERIES`] series (collected once, at
/// shutdown: the export interval is long).
fn workload(t: &semtel::Session, stage_spans: u64, tracing_spans: u64) -> Emitted {
    let counter = t.meter("loss").u64_counter("loss.items").build();
    tracing::dispatcher::with_default(t.dispatch(), || {
        for i in 0..stage_spans {
            step(i);
        }
        for i in 0..tracing_spans {
            tracing::info_span!("item", i).in_scope(|| tracing::info!(i, "item done"));
        }
    });
    for series in 0..SERIES {
        counter.add(1, &[KeyValue::new("series", series.to_string())]);
    }
    Emitted {
        spans: stage_spans + tracing_spans,
        logs: tracing_spans,
    }
}

fn session(rx: &Receiver, protocol: &str, timeout_ms: &str, shutdown: Duration) -> semtel::Session {
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    builder(&[
        ("OTEL_SERVICE_NAME", "loss"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms),
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
    ])
    .shutdown_timeout(shutdown)
    // The workload's metric points only: semtel's own (`otel.sdk.*`)
    // depend on what the export went through.
    .self_metrics(false)
    .build()
    .expect("valid configuration")
}

fn one(report: &ShutdownReport, signal: Signal) -> &SignalReport {
    let mut entries = report.signal(signal);
    let entry = entries.next().expect("one entry per signal");
    assert!(entries.next().is_none(), "{report}");
    entry
}

fn data_points(snapshot: &Snapshot) -> u64 {
    snapshot
        .metrics()
        .iter()
        .map(|m| match &m.metric.data {
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        } as u64)
        .sum()
}

/// Exported + lost = emitted, for each signal.
fn assert_adds_up(protocol: &str, report: &ShutdownReport, emitted: &Emitted) {
    for (signal, n) in [
        (Signal::Traces, emitted.spans),
        (Signal::Logs, emitted.logs),
        (Signal::Metrics, SERIES),
    ] {
        let r = one(report, signal);
        assert_eq!(
            r.exported + r.dropped + r.failed + r.unflushed,
            n,
            "{protocol} {signal:?}: exported + lost must be what was emitted: {report}"
        );
        assert_eq!(r.exported + r.lost(), n, "{protocol} {signal:?}: {report}");
    }
}

#[test]
fn blackholed_collector_every_item_is_counted_lost() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.blackhole();
        let t = session(&rx, protocol, "1000", Duration::from_secs(3));
        // Far more than the queues hold (2048): most are dropped, the rest
        // fail or are unsent when the deadline passes.
        let emitted = workload(&t, 10_000, 500);
        let report = t.shutdown();
        assert_adds_up(protocol, &report, &emitted);
        for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
            assert_eq!(one(&report, signal).exported, 0, "{protocol}: {report}");
        }
        assert!(rx.snapshot().requests.is_empty());
    }
}

#[test]
fn collector_answering_503_with_retry_after_every_item_arrives_and_is_counted() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.refuse(
            3,
            Refusal::unavailable().retry_after(RetryAfter::Seconds(1)),
        );
        let t = session(&rx, protocol, "10000", Duration::from_secs(30));
        let emitted = workload(&t, 300, 100);
        let report = t.shutdown();
        assert_adds_up(protocol, &report, &emitted);
        let snapshot = rx.snapshot();
        assert_eq!(snapshot.rejected.len(), 3, "{protocol}: {report}");
        let arrived = [
            (Signal::Traces, snapshot.spans().len() as u64),
            (Signal::Logs, snapshot.logs().len() as u64),
            (Signal::Metrics, data_points(&snapshot)),
        ];
        for (signal, n) in arrived {
            let r = one(&report, signal);
            assert_eq!(
                (r.exported, r.lost()),
                (n, 0),
                "{protocol} {signal:?}: exported is what arrived, none lost: {report}"
            );
        }
    }
}
