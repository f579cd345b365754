//! Unsigned and 128-bit integer fields of `tracing` spans as integers.
//!
//! tracing-opentelemetry records a span field of a type it has no method
//! for (`u64`, and so `u16`, `u32`, `usize`; `i128`, `u128`) through its
//! `Debug` form, as a string: `info_span!("x", server.port = 5432u16)`
//! arrived as `"5432"`, where the conventions (and a stage field) have an
//! int. The layer hands it the span's values with such integers as `i64`
//! when they fit; one that does not (a `u64` above `i64::MAX`) stays the
//! decimal string it was. Spans without such a field are passed on as they
//! are, after one pass over their fields.

use tracing::field::{Field, Value, Visit};
use tracing::span::{Attributes, Record};

/// Whether a span's values hold an integer tracing-opentelemetry would turn
/// into a string.
#[derive(Default)]
struct Finds(bool);

impl Visit for Finds {
    fn record_u64(&mut self, _: &Field, value: u64) {
        self.0 |= i64::try_from(value).is_ok();
    }

    fn record_i128(&mut self, _: &Field, value: i128) {
        self.0 |= i64::try_from(value).is_ok();
    }

    fn record_u128(&mut self, _: &Field, value: u128) {
        self.0 |= i64::try_from(value).is_ok();
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// A field's value, owned.
enum Owned {
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    /// A value recorded through `Debug` (or an error, through `Display`),
    /// passed on as that text through `Debug` again.
    Text(tracing::field::DisplayValue<String>),
}

impl Owned {
    fn as_value(&self) -> &dyn Value {
        match self {
            Owned::I64(v) => v,
            Owned::F64(v) => v,
            Owned::Bool(v) => v,
            Owned::Str(v) => v,
            Owned::Text(v) => v,
        }
    }
}

/// The fields recorded, with their values.
#[derive(Default)]
struct Collect(Vec<(Field, Owned)>);

impl Collect {
    fn set(&mut self, field: &Field, value: Owned) {
        self.0.push((field.clone(), value));
    }

    fn int(&mut self, field: &Field, value: Option<i64>, text: impl std::fmt::Display) {
        let value = value.map_or_else(
            || Owned::Text(tracing::field::display(text.to_string())),
            Owned::I64,
        );
        self.set(field, value);
    }
}

impl Visit for Collect {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Owned::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Owned::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.int(field, i64::try_from(value).ok(), value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.int(field, i64::try_from(value).ok(), value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.int(field, i64::try_from(value).ok(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Owned::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Owned::Str(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(
            field,
            Owned::Text(tracing::field::display(value.to_string())),
        );
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(
            field,
            Owned::Text(tracing::field::display(format!("{value:?}"))),
        );
    }
}

/// The most fields a rebuilt value set holds (`tracing` builds value sets
/// from arrays); a span recording more is passed on as it is.
const MAX_FIELDS: usize = 32;

/// The values `visit` records, owned, when one is an integer to widen and
/// they fit a rebuilt value set; `None` (pass on as is) otherwise.
fn collect(visit: impl Fn(&mut dyn Visit)) -> Option<Collect> {
    let mut finds = Finds::default();
    visit(&mut finds);
    if !finds.0 {
        return None;
    }
    let mut owned = Collect::default();
    visit(&mut owned);
    (owned.0.len() <= MAX_FIELDS).then_some(owned)
}

/// Calls `f` with the value set of `owned`'s fields, of `meta`'s field set.
fn with_values(
    meta: &'static tracing::Metadata<'static>,
    owned: &Collect,
    f: impl FnOnce(&tracing::field::ValueSet<'_>),
) {
    let Some((pad, _)) = owned.0.first() else {
        return;
    };
    // Slots past the recorded fields hold no value, which is skipped.
    let pairs: [(&Field, Option<&dyn Value>); MAX_FIELDS] =
        std::array::from_fn(|i| match owned.0.get(i) {
            Some((field, value)) => (field, Some(value.as_value())),
            None => (pad, None),
        });
    f(&meta.fields().value_set(&pairs));
}

/// Calls `f` with `attrs`, its integers widened when it has any.
pub(super) fn new_span(attrs: &Attributes<'_>, f: impl FnOnce(&Attributes<'_>)) {
    let Some(owned) = collect(|v| attrs.record(v)) else {
        return f(attrs);
    };
    let meta = attrs.metadata();
    with_values(meta, &owned, |values| {
        let widened = if attrs.is_root() {
            Attributes::new_root(meta, values)
        } else if let Some(parent) = attrs.parent() {
            Attributes::child_of(parent.clone(), meta, values)
        } else {
            Attributes::new(meta, values)
        };
        f(&widened);
    });
}

/// Calls `f` with `values` (of a span with metadata `meta`), its integers
/// widened when it has any.
pub(super) fn record(
    meta: &'static tracing::Metadata<'static>,
    values: &Record<'_>,
    f: impl FnOnce(&Record<'_>),
) {
    let Some(owned) = collect(|v| values.record(v)) else {
        return f(values);
    };
    with_values(meta, &owned, |set| f(&Record::new(set)));
}
