#[semtel::stage(record(ordr))]
fn load(order: &str) {}

fn main() {}
