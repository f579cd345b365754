//! Runnable example pipelines for semtel.
//!
//! * [`orders`]: extract orders from a CSV file, validate them, hand them over
//!   a Kafka-style queue whose headers carry the trace context, and load them
//!   into SQLite. Run it with `cargo run -p semtel-examples --bin orders`.

pub mod conventions;
pub mod orders;
