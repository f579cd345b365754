mod my_registry {
    use semtel::conventions::model::AttributeKey;
    pub const ORDER_ID: AttributeKey<String> = AttributeKey::new("acme.order.id");
}

#[semtel::stage(fields([my_registry::ORDER_ID] = id, [my_registry::ORDER_ROWS] = 1))]
fn load(id: u64) {}

#[semtel::stage(fields([semtel::conventions::attribute::DB_SYSTEM_NAME] = 5))]
fn connect() {}

// A string for an `int` key says so, not which enum traits `i64` lacks.
#[semtel::stage(fields([semtel::conventions::attribute::SERVER_PORT] = port))]
fn listen(port: &str) {}

#[derive(semtel::Telemetry)]
struct Order {
    #[telemetry(key = my_registry::ORDER_ID)]
    id: u64,
}

fn main() {}
