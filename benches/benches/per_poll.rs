//! What an `async` stage costs per poll, every case side by side in one
//! criterion group: each case's `async` function awaits a future that is
//! ready on its Nth poll, for N = 1 and N = [`POLLS`]. The difference
//! between the two, over `POLLS - 1`, is what the instrumentation adds to
//! each poll (entering its span or context and leaving it again); the
//! one-poll time is a whole async call.
//! `cargo bench -p semtel-benches --bench per_poll`.
//!
//! The cases run in [`Case::ALL`]'s order, as in `per_call`.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use semtel_benches::Case;

/// Polls per call in the second measurement of each case.
const POLLS: u32 = 65;

/// Calls between two exports, as in `per_call`.
const CHUNK: u64 = 1024;

fn per_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_poll");
    for case in Case::ALL.into_iter().filter(|c| !c.own_process()) {
        // Set up only when criterion's filter selects the case.
        let mut scope = None;
        for polls in [1, POLLS] {
            group.bench_with_input(BenchmarkId::new(case.name(), polls), &polls, |b, &polls| {
                let scope = scope.get_or_insert_with(|| case.enter());
                b.iter_custom(|iters| {
                    let (acc, wall) = scope.run_polled_paced(iters, CHUNK, polls);
                    black_box(acc);
                    wall
                });
            });
        }
        if let Some(scope) = scope {
            let _ = scope.finish();
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = per_poll
}
criterion_main!(benches);
