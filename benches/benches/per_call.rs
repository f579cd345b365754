//! Wall time per call on the calling thread, every case side by side in one
//! criterion group, and what one clock read costs on this machine.
//! `cargo bench -p semtel-benches --bench per_call`.
//!
//! The cases run in `Case::ALL`'s order ([`common::each_case`]).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use semtel_benches::{Case, Scope};

/// Calls between two exports: half of a span queue (2048).
const CHUNK: u64 = 1024;

fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_call");
    // Paced as in `cpu_per_call`: spans exported every CHUNK calls, outside
    // the measured time, so no case runs overloaded. As
    // `common::each_case`, with more benchmarks on semtel's enabled
    // pipeline (installed once per process, so they share the case's
    // scope): the stage recording one more counter through
    // `stage::current()`, or a typed instrument, or called inside a run.
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
            let more: [(&str, RunPaced); 3] = [
                (HANDLE_CASE, Scope::run_counted_paced),
                (INSTRUMENT_CASE, Scope::run_instrumented_paced),
                (RUN_CASE, Scope::run_in_run_paced),
            ];
            for (name, run) in more {
                group.bench_function(BenchmarkId::from_parameter(name), |b| {
                    let scope = scope.get_or_insert_with(|| case.enter());
                    b.iter_custom(|iters| {
                        let (acc, wall) = run(scope, iters, CHUNK);
                        black_box(acc);
                        wall
                    });
                });
            }
        }
        if let Some(scope) = scope {
            let _ = scope.finish();
        }
    }
    group.finish();
}

/// A paced run of `n` calls in chunks: (sum of results, wall time).
type RunPaced = fn(&Scope, u64, u64) -> (u64, Duration);

/// [`Case::SemtelEnabled`] with the stage counting 8 bytes out through its
/// handle.
const HANDLE_CASE: &str = "semtel_enabled_otlp_handle_counter";
/// [`Case::SemtelEnabled`] with the stage adding 8 to a typed counter of a
/// registry (`semtel::instrument::Counter`).
const INSTRUMENT_CASE: &str = "semtel_enabled_otlp_instrument_counter";
/// [`Case::SemtelEnabled`] with the calls inside a pipeline run
/// (`semtel::Run`).
const RUN_CASE: &str = "semtel_enabled_otlp_in_run";

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
