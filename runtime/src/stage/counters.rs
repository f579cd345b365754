//! What a stage records from inside its body ([`super::handle`]) and the
//! lag gauges: the `pipeline.` counters of records, bytes, retries and dead
//! letters with the stage's labels, bound per call site.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, Counter};
use semtel_conventions::pipeline::attribute as pattr;

use super::metrics::{GENERATION, Instruments, METRICS_ON, instruments};
use crate::record::{MoreCells, SpanSite};

/// What a call counts from inside its body.
#[derive(Debug, Clone, Copy)]
pub(super) enum Counted {
    RecordsIn,
    RecordsOut,
    BytesIn,
    BytesOut,
    Retries,
    DeadLetters,
}

/// The largest increment recorded: OTLP's integer points are signed, so a
/// larger one would arrive negative.
pub(super) const MAX_INCREMENT: u64 = i64::MAX as u64;

/// Adds `n` (capped at [`MAX_INCREMENT`]) to `what` of `site`'s stage:
/// into the site's bound cell, or through the instruments with the stage's
/// attributes when the cells are from an earlier meter provider.
pub(super) fn add(site: &'static SpanSite, what: Counted, n: u64) {
    if !METRICS_ON.load(Ordering::Relaxed) {
        return;
    }
    let n = n.min(MAX_INCREMENT);
    let generation = GENERATION.load(Ordering::Acquire);
    match what {
        Counted::RecordsIn | Counted::RecordsOut => {
            let inward = matches!(what, Counted::RecordsIn);
            // A direction the stage does not declare has no bound cell.
            let cell = site
                .bound_cells()
                .filter(|c| c.generation == generation)
                .and_then(|c| {
                    if inward {
                        c.records_in.as_ref()
                    } else {
                        c.records_out.as_ref()
                    }
                });
            match cell {
                Some(counter) => counter.add(n),
                None => instruments().records.add(n, &labels(site, Some(inward))),
            }
        }
        _ => {
            let cells = site.more_cells.get_or_init(|| MoreCells {
                generation,
                bytes_in: OnceLock::new(),
                bytes_out: OnceLock::new(),
                retries: OnceLock::new(),
                dead_letters: OnceLock::new(),
            });
            if cells.generation == generation {
                cell(cells, what)
                    .get_or_init(|| {
                        let i = instruments();
                        let (counter, attrs) = series(&i, site, what);
                        counter.bind(&attrs)
                    })
                    .add(n);
            } else {
                let i = instruments();
                let (counter, attrs) = series(&i, site, what);
                counter.add(n, &attrs);
            }
        }
    }
}

/// The counter of `what` (bytes, retries, dead letters) and the attributes
/// of its series for `site`'s stage.
fn series<'i>(
    i: &'i Instruments,
    site: &SpanSite,
    what: Counted,
) -> (&'i Counter<u64>, Vec<KeyValue>) {
    match what {
        Counted::BytesIn => (&i.bytes, labels(site, Some(true))),
        Counted::BytesOut => (&i.bytes, labels(site, Some(false))),
        Counted::Retries => (&i.retries, labels(site, None)),
        _ => (&i.dead_letters, labels(site, None)),
    }
}

fn cell(cells: &MoreCells, what: Counted) -> &OnceLock<BoundCounter<u64>> {
    match what {
        Counted::BytesIn => &cells.bytes_in,
        Counted::BytesOut => &cells.bytes_out,
        Counted::Retries => &cells.retries,
        _ => &cells.dead_letters,
    }
}

/// The stage's metric attributes, with `pipeline.io.direction` when
/// `inward` is given.
fn labels(site: &SpanSite, inward: Option<bool>) -> Vec<KeyValue> {
    let mut attrs = site.attributes(None);
    if let Some(inward) = inward {
        attrs.push(KeyValue::new(
            pattr::PIPELINE_IO_DIRECTION.name(),
            if inward { "in" } else { "out" },
        ));
    }
    attrs
}

/// How far a stage trails a partition of its input.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lag {
    /// `pipeline.lag`.
    Seconds(f64),
    /// `pipeline.backlog`.
    Records(u64),
}

/// Sets `site`'s stage's lag gauge of `partition`.
pub(super) fn lag(site: &SpanSite, partition: &str, lag: Lag) {
    if !METRICS_ON.load(Ordering::Relaxed) {
        return;
    }
    let mut attrs = labels(site, None);
    attrs.push(KeyValue::new(
        pattr::PIPELINE_PARTITION.name(),
        partition.to_owned(),
    ));
    let i = instruments();
    match lag {
        Lag::Seconds(s) => i.lag.record(s, &attrs),
        Lag::Records(n) => i.backlog.record(n.min(MAX_INCREMENT), &attrs),
    }
}
