//! Errors returned by [`init`](crate::init) and [`Builder::build`](crate::Builder::build).

use std::fmt;

use crate::config::{ConfigError, Signal};

/// Why telemetry could not be started.
///
/// Its `Debug` is its `Display`, so that `fn main() -> Result<(), Box<dyn
/// Error>>` prints every invalid setting readably, one a line:
///
/// ```
/// let error = semtel::builder()
///     .env(|name| (name == "OTEL_BSP_MAX_QUEUE_SIZE").then(|| "0".to_owned()))
///     .config()
///     .unwrap_err();
/// assert_eq!(
///     format!("{error:?}"),
///     "invalid telemetry configuration:\n  - OTEL_BSP_MAX_QUEUE_SIZE=\"0\" is not valid: \
///      expected a whole number from 1 to 1048576"
/// );
/// ```
#[non_exhaustive]
pub enum Error {
    /// One or more settings are invalid; every one found is listed.
    Config(Vec<ConfigError>),
    /// An exporter could not be built (e.g. a TLS file that does not parse).
    Exporter {
        /// The signal whose exporter failed.
        signal: Signal,
        /// What the exporter said.
        message: String,
    },
    /// A global `tracing` subscriber is already installed, so semtel's cannot be.
    /// Use [`Builder::build`](crate::Builder::build) and add
    /// [`Session::dispatch`](crate::Session::dispatch) yourself, or remove
    /// the other subscriber.
    SubscriberAlreadySet,
    /// The background export thread could not be started.
    Runtime(std::io::Error),
    /// The Prometheus endpoint (`OTEL_METRICS_EXPORTER=prometheus`) cannot
    /// listen on its address.
    PrometheusBind {
        /// `host:port` from [`Builder::prometheus_addr`](crate::Builder::prometheus_addr),
        /// else `OTEL_EXPORTER_PROMETHEUS_HOST` and `_PORT`.
        address: String,
        /// Why not.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(errors) => {
                f.write_str("invalid telemetry configuration:")?;
                for e in errors {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
            Error::Exporter { signal, message } => {
                write!(f, "cannot build the {signal} exporter: {message}")
            }
            Error::SubscriberAlreadySet => f.write_str(
                "a global tracing subscriber is already set; semtel::init() must be the only one \
                 (or use semtel::builder().build() and compose Session::dispatch() yourself)",
            ),
            Error::Runtime(e) => write!(f, "cannot start the telemetry export thread: {e}"),
            Error::PrometheusBind { address, source } => write!(
                f,
                "cannot serve Prometheus metrics on {address} \
                 (OTEL_EXPORTER_PROMETHEUS_HOST, OTEL_EXPORTER_PROMETHEUS_PORT \
                 or Builder::prometheus_addr): {source}"
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(errors) if errors.len() == 1 => Some(&errors[0]),
            Error::Runtime(e) | Error::PrometheusBind { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl From<Vec<ConfigError>> for Error {
    fn from(errors: Vec<ConfigError>) -> Self {
        Error::Config(errors)
    }
}
