//! The per-call work of a `#[stage]` function: its span in semtel's span
//! engine (`crate::engine`), the stage metrics of the `pipeline.`
//! conventions and the error recording on its span.
//!
//! Expansions reach this only through [`crate::__private`]; the surface is
//! kept narrow (a static [`StageSite`] per call site, a [`StageGuard`] per
//! call) so the engine behind it can change without touching the macros.

mod args;
mod guard;
mod metrics;
mod panic;
mod site;

pub use crate::engine::active;
pub use crate::record::{StageKind, StaticValue};
pub use args::{
    AsErrorType, AsTypeName, ErrorTypeOf, RecordCount, any_value, double_value, int_value,
};
pub use guard::{StageGuard, link_contexts, record_on, run, set_key};
pub(crate) use metrics::{meter_provider_changed, meter_provider_removed};
pub use panic::CatchPanic;
pub use site::StageSite;
