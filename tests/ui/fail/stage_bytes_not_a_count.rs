#[semtel::stage(bytes_in = name, bytes_out = ret)]
fn load(name: &str) -> f64 {
    name.len() as f64
}

fn main() {
    load("orders");
}
