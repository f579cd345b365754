//! The default filter's exclusions: crates whose own `tracing` output must
//! never be exported, matched by crate exactly.

use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::layer::{Context, Layer};

/// Crates whose own `tracing` output must never be exported: they are the
/// exporters' transport, and exporting their events would feed back into
/// themselves. A user's filter can still name them explicitly.
pub(crate) const TRANSPORT_TARGETS: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    "tonic",
    "tower",
    "h2",
    "hyper",
    "hyper_util",
    "reqwest",
];

/// Turns off the [`TRANSPORT_TARGETS`] the user's `RUST_LOG`-style
/// directives do not name. A target belongs to a crate when it is the
/// crate's name or starts with it and `::`: `tower` and `tower::buffer` are
/// off, `tower_http` (and `reqwest_tracing`, `hyper_rustls`, …) is not. An
/// `EnvFilter` directive `tower=off` would match by prefix and silence
/// those too.
#[derive(Debug, Clone)]
pub(crate) struct TransportFilter {
    off: Vec<&'static str>,
}

impl TransportFilter {
    /// The filter for the user's `directives` (`RUST_LOG` syntax).
    pub(crate) fn new(directives: &str) -> Self {
        let off = TRANSPORT_TARGETS
            .iter()
            .copied()
            .filter(|target| !names(directives, target))
            .collect();
        Self { off }
    }

    /// Whether events and spans of `target` are turned off.
    pub(crate) fn is_off(&self, target: &str) -> bool {
        self.off.iter().any(|c| in_crate(target, c))
    }
}

/// Whether `target` is `krate` or a module of it.
pub(crate) fn in_crate(target: &str, krate: &str) -> bool {
    target
        .strip_prefix(krate)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Whether one of `directives` names `krate` (or one of its modules) as its
/// target: `hyper=debug`, `hyper::proto=trace`, `hyper[conn]=info`.
fn names(directives: &str, krate: &str) -> bool {
    directives.split(',').any(|d| {
        let target = d.trim().split(['=', '[']).next().unwrap_or_default();
        in_crate(target, krate)
    })
}

impl<S: tracing::Subscriber> Layer<S> for TransportFilter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.is_off(metadata.target()) {
            Interest::never()
        } else {
            Interest::always()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        !self.is_off(metadata.target())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_are_matched_exactly_not_by_prefix() {
        let f = TransportFilter::new("info");
        for off in [
            "tower",
            "tower::buffer::worker",
            "hyper",
            "hyper::proto::h1",
            "hyper_util::client::legacy",
            "reqwest::connect",
            "h2::codec",
            "opentelemetry_sdk",
            "tonic::transport",
        ] {
            assert!(f.is_off(off), "{off} is transport");
        }
        for on in [
            "tower_http::trace::on_response",
            "reqwest_tracing::reqwest_otel_span_builder",
            "reqwest_middleware",
            "hyper_rustls",
            "h2o",
            "tonic_health",
            "aws_smithy_runtime::client::orchestrator",
            "aws_smithy_http_client::hyper_1_0",
            "aws_sdk_s3::operation::put_object",
            "aws_config::meta::region",
            "towers",
            "semtel::integrations::postgres",
        ] {
            assert!(!f.is_off(on), "{on} is not transport");
        }
    }

    #[test]
    fn a_crate_the_user_names_is_not_turned_off() {
        let f = TransportFilter::new("info,hyper=debug, tower::buffer=trace");
        assert!(!f.is_off("hyper::proto"));
        assert!(!f.is_off("tower"));
        assert!(
            f.is_off("hyper_util::client"),
            "hyper_util is another crate"
        );
        assert!(f.is_off("reqwest"));
        let f = TransportFilter::new("hyper[conn]=info,reqwest_tracing=debug");
        assert!(!f.is_off("hyper"));
        assert!(
            f.is_off("reqwest::async_impl"),
            "reqwest_tracing names another crate"
        );
    }
}
