#![deny(deprecated)]

#[semtel::stage(fields(db.system = "sqlite"))]
fn load() {}

#[derive(semtel::Telemetry)]
struct Order {
    #[telemetry(name = "http.method")]
    method: String,
}

fn main() {}
