//! Every value semtel accepts works, and every absurd one is an error that
//! names the variable, the value and what is accepted: nothing hangs,
//! spins, aborts or panics. Regression tests over real OTLP.

mod common;

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{WAIT, builder};
use semtel::{Error, Signal};
use semtel_tests::{Receiver, Snapshot};

/// Shutdown bound given to semtel in these tests.
const BOUND: Duration = Duration::from_secs(5);

/// Runs `body` on its own thread; fails (instead of hanging) when it has
/// not returned within [`WAIT`] twice over.
fn bounded<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(WAIT * 2) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the body returned without sending"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} hung for {:?}", WAIT * 2),
    }
}

#[semtel::stage(pipeline = "config")]
fn checked(rows: u32) -> u32 {
    tracing::info!(rows, "checked");
    rows
}

fn logs_saying(snapshot: &Snapshot, body: &str) -> usize {
    snapshot
        .logs()
        .iter()
        .filter(|l| l.body_str() == Some(body))
        .count()
}

/// `OTEL_BSP_SCHEDULE_DELAY=0` and `OTEL_BLRP_SCHEDULE_DELAY=0`: each span
/// and log record goes out as it ends, with no flush; the queues' workers
/// sleep in between (they spun holding the queue's lock, and the first
/// `tracing::info!` blocked for ever).
fn zero_schedule_delays(protocol: &'static str) {
    let rx = Arc::new(Receiver::start());
    let endpoint = rx.http_endpoint();
    let receiver = Arc::clone(&rx);
    let report = bounded("a session with no schedule delay", move || {
        let session = builder(&[
            ("OTEL_SERVICE_NAME", "zero-delay"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "0"),
        ])
        .shutdown_timeout(BOUND)
        .build()
        .expect("a zero delay is valid");
        for round in 1..=3 {
            tracing::dispatcher::with_default(session.dispatch(), || {
                tracing::info!("first");
                tracing::info_span!("library").in_scope(|| checked(round));
            });
            // No flush: each arrives on its own.
            receiver.expect(WAIT, "the round's span, stage and logs", |s| {
                s.span("library")
                    .is_some_and(|_| s.spans().len() >= 2 * round as usize)
                    && logs_saying(s, "first") >= round as usize
                    && logs_saying(s, "checked") >= round as usize
            });
        }
        session.shutdown()
    });
    assert_eq!(report.lost(), 0, "{report}");
    assert!(!report.timed_out(), "{report}");
}

#[test]
fn zero_schedule_delays_export_each_record_as_it_ends_over_http_protobuf() {
    zero_schedule_delays("http/protobuf");
}

#[test]
fn zero_schedule_delays_export_each_record_as_it_ends_over_http_json() {
    // Spans through the SDK's exporter rather than semtel's encoder.
    zero_schedule_delays("http/json");
}

/// Timeouts of zero mean "no limit" (the specification): every export
/// arrives (each failed at once as timed out, or exports spun).
fn zero_timeouts(protocol: &str) {
    let rx = Receiver::start();
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let session = builder(&[
        ("OTEL_SERVICE_NAME", "zero-timeouts"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "0"),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("zero timeouts are valid");
    common::run_pipeline(&session);
    tracing::dispatcher::with_default(session.dispatch(), || checked(7));
    let report = session.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        let exported: u64 = report.signal(signal).map(|s| s.exported).sum();
        assert!(exported > 0, "nothing exported for {signal:?}: {report}");
    }
    rx.expect(WAIT, "3 spans, 3 logs and the counter", |s| {
        s.spans().len() >= 3 && s.logs().len() >= 3 && s.metric("pipeline.records").is_some()
    });
    // Requests over the metrics interval, not thousands a second.
    assert!(
        rx.count_signal(semtel_tests::Signal::Metrics) <= 2,
        "{}",
        rx.snapshot()
    );
}

#[test]
fn zero_timeouts_mean_no_limit_over_grpc() {
    zero_timeouts("grpc");
}

#[test]
fn zero_timeouts_mean_no_limit_over_http_protobuf() {
    zero_timeouts("http/protobuf");
}

/// The error a `build` gives for `vars`, with `variable` among its items.
fn build_error(vars: &[(&str, &str)], variable: &str) -> String {
    let error = match builder(vars).build() {
        Ok(_) => panic!("{vars:?} should be rejected"),
        Err(e) => e,
    };
    let Error::Config(items) = &error else {
        panic!("not a configuration error: {error}");
    };
    assert!(
        items.iter().any(|e| e.variable == variable),
        "{variable} not named: {error}"
    );
    error.to_string()
}

/// A metric export interval of zero would export without a pause: refused.
#[test]
fn a_zero_metric_export_interval_is_a_configuration_error() {
    let text = build_error(
        &[("OTEL_METRIC_EXPORT_INTERVAL", "0")],
        "OTEL_METRIC_EXPORT_INTERVAL",
    );
    assert!(text.contains("from 1 to 2147483647"), "{text}");
}

/// Queue and batch sizes past the documented bound are configuration
/// errors (a billion aborted the process allocating 64 GB at the first
/// stage call, `u64::MAX` panicked inside it with "capacity overflow").
#[test]
fn huge_queue_and_batch_sizes_are_configuration_errors() {
    for var in [
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    ] {
        for value in ["1000000000", "18446744073709551615", "0", "-1"] {
            let text = build_error(&[(var, value)], var);
            assert!(
                text.contains(&format!("{var}=\"{value}\"")) && text.contains("from 1 to 1048576"),
                "{text}"
            );
        }
    }
}

/// The largest sizes accepted work: stages' spans go out through a ring
/// of the largest size, their logs through a queue of it.
#[test]
fn the_largest_queue_size_accepted_records_stages() {
    let rx = Receiver::start();
    let session = builder(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.http_endpoint()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1048576"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1048576"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "1048576"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "1048576"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("the bound is accepted");
    let ran =
        tracing::dispatcher::with_default(session.dispatch(), || (0..10).map(checked).sum::<u32>());
    assert_eq!(ran, 45);
    let report = session.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    rx.expect(WAIT, "10 stage spans and their logs", |s| {
        s.spans().iter().filter(|s| s.name() == "checked").count() == 10
            && logs_saying(s, "checked") == 10
    });
}

/// `OTEL_EXPORTER_OTLP_INSECURE=true`: a gRPC endpoint written as
/// `host:port` is plain text; unset, it is TLS, which a plain-text
/// collector refuses (the exports fail, counted, and nothing arrives).
#[test]
fn otel_exporter_otlp_insecure_picks_plain_text_for_a_grpc_host_and_port() {
    let rx = Receiver::start();
    let host_port = format!("127.0.0.1:{}", rx.grpc_port());
    for (insecure, traces_insecure) in [("true", None), ("false", Some("true"))] {
        let mut vars = vec![
            ("OTEL_SERVICE_NAME", "insecure"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", host_port.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_INSECURE", insecure),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ];
        if let Some(v) = traces_insecure {
            vars.push(("OTEL_EXPORTER_OTLP_TRACES_INSECURE", v));
        }
        let session = builder(&vars)
            .shutdown_timeout(BOUND)
            .build()
            .expect("host:port is a valid gRPC endpoint");
        assert_eq!(
            session.config().traces.otlp.endpoint,
            format!("http://{host_port}")
        );
        tracing::dispatcher::with_default(session.dispatch(), || checked(1));
        let report = session.shutdown();
        assert_eq!(report.lost(), 0, "{report}");
    }
    rx.expect(WAIT, "2 stage spans", |s| s.spans().len() == 2);

    rx.clear();
    let session = builder(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", host_port.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .shutdown_timeout(BOUND)
    .build()
    .expect("host:port is a valid gRPC endpoint");
    assert_eq!(
        session.config().traces.otlp.endpoint,
        format!("https://{host_port}")
    );
    tracing::dispatcher::with_default(session.dispatch(), || checked(1));
    let started = Instant::now();
    let report = session.shutdown();
    assert!(started.elapsed() < BOUND * 2, "{report}");
    let traces = report
        .signal(Signal::Traces)
        .next()
        .expect("a traces report");
    assert_eq!((traces.exported, traces.lost()), (0, 1), "{report}");
    assert!(rx.snapshot().spans().is_empty(), "TLS to a plain-text port");

    // HTTP endpoints are URLs: the setting does not make one of host:port.
    build_error(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", host_port.as_str()),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ],
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    );
}

/// A value that is not UTF-8 in the process environment is an error naming
/// the variable (it was read as unset before).
#[test]
fn a_process_environment_value_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStrExt as _;
    let out = common::child::run(
        "not_utf8_child",
        &[(
            "OTEL_BSP_MAX_QUEUE_SIZE",
            std::ffi::OsStr::from_bytes(b"20\xff48"),
        )],
        WAIT,
    );
    assert!(out.success, "{out}");
    assert!(
        out.stdout.contains(
            "OTEL_BSP_MAX_QUEUE_SIZE=\"20\u{fffd}48\" is not valid: expected valid UTF-8"
        ),
        "{out}"
    );
}

#[test]
fn not_utf8_child() {
    if !common::child::is_child() {
        return;
    }
    // The process environment, as `init()` reads it.
    let error = semtel::builder().config().expect_err("not UTF-8");
    println!("{error}");
}

/// Event and link attribute limits past the documented bound are refused,
/// naming the variable, the value and the range.
#[test]
fn huge_event_and_link_attribute_limits_are_configuration_errors() {
    for var in [
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    ] {
        for value in ["65537", "-1", "many"] {
            let text = build_error(&[(var, value)], var);
            assert!(
                text.contains(&format!("{var}=\"{value}\"")) && text.contains("from 0 to 65536"),
                "{text}"
            );
        }
    }
}
