//! `#[stage]` at run time against the in-process OTLP receiver: span name and
//! kind, pipeline attributes, error status, event and `error.type`, nesting.
//! (Stage metrics go to the global meter provider: see the end-to-end test.)

use std::collections::HashMap;
use std::time::Duration;

use semtel_tests::Receiver;
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;

#[derive(Debug, semtel::Telemetry)]
enum LoadError {
    #[telemetry(error_type = "timeout")]
    TimedOut,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database timed out")
    }
}

#[semtel::stage(pipeline = "orders", kind = sink, span_kind = client,
    fields(db.system.name = "sqlite", db.collection.name = table))]
fn load(table: &str, fail: bool) -> Result<usize, LoadError> {
    tracing::info!("loading");
    if fail {
        return Err(LoadError::TimedOut);
    }
    Ok(1)
}

#[semtel::stage(pipeline = "orders", kind = transform)]
fn outer() -> usize {
    load("orders", false).unwrap_or(0)
}

#[test]
fn stage_spans_carry_pipeline_attributes_errors_and_nest() {
    let rx = Receiver::start();
    let vars: HashMap<String, String> = [
        ("OTEL_SERVICE_NAME", "stage-local"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.http_endpoint().as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let session = semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .build()
        .expect("valid configuration");
    tracing::dispatcher::with_default(session.dispatch(), || {
        assert_eq!(outer(), 1);
        assert!(matches!(load("orders", true), Err(LoadError::TimedOut)));
    });
    let report = session.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(Duration::from_secs(10), "3 stage spans", |s| {
        s.spans().len() >= 3
    });
    let spans = snap.spans();
    let loads: Vec<_> = spans.iter().filter(|s| s.name() == "load").collect();
    let outer = snap.span("outer").expect("outer span");
    assert_eq!(loads.len(), 2, "{snap}");
    let ok = loads
        .iter()
        .find(|s| s.is_child_of(&outer))
        .expect("nested load");
    let failed = loads
        .iter()
        .find(|s| !s.is_child_of(&outer))
        .expect("failed load");

    assert_eq!(ok.kind(), SpanKind::Client);
    assert_eq!(outer.kind(), SpanKind::Internal);
    assert_eq!(ok.attr_str("pipeline.name"), Some("orders"));
    assert_eq!(ok.attr_str("pipeline.stage.name"), Some("load"));
    assert_eq!(ok.attr_str("pipeline.stage.kind"), Some("sink"));
    assert_eq!(outer.attr_str("pipeline.stage.kind"), Some("transform"));
    assert_eq!(ok.attr_str("db.system.name"), Some("sqlite"));
    assert_eq!(ok.attr_str("db.collection.name"), Some("orders"));
    assert_ne!(ok.status_code(), StatusCode::Error);
    assert_eq!(ok.attr_str("error.type"), None);

    assert_eq!(failed.status_code(), StatusCode::Error);
    assert_eq!(failed.status_message(), "the database timed out");
    assert_eq!(failed.attr_str("error.type"), Some("timeout"));
    assert!(failed.event_names().contains(&"exception"), "{snap}");

    // The user's log and the stage's own failure record, both in its span
    // (in whichever order the batch holds them).
    let logs = snap.logs();
    let mut in_failed: Vec<String> = logs
        .iter()
        .filter(|l| l.is_in(failed))
        .map(semtel_tests::ReceivedLog::body_text)
        .collect();
    in_failed.sort();
    assert_eq!(in_failed, ["loading", "stage failed"]);
}
