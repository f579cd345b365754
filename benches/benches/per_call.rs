//! Wall time per call on the calling thread, every case side by side in one
//! criterion group (issue benchmark 1). `cargo bench -p semtel-benches --bench per_call`.
//!
//! The cases run in [`Case::ALL`]'s order: semtel's disabled cases must come
//! before the enabled one installs the process-wide subscriber.

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use semtel_benches::Case;

/// Calls between two exports: half of a span queue (2048).
const CHUNK: u64 = 1024;

fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_call");
    // A case needing its own process differs from one measured here in
    // background work only (semtel's discarding exporter), which
    // `cpu_per_call` measures.
    for case in Case::ALL.into_iter().filter(|c| !c.own_process()) {
        // Set up only when criterion's filter selects the case.
        let mut scope = None;
        group.bench_function(case.name(), |b| {
            let scope = scope.get_or_insert_with(|| case.enter());
            // Paced as in `cpu_per_call`: spans exported every CHUNK calls,
            // outside the measured time, so no case runs overloaded.
            b.iter_custom(|iters| {
                let (acc, wall) = scope.run_paced(iters, CHUNK);
                black_box(acc);
                wall
            });
        });
        if let Some(scope) = scope {
            let _ = scope.finish();
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = per_call
}
criterion_main!(benches);
