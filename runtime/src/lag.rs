//! Freshness and consumer lag: the `pipeline.lag` gauge of the running
//! stage, per partition of its input.
//!
//! The registry defines lag as watermark delay in seconds: the time between
//! now and the event time of the newest record the stage has completed.
//! The gauge carries the stage's labels (`pipeline.name`,
//! `pipeline.stage.name`, `pipeline.stage.kind`) and `pipeline.partition`;
//! outside a stage, or with telemetry off, nothing is recorded.

/// Sets the running stage's `pipeline.lag` for `partition` to `seconds`
/// (as [`StageHandle::lag_seconds`](crate::stage::StageHandle::lag_seconds)).
///
/// ```
/// use std::time::{Duration, SystemTime};
///
/// #[semtel::stage(pipeline = "orders", kind = source)]
/// fn consume(partition: u32, newest_event: SystemTime) {
///     let behind = newest_event.elapsed().unwrap_or(Duration::ZERO);
///     semtel::lag::seconds(&partition.to_string(), behind.as_secs_f64());
/// }
///
/// consume(3, SystemTime::now() - Duration::from_secs(2));
/// ```
pub fn seconds(partition: &str, seconds: f64) {
    crate::stage::current().lag_seconds(partition, seconds);
}
