//! The example orders pipeline with Kafka as its broker (librdkafka's mock
//! cluster, in-process, the real protocol on loopback): every valid order
//! is a `send orders` span under `publish` and a `process orders` span
//! that continues it, every rejected row a `send orders.dead-letter` span
//! under `transform`, the batch consumer links to the sends, the
//! consumer's backlog is exported, the run id is on every stage span, and
//! `semtel::testing`'s live check finds every name in a registry.

mod common;

use semtel_examples::kafka::GROUP;
use semtel_examples::orders::{DEAD_LETTER_TOPIC, RunConfig, TOPIC, run};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::{ReceivedSpan, Receiver};

#[test]
fn orders_pipeline_hands_its_orders_over_through_kafka() {
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("the topic");
    cluster
        .create_topic(DEAD_LETTER_TOPIC, 1, 1)
        .expect("the dead-letter topic");
    let rx = Receiver::start();
    // Installed process-wide, as the bin does: the stages' metrics go to
    // the global providers.
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .init()
    .expect("telemetry starts");
    let dir = std::env::temp_dir().join(format!("semtel-e2e-orders-kafka-{}", std::process::id()));
    let mut config = RunConfig::new(&dir);
    config.kafka = Some(cluster.bootstrap_servers());
    let summary = run(&config).expect("the pipeline runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((summary.read, summary.rejected, summary.loaded), (12, 4, 8));
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(common::WAIT, "the run, its sends and processing", |s| {
        s.span("run orders").is_some()
            && s.spans()
                .iter()
                .filter(|sp| sp.name() == "process orders")
                .count()
                == 8
            && s.metric("pipeline.backlog").is_some()
            && s.metric("pipeline.dead_letters").is_some()
    });
    let spans = snap.spans();
    let named =
        |name: &str| -> Vec<&ReceivedSpan> { spans.iter().filter(|s| s.name() == name).collect() };
    let root = snap.only_span("run orders");

    // Sends: one per order under `publish`, one per dead letter under
    // `transform`, each ended by its delivery report.
    let sends = named("send orders");
    assert_eq!(sends.len(), 8);
    let publish = snap.only_span("publish");
    for send in &sends {
        assert_eq!(send.kind(), SpanKind::Producer);
        assert!(send.is_child_of(&publish));
        assert!(send.attr_i64("messaging.kafka.offset").is_some());
    }
    let dead_letters = named("send orders.dead-letter");
    assert_eq!(dead_letters.len(), 4);
    let transform = snap.only_span("transform");
    assert!(dead_letters.iter().all(|d| d.is_child_of(&transform)));

    // Receipts: each continues its send, in the consumer group.
    let processes = named("process orders");
    assert_eq!(processes.len(), 8);
    for process in &processes {
        assert_eq!(process.kind(), SpanKind::Consumer);
        assert!(
            sends.iter().any(|send| process.is_child_of(send)),
            "each processing continues its send"
        );
        assert_eq!(
            process.attr_str("messaging.consumer.group.name"),
            Some(GROUP)
        );
    }

    // The batch consumer links to the sends through the Kafka headers.
    let consume = snap.only_span("consume");
    assert!(consume.is_child_of(&root));
    assert_eq!(consume.span.links.len(), 8);
    for link in &consume.span.links {
        let linked = semtel_tests::hex(&link.span_id);
        assert!(sends.iter().any(|s| s.span_id() == linked));
    }

    // What the stages recorded: bytes through the broker, the dead
    // letters, and the consumer's backlog read from the watermarks.
    let otlp = snap.otlp();
    common::orders::assert_handed_over(&otlp);

    // The run id on every stage span, not on the integration's spans.
    common::orders::assert_run_id_on_stage_spans(&spans, &root);

    // Every name that arrived (messaging.* of the integration included) is
    // in a registry, with its type, unit, instrument and required
    // attributes.
    common::orders::assert_live_check(
        &otlp,
        &["messaging.kafka.offset", "messaging.consumer.group.name"],
        &[
            "messaging.client.operation.duration",
            "messaging.process.duration",
            "pipeline.backlog",
        ],
    );
}
