//! HTTP clients: a [reqwest-middleware] middleware that makes every request
//! a client span by the HTTP conventions, injects the trace context into its
//! headers and records `http.client.request.duration` (feature
//! `reqwest-middleware`).
//!
//! ```no_run
//! # async fn run() -> reqwest_middleware::Result<()> {
//! use semtel::integrations::reqwest::TraceMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TraceMiddleware::new())
//!     .build();
//! // A span `GET`: http.request.method=GET, url.full, server.address,
//! // server.port, http.response.status_code, network.protocol.version, and
//! // a `traceparent` header on the request.
//! let response = client.get("https://inventory.internal/items?page=2").send().await?;
//! # Ok(()) }
//! ```
//!
//! The span covers one attempt, from sending to the response's headers. A
//! retry middleware placed before this one (`.with(retry).with(trace)`)
//! gives each attempt its own span, the later ones with
//! `http.request.resend_count`. A status of 400 or more, or an error
//! (`error.type` `timeout`, `connection_refused`, …), gives the span an
//! error status. `url.full` never carries credentials
//! (`https://REDACTED:REDACTED@host/`) nor the values of signature query
//! parameters (`sig`, `Signature`, `X-Goog-Signature`, `AWSAccessKeyId`,
//! and any added with [`TraceMiddleware::redact_query_param`]).
//!
//! [reqwest-middleware]: https://docs.rs/reqwest-middleware

use reqwest::{Request, Response, Url};
use reqwest_middleware::{Next, Result};
use semtel_conventions::attribute;
use semtel_conventions::metric;
use tracing::Instrument as _;

use super::Operation;
use super::attrs::snake_case;

/// What replaces a redacted value in `url.full`, as the conventions say.
const REDACTED: &str = "REDACTED";

/// Query parameters whose values the HTTP conventions redact by default.
const SENSITIVE_QUERY: &[&str] = &["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// The middleware (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct TraceMiddleware {
    redact_query: Vec<String>,
}

/// How many times this request was sent before, kept in its extensions
/// across a retry middleware's attempts.
#[derive(Debug, Clone, Copy)]
struct Sent(u32);

impl TraceMiddleware {
    /// The middleware with the conventions' default redaction.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Also redacts the value of query parameter `name` (exact, case
    /// sensitive) in `url.full`, e.g. `token`.
    ///
    /// ```
    /// let trace = semtel::integrations::reqwest::TraceMiddleware::new()
    ///     .redact_query_param("token");
    /// ```
    #[must_use]
    pub fn redact_query_param(mut self, name: impl Into<String>) -> Self {
        self.redact_query.push(name.into());
        self
    }

    /// `url` as `url.full` shows it: no credentials, no sensitive query
    /// values.
    fn full_url(&self, url: &Url) -> String {
        let mut url = url.clone();
        if !url.username().is_empty() || url.password().is_some() {
            let _ = url.set_username(REDACTED);
            let _ = url.set_password(Some(REDACTED));
        }
        if let Some(query) = url.query() {
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| {
                    let key = pair.split('=').next().unwrap_or_default();
                    let sensitive = SENSITIVE_QUERY.contains(&key)
                        || self.redact_query.iter().any(|k| k == key);
                    if sensitive && pair.contains('=') {
                        format!("{key}={REDACTED}")
                    } else {
                        pair.to_owned()
                    }
                })
                .collect();
            url.set_query(Some(&redacted.join("&")));
        }
        url.to_string()
    }
}

const KNOWN_METHODS: &[&str] = &[
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY",
];

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for TraceMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let sent = extensions.get::<Sent>().map_or(0, |s| s.0);
        extensions.insert(Sent(sent.saturating_add(1)));

        let method = req.method().as_str();
        let known = KNOWN_METHODS.contains(&method);
        let name = if known { method } else { "HTTP" };
        let span = tracing::info_span!("http.client", otel.name = name, otel.kind = "client");
        let mut op = Operation::start(span, metric::HTTP_CLIENT_REQUEST_DURATION);
        if known {
            op.set(attribute::HTTP_REQUEST_METHOD, method);
        } else {
            op.set(
                attribute::HTTP_REQUEST_METHOD,
                attribute::HttpRequestMethod::Other.as_str(),
            )
            .set(attribute::HTTP_REQUEST_METHOD_ORIGINAL, method);
        }
        let url = req.url();
        op.set(attribute::URL_FULL, &self.full_url(url))
            .set(attribute::SERVER_ADDRESS, &url.host_str())
            .set(
                attribute::SERVER_PORT,
                &url.port_or_known_default().map(i64::from),
            );
        if sent > 0 {
            op.set(attribute::HTTP_REQUEST_RESEND_COUNT, &i64::from(sent));
        }
        crate::propagation::inject_context(&op.context(), req.headers_mut());

        let result = next
            .run(req, extensions)
            .instrument(op.span().clone())
            .await;
        match &result {
            Ok(response) => {
                let status = response.status();
                op.set(
                    attribute::HTTP_RESPONSE_STATUS_CODE,
                    &i64::from(status.as_u16()),
                );
                if let Some(version) = protocol_version(response.version()) {
                    op.set(attribute::NETWORK_PROTOCOL_VERSION, version);
                }
                if status.as_u16() >= 400 {
                    op.fail(status.as_str(), None);
                }
            }
            Err(e) => op.fail(&error_type(e), None),
        }
        op.finish();
        result
    }
}

fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// A low-cardinality `error.type` for a failed request (its description
/// is not exported: reqwest's names the URL).
fn error_type(error: &reqwest_middleware::Error) -> String {
    let e = match error {
        reqwest_middleware::Error::Reqwest(e) => e,
        reqwest_middleware::Error::Middleware(_) => return "middleware".to_owned(),
    };
    if e.is_timeout() {
        return "timeout".to_owned();
    }
    if e.is_connect() {
        // The I/O error underneath says which: `connection_refused`, …
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return snake_case(&format!("{:?}", io.kind()));
            }
            source = s.source();
        }
        return "connect".to_owned();
    }
    let kind = if e.is_redirect() {
        "redirect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else if e.is_builder() {
        "builder"
    } else if e.is_request() {
        "request"
    } else {
        attribute::ErrorType::Other.as_str()
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_has_no_credentials_and_no_signature_values() {
        let m = TraceMiddleware::new().redact_query_param("token");
        let url: Url = "https://alice:s3cret@api.example.com:8443/v1/items?page=2&sig=abc&token=t0k&X-Goog-Signature=zz&q"
            .parse()
            .unwrap();
        assert_eq!(
            m.full_url(&url),
            "https://REDACTED:REDACTED@api.example.com:8443/v1/items?page=2&sig=REDACTED&token=REDACTED&X-Goog-Signature=REDACTED&q"
        );
        let url: Url = "http://127.0.0.1/a?b=1".parse().unwrap();
        assert_eq!(m.full_url(&url), "http://127.0.0.1/a?b=1");
        let url: Url = "http://bob@h/".parse().unwrap();
        assert_eq!(m.full_url(&url), "http://REDACTED:REDACTED@h/");
    }
}
