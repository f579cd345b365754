#[semtel::stage(fields(error.type = "timeout", pipeline.name = "x", db.collection.name = a, db.collection.name = b))]
fn load(a: &str, b: &str) {}

fn main() {}
