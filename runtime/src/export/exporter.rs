//! The one seam between a queue and where its batches go: a batch of items
//! (span records, SDK spans, log records) goes out.
//!
//! Its implementations: semtel's own OTLP encoder and sender for spans
//! ([`super::otlp_spans`]), and any OpenTelemetry SDK span or log exporter
//! ([`super::sdk`]). Queues, the collector's hand-off and the shutdown
//! accounting see only this trait.

use super::batch_end::BatchEnd;

/// Where a queue's batches go.
pub(crate) trait BatchExporter<T>: Send + Sync + 'static {
    /// Sends one batch; `end` takes its result, at once or later from
    /// another thread (dropped without one, the batch counts as failed).
    fn export(&self, batch: Vec<T>, end: BatchEnd);

    /// Batches that may be on their way at once; `None` when the call to
    /// [`BatchExporter::export`] is the whole export (one per worker, so
    /// the exporter is never called concurrently).
    fn in_flight(&self) -> Option<usize> {
        None
    }

    /// Whether [`BatchExporter::export`] returns without waiting on I/O
    /// (it encodes and spawns the send), so the span engine's collector,
    /// or any thread, may call it instead of waking the queue's worker.
    fn hands_off(&self) -> bool {
        false
    }

    /// Shuts the exporter down, once, after its last batch.
    fn shutdown(&self) {}
}

impl<T: 'static> BatchExporter<T> for Box<dyn BatchExporter<T>> {
    fn export(&self, batch: Vec<T>, end: BatchEnd) {
        (**self).export(batch, end);
    }

    fn in_flight(&self) -> Option<usize> {
        (**self).in_flight()
    }

    fn hands_off(&self) -> bool {
        (**self).hands_off()
    }

    fn shutdown(&self) {
        (**self).shutdown();
    }
}
