//! Semantic conventions for semtel: every name semtel emits, the tables its
//! macros check names against, and a generator for your own conventions.
//!
//! The crate holds, generated from the registries and committed:
//!
//! - [`official`]: the OpenTelemetry semantic conventions
//!   v1.42.0 ([`SEMCONV_VERSION`]), the version `opentelemetry-semantic-conventions`
//!   0.33 follows. Its typed items are re-exported as [`attribute`](mod@attribute) and
//!   [`metric`](mod@metric).
//! - [`pipeline`]: semtel's data-pipeline conventions (`pipeline.*`).
//!
//! ```
//! use semtel_conventions::{attribute, metric, model::{Instrument, Stability}};
//!
//! // Typed items: keys that know their value type, enums, metric descriptors.
//! assert_eq!(attribute::ERROR_TYPE.name(), "error.type");
//! assert_eq!(attribute::ErrorType::Other.as_str(), "_OTHER");
//! assert_eq!(metric::HTTP_SERVER_REQUEST_DURATION.unit, "s");
//!
//! // Tables: every attribute and metric with type, stability, deprecation.
//! let def = semtel_conventions::attribute("db.system.name").unwrap();
//! assert_eq!(def.stability, Stability::Stable);
//! let m = semtel_conventions::metric("pipeline.stage.duration").unwrap();
//! assert_eq!(m.instrument, Instrument::Histogram);
//! assert_eq!(semtel_conventions::suggest_attribute("db.sytem.name"), Some("db.system.name"));
//! ```
//!
//! # Usage
//!
//! The lookup functions ([`attribute()`], [`metric()`], [`attributes`],
//! [`metrics`], [`suggest_attribute`], [`suggest_metric`]) search the official
//! and pipeline tables, sorted by name, by binary search. They are what
//! `semtel-macros` checks names against at compile time, so they need no
//! dependency and no feature.
//!
//! The tables hold every entry whatever the features, with its [`Stability`](model::Stability)
//! and [`Deprecation`](model::Deprecation): a macro can tell "this attribute is
//! experimental, enable feature `experimental`" or "deprecated, use `X`" from
//! them. The typed items follow the features.
//!
//! Prose (briefs and notes) of the official conventions stays in the
//! [official documentation](https://opentelemetry.io/docs/specs/semconv/registry/);
//! the pipeline registry and your own registries keep their briefs as doc comments.
//!
//! # Your own conventions
//!
//! With the `codegen` feature, `codegen::Builder` reads a registry in the
//! same Weaver YAML format from a build script and writes the same kind of
//! typed items and tables; the `semtel-conventions` binary does it from the
//! command line. See the `codegen` module, with an example for a build script.
//!
//! `codegen::Monitoring` (binary: `semtel-conventions monitoring`) generates
//! Prometheus alert rules, their `promtool` unit tests and Grafana dashboards
//! for semtel's pipeline metrics and a registry's own, with the metric names
//! of [`prometheus`], the way Prometheus and Mimir name OTLP metrics.
//!
//! # Feature flags
//!
//! - `experimental`: typed items (keys, enums and members, metric descriptors)
//!   whose stability is not `stable`, as `opentelemetry-semantic-conventions`'
//!   `semconv_experimental`.
//! - `codegen`: the registry reader and the generators of Rust, alert rules
//!   and dashboards (pulls `libyaml-safer`, a safe port of libyaml, and
//!   `serde_json`). Off by default so that proc-macro users do not build them.
#![warn(missing_docs)]

extern crate self as semtel_conventions;

mod descriptor;
pub mod model;
pub mod prometheus;
pub mod value;

#[cfg(feature = "codegen")]
pub mod codegen;

/// The version of the official semantic conventions the tables follow.
pub const SEMCONV_VERSION: &str = "1.42.0";

/// The schema URL of [`SEMCONV_VERSION`].
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.42.0";

/// The OpenTelemetry semantic conventions v1.42.0: typed items and tables.
///
/// Generated from the official registry; briefs are left out, read them in the
/// [attribute registry](https://opentelemetry.io/docs/specs/semconv/registry/attributes/)
/// and the [semantic conventions](https://opentelemetry.io/docs/specs/semconv/).
/// Items that are not stable need the `experimental` feature.
#[rustfmt::skip]
#[path = "generated/official.rs"]
pub mod official;

/// semtel's data-pipeline conventions: the `pipeline.*` namespace.
///
/// Attributes name the pipeline, run, stage, batch and partition; metrics count
/// records, bytes, failures, retries and dead letters and time stages. Metrics
/// reuse the official `error.type`, `db.*` and `messaging.*` attributes. The
/// registry is YAML under `conventions/registry/` in the source. Its items are
/// in development but are not behind the `experimental` feature: semtel itself
/// emits them.
#[rustfmt::skip]
#[path = "generated/pipeline.rs"]
pub mod pipeline;

pub use official::{attribute, metric};

mod lookup;
pub use lookup::{
    REGISTRIES, attribute, attribute_for_key, attributes, edit_distance, metric, metrics, suggest,
    suggest_attribute, suggest_metric,
};
