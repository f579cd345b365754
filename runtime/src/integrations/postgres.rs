//! tokio-postgres: a client whose every query, execute, prepare, batch and
//! transaction is a client span with the database conventions' attributes
//! and a value of `db.client.operation.duration` (feature `tokio-postgres`).
//!
//! [`Client`] wraps a `tokio_postgres::Client` with what the spans need to
//! know about the connection (database, host and port from its
//! `tokio_postgres::Config`; never the password). Its methods are those of
//! tokio-postgres; [`Client::inner`] reaches the rest uninstrumented.
//!
//! ```no_run
//! # async fn run() -> Result<(), tokio_postgres::Error> {
//! use semtel::integrations::postgres;
//!
//! let (client, connection) =
//!     postgres::connect("host=127.0.0.1 user=etl dbname=warehouse", tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//!
//! // A span `SELECT orders`: db.system.name=postgresql, db.namespace=warehouse,
//! // db.operation.name=SELECT, db.collection.name=orders,
//! // db.query.text="SELECT id FROM orders WHERE amount > $1",
//! // db.response.returned_rows, server.address, server.port.
//! let rows = client.query("SELECT id FROM orders WHERE amount > $1", &[&10.0_f64]).await?;
//!
//! // A prepared statement keeps its text for the spans of its executions.
//! let insert = client.prepare("INSERT INTO orders (id) VALUES ($1)").await?;
//! client.execute(&insert, &[&42_i64]).await?;
//! # Ok(()) }
//! ```
//!
//! On failure the span has an error status, `error.type` and
//! `db.response.status_code` set to the SQLSTATE (`42P01`), or
//! `error.type=_OTHER` for a client-side error. `db.query.text` is the
//! statement with every literal replaced by `?`; bound values are never
//! recorded.

use opentelemetry::{StringValue, Value};
use semtel_conventions::attribute::{self, DbSystemName};
use semtel_conventions::metric;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, GenericClient, Row, SimpleQueryMessage};
use tracing::Instrument as _;

use super::Operation;
use super::sql;

/// What every span of a connection says about the server.
#[derive(Debug, Clone, Default)]
struct Server {
    /// `db.namespace` and `server.address` as shared strings: a query's
    /// span and metric take a reference each, not a copy.
    namespace: Option<Value>,
    address: Option<Value>,
    port: Option<i64>,
}

impl Server {
    fn of(config: &tokio_postgres::Config) -> Self {
        let address = config.get_hosts().first().map(|h| match h {
            tokio_postgres::config::Host::Tcp(host) => host.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        });
        let shared = |s: &str| Value::String(StringValue::from(Arc::<str>::from(s)));
        Self {
            namespace: config.get_dbname().map(shared),
            address: address.as_deref().map(shared),
            port: config.get_ports().first().map(|p| i64::from(*p)),
        }
    }
}

/// A tokio-postgres client (or, as [`Transaction`], a transaction) whose
/// operations are instrumented.
pub struct Instrumented<C> {
    inner: C,
    server: Arc<Server>,
}

/// An instrumented `tokio_postgres::Client`.
pub type Client = Instrumented<tokio_postgres::Client>;

/// An instrumented `tokio_postgres::Transaction`, from [`Client::transaction`].
pub type Transaction<'a> = Instrumented<tokio_postgres::Transaction<'a>>;

impl<C> std::fmt::Debug for Instrumented<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Connects like `tokio_postgres::connect` and wraps the client. Spawn the
/// returned connection, as with tokio-postgres.
///
/// # Errors
///
/// When `config` does not parse or the connection fails.
pub async fn connect<T>(
    config: &str,
    tls: T,
) -> Result<
    (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, T::Stream>,
    ),
    Error,
>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
{
    let config: tokio_postgres::Config = config.parse()?;
    let (client, connection) = config.connect(tls).await?;
    Ok((Client::new(client, &config), connection))
}

/// A statement prepared through an instrumented client: a
/// `tokio_postgres::Statement` (it derefs to one) that keeps what its text
/// says for the spans of its executions.
#[derive(Debug, Clone)]
pub struct Statement {
    inner: tokio_postgres::Statement,
    sql: Arc<sql::Statement>,
}

impl std::ops::Deref for Statement {
    type Target = tokio_postgres::Statement;

    fn deref(&self) -> &tokio_postgres::Statement {
        &self.inner
    }
}

/// What the query methods take: SQL text (`&str`, `String`) or a
/// [`Statement`] prepared through an instrumented client.
pub trait Query: private::Sealed + Sync {}

mod private {
    use std::borrow::Cow;

    pub trait Sealed {
        type Target: ?Sized + tokio_postgres::ToStatement + Sync + Send;
        fn target(&self) -> &Self::Target;
        fn analysis(&self) -> Cow<'_, super::sql::Statement>;
    }

    impl Sealed for str {
        type Target = str;
        fn target(&self) -> &str {
            self
        }
        fn analysis(&self) -> Cow<'_, super::sql::Statement> {
            Cow::Owned(super::sql::analyze(self))
        }
    }

    impl Sealed for String {
        type Target = str;
        fn target(&self) -> &str {
            self
        }
        fn analysis(&self) -> Cow<'_, super::sql::Statement> {
            Cow::Owned(super::sql::analyze(self))
        }
    }

    impl Sealed for super::Statement {
        type Target = tokio_postgres::Statement;
        fn target(&self) -> &tokio_postgres::Statement {
            &self.inner
        }
        fn analysis(&self) -> Cow<'_, super::sql::Statement> {
            Cow::Borrowed(&self.sql)
        }
    }
}

impl Query for str {}
impl Query for String {}
impl Query for Statement {}

impl Client {
    /// Wraps `client`, connected with `config` (for the database name,
    /// host and port of its spans).
    pub fn new(client: tokio_postgres::Client, config: &tokio_postgres::Config) -> Self {
        Self {
            inner: client,
            server: Arc::new(Server::of(config)),
        }
    }

    /// Starts a transaction (a `BEGIN` span); its operations are
    /// instrumented too, and so are its `COMMIT` and `ROLLBACK`.
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::transaction`.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let server = Arc::clone(&self.server);
        let op = start(&server, &sql::analyze("BEGIN"));
        let result = self.inner.transaction().instrument(op.span().clone()).await;
        end(op, &result, |_| None);
        Ok(Instrumented {
            inner: result?,
            server,
        })
    }
}

impl Transaction<'_> {
    /// Commits (a `COMMIT` span).
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Transaction::commit`.
    pub async fn commit(self) -> Result<(), Error> {
        let op = start(&self.server, &sql::analyze("COMMIT"));
        let result = self.inner.commit().instrument(op.span().clone()).await;
        end(op, &result, |_| None);
        result
    }

    /// Rolls back (a `ROLLBACK` span).
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Transaction::rollback`.
    pub async fn rollback(self) -> Result<(), Error> {
        let op = start(&self.server, &sql::analyze("ROLLBACK"));
        let result = self.inner.rollback().instrument(op.span().clone()).await;
        end(op, &result, |_| None);
        result
    }
}

impl<C: GenericClient + Sync> Instrumented<C> {
    /// The wrapped client, for what is not instrumented here (`copy_in`,
    /// `query_raw`, …).
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Prepares a statement (a span with `db.operation.name=PREPARE`).
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::prepare`.
    pub async fn prepare(&self, query: &str) -> Result<Statement, Error> {
        let analysis = sql::analyze(query);
        let prepare = sql::Statement {
            operation: Some("PREPARE".to_owned()),
            ..analysis.clone()
        };
        let op = start(&self.server, &prepare);
        let result = self
            .inner
            .prepare(query)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |_| None);
        Ok(Statement {
            inner: result?,
            sql: Arc::new(analysis),
        })
    }

    /// Runs a query and returns its rows (`db.response.returned_rows`).
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::query`.
    pub async fn query<Q: Query + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let op = start(&self.server, &query.analysis());
        let result = self
            .inner
            .query(query.target(), params)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |rows| Some(rows.len()));
        result
    }

    /// Runs a query that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::query_one`.
    pub async fn query_one<Q: Query + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let op = start(&self.server, &query.analysis());
        let result = self
            .inner
            .query_one(query.target(), params)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |_| Some(1));
        result
    }

    /// Runs a query that returns at most one row.
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::query_opt`.
    pub async fn query_opt<Q: Query + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let op = start(&self.server, &query.analysis());
        let result = self
            .inner
            .query_opt(query.target(), params)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |row| Some(usize::from(row.is_some())));
        result
    }

    /// Runs a statement and returns the number of rows it changed.
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::execute`.
    pub async fn execute<Q: Query + ?Sized>(
        &self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let op = start(&self.server, &query.analysis());
        let result = self
            .inner
            .execute(query.target(), params)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |_| None);
        result
    }

    /// Runs statements separated by `;` with the simple protocol (one span;
    /// its operation is `BATCH INSERT` and the like when they are all of one
    /// kind).
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::batch_execute`.
    pub async fn batch_execute(&self, query: &str) -> Result<(), Error> {
        let op = start(&self.server, &sql::analyze(query));
        let result = self
            .inner
            .batch_execute(query)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |()| None);
        result
    }

    /// Runs statements with the simple protocol and returns their rows.
    ///
    /// # Errors
    ///
    /// As `tokio_postgres::Client::simple_query`.
    pub async fn simple_query(&self, query: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let op = start(&self.server, &sql::analyze(query));
        let result = self
            .inner
            .simple_query(query)
            .instrument(op.span().clone())
            .await;
        end(op, &result, |messages| {
            Some(
                messages
                    .iter()
                    .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                    .count(),
            )
        });
        result
    }
}

/// Starts the span of one operation on `server`.
fn start(server: &Server, statement: &sql::Statement) -> Operation {
    let name = statement.span_name(DbSystemName::Postgresql.as_str());
    let span = tracing::info_span!(
        "postgresql",
        otel.name = name.as_str(),
        otel.kind = "client"
    );
    let mut op = Operation::start(span, metric::DB_CLIENT_OPERATION_DURATION);
    op.set_value(
        attribute::DB_SYSTEM_NAME.name(),
        Value::from(DbSystemName::Postgresql.as_str()),
    );
    if let Some(namespace) = &server.namespace {
        op.set_value(attribute::DB_NAMESPACE.name(), namespace.clone());
    }
    op.set(attribute::DB_OPERATION_NAME, &statement.operation)
        .set(attribute::DB_COLLECTION_NAME, &statement.collection)
        .set(attribute::DB_QUERY_TEXT, &statement.text);
    if let Some(address) = &server.address {
        op.set_value(attribute::SERVER_ADDRESS.name(), address.clone());
    }
    op.set(attribute::SERVER_PORT, &server.port);
    op
}

/// Ends `op` with the outcome of its operation; `rows` counts what it
/// returned, when it returns rows.
fn end<T>(mut op: Operation, result: &Result<T, Error>, rows: impl FnOnce(&T) -> Option<usize>) {
    match result {
        Ok(value) => {
            if let Some(n) = rows(value) {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                op.set(attribute::DB_RESPONSE_RETURNED_ROWS, &n);
            }
        }
        Err(e) => match e.code() {
            Some(state) => {
                let code = state.code();
                op.set(attribute::DB_RESPONSE_STATUS_CODE, code);
                // The server's message can quote values ("invalid input
                // syntax for type integer: \"…\""): only the code leaves.
                op.fail(code, Some(&format!("SQLSTATE {code}")));
            }
            None if e.is_closed() => op.fail("connection_closed", None),
            None => op.fail(
                semtel_conventions::attribute::ErrorType::Other.as_str(),
                None,
            ),
        },
    }
    op.finish();
}
