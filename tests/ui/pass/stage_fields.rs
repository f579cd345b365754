//! `fields` with checked, keyed and unchecked names; `record`; `links`; `crate`.

mod my_registry {
    use semtel::conventions::model::AttributeKey;
    pub const ORDER_ID: AttributeKey<String> = AttributeKey::new("acme.order.id");
    pub const ORDER_LINES: AttributeKey<i64> = AttributeKey::new("acme.order.lines");
    pub const TAGS: AttributeKey<Vec<String>> = AttributeKey::new("acme.order.tags");
}

mod reexport {
    pub use semtel;
}

#[derive(semtel::Telemetry)]
pub struct Order {
    #[telemetry(name = "messaging.destination.name")]
    topic: String,
}

#[semtel::stage(
    fields(
        db.system.name = "postgresql",
        db.collection.name = table,
        db.response.returned_rows = 3,
        http.request.method = "GET",
        [my_registry::ORDER_ID] = id,
        [my_registry::ORDER_LINES] = lines,
        [my_registry::TAGS] = tags,
        unchecked("acme.priority") = 3,
        unchecked("acme.label") = Some("x"),
    ),
    record(order),
)]
fn store(table: &str, id: &str, lines: u32, tags: &[&str], order: &Order) {}

#[semtel::stage(span_kind = consumer, links = contexts.iter().cloned())]
fn consume(contexts: &[opentelemetry::Context]) {}

// The same forms on async stages, whose expansion holds the guard by
// reference when telemetry is on.
#[semtel::stage(
    fields(
        db.collection.name = table,
        [my_registry::ORDER_ID] = id,
        unchecked("acme.priority") = 3,
    ),
    record(order),
    records_in = lines,
)]
async fn store_async(table: &str, id: &str, lines: u32, order: &Order) -> u32 {
    lines
}

#[semtel::stage(span_kind = consumer, links = contexts.iter().cloned())]
async fn consume_async(contexts: &[opentelemetry::Context]) {}

#[semtel::stage(crate = reexport::semtel, pipeline = "p")]
fn via_reexport() -> Result<(), std::fmt::Error> {
    Ok(())
}

fn main() {
    let order = Order { topic: "t".into() };
    store("orders", "o-1", 2, &["a"], &order);
    consume(&[]);
    let _ = store_async("orders", "o-1", 2, &order);
    let _ = consume_async(&[]);
    let _ = via_reexport();
}
