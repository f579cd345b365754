//! The in-memory destination of `semtel::testing`: spans encoded by the
//! same encoder as the OTLP exporter's, log records converted as
//! opentelemetry-otlp converts them, kept until a test reads them.

use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};

use super::batch_end::BatchEnd;
use super::exporter::BatchExporter;
use crate::otlp::encode::Encoder;
use crate::record::Item;

/// What the memory exporters have been given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stored {
    /// Encoded `ExportTraceServiceRequest`s, as they would be sent.
    pub traces: Vec<Vec<u8>>,
    /// Log requests, as opentelemetry-otlp would send them.
    pub logs: Vec<ExportLogsServiceRequest>,
}

/// Shared between the exporters and the test that reads them.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemorySink(Arc<Mutex<Stored>>);

impl MemorySink {
    /// A copy of everything stored so far.
    pub(crate) fn stored(&self) -> Stored {
        self.with(|s| s.clone())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Stored) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Each batch of spans encoded as the OTLP exporter encodes it, and kept.
#[derive(Debug)]
pub(crate) struct MemorySpans {
    encoder: Encoder,
    sink: MemorySink,
}

impl MemorySpans {
    pub(crate) fn new(encoder: Encoder, sink: MemorySink) -> Self {
        Self { encoder, sink }
    }
}

impl BatchExporter<Item> for MemorySpans {
    fn export(&self, batch: Vec<Item>, end: BatchEnd) {
        let mut request = Vec::new();
        let _ = self.encoder.request_into(&batch, &mut request);
        self.sink.with(|s| s.traces.push(request));
        end.end(Ok(()));
    }
}

/// Each batch of log records converted as opentelemetry-otlp converts it,
/// and kept.
#[derive(Debug)]
pub(crate) struct MemoryLogs {
    resource: ResourceAttributesWithSchema,
    sink: MemorySink,
}

impl MemoryLogs {
    pub(crate) fn new(sink: MemorySink) -> Self {
        Self {
            resource: ResourceAttributesWithSchema::from(&Resource::builder_empty().build()),
            sink,
        }
    }
}

impl LogExporter for MemoryLogs {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let request = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(&batch, &self.resource),
        };
        self.sink.with(|s| s.logs.push(request));
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}
