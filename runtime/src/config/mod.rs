//! Configuration: the OpenTelemetry SDK environment variables, parsed once into
//! typed settings.
//!
//! semtel reads every variable itself (rather than leaving some to the
//! OpenTelemetry crates) so that a bad value is reported up front, naming the
//! variable, the value and what is accepted, and so that settings made in code
//! through [`Builder`](crate::Builder) always take precedence over the
//! environment.

mod reader;
mod redact;
mod resolve;
#[cfg(test)]
mod tests;
mod types;

pub(crate) use resolve::{executable_name, resolve};
pub use types::{
    BatchConfig, Compression, Config, ConfigError, ExemplarFilter, ExporterKind, OtlpConfig,
    ParentBasedRoot, PrometheusConfig, Propagator, Protocol, SamplerConfig, Signal, SignalConfig,
    SpanLimits, Temporality,
};
pub(crate) use types::{EnvSource, Lookup, Overrides};
