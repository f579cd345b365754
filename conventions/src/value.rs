//! Which Rust values fit an [`AttributeKey<T>`], and the attribute value they
//! give: `key.value(&x)` compiles only when `x` suits the key's type.
//!
//! This lives beside [`AttributeEnum`] so that generated enum keys
//! (`AttributeKey<DbSystemName>`) accept their enum and, as enums are open,
//! a plain string, without overlapping the `String` keys' rules.
//!
//! [`AttributeKey<T>`]: crate::model::AttributeKey

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::{AnyValue, AttributeEnum, AttributeKey, EnumValue, IntEnum, StringEnum};

/// An attribute value, free of any telemetry library's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `string`
    String(String),
    /// `int`
    Int(i64),
    /// `double`
    Double(f64),
    /// `boolean`
    Bool(bool),
    /// `string[]`
    StringArray(Vec<String>),
    /// `int[]`
    IntArray(Vec<i64>),
    /// `double[]`
    DoubleArray(Vec<f64>),
    /// `boolean[]`
    BoolArray(Vec<bool>),
}

/// Values that fit an attribute whose key is `AttributeKey<T>`.
///
/// Blanket impls carry `#[diagnostic::do_not_recommend]`, so that a value of
/// the wrong type is reported as not fitting the key's type (`` `&str` is not
/// a value of an attribute of type `i64` ``), not as a bound of one of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value of an attribute of type `{T}`",
    label = "the key's value type is `{T}`"
)]
pub trait ValueFor<T: ?Sized> {
    /// The attribute value, or `None` to leave the attribute out.
    fn attribute_value(&self) -> Option<Value>;
}

impl<T: ?Sized> AttributeKey<T> {
    /// The attribute value of `value` for this key; compiles only when the
    /// value's type fits the key's.
    pub fn value<V: ValueFor<T> + ?Sized>(self, value: &V) -> Option<Value> {
        value.attribute_value()
    }
}

#[diagnostic::do_not_recommend]
impl<T: ?Sized, V: ValueFor<T>> ValueFor<T> for Option<V> {
    fn attribute_value(&self) -> Option<Value> {
        self.as_ref().and_then(ValueFor::attribute_value)
    }
}

macro_rules! strings {
    ($marker:ty) => {
        impl ValueFor<$marker> for str {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String(self.to_owned()))
            }
        }
        impl ValueFor<$marker> for &str {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String((*self).to_owned()))
            }
        }
        impl ValueFor<$marker> for String {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String(self.clone()))
            }
        }
        impl ValueFor<$marker> for &String {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String((*self).clone()))
            }
        }
        impl ValueFor<$marker> for Cow<'_, str> {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String(self.to_string()))
            }
        }
        impl ValueFor<$marker> for Arc<str> {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String(self.to_string()))
            }
        }
        impl ValueFor<$marker> for char {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::String(self.to_string()))
            }
        }
    };
}
strings!(String);
strings!(AnyValue);

macro_rules! ints {
    ($marker:ty => $($t:ty),*) => {$(
        impl ValueFor<$marker> for $t {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::Int(i64::try_from(*self).unwrap_or(i64::MAX)))
            }
        }
        impl ValueFor<$marker> for &$t {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::Int(i64::try_from(**self).unwrap_or(i64::MAX)))
            }
        }
    )*};
}
ints!(i64 => i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);
ints!(AnyValue => i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

macro_rules! scalars {
    ($marker:ty => $($t:ty => $variant:ident),*) => {$(
        impl ValueFor<$marker> for $t {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::$variant((*self).into()))
            }
        }
        impl ValueFor<$marker> for &$t {
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::$variant((**self).into()))
            }
        }
    )*};
}
scalars!(f64 => f32 => Double, f64 => Double);

/// Integers fit `double` attributes too (widened; exact up to 2^53).
macro_rules! ints_as_double {
    ($($t:ty),*) => {$(
        impl ValueFor<f64> for $t {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)] // attribute values, not arithmetic
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::Double(*self as f64))
            }
        }
        impl ValueFor<f64> for &$t {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn attribute_value(&self) -> Option<Value> {
                Some(Value::Double(**self as f64))
            }
        }
    )*};
}
ints_as_double!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);
scalars!(bool => bool => Bool);
scalars!(AnyValue => f32 => Double, f64 => Double, bool => Bool);

macro_rules! arrays {
    ($marker:ty, $elem:ty, $variant:ident, $scalar:ident) => {
        impl<E: ValueFor<$elem>> ValueFor<Vec<$marker>> for [E] {
            fn attribute_value(&self) -> Option<Value> {
                let items = self.iter().filter_map(ValueFor::attribute_value);
                Some(Value::$variant(
                    items
                        .filter_map(|v| match v {
                            Value::$scalar(x) => Some(x),
                            _ => None,
                        })
                        .collect(),
                ))
            }
        }
        impl<E: ValueFor<$elem>> ValueFor<Vec<$marker>> for &[E] {
            fn attribute_value(&self) -> Option<Value> {
                (**self).attribute_value()
            }
        }
        impl<E: ValueFor<$elem>> ValueFor<Vec<$marker>> for Vec<E> {
            fn attribute_value(&self) -> Option<Value> {
                self.as_slice().attribute_value()
            }
        }
        impl<E: ValueFor<$elem>> ValueFor<Vec<$marker>> for &Vec<E> {
            fn attribute_value(&self) -> Option<Value> {
                self.as_slice().attribute_value()
            }
        }
        impl<E: ValueFor<$elem>, const N: usize> ValueFor<Vec<$marker>> for [E; N] {
            fn attribute_value(&self) -> Option<Value> {
                self.as_slice().attribute_value()
            }
        }
    };
}
arrays!(String, String, StringArray, String);
arrays!(i64, i64, IntArray, Int);
arrays!(f64, f64, DoubleArray, Double);
arrays!(bool, bool, BoolArray, Bool);

fn enum_value(value: EnumValue) -> Value {
    match value {
        EnumValue::Str(s) => Value::String(s.to_owned()),
        EnumValue::Int(i) => Value::Int(i),
    }
}

/// A generated enum key takes its enum...
#[diagnostic::do_not_recommend]
impl<E: AttributeEnum> ValueFor<E> for E {
    fn attribute_value(&self) -> Option<Value> {
        Some(enum_value(self.value()))
    }
}

/// ...or a plain string: semantic-convention enums are open.
#[diagnostic::do_not_recommend]
impl<E: AttributeEnum> ValueFor<E> for str {
    fn attribute_value(&self) -> Option<Value> {
        Some(Value::String(self.to_owned()))
    }
}

#[diagnostic::do_not_recommend]
impl<E: AttributeEnum> ValueFor<E> for &str {
    fn attribute_value(&self) -> Option<Value> {
        Some(Value::String((*self).to_owned()))
    }
}

#[diagnostic::do_not_recommend]
impl<E: AttributeEnum> ValueFor<E> for String {
    fn attribute_value(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }
}

/// A `string` attribute takes an enum of strings (its value), an `int`
/// attribute an enum of integers.
#[diagnostic::do_not_recommend]
impl<E: StringEnum + ?Sized> ValueFor<String> for E {
    fn attribute_value(&self) -> Option<Value> {
        Some(Value::String(self.string_value().to_owned()))
    }
}

#[diagnostic::do_not_recommend]
impl<E: IntEnum + ?Sized> ValueFor<i64> for E {
    fn attribute_value(&self) -> Option<Value> {
        Some(Value::Int(self.int_value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{DB_SYSTEM_NAME, DbSystemName, ERROR_TYPE, SERVER_PORT};

    #[test]
    fn keys_take_values_of_their_type() {
        assert_eq!(SERVER_PORT.value(&8080u16), Some(Value::Int(8080)));
        assert_eq!(
            DB_SYSTEM_NAME.value(&DbSystemName::Postgresql),
            Some(Value::String("postgresql".into()))
        );
        assert_eq!(
            DB_SYSTEM_NAME.value("duckdb"),
            Some(Value::String("duckdb".into()))
        );
        assert_eq!(ERROR_TYPE.value(&None::<&str>), None);
        // An enum of strings fits a `string` key.
        let system: AttributeKey<String> = AttributeKey::new("acme.system");
        assert_eq!(
            system.value(&DbSystemName::Postgresql),
            Some(Value::String("postgresql".into()))
        );
        assert_eq!(
            system.value(&&DbSystemName::Postgresql),
            Some(Value::String("postgresql".into()))
        );
        let tags: AttributeKey<Vec<String>> = AttributeKey::new("acme.tags");
        assert_eq!(
            tags.value(&["a", "b"]),
            Some(Value::StringArray(vec!["a".into(), "b".into()]))
        );
    }
}
