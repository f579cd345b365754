//! The example orders pipeline, instrumented with `#[stage]` and
//! `#[derive(Telemetry)]`, exported over OTLP/gRPC to the loopback receiver:
//! span names, kinds, parentage (stage → nested stage → `tracing` span),
//! attributes and their types, error status and `error.type`, links, metric
//! names, units and data points (bytes, a retry, dead letters, lag and
//! backlog with the stages' labels), log–trace correlation, the run id on
//! every stage span and log record and on no metric, and `semtel::testing`'s
//! live check of every name against the official, pipeline and example
//! registries.
//!
//! One test in its own binary: `init` installs process-wide providers.

mod common;

use std::collections::HashMap;

use common::WAIT;
use common::orders::{io, stage};
use semtel_examples::orders::{RunConfig, run};
use semtel_tests::proto::tonic::common::v1::any_value::Value;
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{ReceivedSpan, Receiver};

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name() == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span expected");
    found[0]
}

#[test]
fn orders_pipeline_exports_stages_over_otlp() {
    let rx = Receiver::start();
    let vars: HashMap<&str, String> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_SERVICE_NAME", "orders".to_owned()),
    ]
    .into_iter()
    .collect();
    let guard = semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .init()
        .expect("telemetry starts");
    let dir = std::env::temp_dir().join(format!("semtel-e2e-orders-{}", std::process::id()));
    let summary = run(&RunConfig::new(&dir)).expect("the pipeline runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((summary.read, summary.rejected, summary.loaded), (12, 4, 8));
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let s = rx.expect(WAIT, "spans, logs and stage metrics", |s| {
        s.span("run orders").is_some()
            && s.metric("pipeline.stage.duration").is_some()
            && s.logs()
                .iter()
                .any(|l| l.body_text() == "pipeline finished")
    });
    let spans = s.spans();

    // Parentage: run → stages; transform → validate (nested stage) → tracing span.
    let root = one(&spans, "run orders");
    assert_eq!(root.parent_span_id(), None);
    for name in ["extract", "transform", "publish", "consume"] {
        assert!(one(&spans, name).is_child_of(root), "{name} under the run");
    }
    let transform = one(&spans, "transform");
    let validates: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name() == "validate").collect();
    assert_eq!(validates.len(), 12);
    assert!(validates.iter().all(|v| v.is_child_of(transform)));
    let parses: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name() == "parse row").collect();
    assert!(!parses.is_empty());
    assert!(
        parses
            .iter()
            .all(|p| validates.iter().any(|v| p.is_child_of(v)))
    );
    let load = one(&spans, "load");
    assert!(load.is_child_of(one(&spans, "consume")));
    let stores: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name() == "store").collect();
    assert_eq!(stores.len(), 8);
    assert!(stores.iter().all(|s| s.is_child_of(load)));
    assert!(spans.iter().all(|s| s.trace_id() == root.trace_id()));

    // Kinds, so Tempo's service graph draws the queue and the database.
    assert_eq!(one(&spans, "publish").kind(), SpanKind::Producer);
    assert_eq!(one(&spans, "consume").kind(), SpanKind::Consumer);
    assert!(stores.iter().all(|s| s.kind() == SpanKind::Client));
    assert_eq!(transform.kind(), SpanKind::Internal);

    // Attributes, with their types.
    assert_eq!(transform.attr_str("pipeline.name"), Some("orders"));
    assert_eq!(transform.attr_str("pipeline.stage.name"), Some("transform"));
    assert_eq!(transform.attr_str("pipeline.stage.kind"), Some("transform"));
    assert_eq!(
        one(&spans, "extract").attr_str("pipeline.stage.kind"),
        Some("source")
    );
    let consume = one(&spans, "consume");
    assert_eq!(consume.attr_str("messaging.system"), Some("kafka"));
    // A usize count arrives as an int (tracing alone would record it as text).
    assert_eq!(consume.attr_i64("messaging.batch.message_count"), Some(8));
    let store = stores[0];
    assert_eq!(store.attr_str("db.system.name"), Some("sqlite"));
    assert_eq!(store.attr_str("db.operation.name"), Some("INSERT"));
    assert!(
        store.attr_i64("orders.order.id").is_some(),
        "derived attributes"
    );
    assert!(matches!(
        store
            .attr("orders.order.amount")
            .and_then(|v| v.value.as_ref()),
        Some(Value::DoubleValue(_))
    ));
    let customer = store
        .attr_str("orders.customer.id")
        .expect("hashed customer");
    assert!(
        customer.starts_with("h:") && !customer.contains("customer-"),
        "{customer}"
    );
    assert_eq!(
        store.attr_str("orders.customer.email"),
        Some(semtel::REDACTED)
    );
    assert!(
        spans.iter().all(|s| s
            .span
            .attributes
            .iter()
            .all(|kv| !format!("{:?}", kv.value).contains("@example.com"))),
        "no e-mail address leaves the process"
    );

    // Errors: status, exception event and error.type on the failed validations.
    let failed: Vec<&&ReceivedSpan> = validates
        .iter()
        .filter(|v| v.status_code() == StatusCode::Error)
        .collect();
    assert_eq!(failed.len(), 4);
    let mut types: Vec<&str> = failed
        .iter()
        .filter_map(|v| v.attr_str("error.type"))
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["malformed", "not_positive", "not_positive", "not_positive"]
    );
    assert!(
        failed
            .iter()
            .all(|v| v.event_names().contains(&"exception"))
    );
    assert!(
        validates
            .iter()
            .filter(|v| v.status_code() != StatusCode::Error)
            .all(|v| v.attr_str("error.type").is_none())
    );

    // The batch consumer links to the producer's context of each message.
    let publish = one(&spans, "publish");
    assert_eq!(consume.span.links.len(), 8);
    assert!(consume.span.links.iter().all(|l| {
        semtel_tests::hex(&l.span_id) == publish.span_id()
            && semtel_tests::hex(&l.trace_id) == publish.trace_id()
    }));

    // Logs carry the ids of the span they were written in.
    let logs = s.logs();
    let stored: Vec<_> = logs
        .iter()
        .filter(|l| l.body_text() == "order stored")
        .collect();
    assert_eq!(stored.len(), 8);
    assert!(
        stored
            .iter()
            .all(|l| stores.iter().any(|s| l.span_id() == Some(s.span_id())))
    );
    let rejected: Vec<_> = logs
        .iter()
        .filter(|l| l.body_text() == "order rejected")
        .collect();
    assert_eq!(rejected.len(), 4);
    assert!(
        rejected
            .iter()
            .all(|l| l.span_id() == Some(transform.span_id()))
    );

    // Metrics: names, units, instruments and data points of the pipeline registry.
    let duration = s.metric("pipeline.stage.duration").unwrap();
    assert_eq!(duration.metric.unit, "s");
    let points = duration.histogram_points();
    let validate_count = |error: Option<&str>| -> u64 {
        points
            .iter()
            .filter(|p| {
                semtel_tests::attr_str(&p.attributes, "pipeline.stage.name") == Some("validate")
                    && semtel_tests::attr_str(&p.attributes, "error.type") == error
            })
            .map(|p| p.count)
            .sum()
    };
    assert_eq!(validate_count(None), 8);
    assert_eq!(validate_count(Some("not_positive")), 3);
    assert_eq!(validate_count(Some("malformed")), 1);
    let records = s.metric("pipeline.records").unwrap();
    assert_eq!(records.metric.unit, "{record}");
    let failures = s.metric("pipeline.stage.failures").unwrap();
    assert_eq!(failures.total(), 4.0);
    assert!(s.metric("pipeline.stage.active").is_some());

    // What the stages recorded as they went, with their labels.
    let otlp = s.otlp();
    let sent = common::orders::assert_handed_over(&otlp);
    let bytes = otlp.metric("pipeline.bytes");
    assert_eq!(bytes.unit(), "By");
    let read = bytes.point(&io("extract", "in")).value();
    assert!(read > sent, "read {read}, sent {sent}");
    let retries = otlp.metric("pipeline.retries");
    assert_eq!(retries.point(&stage("publish")).value(), 1.0);
    let retried = logs
        .iter()
        .find(|l| l.body_text() == "send failed, retrying")
        .expect("the retry is logged");
    assert_eq!(retried.span_id(), Some(publish.span_id()));
    assert_eq!(retried.attr_str("error.type"), Some("transient"));
    let dead = otlp.metric("pipeline.dead_letters");
    assert_eq!(
        dead.point(&stage("transform")).attr("pipeline.stage.kind"),
        Some("transform".into())
    );
    let lag = otlp.metric("pipeline.lag");
    assert_eq!(lag.unit(), "s");
    let source = lag.point(&[
        ("pipeline.stage.name", "extract"),
        ("pipeline.partition", "orders.csv"),
    ]);
    assert!((0.0..60.0).contains(&source.value()), "{}", source.value());

    // The run: its id on the root, on every stage span and log record, on
    // no metric point.
    let run_id = common::orders::assert_run_id_on_stage_spans(&spans, root);
    assert_eq!(root.attr_str("pipeline.name"), Some("orders"));
    assert_eq!(root.attr_i64("pipeline.run.failures"), Some(4));
    assert!(!logs.is_empty());
    assert!(
        logs.iter()
            .all(|l| l.attr_str("pipeline.run.id") == Some(run_id))
    );
    for metric in otlp.metrics() {
        for point in metric.points() {
            assert_eq!(point.attr("pipeline.run.id"), None, "{}", metric.name());
        }
    }

    // Every name that arrived is in a registry, with the type, unit,
    // instrument and required attributes the registry says.
    common::orders::assert_live_check(
        &otlp,
        &[
            "pipeline.name",
            "pipeline.run.id",
            "pipeline.partition",
            "db.system.name",
            "messaging.batch.message_count",
            "orders.order.amount",
            "error.type",
        ],
        &[
            "pipeline.stage.duration",
            "pipeline.bytes",
            "pipeline.retries",
            "pipeline.dead_letters",
            "pipeline.lag",
            "pipeline.backlog",
        ],
    );
}
