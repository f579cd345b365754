//! An orders pipeline, instrumented with one attribute per stage.
//!
//! ```text
//! run orders (pipeline.run.id)
//! extract (CSV file)  →  transform  →  publish ─ topic, Kafka-style headers ─→  consume  →  load (SQLite or PostgreSQL)
//!                         ├ validate (per row, some fail)                                      (client spans, db.*)
//!                         └ invalid rows → dead-letter topic
//! ```
//!
//! Each execution is a pipeline run ([`semtel::Run`]): every stage span and
//! log record carries its `pipeline.run.id`. Every stage gets a span, the
//! `pipeline.stage.duration` histogram, record counters and `error.type` on
//! failure; the consumer links to the producer's trace through the
//! messages' `traceparent` headers. What a data engineer watches is
//! recorded where it happens: the bytes read from the file, published and
//! consumed (`pipeline.bytes`), how old the source file is (`pipeline.lag`)
//! and how many messages wait for the consumer (`pipeline.backlog`), the
//! send the broker refused transiently and that was retried
//! (`pipeline.retries`), and the invalid rows sent to the dead-letter topic
//! (`pipeline.dead_letters`). The broker is in memory ([`MemoryBroker`],
//! which refuses its first send once); any [`Broker`] can take its place,
//! as Kafka does when [`RunConfig::kafka`] names brokers
//! ([`KafkaBroker`](crate::kafka::KafkaBroker)).
//! With a PostgreSQL
//! connection string ([`RunConfig::postgres`]) the orders are loaded there
//! through semtel's tokio-postgres integration, which makes every statement
//! a client span and records `db.client.operation.duration`; otherwise into
//! a SQLite file, with a client span per insert written by hand.

use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use semtel::run::Outcome;
use semtel::{ErrorType as _, Telemetry, stage};
use tracing::{info, info_span, warn};

use crate::conventions::attribute as orders;
use crate::queue::{Batch, Broker, MemoryBroker, Message, SendError};

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
    /// Kafka brokers (`host:port,…`) to hand the orders over through
    /// ([`KafkaBroker`](crate::kafka::KafkaBroker)), instead of the
    /// in-memory broker.
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

impl Order {
    /// The order as a line of the source file.
    pub fn to_csv(&self) -> String {
        let Order {
            id,
            customer,
            email,
            amount,
            currency,
            note,
        } = self;
        format!("{id},{customer},{email},{amount},{currency},{note}")
    }

    /// Parses a line of the source file.
    ///
    /// # Errors
    /// When a column is missing or does not parse.
    pub fn from_csv(row: &str) -> Result<Order, InvalidOrder> {
        let cols: Vec<&str> = row.split(',').collect();
        let [id, customer, email, amount, currency, note] = cols[..] else {
            return Err(InvalidOrder::Malformed);
        };
        Ok(Order {
            id: id.parse().map_err(|_| InvalidOrder::Malformed)?,
            customer: customer.to_owned(),
            email: email.to_owned(),
            amount: amount.parse().map_err(|_| InvalidOrder::Malformed)?,
            currency: currency.to_owned(),
            note: note.to_owned(),
        })
    }
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

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows read from the file.
    pub read: usize,
    /// Rows rejected by validation (and sent to the dead-letter topic).
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
    /// The broker did not take a message.
    Send(SendError),
    /// A consumed message is not an order.
    Invalid(InvalidOrder),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Io(e) => write!(f, "i/o: {e}"),
            PipelineError::Db(e) => write!(f, "database: {e}"),
            PipelineError::Postgres(e) => write!(f, "postgresql: {e}"),
            PipelineError::Send(e) => write!(f, "broker: {e}"),
            PipelineError::Invalid(e) => write!(f, "message: {e}"),
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

impl From<SendError> for PipelineError {
    fn from(e: SendError) -> Self {
        PipelineError::Send(e)
    }
}

impl From<InvalidOrder> for PipelineError {
    fn from(e: InvalidOrder) -> Self {
        PipelineError::Invalid(e)
    }
}

impl From<rusqlite::Error> for PipelineError {
    fn from(e: rusqlite::Error) -> Self {
        PipelineError::Db(e)
    }
}

/// The topic orders are handed over on.
pub const TOPIC: &str = "orders";

/// The topic rejected rows go to, for someone to fix and replay.
pub const DEAD_LETTER_TOPIC: &str = "orders.dead-letter";

/// Runs the whole pipeline once, through Kafka when the config names
/// brokers ([`RunConfig::kafka`]), else through an in-memory broker that
/// refuses its first send of an order once.
///
/// # Errors
///
/// When the files, the Kafka clients or the database fail.
pub fn run(config: &RunConfig) -> Result<Summary, PipelineError> {
    match &config.kafka {
        Some(brokers) => run_with(config, &mut crate::kafka::KafkaBroker::connect(brokers)?),
        None => run_with(config, &mut MemoryBroker::new().hiccup_on(TOPIC)),
    }
}

/// Runs the whole pipeline once, as one pipeline run, handing the orders
/// over through `broker`.
///
/// # Errors
///
/// When the files, the broker or the database fail.
pub fn run_with(config: &RunConfig, broker: &mut dyn Broker) -> Result<Summary, PipelineError> {
    let run = semtel::Run::start("orders", None);
    let result = run.in_scope(|| stages(config, broker));
    run.finish(match &result {
        Ok(_) => Outcome::Success,
        Err(e) => Outcome::failure(e.error_type()),
    });
    result
}

fn stages(config: &RunConfig, broker: &mut dyn Broker) -> Result<Summary, PipelineError> {
    std::fs::create_dir_all(&config.dir)?;
    let csv = write_source(&config.dir, config.orders)?;
    let rows = extract(&csv)?;
    let read = rows.len();
    let valid = transform(rows, broker)?;
    let rejected = read - valid.len();
    publish(broker, TOPIC, &valid)?;
    let mut db = match &config.postgres {
        Some(conn) => Warehouse::postgres(conn)?,
        None => Warehouse::Sqlite(Connection::open(config.dir.join("warehouse.sqlite3"))?),
    };
    let loaded = consume(&mut db, broker.poll(TOPIC, 1_000))?;
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
    stage::current().bytes_in(text.len());
    // Freshness: how long ago the file landed, per file.
    let age = std::fs::metadata(path)?
        .modified()?
        .elapsed()
        .unwrap_or_default();
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    semtel::lag::seconds(&file, age.as_secs_f64());
    Ok(text.lines().skip(1).map(str::to_owned).collect())
}

#[stage(
    pipeline = "orders",
    kind = transform,
    records_in = rows.len(),
    records_out = ret.len()
)]
fn transform(rows: Vec<String>, dead_letters: &mut dyn Broker) -> Result<Vec<Order>, SendError> {
    let mut valid = Vec::with_capacity(rows.len());
    for row in rows {
        match validate(&row) {
            Ok(order) => valid.push(order),
            Err(e) => {
                warn!(error.type = e.error_type(), "order rejected");
                let why = ("error.type".to_owned(), e.error_type().as_bytes().to_vec());
                let message = Message {
                    headers: vec![why],
                    key: Vec::new(),
                    payload: row.into_bytes(),
                };
                dead_letters.send(DEAD_LETTER_TOPIC, message)?;
                stage::current().dead_letter();
            }
        }
    }
    Ok(valid)
}

/// A stage nested in `transform`: one span per row, failures with `error.type`.
#[stage(pipeline = "orders", kind = transform)]
fn validate(row: &str) -> Result<Order, InvalidOrder> {
    let order = {
        // A plain `tracing` span inside a stage is the stage's child.
        let _parse = info_span!("parse row").entered();
        Order::from_csv(row)?
    };
    if order.amount <= 0.0 {
        return Err(InvalidOrder::NotPositive);
    }
    Ok(order)
}

/// Publishes each order with the current trace context in its headers;
/// returns the payload bytes sent.
#[stage(
    pipeline = "orders",
    span_kind = producer,
    fields(
        messaging.system = "kafka",
        messaging.destination.name = topic,
        messaging.operation.type = "send",
        messaging.batch.message_count = orders.len(),
    ),
    records_in = orders.len(),
    bytes_out = *ret
)]
fn publish(broker: &mut dyn Broker, topic: &str, orders: &[Order]) -> Result<usize, SendError> {
    let mut sent = 0;
    for order in orders {
        let mut headers = Vec::new();
        semtel::propagation::inject(&mut headers);
        let message = Message {
            headers,
            key: order.id.to_string().into_bytes(),
            payload: order.to_csv().into_bytes(),
        };
        sent += message.payload.len();
        send_retrying(broker, topic, message)?;
    }
    Ok(sent)
}

/// Sends `message`, once more when the broker asks to try again.
fn send_retrying(broker: &mut dyn Broker, topic: &str, message: Message) -> Result<(), SendError> {
    match broker.send(topic, message.clone()) {
        Err(e) if e.is_transient() => {
            warn!(error.type = e.error_type(), "send failed, retrying");
            stage::current().retry();
            broker.send(topic, message)
        }
        sent => sent,
    }
}

/// A batch consumer: its span links to the producer's context of every
/// message, and it reports how many messages still wait on its partition.
#[stage(
    pipeline = "orders",
    kind = sink,
    span_kind = consumer,
    links = batch.messages.iter().map(|m| semtel::propagation::extract(&m.headers)),
    fields(
        messaging.system = "kafka",
        messaging.destination.name = "orders",
        messaging.operation.type = "process",
        messaging.batch.message_count = batch.messages.len(),
    ),
    records_in = batch.messages.len(),
    bytes_in = batch.bytes()
)]
fn consume(db: &mut Warehouse, batch: Batch) -> Result<usize, PipelineError> {
    semtel::lag::records(&batch.partition, batch.waiting);
    let orders = (batch.messages.iter())
        .map(|m| Order::from_csv(&String::from_utf8_lossy(&m.payload)))
        .collect::<Result<Vec<Order>, InvalidOrder>>()?;
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
