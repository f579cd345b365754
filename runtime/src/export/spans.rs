//! The traces queue: spans from the engine and from the SDK, to one
//! exporter.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use super::exporter::BatchExporter;
use super::queue::BatchQueue;
use crate::config::{BatchConfig, Signal};
use crate::record::Item;

/// Feeds ended, sampled spans into a [`BatchQueue`] of [`Item`]s, whose
/// batches go to one [`BatchExporter`].
#[derive(Debug)]
pub(crate) struct SpanQueueProcessor(pub(crate) Arc<BatchQueue<Item>>);

impl SpanQueueProcessor {
    /// A queue whose worker hands each batch to `exporter`.
    pub(crate) fn start(
        exporter: impl BatchExporter<Item>,
        destination: String,
        config: BatchConfig,
    ) -> std::io::Result<Self> {
        BatchQueue::start(Signal::Traces, destination, config, exporter).map(Self)
    }
}

impl SpanProcessor for SpanQueueProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, mut span: SpanData) {
        if span.span_context.is_sampled() {
            // tracing-opentelemetry adds `code.module.name`, which is not a
            // semantic-convention attribute (the module is part of
            // `code.function.name` where that is known).
            span.attributes
                .retain(|kv| kv.key.as_str() != "code.module.name");
            self.0.push(Item::from(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush(self.0.config.export_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_within(timeout)
    }
}
