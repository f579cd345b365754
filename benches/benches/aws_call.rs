//! Per-call overhead of the AWS SDK interceptor: the same S3 `GetObject`
//! through two `aws-sdk-s3` clients, one bare and one with
//! `semtel::integrations::aws::Interceptor`, the first with no `tracing`
//! subscriber (the SDK's spans off, as in a program without one), the
//! second under a semtel session's (at its default filter: each call the
//! SDK's operation span as a client span with the interceptor's attributes
//! and its attempt span, encoded as OTLP and discarded, and a value of
//! `rpc.client.call.duration`). The HTTP client is an in-process stand-in
//! that answers every request with a ready `200` and a 16-byte body, so the
//! figures are the SDK's own work per call (serialization, SigV4 signing,
//! deserialization) with and without the interceptor, not a server's.
//! The two clients take turns within the group.
//! `cargo bench -p semtel-benches --bench aws_call`.

use std::hint::black_box;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use criterion::{Criterion, criterion_group, criterion_main};

/// Answers every request as S3 answers a small `GetObject`.
#[derive(Debug)]
struct StandIn;

impl HttpConnector for StandIn {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let status = 200_u16.try_into().expect("a status");
        let mut response = HttpResponse::new(status, SdkBody::from("id,amount\n1,2.5\n"));
        let headers = response.headers_mut();
        headers.insert("content-length", "16");
        headers.insert("content-type", "text/csv");
        headers.insert("etag", "\"7e0b3b1f7d1ca2c0f3e9b5c1c3a4e6f1\"");
        headers.insert("x-amz-request-id", "4442587FB7D0A2F9");
        headers.insert(
            "x-amz-id-2",
            "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=",
        );
        HttpConnectorFuture::ready(Ok(response))
    }
}

fn client(instrumented: bool) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new(
            "AKIDBENCH",
            "bench-secret",
            None,
            None,
            "bench",
        ))
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .http_client(http_client_fn(|_, _| SharedHttpConnector::new(StandIn)));
    if instrumented {
        config = config.interceptor(semtel::integrations::aws::Interceptor::new());
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

fn aws_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let session = semtel_benches::discarding_session();
    let dispatch = session.dispatch().clone();
    let (bare, instrumented) = (client(false), client(true));
    let get = |s3: &aws_sdk_s3::Client| {
        let output = rt
            .block_on(
                s3.get_object()
                    .bucket("orders")
                    .key("2024/06/01.csv")
                    .send(),
            )
            .expect("the stand-in answers");
        black_box(output.content_length())
    };

    let mut group = c.benchmark_group("aws_call");
    group.bench_function("get_object/bare", |b| b.iter(|| get(&bare)));
    group.bench_function("get_object/semtel", |b| {
        tracing::dispatcher::with_default(&dispatch, || b.iter(|| get(&instrumented)));
    });
    // The same in CPU of this process (every thread: the encoding of spans
    // on semtel's threads included).
    group.bench_function("get_object/bare/cpu", |b| {
        b.iter_custom(|iters| {
            let cpu = cpu_time::ProcessTime::now();
            for _ in 0..iters {
                get(&bare);
            }
            cpu.elapsed()
        });
    });
    group.bench_function("get_object/semtel/cpu", |b| {
        let _dispatch = tracing::dispatcher::set_default(&dispatch);
        b.iter_custom(|iters| {
            let cpu = cpu_time::ProcessTime::now();
            for _ in 0..iters {
                get(&instrumented);
            }
            // Spans still queued are encoded now, inside the measurement.
            session.__flush_traces();
            cpu.elapsed()
        });
    });
    group.finish();
    drop((rt, dispatch));
    semtel_benches::shutdown_without_dropped_spans(session);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    targets = aws_call
}
criterion_main!(benches);
