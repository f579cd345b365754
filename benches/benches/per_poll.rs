//! What an `async` stage costs per poll, every case side by side in one
//! criterion group: each case's `async` function awaits a future that is
//! ready on its Nth poll, for N = 1 and N = [`POLLS`]. The difference
//! between the two, over `POLLS - 1`, is what the instrumentation adds to
//! each poll (entering its span or context and leaving it again); the
//! one-poll time is a whole async call.
//! `cargo bench -p semtel-benches --bench per_poll`.
//!
//! The cases run in `Case::ALL`'s order ([`common::each_case`]).

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

/// Polls per call in the second measurement of each case.
const POLLS: u32 = 65;

/// Calls between two exports, as in `per_call`.
const CHUNK: u64 = 1024;

fn per_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_poll");
    common::each_case(
        &mut group,
        &[Some(1), Some(POLLS)],
        |scope, iters, polls| {
            let (acc, wall) = scope.run_polled_paced(iters, CHUNK, polls);
            black_box(acc);
            wall
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = per_poll
}
criterion_main!(benches);
