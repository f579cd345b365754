#[derive(semtel::Telemetry)]
struct Order {
    id: u64,
    #[telemetry(name = "messaging.destination.name")]
    topic: String,
}

#[derive(semtel::Telemetry)]
struct Pair(u32);

fn main() {}
