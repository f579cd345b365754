//! A panic inside a stage, caught further up as thread pools and task
//! runtimes do, is recorded as the call's failure (span, log record and
//! stage metrics) and reaches the caller unchanged. After `init` (stage
//! metrics need the global meter provider), so this binary holds one test.

mod common;

use semtel_tests::proto::tonic::common::v1::any_value::Value;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{Receiver, attr_str};

#[semtel::stage(pipeline = "panics")]
fn explode(n: u64) -> u64 {
    if n > 0 {
        panic!("record {n} is malformed");
    }
    n
}

#[semtel::stage(pipeline = "panics")]
fn explode_literal() {
    panic!("literal message");
}

#[semtel::stage(pipeline = "panics")]
fn explode_any() {
    std::panic::panic_any(7_u32);
}

#[semtel::stage(pipeline = "panics")]
async fn explode_async(n: u64) -> u64 {
    tokio::task::yield_now().await;
    if n > 0 {
        panic!("async record {n} is malformed");
    }
    n
}

/// A stage whose body panics inside an inner stage: both calls fail.
#[semtel::stage(pipeline = "panics")]
fn outer() -> u64 {
    explode(3)
}

#[test]
fn a_panic_in_a_stage_is_a_failure_and_reaches_the_caller_unchanged() {
    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "stage-panics"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
    ])
    .init()
    .expect("first init in this process");

    // The payloads arrive unchanged where a pool would catch them.
    let payload = std::panic::catch_unwind(|| explode(1)).expect_err("panics");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("record 1 is malformed")
    );
    let payload = std::panic::catch_unwind(explode_literal).expect_err("panics");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"literal message"));
    let payload = std::panic::catch_unwind(explode_any).expect_err("panics");
    assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
    let payload = std::panic::catch_unwind(outer).expect_err("panics");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("record 3 is malformed")
    );
    assert_eq!(explode(0), 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let err = tokio::spawn(explode_async(2)).await.expect_err("panics");
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("async record 2 is malformed")
        );
        assert_eq!(tokio::spawn(explode_async(0)).await.expect("no panic"), 0);
    });
    drop(rt);
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(common::WAIT, "7 spans, stage metrics", |s| {
        s.spans().len() >= 7 && s.metric("pipeline.stage.failures").is_some()
    });
    let spans = snap.spans();
    let span = |name: &str, failed: bool| {
        spans
            .iter()
            .find(|s| s.name() == name && (s.status_code() == StatusCode::Error) == failed)
            .unwrap_or_else(|| panic!("a span {name} (failed: {failed}) in {snap}"))
    };
    let exception = |s: &semtel_tests::record::ReceivedSpan| {
        let events: Vec<_> = s
            .span
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .collect();
        assert_eq!(events.len(), 1, "one exception event on {}", s.name());
        let message = attr_str(&events[0].attributes, "exception.message").map(str::to_owned);
        (
            attr_str(&events[0].attributes, "exception.type").map(str::to_owned),
            message,
        )
    };
    for (name, message) in [
        ("explode", Some("record 1 is malformed")),
        ("explode_literal", Some("literal message")),
        ("explode_any", None),
        ("explode_async", Some("async record 2 is malformed")),
        ("outer", Some("record 3 is malformed")),
    ] {
        let s = span(name, true);
        assert_eq!(s.attr_str("error.type"), Some("panic"), "{name}");
        let (exception_type, exception_message) = exception(s);
        assert_eq!(exception_type.as_deref(), Some("panic"), "{name}");
        assert_eq!(exception_message.as_deref(), message, "{name}");
        assert_eq!(s.status_message(), message.unwrap_or("panic"), "{name}");
        let keys: Vec<_> = s.span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys.iter().filter(|k| **k == "error.type").count(),
            1,
            "{keys:?}"
        );
    }
    // The inner stage of `outer` failed too, inside it.
    let inner = spans
        .iter()
        .find(|s| s.name() == "explode" && s.is_child_of(span("outer", true)))
        .expect("explode inside outer");
    assert_eq!(inner.attr_str("error.type"), Some("panic"));
    for name in ["explode", "explode_async"] {
        let s = span(name, false);
        assert_eq!(s.attr_str("error.type"), None, "{name}");
        assert!(s.event_names().is_empty(), "{name}: {:?}", s.event_names());
    }
    // One "stage failed" record per failed call, with its message.
    let failed: Vec<_> = snap
        .logs()
        .into_iter()
        .filter(|l| l.body_str() == Some("stage failed"))
        .collect();
    assert_eq!(failed.len(), 6, "{snap}");
    assert!(
        failed
            .iter()
            .all(|l| l.attr_str("error.type") == Some("panic"))
    );
    assert!(failed.iter().any(|l| {
        l.attr("exception.message").and_then(|v| v.value.as_ref())
            == Some(&Value::StringValue("async record 2 is malformed".into()))
    }));

    // Stage metrics: each panicked call is a failure with `error.type`
    // `panic`, its duration in the failure series; the others succeeded.
    let duration = snap.metric("pipeline.stage.duration").expect("durations");
    let count = |stage: &str, error: Option<&str>| duration.stage_count(stage, error);
    for (stage, failed, ok) in [
        ("explode", 2, 1),
        ("explode_literal", 1, 0),
        ("explode_any", 1, 0),
        ("explode_async", 1, 1),
        ("outer", 1, 0),
    ] {
        assert_eq!(count(stage, Some("panic")), failed, "{stage} failed");
        assert_eq!(count(stage, None), ok, "{stage} succeeded");
    }
    let failures = snap.metric("pipeline.stage.failures").expect("failures");
    assert_eq!(failures.total(), 6.0);
    assert!(
        failures
            .number_points()
            .iter()
            .all(|p| attr_str(&p.attributes, "error.type") == Some("panic"))
    );
    // Nothing is left in flight.
    let active = snap
        .metrics()
        .into_iter()
        .rfind(|m| m.name() == "pipeline.stage.active")
        .expect("the in-flight gauge");
    assert!(
        active.number_points().iter().all(|p| p.value == 0.0),
        "{:?}",
        active.number_points()
    );
}
