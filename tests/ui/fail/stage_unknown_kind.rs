#[semtel::stage(kind = sinc, span_kind = clinet)]
fn load() {}

#[semtel::stage(kind = database)]
fn store() {}

fn main() {}
