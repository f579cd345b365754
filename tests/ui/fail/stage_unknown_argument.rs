#[semtel::stage(pipline = "orders", colour = "blue")]
fn load() {}

fn main() {}
