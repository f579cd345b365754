//! Semantic conventions for semtel: the registry reader, generated constants and
//! the tables the macros check names against.
#![warn(missing_docs)]
