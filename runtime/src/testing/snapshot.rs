//! [`Snapshot`]: what a capture (or any OTLP receiver) got, as decoded OTLP
//! requests, and views over its spans, log records and metric points with
//! the lookups tests assert with.

use std::fmt;

use opentelemetry::Value;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{self as pm, metric::Data, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{self as pt, span::SpanKind, status::StatusCode};
use semtel_conventions::model::Instrument;

use super::value::{attr, hex, id_hex, value};

/// Spans, metrics and log records as OTLP requests, with lookups for tests.
///
/// [`Capture::snapshot`](super::Capture::snapshot) makes one; so can
/// [`Snapshot::from_otlp`] from requests an OTLP receiver of your own
/// decoded. The lookups that return a view ([`Snapshot::span`],
/// [`Snapshot::metric`], [`Metric::point`]) panic, naming what there is,
/// when nothing matches; the `find_` forms return an `Option`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

impl Snapshot {
    /// A snapshot of decoded OTLP requests, each signal in arrival order.
    #[must_use]
    pub fn from_otlp(
        traces: Vec<ExportTraceServiceRequest>,
        metrics: Vec<ExportMetricsServiceRequest>,
        logs: Vec<ExportLogsServiceRequest>,
    ) -> Self {
        Self {
            traces,
            metrics,
            logs,
        }
    }

    /// The trace requests.
    #[must_use]
    pub fn trace_requests(&self) -> &[ExportTraceServiceRequest] {
        &self.traces
    }

    /// The metric requests.
    #[must_use]
    pub fn metric_requests(&self) -> &[ExportMetricsServiceRequest] {
        &self.metrics
    }

    /// The log requests.
    #[must_use]
    pub fn log_requests(&self) -> &[ExportLogsServiceRequest] {
        &self.logs
    }

    /// Every span, in the order they were exported.
    #[must_use]
    pub fn spans(&self) -> Vec<Span<'_>> {
        let mut out = Vec::new();
        for rs in self.traces.iter().flat_map(|r| &r.resource_spans) {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                out.push(Span {
                    snapshot: self,
                    resource,
                    span,
                });
            }
        }
        out
    }

    /// The first span named `name`, if any.
    #[must_use]
    pub fn find_span(&self, name: &str) -> Option<Span<'_>> {
        self.spans().into_iter().find(|s| s.name() == name)
    }

    /// The first span named `name`.
    ///
    /// # Panics
    /// When there is none, naming the spans there are.
    #[must_use]
    pub fn span(&self, name: &str) -> Span<'_> {
        self.find_span(name)
            .unwrap_or_else(|| panic!("no span named {name:?} in {self}"))
    }

    /// Every span named `name`.
    #[must_use]
    pub fn spans_named(&self, name: &str) -> Vec<Span<'_>> {
        self.spans()
            .into_iter()
            .filter(|s| s.name() == name)
            .collect()
    }

    /// Every log record, in the order they were exported.
    #[must_use]
    pub fn logs(&self) -> Vec<Log<'_>> {
        let mut out = Vec::new();
        for rl in self.logs.iter().flat_map(|r| &r.resource_logs) {
            let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                out.push(Log { resource, record });
            }
        }
        out
    }

    /// Every metric of every metric request (a metric exported twice is
    /// here twice).
    #[must_use]
    pub fn metrics(&self) -> Vec<Metric<'_>> {
        let mut out = Vec::new();
        for rm in self.metrics.iter().flat_map(|r| &r.resource_metrics) {
            let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                out.push(Metric { resource, metric });
            }
        }
        out
    }

    /// The last export of the metric named `name` (its latest cumulative
    /// values), if any.
    #[must_use]
    pub fn find_metric(&self, name: &str) -> Option<Metric<'_>> {
        self.metrics().into_iter().rev().find(|m| m.name() == name)
    }

    /// The last export of the metric named `name`.
    ///
    /// # Panics
    /// When there is none, naming the metrics there are.
    #[must_use]
    pub fn metric(&self, name: &str) -> Metric<'_> {
        self.find_metric(name)
            .unwrap_or_else(|| panic!("no metric named {name:?} in {self}"))
    }
}

impl fmt::Display for Snapshot {
    /// The names of the spans and metrics and the bodies of the log records,
    /// for assertion messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spans: Vec<&str> = self.spans().iter().map(Span::name).collect();
        let mut metrics: Vec<&str> = self.metrics().iter().map(Metric::name).collect();
        metrics.sort_unstable();
        metrics.dedup();
        let logs: Vec<String> = self.logs().iter().map(Log::body).collect();
        write!(f, "spans {spans:?}, metrics {metrics:?}, logs {logs:?}")
    }
}

/// A span of a [`Snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    snapshot: &'a Snapshot,
    resource: &'a [KeyValue],
    span: &'a pt::Span,
}

impl<'a> Span<'a> {
    /// Its name.
    #[must_use]
    pub fn name(&self) -> &'a str {
        &self.span.name
    }

    /// Its trace id, lower-case hex.
    #[must_use]
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// Its span id, lower-case hex.
    #[must_use]
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// Its parent's span id, lower-case hex; `None` for a root span.
    #[must_use]
    pub fn parent_span_id(&self) -> Option<String> {
        id_hex(&self.span.parent_span_id)
    }

    /// Its parent, when the parent is in the same snapshot.
    #[must_use]
    pub fn parent(&self) -> Option<Span<'a>> {
        self.snapshot
            .spans()
            .into_iter()
            .find(|p| self.is_child_of(p))
    }

    /// Its children in the snapshot.
    #[must_use]
    pub fn children(&self) -> Vec<Span<'a>> {
        let spans = self.snapshot.spans();
        spans.into_iter().filter(|c| c.is_child_of(self)).collect()
    }

    /// Whether it is a direct child of `parent`: the same trace, and its
    /// parent id is `parent`'s span id.
    #[must_use]
    pub fn is_child_of(&self, parent: &Span<'_>) -> bool {
        self.span.trace_id == parent.span.trace_id
            && self.span.parent_span_id == parent.span.span_id
    }

    /// The attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<Value> {
        attr(&self.span.attributes, key)
    }

    /// The resource attribute `key`.
    #[must_use]
    pub fn resource_attr(&self, key: &str) -> Option<Value> {
        attr(self.resource, key)
    }

    /// `"internal"`, `"server"`, `"client"`, `"producer"`, `"consumer"` or
    /// `"unspecified"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match SpanKind::try_from(self.span.kind).unwrap_or(SpanKind::Unspecified) {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Unspecified => "unspecified",
        }
    }

    /// Whether its status is an error.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.span.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32)
    }

    /// Its status message (empty when there is none).
    #[must_use]
    pub fn status_message(&self) -> &'a str {
        self.span.status.as_ref().map_or("", |s| s.message.as_str())
    }

    /// Its events, in order.
    #[must_use]
    pub fn events(&self) -> Vec<Event<'a>> {
        self.span
            .events
            .iter()
            .map(|event| Event { event })
            .collect()
    }

    /// Its first event named `name`, if any.
    #[must_use]
    pub fn event(&self, name: &str) -> Option<Event<'a>> {
        self.events().into_iter().find(|e| e.name() == name)
    }

    /// Its links, in order.
    #[must_use]
    pub fn links(&self) -> Vec<Link<'a>> {
        self.span.links.iter().map(|link| Link { link }).collect()
    }

    /// The log records emitted inside it.
    #[must_use]
    pub fn logs(&self) -> Vec<Log<'a>> {
        let logs = self.snapshot.logs();
        logs.into_iter().filter(|l| l.is_in(self)).collect()
    }

    /// The span as decoded.
    #[must_use]
    pub fn proto(&self) -> &'a pt::Span {
        self.span
    }
}

/// An event of a [`Span`].
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    event: &'a pt::span::Event,
}

impl<'a> Event<'a> {
    /// Its name (`exception` for a failure).
    #[must_use]
    pub fn name(&self) -> &'a str {
        &self.event.name
    }

    /// The attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<Value> {
        attr(&self.event.attributes, key)
    }
}

/// A link of a [`Span`].
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    link: &'a pt::span::Link,
}

impl Link<'_> {
    /// The linked trace id, lower-case hex.
    #[must_use]
    pub fn trace_id(&self) -> String {
        hex(&self.link.trace_id)
    }

    /// The linked span id, lower-case hex.
    #[must_use]
    pub fn span_id(&self) -> String {
        hex(&self.link.span_id)
    }

    /// Whether it links to `span`.
    #[must_use]
    pub fn points_to(&self, span: &Span<'_>) -> bool {
        self.link.trace_id == span.span.trace_id && self.link.span_id == span.span.span_id
    }

    /// The attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<Value> {
        attr(&self.link.attributes, key)
    }
}

/// A log record of a [`Snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct Log<'a> {
    resource: &'a [KeyValue],
    record: &'a LogRecord,
}

impl<'a> Log<'a> {
    /// The body as text (a string body as it is; empty when there is none).
    #[must_use]
    pub fn body(&self) -> String {
        match self.record.body.as_ref().map(value) {
            Some(Value::String(s)) => s.to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }

    /// Its event name (`tracing::info!(name: "order.rejected", ..)`), empty
    /// when the event had none.
    #[must_use]
    pub fn event_name(&self) -> &'a str {
        &self.record.event_name
    }

    /// Severity text (`INFO`, `WARN`, `ERROR`, ...).
    #[must_use]
    pub fn severity(&self) -> &'a str {
        &self.record.severity_text
    }

    /// The attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<Value> {
        attr(&self.record.attributes, key)
    }

    /// The resource attribute `key`.
    #[must_use]
    pub fn resource_attr(&self, key: &str) -> Option<Value> {
        attr(self.resource, key)
    }

    /// The trace id of the span it was emitted in, lower-case hex.
    #[must_use]
    pub fn trace_id(&self) -> Option<String> {
        id_hex(&self.record.trace_id)
    }

    /// The span id of the span it was emitted in, lower-case hex.
    #[must_use]
    pub fn span_id(&self) -> Option<String> {
        id_hex(&self.record.span_id)
    }

    /// Whether it carries `span`'s trace and span id.
    #[must_use]
    pub fn is_in(&self, span: &Span<'_>) -> bool {
        self.record.trace_id == span.span.trace_id && self.record.span_id == span.span.span_id
    }

    /// The record as decoded.
    #[must_use]
    pub fn proto(&self) -> &'a LogRecord {
        self.record
    }
}

/// A metric of a [`Snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct Metric<'a> {
    resource: &'a [KeyValue],
    metric: &'a pm::Metric,
}

impl<'a> Metric<'a> {
    /// Its name.
    #[must_use]
    pub fn name(&self) -> &'a str {
        &self.metric.name
    }

    /// Its unit.
    #[must_use]
    pub fn unit(&self) -> &'a str {
        &self.metric.unit
    }

    /// The instrument it was recorded with, as far as OTLP tells: a
    /// monotonic sum is a counter, another sum an up-down counter; `None`
    /// for the kinds semtel does not make (summaries, exponential
    /// histograms).
    #[must_use]
    pub fn instrument(&self) -> Option<Instrument> {
        match &self.metric.data {
            Some(Data::Histogram(_)) => Some(Instrument::Histogram),
            Some(Data::Sum(s)) if s.is_monotonic => Some(Instrument::Counter),
            Some(Data::Sum(_)) => Some(Instrument::UpDownCounter),
            Some(Data::Gauge(_)) => Some(Instrument::Gauge),
            _ => None,
        }
    }

    /// The resource attribute `key`.
    #[must_use]
    pub fn resource_attr(&self, key: &str) -> Option<Value> {
        attr(self.resource, key)
    }

    /// Its data points.
    #[must_use]
    pub fn points(&self) -> Vec<Point<'a>> {
        let number = |p: &'a pm::NumberDataPoint| Point {
            attributes: &p.attributes,
            data: PointData::Number(p),
        };
        match &self.metric.data {
            Some(Data::Sum(s)) => s.data_points.iter().map(number).collect(),
            Some(Data::Gauge(g)) => g.data_points.iter().map(number).collect(),
            Some(Data::Histogram(h)) => (h.data_points.iter())
                .map(|p| Point {
                    attributes: &p.attributes,
                    data: PointData::Histogram(p),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The first point whose attributes include every `(key, value)` of
    /// `labels` (string values), if any.
    #[must_use]
    pub fn find_point(&self, labels: &[(&str, &str)]) -> Option<Point<'a>> {
        self.points().into_iter().find(|p| {
            labels
                .iter()
                .all(|(k, v)| p.attr(k) == Some(Value::from((*v).to_owned())))
        })
    }

    /// The first point whose attributes include every `(key, value)` of
    /// `labels`.
    ///
    /// # Panics
    /// When there is none, listing the points' attributes.
    #[must_use]
    pub fn point(&self, labels: &[(&str, &str)]) -> Point<'a> {
        self.find_point(labels).unwrap_or_else(|| {
            let points: Vec<String> = self.points().iter().map(|p| p.labels()).collect();
            panic!(
                "no point of {} with {labels:?}; its points: {points:#?}",
                self.name()
            )
        })
    }

    /// The metric as decoded.
    #[must_use]
    pub fn proto(&self) -> &'a pm::Metric {
        self.metric
    }
}

/// One data point of a [`Metric`].
#[derive(Debug, Clone, Copy)]
pub struct Point<'a> {
    attributes: &'a [KeyValue],
    data: PointData<'a>,
}

#[derive(Debug, Clone, Copy)]
enum PointData<'a> {
    Number(&'a pm::NumberDataPoint),
    Histogram(&'a pm::HistogramDataPoint),
}

impl Point<'_> {
    /// The attribute `key`.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<Value> {
        attr(self.attributes, key)
    }

    /// A counter's, up-down counter's or gauge's value.
    ///
    /// # Panics
    /// On a histogram's point (use [`Point::count`] and [`Point::sum`]).
    #[must_use]
    pub fn value(&self) -> f64 {
        match self.data {
            #[allow(clippy::cast_precision_loss)] // counts in tests are small
            PointData::Number(p) => match p.value {
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                Some(number_data_point::Value::AsDouble(d)) => d,
                None => 0.0,
            },
            PointData::Histogram(_) => panic!("a histogram point has a count and a sum"),
        }
    }

    /// A histogram point's count of measurements.
    ///
    /// # Panics
    /// On a point that is not a histogram's.
    #[must_use]
    pub fn count(&self) -> u64 {
        match self.data {
            PointData::Histogram(h) => h.count,
            PointData::Number(_) => panic!("not a histogram point: use value()"),
        }
    }

    /// A histogram point's sum of measurements.
    ///
    /// # Panics
    /// On a point that is not a histogram's.
    #[must_use]
    pub fn sum(&self) -> f64 {
        match self.data {
            PointData::Histogram(h) => h.sum.unwrap_or_default(),
            PointData::Number(_) => panic!("not a histogram point: use value()"),
        }
    }

    /// The trace ids of its exemplars, lower-case hex.
    #[must_use]
    pub fn exemplar_trace_ids(&self) -> Vec<String> {
        let exemplars = match self.data {
            PointData::Number(p) => &p.exemplars,
            PointData::Histogram(h) => &h.exemplars,
        };
        exemplars
            .iter()
            .filter_map(|e| id_hex(&e.trace_id))
            .collect()
    }

    fn labels(&self) -> String {
        let pairs: Vec<String> = self
            .attributes
            .iter()
            .map(|kv| {
                format!(
                    "{}={}",
                    kv.key,
                    kv.value.as_ref().map(value).unwrap_or(Value::from(""))
                )
            })
            .collect();
        pairs.join(", ")
    }
}
