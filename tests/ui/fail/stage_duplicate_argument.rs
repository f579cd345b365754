#[semtel::stage(name = "a", name = "b")]
fn load() {}

fn main() {}
