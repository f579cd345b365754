//! OTLP/gRPC: the three collector services from `opentelemetry-proto`, gzip accepted.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::record::{Payload, Transport};

/// Large enough for any batch a test sends.
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Clone)]
struct Service(Arc<Shared>);

impl Service {
    /// Records the request, or refuses it as the faults set say; the items
    /// to reject in a partial success, and why, when it is accepted.
    async fn accept<T: prost::Message>(
        &self,
        request: Request<T>,
        wrap: fn(T) -> Payload,
        service: &str,
    ) -> Result<(i64, String), Status> {
        let shared = &self.0;
        shared.swallowed().await;
        let len = request.get_ref().encoded_len();
        if shared.too_large(len) {
            let reason = format!("{len} bytes is over the receiver's limit");
            shared.reject(service.to_owned(), format!("RESOURCE_EXHAUSTED: {reason}"));
            return Err(Status::resource_exhausted(reason));
        }
        if let Some(refusal) = shared.refusal() {
            let status = refusal.grpc_status();
            shared.reject(
                service.to_owned(),
                format!("{:?}: refused on purpose", status.code()),
            );
            return Err(status);
        }
        let gzip = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|v| v.as_encoded_bytes() == b"gzip");
        let headers = metadata(request.metadata());
        shared.record(Transport::Grpc, gzip, headers, wrap(request.into_inner()));
        shared.released().await;
        Ok(shared.partial().unwrap_or_default())
    }
}

fn metadata(map: &MetadataMap) -> Vec<(String, String)> {
    map.clone()
        .into_headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (rejected, message) = self.accept(request, Payload::Traces, "traces").await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let (rejected, message) = self.accept(request, Payload::Metrics, "metrics").await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Service {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let (rejected, message) = self.accept(request, Payload::Logs, "logs").await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }))
    }
}

/// Serves until the runtime is shut down.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let service = Service(shared);
    let traces = TraceServiceServer::new(service.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE);
    let metrics = MetricsServiceServer::new(service.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE);
    let logs = LogsServiceServer::new(service)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        .add_service(traces)
        .add_service(metrics)
        .add_service(logs)
        .serve_with_incoming(incoming)
        .await;
    if let Err(error) = result {
        eprintln!("otlp receiver: gRPC server ended: {error}");
    }
}
