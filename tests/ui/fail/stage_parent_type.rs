// The type error lands on the expression.
#[semtel::stage(parent = id)]
fn handle(id: u64) {}

#[semtel::stage(parent = headers)]
async fn consume(headers: Vec<(String, Vec<u8>)>) {}

fn main() {}
