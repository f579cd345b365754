//! The SDK's own `tracing` spans: the few of them semtel's default filter
//! lets through, the kind and attributes they are exported with, and the
//! span a call is recorded onto.

use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::trace::SdkTracer;
use semtel_conventions::attribute;
use semtel_conventions::metric;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Metadata, span};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context as LayerContext, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::super::Operation;

/// The orchestrator's module, the target of its spans.
const ORCHESTRATOR: &str = "aws_smithy_runtime::client::orchestrator";
/// The field only the generated clients' operation span has.
const INVOCATION_ID: &str = "sdk_invocation_id";
/// The orchestrator's span around one attempt, and its attempt number.
const ATTEMPT: &str = "try_attempt";
const ATTEMPT_FIELD: &str = "attempt";

/// Whether `meta` is the span a generated client opens around a whole
/// call (`S3.PutObject`, with `rpc.*` fields and `sdk_invocation_id`).
fn is_operation(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("aws_sdk_") && meta.fields().field(INVOCATION_ID).is_some()
}

/// Whether `meta` is one of the SDK's spans that say something about a
/// call: the operation, each attempt (retries), and a credentials load
/// (which can take seconds, from IMDS or STS).
fn is_kept(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && (is_operation(meta)
            || match meta.name() {
                ATTEMPT => meta.target() == ORCHESTRATOR,
                "lazy_load_identity" => meta
                    .target()
                    .starts_with("aws_smithy_runtime::client::identity"),
                _ => false,
            })
}

/// Whether one of `directives` (`RUST_LOG` syntax) names one of the SDK's
/// crates (`aws_sdk_s3=debug`, `aws_smithy_runtime=warn`).
fn names_sdk(directives: &str) -> bool {
    directives.split(',').any(|d| {
        let target = d.trim().split(['=', '[']).next().unwrap_or_default();
        target.starts_with("aws_sdk_") || target.starts_with("aws_smithy_")
    })
}

/// The user's filter, plus the SDK spans of [`is_kept`] (DEBUG in the
/// SDK) unless the directives name one of the SDK's crates or ask for
/// less than INFO everywhere. Events keep the user's levels. A global
/// filter ([`Layer`]) under `init()`, a per-layer one ([`Filter`]) in the
/// user's subscriber.
pub(crate) struct DefaultFilter {
    env: EnvFilter,
    sdk: bool,
}

impl DefaultFilter {
    pub(crate) fn new(env: EnvFilter, directives: &str) -> Self {
        let sdk = !names_sdk(directives)
            && env
                .max_level_hint()
                .is_none_or(|level| level >= LevelFilter::INFO);
        Self { env, sdk }
    }

    fn kept(&self, meta: &Metadata<'_>) -> bool {
        self.sdk && is_kept(meta)
    }

    fn hint(&self, env: Option<LevelFilter>) -> Option<LevelFilter> {
        if self.sdk {
            env.map(|level| level.max(LevelFilter::DEBUG))
        } else {
            env
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for DefaultFilter {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = Layer::<S>::register_callsite(&self.env, meta);
        if self.kept(meta) {
            Interest::always()
        } else {
            interest
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: LayerContext<'_, S>) -> bool {
        self.kept(meta) || Layer::enabled(&self.env, meta, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.hint(Layer::<S>::max_level_hint(&self.env))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        Layer::on_new_span(&self.env, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: LayerContext<'_, S>) {
        Layer::on_record(&self.env, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: LayerContext<'_, S>) {
        Layer::on_enter(&self.env, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: LayerContext<'_, S>) {
        Layer::on_exit(&self.env, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: LayerContext<'_, S>) {
        Layer::on_close(&self.env, id, ctx);
    }
}

impl<S> Filter<S> for DefaultFilter {
    fn enabled(&self, meta: &Metadata<'_>, cx: &LayerContext<'_, S>) -> bool {
        self.kept(meta) || Filter::enabled(&self.env, meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = Filter::<S>::callsite_enabled(&self.env, meta);
        if self.kept(meta) {
            Interest::always()
        } else {
            interest
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.hint(Filter::<S>::max_level_hint(&self.env))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: LayerContext<'_, S>) {
        Filter::on_new_span(&self.env, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: LayerContext<'_, S>) {
        Filter::on_record(&self.env, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: LayerContext<'_, S>) {
        Filter::on_enter(&self.env, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: LayerContext<'_, S>) {
        Filter::on_exit(&self.env, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: LayerContext<'_, S>) {
        Filter::on_close(&self.env, id, ctx);
    }
}

/// The tracer of `tracing` spans: the SDK's operation span is the call's
/// CLIENT span (without the internal `sdk_invocation_id`, which the span's
/// ids replace), an attempt says how many times the request was sent
/// before (`http.request.resend_count`) instead of its own `attempt`.
#[derive(Debug, Clone)]
pub(crate) struct SdkSpans(pub(crate) SdkTracer);

impl Tracer for SdkSpans {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, mut builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        if let Some(attributes) = builder.attributes.as_mut() {
            reshape(&builder.name, &mut builder.span_kind, attributes);
        }
        self.0.build_with_context(builder, parent_cx)
    }
}

fn reshape(name: &str, kind: &mut Option<SpanKind>, attributes: &mut Vec<KeyValue>) {
    let at = |key: &str| attributes.iter().position(|kv| kv.key.as_str() == key);
    if let Some(i) = at(INVOCATION_ID) {
        attributes.swap_remove(i);
        *kind = Some(SpanKind::Client);
    } else if name == ATTEMPT
        && let Some(i) = at(ATTEMPT_FIELD)
    {
        let attempt = attributes.swap_remove(i);
        if let Value::I64(n) = attempt.value
            && n > 1
        {
            let key = attribute::HTTP_REQUEST_RESEND_COUNT.name();
            attributes.push(KeyValue::new(key, n - 1));
        }
    }
}

/// The call's operation: recorded onto the SDK's operation span when that
/// one is exported (it is the parent of the attempts), else onto a CLIENT
/// span of its own, under the caller's span, stage or the SDK's operation
/// span, never under one of the orchestrator's short-lived spans (the
/// first hook runs inside its `apply_configuration`). Its own span is
/// named `{Service}.{Operation}` later, when the bag knows it.
pub(super) fn start_call() -> Operation {
    let current = tracing::Span::current();
    let internal = |meta: &Metadata<'_>| meta.target().starts_with("aws_smithy_runtime");
    let duration = metric::RPC_CLIENT_CALL_DURATION;
    if !current.metadata().is_some_and(internal) {
        if current.metadata().is_some_and(is_operation)
            && let Some(cx) = exported(&current)
        {
            return Operation::adopt(cx, duration);
        }
        return Operation::start(own_span(None), duration);
    }
    let (parent, sdk) = tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let mut span = registry.span(&current.id()?)?;
        while internal(span.metadata()) {
            span = span.parent()?;
        }
        let sdk = is_operation(span.metadata())
            .then(|| tracing_opentelemetry::get_otel_context(&span.id(), dispatch))
            .flatten()
            .filter(|cx| cx.span().span_context().is_valid());
        Some((Some(span.id()), sdk))
    })
    .unwrap_or_default();
    if let Some(cx) = sdk {
        return Operation::adopt(cx, duration);
    }
    let span = own_span(parent.clone());
    if parent.is_none() {
        // No span above the SDK's: the context a stage or `semtel::context`
        // attached, as a contextual span would have had.
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let _ = span.set_parent(crate::context::current());
    }
    Operation::start(span, duration)
}

/// The OpenTelemetry context of `span` when semtel exports it.
fn exported(span: &tracing::Span) -> Option<Context> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = span.context();
    cx.span().span_context().is_valid().then_some(cx)
}

fn own_span(parent: Option<span::Id>) -> tracing::Span {
    match parent {
        None => tracing::info_span!(
            "aws.client",
            otel.name = tracing::field::Empty,
            otel.kind = "client"
        ),
        parent => tracing::info_span!(
            parent: parent,
            "aws.client",
            otel.name = tracing::field::Empty,
            otel.kind = "client"
        ),
    }
}

/// Puts an attempt's outcome on its span, when the SDK's attempt span is
/// the current one: its response's status code, and for a failed attempt
/// (one that is retried, or the last) an error status and `error.type`.
pub(super) fn attempt_outcome(status: Option<u16>, error_type: Option<&str>) {
    let current = tracing::Span::current();
    let is_attempt = |m: &Metadata<'_>| m.name() == ATTEMPT && m.target() == ORCHESTRATOR;
    if !current.metadata().is_some_and(is_attempt) {
        return;
    }
    let Some(cx) = exported(&current) else {
        return;
    };
    let span = cx.span();
    if let Some(status) = status {
        let key = attribute::HTTP_RESPONSE_STATUS_CODE.name();
        span.set_attribute(KeyValue::new(key, i64::from(status)));
    }
    if let Some(error_type) = error_type {
        let key = attribute::ERROR_TYPE.name();
        span.set_attribute(KeyValue::new(key, error_type.to_owned()));
        span.set_status(Status::error(error_type.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_that_names_the_sdk_keeps_its_levels() {
        for named in [
            "info,aws_sdk_s3=debug",
            "aws_smithy_runtime=warn",
            "info, aws_smithy_runtime::client::orchestrator[try_op]=trace",
        ] {
            assert!(names_sdk(named), "{named}");
        }
        for not in ["info", "warn,orders=debug", "aws=debug", "semtel=trace"] {
            assert!(!names_sdk(not), "{not}");
        }
        let on = |d: &str| DefaultFilter::new(EnvFilter::new(d), d).sdk;
        assert!(on("info") && on("debug") && on("warn,orders=info"));
        assert!(!on("warn") && !on("off") && !on("info,aws_sdk_s3=info"));
    }

    #[test]
    fn the_operation_span_is_the_client_span_and_attempts_count_resends() {
        let mut kind = None;
        let mut attributes = vec![
            KeyValue::new("rpc.service", "S3"),
            KeyValue::new(INVOCATION_ID, 1_234_567_i64),
            KeyValue::new("rpc.method", "GetObject"),
        ];
        reshape("S3.GetObject", &mut kind, &mut attributes);
        assert_eq!(kind, Some(SpanKind::Client));
        assert!(attributes.iter().all(|kv| kv.key.as_str() != INVOCATION_ID));
        assert_eq!(attributes.len(), 2);

        let mut kind = None;
        let mut first = vec![KeyValue::new(ATTEMPT_FIELD, 1_i64)];
        reshape(ATTEMPT, &mut kind, &mut first);
        assert!(first.is_empty() && kind.is_none());
        let mut second = vec![KeyValue::new(ATTEMPT_FIELD, 2_i64)];
        reshape(ATTEMPT, &mut kind, &mut second);
        assert_eq!(
            second,
            [KeyValue::new("http.request.resend_count", 1_i64)],
            "the second attempt is the first resend"
        );
        // A span of the user's with an `attempt` field keeps it.
        let mut theirs = vec![KeyValue::new(ATTEMPT_FIELD, 2_i64)];
        reshape("retry", &mut kind, &mut theirs);
        assert_eq!(theirs, [KeyValue::new(ATTEMPT_FIELD, 2_i64)]);
    }
}
