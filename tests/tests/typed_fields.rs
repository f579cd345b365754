//! Fields named by their semantic-convention id arrive over OTLP with the
//! registry's type, whatever Rust type they were given as: integers of any
//! width as ints, floats and integers of a `double` as doubles, generated
//! and derived enums as their strings; on a stage's span and through
//! `record(..)` of a `#[derive(Telemetry)]` value.

use std::collections::HashMap;
use std::time::Duration;

use semtel::conventions::attribute::HttpRequestMethod;
use semtel_tests::Receiver;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, semtel::Telemetry)]
enum Verb {
    #[telemetry(rename = "PURGE")]
    Purge,
}

#[derive(semtel::Telemetry)]
struct Peer {
    #[telemetry(name = "server.address")]
    host: String,
    #[telemetry(name = "client.port")]
    port: u32,
    #[telemetry(name = "http.request.method_original")]
    verb: Verb,
    #[telemetry(name = "http.request.method")]
    method: HttpRequestMethod,
    #[telemetry(name = "url.scheme")]
    scheme: Option<&'static str>,
}

#[semtel::stage(
    pipeline = "typed",
    fields(
        server.port = port,
        network.peer.port = Some(peer_port),
        http.response.status_code = status,
        aws.dynamodb.provisioned_read_capacity = capacity,
        aws.dynamodb.provisioned_write_capacity = peer_port,
    ),
    record(peer),
)]
fn call(port: u16, peer_port: u32, status: &i32, capacity: f32, peer: &Peer) {}

#[test]
fn registry_typed_fields_arrive_with_their_registry_types() {
    let rx = Receiver::start();
    let vars: HashMap<&str, String> = [
        ("OTEL_SERVICE_NAME", "typed-fields".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
    ]
    .into_iter()
    .collect();
    let s = semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .build()
        .expect("valid configuration");
    let peer = Peer {
        host: "db.local".into(),
        port: 51000,
        verb: Verb::Purge,
        method: HttpRequestMethod::Get,
        scheme: None,
    };
    tracing::dispatcher::with_default(s.dispatch(), || call(5432, 40_000, &404, 2.5, &peer));
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(WAIT, "the stage span", |s| !s.spans().is_empty());
    let span = snap
        .spans()
        .into_iter()
        .find(|s| s.name() == "call")
        .unwrap_or_else(|| panic!("no `call` span in {snap}"));
    assert_eq!(span.attr_i64("server.port"), Some(5432), "{snap}");
    assert_eq!(span.attr_i64("network.peer.port"), Some(40_000), "{snap}");
    assert_eq!(
        span.attr_i64("http.response.status_code"),
        Some(404),
        "{snap}"
    );
    assert_eq!(
        span.attr_f64("aws.dynamodb.provisioned_read_capacity"),
        Some(2.5),
        "{snap}"
    );
    assert_eq!(
        span.attr_f64("aws.dynamodb.provisioned_write_capacity"),
        Some(40_000.0),
        "{snap}"
    );
    assert_eq!(span.attr_str("server.address"), Some("db.local"), "{snap}");
    assert_eq!(span.attr_i64("client.port"), Some(51000), "{snap}");
    assert_eq!(
        span.attr_str("http.request.method_original"),
        Some("PURGE"),
        "{snap}"
    );
    assert_eq!(span.attr_str("http.request.method"), Some("GET"), "{snap}");
    assert_eq!(span.attr("url.scheme"), None, "{snap}");
}
