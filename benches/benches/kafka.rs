//! Per-message overhead of the Kafka integration: the same records sent
//! to librdkafka's mock cluster (in this process, the Kafka protocol on
//! loopback) through one `FutureProducer`, with `FutureProducer::send` (bare)
//! and with `semtel::integrations::kafka::Sender::send` under a semtel session (a
//! PRODUCER span per record, encoded as OTLP and discarded, the context
//! injected into the record's headers, `messaging.client.sent.messages` and
//! `messaging.client.operation.duration` recorded). Each iteration sends one
//! record and awaits its delivery report; the two cases take turns within
//! the group, so both see the same broker and the same noise.
//! `cargo bench -p semtel-benches --bench kafka`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "orders";
const PAYLOAD: &str = "{\"order\":17,\"amount\":12.5,\"currency\":\"EUR\"}";

fn kafka(c: &mut Criterion) {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("the topic");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let session = semtel::builder()
        // The run must not depend on the environment it is started from.
        .env(|k| match k {
            // Metrics are recorded but not exported during the run.
            "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".to_owned()),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("200".to_owned()),
            _ => None,
        })
        .service_name("semtel-bench")
        .endpoint(format!("http://127.0.0.1:{}", closed_port()))
        .__discard_encoded_traces()
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .expect("a session");
    let _dispatch = tracing::dispatcher::set_default(session.dispatch());
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("linger.ms", "0");
    let producer: FutureProducer = config.create().expect("a producer");
    let sender = semtel::integrations::kafka::Sender::new(&config);
    let record = |key: &'static str| FutureRecord::to(TOPIC).key(key).payload(PAYLOAD);
    // The topic's metadata and the connection, before timing.
    rt.block_on(producer.send(record("warm"), Duration::from_secs(5)))
        .expect("delivered");

    let mut group = c.benchmark_group("kafka_send");
    group.bench_function("bare", |b| {
        b.iter(|| {
            let d = rt.block_on(producer.send(record("order-17"), Duration::ZERO));
            black_box(d.map(|d| d.offset).ok())
        });
    });
    group.bench_function("semtel", |b| {
        b.iter(|| {
            let d = rt.block_on(sender.send(&producer, record("order-17"), Duration::ZERO));
            black_box(d.map(|d| d.offset).ok())
        });
    });
    // The same, timed in CPU of the process (every thread: librdkafka's, the
    // mock broker's and semtel's encoding of the spans).
    group.bench_function("bare/cpu", |b| {
        b.iter_custom(|iters| {
            let cpu = cpu_time::ProcessTime::now();
            for _ in 0..iters {
                let d = rt.block_on(producer.send(record("order-17"), Duration::ZERO));
                black_box(d.map(|d| d.offset).ok());
            }
            cpu.elapsed()
        });
    });
    group.bench_function("semtel/cpu", |b| {
        b.iter_custom(|iters| {
            let cpu = cpu_time::ProcessTime::now();
            for _ in 0..iters {
                let d = rt.block_on(sender.send(&producer, record("order-17"), Duration::ZERO));
                black_box(d.map(|d| d.offset).ok());
            }
            // Spans still queued are encoded now, inside the measurement.
            session.__flush_traces();
            cpu.elapsed()
        });
    });
    group.finish();
    drop(producer);
    drop(rt);
    // (Metrics go to a closed port and are lost; spans must all have been
    // encoded.)
    let report = session.shutdown();
    let dropped: u64 = report
        .signal(semtel::Signal::Traces)
        .map(|s| s.dropped)
        .sum();
    assert_eq!(dropped, 0, "{report}");
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    targets = kafka
}
criterion_main!(benches);
