//! The integrations' shared `Operation` on its own, over OTLP to the loopback
//! receiver: a span turned off by `RUST_LOG` puts none of its attributes on
//! the span around it and still records its duration; without a semtel
//! session it does nothing and does not panic; absurd values pass through;
//! the metric takes the attributes the registry lists for it, last values.

mod common;

use std::time::Duration;

use semtel::conventions::{attribute, metric};
use semtel::integrations::Operation;
use semtel_tests::Receiver;

const WAIT: Duration = Duration::from_secs(20);

fn operation(name: &str) -> Operation {
    let span = tracing::info_span!("op", otel.name = name, otel.kind = "client");
    let mut op = Operation::start(span, metric::DB_CLIENT_OPERATION_DURATION);
    op.set(attribute::DB_SYSTEM_NAME, "postgresql")
        .set(attribute::DB_OPERATION_NAME, "SELECT")
        .set(attribute::SERVER_PORT, &i64::MAX);
    op
}

#[test]
fn a_filtered_out_operation_leaves_its_parent_alone_and_still_records_its_duration() {
    let rx = Receiver::start();
    let s = common::telemetry(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("RUST_LOG", "warn"),
    ]);
    tracing::dispatcher::with_default(s.dispatch(), || {
        tracing::warn_span!("parent").in_scope(|| {
            let mut op = operation("SELECT hidden");
            op.fail("42P01", Some("SQLSTATE 42P01"));
            let _ = op.context();
            op.finish();
        });
    });
    assert_eq!(s.shutdown().lost(), 0);
    let snap = rx.expect(WAIT, "the parent and the metric", |s| {
        s.span("parent").is_some() && s.metric("db.client.operation.duration").is_some()
    });
    assert!(
        snap.span("SELECT hidden").is_none(),
        "filtered out by RUST_LOG"
    );
    let parent = snap.span("parent").expect("parent");
    assert!(
        parent.attr("db.system.name").is_none(),
        "{:?}",
        parent.span.attributes
    );
    assert!(parent.attr("error.type").is_none());
    let metric = snap.metric("db.client.operation.duration").expect("metric");
    let p = &metric.histogram_points()[0];
    assert_eq!(p.count, 1);
    assert_eq!(
        semtel_tests::attr_str(&p.attributes, "error.type"),
        Some("42P01")
    );
    assert_eq!(
        semtel_tests::attr_i64(&p.attributes, "server.port"),
        Some(i64::MAX)
    );
}

#[test]
fn without_a_session_an_operation_does_nothing_and_absurd_values_pass() {
    let huge = "x".repeat(1 << 20);
    let mut op = operation("");
    op.set(attribute::DB_QUERY_TEXT, huge.as_str())
        .set(attribute::DB_COLLECTION_NAME, "")
        .set(attribute::DB_NAMESPACE, &None::<String>);
    op.fail("", None);
    assert!(op.elapsed() >= 0.0);
    drop(op); // unfinished: dropping records (nothing here) and ends the span
    let rx = Receiver::start();
    let s = common::telemetry(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.http_endpoint())]);
    tracing::dispatcher::with_default(s.dispatch(), || {
        let mut op = operation("huge");
        op.set(attribute::DB_QUERY_TEXT, huge.as_str());
        op.fail("", None);
        // Dropped, not finished: as a cancelled future's would be.
    });
    assert_eq!(s.shutdown().lost(), 0);
    let snap = rx.expect(WAIT, "the span and the metric", |s| {
        s.span("huge").is_some() && s.metric("db.client.operation.duration").is_some()
    });
    let span = snap.span("huge").expect("span");
    assert_eq!(span.attr_str("db.query.text").map(str::len), Some(1 << 20));
    assert_eq!(span.attr_str("error.type"), Some(""));
}

#[test]
fn the_metric_takes_the_registrys_attributes_with_the_last_value_of_each() {
    use opentelemetry::Value;
    let rx = Receiver::start();
    let s = common::telemetry(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.http_endpoint())]);
    tracing::dispatcher::with_default(s.dispatch(), || {
        let mut op = operation("SELECT items");
        // Opt-in on the metric: the span's only.
        op.set(attribute::DB_QUERY_TEXT, "SELECT 1")
            .set(attribute::DB_COLLECTION_NAME, "first")
            .set(attribute::DB_COLLECTION_NAME, "items");
        op.set_metric_value("db.namespace", Value::from("metric only"))
            .set_metric_value("server.address", Value::from("replaced"))
            .set_value("server.address", Value::from("db.internal"))
            .set_metric_value("db.operation.name", Value::from("metric SELECT"));
        op.finish();
    });
    assert_eq!(s.shutdown().lost(), 0);
    let snap = rx.expect(WAIT, "the span and the metric", |s| {
        s.span("SELECT items").is_some() && s.metric("db.client.operation.duration").is_some()
    });
    let span = snap.span("SELECT items").expect("span");
    assert_eq!(span.attr_str("db.query.text"), Some("SELECT 1"));
    assert_eq!(span.attr_str("db.collection.name"), Some("items"));
    assert_eq!(span.attr_str("server.address"), Some("db.internal"));
    assert_eq!(span.attr_str("db.operation.name"), Some("SELECT"));
    assert!(span.attr("db.namespace").is_none());
    let metric = snap.metric("db.client.operation.duration").expect("metric");
    let points = metric.histogram_points();
    assert_eq!(points.len(), 1);
    let a = &points[0].attributes;
    let text = |k| semtel_tests::attr_str(a, k);
    assert_eq!(text("db.query.text"), None);
    assert_eq!(text("db.system.name"), Some("postgresql"));
    assert_eq!(text("db.collection.name"), Some("items"));
    assert_eq!(text("db.namespace"), Some("metric only"));
    assert_eq!(text("server.address"), Some("db.internal"));
    assert_eq!(text("db.operation.name"), Some("metric SELECT"));
    assert_eq!(semtel_tests::attr_i64(a, "server.port"), Some(i64::MAX));
    assert_eq!(a.len(), 6, "{a:?}");
}
