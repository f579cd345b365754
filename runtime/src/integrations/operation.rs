//! One client operation (a query, an HTTP request, a message sent): a
//! `tracing` span named and typed for OpenTelemetry, its attributes by
//! convention key, and the family's duration histogram when it ends.

use std::borrow::Cow;
use std::time::Instant;

use opentelemetry::trace::Status;
use opentelemetry::{Key, KeyValue, Value};
use semtel_conventions::model::{
    AttributeKey, CounterDescriptor, HistogramDescriptor, MetricDef, MetricDescriptor,
};
use semtel_conventions::value::ValueFor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::attrs::is_metric_key;
use super::hub::Hub;

/// A client operation in progress: a `tracing` span plus the duration
/// histogram of its family (`db.client.operation.duration`,
/// `http.client.request.duration`, …), recorded when it ends with the
/// span's attributes that the registry lists for that metric (opt-in ones
/// left out, so the metric stays low-cardinality).
///
/// The span is an ordinary `tracing` span: create it where the operation
/// happens (its target is that module, so `RUST_LOG` can name it), with
/// `otel.name` and `otel.kind` fields for its OpenTelemetry name and kind.
/// While it is entered (or a future runs `.instrument`ed with it), spans,
/// stages and logs inside nest under it, and
/// [`propagation::inject`](crate::propagation::inject) writes its context.
///
/// ```
/// use semtel::conventions::{attribute, metric};
/// use semtel::integrations::Operation;
///
/// # fn call_service() -> Result<u16, &'static str> { Ok(200) }
/// let span = tracing::info_span!("rpc", otel.name = "GET", otel.kind = "client");
/// let mut op = Operation::start(span, metric::HTTP_CLIENT_REQUEST_DURATION);
/// op.set(attribute::HTTP_REQUEST_METHOD, "GET")
///     .set(attribute::SERVER_ADDRESS, "inventory.internal")
///     .set(attribute::SERVER_PORT, &8080_i64);
/// match op.span().in_scope(call_service) {
///     Ok(status) => {
///         op.set(attribute::HTTP_RESPONSE_STATUS_CODE, &i64::from(status));
///     }
///     Err(kind) => op.fail(kind, None),
/// }
/// op.finish(); // the span ends, the histogram gets one value
/// ```
#[derive(Debug)]
#[must_use = "an operation records its duration when finished or dropped"]
pub struct Operation {
    span: tracing::Span,
    /// The span's OpenTelemetry context, for an operation recorded onto a
    /// span that someone else opened ([`adopt`](Self::adopt)).
    adopted: Option<opentelemetry::Context>,
    start: Instant,
    /// The duration metric: its registry entry (which attributes it takes)
    /// and the session's histogram, when a semtel session is current.
    metric: Option<&'static MetricDef>,
    hub: Option<std::sync::Arc<Hub>>,
    descriptor: MetricDescriptor,
    /// Attributes and status not yet on the OpenTelemetry span: set in one
    /// call when the operation ends (one `set_attribute` each would look
    /// the span up in the registry each time). Those the metric takes too
    /// come first (`pending[..metric_len]`), so that the histogram reads
    /// them in place, without a copy of each value.
    pending: Vec<KeyValue>,
    metric_len: usize,
    /// Values of the metric only ([`set_metric_value`](Self::set_metric_value)),
    /// over those of `pending`.
    metric_only: Vec<KeyValue>,
    status: Option<Status>,
    /// A counter of the family to add to when the operation ends
    /// ([`count`](Self::count)).
    count: Option<(MetricDescriptor, u64)>,
    finished: bool,
}

impl Operation {
    /// Starts timing `span` as one operation of the family whose duration
    /// histogram is `duration` (a descriptor from
    /// [`semtel::conventions::metric`](mod@crate::conventions::metric); a
    /// metric that is not a histogram does not compile).
    pub fn start<N>(span: tracing::Span, duration: HistogramDescriptor<N>) -> Self {
        let duration = duration.descriptor();
        Self {
            span,
            adopted: None,
            start: Instant::now(),
            metric: super::attrs::metric_def(duration.name),
            hub: super::layer::current(),
            descriptor: duration,
            pending: Vec::with_capacity(12),
            metric_len: 0,
            metric_only: Vec::new(),
            status: None,
            count: None,
            finished: false,
        }
    }

    /// Times an operation whose span a library opened itself (its
    /// OpenTelemetry context `cx`): attributes and status go onto that span,
    /// which ends when the library closes it.
    #[cfg(feature = "aws-sdk")]
    pub(crate) fn adopt<N>(cx: opentelemetry::Context, duration: HistogramDescriptor<N>) -> Self {
        let mut op = Self::start(tracing::Span::none(), duration);
        op.adopted = Some(cx);
        op
    }

    /// Whether the span is one a library opened ([`adopt`](Self::adopt)).
    #[cfg(feature = "aws-sdk")]
    pub(crate) fn is_adopted(&self) -> bool {
        self.adopted.is_some()
    }

    /// Sets an attribute on the span (and on the duration metric, when the
    /// registry lists it for that metric and it is not opt-in). The value's
    /// type must fit the key's: `op.set(attribute::SERVER_PORT, &5432_i64)`.
    /// A value that gives no attribute (`None`) leaves it out.
    pub fn set<T: ?Sized, V: ValueFor<T> + ?Sized>(
        &mut self,
        key: AttributeKey<T>,
        value: &V,
    ) -> &mut Self {
        if let Some(value) = key.value(value) {
            self.set_value(key.name(), crate::telemetry::otel_value(value));
        }
        self
    }

    /// Sets an attribute whose key is only known at run time (e.g. a
    /// template attribute such as `db.query.parameter.<key>`), unchecked.
    pub fn set_value(&mut self, key: &'static str, value: Value) -> &mut Self {
        let metric = self.is_metric_attribute(key);
        if metric && !self.metric_only.is_empty() {
            // This later value replaces a metric-only one.
            self.metric_only.retain(|kv| kv.key.as_str() != key);
        }
        match self.pending.iter_mut().find(|kv| kv.key.as_str() == key) {
            // Whether a key goes on the metric depends on the key alone, so
            // it is already on the right side.
            Some(kv) => kv.value = value,
            None => {
                let kv = KeyValue::new(Key::from_static_str(key), value);
                if metric {
                    self.pending.insert(self.metric_len, kv);
                    self.metric_len += 1;
                } else {
                    self.pending.push(kv);
                }
            }
        }
        self
    }

    /// Sets an attribute of the duration metric only (when the registry
    /// lists it for that metric and it is not opt-in), not of the span: for
    /// a convention whose span and metric differ.
    pub fn set_metric_value(&mut self, key: &'static str, value: Value) -> &mut Self {
        if self.is_metric_attribute(key) {
            upsert(&mut self.metric_only, key, value);
        }
        self
    }

    /// When the operation ends, also adds `n` to the counter `metric` (a
    /// descriptor such as `messaging.client.sent.messages`), with the
    /// operation's attributes that the registry lists for that metric.
    ///
    /// ```
    /// use semtel::conventions::{attribute, metric};
    ///
    /// let span = tracing::info_span!("send", otel.name = "send orders", otel.kind = "producer");
    /// let mut op = semtel::integrations::Operation::start(span, metric::MESSAGING_CLIENT_OPERATION_DURATION);
    /// op.set(attribute::MESSAGING_DESTINATION_NAME, "orders")
    ///     .count(metric::MESSAGING_CLIENT_SENT_MESSAGES, 1);
    /// op.finish();
    /// ```
    pub fn count<N>(&mut self, metric: CounterDescriptor<N>, n: u64) -> &mut Self {
        self.count = Some((metric.descriptor(), n));
        self
    }

    /// Adds to the counter of [`count`](Self::count).
    fn record_count(&self, hub: &Hub) {
        let Some((metric, n)) = self.count else {
            return;
        };
        let def = super::attrs::metric_def(metric.name);
        let takes = |kv: &&KeyValue| super::attrs::is_metric_attribute(def, kv.key.as_str());
        let attributes: Vec<KeyValue> = self
            .pending
            .iter()
            .filter(|kv| !self.metric_only.iter().any(|m| m.key == kv.key))
            .chain(self.metric_only.iter())
            .filter(takes)
            .cloned()
            .collect();
        hub.add_count(metric, n, &attributes);
    }

    /// Records `seconds` in the family's histogram with the metric's
    /// attributes.
    fn record_metric(&self, hub: &Hub, seconds: f64) {
        let shared = &self.pending[..self.metric_len];
        if self.metric_only.is_empty() {
            hub.record_duration(self.descriptor, seconds, shared);
            return;
        }
        let mut attributes: Vec<KeyValue> = shared
            .iter()
            .filter(|kv| !self.metric_only.iter().any(|m| m.key == kv.key))
            .cloned()
            .collect();
        attributes.extend(self.metric_only.iter().cloned());
        hub.record_duration(self.descriptor, seconds, &attributes);
    }

    /// Puts the pending attributes and status on the OpenTelemetry span
    /// (starting it if it has not started yet).
    fn flush(&mut self) {
        if self.pending.is_empty() && self.status.is_none() {
            return;
        }
        use opentelemetry::trace::TraceContextExt as _;
        // A disabled span's context is empty, with a no-op span.
        let cx = self.context();
        let span = cx.span();
        span.set_attributes(self.pending.drain(..));
        if let Some(status) = self.status.take() {
            span.set_status(status);
        }
    }

    fn is_metric_attribute(&self, key: &'static str) -> bool {
        is_metric_key(self.metric, key)
    }

    /// Marks the operation failed: `error.type` (low cardinality: an
    /// error code, a status code, a type name) on the span and the metric,
    /// and an error status with `description` (which must hold no secret:
    /// it is exported as it is).
    pub fn fail(&mut self, error_type: &str, description: Option<&str>) {
        self.set_value(
            semtel_conventions::attribute::ERROR_TYPE.name(),
            Value::from(error_type.to_owned()),
        );
        let description: Cow<'static, str> = match description {
            Some(d) => d.to_owned().into(),
            None => error_type.to_owned().into(),
        };
        self.status = Some(Status::error(description));
    }

    /// The operation's span: enter it, or `.instrument` a future with a
    /// clone of it, around the work.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The OpenTelemetry context of the operation's span, to inject into an
    /// outgoing request or message
    /// ([`propagation::inject_context`](crate::propagation::inject_context)).
    pub fn context(&self) -> opentelemetry::Context {
        match &self.adopted {
            Some(cx) => cx.clone(),
            None => self.span.context(),
        }
    }

    /// Seconds since [`start`](Self::start).
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Ends the operation: records its duration in the family's histogram
    /// and closes its span (unless clones of the span are still alive).
    pub fn finish(mut self) {
        self.record();
    }

    fn record(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let seconds = self.elapsed();
        // Before the flush, which hands the span the attributes the
        // histogram reads.
        if let Some(hub) = &self.hub {
            self.record_metric(hub, seconds);
            self.record_count(hub);
        }
        self.flush();
        self.metric_len = 0;
    }
}

impl Drop for Operation {
    /// An operation dropped unfinished (a cancelled future) still records
    /// its duration.
    fn drop(&mut self) {
        self.record();
    }
}

/// Sets `key` in `attributes`, replacing an earlier value.
fn upsert(attributes: &mut Vec<KeyValue>, key: &'static str, value: Value) {
    match attributes.iter_mut().find(|kv| kv.key.as_str() == key) {
        Some(kv) => kv.value = value,
        None => attributes.push(KeyValue::new(Key::from_static_str(key), value)),
    }
}
