//! Span limits and oversized requests: one span with a 5 MB attribute must
//! not cost the spans exported with it. A collector with a 4 MiB message
//! limit refuses the batch; semtel sends it again in halves and drops (and
//! counts) only the span that is too large alone. With a value length limit
//! the span arrives, its value cut. Over gRPC, HTTP/protobuf and HTTP/JSON.
//! Count limits on span, event and link attributes drop and count the rest.

mod common;

use std::time::Duration;

use common::builder;
use semtel::Signal;
use semtel_tests::{Receiver, Snapshot};

const PROTOCOLS: [&str; 3] = ["grpc", "http/protobuf", "http/json"];
/// The receiver's message limit, as a collector's default gRPC limit.
const LIMIT: usize = 4 << 20;

fn session(rx: &Receiver, protocol: &str, extra: &[(&str, &str)]) -> semtel::Session {
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let mut vars = vec![
        ("OTEL_SERVICE_NAME", "limits"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ];
    vars.extend_from_slice(extra);
    builder(&vars)
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .expect("valid configuration")
}

#[semtel::stage(pipeline = "limits", fields(db.query.text = query))]
fn run_query(query: &str) -> usize {
    query.len()
}

#[semtel::stage(pipeline = "limits")]
fn small(i: usize) -> usize {
    i
}

/// One stage span carrying `query` and 30 small ones, in one batch.
fn emit(t: &semtel::Session, query: &str) {
    tracing::dispatcher::with_default(t.dispatch(), || {
        for i in 0..15 {
            small(i);
        }
        run_query(query);
        for i in 15..30 {
            small(i);
        }
    });
}

fn stage_spans(snapshot: &Snapshot, stage: &str) -> usize {
    snapshot
        .spans()
        .iter()
        .filter(|s| s.attr_str("pipeline.stage.name") == Some(stage))
        .count()
}

/// 5 MB in two-byte characters, so a cut in the wrong place would be
/// invalid UTF-8.
fn big_query() -> String {
    "é".repeat(5 << 19)
}

#[test]
fn an_oversized_span_is_dropped_alone_and_the_others_arrive() {
    let query = big_query();
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        rx.max_message(Some(LIMIT));
        let t = session(&rx, protocol, &[]);
        emit(&t, &query);
        let report = t.shutdown();
        let snapshot = rx.snapshot();
        assert_eq!(stage_spans(&snapshot, "small"), 30, "{protocol}: {report}");
        assert_eq!(
            stage_spans(&snapshot, "run_query"),
            0,
            "{protocol}: {report}"
        );
        assert!(
            !snapshot.rejected.is_empty(),
            "{protocol}: the receiver refused the whole batch first"
        );
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(
            (traces.exported, traces.failed, traces.lost()),
            (30, 1, 1),
            "{protocol}: {report}"
        );
    }
}

#[test]
fn with_a_length_limit_the_oversized_value_arrives_cut_on_a_char_boundary() {
    let query = big_query();
    for (protocol, variable) in [
        ("grpc", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
        ("http/protobuf", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
        ("http/json", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
    ] {
        let rx = Receiver::start();
        rx.max_message(Some(LIMIT));
        let t = session(&rx, protocol, &[(variable, "1000")]);
        emit(&t, &query);
        let report = t.shutdown();
        let snapshot = rx.snapshot();
        assert!(snapshot.rejected.is_empty(), "{protocol}: {report}");
        assert_eq!(stage_spans(&snapshot, "small"), 30, "{protocol}: {report}");
        let span = snapshot.span("run_query").expect("the big span arrived");
        assert_eq!(
            span.attr_str("db.query.text"),
            Some("é".repeat(1000).as_str()),
            "{protocol}: 1000 characters kept"
        );
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(
            (traces.exported, traces.lost()),
            (31, 0),
            "{protocol}: {report}"
        );
        assert_eq!(traces.limited, 1, "{protocol}: one value cut: {report}");
    }
}

#[semtel::stage(pipeline = "limits", fields(db.query.text = query, db.operation.name = op))]
fn two_fields(query: &str, op: &str) -> usize {
    query.len() + op.len()
}

#[test]
fn count_limits_drop_and_count_attributes_on_stage_and_tracing_spans() {
    let rx = Receiver::start();
    // A stage's own `pipeline.name` and `pipeline.stage.name` fill the two.
    let t = session(
        &rx,
        "http/protobuf",
        &[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")],
    );
    tracing::dispatcher::with_default(t.dispatch(), || {
        two_fields("SELECT 1", "SELECT");
        tracing::info_span!("plain", a = 1, b = 2, c = 3, d = 4).in_scope(|| {});
    });
    let report = t.shutdown();
    let snapshot = rx.snapshot();
    let stage = snapshot.span("two_fields").expect("stage span");
    assert_eq!(stage.span.attributes.len(), 2, "{stage:?}");
    assert!(stage.attr_str("pipeline.stage.name").is_some());
    assert_eq!(stage.span.dropped_attributes_count, 2);
    let plain = snapshot.span("plain").expect("tracing span");
    // tracing-opentelemetry adds `code.*` attributes of its own: of the
    // eight or so, two are kept (one of them, `code.module.name`, semtel
    // then leaves out) and the rest counted.
    assert!(plain.span.attributes.len() <= 2, "{plain:?}");
    assert!(plain.span.dropped_attributes_count >= 4, "{plain:?}");
    let traces = report.signal(Signal::Traces).next().expect("traces report");
    assert_eq!(traces.exported, 2, "{report}");
    assert_eq!(
        traces.limited,
        u64::from(stage.span.dropped_attributes_count + plain.span.dropped_attributes_count),
        "{report}"
    );
}

#[semtel::stage(pipeline = "limits")]
fn checkpoint(rows: u64) -> u64 {
    semtel::stage::current().event(
        "checkpoint",
        &[("a", &rows), ("b", &rows), ("c", &rows), ("d", &rows)],
    );
    rows
}

/// A stage span's event, and a `tracing` span's event and link (kept by
/// the SDK), each with four attributes.
fn emit_events_and_links(t: &semtel::Session) {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    tracing::dispatcher::with_default(t.dispatch(), || {
        checkpoint(3);
        let span = tracing::info_span!("plain");
        let linked = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let attributes = ["w", "x", "y", "z"].map(|k| opentelemetry::KeyValue::new(k, 1));
        span.add_link_with_attributes(linked, attributes.to_vec());
        let attributes = ["a", "b", "c", "d"].map(|k| opentelemetry::KeyValue::new(k, 1));
        span.add_event("noted", attributes.to_vec());
        drop(span);
    });
}

/// Everything the limits dropped, as the spans say it.
fn dropped(snapshot: &Snapshot) -> u64 {
    let mut n = 0;
    for s in snapshot.spans() {
        let s = &s.span;
        n += u64::from(s.dropped_attributes_count + s.dropped_events_count + s.dropped_links_count);
        n += s
            .events
            .iter()
            .map(|e| u64::from(e.dropped_attributes_count))
            .sum::<u64>();
        n += s
            .links
            .iter()
            .map(|l| u64::from(l.dropped_attributes_count))
            .sum::<u64>();
    }
    n
}

#[test]
fn event_and_link_attribute_limits_drop_and_count_on_stage_and_tracing_spans() {
    for protocol in PROTOCOLS {
        let rx = Receiver::start();
        let t = session(
            &rx,
            protocol,
            &[
                ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "2"),
                ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "1"),
            ],
        );
        emit_events_and_links(&t);
        let report = t.shutdown();
        let snapshot = rx.snapshot();
        let stage = snapshot.span("checkpoint").expect("stage span");
        let event = &stage.span.events[0];
        assert_eq!(event.name, "checkpoint");
        assert_eq!(
            (event.attributes.len(), event.dropped_attributes_count),
            (2, 2),
            "{protocol}: {event:?}"
        );
        let plain = snapshot.span("plain").expect("tracing span");
        let event = plain.span.events.first().expect("the span's event");
        assert_eq!(
            (event.attributes.len(), event.dropped_attributes_count),
            (2, 2),
            "{protocol}: {event:?}"
        );
        let link = plain.span.links.first().expect("the link");
        assert_eq!(
            (link.attributes.len(), link.dropped_attributes_count),
            (1, 3),
            "{protocol}: {link:?}"
        );
        assert_eq!(link.attributes[0].key, "w", "the first attributes are kept");
        let traces = report.signal(Signal::Traces).next().expect("traces report");
        assert_eq!(traces.exported, 2, "{protocol}: {report}");
        assert_eq!(traces.limited, dropped(&snapshot), "{protocol}: {report}");
    }
}

#[test]
fn event_and_link_attribute_limits_fall_back_to_the_general_attribute_limit() {
    let rx = Receiver::start();
    let t = session(
        &rx,
        "http/protobuf",
        &[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "1"),
            // The span's own limit is no fallback for its events and links.
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "128"),
        ],
    );
    emit_events_and_links(&t);
    let report = t.shutdown();
    let snapshot = rx.snapshot();
    let stage = snapshot.span("checkpoint").expect("stage span");
    assert_eq!(stage.span.dropped_attributes_count, 0, "{stage:?}");
    let event = &stage.span.events[0];
    assert_eq!(
        (event.attributes.len(), event.dropped_attributes_count),
        (1, 3)
    );
    let plain = snapshot.span("plain").expect("tracing span");
    let event = &plain.span.events[0];
    assert_eq!(
        (event.attributes.len(), event.dropped_attributes_count),
        (1, 3)
    );
    let link = &plain.span.links[0];
    assert_eq!(
        (link.attributes.len(), link.dropped_attributes_count),
        (1, 3)
    );
    let traces = report.signal(Signal::Traces).next().expect("traces report");
    assert_eq!(traces.limited, dropped(&snapshot), "{report}");
}
