//! The stage metrics beyond what the OpenTelemetry SDK aggregates: their
//! exemplars ([`exemplar`]), the Prometheus exposition of any collection
//! ([`text`], served by [`prometheus`]), and the warning for a metric at
//! its cardinality limit ([`overflow`]). The SDK keeps
//! aggregating every value, so views and readers work as they do
//! anywhere; semtel adds exemplars to its data points where they leave the
//! process.

pub(crate) mod exemplar;
pub(crate) mod overflow;
pub(crate) mod prometheus;
#[cfg(any(test, feature = "testing"))]
pub(crate) mod shared_reader;
pub(crate) mod text;

pub(crate) use exemplar::{Exemplar, SiteExemplars, admits};
