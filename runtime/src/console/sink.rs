//! The one writer the three console exporters share.

use std::ffi::OsStr;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The one sentence the caller prints once when falling back to the console.
pub(crate) fn collector_hint() -> &'static str {
    "semtel: no OTLP endpoint configured, rendering telemetry here; set \
     OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 (or \
     OTEL_TRACES_EXPORTER/OTEL_METRICS_EXPORTER/OTEL_LOGS_EXPORTER=otlp) to export to a collector"
}

/// Whether to colour output: only on a terminal, and never when `NO_COLOR` is set
/// to a non-empty value (<https://no-color.org>).
pub(crate) fn use_color(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// A writer shared by the three console exporters; every write is a whole block.
#[derive(Clone)]
pub(crate) struct ConsoleSink {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    color: bool,
    write_errors: Arc<AtomicU64>,
}

impl fmt::Debug for ConsoleSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSink")
            .field("color", &self.color)
            .field("write_errors", &self.write_errors())
            .finish_non_exhaustive()
    }
}

impl ConsoleSink {
    /// A sink over any writer; `color` turns ANSI colours on.
    pub(crate) fn new(writer: Box<dyn Write + Send>, color: bool) -> Self {
        Self {
            out: Arc::new(Mutex::new(writer)),
            color,
            write_errors: Arc::default(),
        }
    }

    /// A sink over stderr, coloured when stderr is a terminal and `NO_COLOR` is unset.
    pub(crate) fn stderr() -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        let color = use_color(std::io::stderr().is_terminal(), no_color.as_deref());
        Self::new(Box::new(std::io::stderr()), color)
    }

    /// Whether this sink renders ANSI colours.
    pub(crate) fn color(&self) -> bool {
        self.color
    }

    /// Writes `block` (complete lines) under the lock; failures are counted, never raised.
    pub(crate) fn write_block(&self, block: &str) {
        if block.is_empty() {
            return;
        }
        let mut out = lock(&self.out);
        let written = out.write_all(block.as_bytes()).and_then(|()| out.flush());
        if written.is_err() {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many blocks failed to write.
    pub(crate) fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
