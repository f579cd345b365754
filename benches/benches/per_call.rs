//! Wall time per call on the calling thread, every case side by side in one
//! criterion group, and what one clock read costs on this machine.
//! `cargo bench -p semtel-benches --bench per_call`.
//!
//! The cases run in `Case::ALL`'s order ([`common::each_case`]).

mod common;

use std::hint::black_box;
use std::time::Instant;

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
