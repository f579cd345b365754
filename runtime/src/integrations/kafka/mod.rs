//! Kafka through [rdkafka]: producer and consumer spans by the messaging
//! conventions, the trace context carried in the records' headers, the
//! messaging metrics, and consumer lag as `pipeline.backlog` (feature
//! `rdkafka`).
//!
//! **Producing.** [`Sender::send`] sends through a `FutureProducer` and
//! awaits the delivery; with a `BaseProducer` or `ThreadedProducer`
//! created with a [`TracingProducerContext`], [`TracedSend::send_traced`]
//! enqueues and the delivery callback ends the span. Both are built from
//! the producer's configuration. Either way the record gets a PRODUCER
//! span `send {topic}` with `messaging.system=kafka`,
//! `messaging.operation.type=send`, `messaging.operation.name=send`,
//! `messaging.destination.name`, `messaging.destination.partition.id` and
//! `messaging.kafka.offset` from the delivery report,
//! `messaging.kafka.message.key` (a UTF-8 key; see below),
//! `messaging.kafka.message.tombstone` (no payload), `error.type` (the
//! librdkafka error code, `unknown_topic_or_partition`, …) when the
//! delivery fails; the span's W3C `traceparent` (and `baggage`) is added to
//! the record's own headers; `messaging.client.sent.messages` and
//! `messaging.client.operation.duration` are recorded.
//!
//! **The client.** Producer and consumer spans name the client as the
//! conventions do: `server.address` and `server.port` are the first broker
//! of `bootstrap.servers` (the one the client bootstraps from; port 9092
//! when none is given), also on the messaging metrics;
//! `messaging.client.id` is `client.id` when the configuration sets it,
//! on the spans only (the metrics take low-cardinality attributes).
//!
//! **Keys.** A record's key often is personal data (a user or account id):
//! `without_message_key()` on the [`Sender`], the [`TracingProducerContext`]
//! or the [`TracingConsumerContext`] leaves `messaging.kafka.message.key`
//! out of every span of that client. No metric ever carries it.
//!
//! ```no_run
//! # async fn run() -> Result<(), rdkafka::error::KafkaError> {
//! use rdkafka::producer::{FutureProducer, FutureRecord};
//! use semtel::integrations::kafka::Sender;
//!
//! let mut config = rdkafka::ClientConfig::new();
//! config.set("bootstrap.servers", "kafka:9092");
//! let producer: FutureProducer = config.create()?;
//! let sender = Sender::new(&config).without_message_key();
//! let record = FutureRecord::to("orders").key("customer-17").payload("{\"amount\":12}");
//! // A span `send orders`, ended when the broker has acknowledged the record.
//! let delivery = sender
//!     .send(&producer, record, std::time::Duration::from_secs(5))
//!     .await
//!     .map_err(|(e, _)| e)?;
//! # Ok(()) }
//! ```
//!
//! **Consuming.** A [`TracingConsumerContext`] (built from the consumer's
//! configuration, for its group) starts a CONSUMER span `process {topic}`
//! per message ([`TracingConsumerContext::process`]) that continues the
//! producer's trace, or one per batch ([`TracingConsumerContext::process_batch`])
//! that links every message's context, with `messaging.consumer.group.name`,
//! `messaging.destination.partition.id` and `messaging.kafka.offset`;
//! `messaging.client.consumed.messages` and `messaging.process.duration`
//! are recorded when the [`Processing`] ends. It works the same with a
//! `StreamConsumer` in async code and a `BaseConsumer` in a thread; a
//! [`Processing`] is `Send`, so a handler can take it into
//! `tokio::spawn`.
//!
//! ```no_run
//! # async fn run() -> Result<(), rdkafka::error::KafkaError> {
//! use rdkafka::consumer::{Consumer as _, StreamConsumer};
//! use semtel::integrations::kafka::TracingConsumerContext;
//!
//! let mut config = rdkafka::ClientConfig::new();
//! config
//!     .set("bootstrap.servers", "kafka:9092")
//!     .set("group.id", "billing")
//!     .set("statistics.interval.ms", "5000"); // how often the lag is read
//! let context = TracingConsumerContext::new(&config).lag("orders", "consume");
//! let consumer: StreamConsumer<TracingConsumerContext> = config.create_with_context(context)?;
//! consumer.subscribe(&["orders"])?;
//! loop {
//!     let message = consumer.recv().await?;
//!     let processing = consumer.context().process(&message);
//!     // ... handle the message inside `processing.span()` ...
//!     processing.finish();
//! }
//! # }
//! ```
//!
//! **Lag.** With [`TracingConsumerContext::lag`], the consumer's lag per
//! partition (the high watermark minus the group's committed offset) is the
//! gauge `pipeline.backlog` of that pipeline and stage, with
//! `pipeline.partition`, `messaging.system` and
//! `messaging.destination.name`, so the stage lag alerts cover the consumer.
//! It comes from one of two sources:
//!
//! * librdkafka's statistics (`consumer_lag` of each partition, every
//!   `statistics.interval.ms`), which cost no request and run on the thread
//!   that polls; but librdkafka learns the high watermark from fetch
//!   responses only, so the lag of a paused partition (or of a consumer
//!   that stopped polling) stays where it was;
//! * [`TracingConsumerContext::record_lag_of`], which asks the brokers
//!   (ListOffsets and OffsetFetch) and so sees records pile up behind a
//!   paused or stuck consumer; it blocks, so call it from a thread or task
//!   of its own every few seconds.
//!
//! A partition is reported while the consumer holds it: when a rebalance
//! revokes it (the context's `post_rebalance`, or
//! [`TracingConsumerContext::revoked`] from a context of your own), when
//! the statistics show it no longer fetched (an `assign` without it), when
//! [`TracingConsumerContext::record_lag_of`] finds it no longer assigned,
//! or when the consumer is dropped, its point leaves the export (the gauge
//! is observed at each collection, not a last value kept for good). The
//! gauge is in the instrumentation scope `semtel.integrations.kafka`,
//! beside the stages' `pipeline.backlog` in scope `semtel`.
//!
//! [rdkafka]: https://docs.rs/rdkafka

mod backlog;
mod client;
mod consumer;
mod error;
mod headers;
mod producer;

pub(crate) use backlog::{BacklogGauge, Backlogs};
pub use consumer::{Processing, TracingConsumerContext};
pub use producer::{Sender, Sending, TracedSend, TracingProducerContext};
