//! What the criterion benches share.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use semtel_benches::{Case, Scope};

/// Modest settings, so the whole `cargo bench -p semtel-benches` takes
/// minutes on 2 cores.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Benches every case that runs in this process, in [`Case::ALL`]'s order
/// (semtel's disabled cases before the enabled one installs the
/// process-wide subscriber): one benchmark per `inputs` entry, named
/// `case/input` (`case` alone for `None`). A case is set up only when
/// criterion's filter selects one of its benchmarks, and finished after
/// its last. `measure(scope, iters, input)` returns the time `iters`
/// iterations took.
#[allow(dead_code)] // Each bench target compiles this module on its own.
pub fn each_case(
    group: &mut BenchmarkGroup<'_, WallTime>,
    inputs: &[Option<u32>],
    measure: impl Fn(&Scope, u64, u32) -> Duration,
) {
    // A case needing its own process differs from one measured here in
    // background work only (semtel's discarding exporters), which
    // `cpu_per_call` measures.
    for case in Case::ALL.into_iter().filter(|c| !c.own_process()) {
        let mut scope = None;
        for &input in inputs {
            let id = match input {
                Some(i) => BenchmarkId::new(case.name(), i),
                None => BenchmarkId::from_parameter(case.name()),
            };
            group.bench_function(id, |b| {
                let scope = scope.get_or_insert_with(|| case.enter());
                b.iter_custom(|iters| measure(scope, iters, input.unwrap_or(0)));
            });
        }
        if let Some(scope) = scope {
            let _ = scope.finish();
        }
    }
}
