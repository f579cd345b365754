//! The logger opentelemetry-appender-tracing's bridge writes through: the
//! SDK's, except that each record gets its event's time (`timeUnixNano`,
//! besides the observed time the SDK sets) and an event name only when the
//! program named the event (`tracing::event!(name: "…", …)`). `tracing`
//! names an unnamed event after its call site, `event <file>:<line>`, which
//! is no semantic-convention event and carries a build path.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, Key};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};

/// Loggers for the bridge, from the SDK's provider.
#[derive(Debug, Clone)]
pub(crate) struct BridgeProvider(pub(crate) SdkLoggerProvider);

impl LoggerProvider for BridgeProvider {
    type Logger = BridgeLogger;

    fn logger_with_scope(&self, scope: InstrumentationScope) -> BridgeLogger {
        BridgeLogger(self.0.logger_with_scope(scope))
    }
}

/// The SDK's logger, its records made by [`BridgeLogger::create_log_record`].
#[derive(Debug)]
pub(crate) struct BridgeLogger(SdkLogger);

impl Logger for BridgeLogger {
    type LogRecord = BridgeRecord;

    /// A record stamped now: the bridge makes it as the event happens.
    fn create_log_record(&self) -> BridgeRecord {
        let mut record = self.0.create_log_record();
        record.set_timestamp(SystemTime::now());
        BridgeRecord(record)
    }

    fn emit(&self, record: BridgeRecord) {
        self.0.emit(record.0);
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.0.event_enabled(level, target, name)
    }
}

/// The SDK's record, leaving out the event name `tracing` gives an unnamed
/// event.
#[derive(Debug)]
pub(crate) struct BridgeRecord(SdkLogRecord);

/// Whether `name` is the one `tracing` gives an unnamed event:
/// `event <file>:<line>`.
fn is_call_site_name(name: &str) -> bool {
    name.strip_prefix("event ")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(_, line)| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
}

impl LogRecord for BridgeRecord {
    fn set_event_name(&mut self, name: &'static str) {
        if !is_call_site_name(name) {
            self.0.set_event_name(name);
        }
    }

    fn set_target<T>(&mut self, target: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.0.set_target(target);
    }

    fn set_timestamp(&mut self, timestamp: SystemTime) {
        self.0.set_timestamp(timestamp);
    }

    fn set_observed_timestamp(&mut self, timestamp: SystemTime) {
        self.0.set_observed_timestamp(timestamp);
    }

    fn set_severity_text(&mut self, text: &'static str) {
        self.0.set_severity_text(text);
    }

    fn set_severity_number(&mut self, number: Severity) {
        self.0.set_severity_number(number);
    }

    fn set_body(&mut self, body: AnyValue) {
        self.0.set_body(body);
    }

    fn add_attributes<I, K, V>(&mut self, attributes: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Key>,
        V: Into<AnyValue>,
    {
        self.0.add_attributes(attributes);
    }

    fn add_attribute<K, V>(&mut self, key: K, value: V)
    where
        K: Into<Key>,
        V: Into<AnyValue>,
    {
        self.0.add_attribute(key, value);
    }

    fn set_trace_context(
        &mut self,
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: Option<TraceFlags>,
    ) {
        self.0.set_trace_context(trace_id, span_id, trace_flags);
    }
}

#[cfg(test)]
mod tests {
    use super::is_call_site_name;

    #[test]
    fn only_the_call_site_name_of_an_unnamed_event_is_left_out() {
        assert!(is_call_site_name("event src/main.rs:12"));
        assert!(is_call_site_name(
            "event /build/x/runtime/src/stage/guard.rs:270"
        ));
        assert!(is_call_site_name("event C:\\src\\main.rs:7"));
        assert!(!is_call_site_name("order.rejected"));
        assert!(!is_call_site_name("event"));
        assert!(!is_call_site_name("event src/main.rs:"));
        assert!(!is_call_site_name("event src/main.rs:x1"));
    }
}
