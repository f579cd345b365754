//! An orders pipeline: extract orders from a CSV file, validate them, hand
//! them over a Kafka-style queue whose headers carry the trace context, and
//! load them into a store.
//!
//! Run it with no collector and the telemetry is rendered on the terminal:
//!
//! ```text
//! cargo run -p semtel-examples --bin orders
//! ```
//!
//! Point it at a collector (Alloy, an OTel Collector) with the standard
//! variables, e.g. `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318`.
//!
//! Until semtel's `#[stage]` macro lands, the stages are instrumented with
//! plain `tracing` spans and OpenTelemetry instruments.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use tracing::{info, info_span, warn};

/// One order as read from the CSV file.
#[derive(Debug, Clone)]
struct Order {
    id: u32,
    customer: String,
    amount_cents: i64,
}

/// A message on the hand-off queue: Kafka-style byte headers and a payload.
struct Message {
    headers: Vec<(String, Vec<u8>)>,
    order: Order,
}

/// The stage instruments, named after semtel's `pipeline.` conventions.
struct Instruments {
    duration: Histogram<f64>,
    records: Counter<u64>,
    failures: Counter<u64>,
}

impl Instruments {
    fn new() -> Self {
        let meter = semtel::meter("orders");
        Self {
            duration: meter
                .f64_histogram("pipeline.stage.duration")
                .with_unit("s")
                .with_description("Duration of one stage run")
                .build(),
            records: meter
                .u64_counter("pipeline.records")
                .with_unit("{record}")
                .with_description("Records that passed through a stage")
                .build(),
            failures: meter
                .u64_counter("pipeline.stage.failures")
                .with_unit("{failure}")
                .with_description("Records a stage rejected")
                .build(),
        }
    }

    fn finish(&self, stage: &'static str, started: Instant, records: u64) {
        let attrs = [
            KeyValue::new("pipeline.name", "orders"),
            KeyValue::new("pipeline.stage.name", stage),
        ];
        self.duration
            .record(started.elapsed().as_secs_f64(), &attrs);
        self.records.add(records, &attrs);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _telemetry = semtel::builder()
        .service_name("orders")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init()?;
    let instruments = Instruments::new();

    let run = info_span!("pipeline.run", pipeline.name = "orders");
    let queue = run.in_scope(|| {
        let csv = extract_source();
        let orders = extract(&csv, &instruments);
        let valid = transform(orders, &instruments);
        produce(valid, &instruments)
    });
    // The consumer side runs outside the producer's span, as another service
    // would, and continues the trace from each message's headers.
    let loaded = consume_and_load(queue, &instruments);
    info!(loaded, "pipeline finished");
    Ok(())
}

/// Writes the day's orders as CSV (a stand-in for a file landing in a bucket).
fn extract_source() -> String {
    let mut csv = String::from("id,customer,amount_cents\n");
    for id in 1..=12u32 {
        let amount = match id {
            4 => "-250".to_owned(),   // a refund that slipped in: rejected
            9 => "twelve".to_owned(), // a malformed row: rejected
            _ => (i64::from(id) * 1375).to_string(),
        };
        let _ = writeln!(csv, "{id},customer-{},{amount}", id % 5);
    }
    csv
}

fn extract(csv: &str, m: &Instruments) -> Vec<Result<Order, String>> {
    let span = info_span!(
        "extract",
        pipeline.stage.kind = "source",
        file.size = csv.len()
    );
    let _entered = span.enter();
    let started = Instant::now();
    let rows: Vec<Result<Order, String>> = csv.lines().skip(1).map(parse_row).collect();
    info!(rows = rows.len(), "read orders file");
    m.finish("extract", started, rows.len() as u64);
    rows
}

fn parse_row(line: &str) -> Result<Order, String> {
    let mut cols = line.split(',');
    let (Some(id), Some(customer), Some(amount)) = (cols.next(), cols.next(), cols.next()) else {
        return Err(format!("short row `{line}`"));
    };
    Ok(Order {
        id: id.parse().map_err(|_| format!("bad id in `{line}`"))?,
        customer: customer.to_owned(),
        amount_cents: amount
            .parse()
            .map_err(|_| format!("bad amount in `{line}`"))?,
    })
}

fn transform(rows: Vec<Result<Order, String>>, m: &Instruments) -> Vec<Order> {
    let span = info_span!("transform", pipeline.stage.kind = "transform");
    let _entered = span.enter();
    let started = Instant::now();
    let mut valid = Vec::new();
    for row in rows {
        match row.and_then(validate) {
            Ok(order) => valid.push(order),
            Err(reason) => {
                warn!(error.type = "invalid_order", %reason, "order rejected");
                m.failures.add(
                    1,
                    &[
                        KeyValue::new("pipeline.stage.name", "transform"),
                        KeyValue::new("error.type", "invalid_order"),
                    ],
                );
            }
        }
    }
    m.finish("transform", started, valid.len() as u64);
    valid
}

fn validate(order: Order) -> Result<Order, String> {
    if order.amount_cents <= 0 {
        return Err(format!(
            "order {} has amount {}",
            order.id, order.amount_cents
        ));
    }
    Ok(order)
}

/// Publishes each order with the current trace context in its headers.
fn produce(orders: Vec<Order>, m: &Instruments) -> VecDeque<Message> {
    let span = info_span!(
        "orders publish",
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.destination.name = "orders",
        messaging.operation.type = "send",
        messaging.batch.message_count = orders.len(),
    );
    let _entered = span.enter();
    let started = Instant::now();
    let mut queue = VecDeque::new();
    for order in orders {
        let mut headers = Vec::new();
        semtel::propagation::inject(&mut headers);
        queue.push_back(Message { headers, order });
    }
    m.finish("produce", started, queue.len() as u64);
    queue
}

fn consume_and_load(mut queue: VecDeque<Message>, m: &Instruments) -> usize {
    let mut store: Vec<Order> = Vec::new();
    while let Some(message) = queue.pop_front() {
        let span = info_span!(
            "orders process",
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.destination.name = "orders",
            messaging.operation.type = "process",
        );
        semtel::propagation::set_parent(&span, semtel::propagation::extract(&message.headers));
        let _entered = span.enter();
        let started = Instant::now();
        load(&mut store, message.order);
        m.finish("load", started, 1);
    }
    store.len()
}

fn load(store: &mut Vec<Order>, order: Order) {
    let span = info_span!(
        "INSERT orders",
        otel.kind = "client",
        db.system.name = "sqlite",
        db.collection.name = "orders",
        db.operation.name = "INSERT",
    );
    let _entered = span.enter();
    info!(order.id = order.id, customer = %order.customer, "order stored");
    store.push(order);
}
