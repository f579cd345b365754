//! Test support for semtel: an in-process OTLP receiver, a harness for the
//! out-of-process collector `rotel-agent`, small OTLP clients and fixtures,
//! a harness for moto (a real S3 API server),
//! and readers for what `deploy/` holds (Grafana dashboards, Alloy
//! configuration, Prometheus's tools).
//!
//! ```no_run
//! use std::time::Duration;
//! use semtel_tests::{Receiver, Transport};
//!
//! let rx = Receiver::start();
//! // Point the code under test at rx.grpc_endpoint() or rx.http_endpoint(), run it, then:
//! let snapshot = rx.expect(Duration::from_secs(10), "2 spans", |s| s.spans().len() >= 2);
//! let spans = snapshot.spans();
//! assert!(spans[1].is_child_of(&spans[0]));
//! assert_eq!(snapshot.count(Transport::Grpc), 1);
//! ```
//!
//! Usage notes:
//! - Everything listens on 127.0.0.1 only, on ephemeral ports.
//! - Nothing sleeps: waits block on a condvar woken by each arrival, bounded by a timeout.
//! - [`Rotel::start`] fails, naming the install command, when `rotel-agent` is
//!   missing; tests that need it fail rather than pass silently.
#![warn(missing_docs)]

pub mod alloy;
pub mod attrs;
pub mod client;
pub mod fixtures;
pub mod grafana;
pub mod live_check;
pub mod moto;
pub mod postgres;
pub mod prometheus;
mod receiver;
pub mod record;
pub mod rotel;
pub mod rotel_debug;
mod server;
mod test_tools;

pub use attrs::{attr, attr_bool, attr_f64, attr_i64, attr_str, hex};
pub use live_check::{Finding, LiveCheck};
pub use postgres::{Postgres, PostgresError};
pub use receiver::{Counts, Receiver, Refusal, RetryAfter};
pub use record::{
    Payload, ReceivedLog, ReceivedMetric, ReceivedRequest, ReceivedSpan, Signal, Snapshot,
    Transport,
};
pub use rotel::{Rotel, RotelError};
pub use rotel_debug::RotelDebug;

/// The official OTLP protobuf types, as the receiver decodes them.
pub use opentelemetry_proto as proto;
