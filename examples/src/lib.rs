//! Runnable example pipelines for semtel.
//!
//! * [`orders`]: extract orders from a CSV file, validate them, hand them over
//!   a Kafka-style queue whose headers carry the trace context, and load them
//!   into SQLite. Run it with `cargo run -p semtel-examples --bin orders`;
//!   with `ORDERS_KAFKA_BROKERS` the orders go through Kafka ([`kafka`]).
//! * [`queue`]: the broker between its producer and consumer.
//! * [`kafka`]: Kafka as that broker, with semtel's rdkafka integration.

pub mod conventions;
pub mod kafka;
pub mod orders;
pub mod queue;
