//! The orders' hand-off through a real Kafka broker, with semtel's rdkafka
//! integration: each order is sent with a PRODUCER span `send orders` (its
//! context in the record's headers) and received by a consumer group with a
//! CONSUMER span `process orders` that continues it; the consumer's lag is
//! the `pipeline.backlog` of the `receive` stage. The received messages
//! keep their Kafka headers, so the batch consumer downstream links to the
//! send spans.

use std::io;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use semtel::integrations::kafka::{self, TracingConsumerContext};
use semtel::stage;

use crate::orders::{Message, Order};

/// How long the consumer waits for each order before the run gives up.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `orders` to `topic` on `brokers` and reads them back as consumer
/// group `orders-loader`.
///
/// # Errors
///
/// When a record is not delivered or not received in time (as an
/// [`io::Error`] carrying the Kafka error).
pub fn exchange(brokers: &str, topic: &str, orders: Vec<Order>) -> io::Result<Vec<Message>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sent = publish(brokers, topic, &orders).await?;
        receive(brokers, topic, sent).await
    })
}

/// Sends each order, keyed by its id, and awaits its delivery.
#[stage(pipeline = "orders", kind = transform, records_in = orders.len(), records_out = *ret)]
async fn publish(brokers: &str, topic: &str, orders: &[Order]) -> io::Result<usize> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .map_err(io::Error::other)?;
    for order in orders {
        let key = order.id.to_string();
        let payload = encode(order);
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        kafka::send(&producer, record, Duration::from_secs(5))
            .await
            .map_err(|(e, _)| io::Error::other(e))?;
    }
    Ok(orders.len())
}

/// Reads `count` orders as group `orders-loader`, each in its processing
/// span, and commits them.
#[stage(pipeline = "orders", kind = source, records_out = ret.len())]
async fn receive(brokers: &str, topic: &str, count: usize) -> io::Result<Vec<Message>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", "orders-loader")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    let context = TracingConsumerContext::new(&config).lag("orders", "receive");
    let consumer: StreamConsumer<TracingConsumerContext> = config
        .create_with_context(context)
        .map_err(io::Error::other)?;
    consumer.subscribe(&[topic]).map_err(io::Error::other)?;
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        let received = tokio::time::timeout(RECEIVE_TIMEOUT, consumer.recv())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no order from Kafka in time"))?
            .map_err(io::Error::other)?;
        let mut processing = consumer.context().process(&received);
        let headers: Vec<(String, Vec<u8>)> = received
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        match received.payload().and_then(decode) {
            Some(order) => messages.push(Message { headers, order }),
            None => processing.fail("malformed_order"),
        }
        processing.finish();
        consumer
            .commit_message(&received, CommitMode::Sync)
            .map_err(io::Error::other)?;
    }
    // What is left on the topic for this group, as `pipeline.backlog`.
    consumer
        .context()
        .record_lag_of(&consumer, Duration::from_secs(5))
        .map_err(io::Error::other)?;
    Ok(messages)
}

/// An order as the record's payload: its CSV row.
fn encode(order: &Order) -> String {
    format!(
        "{},{},{},{},{},{}",
        order.id, order.customer, order.email, order.amount, order.currency, order.note
    )
}

fn decode(payload: &[u8]) -> Option<Order> {
    let row = std::str::from_utf8(payload).ok()?;
    let cols: Vec<&str> = row.splitn(6, ',').collect();
    let [id, customer, email, amount, currency, note] = cols[..] else {
        return None;
    };
    Some(Order {
        id: id.parse().ok()?,
        customer: customer.to_owned(),
        email: email.to_owned(),
        amount: amount.parse().ok()?,
        currency: currency.to_owned(),
        note: note.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_survives_its_payload() {
        let order = Order {
            id: 7,
            customer: "customer-2".into(),
            email: "c2@example.com".into(),
            amount: 91.07,
            currency: "USD".into(),
            note: "gift wrap, twice".into(),
        };
        let back = decode(encode(&order).as_bytes()).expect("decodes");
        assert_eq!((back.id, back.amount, back.note), (7, 91.07, order.note));
    }
}
