//! Shutdown is bounded and complete from every kind of caller: a plain `main`,
//! a multi-thread tokio runtime, and a current-thread tokio runtime (where the
//! OpenTelemetry SDK's own batch processor with a tonic exporter can deadlock).
//! Also: context propagation through Kafka-style and HTTP headers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use semtel::Signal;
use semtel_tests::Receiver;

const WAIT: Duration = Duration::from_secs(20);

fn telemetry(rx: &Receiver, protocol: &str) -> semtel::Session {
    let endpoint = match protocol {
        "grpc" => rx.grpc_endpoint(),
        _ => rx.http_endpoint(),
    };
    let vars: HashMap<String, String> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_SERVICE_NAME", "runtimes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .expect("valid configuration")
}

async fn stage(name: &'static str) {
    let span = tracing::info_span!("stage", pipeline.stage.name = name);
    let _entered = span.enter();
    tracing::info!(stage = name, "stage ran");
}

fn assert_delivered(report: &semtel::ShutdownReport, rx: &Receiver, stage_name: &str) {
    assert_eq!(report.lost(), 0, "{report}");
    assert!(!report.timed_out(), "{report}");
    let traces: u64 = report.signal(Signal::Traces).map(|s| s.exported).sum();
    assert_eq!(traces, 1, "{report}");
    let snapshot = rx.expect(WAIT, "the stage span and its log", |s| {
        !s.spans().is_empty() && !s.logs().is_empty()
    });
    let span = snapshot.span("stage").expect("stage span");
    assert_eq!(span.attr_str("pipeline.stage.name"), Some(stage_name));
    let log = &snapshot.logs()[0];
    assert_eq!(log.span_id(), Some(span.span_id()));
}

#[test]
fn shutdown_from_plain_main_delivers_everything() {
    let rx = Receiver::start();
    let t = telemetry(&rx, "http/protobuf");
    tracing::dispatcher::with_default(t.dispatch(), || {
        let span = tracing::info_span!("stage", pipeline.stage.name = "plain");
        span.in_scope(|| tracing::info!("stage ran"));
    });
    let started = Instant::now();
    let report = t.shutdown();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_delivered(&report, &rx, "plain");
}

#[test]
fn shutdown_inside_a_current_thread_runtime_does_not_deadlock() {
    let rx = Receiver::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let report = rt.block_on(async {
        // Built inside the runtime, on its only thread, with the gRPC exporter.
        let t = telemetry(&rx, "grpc");
        {
            let _default = tracing::dispatcher::set_default(t.dispatch());
            stage("current-thread").await;
        }
        // Shut down from inside the only runtime thread.
        t.shutdown()
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_delivered(&report, &rx, "current-thread");
}

#[test]
fn telemetry_dropped_inside_a_multi_thread_runtime_flushes() {
    let rx = Receiver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        let t = telemetry(&rx, "grpc");
        {
            let _default = tracing::dispatcher::set_default(t.dispatch());
            stage("multi-thread").await;
        }
        // shutdown() from async context; the drop path is the same code.
        tokio::task::spawn_blocking(move || t.shutdown())
            .await
            .unwrap()
    });
    assert_delivered(&report, &rx, "multi-thread");
}

#[test]
fn a_consumer_continues_the_producers_trace_through_kafka_headers() {
    let rx = Receiver::start();
    let t = telemetry(&rx, "http/protobuf");
    tracing::dispatcher::with_default(t.dispatch(), || {
        let mut headers: Vec<(String, Vec<u8>)> = vec![("key".into(), b"order-1".to_vec())];
        tracing::info_span!("orders publish", otel.kind = "producer").in_scope(|| {
            semtel::propagation::inject(&mut headers);
        });
        assert!(
            headers.iter().any(|(k, _)| k == "traceparent"),
            "{headers:?}"
        );
        let consumer = tracing::info_span!("orders process", otel.kind = "consumer");
        semtel::propagation::set_parent(&consumer, semtel::propagation::extract(&headers));
        consumer.in_scope(|| tracing::info!("consumed"));
    });
    drop(t);
    let s = rx.expect(WAIT, "producer and consumer spans", |s| {
        s.spans().len() >= 2
    });
    let producer = s.span("orders publish").unwrap();
    let consumer = s.span("orders process").unwrap();
    assert_eq!(consumer.trace_id(), producer.trace_id());
    assert!(consumer.is_child_of(&producer));
}

#[test]
fn http_header_maps_carry_context_and_baggage() {
    use opentelemetry::KeyValue;
    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::trace::TraceContextExt as _;

    let rx = Receiver::start();
    let t = telemetry(&rx, "http/protobuf");
    tracing::dispatcher::with_default(t.dispatch(), || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let cx = semtel::propagation::current_context()
            .with_baggage(vec![KeyValue::new("tenant", "acme")]);
        let mut headers = http::HeaderMap::new();
        semtel::propagation::inject_context(&cx, &mut headers);
        let back = semtel::propagation::extract(&headers);
        assert_eq!(
            back.span().span_context().trace_id(),
            semtel::propagation::span_context(&span).trace_id()
        );
        assert!(back.span().span_context().is_remote());
        assert_eq!(
            back.baggage().get("tenant").map(|v| v.as_str().to_owned()),
            Some("acme".into())
        );
    });
}

#[test]
fn disabled_sdk_exports_nothing_and_prints_nothing() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let console = Captured::default();
    let t = semtel::builder()
        .env(move |k| match k {
            "OTEL_SDK_DISABLED" => Some("true".into()),
            "OTEL_LOGS_EXPORTER" => Some("console".into()),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some(format!("{endpoint}/v1/traces")),
            _ => None,
        })
        .console_writer(console.clone())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(t.dispatch(), || {
        tracing::info_span!("stage").in_scope(|| tracing::info!("nothing"));
    });
    let report = t.shutdown();
    assert!(report.signals().is_empty(), "{report}");
    assert!(rx.snapshot().spans().is_empty());
    let printed = String::from_utf8(console.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        printed, "",
        "no hint, no log lines, no summary when disabled"
    );
}

#[test]
fn rust_log_filters_what_is_exported() {
    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let t = semtel::builder()
        .env(move |k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "RUST_LOG" => Some("warn,runtimes::loader=debug".into()),
            _ => None,
        })
        .exporters(Signal::Metrics, &[])
        .build()
        .unwrap();
    tracing::dispatcher::with_default(t.dispatch(), || {
        tracing::info_span!("filtered out").in_scope(|| tracing::info!("quiet"));
        tracing::warn_span!("kept").in_scope(|| {
            tracing::warn!("loud");
            tracing::debug!(target: "runtimes::loader", "chatty but allowed");
            tracing::debug!(target: "runtimes::other", "chatty and dropped");
        });
    });
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let s = rx.expect(WAIT, "the kept span", |s| s.span("kept").is_some());
    assert!(s.span("filtered out").is_none());
    let mut bodies: Vec<String> = s.logs().iter().map(|l| l.body_text()).collect();
    bodies.sort();
    assert_eq!(bodies, ["chatty but allowed", "loud"]);
}

/// What sqlx, reqwest middlewares or the AWS SDK emit: `tracing` spans under
/// their own targets, sometimes with `otel.*` fields.
mod library {
    pub fn query(sql: &str) {
        let span = tracing::info_span!(
            target: "sqlx::query",
            "sqlx.query",
            db.statement = sql,
            otel.kind = "client",
            otel.name = "SELECT orders",
        );
        let _entered = span.enter();
        tracing::info!(target: "sqlx::query", rows_returned = 3, "summary");
    }
}

#[test]
fn library_spans_are_exported_under_the_callers_span() {
    use semtel_tests::proto::tonic::trace::v1::span::SpanKind;

    let rx = Receiver::start();
    let t = telemetry(&rx, "grpc");
    tracing::dispatcher::with_default(t.dispatch(), || {
        tracing::info_span!("load").in_scope(|| library::query("select * from orders"));
    });
    assert_eq!(t.shutdown().lost(), 0);
    let s = rx.expect(WAIT, "load and the library span", |s| s.spans().len() >= 2);
    let load = s.span("load").unwrap();
    let query = s.span("SELECT orders").expect("otel.name renames the span");
    assert!(query.is_child_of(&load));
    assert_eq!(query.kind(), SpanKind::Client);
    assert_eq!(query.attr_str("db.statement"), Some("select * from orders"));
    let log = s
        .logs()
        .into_iter()
        .find(|l| l.body_text() == "summary")
        .unwrap();
    assert_eq!(log.span_id(), Some(query.span_id()));
    assert_eq!(log.trace_id(), Some(load.trace_id()));
}
