//! The logs queue: log records from the SDK's logger, to one exporter.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};

use super::queue::BatchQueue;
use super::runtime::Executor;
use crate::config::{BatchConfig, Signal};

type LogItem = (SdkLogRecord, InstrumentationScope);

/// Feeds log records into a [`BatchQueue`].
#[derive(Debug)]
pub(crate) struct LogQueueProcessor(pub(crate) Arc<BatchQueue<LogItem>>);

impl LogQueueProcessor {
    pub(crate) fn start<E: LogExporter + 'static>(
        mut exporter: E,
        resource: &Resource,
        destination: String,
        config: BatchConfig,
        executor: Executor,
    ) -> std::io::Result<Self> {
        exporter.set_resource(resource);
        let exporter = Arc::new(exporter);
        let finisher = Arc::clone(&exporter);
        let timeout = config.export_timeout;
        let queue = BatchQueue::start(
            Signal::Logs,
            destination,
            config,
            move |batch: Vec<LogItem>| {
                let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
                    batch.iter().map(|(r, s)| (r, s)).collect();
                executor.run(timeout, exporter.export(LogBatch::new(&refs)))
            },
            move || {
                let _ = finisher.shutdown_with_timeout(timeout);
            },
        )?;
        Ok(Self(queue))
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
