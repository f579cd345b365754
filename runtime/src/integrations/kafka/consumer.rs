//! Consumer spans (`process {topic}`, per message or per batch) and the
//! consumer's lag as `pipeline.backlog`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{KeyValue, Value};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, ClientContext, Message, TopicPartitionList};
use semtel_conventions::attribute::{self, MessagingOperationType, MessagingSystem};
use semtel_conventions::metric;
use semtel_conventions::pipeline::attribute as pattr;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::backlog::Backlogs;
use super::client::Client;
use crate::integrations::{Hub, Operation};

/// The context of a traced consumer: the group its spans name, and the
/// pipeline stage whose `pipeline.backlog` its lag is (see the
/// [module docs](super)). Create the consumer with it
/// (`config.create_with_context(context)`), then start each message's
/// span with `consumer.context().process(&message)`.
///
/// A consumer that needs a context of its own (rebalance callbacks) keeps
/// a `TracingConsumerContext` in it, calls [`record_lag`](Self::record_lag)
/// from its `stats` callback, [`revoked`](Self::revoked) from its
/// `post_rebalance` callback, and [`process`](Self::process) as here.
#[derive(Debug, Clone, Default)]
pub struct TracingConsumerContext {
    group: Option<Value>,
    client: Client,
    lag: Option<Arc<Lag>>,
    /// The session current where the context was created: statistics
    /// arrive on whichever thread polls the consumer.
    hub: Option<Arc<Hub>>,
}

impl TracingConsumerContext {
    /// The context for a consumer created from `config`: its `group.id`
    /// becomes `messaging.consumer.group.name`, the first broker of its
    /// `bootstrap.servers` `server.address` and `server.port`, its
    /// `client.id` (when set) `messaging.client.id`.
    ///
    /// ```
    /// use semtel::integrations::kafka::TracingConsumerContext;
    ///
    /// let mut config = rdkafka::ClientConfig::new();
    /// config.set("group.id", "billing");
    /// let context = TracingConsumerContext::new(&config);
    /// ```
    #[must_use]
    pub fn new(config: &ClientConfig) -> Self {
        Self {
            group: config.get("group.id").map(|g| Value::from(g.to_owned())),
            client: Client::new(config),
            lag: None,
            hub: crate::integrations::layer::current(),
        }
    }

    /// Leaves `messaging.kafka.message.key` out of the spans: for keys
    /// that are personal data (a user or account id) or otherwise secret.
    ///
    /// ```
    /// let config = rdkafka::ClientConfig::new();
    /// let context = semtel::integrations::kafka::TracingConsumerContext::new(&config).without_message_key();
    /// ```
    #[must_use]
    pub fn without_message_key(mut self) -> Self {
        self.client.keys = false;
        self
    }

    /// Also records the consumer's lag per partition as the gauge
    /// `pipeline.backlog` of stage `stage` of pipeline `pipeline` (kind
    /// `source`): every `statistics.interval.ms` when the consumer's
    /// configuration sets it (librdkafka sends no statistics without it),
    /// or at each [`record_lag_of`](Self::record_lag_of) (see the
    /// [module docs](super) for which to choose).
    ///
    /// ```
    /// use semtel::integrations::kafka::TracingConsumerContext;
    ///
    /// let mut config = rdkafka::ClientConfig::new();
    /// config.set("group.id", "billing").set("statistics.interval.ms", "5000");
    /// let context = TracingConsumerContext::new(&config).lag("orders", "consume");
    /// ```
    #[must_use]
    pub fn lag(mut self, pipeline: &str, stage: &str) -> Self {
        self.lag = Some(Arc::new(Lag {
            labels: Arc::from([
                KeyValue::new(pattr::PIPELINE_NAME.name(), pipeline.to_owned()),
                KeyValue::new(pattr::PIPELINE_STAGE_NAME.name(), stage.to_owned()),
                KeyValue::new(pattr::PIPELINE_STAGE_KIND.name(), "source"),
                KeyValue::new(
                    attribute::MESSAGING_SYSTEM.name(),
                    MessagingSystem::Kafka.as_str(),
                ),
            ]),
            series: OnceLock::new(),
        }));
        self
    }

    /// This consumer's `pipeline.backlog` series, registered with the
    /// session on first use; `None` without [`lag`](Self::lag) or session.
    fn backlogs(&self) -> Option<&Arc<Backlogs>> {
        let lag = self.lag.as_ref()?;
        if let Some(series) = lag.series.get() {
            return Some(series);
        }
        let hub = self
            .hub
            .clone()
            .or_else(crate::integrations::layer::current)?;
        Some(
            lag.series
                .get_or_init(|| hub.backlog_series(Arc::clone(&lag.labels))),
        )
    }

    /// Stops reporting the `pipeline.backlog` of `partitions`: the
    /// [`ConsumerContext`] of this type calls it when a rebalance revokes
    /// them; a consumer context of its own calls it from its
    /// `post_rebalance` with the revoked partitions.
    ///
    /// ```
    /// let context = semtel::integrations::kafka::TracingConsumerContext::default();
    /// context.revoked(&rdkafka::TopicPartitionList::new());
    /// ```
    pub fn revoked(&self, partitions: &TopicPartitionList) {
        if let Some(series) = self.lag.as_ref().and_then(|l| l.series.get()) {
            for elem in partitions.elements() {
                series.remove(elem.topic(), elem.partition());
            }
        }
    }

    /// Records the lag of every partition in `statistics` whose lag
    /// librdkafka knows (a partition the group has committed an offset
    /// for), when [`lag`](Self::lag) was given, and stops reporting the
    /// partitions the consumer no longer fetches (unassigned).
    ///
    /// ```
    /// # use rdkafka::statistics::Statistics;
    /// let context = semtel::integrations::kafka::TracingConsumerContext::default();
    /// context.record_lag(&Statistics::default()); // no stage given: nothing recorded
    /// ```
    pub fn record_lag(&self, statistics: &Statistics) {
        let Some(series) = self.backlogs() else {
            return;
        };
        for (topic, t) in &statistics.topics {
            for (id, p) in &t.partitions {
                // -1 is librdkafka's internal unassigned partition.
                if *id < 0 {
                    continue;
                }
                // A partition the consumer no longer fetches (revoked,
                // unassigned) has no lag of this consumer's to report.
                if matches!(p.fetch_state.as_str(), "none" | "stopping" | "stopped") {
                    series.remove(topic, *id);
                    continue;
                }
                // A negative lag is one librdkafka does not know.
                if let Ok(lag) = u64::try_from(p.consumer_lag) {
                    series.set(topic, *id, lag);
                }
            }
        }
    }

    /// Records the lag of every partition assigned to `consumer` from the
    /// brokers' answers: each partition's high watermark (a ListOffsets
    /// request) minus the group's committed offset (one OffsetFetch), when
    /// [`lag`](Self::lag) was given. Unlike the statistics, whose high
    /// watermark librdkafka only learns from fetch responses, this sees
    /// records arrive on a partition the consumer has paused. It blocks for
    /// up to `timeout` per request: call it from a thread or task of its
    /// own (every few seconds), not between messages, and leave
    /// `statistics.interval.ms` unset so that one source sets the gauge.
    ///
    /// ```no_run
    /// # fn run(consumer: std::sync::Arc<rdkafka::consumer::BaseConsumer<semtel::integrations::kafka::TracingConsumerContext>>) {
    /// use rdkafka::consumer::Consumer as _;
    ///
    /// std::thread::spawn(move || loop {
    ///     if let Err(e) = consumer.context().record_lag_of(&*consumer, std::time::Duration::from_secs(5)) {
    ///         eprintln!("lag not read: {e}");
    ///     }
    ///     std::thread::park_timeout(std::time::Duration::from_secs(15));
    /// });
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The first request that fails (no broker, timeout); the partitions
    /// read before it are recorded.
    pub fn record_lag_of<X, K>(&self, consumer: &K, timeout: Duration) -> KafkaResult<()>
    where
        X: ConsumerContext,
        K: Consumer<X>,
    {
        let Some(series) = self.backlogs() else {
            return Ok(());
        };
        let assignment = consumer.assignment()?;
        // Partitions no longer assigned are no longer reported.
        series.retain(|topic, partition| assignment.find_partition(topic, partition).is_some());
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = consumer.committed_offsets(assignment, timeout)?;
        for elem in committed.elements() {
            // No committed offset yet: no lag to speak of.
            let Some(committed) = elem.offset().to_raw().filter(|o| *o >= 0) else {
                continue;
            };
            let (_, high) = consumer.fetch_watermarks(elem.topic(), elem.partition(), timeout)?;
            let lag = u64::try_from(high.saturating_sub(committed)).unwrap_or(0);
            series.set(elem.topic(), elem.partition(), lag);
        }
        Ok(())
    }

    /// Starts the CONSUMER span `process {topic}` of one message, continuing
    /// the trace whose context the message carries (else under the current
    /// span), with this consumer's group.
    ///
    /// ```no_run
    /// # fn run(consumer: rdkafka::consumer::BaseConsumer<semtel::integrations::kafka::TracingConsumerContext>) {
    /// use rdkafka::consumer::Consumer as _;
    ///
    /// while let Some(Ok(message)) = consumer.poll(std::time::Duration::from_secs(1)) {
    ///     let processing = consumer.context().process(&message);
    ///     processing.span().in_scope(|| { /* handle the message */ });
    ///     processing.finish();
    /// }
    /// # }
    /// ```
    pub fn process<M: Message>(&self, message: &M) -> Processing {
        Processing::start_message(message, self.group.as_ref(), &self.client)
    }

    /// Starts one CONSUMER span for a batch of messages, linked to the
    /// context each message carries (as many as the span link limit,
    /// `OTEL_SPAN_LINK_COUNT_LIMIT`, allows), named `process {topic}`
    /// when they share a topic, with `messaging.batch.message_count`.
    ///
    /// ```no_run
    /// # fn run(consumer: rdkafka::consumer::BaseConsumer<semtel::integrations::kafka::TracingConsumerContext>) {
    /// use rdkafka::consumer::Consumer as _;
    /// use rdkafka::Message as _;
    ///
    /// let batch: Vec<_> = (0..100)
    ///     .map_while(|_| consumer.poll(std::time::Duration::from_millis(100)))
    ///     .filter_map(Result::ok)
    ///     .map(|m| m.detach())
    ///     .collect();
    /// let processing = consumer.context().process_batch(&batch);
    /// // ... write the batch ...
    /// processing.finish();
    /// # }
    /// ```
    pub fn process_batch<M: Message>(&self, messages: &[M]) -> Processing {
        Processing::start_batch(messages, self.group.as_ref(), &self.client)
    }
}

/// The stage a consumer's lag is the backlog of, and its series.
#[derive(Debug)]
struct Lag {
    labels: Arc<[KeyValue]>,
    series: OnceLock<Arc<Backlogs>>,
}

impl ClientContext for TracingConsumerContext {
    fn stats(&self, statistics: Statistics) {
        self.record_lag(&statistics);
    }
}

impl ConsumerContext for TracingConsumerContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.revoked(partitions);
        }
    }
}

/// The processing of a message or a batch: its CONSUMER span, ended (with
/// `messaging.process.duration` and `messaging.client.consumed.messages`
/// recorded) by [`finish`](Self::finish) or when dropped. It is `Send`:
/// move it into the task that handles the message.
///
/// ```no_run
/// # async fn run(consumer: rdkafka::consumer::StreamConsumer<semtel::integrations::kafka::TracingConsumerContext>) {
/// use rdkafka::consumer::Consumer as _;
/// use rdkafka::Message as _;
/// use tracing::Instrument as _;
///
/// let message = consumer.recv().await.expect("a message");
/// let processing = consumer.context().process(&message);
/// let owned = message.detach();
/// tokio::spawn(async move {
///     let span = processing.span().clone();
///     async { /* handle `owned`: spans and stages here are children */ }
///         .instrument(span)
///         .await;
///     processing.finish();
/// });
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a processing span ends when finished or dropped"]
pub struct Processing {
    op: Operation,
}

/// The attributes every processing span has.
fn common(op: &mut Operation, group: Option<&Value>, client: &Client, count: u64) {
    op.set(attribute::MESSAGING_SYSTEM, MessagingSystem::Kafka.as_str())
        .set(
            attribute::MESSAGING_OPERATION_TYPE,
            MessagingOperationType::Process.as_str(),
        )
        .set(attribute::MESSAGING_OPERATION_NAME, "process")
        .count(metric::MESSAGING_CLIENT_CONSUMED_MESSAGES, count);
    client.apply(op);
    if let Some(group) = group {
        op.set_value(
            attribute::MESSAGING_CONSUMER_GROUP_NAME.name(),
            group.clone(),
        );
    }
}

fn span(name: &str) -> tracing::Span {
    tracing::info_span!(
        target: "semtel::integrations::kafka",
        "kafka.process",
        otel.name = name,
        otel.kind = "consumer"
    )
}

impl Processing {
    /// Starts the processing of `message` by consumer group `group` (see
    /// [`TracingConsumerContext::process`], which gives the group itself).
    ///
    /// ```
    /// use rdkafka::message::{OwnedHeaders, OwnedMessage, Timestamp};
    ///
    /// let message = OwnedMessage::new(Some(b"{}".to_vec()), None, "orders".into(),
    ///     Timestamp::NotAvailable, 0, 41, Some(OwnedHeaders::new()));
    /// let processing = semtel::integrations::kafka::Processing::message(&message, Some("billing"));
    /// processing.finish();
    /// ```
    pub fn message<M: Message>(message: &M, group: Option<&str>) -> Self {
        let group = group.map(|g| Value::from(g.to_owned()));
        Self::start_message(message, group.as_ref(), &Client::default())
    }

    /// Starts the processing of a batch by consumer group `group` (see
    /// [`TracingConsumerContext::process_batch`]).
    ///
    /// ```
    /// use rdkafka::message::{OwnedMessage, Timestamp};
    ///
    /// let batch: Vec<OwnedMessage> = (0..3)
    ///     .map(|i| OwnedMessage::new(None, None, "orders".into(), Timestamp::NotAvailable, 0, i, None))
    ///     .collect();
    /// semtel::integrations::kafka::Processing::batch(&batch, None).finish();
    /// ```
    pub fn batch<M: Message>(messages: &[M], group: Option<&str>) -> Self {
        let group = group.map(|g| Value::from(g.to_owned()));
        Self::start_batch(messages, group.as_ref(), &Client::default())
    }

    fn start_message<M: Message>(message: &M, group: Option<&Value>, client: &Client) -> Self {
        let topic = message.topic();
        let span = span(&format!("process {topic}"));
        let parent = super::headers::extract(message);
        if parent.span().span_context().is_valid() {
            crate::propagation::set_parent(&span, parent);
        }
        let mut op = Operation::start(span, metric::MESSAGING_PROCESS_DURATION);
        common(&mut op, group, client, 1);
        op.set(attribute::MESSAGING_DESTINATION_NAME, topic)
            .set(
                attribute::MESSAGING_DESTINATION_PARTITION_ID,
                &message.partition().to_string(),
            )
            .set(attribute::MESSAGING_KAFKA_OFFSET, &message.offset());
        if let Some(key) = client.key(message.key()) {
            op.set(attribute::MESSAGING_KAFKA_MESSAGE_KEY, key);
        }
        if message.payload().is_none() {
            op.set(attribute::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, &true);
        }
        Self { op }
    }

    fn start_batch<M: Message>(messages: &[M], group: Option<&Value>, client: &Client) -> Self {
        let topic = messages.first().map(Message::topic);
        let topic = topic.filter(|t| messages.iter().all(|m| m.topic() == *t));
        let partition = messages.first().map(Message::partition);
        let partition = partition.filter(|p| messages.iter().all(|m| m.partition() == *p));
        let span = match topic {
            Some(topic) => span(&format!("process {topic}")),
            None => span("process"),
        };
        // The SDK keeps as many links as its limit and counts the rest as
        // dropped.
        for message in messages {
            let cx = super::headers::extract(message);
            let linked = cx.span().span_context().clone();
            if linked.is_valid() {
                span.add_link(linked);
            }
        }
        let mut op = Operation::start(span, metric::MESSAGING_PROCESS_DURATION);
        common(&mut op, group, client, messages.len() as u64);
        op.set(
            attribute::MESSAGING_BATCH_MESSAGE_COUNT,
            &i64::try_from(messages.len()).unwrap_or(i64::MAX),
        );
        if let Some(topic) = topic {
            op.set(attribute::MESSAGING_DESTINATION_NAME, topic);
        }
        if let Some(partition) = partition {
            op.set(
                attribute::MESSAGING_DESTINATION_PARTITION_ID,
                &partition.to_string(),
            );
        }
        Self { op }
    }

    /// The processing's span: enter it, or `.instrument` the handler with a
    /// clone of it, so that the handler's spans and stages are its children.
    pub fn span(&self) -> &tracing::Span {
        self.op.span()
    }

    /// Marks the processing failed with `error_type` (low cardinality, no
    /// secret: it is exported as it is).
    ///
    /// ```
    /// # use rdkafka::message::{OwnedMessage, Timestamp};
    /// # let message = OwnedMessage::new(None, None, "orders".into(), Timestamp::NotAvailable, 0, 1, None);
    /// let mut processing = semtel::integrations::kafka::Processing::message(&message, None);
    /// processing.fail("invalid_order");
    /// processing.finish();
    /// ```
    pub fn fail(&mut self, error_type: &str) {
        self.op.fail(error_type, None);
    }

    /// Ends the processing: its span ends and the metrics are recorded.
    pub fn finish(self) {
        self.op.finish();
    }
}
