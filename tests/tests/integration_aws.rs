//! The AWS SDK interceptor against a real S3 API server (moto, started per
//! test on a loopback port, ended by PID), through `aws-sdk-s3` over plain
//! HTTP: create, put, get, list, a missing bucket, a call retried after a
//! 503 from a loopback proxy, and a call in a spawned task, exported over
//! OTLP to the loopback receiver. The tests assert span names, kinds,
//! parents, the `rpc.*`, `aws.*`, `http.*` and `server.*` attributes, the
//! error status and code, `rpc.client.call.duration`, that the secret key
//! never leaves, a live check against the registry, and which of the
//! SDK's own spans are exported, where, at the default filter and under a
//! `RUST_LOG` that names the SDK.

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
    create_and_put(s3, BUCKET).await;
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

/// Creates `bucket` and puts the test object in it.
async fn create_and_put(s3: &aws_sdk_s3::Client, bucket: &str) {
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
    s3.put_object()
        .bucket(bucket)
        .key(KEY)
        .body(ByteStream::from_static(b"id,amount\n1,2.5\n"))
        .send()
        .await
        .expect("the object is put");
}

/// Creates `bucket`, puts an object and gets it through `flaky` (a 503
/// first, then the retry), so that the SDK's spans have calls to wrap.
#[semtel::stage(pipeline = "archive", kind = sink)]
async fn put_and_get(s3: &aws_sdk_s3::Client, flaky: &aws_sdk_s3::Client, bucket: &str) {
    create_and_put(s3, bucket).await;
    flaky
        .get_object()
        .bucket(bucket)
        .key(KEY)
        .send()
        .await
        .expect("the retried get succeeds");
}

/// Exports what `put_and_get` emits with `RUST_LOG` set to `rust_log`
/// (unset: `None`), in `bucket`.
fn spans_under(moto: &Moto, rust_log: Option<&str>, bucket: &str) -> Vec<ReceivedSpan> {
    spans_of(moto, rust_log, bucket, false)
}

/// [`spans_under`], with semtel's layer in a subscriber of the user's
/// (beside a layer that sees every span) when `users` is set.
fn spans_of(moto: &Moto, rust_log: Option<&str>, bucket: &str, users: bool) -> Vec<ReceivedSpan> {
    let proxy = FlakyProxy::start(moto.addr(), 1).expect("the proxy listens");
    let rx = Receiver::start();
    let endpoint = rx.grpc_endpoint();
    let mut vars = vec![
        ("OTEL_SERVICE_NAME", "archiver"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    vars.extend(rust_log.map(|f| ("RUST_LOG", f)));
    let run = || {
        common::current_thread_runtime().block_on(put_and_get(
            &s3(&moto.endpoint()),
            &s3(&proxy.endpoint()),
            bucket,
        ));
    };
    let report = if users {
        use tracing_subscriber::layer::SubscriberExt as _;
        let (guard, layer) = common::builder(&vars)
            .build_layer()
            .expect("valid configuration");
        // Unfiltered: every span and event of every level.
        let everything = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
        let subscriber = tracing_subscriber::registry().with(everything).with(layer);
        tracing::subscriber::with_default(subscriber, run);
        guard.shutdown()
    } else {
        let s = common::telemetry(&vars);
        tracing::dispatcher::with_default(s.dispatch(), run);
        s.shutdown()
    };
    assert_eq!(proxy.refused(), 1, "one 503, then the retry reached moto");
    assert_eq!(report.lost(), 0, "{report}");
    rx.expect(WAIT, "the stage", |s| s.span("put_and_get").is_some())
        .spans()
}

/// The spans as an indented tree (name, kind, a few attributes), for
/// assertion messages and to show what the SDK emits.
fn tree(spans: &[ReceivedSpan]) -> String {
    fn walk(spans: &[ReceivedSpan], parent: Option<&ReceivedSpan>, depth: usize, out: &mut String) {
        let mut children: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| match parent {
                Some(p) => s.is_child_of(p),
                None => !spans.iter().any(|p| s.is_child_of(p)),
            })
            .collect();
        children.sort_by_key(|s| s.span.start_time_unix_nano);
        for span in children {
            let attrs: Vec<String> = [
                "aws.s3.bucket",
                "http.response.status_code",
                "http.request.resend_count",
                "error.type",
            ]
            .iter()
            .filter_map(|k| span.attr(k).map(|v| format!("{k}={v:?}")))
            .collect();
            out.push_str(&format!(
                "{:indent$}{} {:?} {:?} {}\n",
                "",
                span.name(),
                span.kind(),
                span.status_code(),
                attrs.join(" "),
                indent = depth * 2
            ));
            walk(spans, Some(span), depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(spans, None, 0, &mut out);
    out
}

/// The one span named `name` under `parent`.
fn only_child<'a>(
    spans: &'a [ReceivedSpan],
    parent: &ReceivedSpan,
    name: &str,
) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name() == name && s.is_child_of(parent))
        .collect();
    assert_eq!(found.len(), 1, "one {name} in\n{}", tree(spans));
    found[0]
}

/// The attempts under `call`, in order.
fn attempts<'a>(spans: &'a [ReceivedSpan], call: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    let mut found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name() == "try_attempt" && s.is_child_of(call))
        .collect();
    found.sort_by_key(|s| s.span.start_time_unix_nano);
    found
}

/// What the default filter exports: under the stage, one CLIENT span per
/// call (the SDK's operation span, with the interceptor's attributes), and
/// under it one `try_attempt` per attempt; nothing else of the SDK's.
fn assert_default_tree(spans: &[ReceivedSpan]) {
    let shown = tree(spans);
    let stage = spans
        .iter()
        .find(|s| s.name() == "put_and_get")
        .expect("the stage");
    for name in ["S3.CreateBucket", "S3.PutObject", "S3.GetObject"] {
        let call = only_child(spans, stage, name);
        assert_eq!(named(spans, name).len(), 1, "no second {name}:\n{shown}");
        assert_eq!(call.kind(), SpanKind::Client, "{name}");
        assert_eq!(call.attr_str("rpc.system"), Some("aws-api"), "{name}");
        assert_eq!(call.attr_str("cloud.region"), Some(REGION), "{name}");
        assert!(call.attr_str("aws.s3.bucket").is_some(), "{name}:\n{shown}");
        assert!(call.attr("sdk_invocation_id").is_none(), "{name}");
        let attempts = attempts(spans, call);
        let expected = if name == "S3.GetObject" { 2 } else { 1 };
        assert_eq!(attempts.len(), expected, "{name}:\n{shown}");
        for a in &attempts {
            assert_eq!(a.kind(), SpanKind::Internal);
            assert!(a.attr("attempt").is_none());
        }
    }
    // The client's first call loads its credentials (once: the SDK caches
    // them), inside its first attempt.
    let create = named(spans, "S3.CreateBucket")[0];
    only_child(spans, attempts(spans, create)[0], "lazy_load_identity");
    assert_eq!(
        named(spans, "lazy_load_identity").len(),
        2,
        "one per client:\n{shown}"
    );

    let put = named(spans, "S3.PutObject")[0];
    assert_eq!(put.attr_str("aws.s3.key"), Some(KEY));
    assert_eq!(put.attr_i64("http.response.status_code"), Some(200));
    assert!(put.attr("http.request.resend_count").is_none());
    let attempt = attempts(spans, put)[0];
    assert_eq!(attempt.attr_i64("http.response.status_code"), Some(200));
    assert!(attempt.attr("http.request.resend_count").is_none());
    assert_eq!(attempt.status_code(), StatusCode::Unset);

    // The retried get: one call, sent again once; its first attempt got
    // the 503 (`SlowDown`), the second the object.
    let get = named(spans, "S3.GetObject")[0];
    assert_eq!(get.attr_i64("http.request.resend_count"), Some(1));
    assert_eq!(get.attr_i64("http.response.status_code"), Some(200));
    assert_eq!(get.status_code(), StatusCode::Unset);
    let tries = attempts(spans, get);
    assert_eq!(tries[0].attr_i64("http.response.status_code"), Some(503));
    assert_eq!(tries[0].attr_str("error.type"), Some("SlowDown"), "{shown}");
    assert_eq!(tries[0].status_code(), StatusCode::Error);
    assert!(tries[0].attr("http.request.resend_count").is_none());
    assert_eq!(tries[1].attr_i64("http.response.status_code"), Some(200));
    assert_eq!(tries[1].attr_i64("http.request.resend_count"), Some(1));
    assert_eq!(tries[1].status_code(), StatusCode::Unset);
    assert!(tries[0].span.end_time_unix_nano <= tries[1].span.start_time_unix_nano);

    for noise in [
        "invoke",
        "apply_configuration",
        "try_op",
        "serialization",
        "finally_attempt",
        "orchestrate_endpoint",
        "deserialization",
        "read_body",
        "finally_op",
        "aws.client",
    ] {
        assert!(named(spans, noise).is_empty(), "no {noise}:\n{shown}");
    }
}

#[test]
fn the_sdks_call_and_attempt_spans_are_exported_at_the_default_filter() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));

    // RUST_LOG unset: semtel's default filter.
    let spans = spans_under(&moto, None, "quiet");
    assert_default_tree(&spans);
    // A `RUST_LOG` that does not name the SDK's crates keeps them too.
    let spans = spans_under(&moto, Some("info"), "explicit");
    assert_default_tree(&spans);
    // semtel's layer in the user's subscriber, whose other layer sees
    // every span of the SDK: the same tree.
    let spans = spans_of(&moto, None, "users", true);
    assert_default_tree(&spans);
}

#[test]
fn a_filter_that_names_the_sdk_gets_the_sdks_levels_and_one_span_per_call() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));

    // Naming the SDK's crates at INFO: its (DEBUG) spans are off, the
    // interceptor's own CLIENT span stands for each call.
    let spans = spans_under(&moto, Some("info,aws_smithy_runtime=info"), "named");
    let shown = tree(&spans);
    let stage = spans
        .iter()
        .find(|s| s.name() == "put_and_get")
        .expect("the stage");
    let get = only_child(&spans, stage, "S3.GetObject");
    assert_eq!(get.kind(), SpanKind::Client);
    assert_eq!(get.attr_i64("http.request.resend_count"), Some(1));
    assert_eq!(get.attr_str("rpc.method"), Some("GetObject"));
    assert!(named(&spans, "try_attempt").is_empty(), "{shown}");

    // Everything at DEBUG (what the SDK emits, printed): still one
    // `S3.GetObject`, the SDK's, as the CLIENT span with the interceptor's
    // attributes, over the orchestrator's spans.
    let spans = spans_under(
        &moto,
        Some("info,aws_sdk_s3=debug,aws_smithy_runtime=debug"),
        "verbose",
    );
    let shown = tree(&spans);
    println!("at debug:\n{shown}");
    let stage = spans
        .iter()
        .find(|s| s.name() == "put_and_get")
        .expect("the stage");
    let get = only_child(&spans, stage, "S3.GetObject");
    assert_eq!(named(&spans, "S3.GetObject").len(), 1, "{shown}");
    assert_eq!(get.kind(), SpanKind::Client);
    assert_eq!(get.attr_str("aws.s3.bucket"), Some("verbose"));
    assert_eq!(get.attr_i64("http.request.resend_count"), Some(1));
    let try_op = only_child(&spans, get, "try_op");
    let tries = attempts(&spans, try_op);
    assert_eq!(tries.len(), 2, "{shown}");
    assert_eq!(tries[0].attr_str("error.type"), Some("SlowDown"), "{shown}");
    assert!(named(&spans, "aws.client").is_empty(), "{shown}");
}
