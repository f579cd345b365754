//! The AWS SDK interceptor against a real S3 API server (moto, started per
//! test on a loopback port, ended by PID), through `aws-sdk-s3` over plain
//! HTTP: create, put, get, list, a missing bucket, a call retried after a
//! 503 from a loopback proxy, and a call in a spawned task, exported over
//! OTLP to the loopback receiver. The tests assert span names, kinds,
//! parents, the `rpc.*`, `aws.*`, `http.*` and `server.*` attributes, the
//! error status and code, `rpc.client.call.duration`, that the secret key
//! never leaves, a live check against the registry, and where the SDK's
//! own spans go when they are turned on.

mod common;

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use semtel::context::WithContext as _;
use semtel::integrations::aws::Interceptor;
use semtel_tests::moto::{FlakyProxy, Moto};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{LiveCheck, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(20);
const REGION: &str = "eu-west-1";
const BUCKET: &str = "orders-archive";
const KEY: &str = "2024/06/01.csv";
/// The secret access key: it signs requests and must never be exported.
const SECRET: &str = "secret-key-40f1c2";

/// An S3 client of `endpoint` over plain HTTP, path-style, with the
/// interceptor, retrying after 1 ms (the proxy's 503 is retried at once).
fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKIDSEMTEL", SECRET, None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .interceptor(Interceptor::new())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name() == name).collect()
}

/// Creates a bucket, puts, gets and lists an object, lists a missing
/// bucket, gets the object again through the flaky proxy, and heads it from
/// a spawned task. Returns the listed count and the code of the failure.
#[semtel::stage(pipeline = "archive", kind = sink)]
async fn archive(s3: &aws_sdk_s3::Client, flaky: &aws_sdk_s3::Client) -> (i32, String) {
    s3.create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("the bucket is created");
    s3.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(ByteStream::from_static(b"id,amount\n1,2.5\n"))
        .send()
        .await
        .expect("the object is put");
    let body = s3
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("the object is got")
        .body
        .collect()
        .await
        .expect("its body")
        .into_bytes();
    assert_eq!(&body[..], b"id,amount\n1,2.5\n");
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("the bucket is listed");
    let missing = s3
        .list_objects_v2()
        .bucket("no-such-bucket")
        .send()
        .await
        .expect_err("the bucket does not exist");
    let code = missing
        .into_service_error()
        .code()
        .unwrap_or_default()
        .to_owned();
    // The interceptor also in a per-call override: still one span.
    flaky
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .customize()
        .config_override(aws_sdk_s3::Config::builder().interceptor(Interceptor::new()))
        .send()
        .await
        .expect("the retried get succeeds");
    let spawned = tokio::spawn(
        {
            let s3 = s3.clone();
            async move { s3.head_object().bucket(BUCKET).key(KEY).send().await }
        }
        .in_current_context(),
    )
    .await
    .expect("the task ends")
    .expect("the object is headed");
    assert_eq!(spawned.content_length(), Some(16));
    (listed.key_count().unwrap_or_default(), code)
}

#[test]
fn s3_calls_are_client_spans_with_aws_attributes_retries_errors_and_the_call_duration() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let proxy = FlakyProxy::start(moto.addr(), 1).expect("the proxy listens");
    let rx = Receiver::start();
    let s = common::grpc_telemetry("archiver", &rx.grpc_endpoint());
    let (listed, code) = tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime()
            .block_on(archive(&s3(&moto.endpoint()), &s3(&proxy.endpoint())))
    });
    assert_eq!((listed, code.as_str()), (1, "NoSuchBucket"));
    assert_eq!(proxy.refused(), 1, "one 503, then the retry reached moto");
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the stage, its calls and the metric", |s| {
        s.span("archive").is_some() && s.metric("rpc.client.call.duration").is_some()
    });
    let spans = snap.spans();
    let stage = snap.only_span("archive");
    let all: Vec<&str> = spans.iter().map(ReceivedSpan::name).collect();

    // One CLIENT span per call, `{Service}.{Operation}`, under the stage,
    // the spawned task's too.
    let calls: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name().starts_with("S3."))
        .collect();
    assert_eq!(calls.len(), 7, "{all:?}");
    for (name, count) in [
        ("S3.CreateBucket", 1),
        ("S3.PutObject", 1),
        ("S3.GetObject", 2),
        ("S3.ListObjectsV2", 2),
        ("S3.HeadObject", 1),
    ] {
        assert_eq!(named(&spans, name).len(), count, "{name} in {all:?}");
    }
    for span in &calls {
        let name = span.name();
        assert_eq!(span.kind(), SpanKind::Client, "{name}");
        assert!(span.is_child_of(&stage), "{name} under the stage");
        assert_eq!(span.attr_str("rpc.system"), Some("aws-api"), "{name}");
        assert_eq!(span.attr_str("rpc.service"), Some("S3"), "{name}");
        assert_eq!(
            span.attr_str("rpc.method"),
            name.strip_prefix("S3."),
            "{name}"
        );
        assert_eq!(span.attr_str("cloud.region"), Some(REGION), "{name}");
        assert_eq!(span.attr_str("server.address"), Some("127.0.0.1"), "{name}");
        assert!(
            span.attr_str("aws.request_id")
                .is_some_and(|id| !id.is_empty()),
            "{name}: moto's x-amzn-requestid"
        );
        assert!(span.attr("http.response.status_code").is_some(), "{name}");
        assert!(span.span.end_time_unix_nano > span.span.start_time_unix_nano);
    }

    // Per-service attributes from the input: bucket and key.
    let put = named(&spans, "S3.PutObject")[0];
    assert_eq!(put.attr_str("aws.s3.bucket"), Some(BUCKET));
    assert_eq!(put.attr_str("aws.s3.key"), Some(KEY));
    assert_eq!(
        put.attr_i64("server.port"),
        Some(i64::from(moto.addr().port()))
    );
    assert_eq!(put.attr_i64("http.response.status_code"), Some(200));
    assert_eq!(put.status_code(), StatusCode::Unset);
    assert!(put.attr("http.request.resend_count").is_none());
    assert!(put.attr("error.type").is_none());
    let create = named(&spans, "S3.CreateBucket")[0];
    assert_eq!(create.attr_str("aws.s3.bucket"), Some(BUCKET));
    assert!(create.attr("aws.s3.key").is_none());

    // The missing bucket: error status, the service's error code.
    let lists = named(&spans, "S3.ListObjectsV2");
    let missing = lists
        .iter()
        .find(|s| s.attr_str("aws.s3.bucket") == Some("no-such-bucket"))
        .expect("the failed list");
    assert_eq!(missing.status_code(), StatusCode::Error);
    assert_eq!(missing.attr_str("error.type"), Some("NoSuchBucket"));
    assert_eq!(missing.attr_i64("http.response.status_code"), Some(404));
    let listed = lists
        .iter()
        .find(|s| s.attr_str("aws.s3.bucket") == Some(BUCKET))
        .expect("the list");
    assert_eq!(listed.status_code(), StatusCode::Unset);

    // The retried call: one span over both attempts, sent once again (with
    // the interceptor in the client and in the call's override).
    let gets = named(&spans, "S3.GetObject");
    let port = |s: &&&ReceivedSpan| s.attr_i64("server.port");
    let retried = gets
        .iter()
        .find(|s| port(s) == Some(i64::from(proxy.port())))
        .expect("the get through the proxy");
    assert_eq!(retried.attr_i64("http.request.resend_count"), Some(1));
    assert_eq!(retried.attr_i64("http.response.status_code"), Some(200));
    assert_eq!(retried.status_code(), StatusCode::Unset);
    let direct = gets
        .iter()
        .find(|s| port(s) == Some(i64::from(moto.addr().port())))
        .expect("the direct get");
    assert!(direct.attr("http.request.resend_count").is_none());
    assert_eq!(direct.attr_str("aws.s3.key"), Some(KEY));

    // No W3C context injected into AWS requests (the conventions ask for
    // none): the request the proxy refused, as it arrived.
    let heads = proxy.refused_heads();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("GET /orders-archive/2024/06/01.csv"),
        "{}",
        heads[0]
    );
    let lower = heads[0].to_ascii_lowercase();
    assert!(
        lower.contains("\r\nauthorization: aws4-hmac-sha256"),
        "{lower}"
    );
    assert!(
        !lower.contains("traceparent") && !lower.contains("baggage"),
        "{lower}"
    );
    // The secret key never leaves.
    assert!(!format!("{snap:?}").contains(SECRET));

    // rpc.client.call.duration: the current RPC metric convention.
    let metric = snap
        .metric("rpc.client.call.duration")
        .expect("rpc.client.call.duration");
    assert_eq!(metric.unit(), "s");
    let points = metric.histogram_points();
    assert_eq!(points.iter().map(|p| p.count).sum::<u64>(), 7);
    for p in points {
        assert_eq!(
            semtel_tests::attr_str(&p.attributes, "rpc.system.name"),
            Some("aws-api")
        );
        assert!(semtel_tests::attr(&p.attributes, "aws.s3.bucket").is_none());
        assert!(semtel_tests::attr(&p.attributes, "rpc.service").is_none());
        assert_eq!(
            semtel_tests::attr_str(&p.attributes, "server.address"),
            Some("127.0.0.1")
        );
    }
    let count = |method: &str, error: Option<&str>| -> u64 {
        points
            .iter()
            .filter(|p| {
                semtel_tests::attr_str(&p.attributes, "rpc.method") == Some(method)
                    && semtel_tests::attr_str(&p.attributes, "error.type") == error
            })
            .map(|p| p.count)
            .sum()
    };
    assert_eq!(count("S3/GetObject", None), 2);
    assert_eq!(count("S3/ListObjectsV2", None), 1);
    assert_eq!(count("S3/ListObjectsV2", Some("NoSuchBucket")), 1);

    let mut check = LiveCheck::new();
    check.assert_clean(&snap);
    for name in [
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "cloud.region",
        "aws.request_id",
        "aws.s3.bucket",
        "aws.s3.key",
        "http.request.resend_count",
        "http.response.status_code",
        "error.type",
        "server.port",
    ] {
        assert!(
            check.checked_attributes().contains(name),
            "{name} was checked"
        );
    }
    assert!(check.checked_metrics().contains("rpc.client.call.duration"));
}

/// Creates `bucket`, so that the SDK's spans have a call to wrap.
#[semtel::stage(pipeline = "archive", kind = sink)]
async fn put_one(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("the bucket is created");
}

/// Exports what `put_one` emits under the filter `rust_log`, creating
/// `bucket`.
fn spans_under(moto: &Moto, rust_log: &str, bucket: &str) -> Vec<ReceivedSpan> {
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    let s = common::telemetry(&[
        ("OTEL_SERVICE_NAME", "archiver"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("RUST_LOG", rust_log),
    ]);
    tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime().block_on(put_one(&s3(&moto.endpoint()), bucket));
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    rx.expect(WAIT, "the stage", |s| s.span("put_one").is_some())
        .spans()
}

#[test]
fn the_sdks_own_spans_pass_the_filter_at_debug_and_enclose_the_client_span() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));

    // The default filter: the interceptor's span only (the SDK's are DEBUG).
    let spans = spans_under(&moto, "info", "quiet");
    let names: Vec<&str> = spans.iter().map(ReceivedSpan::name).collect();
    let stage = spans
        .iter()
        .find(|s| s.name() == "put_one")
        .expect("the stage");
    let ours = named(&spans, "S3.CreateBucket");
    assert_eq!(ours.len(), 1, "{names:?}");
    assert_eq!(ours[0].kind(), SpanKind::Client);
    assert!(ours[0].is_child_of(stage));
    assert!(!names.contains(&"try_op"), "{names:?}");

    // With the SDK's targets at DEBUG: its operation span (INTERNAL, the
    // same name) encloses the interceptor's CLIENT span and the
    // orchestrator's spans, none of which is the CLIENT span's parent.
    let spans = spans_under(
        &moto,
        "info,aws_sdk_s3=debug,aws_smithy_runtime=debug",
        "verbose",
    );
    let names: Vec<&str> = spans.iter().map(ReceivedSpan::name).collect();
    let stage = spans
        .iter()
        .find(|s| s.name() == "put_one")
        .expect("the stage");
    let both = named(&spans, "S3.CreateBucket");
    assert_eq!(both.len(), 2, "{names:?}");
    let sdk = both
        .iter()
        .find(|s| s.kind() == SpanKind::Internal)
        .expect("the SDK's operation span");
    let ours = both
        .iter()
        .find(|s| s.kind() == SpanKind::Client)
        .expect("the interceptor's span");
    assert!(sdk.is_child_of(stage));
    assert!(ours.is_child_of(sdk), "{names:?}");
    for internal in ["try_op", "try_attempt"] {
        let span = spans
            .iter()
            .find(|s| s.name() == internal)
            .unwrap_or_else(|| panic!("{internal} in {names:?}"));
        assert_eq!(span.trace_id(), sdk.trace_id());
    }
    let try_op = spans.iter().find(|s| s.name() == "try_op").expect("try_op");
    assert!(try_op.is_child_of(sdk));
}
