//! Compile-time tests of `#[stage]`, `#[derive(Telemetry)]` and the typed
//! instruments: `tests/ui.rs` runs every case under `pass/` (must compile)
//! and `fail/` (must fail with the error in its `.stderr` file).
