//! Recording from inside a `#[stage]` call: [`current`] gives a
//! [`StageHandle`] to the stage running on this thread, to count records,
//! bytes, retries and dead letters as the body goes, set the lag of a
//! partition, add an attribute or an event to its span, or mark a failure
//! it handled.
//!
//! ```
//! use semtel::stage;
//!
//! #[stage(pipeline = "orders", kind = sink)]
//! fn load(rows: &[&str]) -> usize {
//!     let here = stage::current();
//!     for row in rows {
//!         here.bytes_out(row.len());
//!     }
//!     here.records_out(rows.len());
//!     rows.len()
//! }
//!
//! assert_eq!(load(&["a", "b"]), 2);
//! ```

// The per-call work of a `#[stage]` function: its span in semtel's span
// engine (`crate::engine`), the stage metrics of the `pipeline.`
// conventions and the error recording on its span. Expansions reach it only
// through `crate::__private`; the surface is kept narrow (a static
// `StageSite` per call site, a `StageGuard` per call) so the engine behind
// it can change without touching the macros.

mod args;
mod counters;
mod guard;
mod handle;
mod instrument;
mod metrics;
mod panic;
mod site;

#[doc(hidden)]
pub use crate::engine::active;
pub use crate::record::StageKind;
#[doc(hidden)]
pub use crate::record::StaticValue;
pub use args::RecordCount;
#[doc(hidden)]
pub use args::{AsErrorType, AsTypeName, ErrorTypeOf, any_value, double_value, int_value};
#[doc(hidden)]
pub use guard::{StageGuard, link_contexts, record_on, run, set_key};
pub use handle::{StageHandle, current};
pub(crate) use instrument::Cells;
#[doc(hidden)]
pub use instrument::Kind;
#[cfg(feature = "rdkafka")]
pub(crate) use metrics::BACKLOG_DESCRIPTION;
pub(crate) use metrics::{meter_provider_changed, meter_provider_removed};
#[doc(hidden)]
pub use panic::CatchPanic;
#[doc(hidden)]
pub use site::StageSite;
