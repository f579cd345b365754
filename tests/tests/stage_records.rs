//! What a stage's span and the log records around it carry, over OTLP to the
//! in-process receiver (and, for spans, to an SDK span exporter given in
//! code): one value per attribute key, `error.type` of I/O errors, the
//! time and event name of log records, the headers injected into messages.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::Value;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use semtel_tests::{Receiver, attr_str};

/// Keeps every span it is given.
#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// A session exporting to `rx` over `protocol`, and to `spans`.
fn session(rx: &Receiver, protocol: &str, spans: &Collect) -> semtel::Session {
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    common::builder(&[
        ("OTEL_SERVICE_NAME", "stage-records"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .span_exporter("collect", spans.clone())
    .build()
    .expect("valid configuration")
}

#[derive(semtel::Telemetry)]
struct Peer {
    #[telemetry(name = "server.address")]
    host: String,
    #[telemetry(name = "server.port")]
    port: u16,
}

/// `server.port` is a literal field (on the call site), `server.address` a
/// field evaluated per call; `record(peer)` sets both again, and
/// `unchecked("acme.try")` is set twice in `fields`.
#[semtel::stage(
    fields(server.port = 1, server.address = host, unchecked("acme.try") = 1, unchecked("acme.try") = 2),
    record(peer)
)]
fn connect(host: &str, peer: &Peer) {}

#[test]
fn a_key_set_twice_is_exported_once_with_the_later_value() {
    for protocol in ["http/protobuf", "grpc"] {
        let rx = Receiver::start();
        let collect = Collect::default();
        let s = session(&rx, protocol, &collect);
        tracing::dispatcher::with_default(s.dispatch(), || {
            let peer = Peer {
                host: "db-2".into(),
                port: 5433,
            };
            connect("db-1", &peer);
        });
        let report = s.shutdown();
        assert_eq!(report.lost(), 0, "{report}");
        let snap = rx.expect(common::WAIT, "a span", |s| !s.spans().is_empty());

        let span = snap.span("connect").expect("connect");
        let keys: Vec<&str> = span
            .span
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(keys.len(), unique.len(), "{protocol}: keys {keys:?}");
        assert_eq!(span.attr_i64("server.port"), Some(5433), "{protocol}");
        assert_eq!(span.attr_str("server.address"), Some("db-2"), "{protocol}");
        assert_eq!(span.attr_i64("acme.try"), Some(2), "{protocol}");

        // The SDK exporter's `SpanData` alike.
        let spans = collect.0.lock().unwrap();
        let connect = spans.iter().find(|s| s.name == "connect").expect("connect");
        let values = |key: &str| -> Vec<Value> {
            connect
                .attributes
                .iter()
                .filter(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
                .collect()
        };
        assert_eq!(values("server.port"), [Value::I64(5433)]);
        assert_eq!(values("server.address"), [Value::from("db-2")]);
        assert_eq!(values("acme.try"), [Value::I64(2)]);
        assert_eq!(
            connect.attributes.len(),
            unique.len(),
            "{:?}",
            connect.attributes
        );
    }
}

#[semtel::stage]
fn open(kind: std::io::ErrorKind) -> std::io::Result<()> {
    Err(std::io::Error::new(kind, "refused by the test"))
}

/// An error wrapping an I/O error: its own type decides.
#[derive(Debug)]
struct Wrapped(std::io::Error);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wrapped: {}", self.0)
    }
}

#[semtel::stage]
fn open_wrapped() -> Result<(), Wrapped> {
    Err(Wrapped(std::io::ErrorKind::NotFound.into()))
}

#[test]
fn an_io_error_type_is_its_kind_in_snake_case() {
    let rx = Receiver::start();
    let s = session(&rx, "http/protobuf", &Collect::default());
    tracing::dispatcher::with_default(s.dispatch(), || {
        use std::io::ErrorKind;
        for kind in [
            ErrorKind::TimedOut,
            ErrorKind::NotFound,
            ErrorKind::ConnectionRefused,
            ErrorKind::UnexpectedEof,
            ErrorKind::Other,
        ] {
            assert_eq!(open(kind).unwrap_err().kind(), kind);
        }
        assert!(open_wrapped().is_err());
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(common::WAIT, "6 spans", |s| s.spans().len() >= 6);
    let spans = snap.spans();
    let mut types: Vec<&str> = spans
        .iter()
        .filter(|s| s.name() == "open")
        .map(|s| s.attr_str("error.type").unwrap_or_default())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "connection_refused",
            "not_found",
            "other",
            "timed_out",
            "unexpected_eof"
        ]
    );
    // The exception's type is the public path, not `type_name`'s private one.
    for span in spans.iter().filter(|s| s.name() == "open") {
        let exception = span
            .span
            .events
            .iter()
            .find(|e| e.name == "exception")
            .expect("an exception event");
        assert_eq!(
            attr_str(&exception.attributes, "exception.type"),
            Some("std::io::Error")
        );
    }
    let wrapped = snap.span("open_wrapped").expect("open_wrapped");
    assert_eq!(
        wrapped.attr_str("error.type"),
        Some("stage_records::Wrapped")
    );
    // The failure's log record says the same.
    let logged: Vec<_> = snap
        .logs()
        .iter()
        .filter(|l| l.body_str() == Some("stage failed"))
        .map(|l| l.attr_str("error.type").unwrap_or_default().to_owned())
        .collect();
    assert!(logged.iter().any(|t| t == "timed_out"), "{logged:?}");
}

#[test]
fn log_records_carry_their_time_and_an_event_name_only_when_named() {
    let rx = Receiver::start();
    let s = session(&rx, "http/protobuf", &Collect::default());
    let nanos =
        |t: SystemTime| u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap();
    let before = nanos(SystemTime::now());
    tracing::dispatcher::with_default(s.dispatch(), || {
        tracing::info!(records = 3, "unnamed");
        tracing::info!(name: "order.rejected", reason = "late", "named");
        // semtel's own record of a failed call.
        assert!(open(std::io::ErrorKind::TimedOut).is_err());
    });
    let after = nanos(SystemTime::now());
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(common::WAIT, "3 log records", |s| s.logs().len() >= 3);
    let logs = snap.logs();
    let log = |body: &str| {
        logs.iter()
            .find(|l| l.body_str() == Some(body))
            .unwrap_or_else(|| panic!("a log record {body:?} in {snap}"))
    };
    for body in ["unnamed", "named", "stage failed"] {
        let r = &log(body).record;
        assert!(
            (before..=after).contains(&r.time_unix_nano),
            "{body}: timeUnixNano {} outside {before}..={after}",
            r.time_unix_nano
        );
        assert!(r.observed_time_unix_nano >= r.time_unix_nano, "{body}");
        // No build path anywhere on the record.
        assert!(!r.event_name.contains(".rs"), "{body}: {:?}", r.event_name);
        assert!(
            r.attributes.iter().all(|kv| !kv.key.starts_with("code.")),
            "{body}"
        );
    }
    assert_eq!(log("unnamed").record.event_name, "");
    assert_eq!(log("stage failed").record.event_name, "");
    assert_eq!(log("named").record.event_name, "order.rejected");
    assert_eq!(log("named").attr_str("reason"), Some("late"));
}

#[semtel::stage]
fn send(headers: &mut Vec<(String, String)>, map: &mut http::HeaderMap) {
    semtel::propagation::inject(headers);
    semtel::propagation::inject(map);
}

#[test]
fn injected_headers_leave_out_an_empty_tracestate() {
    let rx = Receiver::start();
    let s = session(&rx, "http/protobuf", &Collect::default());
    // Headers a message had before: a stale trace state must not stay.
    let mut headers = vec![("tracestate".to_owned(), "stale=1".to_owned())];
    let mut map = http::HeaderMap::new();
    map.insert("tracestate", http::HeaderValue::from_static("stale=1"));
    tracing::dispatcher::with_default(s.dispatch(), || send(&mut headers, &mut map));
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["traceparent"], "{headers:?}");
    assert!(headers.iter().all(|(_, v)| !v.is_empty()));
    let names: Vec<&str> = map.keys().map(http::HeaderName::as_str).collect();
    assert_eq!(names, ["traceparent"], "{map:?}");
    drop(s.shutdown());
}

#[test]
fn unsigned_fields_of_tracing_spans_are_exported_as_ints() {
    let rx = Receiver::start();
    let s = session(&rx, "http/protobuf", &Collect::default());
    tracing::dispatcher::with_default(s.dispatch(), || {
        let span = tracing::info_span!(
            "query",
            server.port = 5432_u16,
            batch = 7_usize,
            wide = -5_i128,
            huge = u64::MAX,
            db.system.name = "postgresql",
            ratio = 0.5,
            kind = ?std::io::ErrorKind::NotFound,
            rows = tracing::field::Empty,
        );
        span.record("rows", 3_u32);
        span.in_scope(|| tracing::info!(port = 5432_u16, "inside"));
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(common::WAIT, "the span", |s| s.span("query").is_some());
    let span = snap.span("query").expect("query");
    assert_eq!(span.attr_i64("server.port"), Some(5432), "{snap}");
    assert_eq!(span.attr_i64("batch"), Some(7));
    assert_eq!(span.attr_i64("wide"), Some(-5));
    assert_eq!(span.attr_i64("rows"), Some(3));
    // Above i64::MAX: the decimal string, as before.
    assert_eq!(span.attr_str("huge"), Some("18446744073709551615"));
    // The other fields as they were.
    assert_eq!(span.attr_str("db.system.name"), Some("postgresql"));
    assert_eq!(span.attr_f64("ratio"), Some(0.5));
    assert_eq!(span.attr_str("kind"), Some("NotFound"));
    assert_eq!(
        span.kind(),
        semtel_tests::proto::tonic::trace::v1::span::SpanKind::Internal
    );
    // The event inside still belongs to the span.
    let log = snap
        .logs()
        .into_iter()
        .find(|l| l.body_str() == Some("inside"))
        .expect("log");
    assert!(log.is_in(&span));
    assert_eq!(log.attr_i64("port"), Some(5432));
}
