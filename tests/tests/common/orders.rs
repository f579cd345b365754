//! Assertions both end-to-end runs of the example orders pipeline make,
//! with its channel or with Kafka between `publish` and `consume`.

use semtel::testing::Snapshot;
use semtel_tests::ReceivedSpan;

/// The labels of a stage of the `orders` pipeline.
pub fn stage(name: &str) -> [(&str, &str); 2] {
    [("pipeline.name", "orders"), ("pipeline.stage.name", name)]
}

/// The labels of a stage's bytes in one direction.
pub fn io<'a>(name: &'a str, direction: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("pipeline.name", "orders"),
        ("pipeline.stage.name", name),
        ("pipeline.io.direction", direction),
    ]
}

/// `consume` read the bytes `publish` sent (returned), `transform` sent
/// the 4 rejected rows to dead letters, and the consumer's backlog of
/// partition 0 is empty.
pub fn assert_handed_over(otlp: &Snapshot) -> f64 {
    let bytes = otlp.metric("pipeline.bytes");
    let sent = bytes.point(&io("publish", "out")).value();
    assert!(sent > 0.0, "sent {sent}");
    let consumed = bytes.point(&io("consume", "in")).value();
    assert_eq!(consumed, sent, "the consumer reads what the producer sent");
    let dead = otlp.metric("pipeline.dead_letters");
    assert_eq!(dead.point(&stage("transform")).value(), 4.0);
    let backlog = otlp.metric("pipeline.backlog");
    let waiting = backlog.point(&[
        ("pipeline.stage.name", "consume"),
        ("pipeline.partition", "0"),
    ]);
    assert_eq!(waiting.value(), 0.0, "the consumer took every message");
    sent
}

/// The run id of `root` is on every one of the run's stage spans (run,
/// extract, 12 × validate, transform, publish, consume, 8 × load); returns it.
pub fn assert_run_id_on_stage_spans<'a>(spans: &[ReceivedSpan], root: &'a ReceivedSpan) -> &'a str {
    let run_id = root.attr_str("pipeline.run.id").expect("the run's id");
    let stage_spans: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.attr_str("pipeline.stage.name").is_some())
        .collect();
    assert_eq!(stage_spans.len(), 1 + 1 + 12 + 1 + 1 + 1 + 8);
    assert!(
        stage_spans
            .iter()
            .all(|s| s.attr_str("pipeline.run.id") == Some(run_id))
    );
    run_id
}

/// Every name that arrived is in a registry (the official, pipeline and
/// example ones), with the type, unit, instrument and required attributes
/// the registry says; `attributes` and `metrics` were among those checked.
pub fn assert_live_check(otlp: &Snapshot, attributes: &[&str], metrics: &[&str]) {
    let report = otlp
        .live_check()
        .registry(&semtel_examples::conventions::REGISTRY)
        .assert_clean();
    for name in attributes {
        assert!(
            report.checked_attributes.contains(*name),
            "{name} was checked"
        );
    }
    for name in metrics {
        assert!(report.checked_metrics.contains(*name), "{name} was checked");
    }
}
