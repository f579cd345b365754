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
//!   and the count is in the [`ShutdownReport`]. A thread whose ring
//!   cannot be allocated runs its stages untraced, each counted the same
//!   way; a ring that cannot grow stays as it is. A stage does not
//!   attach an OpenTelemetry `Context`: code that reads
//!   `opentelemetry::Context::current()` directly inside a stage sees the
//!   context around it; [`context::current`] and
//!   [`propagation::inject`] see the stage.
//! * `tracing` spans (yours and those of libraries such as reqwest-tracing,
//!   tower-http or the AWS SDK) are exported as OpenTelemetry spans with
//!   their parents; they nest under stages and stages under them. Integer
//!   fields of any width are ints (`server.port = 5432u16`); a `u64`, `u128`
//!   or `i128` outside the `i64` range is its decimal string. The
//!   `integrations` (cargo features, off by default) instrument
//!   tokio-postgres, sqlx, reqwest, rdkafka, the AWS SDK and the `log` crate
//!   by the semantic conventions.
//! * `tracing` events become OTLP log records carrying the trace and span id
//!   of the span they happen in and the event's time; fields become
//!   attributes. A record has an event name only when the event is named
//!   (`tracing::info!(name: "order.rejected", ..)`), not the call-site name
//!   `tracing` gives the others.
//! * Metrics: the stage metrics of `#[stage]` (`pipeline.stage.duration`,
//!   `pipeline.records`, `pipeline.stage.failures`, `pipeline.stage.active`;
//!   `pipeline.bytes` with `bytes_in = ..`/`bytes_out = ..`) and what a
//!   stage's body records through [`stage::current()`] (records and bytes
//!   chunk by chunk, `pipeline.retries`, `pipeline.dead_letters`, the lag
//!   gauges of [`lag`]) carry the stage's labels. Your registry's own
//!   metrics, as typed instruments ([`instrument`]), carry them too when
//!   recorded inside a stage, with the name, unit and instrument of the
//!   registry. All are recorded once [`init`] has installed the meter
//!   provider; before that, and with `OTEL_SDK_DISABLED=true`, a stage call
//!   costs a few nanoseconds and recording does nothing. [`meter`] gives a
//!   plain OpenTelemetry meter, whose instruments carry only the attributes
//!   given to them.
//!   Their data points carry exemplars (the trace and span id, value and
//!   time of sampled calls) over OTLP (every protocol) and to
//!   Prometheus. Metrics go over OTLP, to the console, or are served for
//!   Prometheus to scrape (`OTEL_METRICS_EXPORTER=prometheus`), with names
//!   as Prometheus and Mimir give OTLP metrics (`pipeline_stage_duration_seconds`,
//!   `pipeline_records_total`, `target_info`). Where metrics leave the
//!   process, semtel's own counts go with them under the `otel.sdk.*`
//!   names of the semantic conventions (spans and logs processed, dropped,
//!   queued, exported and failed; metric points exported and failed), and
//!   a metric that reaches its cardinality limit is said once on standard
//!   error.
//! * Across processes: [`propagation`] injects and extracts W3C trace context
//!   through HTTP headers or Kafka-style header lists.
//! * Across tasks and threads: [`context`] carries the current trace into
//!   spawned futures, threads and pool jobs (below).
//! * Baggage: [`baggage`] sets and reads it without the `opentelemetry`
//!   crate; it crosses processes with [`propagation`] and, for the keys
//!   listed in `SEMTEL_BAGGAGE_ATTRIBUTES`, becomes attributes of stage
//!   spans, `tracing` spans and log records.
//! * Runs: [`Run`] starts a pipeline run, a root span `run {pipeline}`
//!   whose id (`pipeline.run.id`) every stage span, `tracing` span and log
//!   record inside carries, never a metric label; it ends with the run's
//!   outcome.
//! * Tests: the `testing` feature adds `semtel::testing`, an in-memory
//!   capture of what stages and `tracing` emit, as it would be exported,
//!   with lookups to assert on, and a live check of it against the
//!   official, `pipeline.` and your own registries.
//! * With a `tracing` subscriber of your own: [`layer`] (or
//!   [`Builder::build_layer`]) gives semtel as a layer to add next to yours
//!   instead of [`init`]'s subscriber:
//!   `tracing_subscriber::registry().with(fmt::layer().json()).with(semtel_layer).init()`.
//!   `RUST_LOG` then filters only what semtel exports (a per-layer filter);
//!   your layers see what their own filters let through.
//!
//! ## Async and threads
//!
//! What is current (a stage, a `tracing` span, an attached context) is
//! current on one thread. A future given to `tokio::spawn`, a closure given
//! to `spawn_blocking`, `std::thread::spawn` or a pool starts with nothing
//! current: without an adapter, its stages, `tracing` spans and log records
//! start a new trace. With one, they continue the trace it carries:
//!
//! * a future: `.in_current_context()` or `.with_context(cx)`
//!   ([`WithContext`]);
//! * a closure: [`context::wrap`]`(f)` or [`context::wrap_with`]`(cx, f)`;
//!   inside a closure called many times (`par_iter().for_each(..)`),
//!   [`context::in_scope`]`(&cx, || ..)`;
//! * a stage: `#[stage(parent = cx)]` takes its parent from an expression.
//!
//! [`Context`] is `Send + Sync + Clone`; [`context::current`] gives the
//! current one (the innermost stage's inside a stage), and
//! [`propagation::extract`] one from a message. Stages find the session of
//! [`init`] from any thread; a scoped [`Session`] is found through its
//! `tracing` dispatcher, which a task or thread needs set too
//! (`tracing::instrument::WithSubscriber`, `tracing::dispatcher::set_default`).
//!
//! ```
//! use semtel::WithContext as _;
//!
//! #[semtel::stage(pipeline = "orders")]
//! async fn enrich(order: u64) -> u64 {
//!     tracing::info!(order, "enriched"); // a log record in `enrich`'s span
//!     order + 1
//! }
//!
//! #[semtel::stage(pipeline = "orders")]
//! fn checksum(chunk: &[u8]) -> u32 {
//!     chunk.iter().map(|&b| u32::from(b)).sum()
//! }
//!
//! #[semtel::stage(pipeline = "orders")]
//! async fn process(orders: Vec<u64>, chunks: Vec<Vec<u8>>) -> (u64, u32) {
//!     // tokio::spawn: each `enrich` is a child of this `process` call.
//!     let mut tasks = tokio::task::JoinSet::new();
//!     for order in orders {
//!         tasks.spawn(enrich(order).in_current_context());
//!     }
//!     let enriched = tasks.join_all().await.into_iter().sum();
//!
//!     // spawn_blocking: the closure runs with this call's context.
//!     let first = chunks.first().cloned().unwrap_or_default();
//!     let blocking = tokio::task::spawn_blocking(semtel::context::wrap(move || checksum(&first)));
//!     let mut sum = blocking.await.unwrap();
//!
//!     // A pool: `rayon::spawn`, `threadpool`'s `execute` and plain threads
//!     // take `wrap(job)`; in a closure a pool calls many times (rayon's
//!     // `par_iter().map(..)`) enter the context taken once outside.
//!     let cx = semtel::context::current();
//!     sum += std::thread::scope(|s| {
//!         let jobs: Vec<_> = chunks
//!             .iter()
//!             .map(|chunk| s.spawn(|| semtel::context::in_scope(&cx, || checksum(chunk))))
//!             .collect();
//!         jobs.into_iter().map(|j| j.join().unwrap()).sum::<u32>()
//!     });
//!     (enriched, sum)
//! }
//! # #[tokio::main] async fn main() {
//! #     assert_eq!(process(vec![1, 2], vec![vec![1, 2], vec![3]]).await, (5, 9));
//! # }
//! ```
//!
//! A Kafka-style consumer continues each producer's trace: the extracted
//! context goes into the spawned task, as the stage's parent or with the
//! future (an attached context's guard is not `Send`, so it cannot be held
//! across an `.await` in a task).
//!
//! ```
//! use semtel::WithContext as _;
//!
//! struct Message {
//!     headers: Vec<(String, Vec<u8>)>,
//!     payload: Vec<u8>,
//! }
//!
//! #[semtel::stage(
//!     pipeline = "orders",
//!     span_kind = consumer,
//!     parent = semtel::propagation::extract(&message.headers),
//! )]
//! async fn handle(message: Message) -> usize {
//!     message.payload.len()
//! }
//!
//! async fn consume(messages: Vec<Message>) -> usize {
//!     let mut tasks = tokio::task::JoinSet::new();
//!     for message in messages {
//!         if message.payload.is_empty() {
//!             // Code that is not a stage: carry the context with the future;
//!             // `tracing` spans and log records inside continue the trace.
//!             let cx = semtel::propagation::extract(&message.headers);
//!             tasks.spawn(async { tracing::warn!("empty message"); 0 }.with_context(cx));
//!         } else {
//!             tasks.spawn(handle(message));
//!         }
//!     }
//!     tasks.join_all().await.into_iter().sum()
//! }
//! # #[tokio::main] async fn main() {
//! #     let message = |payload: &[u8]| Message { headers: Vec::new(), payload: payload.to_vec() };
//! #     assert_eq!(consume(vec![message(b"abc"), message(b"")]).await, 3);
//! # }
//! ```
//!
//! ## Configuration
//!
//! Every OpenTelemetry SDK variable semtel supports is read by [`init`] and
//! validated up front; a bad value is an [`Error`] naming the variable, the
//! value and the accepted values (all bad values at once). Settings made with
//! [`Builder`] take precedence over the environment and are checked alike. An
//! empty value counts as unset; a value that is not UTF-8 is an error.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true` turns all telemetry off | `false` |
//! | `OTEL_SERVICE_NAME` | `service.name` | `unknown_service:<exe>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k2=v2`, percent-encoded values | |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT` | collector URL; setting it selects OTLP. For gRPC also `host:port` (see `INSECURE`). Credentials in the URL (`https://user:password@host`) are sent as an `Authorization: Basic` header (unless one is set) and removed from the URL | console |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]INSECURE` | `true`: a gRPC endpoint given as `host:port` is plain text (`http://`), `false`: TLS (`https://`); a scheme written wins; HTTP endpoints always give theirs | `false` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` | `grpc`, `http/protobuf`, `http/json` | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS` | `k=v` pairs, e.g. `Authorization=Basic%20…`, each an HTTP header | |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` | milliseconds per export, 0 to 2147483647; `0`: no limit | `10000` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION` | `gzip`, `none` (traces over HTTP are gzipped at level 1: about 7 % larger than at the default level 6, in a quarter of the CPU) | `none` |
//! | `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` | `otlp`, `console`, `none` (comma list); for metrics also `prometheus` | see above |
//! | `OTEL_EXPORTER_PROMETHEUS_HOST` | address the `prometheus` metrics exporter listens on for scrapes of `/metrics` (OpenMetrics with exemplars, or the classic text format, by `Accept`); one it cannot listen on is [`Error::PrometheusBind`] | `localhost` |
//! | `OTEL_EXPORTER_PROMETHEUS_PORT` | its port, 0 to 65535 (`0`: any free port, see [`Session::prometheus_addr`]); in code, both with [`Builder::prometheus_addr`] | `9464` |
//! | `OTEL_METRICS_EXEMPLAR_FILTER` | which stage calls give the stage metrics exemplars: `trace_based` (calls whose span is sampled and exported), `always_on`, `always_off`; in code [`Builder::exemplar_filter`] | `trace_based` |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | the ratio of the `traceidratio` samplers, 0.0 to 1.0; ignored for the others and when `OTEL_TRACES_SAMPLER` is unset | `1.0` |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `none` | `tracecontext,baggage` |
//! | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BLRP_SCHEDULE_DELAY` | milliseconds between span (log) exports, 0 to 2147483647; `0`: each record is exported as soon as it is queued | `5000`, `1000` |
//! | `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BLRP_EXPORT_TIMEOUT` | milliseconds one span (log) export may take, 0 to 2147483647; `0`: no limit | `30000` |
//! | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE` | spans (log records) held at most, 1 to 1048576 | `2048` |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` | items per export, 1 to 1048576 and at most the queue size (unset, it follows a smaller queue size) | `512` |
//! | `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` | longest string attribute value of a span, in characters (cut on a character boundary), 0 to 2147483647 | no limit |
//! | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, else `OTEL_ATTRIBUTE_COUNT_LIMIT` | attributes per span, 0 to 65536 | `128` |
//! | `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT` | events, links per span, 0 to 65536 | `128` |
//! | `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, each else `OTEL_ATTRIBUTE_COUNT_LIMIT` | attributes per span event, per span link, 0 to 65536 (what an event or link loses is its `dropped_attributes_count`) | `128` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between metric exports, 1 to 2147483647 | `60000` |
//! | `OTEL_METRIC_EXPORT_TIMEOUT` | milliseconds one metric export may take, 0 to 2147483647; `0`: no limit | `30000` |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta`, `lowmemory` | `cumulative` |
//! | `RUST_LOG` | which `tracing` spans and events are exported (not `#[stage]` spans) | `info` |
//! | `SEMTEL_BAGGAGE_ATTRIBUTES` | baggage keys (comma list) whose entries become attributes of stage spans, `tracing` spans and log records; never all keys, as baggage may carry secrets | none |
//!
//! `[SIGNAL_]` is empty or one of `TRACES_`, `METRICS_`, `LOGS_`; a
//! signal-specific endpoint is used as the full URL, the generic one gets
//! `/v1/<signal>` appended for HTTP.
//!
//! Bounds: durations are whole milliseconds up to 2³¹ − 1 (24.8 days), the
//! range the specification asks SDKs to support; a timeout of `0` means no
//! limit, as the specification says, and is read as that longest duration.
//! Queue and batch sizes go up to 1,048,576: each thread that runs stages
//! holds a ring of a queue's worth of 64-byte records (64 MiB at the
//! bound).
//!
//! Secrets: header values and the credentials of an endpoint URL appear in
//! no `Debug` (of the [`Builder`], [`Config`], [`Session`] or [`Guard`]),
//! no error, no [`ShutdownReport`] and no console output; headers are named,
//! their values shown as `[redacted]`.
//!
//! ## Faults
//!
//! A collector that is down, dies or is slow never blocks the pipeline:
//! telemetry waits in bounded queues, what does not fit is dropped and
//! counted, every export has a timeout, and shutdown is bounded. The
//! [`ShutdownReport`] says what was lost and where it was going; the
//! [`Guard`] prints it when anything was lost. Per signal, what it calls
//! exported plus what it calls lost (dropped, failed, unsent) is what was
//! emitted.
//!
//! Spans are sent as the OTLP specification asks: answers that say "try
//! again" (HTTP 429, 502, 503, 504, gRPC UNAVAILABLE and the other
//! retryable codes), connection errors and timeouts are retried with
//! exponential backoff and jitter, after the delay the collector asks for
//! (`Retry-After`, gRPC `RetryInfo`) if it fits in
//! `OTEL_EXPORTER_OTLP_TIMEOUT`; permanent refusals (400 and the like) are
//! not. Spans a collector rejects in a partial success count as lost. A
//! batch the collector finds too large (HTTP 413, RESOURCE_EXHAUSTED
//! without `RetryInfo`) is sent again in halves, and only a span too large
//! on its own is lost; `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` keeps such
//! spans, their values cut. Metrics go through the same transport; a
//! partial success fails that export (counted, with the collector's
//! message). Logs are sent by opentelemetry-otlp, which retries the same
//! answers but reports a partial success only in an internal warning and
//! returns success: log records a collector rejects that way count as
//! exported.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod baggage;
mod builder;
mod config;
mod console;
pub mod context;
mod engine;
mod error;
mod export;
mod filter;
pub mod instrument;
#[cfg(feature = "integrations")]
pub mod integrations;
pub mod lag;
mod metric;
mod otlp;
mod pipeline;
pub mod propagation;
mod record;
mod resource;
pub mod run;
mod session;
pub mod stage;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use builder::{Builder, builder, init, layer};
pub use config::{
    BatchConfig, Compression, Config, ConfigError, ExemplarFilter, ExporterKind, OtlpConfig,
    ParentBasedRoot, PrometheusConfig, Propagator, Protocol, SamplerConfig, Signal, SignalConfig,
    SpanLimits, Temporality,
};
pub use context::{Context, WithContext};
pub use error::Error;
pub use export::{ShutdownReport, SignalReport};
pub use resource::SCHEMA_URL;
pub use run::Run;
pub use semtel_macros::{Telemetry, stage};
pub use session::{DEFAULT_SHUTDOWN_TIMEOUT, Guard, Session, meter};
pub use stage::StageKind;
pub use telemetry::{Attributes, ErrorType, REDACTED, Telemetry, TelemetryValue, redact_hash};

/// The semantic conventions semtel emits: constants, enums and metric
/// descriptors generated from the official registry and semtel's `pipeline.`
/// registry.
pub use semtel_conventions as conventions;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
