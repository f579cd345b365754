// `parent` takes a context expression.
#[semtel::stage(parent)]
fn no_value() {}

#[semtel::stage(parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
fn literal() {}

#[semtel::stage(parent = a, parent = b)]
fn twice(a: &semtel::Context, b: &semtel::Context) {}

fn main() {}
