#[semtel::stage(fields(db.sytem.name = "sqlite", acme.priority = 3))]
fn load() {}

#[derive(semtel::Telemetry)]
struct Order {
    #[telemetry(name = "messaging.destinaton.name")]
    topic: String,
}

fn main() {}
