//! The HTTP client middleware against real servers on loopback: an
//! in-process hyper server (success, 404, 500 with a retry, a response that
//! never comes for the timeout), a closed port (connection refused), and a
//! second process (a Python HTTP server) that echoes the `traceparent` it
//! received. Also: library spans (reqwest-tracing, tower-http, the AWS
//! SDK's targets) pass semtel's default filter, transport crates do not.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use semtel::integrations::reqwest::TraceMiddleware;
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode as OtelStatus;
use semtel_tests::{LiveCheck, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(20);

/// Values that must never be exported.
const PASSWORD: &str = "pw-secret-5521";
const SIGNATURE: &str = "sig-secret-9043";

/// `traceparent` headers the in-process server received, by path.
type Seen = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// Serves `/ok` (200), `/missing` (404), `/fail` (500) and `/hang` (never
/// answers) on a loopback port of the current runtime.
async fn serve() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let seen_by_server = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen_by_server);
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let seen = Arc::clone(&seen);
                async move {
                    let path = req.uri().path().to_owned();
                    if let Some(tp) = req.headers().get("traceparent") {
                        seen.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(path.clone())
                            .or_default()
                            .push(tp.to_str().unwrap_or_default().to_owned());
                    }
                    let status = match path.as_str() {
                        "/ok" => StatusCode::OK,
                        "/missing" => StatusCode::NOT_FOUND,
                        "/hang" => std::future::pending().await,
                        _ => StatusCode::INTERNAL_SERVER_ERROR,
                    };
                    let mut response = Response::new(Full::new(Bytes::from_static(b"body")));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (addr, seen)
}

/// A second process: a Python HTTP server on a loopback port that answers
/// every GET with the `traceparent` it received. Killed by PID when dropped.
struct EchoServer {
    child: Child,
    port: u16,
}

const ECHO: &str = r"
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.headers.get('traceparent', '').encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
";

impl EchoServer {
    fn start() -> Self {
        let mut child = Command::new("python3")
            .args(["-c", ECHO])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(WAIT)
            .expect("the echo server prints its port");
        let port = line.trim().parse().expect("a port number");
        Self { child, port }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a request again when the first attempt answered 500, as retry
/// middlewares do (placed before the trace middleware).
struct RetryOnce;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RetryOnce {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = req.try_clone();
        let response = next.clone().run(req, extensions).await?;
        match again {
            Some(req) if response.status().is_server_error() => next.run(req, extensions).await,
            _ => Ok(response),
        }
    }
}

/// A reqwest client. semtel's `tls` feature builds reqwest with rustls and no
/// crypto provider of its own: the process default is set here, as an
/// application does.
fn reqwest_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn session(rx: &Receiver) -> semtel::Session {
    common::grpc_telemetry("http-client", &rx.grpc_endpoint())
}

/// What each call returned: a status, or the failure.
#[derive(Debug, Default)]
struct Outcomes {
    echoed: String,
}

#[semtel::stage(pipeline = "fetch", kind = source)]
async fn fetch(base: &str, echo_port: u16, closed_port: u16) -> Outcomes {
    let client = reqwest_middleware::ClientBuilder::new(reqwest_client())
        .with(RetryOnce)
        .with(TraceMiddleware::new())
        .build();
    let status = |r: reqwest_middleware::Result<reqwest::Response>| r.map(|r| r.status().as_u16());
    assert_eq!(
        status(client.get(format!("{base}/ok")).send().await).ok(),
        Some(200)
    );
    assert_eq!(
        status(client.get(format!("{base}/missing")).send().await).ok(),
        Some(404)
    );
    assert_eq!(
        status(client.get(format!("{base}/fail")).send().await).ok(),
        Some(500)
    );
    let with_secrets = base.replace("http://", &format!("http://etl:{PASSWORD}@"));
    let url = format!("{with_secrets}/ok?page=1&sig={SIGNATURE}");
    assert_eq!(status(client.get(url).send().await).ok(), Some(200));
    let refused = client
        .get(format!("http://127.0.0.1:{closed_port}/nothing"))
        .send()
        .await;
    assert!(refused.is_err());
    let hang = client
        .get(format!("{base}/hang"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hang.is_err_and(|e| e.is_timeout()));
    let purge = reqwest::Method::from_bytes(b"PURGE").expect("a method");
    assert_eq!(
        status(client.request(purge, format!("{base}/ok")).send().await).ok(),
        Some(200)
    );
    let echoed = client
        .get(format!("http://127.0.0.1:{echo_port}/echo"))
        .send()
        .await
        .expect("the echo server answers")
        .text()
        .await
        .expect("a body");
    Outcomes { echoed }
}

fn find<'a>(spans: &'a [ReceivedSpan], url_suffix: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.attr_str("url.full")
                .is_some_and(|u| u.ends_with(url_suffix))
        })
        .collect()
}

#[test]
fn requests_are_client_spans_with_status_errors_retries_redaction_and_propagation() {
    let echo = EchoServer::start();
    let closed = common::closed_port();
    let rx = Receiver::start();
    let s = session(&rx);
    let (outcomes, seen, addr) = tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime().block_on(async {
            let (addr, seen) = serve().await;
            let outcomes = fetch(&format!("http://{addr}"), echo.port, closed).await;
            (outcomes, seen, addr)
        })
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the stage, its requests and the metric", |s| {
        s.span("fetch").is_some() && s.metric("http.client.request.duration").is_some()
    });
    let spans = snap.spans();
    let stage = snap.span("fetch").expect("the stage");
    let gets: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name() == "GET").collect();
    assert_eq!(gets.len(), 8, "one span per attempt: {snap}");
    for span in &gets {
        assert_eq!(span.kind(), SpanKind::Client);
        assert!(span.is_child_of(&stage));
        assert_eq!(span.attr_str("http.request.method"), Some("GET"));
        assert_eq!(span.attr_str("server.address"), Some("127.0.0.1"));
    }

    // Success: status code, port, protocol, and the injected context
    // arriving at the server.
    let ok: Vec<&ReceivedSpan> = find(&spans, &format!("{}/ok", addr.port()))
        .into_iter()
        .filter(|s| s.name() == "GET")
        .collect();
    assert_eq!(ok.len(), 1);
    let ok = ok[0];
    assert_eq!(
        ok.attr_str("url.full"),
        Some(format!("http://{addr}/ok").as_str())
    );
    assert_eq!(ok.attr_i64("http.response.status_code"), Some(200));
    assert_eq!(ok.attr_i64("server.port"), Some(i64::from(addr.port())));
    assert_eq!(ok.attr_str("network.protocol.version"), Some("1.1"));
    assert_eq!(ok.status_code(), OtelStatus::Unset);
    let expected = format!("00-{}-{}-01", ok.trace_id(), ok.span_id());
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert!(
        seen["/ok"].contains(&expected),
        "{expected} in {:?}",
        seen["/ok"]
    );

    // Statuses of 400 and more are errors; the retry is a second span.
    let missing = find(&spans, "/missing")[0];
    assert_eq!(missing.status_code(), OtelStatus::Error);
    assert_eq!(missing.attr_str("error.type"), Some("404"));
    let fails = find(&spans, "/fail");
    assert_eq!(fails.len(), 2);
    assert!(
        fails
            .iter()
            .all(|f| f.attr_str("error.type") == Some("500"))
    );
    let resends: Vec<Option<i64>> = fails
        .iter()
        .map(|f| f.attr_i64("http.request.resend_count"))
        .collect();
    assert!(
        resends.contains(&None) && resends.contains(&Some(1)),
        "{resends:?}"
    );
    assert_eq!(seen["/fail"].len(), 2, "each attempt carries a context");
    assert_ne!(seen["/fail"][0], seen["/fail"][1], "each its own span");

    // Failures without a response.
    let refused = find(&spans, "/nothing")[0];
    assert_eq!(refused.attr_str("error.type"), Some("connection_refused"));
    assert_eq!(refused.status_code(), OtelStatus::Error);
    assert!(refused.attr("http.response.status_code").is_none());
    let hang = find(&spans, "/hang")[0];
    assert_eq!(hang.attr_str("error.type"), Some("timeout"));

    // Redaction.
    let redacted = find(&spans, "/ok?page=1&sig=REDACTED");
    assert_eq!(redacted.len(), 1, "{snap}");
    assert_eq!(
        redacted[0].attr_str("url.full"),
        // (reqwest itself moves credentials from the URL into an
        // Authorization header, which is not recorded.)
        Some(format!("http://{addr}/ok?page=1&sig=REDACTED").as_str())
    );
    let everything = format!("{snap:?}");
    assert!(!everything.contains(PASSWORD) && !everything.contains(SIGNATURE));

    // A method the conventions do not know.
    let other = snap.span("HTTP").expect("the PURGE request's span");
    assert_eq!(other.attr_str("http.request.method"), Some("_OTHER"));
    assert_eq!(
        other.attr_str("http.request.method_original"),
        Some("PURGE")
    );

    // The second process received this span's context.
    let echoed = find(&spans, "/echo")[0];
    assert_eq!(
        outcomes.echoed,
        format!("00-{}-{}-01", echoed.trace_id(), echoed.span_id())
    );

    // One duration value per attempt, low-cardinality attributes only.
    let metric = snap
        .metric("http.client.request.duration")
        .expect("http.client.request.duration");
    assert_eq!(metric.unit(), "s");
    let points = metric.histogram_points();
    assert_eq!(points.iter().map(|p| p.count).sum::<u64>(), 9);
    for p in points {
        assert!(semtel_tests::attr(&p.attributes, "url.full").is_none());
        assert!(semtel_tests::attr_str(&p.attributes, "http.request.method").is_some());
    }
    assert!(
        points
            .iter()
            .any(|p| { semtel_tests::attr_str(&p.attributes, "error.type") == Some("timeout") })
    );
    assert!(points.iter().any(|p| {
        semtel_tests::attr_i64(&p.attributes, "http.response.status_code") == Some(404)
    }));
    let mut check = LiveCheck::new();
    check.assert_clean(&snap);
    assert!(check.checked_attributes().contains("url.full"));
    assert!(
        check
            .checked_metrics()
            .contains("http.client.request.duration")
    );
}

#[test]
fn library_spans_pass_the_default_filter_and_transport_crates_do_not() {
    let rx = Receiver::start();
    let s = session(&rx);
    tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime().block_on(async {
            let (addr, _) = serve().await;
            // reqwest-tracing's span (target `reqwest_tracing::…`).
            let client = reqwest_middleware::ClientBuilder::new(reqwest_client())
                .with(reqwest_tracing::TracingMiddleware::default())
                .build();
            let response = client
                .get(format!("http://{addr}/ok"))
                .header("user-agent", "semtel-tests")
                .send()
                .await
                .expect("a response");
            assert_eq!(response.status(), 200);
            // tower-http's span (target `tower_http::trace::…`).
            use tower::ServiceExt as _;
            let service = tower::ServiceBuilder::new()
                .layer(
                    tower_http::trace::TraceLayer::new_for_http().make_span_with(
                        tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
                    ),
                )
                .service(tower::service_fn(|_req: http::Request<String>| async {
                    Ok::<_, Infallible>(http::Response::new(String::from("ok")))
                }));
            let response = service
                .oneshot(http::Request::new(String::new()))
                .await
                .expect("a response");
            assert_eq!(response.status(), 200);
        });
        // The AWS SDK's targets.
        tracing::info_span!(target: "aws_smithy_runtime::client::orchestrator", "invoke").in_scope(
            || {
                tracing::info_span!(target: "aws_sdk_s3::operation::put_object", "PutObject")
                    .in_scope(|| {});
            },
        );
        // Transport crates stay off, however their names begin.
        tracing::info_span!(target: "hyper::proto::h1", "transport hyper").in_scope(|| {});
        tracing::info_span!(target: "tower", "transport tower").in_scope(|| {});
        tracing::info_span!(target: "reqwest::connect", "transport reqwest").in_scope(|| {});
        tracing::info_span!("marker").in_scope(|| {});
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the marker span", |s| s.span("marker").is_some());
    let spans = snap.spans();
    let names: Vec<&str> = spans.iter().map(ReceivedSpan::name).collect();
    let reqwest_tracing = spans
        .iter()
        .find(|s| s.attr_str("user_agent.original") == Some("semtel-tests"))
        .unwrap_or_else(|| panic!("reqwest-tracing's span in {names:?}"));
    assert_eq!(reqwest_tracing.kind(), SpanKind::Client);
    assert!(names.contains(&"request"), "tower-http's span in {names:?}");
    let invoke = snap.span("invoke").expect("aws_smithy_runtime's span");
    let put = snap.span("PutObject").expect("aws_sdk_s3's span");
    assert!(put.is_child_of(&invoke));
    for off in ["transport hyper", "transport tower", "transport reqwest"] {
        assert!(!names.contains(&off), "{off} exported: {names:?}");
    }
}
