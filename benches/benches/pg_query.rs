//! Per-query overhead of the tokio-postgres integration: the same queries on
//! the same PostgreSQL server (started by the bench on a loopback port,
//! stopped by PID at the end) through a bare `tokio_postgres::Client` and
//! through `semtel::integrations::postgres::Client` under a semtel session
//! (each query a client span, encoded as OTLP and discarded, and a value of
//! `db.client.operation.duration`). The two clients take turns within each
//! group, so both see the same server and the same noise.
//! `cargo bench -p semtel-benches --bench pg_query`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use semtel::integrations::postgres;

/// A prepared point query, and the same text sent as a string each time
/// (parsed by semtel for its attributes on every call).
const POINT: &str = "SELECT id, label FROM items WHERE id = $1";

fn pg_query(c: &mut Criterion) {
    let pg = semtel_tests::Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let session = semtel_benches::discarding_session();
    let _dispatch = tracing::dispatcher::set_default(session.dispatch());

    let (bare, instrumented) = rt.block_on(async {
        let (bare, connection) = tokio_postgres::connect(&pg.config(), tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        let (instrumented, connection) = postgres::connect(&pg.config(), tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        bare.batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;",
        )
        .await
        .expect("the table");
        (bare, instrumented)
    });
    let (bare_point, semtel_point) = rt.block_on(async {
        (
            bare.prepare(POINT).await.expect("prepares"),
            instrumented.prepare(POINT).await.expect("prepares"),
        )
    });

    let mut group = c.benchmark_group("pg_query");
    let mut id = 0_i64;
    let mut next = move || {
        id = id % 1000 + 1;
        id
    };
    group.bench_function("prepared/bare", |b| {
        b.iter(|| {
            rt.block_on(bare.query(&bare_point, &[&next()]))
                .map(|r| black_box(r.len()))
        });
    });
    group.bench_function("prepared/semtel", |b| {
        b.iter(|| {
            rt.block_on(instrumented.query(&semtel_point, &[&next()]))
                .map(|r| black_box(r.len()))
        });
    });
    // The same, timed in CPU of this process (every thread: the encoding of
    // spans on semtel's threads included; the server's CPU is not): steadier
    // than wall time on a busy machine, where a query's wall time is mostly
    // waiting for the server.
    group.bench_function("prepared/bare/cpu", |b| {
        b.iter_custom(|iters| {
            let cpu = cpu_time::ProcessTime::now();
            for _ in 0..iters {
                let rows = rt.block_on(bare.query(&bare_point, &[&next()]));
                black_box(rows.map(|r| r.len()).ok());
            }
            cpu.elapsed()
        });
    });
    group.bench_function("prepared/semtel/cpu", |b| {
        b.iter_custom(|iters| {
            let cpu = cpu_time::ProcessTime::now();
            for _ in 0..iters {
                let rows = rt.block_on(instrumented.query(&semtel_point, &[&next()]));
                black_box(rows.map(|r| r.len()).ok());
            }
            // Spans still queued are encoded now, inside the measurement.
            session.__flush_traces();
            cpu.elapsed()
        });
    });
    group.bench_function("text/bare", |b| {
        b.iter(|| {
            rt.block_on(bare.query(POINT, &[&next()]))
                .map(|r| black_box(r.len()))
        });
    });
    group.bench_function("text/semtel", |b| {
        b.iter(|| {
            rt.block_on(instrumented.query(POINT, &[&next()]))
                .map(|r| black_box(r.len()))
        });
    });
    // What the instrumentation alone costs the calling thread per query,
    // without the server: the span and attributes a point query gets, a
    // ready future instrumented with it, the duration recorded.
    group.bench_function("instrumentation_only", |b| {
        use semtel::conventions::{attribute, metric};
        use tracing::Instrument as _;
        b.iter(|| {
            let span = tracing::info_span!(
                "postgresql",
                otel.name = "SELECT items",
                otel.kind = "client"
            );
            let mut op =
                semtel::integrations::Operation::start(span, metric::DB_CLIENT_OPERATION_DURATION);
            op.set(attribute::DB_SYSTEM_NAME, "postgresql")
                .set(attribute::DB_NAMESPACE, "postgres")
                .set(attribute::DB_OPERATION_NAME, "SELECT")
                .set(attribute::DB_COLLECTION_NAME, "items")
                .set(attribute::DB_QUERY_TEXT, POINT)
                .set(attribute::SERVER_ADDRESS, "127.0.0.1")
                .set(attribute::SERVER_PORT, &5432_i64);
            let rows = rt.block_on(std::future::ready(1_i64).instrument(op.span().clone()));
            op.set(attribute::DB_RESPONSE_RETURNED_ROWS, &black_box(rows));
            op.finish();
        });
    });
    group.finish();
    drop(bare);
    drop(instrumented);
    drop(rt);
    semtel_benches::shutdown_without_dropped_spans(session);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    targets = pg_query
}
criterion_main!(benches);
