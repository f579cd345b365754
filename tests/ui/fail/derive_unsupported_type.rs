use std::collections::HashMap;

#[derive(semtel::Telemetry)]
#[telemetry(prefix = "order")]
struct Order {
    id: u64,
    lines: HashMap<String, u32>,
}

fn main() {}
