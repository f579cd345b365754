//! Wall time per call on the calling thread, every case side by side in one
//! criterion group. `cargo bench -p semtel-benches --bench per_call`.
//!
//! The cases run in `Case::ALL`'s order ([`common::each_case`]).

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

/// Calls between two exports: half of a span queue (2048).
const CHUNK: u64 = 1024;

fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_call");
    // Paced as in `cpu_per_call`: spans exported every CHUNK calls, outside
    // the measured time, so no case runs overloaded.
    common::each_case(&mut group, &[None], |scope, iters, _| {
        let (acc, wall) = scope.run_paced(iters, CHUNK);
        black_box(acc);
        wall
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = per_call
}
criterion_main!(benches);
