//! semtel's span transport follows the OTLP specification's retry and
//! partial-success rules, over gRPC, HTTP/protobuf and HTTP/JSON: what a
//! collector says may be retried is sent again after the delay it asks for,
//! a permanent refusal is not, and the spans a partial success rejects are
//! counted as lost. Asserted on what the in-process receiver got and answered.

mod common;

use std::time::Duration;

use common::{WAIT, builder};
use semtel::Signal;
use semtel_tests::{Receiver, Refusal, RetryAfter, Snapshot};

const PROTOCOLS: [&str; 3] = ["grpc", "http/protobuf", "http/json"];

/// A session exporting spans only to `rx` over `protocol`, every span of a
/// test in one batch (sent at shutdown or flush).
fn traces_only(rx: &Receiver, protocol: &str, timeout_ms: &str) -> semtel::Session {
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    builder(&[
        ("OTEL_SERVICE_NAME", "retry"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .shutdown_timeout(Duration::from_secs(15))
    .build()
    .expect("valid configuration")
}

fn emit(t: &semtel::Session, name: &'static str, n: usize) {
    tracing::dispatcher::with_default(t.dispatch(), || {
        for i in 0..n {
            tracing::info_span!("step", step = name, i).in_scope(|| {});
        }
    });
}

fn steps(snapshot: &Snapshot, name: &str) -> usize {
    snapshot
        .spans()
        .iter()
        .filter(|s| s.attr_str("step") == Some(name))
        .count()
}

/// Refused twice with a delay to wait, then accepted: every span arrives
/// once, nothing is lost, and the second attempt came no sooner than the
/// delay asked for after the first.
fn retried_after_the_servers_delay(protocol: &str, refusal: &Refusal, at_least: Duration) {
    let rx = Receiver::start();
    rx.refuse(2, refusal.clone());
    let t = traces_only(&rx, protocol, "20000");
    emit(&t, "retried", 10);
    let report = t.shutdown();
    let snapshot = rx.snapshot();
    assert_eq!(steps(&snapshot, "retried"), 10, "{protocol}: {report}");
    assert_eq!(
        snapshot.rejected.len(),
        2,
        "{protocol}: {:?}",
        snapshot.rejected
    );
    let waited = snapshot.rejected[1].at - snapshot.rejected[0].at;
    assert!(
        waited >= at_least,
        "{protocol}: came back after {waited:?}, asked to wait {at_least:?}"
    );
    let traces = report.signal(Signal::Traces).next().expect("traces report");
    assert_eq!(
        (traces.exported, traces.lost()),
        (10, 0),
        "{protocol}: {report}"
    );
}

#[test]
fn unavailable_with_retry_after_seconds_is_retried_after_the_delay() {
    let refusal = Refusal::unavailable().retry_after(RetryAfter::Seconds(1));
    for protocol in PROTOCOLS {
        retried_after_the_servers_delay(protocol, &refusal, Duration::from_secs(1));
    }
}

#[test]
fn throttled_with_a_delay_is_retried_after_it() {
    // HTTP 429 with `Retry-After: <HTTP-date>` (one-second resolution, so
    // at least one second of the two); gRPC RESOURCE_EXHAUSTED with
    // `RetryInfo`, retryable only because it carries one.
    let refusal = Refusal::throttled().retry_after(RetryAfter::Date(Duration::from_secs(2)));
    for protocol in PROTOCOLS {
        retried_after_the_servers_delay(protocol, &refusal, Duration::from_secs(1));
    }
}

#[test]
fn a_delay_past_the_export_timeout_gives_up_at_once_and_counts_the_spans() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.refuse(
            1,
            Refusal::unavailable().retry_after(RetryAfter::Seconds(60)),
        );
        let t = traces_only(&rx, protocol, "2000");
        emit(&t, "late", 10);
        let report = t.shutdown();
        let snapshot = rx.snapshot();
        assert_eq!(snapshot.rejected.len(), 1, "{protocol}: {report}");
        assert_eq!(steps(&snapshot, "late"), 0, "{protocol}: {report}");
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(
            (traces.exported, traces.failed),
            (0, 10),
            "{protocol}: {report}"
        );
        assert!(!report.timed_out(), "{protocol}: gave up at once: {report}");
    }
}

#[test]
fn a_permanent_error_is_never_retried() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.refuse(5, Refusal::bad_request());
        let t = traces_only(&rx, protocol, "10000");
        emit(&t, "refused", 10);
        let report = t.shutdown();
        let snapshot = rx.snapshot();
        assert_eq!(
            snapshot.rejected.len(),
            1,
            "{protocol}: one attempt only: {:?}",
            snapshot.rejected
        );
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(
            (traces.exported, traces.failed),
            (0, 10),
            "{protocol}: {report}"
        );
        assert!(traces.last_error.is_some(), "{protocol}: {report}");
    }
}

#[test]
fn spans_rejected_by_a_partial_success_are_counted_as_lost() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.partial_success(3, "3 spans had no name");
        let t = traces_only(&rx, protocol, "10000");
        emit(&t, "partial", 10);
        let report = t.shutdown();
        assert_eq!(steps(&rx.snapshot(), "partial"), 10, "{protocol}: {report}");
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(
            (traces.exported, traces.failed),
            (7, 3),
            "{protocol}: {report}"
        );
        let error = traces.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("3 spans had no name"),
            "{protocol}: {report}"
        );
    }
}

#[test]
fn a_request_cut_off_by_a_collector_restart_is_sent_again() {
    for protocol in PROTOCOLS {
        let mut rx = Receiver::start();
        rx.hold();
        let t = traces_only(&rx, protocol, "20000");
        emit(&t, "cut", 1);
        std::thread::scope(|scope| {
            scope.spawn(|| t.flush());
            rx.expect(WAIT, "the held request", |s| steps(s, "cut") == 1);
            // The connection is closed mid-request, the port refuses for a
            // moment, then takes requests again.
            rx.stop();
            rx.restart().expect("restart on the same ports");
            rx.expect(WAIT, "the request sent again", |s| steps(s, "cut") == 2);
        });
        let report = t.shutdown();
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(
            (traces.exported, traces.lost()),
            (1, 0),
            "{protocol}: {report}"
        );
    }
}

/// A partial success for metrics: the export counts as failed (the report
/// cannot tell which points the collector kept) and says why, over each
/// protocol (OTLP/JSON names the count `rejectedDataPoints`).
#[test]
fn metrics_rejected_by_a_partial_success_are_counted() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.partial_success(2, "2 points had no name");
        let endpoint = if protocol == "grpc" {
            rx.grpc_endpoint()
        } else {
            rx.http_endpoint()
        };
        let t = builder(&[
            ("OTEL_SERVICE_NAME", "retry"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ])
        .self_metrics(false)
        .build()
        .expect("valid configuration");
        t.meter("retry")
            .u64_counter("shop.orders")
            .build()
            .add(1, &[]);
        let report = t.shutdown();
        assert!(
            rx.snapshot().metric("shop.orders").is_some(),
            "{protocol}: {report}"
        );
        let metrics = report
            .signal(Signal::Metrics)
            .next()
            .expect("metrics report");
        assert!(metrics.failed > 0, "{protocol}: {report}");
        let error = metrics.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("2 points had no name"),
            "{protocol}: {report}"
        );
    }
}
