#[semtel::stage(fields(db.system.name, 3 = x, db.collection.name = "ok"), name = 1)]
fn load(x: u32) {}

fn main() {}
