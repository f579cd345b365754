//! Baggage: key/value pairs that travel with a trace, within the process
//! and, through the `baggage` propagator of `OTEL_PROPAGATORS` (on by
//! default), across it ([`propagation::inject`](crate::propagation::inject)
//! and [`extract`](crate::propagation::extract)).
//!
//! Baggage lives in a [`Context`]: [`set`] returns the current context with
//! an entry added, to make current where the entry applies, as any context
//! is made current ([`crate::context`]): [`in_scope`](crate::context::in_scope)
//! for code run now, [`with_context`](crate::WithContext::with_context) for
//! a future (also across `tokio::spawn`), `#[stage(parent = cx)]` for a
//! stage. Stages, `tracing` spans and log records started there carry it on,
//! and [`get`] and [`entries`] read it.
//!
//! ```
//! #[semtel::stage(pipeline = "orders")]
//! fn load() -> Option<String> {
//!     semtel::baggage::get("tenant")
//! }
//!
//! let cx = semtel::baggage::set("tenant", "acme");
//! let tenant = semtel::context::in_scope(&cx, load);
//! assert_eq!(tenant.as_deref(), Some("acme"));
//! assert_eq!(semtel::baggage::get("tenant"), None, "only where it was made current");
//! ```
//!
//! Baggage is not copied onto telemetry unless its key is listed in
//! `SEMTEL_BAGGAGE_ATTRIBUTES` (comma-separated, e.g. `tenant,run.id`) or
//! [`Builder::baggage_attributes`](crate::Builder::baggage_attributes):
//! the listed entries become attributes of the `tracing` spans and log
//! records started where they are current. Nothing is copied by default,
//! as baggage may carry secrets from upstream.

use opentelemetry::baggage::{Baggage, BaggageExt as _};

use crate::context::Context;

/// The current context ([`context::current`](crate::context::current)) with
/// `key` set to `value` in its baggage; make it current where the entry
/// applies (see the [module docs](self)).
///
/// ```
/// use semtel::WithContext as _;
///
/// # #[tokio::main] async fn main() {
/// let cx = semtel::baggage::set("tenant", "acme");
/// let task = tokio::spawn(async { semtel::baggage::get("tenant") }.with_context(cx));
/// assert_eq!(task.await.unwrap().as_deref(), Some("acme"));
/// # }
/// ```
pub fn set(key: impl Into<String>, value: impl Into<String>) -> Context {
    set_in(&crate::context::current(), [(key.into(), value.into())])
}

/// `cx` with `entries` set in its baggage (replacing entries of the same
/// keys), e.g. a context [`extract`](crate::propagation::extract)ed from a
/// message.
///
/// ```
/// let cx = semtel::baggage::set_in(
///     &semtel::Context::new(),
///     [("tenant", "acme"), ("run.id", "r-7")],
/// );
/// assert_eq!(semtel::baggage::get_in(&cx, "run.id").as_deref(), Some("r-7"));
/// ```
pub fn set_in<K, V>(cx: &Context, entries: impl IntoIterator<Item = (K, V)>) -> Context
where
    K: Into<String>,
    V: Into<String>,
{
    let mut baggage: Baggage = cx
        .baggage()
        .iter()
        .map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone())))
        .collect();
    for (k, v) in entries {
        // An entry beyond W3C's limits (180 entries, 8192 bytes) is not
        // added, as the propagator would not send it.
        let _ = baggage.insert(k.into(), v.into());
    }
    cx.with_baggage(baggage)
}

/// The value of `key` in the current context's baggage.
///
/// ```
/// let cx = semtel::baggage::set("tenant", "acme");
/// semtel::context::in_scope(&cx, || {
///     assert_eq!(semtel::baggage::get("tenant").as_deref(), Some("acme"));
///     assert_eq!(semtel::baggage::get("region"), None);
/// });
/// ```
pub fn get(key: &str) -> Option<String> {
    get_in(&crate::context::current(), key)
}

/// The value of `key` in `cx`'s baggage.
///
/// ```
/// let cx = semtel::baggage::set("tenant", "acme");
/// assert_eq!(semtel::baggage::get_in(&cx, "tenant").as_deref(), Some("acme"));
/// ```
pub fn get_in(cx: &Context, key: &str) -> Option<String> {
    cx.baggage().get(key).map(|v| v.as_str().to_owned())
}

/// Every entry of the current context's baggage, sorted by key.
///
/// ```
/// let cx = semtel::baggage::set_in(&semtel::Context::new(), [("b", "2"), ("a", "1")]);
/// semtel::context::in_scope(&cx, || {
///     let all = semtel::baggage::entries();
///     assert_eq!(all, [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
/// });
/// ```
pub fn entries() -> Vec<(String, String)> {
    entries_in(&crate::context::current())
}

/// Every entry of `cx`'s baggage, sorted by key.
///
/// ```
/// let cx = semtel::baggage::set("tenant", "acme");
/// assert_eq!(semtel::baggage::entries_in(&cx).len(), 1);
/// ```
pub fn entries_in(cx: &Context) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = cx
        .baggage()
        .iter()
        .map(|(k, (v, _))| (k.to_string(), v.as_str().to_owned()))
        .collect();
    all.sort();
    all
}

/// Copies allow-listed baggage entries onto `tracing` spans (from the
/// span's parent context, through the SDK) and log records (from the
/// current context: semtel's layer attaches the innermost stage's context
/// while a `tracing` event becomes a record, so a stage's baggage is seen).
/// A run's id is always among the keys; until a run has started and with
/// no key of the user's listed, there is nothing to look for.
#[derive(Debug)]
pub(crate) struct BaggageCopy {
    keys: Vec<opentelemetry::Key>,
    /// Whether the user listed keys of their own.
    listed: bool,
}

impl BaggageCopy {
    /// Copies `keys`, the user's `listed` ones and a run's id.
    pub(crate) fn new(keys: &[String], listed: bool) -> Self {
        Self {
            keys: keys.iter().map(|k| k.clone().into()).collect(),
            listed,
        }
    }

    fn wanted(&self) -> bool {
        self.listed || crate::engine::context::runs_started()
    }
}

/// The allow-listed entries of `cx`'s baggage, as attributes.
fn allowed<'a>(
    keys: &'a [opentelemetry::Key],
    cx: &'a Context,
) -> impl Iterator<Item = opentelemetry::KeyValue> + 'a {
    let baggage = cx.baggage();
    keys.iter().filter_map(move |k| {
        baggage
            .get(k.as_str())
            .map(|v| opentelemetry::KeyValue::new(k.clone(), v.as_str().to_owned()))
    })
}

impl opentelemetry_sdk::trace::SpanProcessor for BaggageCopy {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        if !self.wanted() {
            return;
        }
        for kv in allowed(&self.keys, cx) {
            span.set_attribute(kv);
        }
    }

    fn on_end(&self, _span: opentelemetry_sdk::trace::SpanData) {}

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(
        &self,
        _timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

impl opentelemetry_sdk::logs::LogProcessor for BaggageCopy {
    fn emit(
        &self,
        record: &mut opentelemetry_sdk::logs::SdkLogRecord,
        _scope: &opentelemetry::InstrumentationScope,
    ) {
        use opentelemetry::logs::LogRecord as _;
        if !self.wanted() {
            return;
        }
        Context::map_current(|cx| {
            for kv in allowed(&self.keys, cx) {
                record.add_attribute(kv.key, kv.value.as_str().into_owned());
            }
        });
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}
