//! Baggage (`semtel::baggage`) over OTLP to the in-process receiver: set in
//! a parent stage, it reaches child stages, `tracing` spans and log records
//! as attributes when its key is allow-listed (`SEMTEL_BAGGAGE_ATTRIBUTES`)
//! and never otherwise; it survives inject → extract across a simulated hop
//! and `tokio::spawn` with the context adapter.

use std::collections::HashMap;
use std::time::Duration;

use semtel::WithContext as _;
use semtel_tests::{ReceivedSpan, Receiver, Snapshot};

const WAIT: Duration = Duration::from_secs(20);

fn session(rx: &Receiver, allow: Option<&str>) -> semtel::Session {
    let mut vars: HashMap<String, String> = [
        ("OTEL_SERVICE_NAME", "baggage"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.http_endpoint().as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(keys) = allow {
        vars.insert("SEMTEL_BAGGAGE_ATTRIBUTES".into(), keys.into());
    }
    semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .build()
        .expect("valid configuration")
}

fn finish(s: semtel::Session, rx: &Receiver, spans: usize, logs: usize) -> Snapshot {
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    rx.expect(WAIT, "the spans and logs", |snap| {
        snap.spans().len() >= spans && snap.logs().len() >= logs
    })
}

fn one(snap: &Snapshot, name: &str) -> ReceivedSpan {
    snap.only_span(name)
}

#[semtel::stage(pipeline = "baggage")]
fn child() -> Option<String> {
    tracing::info_span!("child work").in_scope(|| tracing::info!("child log"));
    semtel::baggage::get("tenant")
}

#[semtel::stage(pipeline = "baggage")]
fn parent() -> Option<String> {
    let cx = semtel::baggage::set("tenant", "acme");
    let cx = semtel::baggage::set_in(&cx, [("secret", "s3cr3t")]);
    semtel::context::in_scope(&cx, child)
}

/// Runs `parent` under a session that copies `allow`, and returns what
/// arrived.
fn run_parent(allow: Option<&str>) -> Snapshot {
    let rx = Receiver::start();
    let s = session(&rx, allow);
    let seen = tracing::dispatcher::with_default(s.dispatch(), parent);
    assert_eq!(seen.as_deref(), Some("acme"), "the child reads the baggage");
    finish(s, &rx, 3, 1)
}

#[test]
fn allow_listed_baggage_of_a_parent_stage_is_on_its_children_spans_and_logs() {
    let snap = run_parent(Some("tenant,run.id"));
    let parent = one(&snap, "parent");
    let child = one(&snap, "child");
    let work = one(&snap, "child work");
    assert!(child.is_child_of(&parent));
    assert!(work.is_child_of(&child));
    assert_eq!(child.attr_str("tenant"), Some("acme"));
    assert_eq!(work.attr_str("tenant"), Some("acme"));
    // Set inside the parent: not the parent's own.
    assert_eq!(parent.attr_str("tenant"), None);
    let log = &snap.logs()[0];
    assert!(log.is_in(&work));
    assert_eq!(log.attr_str("tenant"), Some("acme"));
    // Keys not listed are never copied.
    for span in [&parent, &child, &work] {
        assert_eq!(span.attr("secret"), None, "{span:#?}");
    }
    assert_eq!(log.attr("secret"), None, "{log:#?}");
}

#[test]
fn baggage_is_not_copied_unless_allow_listed() {
    let snap = run_parent(None);
    for span in snap.spans() {
        assert_eq!(span.attr("tenant"), None, "{span:#?}");
        assert_eq!(span.attr("secret"), None, "{span:#?}");
    }
    for log in snap.logs() {
        assert_eq!(log.attr("tenant"), None, "{log:#?}");
    }
}

#[semtel::stage(pipeline = "baggage", span_kind = producer)]
fn publish() -> HashMap<String, String> {
    let cx = semtel::baggage::set("tenant", "acme");
    let mut headers = HashMap::new();
    semtel::context::in_scope(&cx, || semtel::propagation::inject(&mut headers));
    headers
}

#[semtel::stage(pipeline = "baggage", span_kind = consumer)]
fn consume() -> Option<String> {
    semtel::baggage::get("tenant")
}

#[test]
fn baggage_survives_inject_and_extract_across_a_hop() {
    let rx = Receiver::start();
    let s = session(&rx, Some("tenant"));
    let seen = tracing::dispatcher::with_default(s.dispatch(), || {
        let headers = publish();
        assert!(headers.contains_key("baggage"), "{headers:?}");
        // The consumer side: only the headers cross.
        let cx = semtel::propagation::extract(&headers);
        assert_eq!(
            semtel::baggage::get_in(&cx, "tenant").as_deref(),
            Some("acme")
        );
        semtel::context::in_scope(&cx, consume)
    });
    assert_eq!(seen.as_deref(), Some("acme"));
    let snap = finish(s, &rx, 2, 0);
    let publish = one(&snap, "publish");
    let consume = one(&snap, "consume");
    assert!(consume.is_child_of(&publish), "the trace continues");
    assert_eq!(consume.attr_str("tenant"), Some("acme"));
}

#[semtel::stage(pipeline = "baggage")]
async fn enrich() -> Option<String> {
    tracing::info!("enriched");
    semtel::baggage::get("tenant")
}

#[semtel::stage(pipeline = "baggage")]
async fn fan_out() -> Option<String> {
    let cx = semtel::baggage::set("tenant", "acme");
    tokio::spawn(enrich().with_context(cx))
        .await
        .expect("the task ends")
}

#[test]
fn baggage_crosses_tokio_spawn_with_the_context_adapter() {
    let rx = Receiver::start();
    let s = session(&rx, Some("tenant"));
    let dispatch = s.dispatch().clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // For the thread's life: the runtime's threads end with it.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("a tokio runtime");
    let seen = tracing::dispatcher::with_default(s.dispatch(), || runtime.block_on(fan_out()));
    drop(runtime);
    assert_eq!(seen.as_deref(), Some("acme"));
    let snap = finish(s, &rx, 2, 1);
    let parent = one(&snap, "fan_out");
    let child = one(&snap, "enrich");
    assert!(child.is_child_of(&parent));
    assert_eq!(child.attr_str("tenant"), Some("acme"));
    let log = &snap.logs()[0];
    assert!(log.is_in(&child));
    assert_eq!(log.attr_str("tenant"), Some("acme"));
}
