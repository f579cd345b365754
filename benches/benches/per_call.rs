//! Wall time per call on the calling thread, every case side by side in one
//! criterion group, and what one clock read costs on this machine.
//! `cargo bench -p semtel-benches --bench per_call`.
//!
//! The cases run in `Case::ALL`'s order ([`common::each_case`]).

mod common;

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use semtel_benches::Case;

/// Calls between two exports: half of a span queue (2048).
const CHUNK: u64 = 1024;

fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_call");
    // Paced as in `cpu_per_call`: spans exported every CHUNK calls, outside
    // the measured time, so no case runs overloaded. As
    // `common::each_case`, with one more benchmark on semtel's enabled
    // pipeline (installed once per process, so it shares the case's scope):
    // the stage recording one more counter through `stage::current()`.
    for case in Case::ALL.into_iter().filter(|c| !c.own_process()) {
        let mut scope = None;
        group.bench_function(BenchmarkId::from_parameter(case.name()), |b| {
            let scope = scope.get_or_insert_with(|| case.enter());
            b.iter_custom(|iters| {
                let (acc, wall) = scope.run_paced(iters, CHUNK);
                black_box(acc);
                wall
            });
        });
        if case == Case::SemtelEnabled {
            group.bench_function(BenchmarkId::from_parameter(HANDLE_CASE), |b| {
                let scope = scope.get_or_insert_with(|| case.enter());
                b.iter_custom(|iters| {
                    let (acc, wall) = scope.run_counted_paced(iters, CHUNK);
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

/// [`Case::SemtelEnabled`] with the stage counting 8 bytes out through its
/// handle.
const HANDLE_CASE: &str = "semtel_enabled_otlp_handle_counter";

/// One clock read: the TSC, which semtel's clock reads (twice a stage call)
/// on x86-64 CPUs with an invariant TSC, and `Instant::now()` (the vDSO's
/// `clock_gettime`), which it reads elsewhere.
fn clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    #[cfg(target_arch = "x86_64")]
    group.bench_function("rdtsc", |b| b.iter(|| black_box(rdtsc())));
    group.bench_function("instant_now", |b| b.iter(|| black_box(Instant::now())));
    group.finish();
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` reads a register; it touches no memory and exists on
    // every x86-64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = per_call, clock
}
criterion_main!(benches);
