//! `Builder::span_exporter`: an OpenTelemetry SDK span exporter given in
//! code receives stage spans (from semtel's engine) and `tracing` spans as
//! `SpanData`, with their ids, parents, attributes, status and timing, and is
//! accounted for in the shutdown report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use semtel::Signal;

/// Keeps every span it is given.
#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl semtel::ErrorType for Refused {
    fn error_type(&self) -> &'static str {
        "refused"
    }
}

#[semtel::stage(pipeline = "in-memory", fields(db.system.name = "sqlite"))]
fn write(n: u64) -> Result<u64, Refused> {
    tracing::info_span!("library call").in_scope(|| ());
    if n == 0 { Err(Refused) } else { Ok(n) }
}

#[semtel::stage(pipeline = "in-memory")]
fn batch(ns: &[u64]) -> usize {
    ns.iter().filter(|n| write(**n).is_ok()).count()
}

fn session(spans: &Collect) -> semtel::Session {
    let vars: HashMap<&str, &str> = [
        ("OTEL_SERVICE_NAME", "in-memory"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]
    .into_iter()
    .collect();
    semtel::builder()
        .env(move |k| vars.get(k).map(|v| (*v).to_owned()))
        .span_exporter("memory", spans.clone())
        .build()
        .expect("valid configuration")
}

#[test]
fn stage_and_tracing_spans_reach_an_sdk_exporter_given_in_code() {
    let spans = Collect::default();
    let s = session(&spans);
    let before = SystemTime::now();
    let ok = tracing::dispatcher::with_default(s.dispatch(), || batch(&[3, 0, 5]));
    let after = SystemTime::now();
    assert_eq!(ok, 2);
    let report = s.shutdown();
    let memory: Vec<_> = report.signal(Signal::Traces).collect();
    assert_eq!(memory.len(), 1, "{report}");
    assert_eq!(memory[0].destination, "memory");
    assert_eq!((memory[0].exported, memory[0].lost()), (7, 0), "{report}");

    let spans = spans.0.lock().unwrap();
    let named = |name: &'static str| spans.iter().filter(move |s| s.name == name);
    let root = named("batch").next().expect("the batch stage");
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert!(root.start_time >= before - Duration::from_millis(5) && root.end_time <= after);
    assert!(root.start_time <= root.end_time);
    let writes: Vec<_> = named("write").collect();
    assert_eq!(writes.len(), 3);
    for w in &writes {
        assert_eq!(w.parent_span_id, root.span_context.span_id());
        assert_eq!(w.span_context.trace_id(), root.span_context.trace_id());
        let attr = |k: &str| {
            w.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attr("pipeline.name").as_deref(), Some("in-memory"));
        assert_eq!(attr("db.system.name").as_deref(), Some("sqlite"));
        assert_eq!(w.instrumentation_scope.name(), "semtel");
    }
    let failed: Vec<_> = writes
        .iter()
        .filter(|w| matches!(w.status, Status::Error { .. }))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].events.iter().any(|e| e.name == "exception"));
    // The library's spans nest under the write stage that was current.
    let library: Vec<_> = named("library call").collect();
    assert_eq!(library.len(), 3);
    for l in library {
        assert!(
            writes
                .iter()
                .any(|w| w.span_context.span_id() == l.parent_span_id),
            "{l:?}"
        );
    }
}

/// A builder (which may hold exporters given in code) can be made on one
/// thread and used from another, as before it could hold them.
#[test]
fn a_builder_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<semtel::Builder>();
}
