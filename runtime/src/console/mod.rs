//! Console exporters: traces, logs and metrics rendered for a person on a
//! terminal when no OTLP collector is configured.
//!
//! Rendering is pure (data in, `String` out). The exporters only buffer, call
//! a renderer and write whole blocks through one shared [`ConsoleSink`], so
//! output from different signals never interleaves mid-line.

mod format;
mod logs;
mod metrics;
mod sink;
mod spans;
#[cfg(test)]
mod tests;

pub(crate) use logs::ConsoleLogExporter;
pub(crate) use metrics::ConsoleMetricExporter;
pub(crate) use sink::{ConsoleSink, collector_hint};
pub(crate) use spans::ConsoleSpanExporter;
