mod my_registry {
    use semtel::conventions::model::AttributeKey;
    pub const ORDER_ID: AttributeKey<String> = AttributeKey::new("acme.order.id");
}

#[semtel::stage(fields([my_registry::ORDER_ID] = id, [my_registry::ORDER_ROWS] = 1))]
fn load(id: u64) {}

#[semtel::stage(fields([semtel::conventions::attribute::DB_SYSTEM_NAME] = 5))]
fn connect() {}

#[derive(semtel::Telemetry)]
struct Order {
    #[telemetry(key = my_registry::ORDER_ID)]
    id: u64,
}

fn main() {}
