//! What the receiver keeps: every decoded request, and flattened views of the
//! spans, log records and metrics inside them.

use std::fmt;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    HistogramDataPoint, Metric, NumberDataPoint, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};

use crate::attrs::{self, attr, attr_i64, attr_str, hex, id_hex};

/// How a request reached the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with `Content-Type: application/x-protobuf`.
    HttpProtobuf,
    /// OTLP/HTTP with `Content-Type: application/json`.
    HttpJson,
}

/// The signal a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `ExportTraceServiceRequest`.
    Traces,
    /// `ExportMetricsServiceRequest`.
    Metrics,
    /// `ExportLogsServiceRequest`.
    Logs,
}

/// The decoded body of one export request.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
    /// Log records.
    Logs(ExportLogsServiceRequest),
}

impl Payload {
    /// The signal this payload carries.
    #[must_use]
    pub fn signal(&self) -> Signal {
        match self {
            Self::Traces(_) => Signal::Traces,
            Self::Metrics(_) => Signal::Metrics,
            Self::Logs(_) => Signal::Logs,
        }
    }
}

/// One export request, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// gRPC, HTTP/protobuf or HTTP/JSON.
    pub transport: Transport,
    /// Whether the body was gzip-compressed (`grpc-encoding: gzip` or `Content-Encoding: gzip`).
    pub gzip: bool,
    /// Request headers (HTTP) or metadata (gRPC), names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The decoded request.
    pub payload: Payload,
}

impl ReceivedRequest {
    /// The signal this request carried.
    #[must_use]
    pub fn signal(&self) -> Signal {
        self.payload.signal()
    }

    /// The first header (or gRPC metadata entry) named `name`, case-insensitively.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request the receiver could not decode, or refused on purpose
/// ([`crate::Receiver::refuse`]), kept so tests can show why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The path (HTTP) or service (gRPC) it was sent to.
    pub target: String,
    /// Why it was rejected, with the HTTP status given.
    pub reason: String,
    /// When it was answered.
    pub at: std::time::Instant,
}

/// Everything the receiver has recorded so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Decoded requests, in arrival order.
    pub requests: Vec<ReceivedRequest>,
    /// Requests that could not be decoded.
    pub rejected: Vec<Rejected>,
}

impl Snapshot {
    /// All spans of all trace requests, in arrival order.
    #[must_use]
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let mut out = Vec::new();
        for request in &self.requests {
            let Payload::Traces(traces) = &request.payload else {
                continue;
            };
            for rs in &traces.resource_spans {
                let resource = rs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    let scope = Scope::from(ss.scope.as_ref());
                    for span in &ss.spans {
                        out.push(ReceivedSpan {
                            transport: request.transport,
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// All log records of all log requests, in arrival order.
    #[must_use]
    pub fn logs(&self) -> Vec<ReceivedLog> {
        let mut out = Vec::new();
        for request in &self.requests {
            let Payload::Logs(logs) = &request.payload else {
                continue;
            };
            for rl in &logs.resource_logs {
                let resource = rl
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for sl in &rl.scope_logs {
                    let scope = Scope::from(sl.scope.as_ref());
                    for record in &sl.log_records {
                        out.push(ReceivedLog {
                            transport: request.transport,
                            resource: resource.clone(),
                            scope: scope.clone(),
                            record: record.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// All metrics of all metric requests, in arrival order. A metric exported
    /// periodically appears once per export.
    #[must_use]
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        let mut out = Vec::new();
        for request in &self.requests {
            let Payload::Metrics(metrics) = &request.payload else {
                continue;
            };
            for rm in &metrics.resource_metrics {
                let resource = rm
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for sm in &rm.scope_metrics {
                    let scope = Scope::from(sm.scope.as_ref());
                    for metric in &sm.metrics {
                        out.push(ReceivedMetric {
                            transport: request.transport,
                            resource: resource.clone(),
                            scope: scope.clone(),
                            metric: metric.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// The first span named `name`.
    #[must_use]
    pub fn span(&self, name: &str) -> Option<ReceivedSpan> {
        self.spans().into_iter().find(|s| s.name() == name)
    }

    /// The one span named `name`.
    ///
    /// # Panics
    /// When there is none, or more than one.
    #[must_use]
    pub fn only_span(&self, name: &str) -> ReceivedSpan {
        let mut spans: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|s| s.name() == name)
            .collect();
        assert_eq!(spans.len(), 1, "one {name:?} span: {spans:#?}");
        spans.remove(0)
    }

    /// The last export of the metric named `name` (the most recent cumulative value).
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<ReceivedMetric> {
        self.metrics().into_iter().rev().find(|m| m.name() == name)
    }

    /// How many requests came by `transport`.
    #[must_use]
    pub fn count(&self, transport: Transport) -> usize {
        self.requests
            .iter()
            .filter(|r| r.transport == transport)
            .count()
    }

    /// How many requests carried `signal`.
    #[must_use]
    pub fn count_signal(&self, signal: Signal) -> usize {
        self.requests
            .iter()
            .filter(|r| r.signal() == signal)
            .count()
    }

    /// The decoded requests as `semtel::testing`'s snapshot, for its
    /// lookups and live check.
    #[must_use]
    pub fn otlp(&self) -> semtel::testing::Snapshot {
        let (mut traces, mut metrics, mut logs) = (Vec::new(), Vec::new(), Vec::new());
        for request in &self.requests {
            match &request.payload {
                Payload::Traces(r) => traces.push(r.clone()),
                Payload::Metrics(r) => metrics.push(r.clone()),
                Payload::Logs(r) => logs.push(r.clone()),
            }
        }
        semtel::testing::Snapshot::from_otlp(traces, metrics, logs)
    }

    /// Requests that carried `signal`.
    pub fn requests_for(&self, signal: Signal) -> impl Iterator<Item = &ReceivedRequest> {
        self.requests.iter().filter(move |r| r.signal() == signal)
    }
}

impl fmt::Display for Snapshot {
    /// A short summary for assertion messages: requests, span names, log bodies, metric names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spans: Vec<String> = self.spans().iter().map(|s| s.name().to_owned()).collect();
        let logs: Vec<String> = self
            .logs()
            .iter()
            .map(|l| l.body_str().unwrap_or("<non-string body>").to_owned())
            .collect();
        let metrics: Vec<String> = self.metrics().iter().map(|m| m.name().to_owned()).collect();
        write!(
            f,
            "{} requests (grpc {}, http/protobuf {}, http/json {}), {} rejected {:?}; spans {:?}; logs {:?}; metrics {:?}",
            self.requests.len(),
            self.count(Transport::Grpc),
            self.count(Transport::HttpProtobuf),
            self.count(Transport::HttpJson),
            self.rejected.len(),
            self.rejected,
            spans,
            logs,
            metrics,
        )
    }
}

/// The instrumentation scope of a span, log record or metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Scope name (the tracer, logger or meter name).
    pub name: String,
    /// Scope version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
}

impl From<Option<&InstrumentationScope>> for Scope {
    fn from(scope: Option<&InstrumentationScope>) -> Self {
        scope.map_or_else(Self::default, |s| Self {
            name: s.name.clone(),
            version: s.version.clone(),
            attributes: s.attributes.clone(),
        })
    }
}

/// A span with the resource and scope it was exported under.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// How it arrived.
    pub transport: Transport,
    /// Resource attributes.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope.
    pub scope: Scope,
    /// The span as decoded.
    pub span: Span,
}

impl ReceivedSpan {
    /// Span name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.span.name
    }

    /// Trace id, lower-case hex.
    #[must_use]
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// Span id, lower-case hex.
    #[must_use]
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// Parent span id, lower-case hex, or `None` for a root span.
    #[must_use]
    pub fn parent_span_id(&self) -> Option<String> {
        id_hex(&self.span.parent_span_id)
    }

    /// Span kind.
    #[must_use]
    pub fn kind(&self) -> SpanKind {
        SpanKind::try_from(self.span.kind).unwrap_or(SpanKind::Unspecified)
    }

    /// Status code (`Unset` when no status was sent).
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        self.span
            .status
            .as_ref()
            .and_then(|s| StatusCode::try_from(s.code).ok())
            .unwrap_or(StatusCode::Unset)
    }

    /// Status message (empty when none was sent).
    #[must_use]
    pub fn status_message(&self) -> &str {
        self.span.status.as_ref().map_or("", |s| s.message.as_str())
    }

    /// Span attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<&AnyValue> {
        attr(&self.span.attributes, key)
    }

    /// Span attribute `key` as a string.
    #[must_use]
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.span.attributes, key)
    }

    /// Span attribute `key` as an integer.
    #[must_use]
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        attr_i64(&self.span.attributes, key)
    }

    /// Attribute `key` as a double.
    #[must_use]
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        attrs::attr_f64(&self.span.attributes, key)
    }

    /// Attribute `key` as a boolean.
    #[must_use]
    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        attrs::attr_bool(&self.span.attributes, key)
    }

    /// Resource attribute `key` as a string.
    #[must_use]
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.resource, key)
    }

    /// Names of the span's events, in order.
    #[must_use]
    pub fn event_names(&self) -> Vec<&str> {
        self.span.events.iter().map(|e| e.name.as_str()).collect()
    }

    /// Whether `self` is a direct child of `parent`: same trace, parent id is its span id.
    #[must_use]
    pub fn is_child_of(&self, parent: &Self) -> bool {
        self.span.trace_id == parent.span.trace_id
            && self.span.parent_span_id == parent.span.span_id
    }
}

/// A log record with the resource and scope it was exported under.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedLog {
    /// How it arrived.
    pub transport: Transport,
    /// Resource attributes.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope.
    pub scope: Scope,
    /// The record as decoded.
    pub record: LogRecord,
}

impl ReceivedLog {
    /// The body, if it is a string.
    #[must_use]
    pub fn body_str(&self) -> Option<&str> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        match self.record.body.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// The body as text, whatever its type (empty when there is none).
    #[must_use]
    pub fn body_text(&self) -> String {
        match (self.body_str(), &self.record.body) {
            (Some(s), _) => s.to_owned(),
            (None, Some(body)) => attrs::display(body),
            (None, None) => String::new(),
        }
    }

    /// Trace id of the span the record was emitted in, lower-case hex.
    #[must_use]
    pub fn trace_id(&self) -> Option<String> {
        id_hex(&self.record.trace_id)
    }

    /// Span id of the span the record was emitted in, lower-case hex.
    #[must_use]
    pub fn span_id(&self) -> Option<String> {
        id_hex(&self.record.span_id)
    }

    /// Severity number (`SeverityNumber` as i32: 9 is INFO, 13 WARN, 17 ERROR).
    #[must_use]
    pub fn severity_number(&self) -> i32 {
        self.record.severity_number
    }

    /// Severity text.
    #[must_use]
    pub fn severity_text(&self) -> &str {
        &self.record.severity_text
    }

    /// Record attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<&AnyValue> {
        attr(&self.record.attributes, key)
    }

    /// Record attribute `key` as a string.
    #[must_use]
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.record.attributes, key)
    }

    /// Record attribute `key` as an integer.
    #[must_use]
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        attr_i64(&self.record.attributes, key)
    }

    /// Attribute `key` as a double.
    #[must_use]
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        attrs::attr_f64(&self.record.attributes, key)
    }

    /// Attribute `key` as a boolean.
    #[must_use]
    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        attrs::attr_bool(&self.record.attributes, key)
    }

    /// Resource attribute `key` as a string.
    #[must_use]
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.resource, key)
    }

    /// Whether the record carries the trace and span id of `span`.
    #[must_use]
    pub fn is_in(&self, span: &ReceivedSpan) -> bool {
        self.record.trace_id == span.span.trace_id && self.record.span_id == span.span.span_id
    }
}

/// One number data point of a sum or gauge, its value as `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPoint {
    /// Point attributes.
    pub attributes: Vec<KeyValue>,
    /// The value (`as_int` converted to `f64`).
    pub value: f64,
}

/// A metric with the resource and scope it was exported under.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMetric {
    /// How it arrived.
    pub transport: Transport,
    /// Resource attributes.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope (the meter).
    pub scope: Scope,
    /// The metric as decoded.
    pub metric: Metric,
}

impl ReceivedMetric {
    /// Metric name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.metric.name
    }

    /// Metric unit.
    #[must_use]
    pub fn unit(&self) -> &str {
        &self.metric.unit
    }

    /// `"sum"`, `"gauge"`, `"histogram"`, `"exponential_histogram"`, `"summary"` or `"none"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match &self.metric.data {
            Some(Data::Sum(_)) => "sum",
            Some(Data::Gauge(_)) => "gauge",
            Some(Data::Histogram(_)) => "histogram",
            Some(Data::ExponentialHistogram(_)) => "exponential_histogram",
            Some(Data::Summary(_)) => "summary",
            None => "none",
        }
    }

    /// `Some(is_monotonic)` for a sum, `None` otherwise.
    #[must_use]
    pub fn is_monotonic(&self) -> Option<bool> {
        match &self.metric.data {
            Some(Data::Sum(sum)) => Some(sum.is_monotonic),
            _ => None,
        }
    }

    /// Aggregation temporality of a sum or histogram (1 delta, 2 cumulative).
    #[must_use]
    pub fn temporality(&self) -> Option<i32> {
        match &self.metric.data {
            Some(Data::Sum(sum)) => Some(sum.aggregation_temporality),
            Some(Data::Histogram(h)) => Some(h.aggregation_temporality),
            Some(Data::ExponentialHistogram(h)) => Some(h.aggregation_temporality),
            _ => None,
        }
    }

    /// The number points of a sum or gauge (empty for other kinds).
    #[must_use]
    pub fn number_points(&self) -> Vec<NumberPoint> {
        let points: &[NumberDataPoint] = match &self.metric.data {
            Some(Data::Sum(sum)) => &sum.data_points,
            Some(Data::Gauge(gauge)) => &gauge.data_points,
            _ => &[],
        };
        points
            .iter()
            .map(|p| NumberPoint {
                attributes: p.attributes.clone(),
                #[allow(clippy::cast_precision_loss)] // Test values are small.
                value: match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    None => 0.0,
                },
            })
            .collect()
    }

    /// The sum of all number points' values (a counter's total across attribute sets).
    #[must_use]
    pub fn total(&self) -> f64 {
        self.number_points().iter().map(|p| p.value).sum()
    }

    /// The data points of a histogram (empty for other kinds).
    #[must_use]
    pub fn histogram_points(&self) -> &[HistogramDataPoint] {
        match &self.metric.data {
            Some(Data::Histogram(h)) => &h.data_points,
            _ => &[],
        }
    }

    /// Calls a stage's duration histogram counted: the points of stage
    /// `stage` whose `error.type` is `error` (`None`: successful calls).
    #[must_use]
    pub fn stage_count(&self, stage: &str, error: Option<&str>) -> u64 {
        self.histogram_points()
            .iter()
            .filter(|p| {
                attr_str(&p.attributes, "pipeline.stage.name") == Some(stage)
                    && attr_str(&p.attributes, "error.type") == error
            })
            .map(|p| p.count)
            .sum()
    }

    /// Resource attribute `key` as a string.
    #[must_use]
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.resource, key)
    }
}
