//! The wire: OTLP trace requests encoded straight from span records
//! ([`encode`]), sent over HTTP (protobuf or JSON) or gRPC with retries ([`send`]),
//! TLS settings for both ([`tls`]), and opentelemetry-otlp's exporters for
//! what semtel does not encode itself ([`sdk`]). Nothing here knows the
//! queues or the engine above it.

mod answer;
pub(crate) mod encode;
pub(crate) mod metrics;
pub(crate) mod sdk;
pub(crate) mod send;
#[cfg(feature = "tls")]
pub(crate) mod tls;
