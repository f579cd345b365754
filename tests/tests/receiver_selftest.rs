//! Tests of the in-process OTLP receiver itself: every transport decodes, headers
//! and gzip are recorded, stop really closes the ports, hold withholds answers.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prost::Message as _;
use semtel_tests::client::{
    GrpcOptions, export_logs_grpc, export_metrics_grpc, export_traces_grpc, gzip, http_post,
};
use semtel_tests::fixtures::{self, CHILD_ID, PARENT_ID, TRACE_ID};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{Receiver, Signal, Transport};

const WAIT: Duration = Duration::from_secs(10);

/// Asserts the two spans of `fixtures::traces` arrived intact.
fn assert_fixture_spans(rx: &Receiver, service: &str, transport: Transport) {
    let snapshot = rx.expect(WAIT, "the fixture's 2 spans", |s| s.spans().len() >= 2);
    let parent = snapshot.span("parent").expect("parent span");
    let child = snapshot.span("child").expect("child span");
    for span in [&parent, &child] {
        assert_eq!(span.transport, transport);
        assert_eq!(span.trace_id(), TRACE_ID);
        assert_eq!(span.resource_str("service.name"), Some(service));
        assert_eq!(span.scope.name, "semtel-tests");
    }
    assert_eq!(parent.span_id(), PARENT_ID);
    assert_eq!(parent.parent_span_id(), None);
    assert_eq!(parent.kind(), SpanKind::Server);
    assert_eq!(child.span_id(), CHILD_ID);
    assert_eq!(child.parent_span_id().as_deref(), Some(PARENT_ID));
    assert!(child.is_child_of(&parent));
    assert_eq!(child.kind(), SpanKind::Internal);
    assert_eq!(child.status_code(), StatusCode::Ok);
    assert_eq!(child.attr_i64("records"), Some(3));
    assert_eq!(child.event_names(), ["checkpoint"]);
}

#[test]
fn grpc_traces_arrive_decoded_with_metadata_and_gzip() {
    let rx = Receiver::start();
    let options = GrpcOptions {
        gzip: true,
        metadata: vec![("x-tenant".to_owned(), "blue".to_owned())],
    };
    export_traces_grpc(
        &rx.grpc_endpoint(),
        fixtures::traces("grpc-svc", "parent", "child"),
        &options,
    )
    .expect("export over gRPC");
    assert_fixture_spans(&rx, "grpc-svc", Transport::Grpc);

    let requests = rx.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].signal(), Signal::Traces);
    assert!(requests[0].gzip, "grpc-encoding: gzip must be recorded");
    assert_eq!(requests[0].header("x-tenant"), Some("blue"));
    assert_eq!(rx.count(Transport::Grpc), 1);
}

#[test]
fn grpc_logs_and_metrics_arrive_decoded() {
    let rx = Receiver::start();
    let options = GrpcOptions::default();
    export_logs_grpc(
        &rx.grpc_endpoint(),
        fixtures::logs("svc", "loaded"),
        &options,
    )
    .expect("export logs");
    export_metrics_grpc(
        &rx.grpc_endpoint(),
        fixtures::metrics("svc", "pipeline.records", 7),
        &options,
    )
    .expect("export metrics");
    let snapshot = rx.expect(WAIT, "a log and a metric", |s| {
        !s.logs().is_empty() && !s.metrics().is_empty()
    });

    let log = &snapshot.logs()[0];
    assert_eq!(log.body_str(), Some("loaded"));
    assert_eq!(log.severity_number(), 9);
    assert_eq!(log.severity_text(), "INFO");
    assert_eq!(log.trace_id().as_deref(), Some(TRACE_ID));
    assert_eq!(log.span_id().as_deref(), Some(CHILD_ID));
    assert_eq!(log.attr_i64("records"), Some(3));
    assert_eq!(log.resource_str("service.name"), Some("svc"));

    let metric = snapshot.metric("pipeline.records").expect("metric");
    assert_eq!(metric.kind(), "sum");
    assert_eq!(metric.is_monotonic(), Some(true));
    assert_eq!(metric.temporality(), Some(2));
    assert_eq!(metric.unit(), "{record}");
    assert!((metric.total() - 7.0).abs() < f64::EPSILON);
    assert!(!snapshot.requests[0].gzip);
    assert_eq!(snapshot.count_signal(Signal::Logs), 1);
    assert_eq!(snapshot.count_signal(Signal::Metrics), 1);
}

#[test]
fn http_protobuf_traces_arrive_decoded_with_headers() {
    let rx = Receiver::start();
    let body = fixtures::traces("proto-svc", "parent", "child").encode_to_vec();
    let response = http_post(
        rx.http_addr(),
        "/v1/traces",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("X-Tenant", "green"),
        ],
        &body,
    )
    .expect("POST");
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(response.headers.contains(&(
        "content-type".to_owned(),
        "application/x-protobuf".to_owned()
    )));
    assert_fixture_spans(&rx, "proto-svc", Transport::HttpProtobuf);
    let request = &rx.requests()[0];
    assert!(!request.gzip);
    assert_eq!(request.header("x-tenant"), Some("green"));
}

#[test]
fn http_protobuf_gzip_logs_and_metrics_arrive_decoded() {
    let rx = Receiver::start();
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "gzip"),
    ];
    let logs = gzip(&fixtures::logs("svc", "gz log").encode_to_vec());
    let metrics = gzip(&fixtures::metrics("svc", "gz.metric", 2).encode_to_vec());
    assert_eq!(
        http_post(rx.http_addr(), "/v1/logs", &headers, &logs)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        http_post(rx.http_addr(), "/v1/metrics", &headers, &metrics)
            .unwrap()
            .status,
        200
    );
    let snapshot = rx.expect(WAIT, "a log and a metric", |s| s.requests.len() >= 2);
    assert!(snapshot.requests.iter().all(|r| r.gzip));
    assert_eq!(snapshot.logs()[0].body_str(), Some("gz log"));
    assert_eq!(snapshot.metrics()[0].name(), "gz.metric");
    assert_eq!(snapshot.count(Transport::HttpProtobuf), 2);
}

/// OTLP/JSON as the specification writes it: hex ids, 64-bit ints as strings,
/// enums as numbers.
const SPEC_JSON_TRACES: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},"scopeSpans":[{"scope":{"name":"semtel-tests"},"spans":[
 {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173","name":"parent","kind":2,
  "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000002000000"},
 {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"child","kind":1,
  "startTimeUnixNano":"1700000000000500000","endTimeUnixNano":"1700000000001500000",
  "attributes":[{"key":"records","value":{"intValue":"3"}}],
  "events":[{"timeUnixNano":"1700000000001000000","name":"checkpoint"}],"status":{"code":1}}]}]}]}"#;

#[test]
fn http_json_traces_arrive_decoded() {
    let rx = Receiver::start();
    let response = http_post(
        rx.http_addr(),
        "/v1/traces",
        &[("Content-Type", "application/json; charset=utf-8")],
        SPEC_JSON_TRACES.as_bytes(),
    )
    .expect("POST");
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        response
            .headers
            .contains(&("content-type".to_owned(), "application/json".to_owned()))
    );
    assert_fixture_spans(&rx, "json-svc", Transport::HttpJson);
}

#[test]
fn http_json_gzip_logs_and_metrics_arrive_decoded() {
    let rx = Receiver::start();
    let headers = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
    ];
    let logs = gzip(&serde_json::to_vec(&fixtures::logs("svc", "json log")).unwrap());
    let metrics = gzip(&serde_json::to_vec(&fixtures::metrics("svc", "json.metric", 5)).unwrap());
    assert_eq!(
        http_post(rx.http_addr(), "/v1/logs", &headers, &logs)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        http_post(rx.http_addr(), "/v1/metrics", &headers, &metrics)
            .unwrap()
            .status,
        200
    );
    let snapshot = rx.expect(WAIT, "a log and a metric", |s| s.requests.len() >= 2);
    assert!(
        snapshot
            .requests
            .iter()
            .all(|r| r.gzip && r.transport == Transport::HttpJson)
    );
    let log = &snapshot.logs()[0];
    assert_eq!(log.body_str(), Some("json log"));
    assert_eq!(log.trace_id().as_deref(), Some(TRACE_ID));
    let metric = snapshot.metric("json.metric").expect("metric");
    assert!((metric.total() - 5.0).abs() < f64::EPSILON);
}

#[test]
fn http_rejects_what_is_not_otlp() {
    let rx = Receiver::start();
    let addr = rx.http_addr();
    let json = [("Content-Type", "application/json")];
    assert_eq!(
        http_post(addr, "/v1/traces", &[("Content-Type", "text/plain")], b"x")
            .unwrap()
            .status,
        415
    );
    assert_eq!(
        http_post(addr, "/v1/traces", &json, b"{not json")
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        http_post(addr, "/v2/traces", &json, b"{}").unwrap().status,
        404
    );
    let snapshot = rx.expect(WAIT, "3 rejections", |s| s.rejected.len() >= 3);
    assert!(snapshot.requests.is_empty());
    assert!(
        snapshot.rejected[1].reason.contains("OTLP/JSON"),
        "{:?}",
        snapshot.rejected
    );
}

fn assert_refused(addr: std::net::SocketAddr) {
    let error = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .expect_err("a stopped receiver must refuse connections");
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
}

#[test]
fn stop_refuses_connections_and_restart_serves_same_ports() {
    let mut rx = Receiver::start();
    let (grpc, http) = (rx.grpc_addr(), rx.http_addr());
    export_traces_grpc(
        &rx.grpc_endpoint(),
        fixtures::traces("a", "p1", "c1"),
        &GrpcOptions::default(),
    )
    .expect("export before stop");

    rx.stop();
    assert!(!rx.is_running());
    assert_refused(grpc);
    assert_refused(http);
    let failed = export_traces_grpc(
        &rx.grpc_endpoint(),
        fixtures::traces("a", "p2", "c2"),
        &GrpcOptions::default(),
    );
    assert!(failed.is_err(), "export to a stopped receiver must fail");

    rx.restart().expect("restart on the same ports");
    assert_eq!((rx.grpc_addr(), rx.http_addr()), (grpc, http));
    export_traces_grpc(
        &rx.grpc_endpoint(),
        fixtures::traces("a", "p3", "c3"),
        &GrpcOptions::default(),
    )
    .expect("export after restart");
    let body = fixtures::traces("a", "p4", "c4").encode_to_vec();
    let response = http_post(
        http,
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    )
    .expect("POST after restart");
    assert_eq!(response.status, 200);
    // What arrived before the stop is kept.
    let snapshot = rx.expect(WAIT, "spans from before and after the stop", |s| {
        s.spans().len() >= 6
    });
    let names: Vec<String> = snapshot
        .spans()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(names, ["p1", "c1", "p3", "c3", "p4", "c4"]);
}

#[test]
fn start_on_reuses_the_ports_of_a_dropped_receiver() {
    let rx = Receiver::start();
    let (grpc, http) = (rx.grpc_port(), rx.http_port());
    export_traces_grpc(
        &rx.grpc_endpoint(),
        fixtures::traces("a", "p", "c"),
        &GrpcOptions::default(),
    )
    .expect("export");
    drop(rx);
    assert_refused(std::net::SocketAddr::from(([127, 0, 0, 1], grpc)));

    let rx = Receiver::start_on(grpc, http).expect("start on the same ports");
    assert_eq!(rx.grpc_endpoint(), format!("http://127.0.0.1:{grpc}"));
    assert_eq!(rx.http_endpoint(), format!("http://127.0.0.1:{http}"));
    export_traces_grpc(
        &rx.grpc_endpoint(),
        fixtures::traces("b", "p", "c"),
        &GrpcOptions::default(),
    )
    .expect("export to the new receiver");
    let snapshot = rx.expect(WAIT, "2 spans", |s| s.spans().len() >= 2);
    assert_eq!(snapshot.spans()[0].resource_str("service.name"), Some("b"));
}

#[test]
fn hold_withholds_http_and_grpc_answers_until_release() {
    let rx = Receiver::start();
    rx.hold();
    assert!(rx.is_held());
    let (tx, answers) = mpsc::channel();
    let http = rx.http_addr();
    let grpc = rx.grpc_endpoint();
    let tx_http = tx.clone();
    let http_client = std::thread::spawn(move || {
        let body = fixtures::logs("svc", "held").encode_to_vec();
        let response = http_post(
            http,
            "/v1/logs",
            &[("Content-Type", "application/x-protobuf")],
            &body,
        );
        tx_http
            .send((
                "http",
                response.map(|r| r.status).map_err(|e| e.to_string()),
            ))
            .unwrap();
    });
    let grpc_client = std::thread::spawn(move || {
        let result = export_traces_grpc(
            &grpc,
            fixtures::traces("svc", "p", "c"),
            &GrpcOptions::default(),
        );
        tx.send(("grpc", result.map(|()| 200))).unwrap();
    });

    // Both requests are accepted and recorded while held…
    rx.expect(WAIT, "both held requests", |s| s.requests.len() >= 2);
    // …but neither is answered (a bounded wait for an answer that must not come).
    assert!(
        answers.recv_timeout(Duration::from_millis(300)).is_err(),
        "answered while held"
    );

    rx.release();
    let mut got: Vec<_> = (0..2)
        .map(|_| answers.recv_timeout(WAIT).expect("answer after release"))
        .collect();
    got.sort_by_key(|(transport, _)| *transport);
    assert_eq!(got, [("grpc", Ok(200)), ("http", Ok(200))]);
    http_client.join().unwrap();
    grpc_client.join().unwrap();
}

#[test]
fn stop_drops_held_connections() {
    let mut rx = Receiver::start();
    rx.hold();
    let http = rx.http_addr();
    let client = std::thread::spawn(move || {
        let body = fixtures::logs("svc", "held").encode_to_vec();
        http_post(
            http,
            "/v1/logs",
            &[("Content-Type", "application/x-protobuf")],
            &body,
        )
    });
    rx.expect(WAIT, "the held request", |s| !s.requests.is_empty());
    let started = Instant::now();
    rx.stop();
    let result = client.join().unwrap();
    assert!(
        result.is_err(),
        "a stopped receiver must not answer: {result:?}"
    );
    assert!(
        started.elapsed() < WAIT,
        "stop took {:?}",
        started.elapsed()
    );
    assert!(!rx.is_held(), "stop lifts the hold");
}

#[test]
fn wait_for_returns_false_at_its_timeout() {
    let rx = Receiver::start();
    let started = Instant::now();
    assert!(!rx.wait_for(Duration::from_millis(100), |s| !s.spans().is_empty()));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < WAIT,
        "{waited:?}"
    );
}

#[test]
fn clear_forgets_what_was_recorded() {
    let rx = Receiver::start();
    export_logs_grpc(
        &rx.grpc_endpoint(),
        fixtures::logs("svc", "x"),
        &GrpcOptions::default(),
    )
    .unwrap();
    rx.expect(WAIT, "a log", |s| !s.logs().is_empty());
    rx.clear();
    assert!(rx.requests().is_empty() && rx.logs().is_empty());
}

#[test]
fn a_counting_receiver_decodes_and_counts_every_request_but_keeps_none() {
    let rx = Receiver::counting().expect("start the counting receiver");
    let traces = fixtures::traces("count-svc", "parent", "child");
    let body = traces.encode_to_vec();
    let attributes: usize = traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.attributes.len())
        .sum();
    let protobuf = [("Content-Type", "application/x-protobuf")];
    for _ in 0..2 {
        let response = http_post(rx.http_addr(), "/v1/traces", &protobuf, &body).unwrap();
        assert_eq!(response.status, 200);
    }
    export_traces_grpc(&rx.grpc_endpoint(), traces, &GrpcOptions::default())
        .expect("export over gRPC");
    assert_eq!(rx.wait_for_spans(6, Instant::now() + WAIT), 6);
    let counts = rx.counts();
    assert_eq!(
        (counts.spans, counts.requests, counts.rejected),
        (6, 3, 0),
        "{counts:?}"
    );
    assert_eq!(counts.attributes, 3 * attributes as u64);
    assert_eq!(counts.bytes, 3 * body.len() as u64);
    assert!(counts.cpu_ns > 0, "the receiver's threads ran: {counts:?}");
    assert!(rx.last_arrival().is_some());
    assert!(
        rx.requests().is_empty(),
        "a counting receiver keeps nothing"
    );

    let bad = http_post(rx.http_addr(), "/v1/traces", &protobuf, b"\xff\xff").unwrap();
    assert_eq!(bad.status, 400);
    let after = rx.counts().since(counts);
    assert_eq!((after.spans, after.requests, after.rejected), (0, 0, 1));
}
