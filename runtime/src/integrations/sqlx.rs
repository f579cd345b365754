//! sqlx: its `sqlx::query` events become client spans (feature `sqlx`).
//!
//! sqlx emits one `tracing` event per statement when the statement is done
//! (target `sqlx::query`, at DEBUG, with the text under the retired
//! `db.statement` name, row counts and the elapsed time), and no span.
//! With this feature semtel turns each such event into a CLIENT span that
//! starts when the statement started and ends when it ended, under the span
//! or stage the query ran in, with the database conventions' attributes,
//! and records `db.client.operation.duration`. The events themselves are
//! not exported as logs.
//!
//! sqlx's event does not say which database it came from: [`register`] a
//! pool once for `db.system.name`, `db.namespace`, `server.address` and
//! `server.port` (unregistered, the system is `other_sql`). With several
//! databases, the last registered is the default and [`scope`] runs a
//! future against another.
//!
//! ```no_run
//! # async fn run() -> Result<(), sqlx::Error> {
//! let pool = sqlx::PgPool::connect("postgres://etl@127.0.0.1/warehouse").await?;
//! semtel::integrations::sqlx::register(&pool);
//! // A span `SELECT orders` with db.system.name=postgresql, db.namespace=warehouse, …
//! sqlx::query("SELECT id FROM orders WHERE amount > $1")
//!     .bind(10.0_f64)
//!     .fetch_all(&pool)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! sqlx's event carries no outcome: it comes from the statement's logger
//! when that is dropped, the same after a success as after a failure. To
//! get failures, run the statements in [`traced`]: their spans and
//! duration values wait for the future's result, and the statement that
//! failed gets an error status, `error.type` and `db.response.status_code`
//! set to the SQLSTATE (`42P01`; the driver's error code for other
//! databases), or a class such as `row_not_found` or `_OTHER` for an error
//! without one. Outside `traced` a failed statement's span looks like a
//! successful one.
//!
//! ```no_run
//! # async fn run(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
//! use semtel::integrations::sqlx::traced;
//! // On failure: the span `SELECT missing` with error.type=42P01.
//! traced(sqlx::query("SELECT * FROM missing").fetch_all(&pool)).await?;
//! # Ok(()) }
//! ```
//!
//! Events are on by default: a filter that names `sqlx::query`
//! (`RUST_LOG=sqlx::query=off`) decides instead.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use semtel_conventions::attribute::{self, DbSystemName};
use semtel_conventions::metric;
use tracing::field::{Field, Visit};

use super::attrs::{key_value, metric_attributes};
use super::hub::Hub;
use super::sql;

/// The target of sqlx's statement events.
const QUERY_TARGET: &str = "sqlx::query";

/// A database as the spans describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    system: &'static str,
    namespace: Option<String>,
    address: Option<String>,
    port: Option<i64>,
}

impl Database {
    /// What the spans of `pool`'s queries say about its database: the
    /// system from the driver, the database name, host and port from the
    /// pool's connect options (never the password).
    pub fn of<DB: sqlx_core::database::Database>(pool: &sqlx_core::pool::Pool<DB>) -> Self {
        let system = match DB::NAME {
            "PostgreSQL" => DbSystemName::Postgresql.as_str(),
            "MySQL" => DbSystemName::Mysql.as_str(),
            "SQLite" => DbSystemName::Sqlite.as_str(),
            "MSSQL" => DbSystemName::MicrosoftSqlServer.as_str(),
            _ => DbSystemName::OtherSql.as_str(),
        };
        let options = pool.connect_options();
        // `to_url_lossy` is `unimplemented!()` in drivers that lack it.
        let url = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            use sqlx_core::connection::ConnectOptions as _;
            options.to_url_lossy()
        }))
        .ok();
        let default_port = match system {
            "postgresql" => Some(5432),
            "mysql" => Some(3306),
            _ => None,
        };
        let (namespace, address, port) = match &url {
            Some(url) if system != "sqlite" => (
                Some(url.path().trim_start_matches('/').to_owned()).filter(|p| !p.is_empty()),
                url.host_str().map(str::to_owned),
                url.port().or(default_port).map(i64::from),
            ),
            Some(url) => (
                Some(url.path().to_owned()).filter(|p| !p.is_empty()),
                None,
                None,
            ),
            None => (None, None, None),
        };
        Self {
            system,
            namespace,
            address,
            port,
        }
    }

    fn unknown() -> Self {
        Self {
            system: DbSystemName::OtherSql.as_str(),
            namespace: None,
            address: None,
            port: None,
        }
    }
}

static DEFAULT: RwLock<Option<Arc<Database>>> = RwLock::new(None);

thread_local! {
    static SCOPED: std::cell::RefCell<Option<Arc<Database>>> = const { std::cell::RefCell::new(None) };
}

/// Makes `pool`'s database the one sqlx's query spans describe (the last
/// registered wins; [`scope`] overrides it for one future).
pub fn register<DB: sqlx_core::database::Database>(pool: &sqlx_core::pool::Pool<DB>) {
    *DEFAULT.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(Database::of(pool)));
}

/// Runs `future` with the query spans of everything it runs describing
/// `database` (e.g. `Database::of(&other_pool)`), whatever is registered.
///
/// ```no_run
/// # async fn run(reports: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// use semtel::integrations::sqlx::{Database, scope};
/// let db = Database::of(&reports);
/// scope(db, sqlx::query("DELETE FROM stale").execute(&reports)).await?;
/// # Ok(()) }
/// ```
pub fn scope<F: Future>(database: Database, future: F) -> Scoped<F> {
    Scoped {
        inner: future,
        database: Arc::new(database),
    }
}

pin_project_lite::pin_project! {
    /// A future whose queries describe one database ([`scope`]).
    #[derive(Debug)]
    pub struct Scoped<F> {
        #[pin]
        inner: F,
        database: Arc<Database>,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let previous = SCOPED.with(|s| s.replace(Some(Arc::clone(this.database))));
        let result = this.inner.poll(cx);
        SCOPED.with(|s| *s.borrow_mut() = previous);
        result
    }
}

fn current_database() -> Arc<Database> {
    SCOPED
        .try_with(|s| s.borrow().clone())
        .ok()
        .flatten()
        .or_else(|| {
            DEFAULT
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
        .unwrap_or_else(|| Arc::new(Database::unknown()))
}

/// Whether `directives` name sqlx's statement events themselves.
fn names_query_events(directives: &str) -> bool {
    directives.split(',').any(|d| {
        let target = d.trim().split(['=', '[']).next().unwrap_or_default();
        crate::filter::in_crate(target, QUERY_TARGET)
    })
}

/// Turns sqlx's statement events on (they are DEBUG), unless the user's
/// filter names them.
pub(crate) fn enable_query_events(
    filter: tracing_subscriber::EnvFilter,
    directives: &str,
) -> tracing_subscriber::EnvFilter {
    if names_query_events(directives) {
        return filter;
    }
    match format!("{QUERY_TARGET}=debug").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// For the log bridge: leaves out the statement events semtel turned on
/// for spans (a filter that names them keeps them as logs).
pub(crate) fn log_filter(
    directives: &str,
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool + use<>> {
    let ours = !names_query_events(directives);
    tracing_subscriber::filter::filter_fn(move |meta| {
        !(ours && meta.target() == QUERY_TARGET && *meta.level() >= tracing::Level::DEBUG)
    })
}

/// The fields of a statement event.
#[derive(Default)]
struct Fields {
    summary: String,
    statement: String,
    rows_returned: Option<u64>,
    elapsed_secs: Option<f64>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, u64::try_from(value).unwrap_or(0));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            // `summary` and `db.statement` are `String`s recorded by value.
            "summary" => self.summary = format!("{value:?}").trim_matches('"').to_owned(),
            "db.statement" => {
                self.statement = format!("{value:?}").trim_matches('"').to_owned();
            }
            _ => {}
        }
    }
}

/// A statement seen inside [`traced`], waiting for the future's outcome.
struct Statement {
    hub: Arc<Hub>,
    name: String,
    attributes: Vec<KeyValue>,
    elapsed: f64,
    start: SystemTime,
    end: SystemTime,
    parent: opentelemetry::Context,
}

thread_local! {
    /// The statements of the [`traced`] future being polled on this thread.
    static PENDING: RefCell<Option<Vec<Statement>>> = const { RefCell::new(None) };
}

/// Runs `future`, a sqlx call or any future of statements whose error
/// is or wraps a `sqlx::Error` (as a `source`), and gives the failed
/// statement's span and duration value the failure: error status,
/// `error.type` and `db.response.status_code` (see the [module](self)).
/// The statement that failed is the one whose event came in the poll that
/// returned the error; an error that no statement caused (the pool timed
/// out) marks none. The spans go out when the future ends, or is dropped.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// use semtel::integrations::sqlx::traced;
/// let mut tx = pool.begin().await?;
/// let insert = sqlx::query("INSERT INTO orders (id) VALUES ($1)").bind(7_i64);
/// traced(insert.execute(&mut *tx)).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub fn traced<F, T, E>(future: F) -> Traced<F>
where
    F: Future<Output = Result<T, E>>,
    E: std::error::Error + 'static,
{
    Traced {
        inner: future,
        statements: Vec::new(),
    }
}

pin_project_lite::pin_project! {
    /// A future whose statements' spans carry its outcome ([`traced`]).
    pub struct Traced<F> {
        #[pin]
        inner: F,
        statements: Vec<Statement>,
    }

    impl<F> PinnedDrop for Traced<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: what ran is still exported.
            for statement in this.project().statements.drain(..) {
                statement.emit(None);
            }
        }
    }
}

impl<F> std::fmt::Debug for Traced<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traced")
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl<F, T, E> Future for Traced<F>
where
    F: Future<Output = Result<T, E>>,
    E: std::error::Error + 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = PENDING.with(|p| p.borrow_mut().replace(Vec::new()));
        let result = this.inner.poll(cx);
        let mut fresh = PENDING
            .with(|p| std::mem::replace(&mut *p.borrow_mut(), outer))
            .unwrap_or_default();
        let Poll::Ready(result) = result else {
            this.statements.append(&mut fresh);
            return Poll::Pending;
        };
        let failed = match &result {
            Err(e) => fresh.pop().map(|last| (last, Failure::of(e))),
            Ok(_) => None,
        };
        for statement in this.statements.drain(..).chain(fresh) {
            statement.emit(None);
        }
        if let Some((statement, failure)) = failed {
            statement.emit(Some(&failure));
        }
        Poll::Ready(result)
    }
}

/// What a failed statement's span and duration value say.
struct Failure {
    error_type: String,
    status_code: Option<String>,
}

impl Failure {
    /// The sqlx error in `error` or its sources: the database's code, else
    /// the error's class.
    fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if let Some(e) = e.downcast_ref::<sqlx_core::Error>() {
                return Self::of_sqlx(e);
            }
            cause = e.source();
        }
        Self::class(attribute::ErrorType::Other.as_str())
    }

    fn of_sqlx(error: &sqlx_core::Error) -> Self {
        use sqlx_core::Error as E;
        match error {
            E::Database(db) => match db.code() {
                Some(code) => Self {
                    error_type: code.clone().into_owned(),
                    status_code: Some(code.into_owned()),
                },
                None => Self::class(attribute::ErrorType::Other.as_str()),
            },
            E::RowNotFound => Self::class("row_not_found"),
            E::Io(_) => Self::class("io"),
            E::Tls(_) => Self::class("tls"),
            E::Protocol(_) => Self::class("protocol"),
            E::ColumnDecode { .. } | E::Decode(_) => Self::class("decode"),
            E::Encode(_) => Self::class("encode"),
            _ => Self::class(attribute::ErrorType::Other.as_str()),
        }
    }

    fn class(error_type: &str) -> Self {
        Self {
            error_type: error_type.to_owned(),
            status_code: None,
        }
    }
}

impl Statement {
    /// Records the duration value and exports the span, with `failure`.
    fn emit(mut self, failure: Option<&Failure>) {
        if let Some(f) = failure {
            self.attributes.extend(
                [
                    key_value(attribute::DB_RESPONSE_STATUS_CODE, &f.status_code),
                    key_value(attribute::ERROR_TYPE, f.error_type.as_str()),
                ]
                .into_iter()
                .flatten(),
            );
        }
        self.hub.record_duration(
            metric::DB_CLIENT_OPERATION_DURATION.descriptor(),
            self.elapsed,
            &metric_attributes(
                metric::DB_CLIENT_OPERATION_DURATION.descriptor(),
                &self.attributes,
            ),
        );
        let Some(tracer) = &self.hub.tracer else {
            return;
        };
        let mut span = tracer
            .span_builder(self.name)
            .with_kind(SpanKind::Client)
            .with_start_time(self.start)
            .with_attributes(self.attributes)
            .start_with_context(tracer, &self.parent);
        if let Some(f) = failure {
            // The server's message can quote values: only the code leaves.
            let description = match &f.status_code {
                Some(code) => format!("SQLSTATE {code}"),
                None => f.error_type.clone(),
            };
            span.set_status(Status::error(description));
        }
        span.end_with_timestamp(self.end);
    }
}

/// Turns one sqlx statement event into a client span and a duration value,
/// at once, or when the [`traced`] future it ran in ends.
pub(crate) fn on_event(hub: &Arc<Hub>, event: &tracing::Event<'_>) {
    if event.metadata().target() != QUERY_TARGET {
        return;
    }
    let mut fields = Fields::default();
    event.record(&mut fields);
    let Some(elapsed) = fields.elapsed_secs.filter(|s| s.is_finite() && *s >= 0.0) else {
        return;
    };
    // sqlx leaves `db.statement` empty when the summary is the whole text.
    let text = match fields.statement.trim() {
        "" => fields.summary.trim(),
        full => full,
    };
    let statement = sql::analyze(text);
    let db = current_database();
    let attributes: Vec<KeyValue> = [
        key_value(attribute::DB_SYSTEM_NAME, db.system),
        key_value(attribute::DB_NAMESPACE, &db.namespace),
        key_value(attribute::DB_OPERATION_NAME, &statement.operation),
        key_value(attribute::DB_COLLECTION_NAME, &statement.collection),
        key_value(attribute::DB_QUERY_TEXT, &statement.text),
        key_value(attribute::SERVER_ADDRESS, &db.address),
        key_value(attribute::SERVER_PORT, &db.port),
        fields
            .rows_returned
            .filter(|n| *n > 0 || statement.operation.as_deref() == Some("SELECT"))
            .and_then(|n| {
                key_value(
                    attribute::DB_RESPONSE_RETURNED_ROWS,
                    &i64::try_from(n).unwrap_or(i64::MAX),
                )
            }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let end = SystemTime::now();
    let start = end
        .checked_sub(Duration::from_secs_f64(elapsed.min(1e9)))
        .unwrap_or(end);
    // Inside semtel's layer the current context is the span or stage the
    // statement ran in.
    let parent = match hub.tracer {
        Some(_) => crate::engine::context::map_otel_context(opentelemetry::Context::clone)
            .unwrap_or_default(),
        None => opentelemetry::Context::new(),
    };
    let statement = Statement {
        hub: Arc::clone(hub),
        name: statement.span_name(db.system),
        attributes,
        elapsed,
        start,
        end,
        parent,
    };
    // Inside `traced`, the statement waits for the outcome.
    let now = PENDING
        .try_with(|p| match p.borrow_mut().as_mut() {
            Some(list) => {
                list.push(statement);
                None
            }
            None => Some(statement),
        })
        .ok()
        .flatten();
    if let Some(statement) = now {
        statement.emit(None);
    }
}
