//! [`Session`] and [`Guard`]: running telemetry, its flush and its bounded
//! shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::{Identity, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Config, Signal};
use crate::engine::Engine;
use crate::error::Error;
use crate::export::{ExportRuntime, Reporter, ShutdownReport, SignalReport};
use crate::metric::prometheus::PrometheusReader;
use crate::pipeline::{LayerParts, Pipeline};
use crate::stage;

/// How long shutdown may take by default, for all signals together.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A meter from the installed meter provider (see [`init`](crate::init)).
/// Its instruments carry only the attributes given to them; the typed
/// instruments of [`crate::instrument`] also carry the running stage's
/// labels.
pub fn meter(name: &'static str) -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter(name)
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
    prometheus: Option<PrometheusReader>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session of what `pipeline` built, not installed yet, with its own
    /// `tracing` dispatcher; sets the global propagators.
    pub(crate) fn new(pipeline: Pipeline, config: Config, shutdown_timeout: Duration) -> Self {
        let dispatch = pipeline
            .layers
            .as_ref()
            .map_or_else(tracing::Dispatch::none, LayerParts::dispatch);
        Self::assemble(pipeline, dispatch, config, shutdown_timeout)
    }

    /// A session of what `pipeline` built, not installed yet, and semtel's
    /// layer for the user's subscriber; sets the global propagators.
    pub(crate) fn with_layer<S>(
        pipeline: Pipeline,
        config: Config,
        shutdown_timeout: Duration,
    ) -> (Self, Box<dyn Layer<S> + Send + Sync>)
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let layer = pipeline
            .layers
            .as_ref()
            .map_or_else(|| Box::new(Identity::new()) as _, LayerParts::layer);
        let session = Self::assemble(
            pipeline,
            tracing::Dispatch::none(),
            config,
            shutdown_timeout,
        );
        (session, layer)
    }

    fn assemble(
        pipeline: Pipeline,
        dispatch: tracing::Dispatch,
        config: Config,
        shutdown_timeout: Duration,
    ) -> Self {
        let Pipeline {
            tracer_provider,
            logger_provider,
            meter_provider,
            reporters,
            runtime,
            propagator,
            engine,
            prometheus,
            layers: _,
        } = pipeline;
        opentelemetry::global::set_text_map_propagator(propagator);
        Session {
            tracer_provider,
            logger_provider,
            meter_provider,
            reporters,
            runtime,
            dispatch,
            engine,
            shutdown_timeout,
            report: None,
            installed: false,
            config,
            prometheus,
        }
    }

    /// Installs this `Session` for the whole process ([`crate::init`]).
    pub(crate) fn install(self) -> Result<Guard, Error> {
        if !self.config.disabled {
            tracing::dispatcher::set_global_default(self.dispatch.clone())
                .map_err(|_| Error::SubscriberAlreadySet)?;
        }
        Ok(self.install_globals())
    }

    /// Installs everything of this `Session` for the whole process but the
    /// `tracing` subscriber, which the user's carries semtel's layer
    /// ([`crate::Builder::build_layer`]).
    pub(crate) fn install_globals(mut self) -> Guard {
        if !self.config.disabled {
            if let Some(tp) = &self.tracer_provider {
                opentelemetry::global::set_tracer_provider(tp.clone());
            }
            opentelemetry::global::set_meter_provider(self.meter_provider.clone());
            stage::meter_provider_changed(self.config.exemplar_filter);
            if let Some(engine) = &self.engine {
                engine.install();
            }
            // Unless the program set another `log` logger first.
            #[cfg(feature = "log")]
            let _ = crate::integrations::log::install();
            self.installed = true;
        }
        Guard {
            telemetry: Some(self),
        }
    }

    /// The `tracing` dispatcher that exports spans and turns events into logs;
    /// a no-op one when semtel's layer is in a subscriber of the user's
    /// ([`crate::Builder::build_layer`]), which then does that.
    pub fn dispatch(&self) -> &tracing::Dispatch {
        &self.dispatch
    }

    /// The resolved settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address the Prometheus endpoint listens on
    /// (`OTEL_METRICS_EXPORTER=prometheus`; with port 0, the port chosen).
    pub fn prometheus_addr(&self) -> Option<std::net::SocketAddr> {
        self.prometheus.as_ref().map(PrometheusReader::addr)
    }

    /// A meter from this telemetry's meter provider.
    pub fn meter(&self, name: &'static str) -> opentelemetry::metrics::Meter {
        self.meter_provider.meter(name)
    }

    /// Not public API, for benchmarks only (the `__bench` feature): exports
    /// the spans recorded so far, as [`Session::flush`] does, and leaves
    /// logs and metrics alone, as the peers' span-only flushes do.
    #[cfg(feature = "__bench")]
    #[doc(hidden)]
    pub fn __flush_traces(&self) {
        if let Some(engine) = &self.engine {
            engine.flush(Instant::now() + self.shutdown_timeout);
        }
        if let Some(tp) = &self.tracer_provider {
            let _ = tp.force_flush();
        }
    }

    /// Exports everything recorded so far (stage spans still in threads'
    /// buffers included), waiting at most the shutdown timeout: what is not
    /// exported by then goes on in the background.
    pub fn flush(&self) {
        let deadline = Instant::now() + self.shutdown_timeout;
        if let Some(engine) = &self.engine {
            engine.flush(deadline);
        }
        // The providers' flushes wait for their exports, each up to the
        // export timeout (without limit when it is 0): they run on a thread
        // of their own, waited for until the deadline.
        let tp = self.tracer_provider.clone();
        let lp = self.logger_provider.clone();
        let mp = self.meter_provider.clone();
        let flush = move || {
            if let Some(tp) = tp {
                let _ = tp.force_flush();
            }
            if let Some(lp) = lp {
                let _ = lp.force_flush();
            }
            let _ = mp.force_flush();
        };
        let (done, finished) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("semtel-flush".into())
            .spawn(move || {
                flush();
                let _ = done.send(());
            });
        if spawned.is_ok() {
            let _ = finished.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
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
        // The metrics' last collection and export, on a thread of its own:
        // after the engine has drained the rings (their stage durations go
        // into the histograms), but no later than half the time, so that
        // a traces queue the engine waits on to the deadline (a collector
        // that never answers) cannot leave it none: its points are then
        // counted, failed or unsent, instead of collected after the report.
        let (engine_done_tx, engine_done_rx) = std::sync::mpsc::channel::<()>();
        let (metrics_done_tx, metrics_done_rx) = std::sync::mpsc::channel::<()>();
        let metrics_at = Instant::now() + self.shutdown_timeout / 2;
        let mp = self.meter_provider.clone();
        let metrics = std::thread::Builder::new()
            .name("semtel-shutdown-metrics".into())
            .spawn(move || {
                let _ = engine_done_rx
                    .recv_timeout(metrics_at.saturating_duration_since(Instant::now()));
                let _ =
                    mp.shutdown_with_timeout(deadline.saturating_duration_since(Instant::now()));
                let _ = metrics_done_tx.send(());
            });
        // Stage spans still in threads' rings go to the export queues first
        // (and their durations into the stage histogram, so metrics stay on
        // until they have).
        let engine_done = self
            .engine
            .as_ref()
            .is_none_or(|engine| engine.shutdown(deadline));
        let _ = engine_done_tx.send(());
        if self.installed {
            stage::meter_provider_removed();
        }
        // Start every queue draining at once, so signals flush in parallel.
        for r in &self.reporters {
            r.begin_shutdown();
        }
        if let Some(prometheus) = &self.prometheus {
            prometheus.stop();
        }
        // The SDK providers' shutdowns wait on timeouts of their own; run them
        // off the caller's thread so the caller waits only until `deadline`.
        let providers = (self.tracer_provider.clone(), self.logger_provider.clone());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("semtel-shutdown".into())
            .spawn(move || {
                let left = || deadline.saturating_duration_since(Instant::now());
                let (tp, lp) = providers;
                if let Some(tp) = tp {
                    let _ = tp.shutdown_with_timeout(left());
                }
                if let Some(lp) = lp {
                    let _ = lp.shutdown_with_timeout(left());
                }
                let _ = done_tx.send(());
            });
        if spawned.is_ok() {
            let _ = done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        if metrics.is_ok() {
            let _ =
                metrics_done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
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
