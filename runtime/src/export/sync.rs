//! Locks and waits that survive a poisoned lock.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Waits on `cv` until `done` holds for the guarded state or `deadline`
/// passes; says whether `done` held.
pub(super) fn wait_until<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Instant,
    done: impl Fn(&T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    while !done(&guard) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (guard, false);
        }
        guard = cv
            .wait_timeout(guard, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    (guard, true)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take telemetry down with it: the data under
    // these locks stays consistent at every await-free step.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
