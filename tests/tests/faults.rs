//! Faults of the collector never stall the pipeline: absent, killed and
//! restarted, slow. Every bound is an upper-bound assertion on `Instant`; no sleeps.

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, builder, closed_port, emit_span, run_pipeline};
use semtel::Signal;
use semtel_tests::{Receiver, Snapshot};

/// Shutdown bound given to semtel in these tests.
const BOUND: Duration = Duration::from_secs(3);
/// What the bound may be overrun by on a loaded 2-core CI machine.
const SLACK: Duration = Duration::from_secs(3);

/// Spans of [`emit_span`] with `step = name`.
fn steps(snapshot: &Snapshot, name: &str) -> usize {
    snapshot
        .spans()
        .iter()
        .filter(|s| s.attr_str("step") == Some(name))
        .count()
}

fn collector_absent(protocol: &str) {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let t = builder(&[
        ("OTEL_SERVICE_NAME", "absent"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("valid configuration");

    let started = Instant::now();
    run_pipeline(&t);
    let ran = started.elapsed();
    assert!(
        ran < Duration::from_secs(2),
        "the pipeline waited on the exporter: {ran:?}"
    );

    let started = Instant::now();
    let report = t.shutdown();
    let took = started.elapsed();
    assert!(took < BOUND + SLACK, "shutdown took {took:?}: {report}");
    for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        let reports: Vec<_> = report.signal(signal).collect();
        assert_eq!(reports.len(), 1, "{report}");
        assert_eq!(reports[0].exported, 0, "{report}");
        assert!(
            reports[0].lost() > 0,
            "{signal:?} losses not reported: {report}"
        );
        assert!(reports[0].destination.contains(&endpoint), "{report}");
    }
    let traces = report.signal(Signal::Traces).next().unwrap();
    assert!(traces.last_error.is_some(), "{report}");
}

#[test]
fn collector_absent_grpc_pipeline_finishes_and_losses_are_reported() {
    collector_absent("grpc");
}

#[test]
fn collector_absent_http_pipeline_finishes_and_losses_are_reported() {
    collector_absent("http/protobuf");
}

#[test]
fn collector_absent_http_json_gives_up_as_soon_as_http_protobuf() {
    // HTTP/JSON spans take the same transport and retries as protobuf.
    collector_absent("http/json");
}

fn collector_killed_then_restarted(protocol: &str) {
    let mut rx = Receiver::start();
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let t = builder(&[
        ("OTEL_SERVICE_NAME", "killed"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("valid configuration");

    emit_span(&t, "before");
    rx.expect(WAIT, "the span emitted before the kill", |s| {
        steps(s, "before") == 1
    });
    // The receiver records a request before it answers: stopped now, it
    // could cut the answer off, and the span that arrived would be counted
    // as failed (or, retried, arrive twice). The flush returns once the
    // answer is in.
    t.flush();

    rx.stop();
    emit_span(&t, "during");
    // Exports now, into the dead port; bounded by the export timeout.
    let started = Instant::now();
    t.flush();
    assert!(
        started.elapsed() < BOUND + SLACK,
        "flush took {:?}",
        started.elapsed()
    );

    rx.restart().expect("restart on the same ports");
    // A client may need a moment to reconnect (tonic's lazy channel can fail a
    // batch or two while it does): what matters is that telemetry flows again
    // and that every item is either delivered or counted as lost.
    let mut after = 0;
    let recovered = (1..=5).any(|_| {
        emit_span(&t, "after");
        after += 1;
        t.flush();
        rx.wait_for(Duration::from_secs(2), |s| steps(s, "after") >= 1)
    });
    assert!(
        recovered,
        "no span arrived after the restart in {after} tries"
    );
    let started = Instant::now();
    let report = t.shutdown();
    assert!(
        started.elapsed() < BOUND + SLACK,
        "shutdown took {:?}",
        started.elapsed()
    );

    let snapshot = rx.snapshot();
    assert_eq!(steps(&snapshot, "before"), 1);
    let arrived = snapshot
        .spans()
        .into_iter()
        .find(|s| s.attr_str("step") == Some("after"))
        .unwrap();
    assert!(
        snapshot.logs().iter().any(|l| l.is_in(&arrived)),
        "the log emitted with it arrived: {snapshot}"
    );
    let traces = report.signal(Signal::Traces).next().expect("traces report");
    let emitted = 2 + after as u64;
    assert_eq!(
        traces.exported + traces.lost(),
        emitted,
        "every span is delivered or counted as lost: {report}"
    );
    assert_eq!(
        traces.exported,
        snapshot.spans().len() as u64,
        "what the report calls exported is what arrived: {report}"
    );
    if steps(&snapshot, "during") == 0 {
        assert!(
            traces.lost() >= 1,
            "the span sent to a dead collector is counted: {report}"
        );
    }
}

#[test]
fn collector_killed_mid_run_then_restarted_grpc_later_telemetry_arrives() {
    collector_killed_then_restarted("grpc");
}

#[test]
fn collector_killed_mid_run_then_restarted_http_later_telemetry_arrives() {
    collector_killed_then_restarted("http/protobuf");
}

/// A session exporting over `protocol` to a receiver that holds every
/// request without answering.
fn held(protocol: &str, export_timeout_ms: &str) -> (Receiver, semtel::Session) {
    let rx = Receiver::start();
    rx.hold();
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let t = builder(&[
        ("OTEL_SERVICE_NAME", "slow"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", export_timeout_ms),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("valid configuration");
    (rx, t)
}

fn slow_collector(protocol: &str, export_timeout_ms: &str) -> (Receiver, semtel::ShutdownReport) {
    let (rx, t) = held(protocol, export_timeout_ms);

    let started = Instant::now();
    run_pipeline(&t);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the pipeline waited on the collector"
    );

    let started = Instant::now();
    let report = t.shutdown();
    let took = started.elapsed();
    assert!(
        took < BOUND + SLACK,
        "shutdown took {took:?} with a bound of {BOUND:?}: {report}"
    );
    // The collector did get the exports; it just never answered.
    rx.expect(WAIT, "held export requests", |s| !s.requests.is_empty());
    (rx, report)
}

/// `flush` waits at most the shutdown timeout, even when exports may take
/// forever (`OTEL_EXPORTER_OTLP_TIMEOUT=0`: no limit) and the collector
/// never answers.
#[test]
fn slow_collector_flush_returns_within_its_bound() {
    for protocol in ["grpc", "http/protobuf"] {
        let (rx, t) = held(protocol, "0");
        run_pipeline(&t);
        let started = Instant::now();
        t.flush();
        let took = started.elapsed();
        assert!(
            took < BOUND + SLACK,
            "{protocol}: flush took {took:?} with a bound of {BOUND:?}"
        );
        rx.expect(WAIT, "held export requests", |s| !s.requests.is_empty());
    }
}

#[test]
fn slow_collector_grpc_shutdown_returns_within_its_bound() {
    // Exports would wait 30 s: only the shutdown bound can end them.
    let (_rx, report) = slow_collector("grpc", "30000");
    assert!(report.lost() > 0, "{report}");
    assert!(report.timed_out(), "{report}");
}

#[test]
fn slow_collector_http_shutdown_returns_within_its_bound() {
    let (_rx, report) = slow_collector("http/protobuf", "30000");
    assert!(report.lost() > 0, "{report}");
    assert!(report.timed_out(), "{report}");
}

#[test]
fn slow_collector_exports_time_out_and_are_counted_as_failed() {
    // Exports give up after 500 ms, well inside the shutdown bound.
    let (_rx, report) = slow_collector("grpc", "500");
    let traces = report.signal(Signal::Traces).next().expect("traces report");
    assert_eq!(traces.exported, 0, "{report}");
    assert!(traces.failed > 0, "{report}");
    assert!(traces.last_error.is_some(), "{report}");
}

#[test]
fn slow_collector_full_queue_drops_and_counts_instead_of_blocking() {
    let rx = Receiver::start();
    rx.hold();
    let endpoint = rx.grpc_endpoint();
    let t = builder(&[
        ("OTEL_SERVICE_NAME", "full"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
        ("OTEL_BSP_SCHEDULE_DELAY", "10"),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("valid configuration");

    let started = Instant::now();
    tracing::dispatcher::with_default(t.dispatch(), || {
        for i in 0..500 {
            tracing::info_span!("item", i).in_scope(|| {});
        }
    });
    let ran = started.elapsed();
    assert!(ran < Duration::from_secs(5), "500 spans took {ran:?}");

    let started = Instant::now();
    let report = t.shutdown();
    assert!(
        started.elapsed() < BOUND + SLACK,
        "shutdown took {:?}",
        started.elapsed()
    );
    let traces = report.signal(Signal::Traces).next().expect("traces report");
    assert!(
        traces.dropped > 0,
        "a full queue drops and counts: {report}"
    );
    assert_eq!(
        traces.exported + traces.lost(),
        500,
        "every span accounted for: {report}"
    );
}
