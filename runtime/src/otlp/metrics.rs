//! OTLP metrics with exemplars: the SDK's collection converted to the
//! OTLP request (opentelemetry-proto's conversion, as opentelemetry-otlp
//! does), semtel's exemplars added to its stage metrics' data points, and
//! the request sent by semtel's transport (HTTP/protobuf, HTTP/JSON or
//! gRPC).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar as ProtoExemplar, exemplar as proto_exemplar, metric,
};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use prost::Message as _;

use super::send::{BufferPool, Refused, Transport};
use crate::metric::exemplar::{self, Exemplar, Snapshot};

/// A metric exporter over semtel's transport, with exemplars.
#[derive(Debug)]
pub(crate) struct OtlpMetrics {
    transport: Transport,
    temporality: Temporality,
    pool: Arc<BufferPool>,
}

impl OtlpMetrics {
    pub(crate) fn new(transport: Transport, temporality: Temporality) -> Self {
        Self {
            transport,
            temporality,
            pool: BufferPool::new(1),
        }
    }
}

impl PushMetricExporter for OtlpMetrics {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut request = ExportMetricsServiceRequest::from(metrics);
        attach(&mut request, &exemplar::snapshot());
        let mut body = self.pool.take();
        if self.transport.json() {
            serde_json::to_writer(&mut body.buf, &request)
                .map_err(|e| OTelSdkError::InternalFailure(format!("OTLP/JSON: {e}")))?;
        } else {
            request
                .encode(&mut body.buf)
                .map_err(|e| OTelSdkError::InternalFailure(format!("encoding: {e}")))?;
        }
        let body = self
            .transport
            .prepare_encoded(body)
            .map_err(OTelSdkError::InternalFailure)?;
        let deadline = tokio::time::Instant::now() + self.transport.timeout();
        match self.transport.send(body, deadline).await {
            // A partial success: the collector kept the rest.
            Ok(accepted) if accepted.rejected > 0 => Err(OTelSdkError::InternalFailure(format!(
                "the collector rejected {} data points: {}",
                accepted.rejected,
                accepted.message.unwrap_or_default()
            ))),
            Ok(_) => Ok(()),
            Err(Refused::TooLarge(e) | Refused::Failed(e)) => Err(OTelSdkError::InternalFailure(e)),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

/// Adds the exemplars of `snap` to the data points of semtel's stage
/// metrics in `request`.
pub(crate) fn attach(request: &mut ExportMetricsServiceRequest, snap: &Snapshot) {
    if snap.is_empty() {
        return;
    }
    let scopes = request
        .resource_metrics
        .iter_mut()
        .flat_map(|r| r.scope_metrics.iter_mut())
        .filter(|s| s.scope.as_ref().is_some_and(|s| s.name == "semtel"));
    for scope in scopes {
        for m in &mut scope.metrics {
            let name = m.name.as_str();
            match &mut m.data {
                Some(metric::Data::Histogram(h)) => {
                    for p in &mut h.data_points {
                        let found = snap.get_pairs(name, pairs(&p.attributes));
                        p.exemplars.extend(found.iter().map(proto));
                    }
                }
                Some(metric::Data::Sum(s)) => {
                    for p in &mut s.data_points {
                        let found = snap.get_pairs(name, pairs(&p.attributes));
                        p.exemplars.extend(found.iter().map(proto));
                    }
                }
                _ => {}
            }
        }
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// An attribute value as `opentelemetry::Value::as_str` writes it.
fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn proto(e: &Exemplar) -> ProtoExemplar {
    #[allow(clippy::cast_possible_truncation)] // counts, whole numbers
    let value = if e.integer {
        proto_exemplar::Value::AsInt(e.value as i64)
    } else {
        proto_exemplar::Value::AsDouble(e.value)
    };
    ProtoExemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: e.time,
        value: Some(value),
        span_id: e.span_id.to_be_bytes().to_vec(),
        trace_id: e.trace_id.to_be_bytes().to_vec(),
    }
}
