#[semtel::stage(result = false)]
fn load() -> u32 {
    1
}

fn main() {}
