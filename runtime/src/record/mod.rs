//! What a stage span is once recorded, as every layer below the stage sees
//! it: the 64-byte [`SpanRecord`], the facts of its call site
//! ([`SpanSite`]) and the clock its times are ticks of ([`clock`]). The
//! engine fills records, the export queues carry them, and the encoder and
//! the SDK exporters read them, so they live below all of those.

pub(crate) mod clock;
mod site;
mod span;

pub(crate) use site::{MoreCells, SiteCells, SpanSite};
pub use site::{StageKind, StaticValue};
pub(crate) use span::{Extra, Item, RunTally, SpanRecord, stage_scope, unique_attributes};
