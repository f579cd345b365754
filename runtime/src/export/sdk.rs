//! OpenTelemetry SDK exporters (the console, opentelemetry-otlp's, one
//! given in code) behind [`BatchExporter`]: each batch becomes what the
//! SDK exporter takes and is exported on an [`Executor`] with a timeout.

use std::fmt;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::trace::SpanExporter;

use super::batch_end::BatchEnd;
use super::exporter::BatchExporter;
use super::runtime::Executor;
use crate::record::{Item, clock, stage_scope};

/// What the logs queue carries.
pub(crate) type LogItem = (SdkLogRecord, InstrumentationScope);

/// An SDK exporter, its executor and its export timeout.
pub(crate) struct Sdk<E> {
    exporter: E,
    executor: Executor,
    timeout: Duration,
    /// The scope of stage spans, for those that become `SpanData`.
    stage_scope: InstrumentationScope,
}

impl<E> fmt::Debug for Sdk<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sdk")
            .field("executor", &self.executor)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<E> Sdk<E> {
    fn new(exporter: E, executor: Executor, timeout: Duration) -> Self {
        Self {
            exporter,
            executor,
            timeout,
            stage_scope: stage_scope(),
        }
    }
}

impl<E: SpanExporter + 'static> Sdk<E> {
    /// A span exporter for `resource`.
    pub(crate) fn spans(
        mut exporter: E,
        resource: &Resource,
        executor: Executor,
        timeout: Duration,
    ) -> Self {
        exporter.set_resource(resource);
        Self::new(exporter, executor, timeout)
    }
}

impl<E: LogExporter + 'static> Sdk<E> {
    /// A log exporter for `resource`.
    pub(crate) fn logs(
        mut exporter: E,
        resource: &Resource,
        executor: Executor,
        timeout: Duration,
    ) -> Self {
        exporter.set_resource(resource);
        Self::new(exporter, executor, timeout)
    }
}

impl<E: SpanExporter + 'static> BatchExporter<Item> for Sdk<E> {
    fn export(&self, batch: Vec<Item>, end: BatchEnd) {
        let wall = clock::UnixNanos::current();
        let mut spans = Vec::with_capacity(batch.len());
        spans.extend(
            batch
                .into_iter()
                .map(|item| item.into_span_data(&self.stage_scope, &wall)),
        );
        end.end(self.executor.run(self.timeout, self.exporter.export(spans)));
    }

    fn shutdown(&self) {
        let _ = self.exporter.shutdown_with_timeout(self.timeout);
    }
}

impl<E: LogExporter + 'static> BatchExporter<LogItem> for Sdk<E> {
    fn export(&self, batch: Vec<LogItem>, end: BatchEnd) {
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            batch.iter().map(|(r, s)| (r, s)).collect();
        let exported = self
            .executor
            .run(self.timeout, self.exporter.export(LogBatch::new(&refs)));
        end.end(exported);
    }

    fn shutdown(&self) {
        let _ = self.exporter.shutdown_with_timeout(self.timeout);
    }
}
