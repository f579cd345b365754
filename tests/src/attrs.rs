//! Reading attribute values out of OTLP `KeyValue` lists.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// The value of the first attribute named `key`, if any.
#[must_use]
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// The attribute `key` if it is a string.
#[must_use]
pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key)?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The attribute `key` if it is an integer.
#[must_use]
pub fn attr_i64(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)?.value.as_ref()? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// The attribute `key` if it is a double.
#[must_use]
pub fn attr_f64(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match attr(attrs, key)?.value.as_ref()? {
        Value::DoubleValue(d) => Some(*d),
        _ => None,
    }
}

/// The attribute `key` if it is a boolean.
#[must_use]
pub fn attr_bool(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match attr(attrs, key)?.value.as_ref()? {
        Value::BoolValue(b) => Some(*b),
        _ => None,
    }
}

/// A value as text, the way a person would write it in an assertion message
/// (`"s"` for strings, `3` for ints, `[a, b]` for arrays).
#[must_use]
pub fn display(value: &AnyValue) -> String {
    match &value.value {
        None => "<empty>".to_owned(),
        Some(Value::StringValue(s)) => format!("{s:?}"),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::BytesValue(b)) => format!("0x{}", hex(b)),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(display).collect();
            format!("[{}]", items.join(", "))
        }
        Some(Value::KvlistValue(l)) => format!("{{{}}}", display_all(&l.values)),
        // Profiles-only dictionary references; shown raw.
        Some(other) => format!("{other:?}"),
    }
}

/// All attributes as `key=value, …`, for assertion messages.
#[must_use]
pub fn display_all(attrs: &[KeyValue]) -> String {
    let items: Vec<String> = attrs
        .iter()
        .map(|kv| match &kv.value {
            Some(v) => format!("{}={}", kv.key, display(v)),
            None => format!("{}=<empty>", kv.key),
        })
        .collect();
    items.join(", ")
}

/// Lower-case hex of a byte string, as trace and span ids are written in OTLP/JSON.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `Some(hex)` for a non-empty id that is not all zeros, else `None`
/// (OTLP writes "no parent" and "no trace context" either way).
#[must_use]
pub fn id_hex(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        None
    } else {
        Some(hex(bytes))
    }
}

/// Builds a string attribute, for hand-made requests in tests.
#[must_use]
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// Builds an integer attribute, for hand-made requests in tests.
#[must_use]
pub fn kv_i64(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typed_values() {
        let attrs = vec![kv_str("s", "x"), kv_i64("i", 3)];
        assert_eq!(attr_str(&attrs, "s"), Some("x"));
        assert_eq!(attr_i64(&attrs, "i"), Some(3));
        assert_eq!(attr_str(&attrs, "i"), None);
        assert_eq!(attr(&attrs, "missing"), None);
        assert_eq!(display_all(&attrs), "s=\"x\", i=3");
    }

    #[test]
    fn hex_ids() {
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert_eq!(id_hex(&[0; 8]), None);
        assert_eq!(id_hex(&[]), None);
        assert_eq!(id_hex(&[0, 1]).as_deref(), Some("0001"));
    }
}
