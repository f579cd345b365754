//! Freshness and consumer lag of the running stage, per partition of its
//! input: `pipeline.lag` in seconds, the watermark delay (the time between
//! now and the event time of the newest record the stage has completed),
//! and `pipeline.backlog` in records (what it has yet to process).
//! The gauges carry the stage's labels (`pipeline.name`,
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

/// Sets the running stage's `pipeline.backlog` for `partition` to `records`
/// (as [`StageHandle::lag_records`](crate::stage::StageHandle::lag_records)).
///
/// ```
/// #[semtel::stage(pipeline = "orders", kind = source)]
/// fn consume(partition: u32, end_offset: u64, committed: u64) {
///     semtel::lag::records(&partition.to_string(), end_offset.saturating_sub(committed));
/// }
///
/// consume(3, 1_000, 990);
/// ```
pub fn records(partition: &str, records: u64) {
    crate::stage::current().lag_records(partition, records);
}
