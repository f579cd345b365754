#[semtel::stage(fields(db.system.name = "postgres"))]
fn load() {}

fn main() {}
