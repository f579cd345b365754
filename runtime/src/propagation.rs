//! Carry a trace across process boundaries: inject the current context into
//! outgoing headers, extract it from incoming ones.
//!
//! Works with any header carrier: HTTP header maps, Kafka-style
//! `(String, Vec<u8>)` header lists, and string maps. The propagators are those
//! of `OTEL_PROPAGATORS` (W3C `traceparent` and `baggage` by default), installed
//! by [`init`](crate::init).
//!
//! ```
//! // Producer: put the current trace context on the message.
//! let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
//! semtel::propagation::inject(&mut headers);
//!
//! // Consumer: continue the producer's trace in a `tracing` span...
//! let parent = semtel::propagation::extract(&headers);
//! let span = tracing::info_span!("consume");
//! semtel::propagation::set_parent(&span, parent);
//!
//! // ...or in a `#[stage]`: a stage continues the context current when it
//! // starts, so attach the extracted one around the call.
//! #[semtel::stage(pipeline = "orders", span_kind = consumer)]
//! fn process(order: &str) -> usize {
//!     order.len()
//! }
//! let _attached = semtel::propagation::extract(&headers).attach();
//! process("order-1");
//! ```
//!
//! An attached context's guard is not `Send`: in async code it cannot be
//! held across an `.await` in a spawned task. There, give the extracted
//! context to the stage (`#[stage(parent = ..)]`) or to the future
//! (`fut.with_context(cx)`, [`crate::context`]); the crate docs' "Async and
//! threads" section shows a consumer.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Something that holds string headers: read, write and list them.
pub trait HeaderCarrier {
    /// The value of a header (case-insensitive where the carrier is).
    fn get_header(&self, key: &str) -> Option<&str>;
    /// Sets a header, replacing any earlier value.
    fn set_header(&mut self, key: &str, value: String);
    /// The header names present.
    fn header_keys(&self) -> Vec<&str>;
    /// Removes a header. Injecting calls it for a header that would be
    /// empty, so that one injected earlier does not stay behind; the default
    /// does nothing.
    fn remove_header(&mut self, key: &str) {
        let _ = key;
    }
}

impl HeaderCarrier for http::HeaderMap {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.to_str().ok())
    }

    fn set_header(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }

    fn header_keys(&self) -> Vec<&str> {
        self.keys().map(http::HeaderName::as_str).collect()
    }

    fn remove_header(&mut self, key: &str) {
        self.remove(key);
    }
}

/// Kafka-style headers: names with byte values. Only UTF-8 values are read.
impl HeaderCarrier for Vec<(String, Vec<u8>)> {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn set_header(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value.into_bytes()));
    }

    fn header_keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn remove_header(&mut self, key: &str) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }
}

/// Headers as string pairs.
impl HeaderCarrier for Vec<(String, String)> {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value));
    }

    fn header_keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn remove_header(&mut self, key: &str) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }
}

impl<S: std::hash::BuildHasher> HeaderCarrier for HashMap<String, String, S> {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }

    fn set_header(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }

    fn header_keys(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }

    fn remove_header(&mut self, key: &str) {
        self.remove(key);
    }
}

struct AsInjector<'a, C: ?Sized>(&'a mut C);
struct AsExtractor<'a, C: ?Sized>(&'a C);

impl<C: HeaderCarrier + ?Sized> Injector for AsInjector<'_, C> {
    /// An empty value is left out: the trace-context propagator writes an
    /// empty `tracestate` for a context without one, which W3C Trace Context
    /// reads as no trace state anyway.
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            self.0.remove_header(key);
        } else {
            self.0.set_header(key, value);
        }
    }
}

impl<C: HeaderCarrier + ?Sized> Extractor for AsExtractor<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get_header(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.header_keys()
    }
}

/// The context of the innermost span on this thread: a `#[stage]` call, a
/// context carried here ([`crate::context`]), the current `tracing` span, or
/// else the current OpenTelemetry context. The same as
/// [`context::current`](crate::context::current).
pub fn current_context() -> Context {
    crate::context::current()
}

/// Writes the current trace context (and baggage) into `carrier`; a header
/// that would be empty (`tracestate` when the context has none) is left out.
pub fn inject<C: HeaderCarrier + ?Sized>(carrier: &mut C) {
    inject_context(&current_context(), carrier);
}

/// Writes `cx` into `carrier` with the installed propagators.
pub fn inject_context<C: HeaderCarrier + ?Sized>(cx: &Context, carrier: &mut C) {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut AsInjector(carrier));
    });
}

/// Reads a context from `carrier`; empty when it carries none.
pub fn extract<C: HeaderCarrier + ?Sized>(carrier: &C) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&AsExtractor(carrier)))
}

/// Makes `span` continue the trace of `parent` (e.g. one [`extract`]ed from a
/// message). Call before the span is entered.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    // Only fails when the span is disabled, in which case there is nothing
    // to parent.
    let _ = span.set_parent(parent);
}

/// The span context of a `tracing` span, e.g. to add a link in a batch consumer.
pub fn span_context(span: &tracing::Span) -> opentelemetry::trace::SpanContext {
    use opentelemetry::trace::TraceContextExt as _;
    span.context().span().span_context().clone()
}
