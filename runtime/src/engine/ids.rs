//! Span and trace ids without locks: a per-thread xorshift generator, seeded
//! from the standard library's per-process random keys and the thread.

use std::cell::Cell;
use std::hash::{BuildHasher as _, Hasher as _, RandomState};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
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

/// The next non-zero random 64-bit number (xorshift64*).
#[inline]
pub(crate) fn next() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        if out == 0 { 1 } else { out }
    })
}

/// A new span id (never zero, which is invalid).
#[inline]
pub(crate) fn span_id() -> u64 {
    next()
}

/// A new trace id (never zero).
#[inline]
pub(crate) fn trace_id() -> u128 {
    (u128::from(next()) << 64) | u128::from(next())
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
