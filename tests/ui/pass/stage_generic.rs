//! Stages with generics, `impl Trait` arguments, where clauses, trait methods.

use std::fmt::Display;

#[semtel::stage(records_in = items.len())]
fn generic<T: Clone, U>(items: &[T], extra: U) -> Vec<T>
where
    U: Display,
{
    let _ = extra.to_string();
    items.to_vec()
}

#[semtel::stage]
fn impl_arg(rows: impl IntoIterator<Item = u32>, sink: &mut impl Extend<u32>) {
    sink.extend(rows);
}

#[semtel::stage]
fn generic_error<E: Display>(e: E) -> Result<(), E> {
    Err(e)
}

pub trait Stage {
    fn run(&mut self, n: u32) -> u32;

    #[semtel::stage(name = "default-method")]
    fn default_method(&self) -> u32 {
        1
    }
}

pub struct Counter(u32);

impl Stage for Counter {
    #[semtel::stage(kind = transform)]
    fn run(&mut self, n: u32) -> u32 {
        self.0 += n;
        self.0
    }
}

impl Counter {
    #[semtel::stage]
    fn consume(self) -> u32 {
        self.0
    }

    #[semtel::stage]
    pub(crate) fn early(&self, n: u32) -> Option<u32> {
        if n == 0 {
            return None;
        }
        Some(n + self.0)
    }
}

fn main() {
    let _ = generic(&[1u8], "x");
    let mut v = Vec::new();
    impl_arg([1, 2], &mut v);
    let _ = generic_error("e");
    let mut c = Counter(0);
    let _ = c.run(1);
    let _ = c.default_method();
    let _ = c.early(0);
    let _ = c.consume();
}
