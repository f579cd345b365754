//! Kafka through [rdkafka]: producer and consumer spans by the messaging
//! conventions, the trace context carried in the records' headers, the
//! messaging metrics, and consumer lag as `pipeline.backlog` (feature
//! `rdkafka`).
//!
//! **Producing.** [`send`] sends through a `FutureProducer` and awaits
//! the delivery; with a `BaseProducer` or
//! `ThreadedProducer` created with a [`TracingProducerContext`],
//! [`TracedSend::send_traced`] enqueues and the delivery callback ends the
//! span. Either way the record gets a PRODUCER span `send {topic}` with
//! `messaging.system=kafka`, `messaging.operation.type=send`,
//! `messaging.operation.name=send`, `messaging.destination.name`,
//! `messaging.destination.partition.id` and `messaging.kafka.offset` from
//! the delivery report, `messaging.kafka.message.key` (a UTF-8 key),
//! `messaging.kafka.message.tombstone` (no payload), `error.type` (the
//! librdkafka error code, `unknown_topic_or_partition`, …) when the
//! delivery fails; the span's W3C `traceparent` (and `baggage`) is added to
//! the record's own headers; `messaging.client.sent.messages` and
//! `messaging.client.operation.duration` are recorded.
//!
//! ```no_run
//! # async fn run() -> Result<(), rdkafka::error::KafkaError> {
//! use rdkafka::producer::{FutureProducer, FutureRecord};
//!
//! let producer: FutureProducer = rdkafka::ClientConfig::new()
//!     .set("bootstrap.servers", "kafka:9092")
//!     .create()?;
//! let record = FutureRecord::to("orders").key("order-17").payload("{\"amount\":12}");
//! // A span `send orders`, ended when the broker has acknowledged the record.
//! let delivery = semtel::integrations::kafka::send(&producer, record, std::time::Duration::from_secs(5))
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
//! It comes from librdkafka's statistics (`consumer_lag` of each partition,
//! every `statistics.interval.ms`): librdkafka already tracks both offsets
//! (it queries the watermarks itself for a paused partition) and hands them
//! to the thread that polls, so reading the lag costs no request and no
//! blocking call on the consumer's path.
//!
//! [rdkafka]: https://docs.rs/rdkafka

mod consumer;
mod producer;

pub use consumer::{Processing, TracingConsumerContext};
pub use producer::{Sending, TracedSend, TracingProducerContext, send};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};

/// A low-cardinality `error.type` for a Kafka error: the librdkafka error
/// code in snake case (`unknown_topic_or_partition`, `message_timed_out`),
/// else the kind of error.
fn error_type(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => snake_case(&format!("{code:?}")),
        None => {
            let kind = format!("{error:?}");
            let kind = kind.split(['(', ' ', '{']).next().unwrap_or_default();
            if kind.is_empty() {
                semtel_conventions::attribute::ErrorType::Other
                    .as_str()
                    .to_owned()
            } else {
                snake_case(kind)
            }
        }
    }
}

/// `UnknownTopicOrPartition` → `unknown_topic_or_partition`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The record's headers with `cx` injected: the user's headers first, in
/// their order, except those the propagators write (an earlier
/// `traceparent` is replaced, not doubled).
fn inject(cx: &opentelemetry::Context, headers: Option<OwnedHeaders>) -> OwnedHeaders {
    let mut injected: Vec<(String, String)> = Vec::with_capacity(2);
    crate::propagation::inject_context(cx, &mut injected);
    let user = headers.as_ref();
    let count = user.map_or(0, Headers::count);
    let mut out = OwnedHeaders::new_with_capacity(count + injected.len());
    if let Some(user) = user {
        for h in user.iter() {
            if !injected.iter().any(|(k, _)| k.eq_ignore_ascii_case(h.key)) {
                out = out.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
    }
    for (key, value) in &injected {
        out = out.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    out
}

/// A message's headers as a carrier to extract a context from.
struct Carrier<'a, H: Headers>(Option<&'a H>);

impl<H: Headers> crate::propagation::HeaderCarrier for Carrier<'_, H> {
    fn get_header(&self, key: &str) -> Option<&str> {
        let headers = self.0?;
        (0..headers.count())
            .rev()
            .filter_map(|i| headers.try_get(i))
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn set_header(&mut self, _key: &str, _value: String) {}

    fn header_keys(&self) -> Vec<&str> {
        self.0.map_or_else(Vec::new, |h| {
            (0..h.count())
                .filter_map(|i| h.try_get(i))
                .map(|h| h.key)
                .collect()
        })
    }
}

/// The context a message carries in its headers (empty when none).
fn extract<M: rdkafka::Message>(message: &M) -> opentelemetry::Context {
    crate::propagation::extract(&Carrier(message.headers()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[test]
    fn error_types_are_snake_case_codes() {
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert_eq!(error_type(&e), "unknown_topic_or_partition");
        assert_eq!(error_type(&KafkaError::Canceled), "canceled");
    }

    #[test]
    fn injection_keeps_the_users_headers_and_replaces_an_old_traceparent() {
        let user = OwnedHeaders::new()
            .insert(Header {
                key: "tenant",
                value: Some("acme"),
            })
            .insert(Header {
                key: "traceparent",
                value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            });
        // A context without a span injects nothing: the headers stay.
        let out = inject(&opentelemetry::Context::new(), Some(user));
        let keys: Vec<&str> = out.iter().map(|h| h.key).collect();
        assert_eq!(keys, ["tenant", "traceparent"]);
    }
}
