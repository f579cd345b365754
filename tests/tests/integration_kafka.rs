//! The Kafka integration against librdkafka's mock cluster (in-process,
//! the real Kafka protocol on loopback), exported over OTLP to the loopback
//! receiver: a `FutureProducer` and a `StreamConsumer` in a group whose
//! handlers run in `tokio::spawn` (one trace from the producing stage to the
//! handling stage), a `ThreadedProducer` and a `BaseConsumer` in a thread
//! processing a batch (links, up to the link limit), a delivery the broker
//! refuses (`error.type`), the consumer's lag growing while it is paused
//! (`pipeline.backlog`) and leaving the export with a partition revoked by a
//! rebalance or left out of an `assign`, a plain `BaseProducer`, the broker
//! and `client.id` of every client, and keys kept out on request. Names,
//! types and units pass the live check.

mod common;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer as _,
    ThreadedProducer,
};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, TopicPartitionList};
use semtel::integrations::kafka::{
    self, TracedSend as _, TracingConsumerContext, TracingProducerContext,
};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{LiveCheck, ReceivedSpan, Receiver, Snapshot, attr_str};
// Imported where async stages are defined: their expansion must not pick
// its `instrument` method.
use tracing::Instrument as _;

const WAIT: Duration = common::WAIT;
const TOPIC: &str = "orders";

/// A mock cluster of one broker with `topic` (two partitions).
fn cluster(topic: &str) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic(topic, 2, 1).expect("the topic");
    cluster
}

fn producer_config(cluster: &MockCluster<'static, DefaultProducerContext>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("message.timeout.ms", "10000")
        .set("linger.ms", "0");
    config
}

fn consumer_config(
    cluster: &MockCluster<'static, DefaultProducerContext>,
    group: &str,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000");
    config
}

fn session(rx: &Receiver, extra: &[(&str, &str)]) -> semtel::Session {
    let endpoint = rx.grpc_endpoint();
    let mut vars = vec![
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    vars.extend_from_slice(extra);
    common::telemetry(&vars)
}

fn named(snap: &Snapshot, name: &str) -> Vec<ReceivedSpan> {
    snap.spans()
        .into_iter()
        .filter(|s| s.name() == name)
        .collect()
}

/// The sum of a counter's or histogram's last export, over its points.
fn total(snap: &Snapshot, name: &str) -> f64 {
    let metric = snap
        .metric(name)
        .unwrap_or_else(|| panic!("{name} exported"));
    if metric.kind() == "histogram" {
        #[allow(clippy::cast_precision_loss, reason = "small counts")]
        return metric
            .histogram_points()
            .iter()
            .map(|p| p.count)
            .sum::<u64>() as f64;
    }
    metric.total()
}

/// The metrics of a send and a receive, each in the conventions.
const MESSAGING_METRICS: &[&str] = &[
    "messaging.client.sent.messages",
    "messaging.client.operation.duration",
    "messaging.client.consumed.messages",
    "messaging.process.duration",
];

fn assert_live_check(snap: &Snapshot, metrics: &[&str]) {
    let mut check = LiveCheck::new();
    check.assert_clean(snap);
    for name in [
        "messaging.system",
        "messaging.operation.type",
        "messaging.destination.name",
        "messaging.destination.partition.id",
    ] {
        assert!(check.checked_attributes().contains(name), "{name} checked");
    }
    for name in metrics {
        assert!(check.checked_metrics().contains(*name), "{name} checked");
    }
}

/// Sends `n` records with a key and headers of the application's own.
#[semtel::stage(pipeline = "orders", kind = source)]
async fn publish(
    producer: &FutureProducer,
    sender: &kafka::Sender,
    n: usize,
) -> Result<usize, KafkaError> {
    for i in 0..n {
        let key = format!("order-{i}");
        // A stale `traceparent` (copied from an incoming record, say) is
        // replaced by the send's, not doubled.
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "tenant",
                value: Some("acme"),
            })
            .insert(Header {
                key: "traceparent",
                value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            });
        let record = FutureRecord::to(TOPIC)
            .key(&key)
            .payload("{\"amount\":12}")
            .headers(headers);
        sender
            .send(producer, record, Duration::from_secs(5))
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(n)
}

#[semtel::stage(pipeline = "orders", kind = sink)]
async fn handle(payload: Vec<u8>) -> usize {
    tokio::task::yield_now().await;
    payload.len()
}

#[test]
fn produced_and_consumed_messages_are_one_trace_across_a_spawned_handler() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[]);
    let rt = common::session_runtime(&s);
    let headers_seen = tracing::dispatcher::with_default(s.dispatch(), || {
        rt.block_on(async {
            let config = producer_config(&cluster);
            let producer: FutureProducer = config.create().expect("producer");
            let sender = kafka::Sender::new(&config);
            assert_eq!(publish(&producer, &sender, 3).await.expect("published"), 3);

            let config = consumer_config(&cluster, "billing");
            let context = TracingConsumerContext::new(&config);
            let consumer: StreamConsumer<TracingConsumerContext> =
                config.create_with_context(context).expect("consumer");
            consumer.subscribe(&[TOPIC]).expect("subscribed");
            let mut handlers = Vec::new();
            let mut headers_seen = Vec::new();
            for _ in 0..3 {
                let message = tokio::time::timeout(WAIT, consumer.recv())
                    .await
                    .expect("a message in time")
                    .expect("a message");
                let keys: Vec<String> = message
                    .headers()
                    .map(|h| h.iter().map(|h| h.key.to_owned()).collect())
                    .unwrap_or_default();
                headers_seen.push(keys);
                let processing = consumer.context().process(&message);
                let payload = message.payload().unwrap_or_default().to_vec();
                // The handler runs on another task, maybe another thread.
                handlers.push(tokio::spawn(async move {
                    let span = processing.span().clone();
                    let n = handle(payload).instrument(span).await;
                    processing.finish();
                    n
                }));
            }
            for h in handlers {
                assert_eq!(h.await.expect("the handler"), 13);
            }
            headers_seen
        })
    });
    drop(rt);
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    for keys in &headers_seen {
        assert_eq!(keys, &["tenant", "traceparent"], "the user's header kept");
    }

    let snap = rx.expect(WAIT, "the sends, the processing and the metrics", |s| {
        named(s, "process orders").len() == 3
            && named(s, "handle").len() == 3
            && s.metric("messaging.process.duration").is_some()
            && s.metric("messaging.client.sent.messages").is_some()
    });
    let publish = snap.only_span("publish");
    let sends = named(&snap, "send orders");
    let processes = named(&snap, "process orders");
    let handles = named(&snap, "handle");
    assert_eq!(sends.len(), 3);
    for send in &sends {
        assert_eq!(send.kind(), SpanKind::Producer);
        assert!(send.is_child_of(&publish), "send under the producing stage");
        assert_eq!(send.attr_str("messaging.system"), Some("kafka"));
        assert_eq!(send.attr_str("messaging.operation.type"), Some("send"));
        assert_eq!(send.attr_str("messaging.operation.name"), Some("send"));
        assert_eq!(send.attr_str("messaging.destination.name"), Some(TOPIC));
        let partition = send
            .attr_str("messaging.destination.partition.id")
            .expect("partition from the delivery report");
        assert!(["0", "1"].contains(&partition), "{partition}");
        assert!(
            send.attr_i64("messaging.kafka.offset")
                .is_some_and(|o| o >= 0)
        );
        assert!(
            send.attr_str("messaging.kafka.message.key")
                .is_some_and(|k| k.starts_with("order-"))
        );
        assert_eq!(send.status_code(), StatusCode::Unset);
    }
    for process in &processes {
        assert_eq!(process.kind(), SpanKind::Consumer);
        let key = process.attr_str("messaging.kafka.message.key");
        let send = sends
            .iter()
            .find(|s| s.attr_str("messaging.kafka.message.key") == key)
            .expect("the send of the same record");
        assert!(process.is_child_of(send), "process continues the send");
        assert_eq!(process.trace_id(), publish.trace_id());
        assert_eq!(
            process.attr_str("messaging.operation.type"),
            Some("process")
        );
        assert_eq!(
            process.attr_str("messaging.consumer.group.name"),
            Some("billing")
        );
        assert_eq!(
            process.attr_str("messaging.destination.partition.id"),
            send.attr_str("messaging.destination.partition.id")
        );
        assert_eq!(
            process.attr_i64("messaging.kafka.offset"),
            send.attr_i64("messaging.kafka.offset")
        );
        let handle = handles
            .iter()
            .find(|h| h.is_child_of(process))
            .expect("the spawned handler's stage under its processing span");
        assert_eq!(handle.trace_id(), publish.trace_id());
    }

    assert_eq!(total(&snap, "messaging.client.sent.messages"), 3.0);
    assert_eq!(total(&snap, "messaging.client.operation.duration"), 3.0);
    assert_eq!(total(&snap, "messaging.client.consumed.messages"), 3.0);
    assert_eq!(total(&snap, "messaging.process.duration"), 3.0);
    let sent = snap.metric("messaging.client.sent.messages").expect("sent");
    for p in sent.number_points() {
        assert_eq!(
            attr_str(&p.attributes, "messaging.operation.name"),
            Some("send")
        );
        assert_eq!(
            attr_str(&p.attributes, "messaging.destination.name"),
            Some(TOPIC)
        );
        assert!(
            attr_str(&p.attributes, "messaging.kafka.message.key").is_none(),
            "no key on a metric"
        );
    }
    assert_live_check(&snap, MESSAGING_METRICS);
}

#[test]
fn a_batch_from_a_base_consumer_thread_links_each_message_up_to_the_link_limit() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[("OTEL_SPAN_LINK_COUNT_LIMIT", "2")]);
    let dispatch = s.dispatch().clone();
    let config = consumer_config(&cluster, "warehouse");
    let producer_config = producer_config(&cluster);
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let producer: ThreadedProducer<TracingProducerContext> = producer_config
                .create_with_context(TracingProducerContext::new(&producer_config))
                .expect("producer");
            for i in 0..3 {
                let key = format!("batch-{i}");
                producer
                    .send_traced(BaseRecord::to(TOPIC).key(&key).partition(0).payload("{}"))
                    .map_err(|(e, _)| e)
                    .expect("enqueued");
            }
            producer.flush(WAIT).expect("delivered");

            let consumer: BaseConsumer<TracingConsumerContext> = config
                .create_with_context(TracingConsumerContext::new(&config))
                .expect("consumer");
            consumer.subscribe(&[TOPIC]).expect("subscribed");
            let deadline = Instant::now() + WAIT;
            let mut batch = Vec::new();
            while batch.len() < 3 && Instant::now() < deadline {
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    batch.push(m.expect("a message").detach());
                }
            }
            assert_eq!(batch.len(), 3, "the batch in time");
            consumer.context().process_batch(&batch).finish();
        });
    })
    .join()
    .expect("the consumer thread");
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(WAIT, "the batch span", |s| {
        !named(s, "process orders").is_empty()
            && s.metric("messaging.client.consumed.messages").is_some()
    });
    let sends = named(&snap, "send orders");
    assert_eq!(sends.len(), 3, "the threaded producer's sends");
    let batch = snap.only_span("process orders");
    assert_eq!(batch.kind(), SpanKind::Consumer);
    assert_eq!(batch.attr_i64("messaging.batch.message_count"), Some(3));
    assert_eq!(
        batch.attr_str("messaging.destination.partition.id"),
        Some("0")
    );
    assert_eq!(
        batch.attr_str("messaging.consumer.group.name"),
        Some("warehouse")
    );
    // Two links kept (the limit), the third counted as dropped; each to a send.
    assert_eq!(batch.span.links.len(), 2);
    assert_eq!(batch.span.dropped_links_count, 1);
    for link in &batch.span.links {
        let linked = semtel_tests::hex(&link.span_id);
        assert!(sends.iter().any(|s| s.span_id() == linked), "{linked}");
    }
    assert_eq!(total(&snap, "messaging.client.consumed.messages"), 3.0);
    assert_live_check(&snap, &["messaging.process.duration"]);
}

#[test]
fn a_delivery_the_broker_refuses_has_its_error_type() {
    let cluster = cluster(TOPIC);
    // Every produce request answered with a non-retriable error.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 4],
    );
    let rx = Receiver::start();
    let s = session(&rx, &[]);
    let result = tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime().block_on(async {
            let config = producer_config(&cluster);
            let producer: FutureProducer = config.create().expect("producer");
            kafka::Sender::new(&config)
                .send(
                    &producer,
                    FutureRecord::<str, str>::to(TOPIC).payload("{}"),
                    Duration::from_secs(5),
                )
                .await
                .map_err(|(e, _message)| e)
        })
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let error = result.expect_err("refused");
    assert!(format!("{error}").contains("authoriz"), "{error}");

    let snap = rx.expect(WAIT, "the failed send", |s| {
        !named(s, "send orders").is_empty() && s.metric("messaging.client.sent.messages").is_some()
    });
    let send = snap.only_span("send orders");
    assert_eq!(send.status_code(), StatusCode::Error);
    assert_eq!(
        send.attr_str("error.type"),
        Some("topic_authorization_failed")
    );
    assert_eq!(send.attr_str("messaging.kafka.message.tombstone"), None);
    let sent = snap.metric("messaging.client.sent.messages").expect("sent");
    let points = sent.number_points();
    assert_eq!(points.len(), 1);
    assert_eq!(
        attr_str(&points[0].attributes, "error.type"),
        Some("topic_authorization_failed")
    );
    assert_live_check(&snap, &["messaging.client.sent.messages"]);
}

/// The `pipeline.backlog` of `partition` in the newest export.
fn backlog(snap: &Snapshot, partition: &str) -> Option<f64> {
    let metric = snap.metric("pipeline.backlog")?;
    metric
        .number_points()
        .into_iter()
        .find(|p| attr_str(&p.attributes, "pipeline.partition") == Some(partition))
        .map(|p| p.value)
}

/// Sends `n` records to partition 0 through a threaded producer.
fn produce(config: &ClientConfig, n: usize) {
    produce_to(config, 0, n);
}

/// Sends `n` records to `partition` through a threaded producer.
fn produce_to(config: &ClientConfig, partition: i32, n: usize) {
    let producer: ThreadedProducer<TracingProducerContext> = config
        .create_with_context(TracingProducerContext::new(config))
        .expect("producer");
    for _ in 0..n {
        producer
            .send_traced(
                BaseRecord::<(), str, ()>::to(TOPIC)
                    .partition(partition)
                    .payload("{}"),
            )
            .map_err(|(e, _)| e)
            .expect("enqueued");
    }
    producer.flush(WAIT).expect("delivered");
}

/// A consumer of partition 0 from the beginning, in group `group`.
fn assigned(
    config: &ClientConfig,
    context: TracingConsumerContext,
) -> (BaseConsumer<TracingConsumerContext>, TopicPartitionList) {
    let consumer: BaseConsumer<TracingConsumerContext> =
        config.create_with_context(context).expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, rdkafka::Offset::Beginning)
        .expect("offset");
    consumer.assign(&assignment).expect("assigned");
    (consumer, assignment)
}

/// Polls `consumer` (which serves its statistics) until `partition`'s
/// `pipeline.backlog` over OTLP is `want`; at most [`WAIT`]. `check` sees
/// every message polled.
fn poll_until_backlog(
    rx: &Receiver,
    consumer: &BaseConsumer<TracingConsumerContext>,
    want: f64,
    mut between: impl FnMut(Option<rdkafka::message::BorrowedMessage<'_>>),
) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        between(
            consumer
                .poll(Duration::from_millis(100))
                .map(|m| m.expect("a message")),
        );
        if backlog(&rx.snapshot(), "0") == Some(want) {
            return true;
        }
    }
    false
}

fn assert_backlog_labels(rx: &Receiver) {
    let snap = rx.snapshot();
    let metric = snap.metric("pipeline.backlog").expect("pipeline.backlog");
    assert_eq!((metric.unit(), metric.kind()), ("{record}", "gauge"));
    let point = metric
        .number_points()
        .into_iter()
        .find(|p| attr_str(&p.attributes, "pipeline.partition") == Some("0"))
        .expect("partition 0");
    for (key, value) in [
        ("pipeline.name", "orders"),
        ("pipeline.stage.name", "consume"),
        ("pipeline.stage.kind", "source"),
        ("messaging.system", "kafka"),
        ("messaging.destination.name", TOPIC),
    ] {
        assert_eq!(attr_str(&point.attributes, key), Some(value), "{key}");
    }
    let mut check = LiveCheck::new();
    check.assert_clean(&snap);
    assert!(check.checked_metrics().contains("pipeline.backlog"));
}

#[test]
fn consumer_lag_from_the_statistics_is_the_high_watermark_minus_the_committed_offset() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[("OTEL_METRIC_EXPORT_INTERVAL", "100")]);
    let mut config = consumer_config(&cluster, "statistics");
    config.set("statistics.interval.ms", "100");
    let producer = producer_config(&cluster);
    let found = tracing::dispatcher::with_default(s.dispatch(), || {
        produce(&producer, 5);
        let context = TracingConsumerContext::new(&config).lag("orders", "consume");
        let (consumer, _) = assigned(&config, context);
        // Two of the five committed, the rest fetched but not.
        let mut committed = 0;
        poll_until_backlog(&rx, &consumer, 3.0, |m| {
            if let Some(m) = m
                && committed < 2
            {
                consumer
                    .commit_message(&m, CommitMode::Sync)
                    .expect("committed");
                committed += 1;
            }
        })
    });
    assert!(found, "backlog 3 from the statistics: {}", rx.snapshot());
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    assert_backlog_labels(&rx);
}

#[test]
fn consumer_lag_grows_while_the_consumer_is_paused() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[("OTEL_METRIC_EXPORT_INTERVAL", "100")]);
    // No statistics: the lag comes from the brokers' answers only.
    let config = consumer_config(&cluster, "lagging");
    let producer = producer_config(&cluster);
    let seen = tracing::dispatcher::with_default(s.dispatch(), || {
        produce(&producer, 2);
        let context = TracingConsumerContext::new(&config).lag("orders", "consume");
        let (consumer, assignment) = assigned(&config, context);
        let mut consumed = 0;
        let read = |consumer: &BaseConsumer<TracingConsumerContext>| {
            consumer
                .context()
                .record_lag_of(consumer, WAIT)
                .expect("lag read");
        };
        let caught_up = poll_until_backlog(&rx, &consumer, 0.0, |m| {
            if let Some(m) = m {
                consumer
                    .commit_message(&m, CommitMode::Sync)
                    .expect("committed");
                consumed += 1;
            }
            if consumed == 2 {
                read(&consumer);
            }
        });
        consumer.pause(&assignment).expect("paused");
        produce(&producer, 5);
        let behind = poll_until_backlog(&rx, &consumer, 5.0, |m| {
            assert!(m.is_none(), "a paused consumer got a message");
            read(&consumer);
        });
        (caught_up, behind)
    });
    assert_eq!(
        seen,
        (true, true),
        "backlog 0 after the commit, then 5 while paused"
    );
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    assert_backlog_labels(&rx);
}

/// The host and port of the mock cluster's (first) broker.
fn broker(cluster: &MockCluster<'static, DefaultProducerContext>) -> (String, i64) {
    let servers = cluster.bootstrap_servers();
    let first = servers.split(',').next().expect("a broker");
    let (host, port) = first.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("a port"))
}

/// Sends one record with `key` through a plain `BaseProducer` (its
/// delivery reports served by polling), through a `FutureProducer`, and
/// consumes both with a `BaseConsumer`, each client with the `client.id`
/// `{role}-{name}`; `keys` false turns the key off on all three.
fn send_and_consume(
    cluster: &MockCluster<'static, DefaultProducerContext>,
    dispatch: &tracing::Dispatch,
    key: &str,
    keys: bool,
) {
    tracing::dispatcher::with_default(dispatch, || {
        let mut config = producer_config(cluster);
        config.set("client.id", "producer-base");
        let mut context = TracingProducerContext::new(&config);
        if !keys {
            context = context.without_message_key();
        }
        let base: BaseProducer<TracingProducerContext> =
            config.create_with_context(context).expect("producer");
        base.send_traced(BaseRecord::to(TOPIC).key(key).partition(0).payload("{}"))
            .map_err(|(e, _)| e)
            .expect("enqueued");
        let deadline = Instant::now() + WAIT;
        while base.in_flight_count() > 0 && Instant::now() < deadline {
            base.poll(Duration::from_millis(100));
        }
        assert_eq!(base.in_flight_count(), 0, "delivered in time");

        let mut config = producer_config(cluster);
        config.set("client.id", "producer-future");
        let future: FutureProducer = config.create().expect("producer");
        let mut sender = kafka::Sender::new(&config);
        if !keys {
            sender = sender.without_message_key();
        }
        common::current_thread_runtime()
            .block_on(sender.send(
                &future,
                FutureRecord::to(TOPIC).key(key).partition(0).payload("{}"),
                WAIT,
            ))
            .map_err(|(e, _)| e)
            .expect("delivered");

        let mut config = consumer_config(cluster, "audit");
        config.set("client.id", "consumer-audit");
        let mut context = TracingConsumerContext::new(&config);
        if !keys {
            context = context.without_message_key();
        }
        let consumer: BaseConsumer<TracingConsumerContext> =
            config.create_with_context(context).expect("consumer");
        consumer.subscribe(&[TOPIC]).expect("subscribed");
        let deadline = Instant::now() + WAIT;
        let mut consumed = 0;
        while consumed < 2 && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                consumer.context().process(&m.expect("a message")).finish();
                consumed += 1;
            }
        }
        assert_eq!(consumed, 2, "both records consumed in time");
    });
}

#[test]
fn spans_name_the_broker_and_the_client_id_and_metrics_the_broker() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[]);
    send_and_consume(&cluster, s.dispatch(), "order-9", true);
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(WAIT, "the sends, the processing and the metrics", |s| {
        named(s, "send orders").len() == 2
            && named(s, "process orders").len() == 2
            && s.metric("messaging.client.sent.messages").is_some()
            && s.metric("messaging.process.duration").is_some()
    });
    let (host, port) = broker(&cluster);
    let sends = named(&snap, "send orders");
    let mut ids: Vec<_> = sends
        .iter()
        .map(|s| s.attr_str("messaging.client.id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [Some("producer-base"), Some("producer-future")]);
    for span in sends.iter().chain(&named(&snap, "process orders")) {
        assert_eq!(span.attr_str("server.address"), Some(host.as_str()));
        assert_eq!(span.attr_i64("server.port"), Some(port));
        assert_eq!(
            span.attr_str("messaging.kafka.message.key"),
            Some("order-9")
        );
        assert!(span.attr_i64("messaging.kafka.offset").is_some());
    }
    for process in named(&snap, "process orders") {
        assert_eq!(
            process.attr_str("messaging.client.id"),
            Some("consumer-audit")
        );
    }
    // The broker on every messaging metric's points, the client id on none.
    for name in [
        "messaging.client.sent.messages",
        "messaging.client.operation.duration",
        "messaging.client.consumed.messages",
        "messaging.process.duration",
    ] {
        let metric = snap.metric(name).expect("exported");
        let attributes: Vec<_> = if metric.kind() == "histogram" {
            metric
                .histogram_points()
                .iter()
                .map(|p| p.attributes.clone())
                .collect()
        } else {
            metric
                .number_points()
                .into_iter()
                .map(|p| p.attributes)
                .collect()
        };
        assert!(!attributes.is_empty(), "{name} has points");
        for a in &attributes {
            assert_eq!(attr_str(a, "server.address"), Some(host.as_str()), "{name}");
            assert!(attr_str(a, "messaging.client.id").is_none(), "{name}");
        }
    }
    assert_eq!(total(&snap, "messaging.client.sent.messages"), 2.0);
    assert_live_check(&snap, MESSAGING_METRICS);
}

#[test]
fn without_message_key_no_record_carries_the_key() {
    const KEY: &str = "customer-4711";
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[]);
    send_and_consume(&cluster, s.dispatch(), KEY, false);
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(WAIT, "the sends, the processing and the metrics", |s| {
        named(s, "send orders").len() == 2
            && named(s, "process orders").len() == 2
            && s.metric("messaging.process.duration").is_some()
    });
    for span in named(&snap, "send orders")
        .iter()
        .chain(&named(&snap, "process orders"))
    {
        assert_eq!(span.attr_str("messaging.kafka.message.key"), None);
        assert_eq!(span.attr_str("messaging.destination.name"), Some(TOPIC));
    }
    let decoded = format!("{:?}", snap.requests);
    assert!(decoded.contains("order"), "the export decoded as text");
    assert!(!decoded.contains(KEY), "the key exported: {decoded}");
}

/// The partitions of the newest `pipeline.backlog` export.
fn backlog_partitions(snap: &Snapshot) -> Vec<String> {
    let Some(metric) = snap.metric("pipeline.backlog") else {
        return Vec::new();
    };
    let mut partitions: Vec<String> = metric
        .number_points()
        .into_iter()
        .filter_map(|p| attr_str(&p.attributes, "pipeline.partition").map(str::to_owned))
        .collect();
    partitions.sort_unstable();
    partitions
}

/// Polls `consumer`, committing the first record of each partition, until
/// `pipeline.backlog` over OTLP reports partitions 0 and 1; at most [`WAIT`].
fn commit_one_of_each_partition(
    rx: &Receiver,
    consumer: &BaseConsumer<TracingConsumerContext>,
) -> bool {
    let mut committed = std::collections::BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("a message");
            if committed.insert(m.partition()) {
                consumer
                    .commit_message(&m, CommitMode::Sync)
                    .expect("committed");
            }
        }
        if backlog_partitions(&rx.snapshot()) == ["0", "1"] {
            return true;
        }
    }
    false
}

#[test]
fn a_partition_revoked_by_a_rebalance_leaves_the_backlog() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[("OTEL_METRIC_EXPORT_INTERVAL", "100")]);
    let mut config = consumer_config(&cluster, "rebalancing");
    config
        .set("statistics.interval.ms", "100")
        .set("heartbeat.interval.ms", "100");
    let producer = producer_config(&cluster);
    let (both, after) = tracing::dispatcher::with_default(s.dispatch(), || {
        produce_to(&producer, 0, 3);
        produce_to(&producer, 1, 3);
        let context = TracingConsumerContext::new(&config).lag("orders", "consume");
        let first: BaseConsumer<TracingConsumerContext> =
            config.create_with_context(context).expect("consumer");
        first.subscribe(&[TOPIC]).expect("subscribed");
        // One record of each partition committed: both lag, both reported.
        let both = commit_one_of_each_partition(&rx, &first);
        // A second member (no lag of its own) takes one partition.
        let second: BaseConsumer<TracingConsumerContext> = config
            .create_with_context(TracingConsumerContext::new(&config))
            .expect("consumer");
        second.subscribe(&[TOPIC]).expect("subscribed");
        let deadline = Instant::now() + WAIT;
        let mut after = Vec::new();
        while Instant::now() < deadline {
            first.poll(Duration::from_millis(50));
            second.poll(Duration::from_millis(50));
            let held = first.assignment().expect("assignment");
            after = backlog_partitions(&rx.snapshot());
            if held.count() == 1 && second.assignment().expect("assignment").count() == 1 {
                let kept = held.elements()[0].partition().to_string();
                if after == [kept] {
                    break;
                }
            }
        }
        (both, after)
    });
    assert!(both, "both partitions reported first: {}", rx.snapshot());
    assert_eq!(after.len(), 1, "the revoked partition reported: {after:?}");
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
}

#[test]
fn a_partition_left_out_of_a_new_assignment_leaves_the_backlog() {
    let cluster = cluster(TOPIC);
    let rx = Receiver::start();
    let s = session(&rx, &[("OTEL_METRIC_EXPORT_INTERVAL", "100")]);
    let mut config = consumer_config(&cluster, "reassigned");
    config.set("statistics.interval.ms", "100");
    let producer = producer_config(&cluster);
    let (both, after) = tracing::dispatcher::with_default(s.dispatch(), || {
        produce_to(&producer, 0, 3);
        produce_to(&producer, 1, 3);
        let context = TracingConsumerContext::new(&config).lag("orders", "consume");
        let consumer: BaseConsumer<TracingConsumerContext> =
            config.create_with_context(context).expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in [0, 1] {
            assignment
                .add_partition_offset(TOPIC, partition, rdkafka::Offset::Beginning)
                .expect("offset");
        }
        consumer.assign(&assignment).expect("assigned");
        let both = commit_one_of_each_partition(&rx, &consumer);
        // No rebalance: only the statistics tell partition 1 is gone.
        let mut only = TopicPartitionList::new();
        only.add_partition_offset(TOPIC, 0, rdkafka::Offset::Stored)
            .expect("offset");
        consumer.assign(&only).expect("reassigned");
        let deadline = Instant::now() + WAIT;
        let mut after = Vec::new();
        while after != ["0"] && Instant::now() < deadline {
            consumer.poll(Duration::from_millis(100));
            after = backlog_partitions(&rx.snapshot());
        }
        (both, after)
    });
    assert!(both, "both partitions reported first: {}", rx.snapshot());
    assert_eq!(after, ["0"], "the unassigned partition reported");
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
}
