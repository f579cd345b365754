//! Runnable example pipelines for semtel.
//!
//! * [`orders`]: extract orders from a CSV file, validate them, hand them over
//!   a Kafka-style queue whose headers carry the trace context, and load them
//!   into SQLite. Run it with `cargo run -p semtel-examples --bin orders`;
//!   with `ORDERS_KAFKA_BROKERS` the orders go through a Kafka broker
//!   ([`kafka`]).

pub mod conventions;
pub mod kafka;
pub mod orders;
