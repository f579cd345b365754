#[semtel::stage(fields(server.port = "8080", server.address = 10, db.response.returned_rows = true))]
fn load() {}

fn main() {}
