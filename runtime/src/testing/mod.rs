//! Testing your instrumentation (the `testing` cargo feature): a
//! [`Capture`] of the spans, metrics and log records your stages and
//! `tracing` emit, lookups to assert on them, and a [`LiveCheck`] of all of
//! it against the semantic conventions: the official registry, semtel's
//! `pipeline.` registry and your own.
//!
//! Add semtel with the feature as a dev-dependency
//! (`semtel = { version = "…", features = ["testing"] }` under
//! `[dev-dependencies]`), then, in a file under `tests/`:
//!
//! ```
//! use semtel::testing::Capture;
//!
//! #[semtel::stage(
//!     pipeline = "orders",
//!     kind = sink,
//!     span_kind = client,
//!     fields(db.system.name = "postgresql", db.collection.name = "orders"),
//!     records_out = *ret,
//! )]
//! fn load(rows: &[u64]) -> usize {
//!     tracing::info!(rows = rows.len(), "loading");
//!     rows.len()
//! }
//!
//! # /* the doctest calls it from `main`
//! #[test]
//! # */
//! fn load_is_instrumented() {
//!     let capture = Capture::start();
//!     load(&[1, 2, 3]);
//!     let snap = capture.snapshot(); // flushes
//!
//!     let span = snap.span("load");
//!     assert_eq!(span.kind(), "client");
//!     assert_eq!(span.attr("db.system.name"), Some("postgresql".into()));
//!     let log = &span.logs()[0];
//!     assert_eq!(log.body(), "loading");
//!     assert_eq!(log.span_id(), Some(span.span_id()));
//!
//!     let labels = [("pipeline.stage.name", "load"), ("pipeline.io.direction", "out")];
//!     assert_eq!(snap.metric("pipeline.records").point(&labels).value(), 3.0);
//!     let calls = snap.metric("pipeline.stage.duration");
//!     assert_eq!(calls.point(&[("pipeline.stage.name", "load")]).count(), 1);
//!
//!     // Names, types, units, instruments and required attributes, against
//!     // the official and `pipeline.` registries; add your own with
//!     // `.registry(&my_conventions::REGISTRY)`. `rows` is the log's own field.
//!     snap.live_check().ignore("rows").assert_clean();
//! }
//! # fn main() { load_is_instrumented() }
//! ```
//!
//! ## What a capture sees
//!
//! [`Capture::start`] builds a session whose exporters are memory, and
//! makes its `tracing` dispatcher this thread's default until the capture
//! is dropped. What it keeps is what would be exported: spans encoded by
//! semtel's OTLP encoder, log records converted as the OTLP log exporter
//! converts them, metrics as the OTLP metric exporter sends them, with
//! exemplars. [`Capture::snapshot`] flushes and decodes them into a
//! [`Snapshot`] of OTLP requests; [`Snapshot::from_otlp`] makes one from
//! requests your own OTLP receiver decoded.
//!
//! - Spans and log records: those of the thread that started the capture,
//!   and of threads and tasks given its dispatcher ([`Capture::dispatch`]
//!   with `tracing::dispatcher::with_default`, or a future's
//!   `.with_subscriber(capture.dispatch().clone())`). An async test on a
//!   current-thread runtime (`#[tokio::test]`'s default) sees everything
//!   its tasks emit; on a multi-thread runtime, give spawned tasks the
//!   dispatcher. Tests running in parallel in one binary each see their own.
//! - Metrics: stage metrics and [`crate::meter`]'s come from the global
//!   meter provider, which the first capture of a process installs and
//!   every capture reads. A snapshot holds what changed since its capture
//!   started (counts and histograms less what they were then, gauges set
//!   to a new value), and of the stage metrics only those of the stages
//!   whose spans it captured (by `pipeline.name` and
//!   `pipeline.stage.name`). Tests running at the same time that run the
//!   same stage count into each other's series, as do those recording the
//!   same metric of their own; give such tests stages or metrics of their
//!   own, or run them one at a time.
//! - A capture cannot run beside [`crate::init`] or
//!   [`crate::Builder::build_layer`] in the same process, which install
//!   global telemetry of their own.
//!
//! ## Lookups
//!
//! [`Snapshot::span`], [`Snapshot::metric`] and [`Metric::point`] panic,
//! saying what there is, when nothing matches; `find_span`, `find_metric`
//! and `find_point` return an `Option`. Attribute values are
//! [`Value`]s, so `Some("postgresql".into())`, `Some(3.into())` and
//! `Some(true.into())` compare with them. Ids are lower-case hex.

mod capture;
mod live_check;
mod snapshot;
mod value;

pub use capture::Capture;
pub use live_check::{Finding, LiveCheck, LiveReport};
pub use snapshot::{Event, Link, Log, Metric, Point, Snapshot, Span};

/// An attribute value, as OpenTelemetry's API gives it.
pub use opentelemetry::Value;
/// The OTLP protobuf types a [`Snapshot`] holds.
pub use opentelemetry_proto::tonic as proto;
