//! The orders' hand-off through a real Kafka broker, with semtel's rdkafka
//! integration: a [`Broker`] whose sends are PRODUCER spans `send {topic}`
//! (under the stage that sends, their context in the record's headers) and
//! whose polls receive each message in a CONSUMER span `process {topic}`
//! that continues its send, as consumer group `orders-loader`. The
//! received messages keep their Kafka headers, so the batch consumer
//! downstream links to the send spans.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use semtel::integrations::kafka::{
    TracedSend as _, TracingConsumerContext, TracingProducerContext,
};
use tracing::warn;

use crate::queue::{Batch, Broker, Message, SendError};

/// How long librdkafka keeps trying to deliver a record before it reports
/// it timed out (a transient error here).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a send waits for its delivery report: past the delivery
/// timeout, so the report always comes first.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a poll waits for the messages this broker sent.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Broker requests made to read the consumer's position.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumer group the orders are loaded by.
pub const GROUP: &str = "orders-loader";

/// Kafka as the orders' [`Broker`]: a producer whose [`send`](Broker::send)
/// returns once the record is delivered (or not), and a consumer in group
/// [`GROUP`] whose [`poll`](Broker::poll) commits what it takes and
/// reports what still waits, from the partitions' high watermarks.
pub struct KafkaBroker {
    producer: BaseProducer<TracingProducerContext<Deliveries>>,
    consumer: BaseConsumer<TracingConsumerContext>,
    subscribed: Option<String>,
    /// Records delivered and taken, per topic: what a poll waits for.
    delivered: BTreeMap<String, u64>,
    taken: BTreeMap<String, u64>,
}

impl std::fmt::Debug for KafkaBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBroker")
            .field("subscribed", &self.subscribed)
            .field("delivered", &self.delivered)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl KafkaBroker {
    /// A producer and a consumer for `brokers` (`host:port,…`).
    ///
    /// # Errors
    ///
    /// When librdkafka rejects the configuration.
    pub fn connect(brokers: &str) -> std::io::Result<Self> {
        let mut producer_config = ClientConfig::new();
        producer_config
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "0")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            );
        let producer = producer_config
            .create_with_context(TracingProducerContext::wrap(
                &producer_config,
                Deliveries::default(),
            ))
            .map_err(std::io::Error::other)?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("group.id", GROUP)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        let consumer = config
            .create_with_context(TracingConsumerContext::new(&config))
            .map_err(std::io::Error::other)?;
        Ok(Self {
            producer,
            consumer,
            subscribed: None,
            delivered: BTreeMap::new(),
            taken: BTreeMap::new(),
        })
    }

    /// Subscribes to `topic` unless it already is.
    fn subscribe(&mut self, topic: &str) -> Result<(), KafkaError> {
        if self.subscribed.as_deref() != Some(topic) {
            self.consumer.subscribe(&[topic])?;
            self.subscribed = Some(topic.to_owned());
        }
        Ok(())
    }

    /// Records still waiting on each of `partitions` of `topic` for this
    /// group: the high watermark minus the consumer's position.
    fn waiting(&self, topic: &str) -> Result<(u64, BTreeSet<i32>), KafkaError> {
        let position = self.consumer.position()?;
        let mut waiting = 0;
        let mut partitions = BTreeSet::new();
        for elem in position.elements_for_topic(topic) {
            let (low, high) =
                self.consumer
                    .fetch_watermarks(topic, elem.partition(), REQUEST_TIMEOUT)?;
            // Nothing read from the partition yet: all of it waits.
            let next = elem.offset().to_raw().filter(|o| *o >= 0).unwrap_or(low);
            waiting += u64::try_from(high.saturating_sub(next)).unwrap_or(0);
            partitions.insert(elem.partition());
        }
        Ok((waiting, partitions))
    }
}

impl Broker for KafkaBroker {
    /// Sends `message` with its headers (its `traceparent` replaced by the
    /// send span's) and waits for the delivery report.
    fn send(&mut self, topic: &str, message: Message) -> Result<(), SendError> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
        for (key, value) in &message.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(&message.payload[..])
            .headers(headers);
        if !message.key.is_empty() {
            record = record.key(&message.key[..]);
        }
        self.producer
            .send_traced(record)
            .map_err(|(e, _record)| send_error(&e))?;
        // Serves the delivery callback, which ends the send span.
        self.producer
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| send_error(&e))?;
        let report = (self.producer.context().inner().last)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match report {
            Some(Ok(())) => {
                *self.delivered.entry(topic.to_owned()).or_default() += 1;
                Ok(())
            }
            Some(Err(e)) => Err(send_error(&e)),
            None => Err(SendError::Transient("no delivery report".into())),
        }
    }

    /// Takes up to `max` messages, waiting (up to a bound) for those this
    /// broker delivered to `topic` and has not handed out yet, each
    /// received in its `process {topic}` span; commits them and reports
    /// what still waits. A failure is logged and ends the poll with what
    /// it has.
    fn poll(&mut self, topic: &str, max: usize) -> Batch {
        if let Err(e) = self.subscribe(topic) {
            warn!(error = %e, "not subscribed to {topic}");
            return Batch::default();
        }
        let delivered = self.delivered.get(topic).copied().unwrap_or(0);
        let taken = self.taken.get(topic).copied().unwrap_or(0);
        let expected = usize::try_from(delivered - taken).map_or(max, |n| n.min(max));
        let deadline = Instant::now() + RECEIVE_TIMEOUT;
        let mut messages = Vec::with_capacity(expected);
        let mut partitions = BTreeSet::new();
        while messages.len() < expected && Instant::now() < deadline {
            let received = match self.consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(e)) => {
                    warn!(error = %e, "poll failed");
                    continue;
                }
                Some(Ok(received)) => received,
            };
            let processing = self.consumer.context().process(&received);
            let headers = received
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            partitions.insert(received.partition());
            messages.push(Message {
                headers,
                key: received.key().unwrap_or_default().to_vec(),
                payload: received.payload().unwrap_or_default().to_vec(),
            });
            processing.finish();
        }
        *self.taken.entry(topic.to_owned()).or_default() += messages.len() as u64;
        if !messages.is_empty()
            && let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync)
        {
            warn!(error = %e, "offsets not committed");
        }
        let waiting = match self.waiting(topic) {
            Ok((waiting, assigned)) => {
                if partitions.is_empty() {
                    partitions = assigned;
                }
                waiting
            }
            Err(e) => {
                warn!(error = %e, "backlog not read");
                0
            }
        };
        let partition = partitions
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        Batch {
            partition,
            messages,
            waiting,
        }
    }
}

/// A send error: transient when Kafka says trying again may work.
fn send_error(error: &KafkaError) -> SendError {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(
            C::QueueFull
            | C::MessageTimedOut
            | C::RequestTimedOut
            | C::OperationTimedOut
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::NetworkException
            | C::BrokerNotAvailable
            | C::BrokerTransportFailure
            | C::AllBrokersDown,
        ) => SendError::Transient(error.to_string()),
        _ => SendError::Refused(error.to_string()),
    }
}

/// The application's producer context under semtel's: keeps the last
/// delivery report, for a send to wait on.
#[derive(Debug, Default)]
pub struct Deliveries {
    last: Mutex<Option<Result<(), KafkaError>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let report = result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone());
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_kafka_errors_are_transient() {
        let full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        assert!(send_error(&full).is_transient());
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(!send_error(&too_large).is_transient());
    }
}
