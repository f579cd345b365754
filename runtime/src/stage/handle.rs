//! Recording from inside a stage's body: [`current`] and [`StageHandle`].
//!
//! Counts go straight to the stage's metric cells. Span additions (an
//! attribute, an event, a handled failure) wait in [`PENDING`] under the
//! span's id until the call ends, when its guard takes them: the body does
//! not hold the guard, and an async body may run on any thread.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Event, Status};
use semtel_conventions::attribute as attr;
use semtel_conventions::model::AttributeKey;
use semtel_conventions::value::ValueFor;

use super::args::RecordCount;
use super::counters::{self, Counted, Lag};
use crate::engine::active;
use crate::engine::current::{Running, running_stage};
use crate::record::Extra;
use crate::telemetry::TelemetryValue;

/// A handle to the stage running on this thread, for what its body learns
/// as it goes: records and bytes counted chunk by chunk, retries, dead
/// letters, an attribute, an event, a failure it handled.
///
/// Each call finds the running stage when it is made (the innermost
/// `#[stage]` call on this thread, past `tracing` spans entered inside it),
/// so a handle taken before an `.await` records into the same stage after
/// it, on whichever thread the task resumes. Outside a stage, or with
/// telemetry off, every call does nothing.
///
/// Counts go to the `pipeline.` metrics with the stage's labels
/// (`pipeline.name`, `pipeline.stage.name`, `pipeline.stage.kind`, and
/// `pipeline.io.direction` for records and bytes). An increment above
/// `i64::MAX` (OTLP's integer points are signed) is recorded as `i64::MAX`.
///
/// ```
/// use semtel::stage;
///
/// #[stage(pipeline = "orders")]
/// fn parse(lines: &[&str]) -> usize {
///     let here = stage::current();
///     for chunk in lines.chunks(2) {
///         here.records_in(chunk.len());
///         here.bytes_in(chunk.iter().map(|l| l.len()).sum::<usize>());
///     }
///     lines.len()
/// }
///
/// assert_eq!(parse(&["a,1", "b,2", "c,3"]), 3);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StageHandle {
    _private: (),
}

/// A handle to the stage running on this thread (see [`StageHandle`]);
/// free to take, also outside a stage.
///
/// ```
/// // Outside a stage the handle records nothing.
/// semtel::stage::current().records_out(10);
/// ```
pub fn current() -> StageHandle {
    StageHandle { _private: () }
}

/// The running stage.
#[inline]
pub(super) fn running() -> Option<Running> {
    if active() { running_stage() } else { None }
}

impl StageHandle {
    /// Counts `n` records read (`pipeline.records`, direction `in`), on top
    /// of the stage's `records_in = ..`.
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn read(chunks: &[Vec<u8>]) {
    ///     for chunk in chunks {
    ///         semtel::stage::current().records_in(chunk.len());
    ///     }
    /// }
    /// read(&[vec![1, 2], vec![3]]);
    /// ```
    pub fn records_in(self, n: impl RecordCount) {
        count(Counted::RecordsIn, n.as_count());
    }

    /// Counts `n` records written (`pipeline.records`, direction `out`).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn write(rows: &[u32]) {
    ///     semtel::stage::current().records_out(rows.len());
    /// }
    /// write(&[1, 2, 3]);
    /// ```
    pub fn records_out(self, n: impl RecordCount) {
        count(Counted::RecordsOut, n.as_count());
    }

    /// Counts `n` bytes read (`pipeline.bytes`, direction `in`).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn read(body: &[u8]) {
    ///     semtel::stage::current().bytes_in(body.len());
    /// }
    /// read(b"a,1\n");
    /// ```
    pub fn bytes_in(self, n: impl RecordCount) {
        count(Counted::BytesIn, n.as_count());
    }

    /// Counts `n` bytes written (`pipeline.bytes`, direction `out`).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn write(body: &[u8]) {
    ///     semtel::stage::current().bytes_out(body.len());
    /// }
    /// write(b"a,1\n");
    /// ```
    pub fn bytes_out(self, n: impl RecordCount) {
        count(Counted::BytesOut, n.as_count());
    }

    /// Counts one retry (`pipeline.retries`).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn send(attempts: u32) {
    ///     for _ in 1..attempts {
    ///         semtel::stage::current().retry();
    ///     }
    /// }
    /// send(3);
    /// ```
    pub fn retry(self) {
        self.retries(1u64);
    }

    /// Counts `n` retries (`pipeline.retries`).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn send() {
    ///     semtel::stage::current().retries(2u32);
    /// }
    /// send();
    /// ```
    pub fn retries(self, n: impl RecordCount) {
        count(Counted::Retries, n.as_count());
    }

    /// Counts `n` records sent to a dead-letter destination
    /// (`pipeline.dead_letters`).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn validate(rows: &[i64]) -> Vec<i64> {
    ///     let (good, bad): (Vec<i64>, Vec<i64>) = rows.iter().partition(|r| **r > 0);
    ///     semtel::stage::current().dead_letters(bad.len());
    ///     good
    /// }
    /// assert_eq!(validate(&[1, -2, 3]), [1, 3]);
    /// ```
    pub fn dead_letters(self, n: impl RecordCount) {
        count(Counted::DeadLetters, n.as_count());
    }

    /// Counts one record sent to a dead-letter destination.
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn validate(row: i64) -> Option<i64> {
    ///     if row > 0 { return Some(row) }
    ///     semtel::stage::current().dead_letter();
    ///     None
    /// }
    /// assert_eq!(validate(-1), None);
    /// ```
    pub fn dead_letter(self) {
        self.dead_letters(1u64);
    }

    /// Sets an attribute of the registry on the stage's span, checked as
    /// `fields(..)` are: the key is a typed constant of
    /// [`semtel::conventions`](crate::conventions) (or of a registry
    /// generated with it), and the value's type must fit the key's.
    ///
    /// ```
    /// use semtel::conventions::attribute::DB_COLLECTION_NAME;
    ///
    /// #[semtel::stage(pipeline = "orders")]
    /// fn load(table: &str) {
    ///     semtel::stage::current().set(DB_COLLECTION_NAME, table);
    /// }
    /// load("orders");
    /// ```
    pub fn set<T: ?Sized, V: ValueFor<T> + ?Sized>(self, key: AttributeKey<T>, value: &V) {
        let Some(Running {
            span_id,
            sampled: true,
            ..
        }) = running()
        else {
            return;
        };
        if let Some(v) = key.value(value) {
            let kv = KeyValue::new(key.name(), crate::telemetry::otel_value(v));
            pend(span_id, |p| p.attributes.push(kv));
        }
    }

    /// Adds an event to the stage's span, with attributes (a `None` value
    /// leaves one out).
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn load(rows: u64) {
    ///     semtel::stage::current().event("checkpoint", &[("rows", &rows), ("table", &"orders")]);
    /// }
    /// load(3);
    /// ```
    pub fn event(
        self,
        name: impl Into<Cow<'static, str>>,
        attributes: &[(&'static str, &dyn TelemetryValue)],
    ) {
        let Some(Running {
            span_id,
            sampled: true,
            ..
        }) = running()
        else {
            return;
        };
        let attributes = attributes
            .iter()
            .filter_map(|(k, v)| v.telemetry_value().map(|v| KeyValue::new(*k, v)))
            .collect();
        let event = Event::new(name, std::time::SystemTime::now(), attributes, 0);
        pend(span_id, |p| p.events.push(event));
    }

    /// Marks the stage call failed with `error_type` although it returns
    /// normally (a failure it handled): the span gets status Error and
    /// `error.type`, the duration histogram and `pipeline.stage.failures`
    /// count it under that `error.type`, and an ERROR log record (target
    /// `semtel::stage`) is emitted in the stage's span. An `Err` the call
    /// returns takes precedence; of several `fail`s, the first counts.
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn load(rows: &[i64]) -> usize {
    ///     if rows.is_empty() {
    ///         semtel::stage::current().fail("empty_batch");
    ///     }
    ///     rows.len()
    /// }
    /// assert_eq!(load(&[]), 0);
    /// ```
    pub fn fail(self, error_type: impl Into<Cow<'static, str>>) {
        let Some(Running { span_id, site, .. }) = running() else {
            return;
        };
        let error_type = error_type.into();
        tracing::event!(
            target: "semtel::stage",
            tracing::Level::ERROR,
            "error.type" = &*error_type,
            "pipeline.stage.name" = site.stage(),
            "stage failed"
        );
        pend(span_id, |p| {
            p.error_type.get_or_insert(error_type);
        });
    }

    /// Sets the stage's `pipeline.lag` gauge for `partition`
    /// (`pipeline.partition`) to `seconds`: how far the stage trails that
    /// partition of its input (now minus the event time of the newest
    /// record it completed). A NaN or infinite value is not recorded.
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn consume(partition: u32, newest_event_age_s: f64) {
    ///     semtel::stage::current().lag_seconds(&partition.to_string(), newest_event_age_s);
    /// }
    /// consume(0, 1.5);
    /// ```
    pub fn lag_seconds(self, partition: &str, seconds: f64) {
        if !seconds.is_finite() {
            return;
        }
        if let Some(r) = running() {
            counters::lag(r.site, partition, Lag::Seconds(seconds));
        }
    }

    /// Sets the stage's `pipeline.backlog` gauge for `partition` to
    /// `records`: how many records of that partition it has yet to process
    /// (consumer lag in records, e.g. end offset minus committed offset).
    /// Above `i64::MAX` it is recorded as `i64::MAX`.
    ///
    /// ```
    /// #[semtel::stage(pipeline = "orders")]
    /// fn consume(partition: u32, end_offset: u64, committed: u64) {
    ///     let here = semtel::stage::current();
    ///     here.lag_records(&partition.to_string(), end_offset.saturating_sub(committed));
    /// }
    /// consume(0, 120, 100);
    /// ```
    pub fn lag_records(self, partition: &str, records: impl RecordCount) {
        if let Some(r) = running() {
            counters::lag(r.site, partition, Lag::Records(records.as_count()));
        }
    }
}

fn count(what: Counted, n: u64) {
    let Some(r) = running() else {
        return;
    };
    counters::add(r.site, what, n);
    // Records go to the tally of the run the call is in, if any, which the
    // call's end adds them to (the body cannot reach it). Only a recorded
    // call has one, and only under a run's context: the call took its tally
    // from the same context at its start, so calls outside runs never touch
    // the shared pending table.
    if r.sampled && crate::engine::context::runs_started() && in_run() {
        match what {
            Counted::RecordsIn => pend(r.span_id, |p| p.records_in += n),
            Counted::RecordsOut => pend(r.span_id, |p| p.records_out += n),
            _ => {}
        }
    }
}

/// Whether the current context is a run's (it holds the run's tally).
fn in_run() -> bool {
    opentelemetry::Context::map_current(|cx| {
        cx.get::<std::sync::Arc<crate::record::RunTally>>()
            .is_some()
    })
}

/// What a call's body added to its span, until the call ends.
#[derive(Debug, Default)]
pub(super) struct Pending {
    attributes: Vec<KeyValue>,
    events: Vec<opentelemetry::trace::Event>,
    error_type: Option<Cow<'static, str>>,
    /// Records counted inside a call that is in a run, for its tally.
    records_in: u64,
    records_out: u64,
}

/// Pending additions by span id.
static PENDING: Mutex<Option<HashMap<u64, Pending>>> = Mutex::new(None);
/// How many spans have pending additions: a call's end looks into
/// [`PENDING`] only when some has.
static PENDING_SPANS: AtomicUsize = AtomicUsize::new(0);

fn pend(span_id: u64, add: impl FnOnce(&mut Pending)) {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    let map = pending.get_or_insert_with(HashMap::new);
    let entry = map.entry(span_id).or_insert_with(|| {
        PENDING_SPANS.fetch_add(1, Ordering::Relaxed);
        Pending::default()
    });
    add(entry);
}

/// What the body of the call with `span_id` added, taken out. Inline: one
/// load on every call's end.
#[inline]
pub(super) fn take(span_id: u64) -> Option<Pending> {
    if PENDING_SPANS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    take_slow(span_id)
}

#[cold]
fn take_slow(span_id: u64) -> Option<Pending> {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    let taken = pending.as_mut()?.remove(&span_id)?;
    PENDING_SPANS.fetch_sub(1, Ordering::Relaxed);
    Some(taken)
}

impl Pending {
    /// Adds these to the call's extras; span attributes and events only when
    /// its span is `recording`.
    pub(super) fn merge_into(self, extra: &mut Extra, recording: bool) {
        if let Some(run) = &extra.run {
            run.records(false, self.records_in);
            run.records(true, self.records_out);
        }
        if recording {
            extra.attributes.extend(self.attributes);
            extra.events.extend(self.events);
        }
        if let (Some(e), None) = (self.error_type, &extra.error_type) {
            if recording {
                extra.attributes.push(KeyValue::new(
                    attr::ERROR_TYPE.name(),
                    opentelemetry::Value::from(e.clone().into_owned()),
                ));
                extra.status = Status::error(e.clone().into_owned());
            }
            extra.error_type = Some(e);
        }
    }
}
