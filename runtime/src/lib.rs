//! # semtel
//!
//! OpenTelemetry for data pipelines in one call. [`init`] starts exporting
//! traces, metrics and logs, configured by the standard `OTEL_*` environment
//! variables, and returns a [`Guard`] that flushes everything when dropped.
//! With no collector configured, telemetry is rendered for a person on
//! standard error.
//!
//! ```no_run
//! fn main() -> Result<(), semtel::Error> {
//!     let _telemetry = semtel::init()?;
//!     let span = tracing::info_span!("load", db.system.name = "sqlite");
//!     let _entered = span.enter();
//!     tracing::info!(records = 42, "batch written");
//!     Ok(())
//! } // spans, logs and metrics are flushed here
//! ```
//!
//! ## Usage
//!
//! * `#[stage]` spans are recorded by semtel's own span engine: per-thread
//!   ring buffers, a TSC clock and lock-free ids on the calling thread (tens
//!   of nanoseconds a call), OTLP protobuf encoded on export threads. They
//!   follow the sampler, not `RUST_LOG`. Each thread that runs a stage holds
//!   a ring of `OTEL_BSP_MAX_QUEUE_SIZE` 64-byte records, which grows for a
//!   busy thread up to 16 times that size, at most 32,768 records (2 MiB)
//!   unless the queue size is larger already; a full ring drops and counts,
//!   and the count is in the [`ShutdownReport`]. A stage does not
//!   attach an OpenTelemetry `Context`: code that reads
//!   `opentelemetry::Context::current()` directly inside a stage sees the
//!   context around it; [`propagation::current_context`] and
//!   [`propagation::inject`] see the stage.
//! * `tracing` spans (yours and those of libraries such as reqwest-tracing,
//!   tower-http or the AWS SDK) are exported as OpenTelemetry spans with
//!   their parents; they nest under stages and stages under them. The
//!   `integrations` (cargo features, off by default) instrument
//!   tokio-postgres, sqlx, reqwest and the `log` crate by the semantic
//!   conventions.
//! * `tracing` events become OTLP log records carrying the trace and span id
//!   of the span they happen in; fields become attributes.
//! * Metrics: [`meter`] gives an OpenTelemetry meter. The stage metrics of
//!   `#[stage]` (`pipeline.stage.duration`, `pipeline.records`, …) are
//!   recorded once [`init`] has installed the meter provider; before that,
//!   and with `OTEL_SDK_DISABLED=true`, a stage call costs a few nanoseconds.
//! * Across processes: [`propagation`] injects and extracts W3C trace context
//!   through HTTP headers or Kafka-style header lists.
//!
//! ## Configuration
//!
//! Every OpenTelemetry SDK variable semtel supports is read by [`init`] and
//! validated up front; a bad value is an [`Error`] naming the variable, the
//! value and the accepted values. Settings made with [`Builder`] take
//! precedence over the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true` turns all telemetry off | `false` |
//! | `OTEL_SERVICE_NAME` | `service.name` | `unknown_service:<exe>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k2=v2`, percent-encoded values | |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT` | collector URL; setting it selects OTLP | console |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` | `grpc`, `http/protobuf`, `http/json` | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS` | `k=v` pairs, e.g. `Authorization=Basic%20…` | |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` | milliseconds per export | `10000` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION` | `gzip`, `none` (traces over HTTP are gzipped at level 1: about 7 % larger than at the default level 6, in a quarter of the CPU) | `none` |
//! | `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` | `otlp`, `console`, `none` (comma list) | see above |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `parentbased_always_on`, `traceidratio`, … | `parentbased_always_on` |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `none` | `tracecontext,baggage` |
//! | `OTEL_BSP_*`, `OTEL_BLRP_*` | span and log batching: `SCHEDULE_DELAY`, `EXPORT_TIMEOUT`, `MAX_QUEUE_SIZE`, `MAX_EXPORT_BATCH_SIZE` | 5000/1000, 30000, 2048, 512 |
//! | `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_METRIC_EXPORT_TIMEOUT` | milliseconds | `60000`, `30000` |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta`, `lowmemory` | `cumulative` |
//! | `RUST_LOG` | which `tracing` spans and events are exported (not `#[stage]` spans) | `info` |
//!
//! `[SIGNAL_]` is empty or one of `TRACES_`, `METRICS_`, `LOGS_`; a
//! signal-specific endpoint is used as the full URL, the generic one gets
//! `/v1/<signal>` appended for HTTP.
//!
//! ## Faults
//!
//! A collector that is down, dies or is slow never blocks the pipeline:
//! telemetry waits in bounded queues, what does not fit is dropped and
//! counted, every export has a timeout, and shutdown is bounded. The
//! [`ShutdownReport`] says what was lost and where it was going; the
//! [`Guard`] prints it when anything was lost.
#![warn(missing_docs)]

mod config;
mod console;
mod engine;
mod error;
mod export;
mod filter;
#[cfg(feature = "integrations")]
pub mod integrations;
mod pipeline;
pub mod propagation;
mod resource;
mod stage;
mod telemetry;
#[cfg(feature = "tls")]
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

pub use config::{
    BatchConfig, Compression, Config, ExporterKind, OtlpConfig, ParentBasedRoot, Propagator,
    Protocol, SamplerConfig, Signal, SignalConfig, Temporality,
};
pub use error::{ConfigError, Error};
pub use export::{ShutdownReport, SignalReport};
pub use resource::SCHEMA_URL;
pub use semtel_macros::{Telemetry, stage};
pub use stage::StageKind;
pub use telemetry::{Attributes, ErrorType, REDACTED, Telemetry, TelemetryValue, redact_hash};

/// The semantic conventions semtel emits: constants, enums and metric
/// descriptors generated from the official registry and semtel's `pipeline.`
/// registry.
pub use semtel_conventions as conventions;

use config::{EnvSource, Overrides};
use console::ConsoleSink;
use engine::Engine;
use export::{ExportRuntime, Reporter};

/// How long shutdown may take by default, for all signals together.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts telemetry from the environment and installs it for the whole
/// process: the global `tracing` subscriber, OpenTelemetry's global tracer
/// and meter providers, and the propagators.
///
/// Keep the returned [`Guard`] alive until the program ends; dropping it
/// flushes and shuts down.
///
/// # Errors
///
/// [`Error::Config`] lists every invalid variable; [`Error::SubscriberAlreadySet`]
/// when another global `tracing` subscriber exists.
pub fn init() -> Result<Guard, Error> {
    builder().init()
}

/// Settings in code. Each setting made here wins over its environment variable.
pub fn builder() -> Builder {
    Builder::default()
}

/// A meter from the installed meter provider (see [`init`]).
pub fn meter(name: &'static str) -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter(name)
}

/// Configures telemetry in code; see the [crate docs](crate) for the
/// environment variables each setting overrides.
#[derive(Default)]
pub struct Builder {
    overrides: Overrides,
    env: Option<EnvSource>,
    console: Option<ConsoleSink>,
    shutdown_timeout: Option<Duration>,
    span_exporters: Vec<pipeline::ExtraSpanExporter>,
    discard_encoded_traces: bool,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("overrides", &self.overrides)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// `service.name` (overrides `OTEL_SERVICE_NAME`).
    #[must_use]
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.service_name = Some(name.into());
        self
    }

    /// `service.version`, e.g. `env!("CARGO_PKG_VERSION")`.
    #[must_use]
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.overrides.service_version = Some(version.into());
        self
    }

    /// A resource attribute (added to `OTEL_RESOURCE_ATTRIBUTES`; wins on the same key).
    #[must_use]
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides
            .resource_attributes
            .push((key.into(), value.into()));
        self
    }

    /// The collector's base URL for every signal (overrides
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and the signal-specific variables), and
    /// selects OTLP export unless an exporter is chosen explicitly.
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(url.into());
        self
    }

    /// The OTLP protocol for every signal.
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.protocol = Some(protocol);
        self
    }

    /// A request header (gRPC metadata) for every signal, e.g. authorization.
    #[must_use]
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.headers.push((key.into(), value.into()));
        self
    }

    /// Timeout of each OTLP request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Payload compression for every signal.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.overrides.compression = Some(compression);
        self
    }

    /// Where one signal goes; an empty list turns the signal off
    /// (overrides `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`).
    #[must_use]
    pub fn exporters(mut self, signal: Signal, kinds: &[ExporterKind]) -> Self {
        let i = Signal::ALL
            .iter()
            .position(|s| *s == signal)
            .unwrap_or_default();
        self.overrides.exporters[i] = Some(kinds.to_vec());
        self
    }

    /// Also exports spans (stages' and `tracing`'s) with `exporter`, any
    /// OpenTelemetry SDK span exporter, next to the configured exporters and
    /// through the same batch queue settings (`OTEL_BSP_*`): the SDK's
    /// `InMemorySpanExporter` in a test, or a vendor's exporter. It is
    /// reported as `name` in the [`ShutdownReport`]. Ignored when telemetry is
    /// disabled (`OTEL_SDK_DISABLED=true`).
    #[must_use]
    pub fn span_exporter<E>(mut self, name: impl Into<String>, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        self.span_exporters
            .push(pipeline::ExtraSpanExporter::new(name.into(), exporter));
        self
    }

    /// For benchmarks only: traces going over OTLP are encoded as they would
    /// be sent (protobuf, gzip if configured) and each batch is then dropped,
    /// counted as exported, instead of being handed to the network. It
    /// measures semtel's export path without the transport and the
    /// receiver, as the peers' discarding exporters do theirs.
    #[doc(hidden)]
    #[must_use]
    pub fn __discard_encoded_traces(mut self) -> Self {
        self.discard_encoded_traces = true;
        self
    }

    /// The trace sampler.
    #[must_use]
    pub fn sampler(mut self, sampler: SamplerConfig) -> Self {
        self.overrides.sampler = Some(sampler);
        self
    }

    /// Span batching (overrides `OTEL_BSP_*`).
    #[must_use]
    pub fn span_batch(mut self, batch: BatchConfig) -> Self {
        self.overrides.span_batch = Some(batch);
        self
    }

    /// Log batching (overrides `OTEL_BLRP_*`).
    #[must_use]
    pub fn log_batch(mut self, batch: BatchConfig) -> Self {
        self.overrides.log_batch = Some(batch);
        self
    }

    /// How often metrics are exported.
    #[must_use]
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.overrides.metric_export_interval = Some(interval);
        self
    }

    /// Metrics temporality.
    #[must_use]
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.overrides.temporality = Some(temporality);
        self
    }

    /// Which `tracing` spans and events are exported, in `RUST_LOG` syntax.
    #[must_use]
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.overrides.log_filter = Some(directives.into());
        self
    }

    /// The most shutdown may take, for all signals together (default 10 s).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Reads variables from `lookup` instead of the process environment:
    /// for tests, or for configuration kept elsewhere.
    #[must_use]
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Some(Box::new(lookup));
        self
    }

    /// Renders console output into `writer` instead of standard error.
    #[must_use]
    pub fn console_writer(mut self, writer: impl std::io::Write + Send + 'static) -> Self {
        self.console = Some(ConsoleSink::new(Box::new(writer), false));
        self
    }

    /// The settings this builder and the environment resolve to, without
    /// starting anything.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with every invalid variable.
    pub fn config(&self) -> Result<Config, Error> {
        let process_env = |k: &str| std::env::var(k).ok();
        let env: &dyn Fn(&str) -> Option<String> = match &self.env {
            Some(f) => f.as_ref(),
            None => &process_env,
        };
        Ok(config::resolve(env, &self.overrides)?)
    }

    /// Builds the exporters and providers without installing anything global
    /// (but the propagators): install [`Session::dispatch`] yourself, e.g.
    /// with `tracing::dispatcher::set_default` in a test.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for invalid settings, [`Error::Exporter`] when an
    /// exporter cannot be built, [`Error::Runtime`] when a thread cannot start.
    pub fn build(self) -> Result<Session, Error> {
        let config = self.config()?;
        let sink = self.console.unwrap_or_else(ConsoleSink::stderr);
        let pipeline::Pipeline {
            tracer_provider,
            logger_provider,
            meter_provider,
            reporters,
            runtime,
            dispatch,
            propagator,
            engine,
        } = pipeline::build(
            &config,
            &sink,
            self.span_exporters,
            self.discard_encoded_traces,
        )?;
        opentelemetry::global::set_text_map_propagator(propagator);
        if !config.disabled && config.uses_console() && config.console_fallback {
            sink.write_block(&format!("{}\n", console::collector_hint()));
        }
        Ok(Session {
            tracer_provider,
            logger_provider,
            meter_provider,
            reporters,
            runtime,
            dispatch,
            engine,
            shutdown_timeout: self.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
            report: None,
            installed: false,
            config,
        })
    }

    /// Builds and installs for the whole process, like [`init`].
    ///
    /// # Errors
    ///
    /// As [`Builder::build`], and [`Error::SubscriberAlreadySet`].
    pub fn init(self) -> Result<Guard, Error> {
        let mut telemetry = self.build()?;
        if !telemetry.config.disabled {
            tracing::dispatcher::set_global_default(telemetry.dispatch.clone())
                .map_err(|_| Error::SubscriberAlreadySet)?;
            if let Some(tp) = &telemetry.tracer_provider {
                opentelemetry::global::set_tracer_provider(tp.clone());
            }
            opentelemetry::global::set_meter_provider(telemetry.meter_provider.clone());
            stage::meter_provider_changed();
            if let Some(engine) = &telemetry.engine {
                engine.install();
            }
            // Unless the program set another `log` logger first.
            #[cfg(feature = "log")]
            let _ = integrations::log::install();
            telemetry.installed = true;
        }
        Ok(Guard {
            telemetry: Some(telemetry),
        })
    }
}

/// A telemetry session: the providers, their exporters and a `tracing`
/// dispatcher that feeds them. Shuts down when dropped.
pub struct Session {
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    meter_provider: SdkMeterProvider,
    reporters: Vec<Arc<dyn Reporter>>,
    runtime: Option<ExportRuntime>,
    dispatch: tracing::Dispatch,
    engine: Option<Arc<Engine>>,
    shutdown_timeout: Duration,
    report: Option<ShutdownReport>,
    /// Installed for the whole process by `init()`.
    installed: bool,
    config: Config,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The `tracing` dispatcher that exports spans and turns events into logs.
    pub fn dispatch(&self) -> &tracing::Dispatch {
        &self.dispatch
    }

    /// The resolved settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A meter from this telemetry's meter provider.
    pub fn meter(&self, name: &'static str) -> opentelemetry::metrics::Meter {
        self.meter_provider.meter(name)
    }

    /// The tracer provider, when traces are on.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// The meter provider.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// Exports the spans recorded so far (stage spans still in threads'
    /// buffers included), waiting at most the shutdown timeout.
    pub fn flush_traces(&self) {
        if let Some(engine) = &self.engine {
            engine.flush(Instant::now() + self.shutdown_timeout);
        }
        if let Some(tp) = &self.tracer_provider {
            let _ = tp.force_flush();
        }
    }

    /// Exports everything recorded so far, waiting at most the shutdown timeout.
    pub fn flush(&self) {
        if let Some(engine) = &self.engine {
            engine.flush(Instant::now() + self.shutdown_timeout);
        }
        if let Some(tp) = &self.tracer_provider {
            let _ = tp.force_flush();
        }
        if let Some(lp) = &self.logger_provider {
            let _ = lp.force_flush();
        }
        let _ = self.meter_provider.force_flush();
    }

    /// Flushes and shuts every signal down, within the shutdown timeout for
    /// all of them together, and says what was delivered and what was lost.
    /// Safe to call from any thread, inside or outside a tokio runtime.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_now()
    }

    fn shutdown_now(&mut self) -> ShutdownReport {
        if let Some(report) = &self.report {
            return report.clone();
        }
        let deadline = Instant::now() + self.shutdown_timeout;
        // Stage spans still in threads' rings go to the export queues first
        // (and their durations into the stage histogram, so metrics stay on
        // until they have).
        let engine_done = self
            .engine
            .as_ref()
            .is_none_or(|engine| engine.shutdown(deadline));
        if self.installed {
            stage::meter_provider_removed();
        }
        // Start every queue draining at once, so signals flush in parallel.
        for r in &self.reporters {
            r.begin_shutdown();
        }
        // The SDK providers' shutdowns wait on timeouts of their own; run them
        // off the caller's thread so the caller waits only until `deadline`.
        let providers = (
            self.tracer_provider.clone(),
            self.logger_provider.clone(),
            self.meter_provider.clone(),
        );
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("semtel-shutdown".into())
            .spawn(move || {
                let left = || deadline.saturating_duration_since(Instant::now());
                let (tp, lp, mp) = providers;
                if let Some(tp) = tp {
                    let _ = tp.shutdown_with_timeout(left());
                }
                if let Some(lp) = lp {
                    let _ = lp.shutdown_with_timeout(left());
                }
                let _ = mp.shutdown_with_timeout(left());
                let _ = done_tx.send(());
            });
        if spawned.is_ok() {
            let _ = done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        let mut timed_out = !engine_done;
        for r in &self.reporters {
            timed_out |= !r.wait(deadline);
        }
        let mut signals: Vec<SignalReport> = self.reporters.iter().map(|r| r.report()).collect();
        // Spans a thread's full ring dropped never reached any traces
        // exporter; spans still in rings after the deadline are unflushed.
        let (ring_dropped, ring_left) = self
            .engine
            .as_ref()
            .map_or((0, 0), |e| (e.dropped(), e.leftover()));
        for s in signals.iter_mut().filter(|s| s.signal == Signal::Traces) {
            s.dropped += ring_dropped;
            s.unflushed += ring_left;
        }
        let report = ShutdownReport { signals, timed_out };
        if let Some(runtime) = self.runtime.take() {
            if timed_out {
                // Workers still exporting need the runtime until their export
                // times out; it goes away once the last one has finished.
                let reporters = self.reporters.clone();
                let _ = std::thread::Builder::new()
                    .name("semtel-reaper".into())
                    .spawn(move || {
                        let far = Instant::now() + Duration::from_secs(24 * 3600);
                        for r in &reporters {
                            r.wait(far);
                        }
                        drop(runtime);
                    });
            } else {
                // Never blocks: safe inside the caller's async context.
                drop(runtime);
            }
        }
        self.report = Some(report.clone());
        report
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Keeps process-wide telemetry running; flushes and shuts down when dropped,
/// and then prints the [`ShutdownReport`] to standard error if anything was
/// lost.
#[must_use = "telemetry stops when the guard is dropped"]
#[derive(Debug)]
pub struct Guard {
    telemetry: Option<Session>,
}

impl Guard {
    /// The running telemetry.
    pub fn session(&self) -> &Session {
        match &self.telemetry {
            Some(t) => t,
            None => unreachable!("only taken by shutdown, which consumes the guard"),
        }
    }

    /// Flushes and shuts down now, returning the report instead of printing it.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.telemetry
            .take()
            .map(Session::shutdown)
            .unwrap_or_default()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(telemetry) = self.telemetry.take() {
            let report = telemetry.shutdown();
            if report.lost() > 0 || report.timed_out() {
                eprintln!("{report}");
            }
        }
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
/// Not public API: used by semtel-macros expansions only.
pub mod __private {
    pub use ::opentelemetry;
    pub use ::tracing;

    pub use crate::engine::Instrumented;
    pub use crate::stage::{
        AsErrorType, AsTypeName, ErrorTypeOf, RecordCount, StageGuard, StageKind, StageSite,
        StaticValue, active, any_value, double_value, int_value, link_contexts, record_on, run,
        set_key,
    };
    pub use crate::telemetry::{Attributes, ErrorType, Telemetry, TelemetryValue};
    pub use semtel_conventions::value::ValueFor;
}
