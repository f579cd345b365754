//! The integrations under `init()` on a multi-threaded runtime: `log` crate
//! records become OTLP log records with the ids of the stage they happen in,
//! filtered like `tracing` events, and a stage's context carried into
//! `tokio::spawn` and `spawn_blocking` parents the PostgreSQL spans and the
//! log records made there.
//!
//! One test in its own binary: `init` installs process-wide providers and
//! the `log` logger.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::context::FutureExt as _;
use semtel::integrations::postgres;
use semtel_tests::{LiveCheck, Postgres, Receiver};

const WAIT: Duration = Duration::from_secs(20);

#[semtel::stage(pipeline = "sync", kind = source)]
async fn sync_orders(config: String) -> usize {
    log::info!(target: "warehouse", "syncing orders");
    log::debug!(target: "warehouse", "below the default level");
    log::error!(target: "reqwest::connect", "a transport crate's record");
    let (client, connection) = postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    // A task on another worker, carrying the stage's context.
    let cx = semtel::propagation::current_context();
    let rows = tokio::spawn(
        async move {
            log::info!(target: "warehouse", "in the task");
            client.query("SELECT 1 AS one", &[]).await.map(|r| r.len())
        }
        .with_context(cx),
    )
    .await
    .expect("the task ends")
    .expect("the query runs");
    let cx = semtel::propagation::current_context();
    tokio::task::spawn_blocking(move || {
        let _attached = cx.attach();
        log::warn!(target: "warehouse", "in a blocking thread");
    })
    .await
    .expect("the blocking task ends");
    rows
}

#[test]
fn log_records_and_postgres_spans_follow_the_stage_across_tasks_and_threads() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let rx = Receiver::start();
    let vars: HashMap<&str, String> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_SERVICE_NAME", "sync".to_owned()),
    ]
    .into_iter()
    .collect();
    let guard = semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .init()
        .expect("telemetry starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    assert_eq!(rt.block_on(sync_orders(pg.config())), 1);
    drop(rt);
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(WAIT, "the stage, the query and the logs", |s| {
        s.span("sync_orders").is_some()
            && s.span("SELECT").is_some()
            && s.logs().len() >= 3
            && s.metric("db.client.operation.duration").is_some()
    });
    let stage = snap.span("sync_orders").expect("the stage");
    let select = snap.span("SELECT").expect("the query's span");
    assert!(
        select.is_child_of(&stage),
        "the spawned task's query is under the stage"
    );
    let logs = snap.logs();
    let log = |body: &str| {
        logs.iter()
            .find(|l| l.body_text() == body)
            .unwrap_or_else(|| panic!("log {body:?} in {snap}"))
    };
    for body in ["syncing orders", "in the task", "in a blocking thread"] {
        let record = log(body);
        assert!(record.is_in(&stage), "{body:?} carries the stage's ids");
    }
    let syncing = log("syncing orders");
    assert_eq!(syncing.severity_number(), 9);
    assert_eq!(syncing.severity_text(), "INFO");
    assert!(
        syncing
            .attr_str("code.file.path")
            .is_some_and(|f| f.ends_with("integration_global.rs"))
    );
    assert!(syncing.attr_i64("code.line.number").is_some());
    assert_eq!(log("in a blocking thread").severity_number(), 13);
    for absent in ["below the default level", "a transport crate's record"] {
        assert!(
            logs.iter().all(|l| l.body_text() != absent),
            "{absent:?} was exported"
        );
    }
    let mut check = LiveCheck::new();
    check.assert_clean(&snap);
    assert!(check.checked_attributes().contains("code.file.path"));
}
