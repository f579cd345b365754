//! The `log` crate: records of `log`-based libraries become OTLP log records
//! (feature `log`).
//!
//! [`init`](crate::init) installs semtel as the `log` crate's logger (unless
//! another logger was set first); [`install`] does it by hand, e.g. for a
//! [`Session`](crate::Session) built without `init`. A record becomes a log
//! record of the session current on its thread, with the trace and span ids
//! of the innermost stage or `tracing` span, its severity, its target, its
//! message as the body, and its file and line as `code.file.path` and
//! `code.line.number`. Records are filtered like `tracing` events: by the
//! `RUST_LOG` directives (target and level; directives with span fields do
//! not apply to `log` records), and never from the exporters' own transport
//! crates.
//!
//! ```
//! # #[semtel::stage(pipeline = "orders")]
//! # fn load() {
//! // Inside a stage: a log record with the stage's trace and span ids.
//! log::info!(target: "warehouse", "loaded {} rows", 42);
//! # }
//! # fn main() -> Result<(), semtel::Error> {
//! # let _telemetry = semtel::init()?;
//! # load();
//! # Ok(()) }
//! ```

use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::trace::TraceContextExt as _;
use semtel_conventions::attribute;

fn severity(level: log::Level) -> Severity {
    match level {
        log::Level::Error => Severity::Error,
        log::Level::Warn => Severity::Warn,
        log::Level::Info => Severity::Info,
        log::Level::Debug => Severity::Debug,
        log::Level::Trace => Severity::Trace,
    }
}

/// semtel as the `log` crate's logger.
#[derive(Debug)]
struct Logger;

static LOGGER: Logger = Logger;

/// Makes semtel the `log` crate's logger: records go to the session
/// current on the thread that logs (see the [module docs](self)).
///
/// # Errors
///
/// When another logger was set first (`log` allows one per process).
///
/// ```
/// // `init` does this already; a session built with `build` needs it.
/// let session = semtel::builder().build()?;
/// let _ = semtel::integrations::log::install();
/// tracing::dispatcher::with_default(session.dispatch(), || log::warn!("disk almost full"));
/// # Ok::<(), semtel::Error>(())
/// ```
pub fn install() -> Result<(), log::SetLoggerError> {
    log::set_logger(&LOGGER)?;
    log::set_max_level(log::LevelFilter::Trace);
    Ok(())
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        super::layer::current().is_some_and(|hub| {
            hub.log_filter
                .as_ref()
                .is_some_and(|f| f.enabled(metadata.target(), metadata.level()))
        })
    }

    fn log(&self, record: &log::Record<'_>) {
        let Some(hub) = super::layer::current() else {
            return;
        };
        let (Some(logger), Some(filter)) = (&hub.logger, &hub.log_filter) else {
            return;
        };
        if !filter.enabled(record.target(), record.level()) {
            return;
        }
        let mut lr = logger.create_log_record();
        let now = SystemTime::now();
        lr.set_timestamp(now);
        lr.set_observed_timestamp(now);
        lr.set_target(record.target().to_owned());
        lr.set_severity_number(severity(record.level()));
        lr.set_severity_text(record.level().as_str());
        lr.set_body(AnyValue::from(record.args().to_string()));
        if let Some(file) = record.file() {
            lr.add_attribute(attribute::CODE_FILE_PATH.name(), file.to_owned());
        }
        if let Some(line) = record.line() {
            lr.add_attribute(attribute::CODE_LINE_NUMBER.name(), i64::from(line));
        }
        // The innermost stage or `tracing` span (a stage attaches no
        // OpenTelemetry context the SDK would find by itself).
        let cx = crate::propagation::current_context();
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            lr.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
        }
        logger.emit(lr);
    }

    fn flush(&self) {}
}
