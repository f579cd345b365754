//! Hand-built export requests, for testing receivers without an SDK.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::SpanKind, status::StatusCode,
};

use crate::attrs::{kv_i64, kv_str};

/// The trace id of [`traces`], hex.
pub const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
/// The parent span id of [`traces`], hex.
pub const PARENT_ID: &str = "eee19b7ec3c1b173";
/// The child span id of [`traces`], hex.
pub const CHILD_ID: &str = "eee19b7ec3c1b174";

const START: u64 = 1_700_000_000_000_000_000;

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex literal"))
        .collect()
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv_str("service.name", service)],
        ..Resource::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "semtel-tests".to_owned(),
        version: "0.1.0".to_owned(),
        ..InstrumentationScope::default()
    })
}

/// A trace of two spans: `parent_name` (server, root) and `child_name` (internal,
/// attribute `records=3`, event `checkpoint`, status OK), for `service`.
#[must_use]
pub fn traces(service: &str, parent_name: &str, child_name: &str) -> ExportTraceServiceRequest {
    let parent = Span {
        trace_id: unhex(TRACE_ID),
        span_id: unhex(PARENT_ID),
        name: parent_name.to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: START,
        end_time_unix_nano: START + 2_000_000,
        ..Span::default()
    };
    let child = Span {
        trace_id: unhex(TRACE_ID),
        span_id: unhex(CHILD_ID),
        parent_span_id: unhex(PARENT_ID),
        name: child_name.to_owned(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: START + 500_000,
        end_time_unix_nano: START + 1_500_000,
        attributes: vec![kv_i64("records", 3)],
        events: vec![opentelemetry_proto::tonic::trace::v1::span::Event {
            time_unix_nano: START + 1_000_000,
            name: "checkpoint".to_owned(),
            ..Default::default()
        }],
        status: Some(Status {
            code: StatusCode::Ok as i32,
            ..Status::default()
        }),
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![parent, child],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// One INFO log record with `body`, attribute `records=3`, in the child span of [`traces`].
#[must_use]
pub fn logs(service: &str, body: &str) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    time_unix_nano: START + 1_000_000,
                    severity_number: 9,
                    severity_text: "INFO".to_owned(),
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(body.to_owned())),
                    }),
                    attributes: vec![kv_i64("records", 3)],
                    trace_id: unhex(TRACE_ID),
                    span_id: unhex(CHILD_ID),
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// One cumulative monotonic sum `name` with a single point of `value`.
#[must_use]
pub fn metrics(service: &str, name: &str, value: i64) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: name.to_owned(),
                    unit: "{record}".to_owned(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            attributes: vec![kv_str("stage", "load")],
                            start_time_unix_nano: START,
                            time_unix_nano: START + 1_000_000,
                            value: Some(number_data_point::Value::AsInt(value)),
                            ..NumberDataPoint::default()
                        }],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}
