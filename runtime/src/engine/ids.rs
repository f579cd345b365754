//! Span and trace ids without locks: a per-thread xorshift generator, seeded
//! from the standard library's per-process random keys and the thread.

use std::cell::Cell;
use std::hash::{BuildHasher as _, Hasher as _, RandomState};

thread_local! {
    /// Zero until first used on this thread (const-initialised: no lazy
    /// initialisation check on access).
    static STATE: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    // `RandomState` draws its keys from the OS once per thread and then
    // increments them; hashing the thread id and time mixes them further.
    let mut h = RandomState::new().build_hasher();
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() | 1
}

/// One step of xorshift64*: the new state and a non-zero output.
#[inline]
fn step(mut x: u64) -> (u64, u64) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
    (x, if out == 0 { 1 } else { out })
}

/// A new span id and, when `new_trace`, a new trace id (both never zero,
/// which is invalid), with one thread-local access.
#[inline]
pub(crate) fn new_ids(new_trace: bool) -> (u128, u64) {
    STATE
        .try_with(|s| {
            let mut x = s.get();
            if x == 0 {
                x = seed();
            }
            let (x, span) = step(x);
            let (x, trace) = if new_trace {
                let (x, hi) = step(x);
                let (x, lo) = step(x);
                (x, (u128::from(hi) << 64) | u128::from(lo))
            } else {
                (x, 0)
            };
            s.set(x);
            (trace, span)
        })
        .unwrap_or_else(|_| {
            // The thread is exiting: fresh keys each time, still never zero.
            let s = seed();
            (u128::from(s) << 64 | 1, s)
        })
}

/// A new span id.
#[cfg(test)]
pub(crate) fn span_id() -> u64 {
    new_ids(false).1
}

/// A new trace id.
#[cfg(test)]
pub(crate) fn trace_id() -> u128 {
    new_ids(true).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_across_threads() {
        let mut all: Vec<u64> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| span_id()).collect::<Vec<_>>()))
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(!all.contains(&0));
    }
}
