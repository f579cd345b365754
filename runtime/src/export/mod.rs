//! The export engine: bounded queues in front of every exporter, worker
//! threads that batch and export, and the accounting behind
//! [`ShutdownReport`].
//!
//! The OpenTelemetry SDK's batch processors drop telemetry silently when full
//! and need a runtime of the caller's kind; here every queue counts what it
//! drops, every export is bounded by a timeout, and network exporters run on
//! semtel's own runtime thread, so a slow or absent collector never blocks the
//! pipeline and shutdown cannot deadlock on the caller's (possibly
//! current-thread) tokio runtime.

mod batch_end;
mod chunks;
mod exporter;
mod handoff;
mod logs;
#[cfg(feature = "testing")]
mod memory;
mod metrics;
mod otlp_spans;
mod queue;
mod report;
mod runtime;
mod sdk;
pub(crate) mod self_metrics;
mod spans;
mod sync;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use chunks::Chunks;
pub(crate) use exporter::BatchExporter;
pub(crate) use logs::LogQueueProcessor;
#[cfg(feature = "testing")]
pub(crate) use memory::{MemoryLogs, MemorySink, MemorySpans};
pub(crate) use metrics::CountingMetricExporter;
#[cfg(feature = "__bench")]
pub(crate) use otlp_spans::DiscardEncoded;
pub(crate) use otlp_spans::OtlpSpans;
pub(crate) use queue::BatchQueue;
pub(crate) use report::Reporter;
pub use report::{ShutdownReport, SignalReport};
pub(crate) use runtime::{Executor, ExportRuntime, suppress_telemetry_on_this_thread};
pub(crate) use sdk::Sdk;
pub(crate) use spans::SpanQueueProcessor;
