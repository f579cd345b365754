//! The example orders pipeline loading into a real PostgreSQL server (given
//! a connection string) through semtel's tokio-postgres integration: the
//! statements are client spans under the load stage, the rows are in the
//! database, and every name passes the live check.

mod common;

use std::time::Duration;

use semtel_examples::orders::{RunConfig, run};
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::{LiveCheck, Postgres, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn orders_pipeline_loads_into_postgres_with_client_spans_under_the_load_stage() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let rx = Receiver::start();
    let s = common::telemetry(&[
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let dir = std::env::temp_dir().join(format!("semtel-e2e-orders-pg-{}", std::process::id()));
    let mut config = RunConfig::new(&dir);
    config.postgres = Some(pg.config());
    let summary = tracing::dispatcher::with_default(s.dispatch(), || run(&config))
        .expect("the pipeline runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((summary.read, summary.rejected, summary.loaded), (12, 4, 8));
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    // The rows are in the database.
    let rows = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let (client, connection) = tokio_postgres::connect(&pg.config(), tokio_postgres::NoTls)
                .await
                .expect("connects");
            tokio::spawn(connection);
            client
                .query_one("SELECT count(*) FROM orders", &[])
                .await
                .expect("counts")
                .get::<_, i64>(0)
        });
    assert_eq!(rows, 8);

    let snap = rx.expect(WAIT, "the run and its statements", |s| {
        s.span("run orders").is_some()
            && s.span("COMMIT").is_some()
            && s.metric("db.client.operation.duration").is_some()
    });
    let spans = snap.spans();
    let named =
        |name: &str| -> Vec<&ReceivedSpan> { spans.iter().filter(|s| s.name() == name).collect() };
    let load = named("load_postgres");
    assert_eq!(load.len(), 1, "{snap}");
    let load = load[0];
    assert!(load.is_child_of(&snap.span("consume").expect("consume")));
    let inserts = named("INSERT orders");
    assert_eq!(inserts.len(), 8);
    for span in inserts
        .iter()
        .chain(&named("CREATE orders"))
        .chain(&named("PREPARE orders"))
        .chain(&named("BEGIN"))
        .chain(&named("COMMIT"))
    {
        assert_eq!(span.kind(), SpanKind::Client);
        assert!(
            span.is_child_of(load),
            "{} under load_postgres",
            span.name()
        );
        assert_eq!(span.attr_str("db.system.name"), Some("postgresql"));
    }
    assert!(named("store").is_empty(), "the SQLite path did not run");
    let mut check = LiveCheck::new().registry(&semtel_examples::conventions::REGISTRY);
    check.assert_clean(&snap);
}
