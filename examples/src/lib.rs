//! Runnable example pipelines for semtel.
//!
//! * [`orders`]: extract orders from a CSV file, validate them, hand them over
//!   a Kafka-style queue whose headers carry the trace context, and load them
//!   into SQLite. Run it with `cargo run -p semtel-examples --bin orders`.
//! * [`queue`]: the broker between its producer and consumer.

pub mod conventions;
pub mod orders;
pub mod queue;
