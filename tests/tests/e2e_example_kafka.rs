//! The example orders pipeline handing its orders over through Kafka
//! (librdkafka's mock cluster, in-process, the real protocol on loopback)
//! when given brokers: every valid order is a `send orders` span and a
//! `process orders` span that continues it, the batch consumer links to the
//! sends, the lag gauge of the `receive` stage is exported, and every name
//! passes the live check.

mod common;

use semtel_examples::orders::{RunConfig, run};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::{LiveCheck, ReceivedSpan, Receiver};

#[test]
fn orders_pipeline_hands_its_orders_over_through_kafka() {
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic("orders", 1, 1).expect("the topic");
    let rx = Receiver::start();
    let s = common::telemetry(&[
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let dir = std::env::temp_dir().join(format!("semtel-e2e-orders-kafka-{}", std::process::id()));
    let mut config = RunConfig::new(&dir);
    config.kafka = Some(cluster.bootstrap_servers());
    let summary = tracing::dispatcher::with_default(s.dispatch(), || run(&config))
        .expect("the pipeline runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((summary.read, summary.rejected, summary.loaded), (12, 4, 8));
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(common::WAIT, "the run, its sends and processing", |s| {
        s.span("orders run").is_some()
            && s.spans()
                .iter()
                .filter(|sp| sp.name() == "process orders")
                .count()
                == 8
            && s.metric("pipeline.backlog").is_some()
    });
    let spans = snap.spans();
    let named =
        |name: &str| -> Vec<&ReceivedSpan> { spans.iter().filter(|s| s.name() == name).collect() };
    let sends = named("send orders");
    let processes = named("process orders");
    assert_eq!(sends.len(), 8);
    let publish = snap.only_span("publish");
    for send in &sends {
        assert_eq!(send.kind(), SpanKind::Producer);
        assert!(send.is_child_of(&publish));
    }
    for process in &processes {
        assert_eq!(process.kind(), SpanKind::Consumer);
        assert!(
            sends.iter().any(|send| process.is_child_of(send)),
            "each processing continues its send"
        );
        assert_eq!(
            process.attr_str("messaging.consumer.group.name"),
            Some("orders-loader")
        );
    }
    // The batch consumer downstream links to the sends through the headers.
    let consume = snap.only_span("consume");
    assert_eq!(consume.span.links.len(), 8);
    for link in &consume.span.links {
        let linked = semtel_tests::hex(&link.span_id);
        assert!(sends.iter().any(|s| s.span_id() == linked));
    }
    let mut check = LiveCheck::new().registry(&semtel_examples::conventions::REGISTRY);
    check.assert_clean(&snap);
}
