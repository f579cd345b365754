//! What the criterion benches share.

use std::time::Duration;

use criterion::Criterion;

/// Modest settings, so the whole `cargo bench -p semtel-benches` takes
/// minutes on 2 cores.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}
