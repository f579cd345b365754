//! Not public API: the one surface `semtel-macros` expansions call
//! (`::semtel::__private::…`), as `log`'s `__private_api`. Keep every name
//! here stable for the macros; logic lives in ordinary runtime functions.

pub use ::opentelemetry;
pub use ::tracing;

pub use crate::engine::Instrumented;
pub use crate::stage::{
    AsErrorType, AsTypeName, CatchPanic, ErrorTypeOf, RecordCount, StageGuard, StageKind,
    StageSite, StaticValue, active, any_value, double_value, int_value, link_contexts, record_on,
    run, set_key,
};
pub use crate::telemetry::{Attributes, ErrorType, Telemetry, TelemetryValue};
pub use semtel_conventions::model::{AttributeKey, StringEnum};
pub use semtel_conventions::value::ValueFor;
