//! Rules across arguments and the checks of attribute names against the
//! conventions tables. No code generation: the results are plain data (the
//! plans) that `expand` turns into tokens.
//!
//! - `name`: an attribute name and a literal value against the registry;
//! - `stage`: the arguments of `#[stage]` against each other and the function;
//! - `derive`: the options of `#[derive(Telemetry)]`.

mod derive;
mod name;
mod stage;

pub use derive::{DerivePlan, FieldPlan, check_derive};
pub use name::{Deprecated, Key, a_type, a_value_of};
pub use stage::{StagePlan, check_stage};
