//! What expansions hand a call: attribute values, record counts, error
//! types, and the helpers that put them on the call's span.

use std::borrow::Cow;

use opentelemetry::Value;
use semtel_conventions::value::ValueFor;

use crate::telemetry::ErrorType;

/// An `int` attribute's value, converted by the same [`ValueFor`] rules as
/// registry keys; `None` leaves the attribute unset.
pub fn int_value<V: ValueFor<i64> + ?Sized>(value: &V) -> Option<Value> {
    match value.attribute_value() {
        Some(semtel_conventions::value::Value::Int(i)) => Some(Value::I64(i)),
        _ => None,
    }
}

/// A `double` attribute's value (integers widen).
pub fn double_value<V: ValueFor<f64> + ?Sized>(value: &V) -> Option<Value> {
    match value.attribute_value() {
        Some(semtel_conventions::value::Value::Double(d)) => Some(Value::F64(d)),
        _ => None,
    }
}

/// The value of a `fields(...)` entry of any other type.
pub fn any_value<V: crate::telemetry::TelemetryValue + ?Sized>(value: &V) -> Option<Value> {
    value.telemetry_value()
}

/// Counts that a `records` expression can give.
pub trait RecordCount {
    /// As a count.
    fn as_count(&self) -> u64;
}

macro_rules! record_counts {
    ($($t:ty),*) => {$(
        impl RecordCount for $t {
            fn as_count(&self) -> u64 {
                u64::try_from(*self).unwrap_or(0)
            }
        }
    )*};
}
record_counts!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// The `error.type` of an error, chosen at compile time: its [`ErrorType`]
/// when it has one, its type name otherwise. Expansions call
/// `(&ErrorTypeOf(&err)).as_error_type()` with both traits in scope; method
/// resolution prefers [`AsErrorType`] (no autoref needed) and falls back to
/// [`AsTypeName`].
#[derive(Debug)]
pub struct ErrorTypeOf<'a, E: ?Sized>(pub &'a E);

/// The `error.type` of an error with [`ErrorType`].
pub trait AsErrorType {
    /// The error's `error.type`.
    fn as_error_type(&self) -> Cow<'static, str>;
}

impl<E: ErrorType + ?Sized> AsErrorType for ErrorTypeOf<'_, E> {
    fn as_error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.0.error_type())
    }
}

/// The fallback for errors without [`ErrorType`]: the type name.
pub trait AsTypeName {
    /// The error's type name.
    fn as_error_type(&self) -> Cow<'static, str>;
}

impl<E: ?Sized> AsTypeName for &ErrorTypeOf<'_, E> {
    fn as_error_type(&self) -> Cow<'static, str> {
        public_type_name(std::any::type_name::<E>())
    }
}

/// A type name as users write it: the standard library's types by the path
/// `std` exports them at (`std::io::Error`, `std::num::ParseIntError`), not
/// the private module `type_name` gives (`std::io::error::Error`,
/// `core::num::error::ParseIntError`). Other names, and generic ones, are
/// left as they are.
pub(crate) fn public_type_name(name: &'static str) -> Cow<'static, str> {
    let Some(rest) = ["std::", "core::", "alloc::"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
    else {
        return Cow::Borrowed(name);
    };
    if rest.contains('<') || !rest.contains("::") {
        return Cow::Borrowed(name);
    }
    let mut parts = rest.split("::");
    let (Some(module), Some(last)) = (parts.next(), rest.rsplit("::").next()) else {
        return Cow::Borrowed(name);
    };
    let public = format!("std::{module}::{last}");
    if public == name {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(public)
    }
}

#[cfg(test)]
mod tests {
    use super::public_type_name;

    #[test]
    fn standard_types_are_named_by_their_public_path() {
        for (given, public) in [
            ("std::io::error::Error", "std::io::Error"),
            ("core::num::error::ParseIntError", "std::num::ParseIntError"),
            ("alloc::string::FromUtf8Error", "std::string::FromUtf8Error"),
            ("core::fmt::Error", "std::fmt::Error"),
            ("std::io::Error", "std::io::Error"),
            ("my_crate::db::Error", "my_crate::db::Error"),
            (
                "alloc::boxed::Box<dyn core::error::Error>",
                "alloc::boxed::Box<dyn core::error::Error>",
            ),
            ("core::Error", "core::Error"),
        ] {
            assert_eq!(public_type_name(given), public, "{given}");
        }
    }
}
