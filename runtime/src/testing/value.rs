//! Attribute values and ids of OTLP messages, as tests compare them.

use opentelemetry::{Array, StringValue, Value};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

/// The value of the attribute `key`, if any.
pub(super) fn attr(attrs: &[KeyValue], key: &str) -> Option<Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(value)
}

/// An OTLP value as the `opentelemetry` value it was made from.
pub(super) fn value(v: &AnyValue) -> Value {
    use any_value::Value as V;
    let strings = |a: &[AnyValue]| -> Option<Vec<StringValue>> {
        a.iter()
            .map(|v| match &v.value {
                Some(V::StringValue(s)) => Some(StringValue::from(s.clone())),
                _ => None,
            })
            .collect()
    };
    match &v.value {
        Some(V::StringValue(s)) => Value::from(s.clone()),
        Some(V::IntValue(i)) => Value::I64(*i),
        Some(V::DoubleValue(d)) => Value::F64(*d),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::ArrayValue(a)) => {
            let items = &a.values;
            let ints: Option<Vec<i64>> = (items.iter())
                .map(|v| match v.value {
                    Some(V::IntValue(i)) => Some(i),
                    _ => None,
                })
                .collect();
            let doubles: Option<Vec<f64>> = (items.iter())
                .map(|v| match v.value {
                    Some(V::DoubleValue(d)) => Some(d),
                    _ => None,
                })
                .collect();
            let bools: Option<Vec<bool>> = (items.iter())
                .map(|v| match v.value {
                    Some(V::BoolValue(b)) => Some(b),
                    _ => None,
                })
                .collect();
            match (strings(items), ints, doubles, bools) {
                (Some(s), ..) => Value::Array(Array::String(s)),
                (_, Some(i), ..) => Value::Array(Array::I64(i)),
                (_, _, Some(d), _) => Value::Array(Array::F64(d)),
                (.., Some(b)) => Value::Array(Array::Bool(b)),
                _ => Value::from(format!("{v:?}")),
            }
        }
        other => Value::from(format!("{other:?}")),
    }
}

/// Lower-case hex, as OTLP/JSON writes ids.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `None` for an empty or all-zero id (OTLP writes "none" either way).
pub(super) fn id_hex(bytes: &[u8]) -> Option<String> {
    (!bytes.iter().all(|b| *b == 0)).then(|| hex(bytes))
}
