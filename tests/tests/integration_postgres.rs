//! The PostgreSQL integrations against a real server (Debian's PostgreSQL,
//! started per test on a loopback port, stopped by PID): tokio-postgres
//! queries, a failing query, a transaction and a prepared statement, and
//! sqlx's queries (failures in `sqlx::traced`), exported over OTLP to the
//! loopback receiver. The tests
//! assert span names, kinds, parents (the calling stage), attributes, error
//! status with the SQLSTATE, the `db.client.operation.duration` histogram,
//! that bound values never leave, and a live check against the registry.

mod common;

use std::time::Duration;

use semtel::integrations::postgres;
use semtel_tests::proto::tonic::trace::v1::span::SpanKind;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{LiveCheck, Postgres, ReceivedSpan, Receiver, Snapshot};

const WAIT: Duration = Duration::from_secs(20);

/// A bound value that must never be exported.
const SECRET: &str = "customer-secret-7731";

fn session(rx: &Receiver) -> semtel::Session {
    common::grpc_telemetry("warehouse", &rx.grpc_endpoint())
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name() == name).collect()
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found = named(spans, name);
    let all: Vec<&str> = spans.iter().map(ReceivedSpan::name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span expected in {all:?}");
    found[0]
}

fn assert_live_check(snapshot: &Snapshot) {
    let mut check = LiveCheck::new();
    check.assert_clean(snapshot);
    for name in [
        "db.system.name",
        "db.namespace",
        "db.operation.name",
        "db.collection.name",
        "db.query.text",
        "server.address",
        "server.port",
    ] {
        assert!(
            check.checked_attributes().contains(name),
            "{name} was checked"
        );
    }
    assert!(
        check
            .checked_metrics()
            .contains("db.client.operation.duration")
    );
}

#[derive(Debug, semtel::Telemetry)]
enum LoadError {
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for LoadError {
    fn from(e: tokio_postgres::Error) -> Self {
        LoadError::Db(e)
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Creates a table, inserts three rows through a prepared statement in a
/// transaction, reads them back and runs a query that fails.
#[semtel::stage(pipeline = "warehouse", kind = sink)]
async fn load(client: &mut postgres::Client) -> Result<usize, LoadError> {
    client
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount double precision NOT NULL)",
        )
        .await?;
    let insert = client
        .prepare("INSERT INTO orders (id, customer, amount) VALUES ($1, $2, $3)")
        .await?;
    let tx = client.transaction().await?;
    for id in 1..=3_i64 {
        #[allow(clippy::cast_precision_loss, reason = "small ids")]
        let amount = id as f64 * 1.5;
        tx.execute(&insert, &[&id, &SECRET, &amount]).await?;
    }
    tx.commit().await?;
    let rows = client
        .query("SELECT id FROM orders WHERE amount > $1", &[&1.0_f64])
        .await?;
    let one = client
        .query_opt("SELECT customer FROM orders WHERE id = $1", &[&2_i64])
        .await?;
    assert_eq!(one.map(|r| r.get::<_, String>(0)).as_deref(), Some(SECRET));
    let missing = client.query("SELECT * FROM missing_table", &[]).await;
    assert_eq!(
        missing.err().and_then(|e| e.code().cloned()),
        Some(tokio_postgres::error::SqlState::UNDEFINED_TABLE)
    );
    Ok(rows.len())
}

#[test]
fn tokio_postgres_operations_are_client_spans_under_the_stage_with_the_duration_metric() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let rx = Receiver::start();
    let s = session(&rx);
    tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime().block_on(async {
            let (mut client, connection) = postgres::connect(&pg.config(), tokio_postgres::NoTls)
                .await
                .expect("connects");
            let connection = tokio::spawn(connection);
            assert_eq!(load(&mut client).await.expect("the load runs"), 3);
            drop(client);
            let _ = connection.await;
        });
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the stage, its queries and the metric", |s| {
        s.span("load").is_some()
            && s.span("SELECT missing_table").is_some()
            && s.metric("db.client.operation.duration").is_some()
    });
    let spans = snap.spans();
    let stage = one(&spans, "load");

    // Names by the conventions, all CLIENT spans under the stage.
    let inserts = named(&spans, "INSERT orders");
    assert_eq!(inserts.len(), 3);
    let mut db_spans = vec![
        one(&spans, "CREATE orders"),
        one(&spans, "PREPARE orders"),
        one(&spans, "BEGIN"),
        one(&spans, "COMMIT"),
        one(&spans, "SELECT missing_table"),
    ];
    db_spans.extend(inserts.iter().copied());
    let selects = named(&spans, "SELECT orders");
    assert_eq!(selects.len(), 2, "query and query_opt");
    db_spans.extend(selects.iter().copied());
    for span in &db_spans {
        assert_eq!(span.kind(), SpanKind::Client, "{}", span.name());
        assert!(span.is_child_of(stage), "{} under the stage", span.name());
        assert_eq!(span.attr_str("db.system.name"), Some("postgresql"));
        assert_eq!(span.attr_str("db.namespace"), Some("postgres"));
        assert_eq!(span.attr_str("server.address"), Some("127.0.0.1"));
        assert_eq!(span.attr_i64("server.port"), Some(i64::from(pg.port())));
        assert!(span.span.end_time_unix_nano >= span.span.start_time_unix_nano);
    }

    // The query: operation, table, text with its placeholder, rows.
    let select = selects
        .iter()
        .find(|s| s.attr_str("db.query.text") == Some("SELECT id FROM orders WHERE amount > $1"))
        .expect("the query's span");
    assert_eq!(select.attr_str("db.operation.name"), Some("SELECT"));
    assert_eq!(select.attr_str("db.collection.name"), Some("orders"));
    assert_eq!(
        select.attr_str("db.query.text"),
        Some("SELECT id FROM orders WHERE amount > $1")
    );
    assert_eq!(select.attr_i64("db.response.returned_rows"), Some(3));
    assert_eq!(select.status_code(), StatusCode::Unset);
    let by_id = selects
        .iter()
        .find(|s| s.attr_str("db.query.text") == Some("SELECT customer FROM orders WHERE id = $1"))
        .expect("the query_opt's span");
    assert_eq!(by_id.attr_i64("db.response.returned_rows"), Some(1));

    // The prepared statement's executions keep its text.
    assert_eq!(
        inserts[0].attr_str("db.query.text"),
        Some("INSERT INTO orders (id, customer, amount) VALUES ($1, $2, $3)")
    );
    assert_eq!(
        one(&spans, "PREPARE orders").attr_str("db.operation.name"),
        Some("PREPARE")
    );
    assert_eq!(
        one(&spans, "BEGIN").attr_str("db.operation.name"),
        Some("BEGIN")
    );

    // The failure: error status, SQLSTATE, error.type.
    let failed = one(&spans, "SELECT missing_table");
    assert_eq!(failed.status_code(), StatusCode::Error);
    assert_eq!(failed.attr_str("db.response.status_code"), Some("42P01"));
    assert_eq!(failed.attr_str("error.type"), Some("42P01"));

    // Bound values never leave.
    assert!(
        !format!("{snap:?}").contains(SECRET),
        "a bound value was exported"
    );

    // One duration value per operation, with the metric's attributes only.
    let metric = snap
        .metric("db.client.operation.duration")
        .expect("db.client.operation.duration");
    assert_eq!(metric.unit(), "s");
    assert_eq!(metric.kind(), "histogram");
    let points = metric.histogram_points();
    let count: u64 = points.iter().map(|p| p.count).sum();
    assert_eq!(count, db_spans.len() as u64, "{points:?}");
    for p in points {
        assert_eq!(
            semtel_tests::attr_str(&p.attributes, "db.system.name"),
            Some("postgresql")
        );
        assert!(
            semtel_tests::attr(&p.attributes, "db.query.text").is_none(),
            "db.query.text is opt-in on the metric"
        );
        assert_eq!(
            p.explicit_bounds,
            semtel::integrations::boundaries("db.client.operation.duration").unwrap()
        );
    }
    assert!(points.iter().any(|p| {
        semtel_tests::attr_str(&p.attributes, "error.type") == Some("42P01")
            && semtel_tests::attr_str(&p.attributes, "db.collection.name") == Some("missing_table")
    }));
    assert_live_check(&snap);
}

#[semtel::stage(pipeline = "warehouse", kind = sink)]
async fn load_with_sqlx(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    sqlx::query("CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)")
        .execute(pool)
        .await?;
    for id in 1..=2_i64 {
        sqlx::query("INSERT INTO items (id, label) VALUES ($1, $2)")
            .bind(id)
            .bind(SECRET)
            .execute(pool)
            .await?;
    }
    let rows = sqlx::query("SELECT id, label FROM items WHERE id > $1")
        .bind(0_i64)
        .fetch_all(pool)
        .await?;
    Ok(rows.len())
}

/// Runs `body` with a one-connection sqlx pool on `pg`, registered with
/// semtel's sqlx integration, under a session exporting to `rx`; then closes
/// the pool and shuts the session down, losing nothing.
fn with_sqlx_pool<F: Future<Output = ()>>(
    pg: &Postgres,
    rx: &Receiver,
    body: impl FnOnce(sqlx::PgPool) -> F,
) {
    let s = session(rx);
    tracing::dispatcher::with_default(s.dispatch(), || {
        common::current_thread_runtime().block_on(async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&pg.url())
                .await
                .expect("connects");
            semtel::integrations::sqlx::register(&pool);
            body(pool.clone()).await;
            pool.close().await;
        });
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
}

#[test]
fn sqlx_query_events_become_client_spans_under_the_stage() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let rx = Receiver::start();
    with_sqlx_pool(&pg, &rx, |pool| async move {
        assert_eq!(load_with_sqlx(&pool).await.expect("the load runs"), 2);
    });
    let snap = rx.expect(WAIT, "the stage, its queries and the metric", |s| {
        s.span("load_with_sqlx").is_some()
            && s.span("SELECT items").is_some()
            && s.metric("db.client.operation.duration").is_some()
    });
    let spans = snap.spans();
    let stage = one(&spans, "load_with_sqlx");
    let mut db_spans = vec![one(&spans, "CREATE items"), one(&spans, "SELECT items")];
    db_spans.extend(named(&spans, "INSERT items"));
    assert_eq!(db_spans.len(), 4, "{snap}");
    for span in &db_spans {
        assert_eq!(span.kind(), SpanKind::Client, "{}", span.name());
        assert!(span.is_child_of(stage), "{} under the stage", span.name());
        assert_eq!(span.attr_str("db.system.name"), Some("postgresql"));
        assert_eq!(span.attr_str("db.namespace"), Some("postgres"));
        assert_eq!(span.attr_str("server.address"), Some("127.0.0.1"));
        assert_eq!(span.attr_i64("server.port"), Some(i64::from(pg.port())));
        // The span lies within the stage: sqlx's elapsed time, ending when
        // the statement's event came.
        assert!(span.span.start_time_unix_nano >= stage.span.start_time_unix_nano);
        assert!(span.span.end_time_unix_nano <= stage.span.end_time_unix_nano);
        assert!(span.span.end_time_unix_nano > span.span.start_time_unix_nano);
    }
    let select = one(&spans, "SELECT items");
    assert_eq!(
        select.attr_str("db.query.text"),
        Some("SELECT id, label FROM items WHERE id > $1")
    );
    assert_eq!(select.attr_i64("db.response.returned_rows"), Some(2));
    assert_eq!(select.attr_str("db.collection.name"), Some("items"));
    // The statement events are spans, not also log records.
    assert!(
        snap.logs()
            .iter()
            .all(|l| !l.body_text().contains("SELECT")),
        "{snap}"
    );
    assert!(!format!("{snap:?}").contains(SECRET));
    let metric = snap
        .metric("db.client.operation.duration")
        .expect("db.client.operation.duration");
    let count: u64 = metric.histogram_points().iter().map(|p| p.count).sum();
    assert!(count >= 4, "{count}");
    assert_live_check(&snap);
}

/// A stage whose statements run in `traced`: a success, then a statement
/// on a missing table, whose error ends the stage.
#[semtel::stage(pipeline = "warehouse", kind = sink)]
async fn load_with_sqlx_failing(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    use semtel::integrations::sqlx::traced;
    traced(async {
        sqlx::query("SELECT 1 AS one").fetch_all(pool).await?;
        sqlx::query("SELECT id FROM missing_items")
            .fetch_all(pool)
            .await
    })
    .await
    .map(|rows| rows.len())
}

#[test]
fn sqlx_statements_in_traced_carry_their_failure() {
    use semtel::integrations::sqlx::traced;
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let rx = Receiver::start();
    with_sqlx_pool(&pg, &rx, |pool| async move {
        let error = load_with_sqlx_failing(&pool).await.expect_err("fails");
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42P01")
        );
        // A client-side failure: no row for `fetch_one`.
        let none = traced(sqlx::query("SELECT 1 AS one WHERE false").fetch_one(&pool)).await;
        assert!(matches!(none, Err(sqlx::Error::RowNotFound)), "{none:?}");
        // The same failure outside `traced`: sqlx's event says nothing
        // of it.
        sqlx::query("DELETE FROM untraced_missing")
            .execute(&pool)
            .await
            .expect_err("no such table");
    });
    let snap = rx.expect(WAIT, "the stage, its queries and the metric", |s| {
        s.span("load_with_sqlx_failing").is_some()
            && s.span("DELETE untraced_missing").is_some()
            && s.metric("db.client.operation.duration").is_some()
    });
    let spans = snap.spans();
    let stage = one(&spans, "load_with_sqlx_failing");
    assert_eq!(stage.status_code(), StatusCode::Error);

    let ok = named(&spans, "SELECT")
        .into_iter()
        .find(|s| s.is_child_of(stage))
        .expect("the stage's first statement");
    assert_eq!(ok.status_code(), StatusCode::Unset);
    assert_eq!(ok.attr_str("error.type"), None);

    let failed = one(&spans, "SELECT missing_items");
    assert!(failed.is_child_of(stage));
    assert_eq!(failed.kind(), SpanKind::Client);
    assert_eq!(failed.status_code(), StatusCode::Error);
    assert_eq!(
        failed.span.status.as_ref().map(|s| s.message.as_str()),
        Some("SQLSTATE 42P01")
    );
    assert_eq!(failed.attr_str("error.type"), Some("42P01"));
    assert_eq!(failed.attr_str("db.response.status_code"), Some("42P01"));
    assert!(failed.span.end_time_unix_nano <= stage.span.end_time_unix_nano);

    let none = named(&spans, "SELECT")
        .into_iter()
        .find(|s| s.attr_str("error.type").is_some())
        .expect("the fetch_one span");
    assert_eq!(none.attr_str("error.type"), Some("row_not_found"));
    assert_eq!(none.attr_str("db.response.status_code"), None);
    assert_eq!(none.status_code(), StatusCode::Error);

    let untraced = one(&spans, "DELETE untraced_missing");
    assert_eq!(untraced.status_code(), StatusCode::Unset);
    assert_eq!(untraced.attr_str("error.type"), None);

    let metric = snap
        .metric("db.client.operation.duration")
        .expect("db.client.operation.duration");
    let points = metric.histogram_points();
    let with = |t: &str| {
        points
            .iter()
            .filter(|p| semtel_tests::attr_str(&p.attributes, "error.type") == Some(t))
            .map(|p| p.count)
            .sum::<u64>()
    };
    assert_eq!((with("42P01"), with("row_not_found")), (1, 1), "{points:?}");
    let count: u64 = points.iter().map(|p| p.count).sum();
    assert_eq!(count, 4, "{points:?}");
    assert_live_check(&snap);
}
