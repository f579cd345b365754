//! Shared cases of the per-call benchmarks, and the pipelines of the export
//! benchmark ([`export`]). Both export to the OTLP receiver of the tests
//! crate ([`semtel_tests::Receiver::counting`]) on loopback.
//!
//! Each [`Case`] is one way of instrumenting the same function. [`Case::enter`]
//! sets up what the case needs and returns a [`Scope`]; [`Scope::run`] calls
//! the function `n` times in a plain loop; [`Scope::finish`] flushes and
//! shuts the case's pipeline down, so its background export work happens
//! before the caller reads the CPU clock.
//!
//! All cases run in one process, on the default (system) allocator:
//! * the `tracing` cases install their subscriber per thread with
//!   [`tracing::dispatcher::set_default`], so they coexist with semtel's
//!   global one;
//! * semtel's cases depend on process-wide state, so they must run in
//!   [`Case::ALL`]'s order: the disabled ones before [`Case::SemtelEnabled`]
//!   installs the global subscriber and meter provider (checked at
//!   [`Case::enter`]).

pub mod export;
pub mod peers;
mod scope;

use scope::State;
pub use scope::{Outcome, Scope};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use semtel::{ExporterKind, Protocol, Signal};
use tracing_subscriber::layer::SubscriberExt as _;

use peers::{DiscardMetrics, DiscardReporter, DiscardSpans, RawSdk};
use semtel_tests::Receiver;

/// One way of instrumenting the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// No instrumentation.
    Plain,
    /// `#[semtel::stage]`, semtel never initialised: no subscriber, no-op
    /// global meter provider.
    SemtelNoInit,
    /// `#[semtel::stage]` after `init()` with `OTEL_SDK_DISABLED=true`, which
    /// installs nothing: the same state as [`Case::SemtelNoInit`], measured to
    /// show it.
    SemtelSdkDisabled,
    /// `#[semtel::stage]` after `init()`, exporting traces and metrics over
    /// OTLP/HTTP protobuf to the in-process [`Receiver`] on loopback, which
    /// decodes every request as a collector does (its CPU is counted apart).
    SemtelEnabled,
    /// The same with the peers' discarding span exporter
    /// ([`semtel::Builder::span_exporter`]) instead of OTLP for traces, so
    /// background CPU compares like with like. semtel installs once per
    /// process: this case runs in a process of its own
    /// ([`Case::own_process`]).
    SemtelDiscard,
    /// The same with OTLP for traces, each request encoded as it would be
    /// sent (OTLP/HTTP protobuf) and then dropped where the send would begin
    /// (`semtel::Builder::__discard_encoded_traces`): semtel's own export
    /// path without the transport and the receiver, against the peers'
    /// discarding exporters. In a process of its own too.
    SemtelEncodeDiscard,
    /// The same with `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`: each request is
    /// gzipped too before it is dropped. In a process of its own too.
    SemtelEncodeGzipDiscard,
    /// `#[tracing::instrument]` with `tracing_subscriber::registry()` alone.
    Tracing,
    /// `#[tracing::instrument]` with a tracing-opentelemetry layer (configured
    /// as semtel configures its own) on an SDK tracer provider with the batch
    /// processor and a discarding exporter.
    TracingOtel,
    /// The OpenTelemetry SDK by hand: span, up-down counter and histogram.
    OtelSdk,
    /// fastrace `#[trace]` under a per-call root span, discarding reporter.
    Fastrace,
    /// autometrics with its prometheus-client backend (metrics only, never
    /// scraped).
    Autometrics,
}

impl Case {
    /// Every case, in the order they must run.
    pub const ALL: [Case; 12] = [
        Case::Plain,
        Case::SemtelNoInit,
        Case::SemtelSdkDisabled,
        Case::SemtelEnabled,
        Case::SemtelDiscard,
        Case::SemtelEncodeDiscard,
        Case::SemtelEncodeGzipDiscard,
        Case::Tracing,
        Case::TracingOtel,
        Case::OtelSdk,
        Case::Fastrace,
        Case::Autometrics,
    ];

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Case::Plain => "plain_fn",
            Case::SemtelNoInit => "semtel_disabled_no_init",
            Case::SemtelSdkDisabled => "semtel_disabled_otel_sdk_disabled",
            Case::SemtelEnabled => "semtel_enabled_otlp",
            Case::SemtelDiscard => "semtel_enabled_discard",
            Case::SemtelEncodeDiscard => "semtel_enabled_encode_discard",
            Case::SemtelEncodeGzipDiscard => "semtel_enabled_encode_gzip_discard",
            Case::Tracing => "tracing_instrument_registry",
            Case::TracingOtel => "tracing_instrument_otel_layer",
            Case::OtelSdk => "otel_sdk_span_histogram_counter",
            Case::Fastrace => "fastrace_trace",
            Case::Autometrics => "autometrics",
        }
    }

    /// The case by its [`Case::name`].
    pub fn named(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether the case must run in a process of its own: semtel's enabled
    /// pipeline is installed once per process, and
    /// [`Case::SemtelEnabled`] runs in the main one.
    pub const fn own_process(self) -> bool {
        matches!(
            self,
            Case::SemtelDiscard | Case::SemtelEncodeDiscard | Case::SemtelEncodeGzipDiscard
        )
    }

    /// Sets the case up.
    ///
    /// # Panics
    ///
    /// For a disabled semtel case after [`Case::SemtelEnabled`] has run, and
    /// when semtel cannot start.
    pub fn enter(self) -> Scope {
        let state = match self {
            Case::Plain => State::Plain,
            Case::SemtelNoInit => {
                assert_semtel_not_enabled();
                State::Semtel
            }
            Case::SemtelSdkDisabled => {
                assert_semtel_not_enabled();
                let guard = semtel::builder()
                    .env(|k| (k == "OTEL_SDK_DISABLED").then(|| "true".into()))
                    // A disabled init still prints the "no OTLP endpoint" hint.
                    .console_writer(std::io::sink())
                    .init()
                    .expect("semtel with OTEL_SDK_DISABLED=true starts");
                State::SemtelDisabled {
                    _guard: Box::new(guard),
                }
            }
            Case::SemtelEnabled => State::SemtelEnabled(semtel_enabled(self)),
            Case::SemtelDiscard | Case::SemtelEncodeDiscard | Case::SemtelEncodeGzipDiscard => {
                State::SemtelEnabled(semtel_enabled(self))
            }
            Case::Tracing => {
                let dispatch = tracing::Dispatch::new(tracing_subscriber::registry());
                State::Tracing {
                    _guard: tracing::dispatcher::set_default(&dispatch),
                }
            }
            Case::TracingOtel => {
                use opentelemetry::trace::TracerProvider as _;
                let spans = DiscardSpans::default();
                let tp = peers::tracer_provider(&spans);
                // As semtel's own layer: no inactivity tracking, no target.
                let layer = tracing_opentelemetry::layer()
                    .with_tracked_inactivity(false)
                    .with_target(false)
                    .with_tracer(tp.tracer("bench"));
                let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
                let guard = tracing::dispatcher::set_default(&dispatch);
                State::TracingOtel { guard, tp, spans }
            }
            Case::OtelSdk => {
                let spans = DiscardSpans::default();
                let exports = DiscardMetrics::default();
                let tp = peers::tracer_provider(&spans);
                let mp = peers::meter_provider(&exports);
                let sdk = RawSdk::new(&tp, &mp);
                State::OtelSdk { sdk, tp, mp, spans }
            }
            Case::Fastrace => State::Fastrace(Arc::clone(fastrace_reporter())),
            Case::Autometrics => {
                static SETTINGS: OnceLock<()> = OnceLock::new();
                SETTINGS.get_or_init(|| {
                    autometrics::settings::AutometricsSettings::builder().init();
                });
                State::Autometrics
            }
        };
        Scope { case: self, state }
    }
}

/// A case, set up.
/// semtel started for the whole process, exporting to an in-process
/// receiver.
#[derive(Debug)]
pub struct SemtelEnabled {
    case: Case,
    guard: Mutex<Option<semtel::Guard>>,
    receiver: Receiver,
}

impl SemtelEnabled {
    fn flush_spans(&self) {
        let guard = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(g) = guard.as_ref() {
            g.session().__flush_traces();
        }
    }

    fn flush(&self) {
        let guard = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(g) = guard.as_ref() {
            g.session().flush();
        }
    }
}

/// The in-process receiver's totals so far: CPU of its threads in ns, trace
/// requests. Zero before semtel's enabled case has started it.
pub fn receiver_totals() -> (u64, u64) {
    SEMTEL.get().map_or((0, 0), |s| {
        let counts = s.receiver.counts();
        (counts.cpu_ns, counts.requests)
    })
}

static SEMTEL: OnceLock<SemtelEnabled> = OnceLock::new();
static SEMTEL_ENABLED: AtomicBool = AtomicBool::new(false);

fn assert_semtel_not_enabled() {
    assert!(
        !SEMTEL_ENABLED.load(Ordering::Acquire),
        "the disabled semtel cases must run before `semtel_enabled_otlp` \
         installs the global subscriber and meter provider"
    );
}

/// Starts semtel once per process: traces over OTLP/HTTP protobuf to the
/// receiver ([`Case::SemtelEnabled`]) or to the peers' discarding exporter
/// ([`Case::SemtelDiscard`]), metrics to the receiver (exported at shutdown: 60 s
/// interval, as the peers'), logs off (a stage emits none), the process
/// environment ignored so the run does not depend on it.
///
/// # Panics
///
/// When the other semtel case already ran in this process.
fn semtel_enabled(case: Case) -> &'static SemtelEnabled {
    let enabled = SEMTEL.get_or_init(|| {
        let receiver = Receiver::counting().expect("the loopback receiver starts");
        let mut builder = semtel::builder()
            .env(|_| None)
            .service_name("semtel-bench")
            .endpoint(receiver.http_endpoint())
            .protocol(Protocol::HttpProtobuf)
            .exporters(Signal::Metrics, &[ExporterKind::Otlp])
            .exporters(Signal::Logs, &[])
            .metric_export_interval(Duration::from_secs(60));
        builder = match case {
            Case::SemtelDiscard => builder
                .exporters(Signal::Traces, &[])
                .span_exporter("discard", DiscardSpans::default()),
            Case::SemtelEncodeDiscard => builder
                .exporters(Signal::Traces, &[ExporterKind::Otlp])
                .__discard_encoded_traces(),
            Case::SemtelEncodeGzipDiscard => builder
                .exporters(Signal::Traces, &[ExporterKind::Otlp])
                .compression(semtel::Compression::Gzip)
                .__discard_encoded_traces(),
            _ => builder.exporters(Signal::Traces, &[ExporterKind::Otlp]),
        };
        let guard = builder.init().expect("semtel starts");
        SEMTEL_ENABLED.store(true, Ordering::Release);
        SemtelEnabled {
            case,
            guard: Mutex::new(Some(guard)),
            receiver,
        }
    });
    assert_eq!(
        enabled.case, case,
        "one enabled semtel case per process (see `Case::own_process`)"
    );
    enabled
}

/// fastrace's reporter is process-wide: set once, counting into one counter.
fn fastrace_reporter() -> &'static Arc<AtomicU64> {
    static COUNT: OnceLock<Arc<AtomicU64>> = OnceLock::new();
    COUNT.get_or_init(|| {
        let reporter = DiscardReporter::default();
        let count = Arc::clone(&reporter.0);
        fastrace::set_reporter(reporter, fastrace::collector::Config::default());
        count
    })
}

/// Polls `future` on this thread until it is ready, with a waker that does
/// nothing: the futures of the per-poll benchmark ([`peers::Polls`]) are
/// ready after a set number of polls and wait for nothing.
#[inline]
pub fn poll_to_end<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// What a paced or steady run measured.
#[derive(Debug)]
pub struct Paced {
    /// The sum of the calls' results.
    pub acc: u64,
    /// The calls' wall time.
    pub wall: Duration,
    /// The calling thread's CPU time during the calls.
    pub cpu: Duration,
    /// Each chunk's wall time per call in nanoseconds, in ascending order.
    pub chunk_ns: Vec<f64>,
}

impl Paced {
    /// The chunks' wall time per call at quantile `q` (0.5: the median
    /// chunk), nearest rank; NaN when there were no chunks.
    #[must_use]
    pub fn chunk_quantile(&self, q: f64) -> f64 {
        let Some(last) = self.chunk_ns.len().checked_sub(1) else {
            return f64::NAN;
        };
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )] // a rank within the chunks
        let rank = ((last as f64) * q.clamp(0.0, 1.0)).round() as usize;
        self.chunk_ns[rank]
    }
}

/// The session of the integration benchmarks (`pg_query`, `aws_call`,
/// `kafka`): spans encoded as OTLP/HTTP protobuf and dropped where the send
/// would begin; metrics recorded but not exported during the run, and sent
/// to a closed loopback port at the end. It reads no environment, so the
/// run does not depend on where it is started from.
#[must_use]
pub fn discarding_session() -> semtel::Session {
    semtel::builder()
        .env(|k| match k {
            "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".to_owned()),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("200".to_owned()),
            _ => None,
        })
        .service_name("semtel-bench")
        .endpoint(format!("http://127.0.0.1:{}", closed_port()))
        .__discard_encoded_traces()
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .expect("a session")
}

/// Shuts a [`discarding_session`] down and asserts that every span was
/// encoded (its metrics go to a closed port and are lost).
///
/// # Panics
/// When a span was dropped.
pub fn shutdown_without_dropped_spans(session: semtel::Session) {
    let report = session.shutdown();
    let dropped: u64 = report.signal(Signal::Traces).map(|s| s.dropped).sum();
    assert_eq!(dropped, 0, "{report}");
}

/// A loopback port nothing listens on (bound, then freed).
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
