//! Span and trace ids without locks: a per-thread xorshift generator (kept
//! in the engine's thread state, [`super::local`]), seeded from the standard
//! library's per-process random keys and the thread.

use std::hash::{BuildHasher as _, Hasher as _, RandomState};

/// One thread's generator: zero until first used.
#[derive(Debug, Default)]
pub(crate) struct Ids(u64);

impl Ids {
    pub(crate) const fn new() -> Self {
        Self(0)
    }

    /// A new span id and, when `new_trace`, a new trace id (both never
    /// zero, which is invalid).
    #[inline]
    pub(crate) fn next(&mut self, new_trace: bool) -> (u128, u64) {
        let mut x = self.0;
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
        self.0 = x;
        (trace, span)
    }
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

/// Ids from a generator seeded afresh: for a thread whose state is gone
/// (it is exiting).
pub(crate) fn fresh(new_trace: bool) -> (u128, u64) {
    Ids::new().next(new_trace)
}

/// A new span id.
#[cfg(test)]
pub(crate) fn span_id() -> u64 {
    super::local::with(|t| t.ids.next(false).1).unwrap_or_else(|| fresh(false).1)
}

/// A new trace id.
#[cfg(test)]
pub(crate) fn trace_id() -> u128 {
    super::local::with(|t| t.ids.next(true).0).unwrap_or_else(|| fresh(true).0)
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
