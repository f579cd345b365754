//! A parser for rotel's detailed debug output (the OpenTelemetry Collector's
//! debug-exporter format), so tests assert on fields rather than on raw text.
//!
//! The format, as rotel-agent prints it:
//! ```text
//! ResourceSpans #0
//! Resource attributes:
//!      -> service.name: Str(svc)
//! ScopeSpans #0
//! InstrumentationScope sc
//! Span #0
//!     Trace ID       : 5b8efff798038103d269b633813fc60c
//!     Parent ID      : eee19b7ec3c1b173
//!     ID             : eee19b7ec3c1b174
//!     Name           : my-span
//!     Kind           : SPAN_KIND_SERVER
//! Attributes:
//!      -> k: Int(3)
//! ResourceLog #0
//! …
//! LogRecord #0
//! SeverityText: INFO
//! SeverityNumber: SEVERITY_NUMBER_INFO(9)
//! Body: Str(hello log)
//! Attributes:
//!      -> records: Int(3)
//!     Trace ID       : 5b8efff798038103d269b633813fc60c
//!     Span ID        : eee19b7ec3c1b174
//! ResourceMetrics #0
//! …
//! Metric #0
//! Descriptor:
//!      -> Name: pipeline.records
//!      -> Unit: {record}
//!      -> DataType: Sum
//! ```

/// A span as rotel printed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotelSpan {
    /// Resource attributes, `(key, "Str(value)")` as printed.
    pub resource: Vec<(String, String)>,
    /// Instrumentation scope name.
    pub scope: String,
    /// Trace id, hex.
    pub trace_id: String,
    /// Span id, hex.
    pub span_id: String,
    /// Parent span id, hex, empty for a root span.
    pub parent_id: String,
    /// Name.
    pub name: String,
    /// Kind, e.g. `SPAN_KIND_INTERNAL`.
    pub kind: String,
    /// Status code, e.g. `STATUS_CODE_OK`.
    pub status: String,
    /// Attributes, `(key, "Int(3)")` as printed.
    pub attributes: Vec<(String, String)>,
}

/// A log record as rotel printed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotelLog {
    /// Resource attributes as printed.
    pub resource: Vec<(String, String)>,
    /// Instrumentation scope name.
    pub scope: String,
    /// Body as printed, e.g. `Str(loaded)`.
    pub body: String,
    /// Severity text.
    pub severity_text: String,
    /// Severity number as printed, e.g. `SEVERITY_NUMBER_INFO(9)`.
    pub severity_number: String,
    /// Trace id, hex (empty without trace context).
    pub trace_id: String,
    /// Span id, hex (empty without trace context).
    pub span_id: String,
    /// Attributes as printed.
    pub attributes: Vec<(String, String)>,
}

/// A metric as rotel printed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotelMetric {
    /// Resource attributes as printed.
    pub resource: Vec<(String, String)>,
    /// Instrumentation scope name.
    pub scope: String,
    /// Name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Data type, e.g. `Sum`, `Histogram`.
    pub data_type: String,
}

/// Everything parsed out of rotel's output, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotelDebug {
    /// Spans.
    pub spans: Vec<RotelSpan>,
    /// Log records.
    pub logs: Vec<RotelLog>,
    /// Metrics (one entry per metric per export).
    pub metrics: Vec<RotelMetric>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Other,
    Resource,
    Span,
    SpanAttributes,
    Log,
    LogAttributes,
    Descriptor,
}

/// Strips a `Str(…)` wrapper when present.
#[must_use]
pub fn unwrap_str(printed: &str) -> &str {
    printed
        .strip_prefix("Str(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(printed)
}

impl RotelDebug {
    /// Parses the whole output; lines it does not know are skipped.
    #[must_use]
    pub fn parse(output: &str) -> Self {
        let mut out = Self::default();
        let mut resource: Vec<(String, String)> = Vec::new();
        let mut scope = String::new();
        let mut section = Section::Other;
        for raw in output.lines() {
            let line = raw.trim();
            if line.starts_with("ResourceSpans #")
                || line.starts_with("ResourceLog #")
                || line.starts_with("ResourceMetrics #")
            {
                resource.clear();
                scope.clear();
                section = Section::Other;
            } else if line == "Resource attributes:" {
                section = Section::Resource;
            } else if let Some(name) = line.strip_prefix("InstrumentationScope") {
                scope = name.split_whitespace().next().unwrap_or("").to_owned();
                section = Section::Other;
            } else if line.starts_with("Span #") {
                out.spans.push(RotelSpan {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    ..RotelSpan::default()
                });
                section = Section::Span;
            } else if line.starts_with("LogRecord #") {
                out.logs.push(RotelLog {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    ..RotelLog::default()
                });
                section = Section::Log;
            } else if line.starts_with("Metric #") {
                out.metrics.push(RotelMetric {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    ..RotelMetric::default()
                });
                section = Section::Other;
            } else if line == "Descriptor:" {
                section = Section::Descriptor;
            } else if line == "Attributes:" {
                section = match section {
                    Section::Span => Section::SpanAttributes,
                    Section::Log => Section::LogAttributes,
                    other => other,
                };
            } else if line.ends_with(':') && !line.starts_with("->") {
                // Events:, Links:, Data point attributes:, … end the attribute lists.
                section = match section {
                    Section::SpanAttributes => Section::Span,
                    Section::LogAttributes => Section::Log,
                    Section::Span | Section::Log => section,
                    _ => Section::Other,
                };
            } else if let Some(kv) = line.strip_prefix("-> ") {
                let (key, value) = kv.split_once(": ").unwrap_or((kv, ""));
                let pair = (key.to_owned(), value.to_owned());
                match section {
                    Section::Resource => resource.push(pair),
                    Section::SpanAttributes => {
                        if let Some(span) = out.spans.last_mut() {
                            span.attributes.push(pair);
                        }
                    }
                    Section::LogAttributes => {
                        if let Some(log) = out.logs.last_mut() {
                            log.attributes.push(pair);
                        }
                    }
                    Section::Descriptor => {
                        if let Some(metric) = out.metrics.last_mut() {
                            match key {
                                "Name" => metric.name = value.to_owned(),
                                "Unit" => metric.unit = value.to_owned(),
                                "DataType" => metric.data_type = value.to_owned(),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            } else if let Some((key, value)) = line.split_once(':') {
                let (key, value) = (key.trim(), value.trim().to_owned());
                match section {
                    Section::Span | Section::SpanAttributes => {
                        if let Some(span) = out.spans.last_mut() {
                            match key {
                                "Trace ID" => span.trace_id = value,
                                "Parent ID" => span.parent_id = value,
                                "ID" => span.span_id = value,
                                "Name" => span.name = value,
                                "Kind" => span.kind = value,
                                "Status code" => span.status = value,
                                _ => {}
                            }
                        }
                    }
                    Section::Log | Section::LogAttributes => {
                        if let Some(log) = out.logs.last_mut() {
                            match key {
                                "Trace ID" => log.trace_id = value,
                                "Span ID" => log.span_id = value,
                                "Body" => log.body = value,
                                "SeverityText" => log.severity_text = value,
                                "SeverityNumber" => log.severity_number = value,
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// The first span named `name`.
    #[must_use]
    pub fn span(&self, name: &str) -> Option<&RotelSpan> {
        self.spans.iter().find(|s| s.name == name)
    }

    /// The first log record whose body is `Str(body)`.
    #[must_use]
    pub fn log(&self, body: &str) -> Option<&RotelLog> {
        self.logs.iter().find(|l| unwrap_str(&l.body) == body)
    }

    /// The first metric named `name`.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<&RotelMetric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// The value of `key` in a printed attribute list, `Str(…)` unwrapped.
#[must_use]
pub fn printed_attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| unwrap_str(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from rotel-agent 0.0.1-alpha10 with `--debug-log-verbosity detailed`.
    const SAMPLE: &str = "\
2026-11-24T02:00:33.722845Z  INFO Starting Rotel. grpc_endpoint=\"127.0.0.1:14317\"
ResourceSpans #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(svc)
ScopeSpans #0
ScopeSpans SchemaURL: 
InstrumentationScope sc 
Span #0
    Trace ID       : 5b8efff798038103d269b633813fc60c
    Parent ID      : eee19b7ec3c1b173
    ID             : eee19b7ec3c1b174
    Name           : my-span
    Kind           : SPAN_KIND_SERVER
Start time: 1544712660000000000
End time: 1544712661000000000
    Status code    : STATUS_CODE_OK
    Status message : 
Attributes:
     -> k: Int(3)
Events:
SpanEvent #0
     -> Name: ev1
     -> Timestamp: 1544712660500000000
ResourceLog #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(svc)
ScopeLogs #0
InstrumentationScope sc 
LogRecord #0
ObservedTimestamp: 0
Timestamp: 1544712660300000000
SeverityText: INFO
SeverityNumber: SEVERITY_NUMBER_INFO(9)
Body: Str(hello log)
Attributes:
     -> records: Int(3)
    Trace ID       : 5b8efff798038103d269b633813fc60c
    Span ID        : eee19b7ec3c1b174
Flags: 0
ResourceMetrics #0
Resource attributes:
     -> service.name: Str(svc)
ScopeMetrics #0
InstrumentationScope sc 
Metric #0
Descriptor:
     -> Name: pipeline.records
     -> Description: 
     -> Unit: {record}
     -> DataType: Sum
     -> IsMonotonic: true
NumberDataPoints #0
Data point attributes:
     -> stage: Str(load)
";

    #[test]
    fn parses_spans_logs_and_metrics() {
        let parsed = RotelDebug::parse(SAMPLE);
        let span = parsed.span("my-span").expect("span");
        assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.parent_id, "eee19b7ec3c1b173");
        assert_eq!(span.span_id, "eee19b7ec3c1b174");
        assert_eq!(span.kind, "SPAN_KIND_SERVER");
        assert_eq!(span.status, "STATUS_CODE_OK");
        assert_eq!(span.scope, "sc");
        assert_eq!(printed_attr(&span.resource, "service.name"), Some("svc"));
        assert_eq!(span.attributes, vec![("k".to_owned(), "Int(3)".to_owned())]);

        let log = parsed.log("hello log").expect("log");
        assert_eq!(log.severity_text, "INFO");
        assert_eq!(log.trace_id, span.trace_id);
        assert_eq!(log.span_id, span.span_id);
        assert_eq!(printed_attr(&log.attributes, "records"), Some("Int(3)"));

        let metric = parsed.metric("pipeline.records").expect("metric");
        assert_eq!(metric.unit, "{record}");
        assert_eq!(metric.data_type, "Sum");
        assert_eq!(parsed.metrics.len(), 1);
    }
}
