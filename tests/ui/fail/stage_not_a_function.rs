#[semtel::stage]
struct Load;

#[semtel::stage]
const fn load() {}

fn main() {}
