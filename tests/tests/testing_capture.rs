//! `semtel::testing`: a capture holds what the in-process OTLP receiver
//! decodes for the same stages; captures of tests running at once in one
//! binary hold only their own spans and logs, and metrics from their start;
//! an async test on a current-thread runtime sees its tasks; a link points to
//! its span; the live check finds a wrong type, unit, instrument, an unknown
//! name and a missing required attribute, and passes on what stages emit.

mod common;

use std::sync::Barrier;

use semtel::WithContext as _;
use semtel::testing::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use semtel::testing::proto::common::v1::{AnyValue, KeyValue, any_value};
use semtel::testing::proto::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use semtel::testing::{Capture, Snapshot, Span};
use semtel_tests::Receiver;

#[derive(Debug)]
struct Rejected;

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rejected")
    }
}

#[semtel::stage(pipeline = "capture", kind = source, records_out = ret.len())]
fn extract(n: u64) -> Vec<u64> {
    tracing::info!(n, "extracting");
    (0..n).collect()
}

#[semtel::stage(
    pipeline = "capture",
    kind = sink,
    span_kind = client,
    fields(db.system.name = "postgresql", db.collection.name = "orders"),
    records_in = rows.len(),
    bytes_out = 8 * rows.len(),
)]
fn load(rows: &[u64]) -> Result<usize, Rejected> {
    if rows.is_empty() {
        return Err(Rejected);
    }
    semtel::stage::current().retry();
    Ok(rows.len())
}

/// The same calls, wherever they are exported.
fn run_stages() {
    let rows = extract(3);
    load(&rows).expect("rows");
    let _ = load(&[]);
    tracing::info_span!("report", db.operation.name = "SELECT")
        .in_scope(|| tracing::warn!("reported"));
}

/// A span as comparable text: name, kind, status, parent's name,
/// attributes, events; no ids or times.
fn shape(span: &Span<'_>) -> String {
    let mut attrs: Vec<String> = (span.proto().attributes.iter())
        .filter(|kv| kv.key != "code.line.number" && kv.key != "thread.id")
        .map(|kv| format!("{}={:?}", kv.key, kv.value))
        .collect();
    attrs.sort();
    let events: Vec<&str> = span.events().iter().map(|e| e.name()).collect();
    format!(
        "{} {} error={} parent={:?} {attrs:?} {events:?}",
        span.name(),
        span.kind(),
        span.is_error(),
        span.parent().map(|p| p.name()),
    )
}

fn shapes(snapshot: &Snapshot) -> Vec<String> {
    let mut spans: Vec<String> = snapshot.spans().iter().map(shape).collect();
    spans.sort();
    spans
}

fn log_lines(snapshot: &Snapshot) -> Vec<String> {
    let mut logs: Vec<String> = (snapshot.logs().iter())
        .map(|l| {
            let span = snapshot.spans().into_iter().find(|s| l.is_in(s));
            format!(
                "{} {} in {:?}",
                l.severity(),
                l.body(),
                span.map(|s| s.name())
            )
        })
        .collect();
    logs.sort();
    logs
}

#[test]
fn a_capture_holds_what_the_receiver_decodes() {
    let captured = {
        let capture = Capture::start();
        run_stages();
        capture.snapshot()
    };

    let rx = Receiver::start();
    let session = common::http_session(&rx, "unknown_service", &[]);
    tracing::dispatcher::with_default(session.dispatch(), run_stages);
    session.flush();
    let received = rx
        .expect(common::WAIT, "4 spans and 3 logs", |s| {
            s.spans().len() >= 4 && s.logs().len() >= 3
        })
        .otlp();

    assert_eq!(captured.spans().len(), 4, "{captured}");
    assert_eq!(shapes(&captured), shapes(&received));
    assert_eq!(log_lines(&captured), log_lines(&received));

    // The stage metrics of the calls, with the stages' labels.
    let labels = |stage| [("pipeline.name", "capture"), ("pipeline.stage.name", stage)];
    let io = |stage, direction| {
        [
            ("pipeline.stage.name", stage),
            ("pipeline.io.direction", direction),
        ]
    };
    let records = captured.metric("pipeline.records");
    assert_eq!(records.point(&io("extract", "out")).value(), 3.0);
    assert_eq!(records.point(&io("load", "in")).value(), 3.0);
    let retries = captured.metric("pipeline.retries");
    assert_eq!(retries.point(&labels("load")).value(), 1.0);
    let bytes = captured.metric("pipeline.bytes");
    assert_eq!(bytes.point(&io("load", "out")).value(), 24.0);
    let failed = [
        ("pipeline.stage.name", "load"),
        ("error.type", "testing_capture::Rejected"),
    ];
    assert_eq!(
        captured
            .metric("pipeline.stage.failures")
            .point(&failed)
            .value(),
        1.0
    );
    let calls = captured.metric("pipeline.stage.duration");
    assert_eq!(calls.point(&labels("extract")).count(), 1);

    // Parentage, events and log ids through the lookups.
    let load = captured.spans_named("load");
    assert!(load.iter().any(Span::is_error));
    let failed_call = load.iter().find(|s| s.is_error()).expect("the failed call");
    assert!(failed_call.event("exception").is_some());
    assert_eq!(
        failed_call.attr("error.type"),
        Some("testing_capture::Rejected".into())
    );
    let extract = captured.span("extract");
    let log = &extract.logs()[0];
    assert_eq!(log.attr("n"), Some(3.into()));
    assert_eq!(log.trace_id(), Some(extract.trace_id()));

    captured.live_check().ignore("n").assert_clean();
}

#[semtel::stage(pipeline = "capture")]
fn tagged_a(tag: &str) -> usize {
    tracing::info!(tag, "tagged");
    tag.len()
}

#[semtel::stage(pipeline = "capture")]
fn tagged_b(tag: &str) -> usize {
    tracing::info!(tag, "tagged");
    tag.len()
}

#[test]
fn captures_at_the_same_time_hold_only_their_own() {
    let barrier = Barrier::new(2);
    let run = |tag: &'static str, stage: fn(&str) -> usize| {
        let capture = Capture::start();
        // Both captures are running while both tests emit.
        barrier.wait();
        for _ in 0..5 {
            stage(tag);
            tracing::info_span!("own", code.function.name = tag).in_scope(|| {});
        }
        barrier.wait();
        capture.snapshot()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run("a", tagged_a));
        let b = s.spawn(|| run("bb", tagged_b));
        (a.join().expect("a"), b.join().expect("b"))
    });
    for (snapshot, tag, stage) in [(&a, "a", "tagged_a"), (&b, "bb", "tagged_b")] {
        assert_eq!(snapshot.spans().len(), 10, "{snapshot}");
        assert_eq!(snapshot.spans_named(stage).len(), 5, "{snapshot}");
        let own = |v: Option<semtel::testing::Value>| v == Some(tag.into());
        assert!(
            snapshot
                .spans_named("own")
                .iter()
                .all(|s| own(s.attr("code.function.name")))
        );
        assert_eq!(snapshot.logs().len(), 5);
        assert!(snapshot.logs().iter().all(|l| own(l.attr("tag"))));
        // The stage metrics of its own stage only.
        let duration = snapshot.metric("pipeline.stage.duration");
        let points = duration.points();
        assert_eq!(points.len(), 1, "{snapshot}");
        assert_eq!(points[0].attr("pipeline.stage.name"), Some(stage.into()));
        assert_eq!(points[0].count(), 5);
    }
}

#[semtel::stage(pipeline = "capture")]
async fn fetch(id: u64) -> u64 {
    tracing::info!(id, "fetched");
    id
}

#[tokio::test]
async fn an_async_test_sees_its_tasks() {
    let capture = Capture::start();
    let task = tokio::spawn(fetch(2).in_current_context());
    assert_eq!(fetch(1).await + task.await.expect("task"), 3);
    let snap = capture.snapshot();
    assert_eq!(snap.spans_named("fetch").len(), 2, "{snap}");
    assert_eq!(snap.logs().len(), 2);
}

/// A metric request of one metric with one point.
fn metric(name: &str, unit: &str, data: Data) -> Snapshot {
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    unit: unit.into(),
                    data: Some(data),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    };
    Snapshot::from_otlp(Vec::new(), vec![request], Vec::new())
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn stage_labels() -> Vec<KeyValue> {
    use any_value::Value::StringValue as S;
    vec![
        kv("pipeline.name", S("p".into())),
        kv("pipeline.stage.name", S("s".into())),
        kv("pipeline.io.direction", S("in".into())),
    ]
}

fn point(attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        value: Some(number_data_point::Value::AsInt(1)),
        ..NumberDataPoint::default()
    }
}

fn counter(points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        is_monotonic: true,
        aggregation_temporality: 2,
    })
}

fn problems(snapshot: &Snapshot) -> Vec<String> {
    let report = snapshot.live_check().run();
    report.findings.iter().map(ToString::to_string).collect()
}

#[test]
fn the_live_check_finds_what_differs_from_the_registries() {
    // As the registry says: clean.
    let good = metric(
        "pipeline.records",
        "{record}",
        counter(vec![point(stage_labels())]),
    );
    let report = good.live_check().assert_clean();
    assert!(report.checked_metrics.contains("pipeline.records"));
    assert!(report.checked_attributes.contains("pipeline.io.direction"));

    let unit = metric(
        "pipeline.records",
        "records",
        counter(vec![point(stage_labels())]),
    );
    assert_eq!(
        problems(&unit),
        ["metric pipeline.records: unit `records`, the registry says `{record}`"]
    );

    let gauge = Data::Gauge(Gauge {
        data_points: vec![point(stage_labels())],
    });
    assert_eq!(
        problems(&metric("pipeline.records", "{record}", gauge)),
        ["metric pipeline.records: arrived as a gauge, the registry says counter"]
    );

    let unknown = metric(
        "pipeline.recrods",
        "{record}",
        counter(vec![point(stage_labels())]),
    );
    assert_eq!(
        problems(&unknown),
        ["metric pipeline.recrods: not in the registry, did you mean `pipeline.records`?"]
    );

    let mut typed = stage_labels();
    typed[0] = kv("pipeline.name", any_value::Value::IntValue(7));
    let typed = metric("pipeline.records", "{record}", counter(vec![point(typed)]));
    assert_eq!(
        problems(&typed),
        [
            "metric pipeline.records: attribute `pipeline.name` arrived as int, the registry says string"
        ]
    );

    let mut missing = stage_labels();
    missing.remove(0);
    let missing = metric(
        "pipeline.records",
        "{record}",
        counter(vec![point(missing)]),
    );
    assert_eq!(
        problems(&missing),
        ["metric pipeline.records: required attribute `pipeline.name` is missing"]
    );
}

#[test]
fn the_live_check_finds_a_misnamed_or_mistyped_attribute_a_stage_emitted() {
    let capture = Capture::start();
    tracing::info_span!("query", db.sytem.name = "postgresql", server.port = "5432")
        .in_scope(|| {});
    let snap = capture.snapshot();
    assert_eq!(
        problems(&snap),
        [
            "span \"query\": attribute `db.sytem.name` is not in the registry, did you mean `db.system.name`?",
            "span \"query\": attribute `server.port` arrived as string, the registry says int",
        ]
    );
}

#[test]
fn the_live_check_takes_the_users_registry() {
    let capture = Capture::start();
    tracing::info_span!("validate", orders.order.currency = "EUR").in_scope(|| {});
    let snap = capture.snapshot();
    assert!(!snap.live_check().run().is_clean());
    snap.live_check()
        .registry(&semtel_examples::conventions::REGISTRY)
        .assert_clean();
}

#[semtel::stage(pipeline = "capture")]
fn counted() {}

#[test]
fn a_capture_counts_metrics_from_its_start() {
    let calls = |snap: &Snapshot| {
        let duration = snap.metric("pipeline.stage.duration");
        duration
            .point(&[("pipeline.stage.name", "counted")])
            .count()
    };
    let first = Capture::start();
    counted();
    counted();
    assert_eq!(calls(&first.snapshot()), 2);
    drop(first);
    let second = Capture::start();
    counted();
    assert_eq!(calls(&second.snapshot()), 1);
}

#[semtel::stage(pipeline = "capture", span_kind = producer)]
fn produce() -> semtel::Context {
    semtel::context::current()
}

#[semtel::stage(pipeline = "capture", span_kind = consumer, links = parents.iter().cloned())]
fn receive(parents: &[semtel::Context]) -> usize {
    parents.len()
}

#[test]
fn a_link_points_to_its_span() {
    let capture = Capture::start();
    let producer = produce();
    receive(&[producer]);
    let snap = capture.snapshot();
    let links = snap.span("receive").links();
    assert_eq!(links.len(), 1);
    let produce = snap.span("produce");
    assert!(links[0].points_to(&produce));
    assert_eq!(links[0].span_id(), produce.span_id());
    assert!(snap.span("receive").parent().is_none());
}
