//! An orders pipeline, instrumented with one attribute per stage.
//!
//! ```text
//! extract (CSV file)  →  transform  →  publish ─ Kafka-style headers ─→  consume  →  load (SQLite or PostgreSQL)
//!                         └ validate (per row, some fail)                           (client spans, db.*)
//! ```
//!
//! Every stage gets a span, the `pipeline.stage.duration` histogram, record
//! counters and `error.type` on failure; the consumer links to the producer's
//! trace through the messages' `traceparent` headers. With a PostgreSQL
//! connection string ([`RunConfig::postgres`]) the orders are loaded there
//! through semtel's tokio-postgres integration, which makes every statement
//! a client span and records `db.client.operation.duration`; otherwise into
//! a SQLite file, with a client span per insert written by hand.

use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use semtel::{ErrorType as _, Telemetry, stage};
use tracing::{info, info_span, warn};

use crate::conventions::attribute as orders;

/// Where the run keeps its files, and how many orders the source file holds.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Folder for the CSV file and the SQLite database.
    pub dir: PathBuf,
    /// Orders written to the source file; every 4th has a negative amount and
    /// every 9th a malformed one, so validation rejects some.
    pub orders: u32,
    /// A PostgreSQL connection string (`host=… user=… dbname=…` or a
    /// `postgres://` URL) to load the orders into, instead of SQLite.
    pub postgres: Option<String>,
    /// Kafka brokers (`host:port,…`) to hand the orders over through,
    /// instead of the in-memory queue ([`crate::kafka`]).
    pub kafka: Option<String>,
}

impl RunConfig {
    /// Twelve orders in `dir`, loaded into SQLite.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            orders: 12,
            postgres: None,
            kafka: None,
        }
    }
}

/// One order, as validated. Its fields become span attributes under the
/// pipeline's own conventions; the customer's e-mail never leaves the process.
#[derive(Debug, Clone, Telemetry)]
pub struct Order {
    /// The order number.
    #[telemetry(key = orders::ORDERS_ORDER_ID)]
    pub id: i64,
    /// The customer; exported only as a keyed hash.
    #[telemetry(key = orders::ORDERS_CUSTOMER_ID, redact = "hash")]
    pub customer: String,
    /// Personal data: exported as a redaction marker.
    #[telemetry(key = orders::ORDERS_CUSTOMER_EMAIL, redact)]
    pub email: String,
    /// The amount, in `currency`.
    #[telemetry(key = orders::ORDERS_ORDER_AMOUNT)]
    pub amount: f64,
    /// ISO 4217 code.
    #[telemetry(key = orders::ORDERS_ORDER_CURRENCY)]
    pub currency: String,
    /// Free text from the source: never exported.
    #[telemetry(skip)]
    pub note: String,
}

/// Why a row was rejected. `error.type` is the variant name in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Telemetry)]
pub enum InvalidOrder {
    /// The amount is zero or negative (a refund that slipped in).
    NotPositive,
    /// A column is missing or does not parse.
    Malformed,
}

impl fmt::Display for InvalidOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidOrder::NotPositive => "the amount is not positive",
            InvalidOrder::Malformed => "the row is malformed",
        })
    }
}

impl std::error::Error for InvalidOrder {}

/// A message on the hand-off queue: Kafka-style byte headers and a payload.
#[derive(Debug, Clone)]
pub struct Message {
    /// Headers; `traceparent` carries the producer's trace context.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The order.
    pub order: Order,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows read from the file.
    pub read: usize,
    /// Rows rejected by validation.
    pub rejected: usize,
    /// Orders stored in the database.
    pub loaded: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "orders: {} read, {} rejected, {} loaded",
            self.read, self.rejected, self.loaded
        )
    }
}

/// Why a run failed.
#[derive(Debug, Telemetry)]
pub enum PipelineError {
    /// Reading or writing a file.
    Io(io::Error),
    /// The database.
    Db(rusqlite::Error),
    /// The PostgreSQL database.
    Postgres(tokio_postgres::Error),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Io(e) => write!(f, "i/o: {e}"),
            PipelineError::Db(e) => write!(f, "database: {e}"),
            PipelineError::Postgres(e) => write!(f, "postgresql: {e}"),
        }
    }
}

impl std::error::Error for PipelineError {}

impl From<io::Error> for PipelineError {
    fn from(e: io::Error) -> Self {
        PipelineError::Io(e)
    }
}

impl From<tokio_postgres::Error> for PipelineError {
    fn from(e: tokio_postgres::Error) -> Self {
        PipelineError::Postgres(e)
    }
}

impl From<rusqlite::Error> for PipelineError {
    fn from(e: rusqlite::Error) -> Self {
        PipelineError::Db(e)
    }
}

/// The topic orders are handed over on.
pub const TOPIC: &str = "orders";

/// Runs the whole pipeline once.
///
/// # Errors
///
/// When the files or the database cannot be written.
#[stage(pipeline = "orders", name = "orders run")]
pub fn run(config: &RunConfig) -> Result<Summary, PipelineError> {
    std::fs::create_dir_all(&config.dir)?;
    let csv = write_source(&config.dir, config.orders)?;
    let rows = extract(&csv)?;
    let read = rows.len();
    let valid = transform(rows);
    let rejected = read - valid.len();
    let messages = match &config.kafka {
        Some(brokers) => crate::kafka::exchange(brokers, TOPIC, valid)?,
        None => publish(TOPIC, valid),
    };
    let mut db = match &config.postgres {
        Some(conn) => Warehouse::postgres(conn)?,
        None => Warehouse::Sqlite(Connection::open(config.dir.join("warehouse.sqlite3"))?),
    };
    let loaded = consume(&mut db, messages)?;
    info!(pipeline.batch.size = loaded, "pipeline finished");
    Ok(Summary {
        read,
        rejected,
        loaded,
    })
}

/// Writes the day's orders as CSV (a stand-in for a file landing in a bucket).
fn write_source(dir: &Path, orders: u32) -> io::Result<PathBuf> {
    let path = dir.join("orders.csv");
    let mut file = io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(file, "id,customer,email,amount,currency,note")?;
    for id in 1..=orders {
        let amount = match id {
            n if n % 9 == 0 => "twelve".to_owned(),
            n if n % 4 == 0 => "-2.50".to_owned(),
            n => format!("{}.{:02}", n * 13, n % 100),
        };
        let currency = if id % 2 == 0 { "EUR" } else { "USD" };
        let customer = id % 5;
        writeln!(
            file,
            "{id},customer-{customer},c{customer}@example.com,{amount},{currency},gift wrap"
        )?;
    }
    file.flush()?;
    Ok(path)
}

#[stage(
    pipeline = "orders",
    kind = source,
    fields(file.path = path.display().to_string()),
    records_out = ret.len()
)]
fn extract(path: &Path) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().skip(1).map(str::to_owned).collect())
}

#[stage(
    pipeline = "orders",
    kind = transform,
    records_in = rows.len(),
    records_out = ret.len()
)]
fn transform(rows: Vec<String>) -> Vec<Order> {
    let mut valid = Vec::with_capacity(rows.len());
    for row in &rows {
        match validate(row) {
            Ok(order) => valid.push(order),
            Err(e) => warn!(error.type = e.error_type(), "order rejected"),
        }
    }
    valid
}

/// A stage nested in `transform`: one span per row, failures with `error.type`.
#[stage(pipeline = "orders", kind = transform)]
fn validate(row: &str) -> Result<Order, InvalidOrder> {
    let cols: Vec<&str> = row.split(',').collect();
    let [id, customer, email, amount, currency, note] = cols[..] else {
        return Err(InvalidOrder::Malformed);
    };
    let amount: f64 = {
        // A plain `tracing` span inside a stage is the stage's child.
        let _parse = info_span!("parse amount").entered();
        amount.parse().map_err(|_| InvalidOrder::Malformed)?
    };
    if amount <= 0.0 {
        return Err(InvalidOrder::NotPositive);
    }
    Ok(Order {
        id: id.parse().map_err(|_| InvalidOrder::Malformed)?,
        customer: customer.to_owned(),
        email: email.to_owned(),
        amount,
        currency: currency.to_owned(),
        note: note.to_owned(),
    })
}

/// Publishes each order with the current trace context in its headers.
#[stage(
    pipeline = "orders",
    span_kind = producer,
    fields(
        messaging.system = "kafka",
        messaging.destination.name = topic,
        messaging.operation.type = "send",
        messaging.batch.message_count = orders.len(),
    ),
    records_in = orders.len()
)]
fn publish(topic: &str, orders: Vec<Order>) -> Vec<Message> {
    orders
        .into_iter()
        .map(|order| {
            let mut headers = vec![("key".to_owned(), order.id.to_string().into_bytes())];
            semtel::propagation::inject(&mut headers);
            Message { headers, order }
        })
        .collect()
}

/// A batch consumer: its span links to the producer's context of every message.
#[stage(
    pipeline = "orders",
    kind = sink,
    span_kind = consumer,
    links = messages.iter().map(|m| semtel::propagation::extract(&m.headers)),
    fields(
        messaging.system = "kafka",
        messaging.destination.name = "orders",
        messaging.operation.type = "process",
        messaging.batch.message_count = messages.len(),
    ),
    records_in = messages.len()
)]
fn consume(db: &mut Warehouse, messages: Vec<Message>) -> Result<usize, PipelineError> {
    let orders: Vec<Order> = messages.into_iter().map(|m| m.order).collect();
    match db {
        Warehouse::Sqlite(conn) => Ok(load(conn, &orders)?),
        Warehouse::Postgres { client, runtime } => {
            Ok(runtime.block_on(load_postgres(client, &orders))?)
        }
    }
}

/// Where the orders go.
enum Warehouse {
    /// A SQLite file.
    Sqlite(Connection),
    /// A PostgreSQL database, through semtel's instrumented tokio-postgres
    /// client, driven by a runtime of its own.
    Postgres {
        client: semtel::integrations::postgres::Client,
        runtime: tokio::runtime::Runtime,
    },
}

impl Warehouse {
    fn postgres(conn: &str) -> Result<Self, PipelineError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(async {
            let (client, connection) =
                semtel::integrations::postgres::connect(conn, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok::<_, tokio_postgres::Error>(client)
        })?;
        Ok(Self::Postgres { client, runtime })
    }
}

const UPSERT: &str = "INSERT INTO orders (id, customer, amount, currency) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET customer = $2, amount = $3, currency = $4";

/// Writes the orders into PostgreSQL in one transaction; each statement is a
/// client span of semtel's tokio-postgres integration, under this stage.
#[stage(pipeline = "orders", kind = sink, records_out = *ret)]
async fn load_postgres(
    client: &mut semtel::integrations::postgres::Client,
    orders: &[Order],
) -> Result<usize, tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS orders (
                 id BIGINT PRIMARY KEY, customer TEXT NOT NULL,
                 amount DOUBLE PRECISION NOT NULL, currency TEXT NOT NULL)",
        )
        .await?;
    let upsert = client.prepare(UPSERT).await?;
    let tx = client.transaction().await?;
    let mut written = 0;
    for order in orders {
        let n = tx
            .execute(
                &upsert,
                &[&order.id, &order.customer, &order.amount, &order.currency],
            )
            .await?;
        written += usize::try_from(n).unwrap_or(usize::MAX);
        info!(orders.order.id = order.id, "order stored");
    }
    tx.commit().await?;
    Ok(written)
}

const INSERT: &str = "INSERT INTO orders (id, customer, amount, currency) VALUES (?1, ?2, ?3, ?4)";

/// Writes the orders in one transaction.
#[stage(pipeline = "orders", kind = sink, records_out = *ret)]
fn load(db: &mut Connection, orders: &[Order]) -> rusqlite::Result<usize> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (
             id INTEGER PRIMARY KEY, customer TEXT NOT NULL,
             amount REAL NOT NULL, currency TEXT NOT NULL)",
    )?;
    let tx = db.transaction()?;
    let mut written = 0;
    for order in orders {
        written += store(&tx, order)?;
    }
    tx.commit()?;
    Ok(written)
}

/// One INSERT: a client span with `db.*` attributes, so Tempo's service graph
/// draws the database, and the order's own attributes (customer hashed,
/// e-mail redacted).
#[stage(
    pipeline = "orders",
    kind = sink,
    span_kind = client,
    record(order),
    fields(
        db.system.name = "sqlite",
        db.collection.name = "orders",
        db.operation.name = "INSERT",
        db.query.text = INSERT,
    )
)]
fn store(tx: &rusqlite::Transaction<'_>, order: &Order) -> rusqlite::Result<usize> {
    let written = tx.prepare_cached(INSERT)?.execute((
        order.id,
        &order.customer,
        order.amount,
        &order.currency,
    ))?;
    info!(orders.order.id = order.id, "order stored");
    Ok(written)
}

/// The attributes an order exports, for a reader to see redaction at work.
pub fn exported_attributes(order: &Order) -> semtel::Attributes {
    order.attributes()
}
