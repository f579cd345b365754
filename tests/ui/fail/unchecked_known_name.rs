#[semtel::stage(fields(unchecked("db.system.name") = "sqlite", unchecked("") = 1))]
fn load() {}

fn main() {}
