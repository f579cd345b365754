//! [`Builder`]: settings made in code, and [`init`] / [`builder`], the entry
//! points that start telemetry.

use std::time::Duration;

use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{
    self, BatchConfig, Compression, Config, EnvSource, ExemplarFilter, ExporterKind, Lookup,
    Overrides, PrometheusConfig, Protocol, SamplerConfig, Signal, Temporality,
};
use crate::console::{self, ConsoleSink};
use crate::error::Error;
use crate::pipeline;
use crate::session::{DEFAULT_SHUTDOWN_TIMEOUT, Guard, Session};

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
/// when another global `tracing` subscriber exists: to keep yours, add
/// semtel to it as a layer ([`layer`], [`Builder::build_layer`]).
pub fn init() -> Result<Guard, Error> {
    builder().init()
}

/// semtel as a `tracing` layer in a subscriber of your own, configured from
/// the environment: [`Builder::build_layer`] with no settings in code.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let (guard, semtel_layer) = semtel::layer()?;
/// let subscriber = tracing_subscriber::registry().with(semtel_layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!("exported"));
/// guard.shutdown();
/// # Ok::<(), semtel::Error>(())
/// ```
///
/// # Errors
///
/// As [`Builder::build_layer`].
pub fn layer<S>() -> Result<(Guard, Box<dyn Layer<S> + Send + Sync>), Error>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    builder().build_layer()
}

/// Settings in code. Each setting made here wins over its environment variable.
pub fn builder() -> Builder {
    Builder::default()
}

/// Configures telemetry in code; see the [crate docs](crate) for the
/// environment variables each setting overrides.
#[derive(Default)]
pub struct Builder {
    overrides: Overrides,
    env: Option<EnvSource>,
    console: Option<ConsoleSink>,
    extras: pipeline::Extras,
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
    /// Credentials in it become an `Authorization: Basic` header, as with
    /// the variable.
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
    /// Its value is never shown (`Debug`, errors, reports).
    #[must_use]
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.headers.push((key.into(), value.into()));
        self
    }

    /// Timeout of each OTLP request, at most 2³¹ − 1 ms; zero means no
    /// limit, as `OTEL_EXPORTER_OTLP_TIMEOUT=0` does.
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
    /// reported as `name` in the [`ShutdownReport`](crate::ShutdownReport).
    /// Ignored when telemetry is disabled (`OTEL_SDK_DISABLED=true`).
    #[must_use]
    pub fn span_exporter<E>(mut self, name: impl Into<String>, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        self.extras
            .span_exporters
            .push(pipeline::ExtraSpanExporter::new(name.into(), exporter));
        self
    }

    /// Not public API, for benchmarks only (the `__bench` feature): traces
    /// going over OTLP are encoded as they would be sent (protobuf, gzip if
    /// configured) and each batch is then dropped, counted as exported,
    /// instead of being handed to the network. It measures semtel's export
    /// path without the transport and the receiver, as the peers'
    /// discarding exporters do theirs.
    #[cfg(feature = "__bench")]
    #[doc(hidden)]
    #[must_use]
    pub fn __discard_encoded_traces(mut self) -> Self {
        self.extras.discard_encoded_traces = true;
        self
    }

    /// `semtel::testing`'s capture: spans and log records also go to `sink`.
    #[cfg(feature = "testing")]
    pub(crate) fn memory(mut self, sink: crate::export::MemorySink) -> Self {
        self.extras.memory = Some(sink);
        self
    }

    /// The trace sampler (a ratio from 0.0 to 1.0).
    #[must_use]
    pub fn sampler(mut self, sampler: SamplerConfig) -> Self {
        self.overrides.sampler = Some(sampler);
        self
    }

    /// Span batching (overrides `OTEL_BSP_*`), checked as those variables
    /// are (see [`BatchConfig`]).
    #[must_use]
    pub fn span_batch(mut self, batch: BatchConfig) -> Self {
        self.overrides.span_batch = Some(batch);
        self
    }

    /// Log batching (overrides `OTEL_BLRP_*`), checked as those variables
    /// are.
    #[must_use]
    pub fn log_batch(mut self, batch: BatchConfig) -> Self {
        self.overrides.log_batch = Some(batch);
        self
    }

    /// How often metrics are exported: more than zero, at most 2³¹ − 1 ms.
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

    /// Which stage calls give the stage metrics exemplars (overrides
    /// `OTEL_METRICS_EXEMPLAR_FILTER`, which is still checked).
    ///
    /// ```
    /// use semtel::ExemplarFilter;
    ///
    /// let config = semtel::builder()
    ///     .env(|name| (name == "OTEL_METRICS_EXEMPLAR_FILTER").then(|| "always_on".to_owned()))
    ///     .exemplar_filter(ExemplarFilter::AlwaysOff)
    ///     .config()?;
    /// assert_eq!(config.exemplar_filter, ExemplarFilter::AlwaysOff);
    /// # Ok::<(), semtel::Error>(())
    /// ```
    #[must_use]
    pub fn exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.overrides.exemplar_filter = Some(filter);
        self
    }

    /// Where the Prometheus endpoint listens: a host name or address (not
    /// empty) and a port, 0 for any free one ([`Session::prometheus_addr`]
    /// says which). Overrides `OTEL_EXPORTER_PROMETHEUS_HOST` and
    /// `OTEL_EXPORTER_PROMETHEUS_PORT` together, which are still checked.
    /// It does not choose the Prometheus exporter: metrics go there when
    /// `OTEL_METRICS_EXPORTER` or [`Builder::exporters`] lists it. An
    /// address that cannot be listened on is [`Error::PrometheusBind`].
    ///
    /// ```
    /// use semtel::{ExporterKind, Signal};
    ///
    /// let session = semtel::builder()
    ///     .exporters(Signal::Metrics, &[ExporterKind::Prometheus])
    /// #   .exporters(Signal::Traces, &[]).exporters(Signal::Logs, &[])
    ///     .prometheus_addr("127.0.0.1", 0)
    ///     .build()?;
    /// let addr = session.prometheus_addr().expect("listening");
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// session.shutdown();
    /// # Ok::<(), semtel::Error>(())
    /// ```
    #[must_use]
    pub fn prometheus_addr(mut self, host: impl Into<String>, port: u16) -> Self {
        self.overrides.prometheus = Some(PrometheusConfig {
            host: host.into(),
            port,
        });
        self
    }

    /// Which `tracing` spans and events are exported, in `RUST_LOG` syntax.
    #[must_use]
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.overrides.log_filter = Some(directives.into());
        self
    }

    /// Whether semtel's own counts (`otel.sdk.*`: spans and logs processed,
    /// dropped, queued, exported, failed) go out with the metrics when
    /// metrics leave the process (default `true`). With `false`, the
    /// shutdown report still has them.
    #[must_use]
    pub fn self_metrics(mut self, enabled: bool) -> Self {
        self.extras.no_self_metrics = !enabled;
        self
    }

    /// The baggage keys whose entries are copied onto `tracing` spans and
    /// log records as attributes (overrides `SEMTEL_BAGGAGE_ATTRIBUTES`);
    /// none by default, as baggage may carry secrets. Each must be a W3C
    /// baggage key (an HTTP token). See [`crate::baggage`].
    ///
    /// ```
    /// let config = semtel::builder().baggage_attributes(["tenant", "run.id"]).config()?;
    /// assert_eq!(config.baggage_attributes, ["tenant", "run.id"]);
    /// # Ok::<(), semtel::Error>(())
    /// ```
    #[must_use]
    pub fn baggage_attributes<K: Into<String>>(
        mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        self.overrides.baggage_attributes = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    /// The most shutdown may take, for all signals together (default 10 s,
    /// at most 2³¹ − 1 ms).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.shutdown_timeout = Some(timeout);
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
        let process_env = |k: &str| {
            std::env::var_os(k).map(|v| v.into_string().map_err(|v| v.to_string_lossy().into()))
        };
        let given = |k: &str| self.env.as_ref().and_then(|f| f(k)).map(Ok);
        let env: Lookup<'_> = match &self.env {
            Some(_) => &given,
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
        let (config, pipeline, shutdown_timeout) = self.pipeline()?;
        Ok(Session::new(pipeline, config, shutdown_timeout))
    }

    fn pipeline(self) -> Result<(Config, pipeline::Pipeline, Duration), Error> {
        let config = self.config()?;
        let sink = self.console.unwrap_or_else(ConsoleSink::stderr);
        let pipeline = pipeline::build(&config, &sink, self.extras)?;
        if !config.disabled && config.uses_console() && config.console_fallback {
            sink.write_block(&format!("{}\n", console::collector_hint()));
        }
        let shutdown_timeout = self
            .overrides
            .shutdown_timeout
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
        Ok((config, pipeline, shutdown_timeout))
    }

    /// Builds telemetry as a `tracing` layer for a subscriber of your own,
    /// next to your layers (a JSON `fmt` layer, say), instead of installing
    /// semtel's subscriber as [`init`] does. Installs the rest for the whole
    /// process as `init` does: OpenTelemetry's global tracer and meter
    /// providers, the propagators, the stage engine and the `log` bridge.
    ///
    /// The layer holds what `init`'s subscriber does: stage spans,
    /// `tracing` spans and events as OTLP spans and log records, the
    /// integrations. Its filter (`RUST_LOG`, or [`Builder::log_filter`], and
    /// the exclusion of the exporters' own transport crates) is a per-layer
    /// filter: it decides what semtel exports, never what your other layers
    /// see; give those their own filters. Per-layer filters need
    /// `tracing_subscriber`'s `Registry` under the layers, as
    /// `tracing_subscriber::registry()` is. `S` is inferred from where the
    /// layer goes.
    ///
    /// Keep the [`Guard`] alive until the program ends; dropping it (or
    /// [`Guard::shutdown`]) flushes and shuts down. Stages find the session
    /// without semtel's subscriber, also when your subscriber is a scoped
    /// default (`tracing::subscriber::set_default`) rather than the global
    /// one.
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt as _;
    /// use tracing_subscriber::util::SubscriberInitExt as _;
    ///
    /// #[semtel::stage(pipeline = "orders")]
    /// fn parse(line: &str) -> usize {
    ///     tracing::info!(len = line.len(), "parsed");
    ///     line.len()
    /// }
    ///
    /// # use semtel::{ExporterKind::Console, Signal};
    /// let (guard, semtel_layer) = semtel::builder()
    ///     .service_name("orders")
    /// #   .exporters(Signal::Traces, &[Console]).exporters(Signal::Metrics, &[Console])
    /// #   .exporters(Signal::Logs, &[Console]).console_writer(std::io::sink())
    ///     .build_layer()?;
    /// tracing_subscriber::registry()
    ///     .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
    ///     .with(semtel_layer)
    ///     .try_init()
    ///     .expect("no other global subscriber");
    /// // The event goes to standard error and, in the stage's trace, to OTLP.
    /// assert_eq!(parse("a,b"), 3);
    /// guard.shutdown();
    /// # Ok::<(), semtel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]; never [`Error::SubscriberAlreadySet`].
    pub fn build_layer<S>(self) -> Result<(Guard, Box<dyn Layer<S> + Send + Sync>), Error>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let (config, pipeline, shutdown_timeout) = self.pipeline()?;
        let (session, layer) = Session::with_layer(pipeline, config, shutdown_timeout);
        Ok((session.install_globals(), layer))
    }

    /// Builds and installs for the whole process, like [`init`].
    ///
    /// # Errors
    ///
    /// As [`Builder::build`], and [`Error::SubscriberAlreadySet`].
    pub fn init(self) -> Result<Guard, Error> {
        self.build()?.install()
    }
}
