//! The instrumented pipeline the end-to-end tests run, and its configuration.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::KeyValue;

pub mod child;
pub mod orders;

/// Upper bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(20);

/// Builds telemetry from `vars` only (never the process environment).
pub fn telemetry(vars: &[(&str, &str)]) -> semtel::Session {
    builder(vars).build().expect("valid configuration")
}

/// A builder reading `vars` only, with `service.name` left to the variables.
pub fn builder(vars: &[(&str, &str)]) -> semtel::Builder {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    semtel::builder().env(move |key| vars.get(key).cloned())
}

/// A session exporting to `rx` over OTLP/HTTP protobuf as `service`,
/// spans and log records sent 50 ms after they end, with `extra`
/// variables on top.
pub fn http_session(
    rx: &semtel_tests::Receiver,
    service: &str,
    extra: &[(&str, &str)],
) -> semtel::Session {
    let endpoint = rx.http_endpoint();
    let mut vars = vec![
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
    ];
    vars.extend_from_slice(extra);
    builder(&vars).build().expect("valid configuration")
}

/// Ids of what [`run_pipeline`] emitted, hex, read from inside the spans.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// The trace both spans belong to.
    pub trace_id: String,
    /// The `pipeline` span.
    pub pipeline_span_id: String,
    /// The `stage` span, child of `pipeline`.
    pub stage_span_id: String,
}

/// Runs a small instrumented pipeline under `telemetry`'s dispatcher:
///
/// ```text
/// span pipeline {pipeline.run = "r1"}
///   span stage {pipeline.stage.name = "load"}
///     INFO "loaded" {records = 3, table = "orders", ratio = 0.5, complete = true}
///     counter pipeline.records += 3 {pipeline.stage.name = "load"}
///     histogram pipeline.stage.duration records 0.25 s
///   WARN "slow batch" {late = true}
/// ```
pub fn run_pipeline(telemetry: &semtel::Session) -> Emitted {
    let _default = tracing::dispatcher::set_default(telemetry.dispatch());
    let meter = telemetry.meter("e2e");
    let records = meter
        .u64_counter("pipeline.records")
        .with_unit("{record}")
        .build();
    let duration = meter
        .f64_histogram("pipeline.stage.duration")
        .with_unit("s")
        .build();

    let pipeline = tracing::info_span!("pipeline", pipeline.run = "r1");
    let stage = tracing::info_span!(parent: &pipeline, "stage", pipeline.stage.name = "load");
    pipeline.in_scope(|| {
        stage.in_scope(|| {
            tracing::info!(
                records = 3,
                table = "orders",
                ratio = 0.5,
                complete = true,
                "loaded"
            );
            records.add(3, &[KeyValue::new("pipeline.stage.name", "load")]);
            duration.record(0.25, &[KeyValue::new("pipeline.stage.name", "load")]);
        });
        tracing::warn!(late = true, "slow batch");
    });
    let pipeline_cx = semtel::propagation::span_context(&pipeline);
    let stage_cx = semtel::propagation::span_context(&stage);
    Emitted {
        trace_id: pipeline_cx.trace_id().to_string(),
        pipeline_span_id: pipeline_cx.span_id().to_string(),
        stage_span_id: stage_cx.span_id().to_string(),
    }
}

/// Emits one span named `name` with one INFO log inside, under `telemetry`.
pub fn emit_span(telemetry: &semtel::Session, name: &'static str) {
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("step", step = name)
            .in_scope(|| tracing::info!(step = name, "step ran"));
    });
}

/// A loopback port nothing listens on (bound, read, released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Telemetry for `service` exporting over gRPC to `grpc_endpoint`.
pub fn grpc_telemetry(service: &str, grpc_endpoint: &str) -> semtel::Session {
    telemetry(&[
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc_endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
}

/// A multi-thread runtime whose threads (workers and blocking pool) use the
/// session's dispatcher, as every thread does under `init()`'s global one.
pub fn session_runtime(s: &semtel::Session) -> tokio::runtime::Runtime {
    let dispatch = s.dispatch().clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // For the thread's life: the runtime's threads end with it.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("a tokio runtime")
}

/// A current-thread tokio runtime: what it runs stays on the test's thread,
/// under the dispatcher the test set there.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
