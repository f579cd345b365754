//! The orders pipeline's own conventions, generated at build time from
//! `registry/orders.yaml` (see `build.rs`): attribute keys that know their
//! value type, so a typo in a name is a compile error.
#![allow(missing_docs)] // the generated items carry the registry's briefs

include!(concat!(env!("OUT_DIR"), "/conventions.rs"));
