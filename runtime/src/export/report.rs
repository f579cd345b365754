//! What became of each exporter's telemetry: the counters every queue
//! keeps, and the [`ShutdownReport`] made from them.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::batch_end::Outcome;
use super::sync::lock;
use crate::config::Signal;

/// What became of one exporter's telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalReport {
    /// The signal.
    pub signal: Signal,
    /// Where it was going, e.g. `otlp grpc http://localhost:4317` or `console`.
    pub destination: String,
    /// Items (spans, log records, metric data points) the exporter accepted.
    pub exported: u64,
    /// Items dropped because the queue was full (or shutdown had begun).
    pub dropped: u64,
    /// Items in exports that failed or timed out.
    pub failed: u64,
    /// Items still queued when the shutdown deadline passed.
    pub unflushed: u64,
    /// Attributes, events and links that the span limits dropped from spans
    /// that were exported, and attribute values they shortened
    /// (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` and the rest); not a loss of items.
    pub limited: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
}

impl SignalReport {
    /// Items that never reached the destination.
    pub fn lost(&self) -> u64 {
        self.dropped + self.failed + self.unflushed
    }
}

impl fmt::Display for SignalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.signal {
            Signal::Traces => "spans",
            Signal::Metrics => "metric points",
            Signal::Logs => "log records",
        };
        write!(
            f,
            "{} → {}: {} {unit} exported",
            self.signal, self.destination, self.exported
        )?;
        if self.lost() > 0 {
            write!(f, ", {} lost (", self.lost())?;
            let mut parts = Vec::new();
            if self.dropped > 0 {
                parts.push(format!("{} dropped, queue full", self.dropped));
            }
            if self.failed > 0 {
                parts.push(format!("{} in failed exports", self.failed));
            }
            if self.unflushed > 0 {
                parts.push(format!("{} unsent at shutdown deadline", self.unflushed));
            }
            write!(f, "{})", parts.join("; "))?;
            if let Some(e) = &self.last_error {
                write!(f, "; last error: {e}")?;
            }
        }
        if self.limited > 0 {
            write!(
                f,
                "; {} attributes, events or links dropped or shortened by span limits",
                self.limited
            )?;
        }
        Ok(())
    }
}

/// What shutdown achieved, per exporter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub(crate) signals: Vec<SignalReport>,
    pub(crate) timed_out: bool,
}

impl ShutdownReport {
    /// One entry per exporter (a signal sent to two places has two).
    pub fn signals(&self) -> &[SignalReport] {
        &self.signals
    }

    /// The entries for one signal.
    pub fn signal(&self, signal: Signal) -> impl Iterator<Item = &SignalReport> {
        self.signals.iter().filter(move |s| s.signal == signal)
    }

    /// Everything that did not arrive, over all exporters.
    pub fn lost(&self) -> u64 {
        self.signals.iter().map(SignalReport::lost).sum()
    }

    /// Whether the shutdown deadline passed before every exporter finished.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lost = self.lost();
        if lost == 0 {
            f.write_str("semtel: all telemetry delivered")?;
        } else {
            write!(f, "semtel: {lost} telemetry items lost")?;
        }
        if self.timed_out {
            f.write_str(" (shutdown deadline passed)")?;
        }
        for s in &self.signals {
            write!(f, "\n  {s}")?;
        }
        Ok(())
    }
}

/// Counters shared between producers, the worker and the report.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    limited: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn record(&self, items: u64, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.exported.fetch_add(items, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(items, Ordering::Relaxed);
                *lock(&self.last_error) = Some(e);
            }
        }
    }

    /// Counts a batch of `items` of which `outcome.failed` did not arrive.
    pub(crate) fn record_outcome(&self, items: u64, outcome: Outcome) {
        let failed = (outcome.failed as u64).min(items);
        self.exported.fetch_add(items - failed, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
        self.limited.fetch_add(outcome.limited, Ordering::Relaxed);
        if let Some(e) = outcome.error {
            *lock(&self.last_error) = Some(e);
        }
    }

    pub(crate) fn drop_items(&self, items: u64) {
        self.dropped.fetch_add(items, Ordering::Relaxed);
    }

    pub(super) fn report(&self, signal: Signal, destination: &str, unflushed: u64) -> SignalReport {
        SignalReport {
            signal,
            destination: destination.to_owned(),
            exported: self.exported.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            unflushed,
            limited: self.limited.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }
}

/// The part of a processor that telemetry's owner keeps to report and to
/// start shutdown on every signal at once.
pub(crate) trait Reporter: Send + Sync + fmt::Debug {
    fn begin_shutdown(&self);
    fn wait(&self, deadline: Instant) -> bool;
    fn report(&self) -> SignalReport;
}
