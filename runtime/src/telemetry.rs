//! What `#[derive(Telemetry)]` implements: structs whose fields become
//! attributes, values that can be attribute values, and errors with a
//! low-cardinality `error.type`.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use opentelemetry::{Array, KeyValue, StringValue, Value};
use semtel_conventions::model::AttributeKey;
use semtel_conventions::value::ValueFor;

/// A type whose fields become span attributes: of the stage call that
/// records it (`#[stage(record(value))]`), or, through
/// [`Telemetry::attributes`], wherever you put them.
///
/// Derive it: `#[derive(semtel::Telemetry)]`. Fields take the
/// semantic-convention name given with `#[telemetry(name = "…")]`, or a
/// default under the struct's prefix; see the derive's documentation.
pub trait Telemetry {
    /// Appends this value's attributes to `out`.
    fn record_attributes(&self, out: &mut Attributes);

    /// This value's attributes, collected.
    fn attributes(&self) -> Attributes {
        let mut out = Attributes::default();
        self.record_attributes(&mut out);
        out
    }
}

impl<T: Telemetry + ?Sized> Telemetry for &T {
    fn record_attributes(&self, out: &mut Attributes) {
        (**self).record_attributes(out);
    }
}

impl<T: Telemetry + ?Sized> Telemetry for Box<T> {
    fn record_attributes(&self, out: &mut Attributes) {
        (**self).record_attributes(out);
    }
}

/// A value that can be an attribute value: integers, floats, booleans,
/// strings, and slices of them; `Option`s are left out when `None`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a telemetry attribute value",
    label = "not an integer, float, bool, string or array of them",
    note = "skip the field with `#[telemetry(skip)]`, nest a `Telemetry` struct with \
            `#[telemetry(flatten)]`, or derive `Telemetry` on a fieldless enum"
)]
pub trait TelemetryValue {
    /// The value, or `None` to leave the attribute out.
    fn telemetry_value(&self) -> Option<Value>;
}

/// Error types that name their kind with a low-cardinality `error.type`.
///
/// `#[derive(Telemetry)]` on an enum implements it with the variant name in
/// snake case (override with `#[telemetry(error_type = "…")]` on a variant).
/// [`std::io::Error`] has it: its kind in snake case (`timed_out`). Errors of
/// other types are recorded with their type name.
///
/// The type of the error a stage returns decides, not the errors inside
/// it: an error that wraps an I/O error (an enum variant, `Box<dyn Error>`,
/// `anyhow::Error`) is recorded by its own `ErrorType`, or else its type
/// name; give such an enum a variant per failure you want told apart, or
/// implement `ErrorType` and return the wrapped error's `error_type()`.
pub trait ErrorType {
    /// The value of `error.type`, e.g. `timeout` or `invalid_record`.
    fn error_type(&self) -> &'static str;
}

/// An I/O error's `error.type` is its [`ErrorKind`](std::io::ErrorKind) in
/// snake case: `not_found`, `timed_out`, `connection_refused`, …; a kind
/// newer than this list (the enum is non-exhaustive) is `other`.
impl ErrorType for std::io::Error {
    fn error_type(&self) -> &'static str {
        use std::io::ErrorKind as K;
        match self.kind() {
            K::NotFound => "not_found",
            K::PermissionDenied => "permission_denied",
            K::ConnectionRefused => "connection_refused",
            K::ConnectionReset => "connection_reset",
            K::HostUnreachable => "host_unreachable",
            K::NetworkUnreachable => "network_unreachable",
            K::ConnectionAborted => "connection_aborted",
            K::NotConnected => "not_connected",
            K::AddrInUse => "addr_in_use",
            K::AddrNotAvailable => "addr_not_available",
            K::NetworkDown => "network_down",
            K::BrokenPipe => "broken_pipe",
            K::AlreadyExists => "already_exists",
            K::WouldBlock => "would_block",
            K::NotADirectory => "not_a_directory",
            K::IsADirectory => "is_a_directory",
            K::DirectoryNotEmpty => "directory_not_empty",
            K::ReadOnlyFilesystem => "read_only_filesystem",
            K::StaleNetworkFileHandle => "stale_network_file_handle",
            K::InvalidInput => "invalid_input",
            K::InvalidData => "invalid_data",
            K::TimedOut => "timed_out",
            K::WriteZero => "write_zero",
            K::StorageFull => "storage_full",
            K::NotSeekable => "not_seekable",
            K::QuotaExceeded => "quota_exceeded",
            K::FileTooLarge => "file_too_large",
            K::ResourceBusy => "resource_busy",
            K::ExecutableFileBusy => "executable_file_busy",
            K::Deadlock => "deadlock",
            K::CrossesDevices => "crosses_devices",
            K::TooManyLinks => "too_many_links",
            K::InvalidFilename => "invalid_filename",
            K::ArgumentListTooLong => "argument_list_too_long",
            K::Interrupted => "interrupted",
            K::Unsupported => "unsupported",
            K::UnexpectedEof => "unexpected_eof",
            K::OutOfMemory => "out_of_memory",
            K::Other => "other",
            _ => "other",
        }
    }
}

/// Attributes collected from [`Telemetry`] values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    items: Vec<KeyValue>,
}

impl Attributes {
    /// Adds `key = value`, unless the value is absent (`None`).
    pub fn push(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: &(impl TelemetryValue + ?Sized),
    ) {
        if let Some(v) = value.telemetry_value() {
            self.items.push(KeyValue::new(key.into(), v));
        }
    }

    /// Adds `key` with a marker in place of the value: the value never leaves
    /// the process.
    pub fn push_redacted(&mut self, key: impl Into<Cow<'static, str>>) {
        self.items
            .push(KeyValue::new(key.into(), Value::from(REDACTED)));
    }

    /// Adds `key` with a keyed hash of the value (see [`redact_hash`]), so
    /// equal values can be correlated without being exported.
    pub fn push_hashed(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: &(impl TelemetryValue + ?Sized),
    ) {
        if let Some(v) = value.telemetry_value() {
            self.items.push(KeyValue::new(
                key.into(),
                Value::from(redact_hash(&v.as_str())),
            ));
        }
    }

    /// Adds the attribute of a generated registry's key; the value's type
    /// must fit the key's (a compile error otherwise).
    pub fn push_key<T: ?Sized, V: ValueFor<T> + ?Sized>(
        &mut self,
        key: AttributeKey<T>,
        value: &V,
    ) {
        if let Some(v) = key.value(value) {
            self.items.push(KeyValue::new(key.name(), otel_value(v)));
        }
    }

    /// Adds every attribute of a nested [`Telemetry`] value.
    pub fn extend_from(&mut self, nested: &(impl Telemetry + ?Sized)) {
        nested.record_attributes(self);
    }

    /// The attributes, as OpenTelemetry key-values.
    pub fn as_slice(&self) -> &[KeyValue] {
        &self.items
    }

    /// The value of one attribute.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn into_vec(self) -> Vec<KeyValue> {
        self.items
    }
}

/// The OpenTelemetry form of a conventions value.
pub(crate) fn otel_value(value: semtel_conventions::value::Value) -> Value {
    use semtel_conventions::value::Value as V;
    match value {
        V::String(s) => Value::from(s),
        V::Int(i) => Value::I64(i),
        V::Double(d) => Value::F64(d),
        V::Bool(b) => Value::Bool(b),
        V::StringArray(a) => Value::Array(Array::String(
            a.into_iter().map(StringValue::from).collect(),
        )),
        V::IntArray(a) => Value::Array(Array::I64(a)),
        V::DoubleArray(a) => Value::Array(Array::F64(a)),
        V::BoolArray(a) => Value::Array(Array::Bool(a)),
    }
}

/// The value exported for a `#[telemetry(redact)]` field.
pub const REDACTED: &str = "[redacted]";

/// A keyed hash of `value`: `h:` and 16 hex digits. The key is random per
/// process, so equal values hash equally within one run (to correlate
/// records) but the hash cannot be looked up across runs or reversed by
/// hashing candidates elsewhere.
pub fn redact_hash(value: &str) -> String {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut h = KEY.get_or_init(Default::default).build_hasher();
    h.write(value.as_bytes());
    format!("h:{:016x}", h.finish())
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl TelemetryValue for $t {
            fn telemetry_value(&self) -> Option<Value> {
                Some(Value::I64(i64::from(*self)))
            }
        }
    )*};
}
int_values!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_values {
    ($($t:ty),*) => {$(
        /// Values above `i64::MAX` are exported as `i64::MAX`.
        impl TelemetryValue for $t {
            fn telemetry_value(&self) -> Option<Value> {
                Some(Value::I64(i64::try_from(*self).unwrap_or(i64::MAX)))
            }
        }
    )*};
}
wide_int_values!(u64, usize, u128, i128, isize);

impl TelemetryValue for f64 {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::F64(*self))
    }
}

impl TelemetryValue for f32 {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::F64(f64::from(*self)))
    }
}

impl TelemetryValue for bool {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::Bool(*self))
    }
}

impl TelemetryValue for str {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::from(self.to_owned()))
    }
}

impl TelemetryValue for String {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::from(self.clone()))
    }
}

impl TelemetryValue for Cow<'_, str> {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::from(self.to_string()))
    }
}

impl TelemetryValue for std::sync::Arc<str> {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::from(self.to_string()))
    }
}

impl TelemetryValue for char {
    fn telemetry_value(&self) -> Option<Value> {
        Some(Value::from(self.to_string()))
    }
}

impl<T: TelemetryValue + ?Sized> TelemetryValue for &T {
    fn telemetry_value(&self) -> Option<Value> {
        (**self).telemetry_value()
    }
}

impl<T: TelemetryValue + ?Sized> TelemetryValue for Box<T> {
    fn telemetry_value(&self) -> Option<Value> {
        (**self).telemetry_value()
    }
}

impl<T: TelemetryValue> TelemetryValue for Option<T> {
    fn telemetry_value(&self) -> Option<Value> {
        self.as_ref().and_then(TelemetryValue::telemetry_value)
    }
}

/// Homogeneous arrays: all elements must map to the same attribute type.
impl<T: TelemetryValue> TelemetryValue for [T] {
    fn telemetry_value(&self) -> Option<Value> {
        let values: Vec<Value> = self
            .iter()
            .filter_map(TelemetryValue::telemetry_value)
            .collect();
        let array = match values.first() {
            None => Array::String(Vec::new()),
            Some(Value::Bool(_)) => Array::Bool(
                values
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Bool(b) => Some(b),
                        _ => None,
                    })
                    .collect(),
            ),
            Some(Value::I64(_)) => Array::I64(
                values
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::I64(i) => Some(i),
                        _ => None,
                    })
                    .collect(),
            ),
            Some(Value::F64(_)) => Array::F64(
                values
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::F64(f) => Some(f),
                        _ => None,
                    })
                    .collect(),
            ),
            Some(_) => Array::String(
                values
                    .into_iter()
                    .map(|v| StringValue::from(v.as_str().into_owned()))
                    .collect(),
            ),
        };
        Some(Value::Array(array))
    }
}

impl<T: TelemetryValue> TelemetryValue for Vec<T> {
    fn telemetry_value(&self) -> Option<Value> {
        self.as_slice().telemetry_value()
    }
}

impl<T: TelemetryValue, const N: usize> TelemetryValue for [T; N] {
    fn telemetry_value(&self) -> Option<Value> {
        self.as_slice().telemetry_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_map_to_otel_types() {
        assert_eq!(7u32.telemetry_value(), Some(Value::I64(7)));
        assert_eq!(u64::MAX.telemetry_value(), Some(Value::I64(i64::MAX)));
        assert_eq!(1.5f32.telemetry_value(), Some(Value::F64(1.5)));
        assert_eq!("a".telemetry_value(), Some(Value::from("a")));
        assert_eq!(None::<i64>.telemetry_value(), None);
        assert_eq!(
            vec![1i64, 2].telemetry_value(),
            Some(Value::Array(Array::I64(vec![1, 2])))
        );
        assert_eq!(
            ["x", "y"].telemetry_value(),
            Some(Value::Array(Array::String(vec!["x".into(), "y".into()])))
        );
    }

    #[test]
    fn absent_values_are_left_out_and_redaction_hides_the_value() {
        let mut a = Attributes::default();
        a.push("present", &Some(3i64));
        a.push("absent", &None::<String>);
        a.push_redacted("user.email");
        a.push_hashed("user.id", "alice");
        a.push_hashed("user.id.again", &String::from("alice"));
        assert_eq!(a.len(), 4);
        assert_eq!(a.get("present"), Some(&Value::I64(3)));
        assert_eq!(a.get("user.email"), Some(&Value::from(REDACTED)));
        let hashed = a.get("user.id").unwrap().as_str().into_owned();
        assert!(hashed.starts_with("h:") && hashed.len() == 18, "{hashed}");
        assert!(!hashed.contains("alice"));
        assert_eq!(a.get("user.id.again").unwrap().as_str(), hashed);
    }
}
