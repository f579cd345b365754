//! Instrumentation of the libraries a pipeline does its I/O with, each
//! behind a cargo feature of `semtel` (all off by default), emitting what
//! the current semantic conventions say for the library's family: a client
//! span per operation and the family's duration histogram.
//!
//! Every integration builds on [`Operation`], which is public so that a
//! client semtel does not cover can be instrumented the same way.
//! Integration spans are `tracing` spans: stages, your own spans and logs
//! inside them nest under them, and they follow `RUST_LOG`. Their targets
//! are `semtel::integrations::<library>`.

mod hub;
#[cfg(feature = "log")]
pub mod log;
mod operation;
#[cfg(feature = "tokio-postgres")]
pub mod postgres;
#[cfg(feature = "reqwest-middleware")]
pub mod reqwest;
#[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
mod sql;
#[cfg(feature = "sqlx")]
pub mod sqlx;

pub(crate) use hub::{Hub, HubLayer};
pub use operation::Operation;

/// The explicit bucket boundaries the semantic conventions recommend for a
/// duration histogram, by metric name (`None`: the SDK's defaults).
///
/// ```
/// let b = semtel::integrations::boundaries("db.client.operation.duration").unwrap();
/// assert_eq!(b.first(), Some(&0.001));
/// ```
#[must_use]
pub fn boundaries(metric: &str) -> Option<&'static [f64]> {
    /// `http.*.request.duration`, `messaging.*.duration`, `rpc.*.call.duration`.
    const REQUEST: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ];
    /// `db.client.operation.duration`.
    const DB: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
    match metric {
        "db.client.operation.duration" => Some(DB),
        "http.client.request.duration"
        | "http.server.request.duration"
        | "messaging.client.operation.duration"
        | "messaging.process.duration"
        | "rpc.client.call.duration"
        | "rpc.server.call.duration" => Some(REQUEST),
        _ => None,
    }
}
