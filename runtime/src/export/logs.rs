//! The logs queue: log records from the SDK's logger, to one exporter.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

use super::exporter::BatchExporter;
use super::queue::BatchQueue;
use super::sdk::LogItem;
use crate::config::{BatchConfig, Signal};

/// Feeds log records into a [`BatchQueue`], whose batches go to one
/// [`BatchExporter`].
#[derive(Debug)]
pub(crate) struct LogQueueProcessor(pub(crate) Arc<BatchQueue<LogItem>>);

impl LogQueueProcessor {
    /// A queue whose worker hands each batch to `exporter`.
    pub(crate) fn start(
        exporter: impl BatchExporter<LogItem>,
        destination: String,
        config: BatchConfig,
    ) -> std::io::Result<Self> {
        BatchQueue::start(Signal::Logs, destination, config, exporter).map(Self)
    }
}

impl LogProcessor for LogQueueProcessor {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        self.0.push((data.clone(), instrumentation.clone()));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush(self.0.config.export_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_within(timeout)
    }
}
