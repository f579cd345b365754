//! Every argument name of `#[stage(...)]` and `#[telemetry(...)]`, written
//! once: the parsers match on these, the "unknown argument" and "duplicate
//! argument" errors list them, and messages that name an argument use them.

use std::fmt;

use syn::Ident;

/// An argument name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol(&'static str);

impl Symbol {
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl PartialEq<Symbol> for Ident {
    fn eq(&self, symbol: &Symbol) -> bool {
        self == symbol.0
    }
}

impl PartialEq<Symbol> for &Ident {
    fn eq(&self, symbol: &Symbol) -> bool {
        *self == symbol.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The helper attribute of the derive: `#[telemetry(...)]`.
pub const TELEMETRY: Symbol = Symbol("telemetry");

// `#[stage(...)]`.
pub const NAME: Symbol = Symbol("name");
pub const PIPELINE: Symbol = Symbol("pipeline");
pub const KIND: Symbol = Symbol("kind");
pub const SPAN_KIND: Symbol = Symbol("span_kind");
pub const FIELDS: Symbol = Symbol("fields");
pub const RECORD: Symbol = Symbol("record");
pub const RECORDS_IN: Symbol = Symbol("records_in");
pub const RECORDS_OUT: Symbol = Symbol("records_out");
pub const BYTES_IN: Symbol = Symbol("bytes_in");
pub const BYTES_OUT: Symbol = Symbol("bytes_out");
pub const LINKS: Symbol = Symbol("links");
pub const PARENT: Symbol = Symbol("parent");
pub const RESULT: Symbol = Symbol("result");
pub const CRATE: Symbol = Symbol("crate");
/// `unchecked("acme.x") = ..` in `fields(...)`, and `#[telemetry(unchecked = "..")]`.
pub const UNCHECKED: Symbol = Symbol("unchecked");

// `#[telemetry(...)]` on a field (with `name` and `unchecked`).
pub const KEY: Symbol = Symbol("key");
pub const SKIP: Symbol = Symbol("skip");
pub const REDACT: Symbol = Symbol("redact");
pub const FLATTEN: Symbol = Symbol("flatten");

// `#[telemetry(...)]` on a struct or enum (with `crate`).
pub const PREFIX: Symbol = Symbol("prefix");

// `#[telemetry(...)]` on an enum variant.
pub const RENAME: Symbol = Symbol("rename");
pub const ERROR_TYPE: Symbol = Symbol("error_type");

/// The arguments of `#[stage]`.
pub const STAGE_ARGS: &[Symbol] = &[
    NAME,
    PIPELINE,
    KIND,
    SPAN_KIND,
    FIELDS,
    RECORD,
    RECORDS_IN,
    RECORDS_OUT,
    BYTES_IN,
    BYTES_OUT,
    LINKS,
    PARENT,
    RESULT,
    CRATE,
];
/// The arguments of `#[telemetry]` on a field.
pub const FIELD_ARGS: &[Symbol] = &[NAME, KEY, UNCHECKED, SKIP, REDACT, FLATTEN];
/// The arguments of `#[telemetry]` on a struct or enum.
pub const CONTAINER_ARGS: &[Symbol] = &[PREFIX, CRATE];
/// The arguments of `#[telemetry]` on an enum variant.
pub const VARIANT_ARGS: &[Symbol] = &[RENAME, ERROR_TYPE];

// Values of `kind = ..` and `span_kind = ..`.
pub const STAGE_KINDS: &[Symbol] = &[Symbol("source"), Symbol("transform"), Symbol("sink")];
pub const SPAN_KINDS: &[Symbol] = &[
    Symbol("internal"),
    Symbol("client"),
    Symbol("server"),
    Symbol("producer"),
    Symbol("consumer"),
];
// Values of `redact = ".."`.
pub const REDACT_HASH: Symbol = Symbol("hash");
pub const REDACT_MARKER: Symbol = Symbol("marker");
