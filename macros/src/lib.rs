//! Procedural macros for [semtel](https://docs.rs/semtel).
//!
//! Users depend on `semtel`, which re-exports these macros; expansions call the
//! runtime only through `::semtel::__private`. The macros themselves arrive with
//! the macros issue; this crate is an empty shell until then.
#![warn(missing_docs)]
