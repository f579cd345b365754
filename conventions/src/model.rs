//! The types the generated tables and typed items are made of.
//!
//! Everything here is plain `'static` data with `const` constructors, so the
//! generated tables cost nothing at run time and can be searched by the macros at
//! compile time.

use core::fmt;
use core::marker::PhantomData;

/// How mature a convention is.
///
/// `experimental` in older registries reads as [`Stability::Development`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stability {
    /// Stable: will not change in a breaking way.
    Stable,
    /// Release candidate: expected to become stable unchanged.
    ReleaseCandidate,
    /// Beta.
    Beta,
    /// Alpha.
    Alpha,
    /// In development (also written `experimental`): may change or go away.
    Development,
}

impl Stability {
    /// Whether the item is stable. Typed items of every other level are behind
    /// the `experimental` feature.
    #[must_use]
    pub const fn is_stable(self) -> bool {
        matches!(self, Self::Stable)
    }

    /// The registry's spelling: `stable`, `release_candidate`, `beta`, `alpha`,
    /// `development`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::ReleaseCandidate => "release_candidate",
            Self::Beta => "beta",
            Self::Alpha => "alpha",
            Self::Development => "development",
        }
    }
}

impl fmt::Display for Stability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an item is deprecated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeprecationReason {
    /// Renamed: [`Deprecation::renamed_to`] names the replacement.
    Renamed,
    /// Obsoleted: no longer meaningful.
    Obsoleted,
    /// Any other reason, see [`Deprecation::note`].
    Uncategorized,
}

/// A deprecation and its replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deprecation {
    /// Why.
    pub reason: DeprecationReason,
    /// The id that replaces this one, when renamed.
    pub renamed_to: Option<&'static str>,
    /// The registry's note, if any.
    pub note: Option<&'static str>,
}

/// The type of an attribute value (or of the values of a template attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `string`
    String,
    /// `int`
    Int,
    /// `double`
    Double,
    /// `boolean`
    Boolean,
    /// `string[]`
    StringArray,
    /// `int[]`
    IntArray,
    /// `double[]`
    DoubleArray,
    /// `boolean[]`
    BooleanArray,
    /// `any`: any of the above.
    Any,
}

impl ValueType {
    /// The registry's spelling (`string`, `int[]`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Double => "double",
            Self::Boolean => "boolean",
            Self::StringArray => "string[]",
            Self::IntArray => "int[]",
            Self::DoubleArray => "double[]",
            Self::BooleanArray => "boolean[]",
            Self::Any => "any",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of one enum member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnumValue {
    /// A string member (most enums).
    Str(&'static str),
    /// An int member (for example `rpc.grpc.status_code`).
    Int(i64),
}

impl fmt::Display for EnumValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => f.write_str(s),
            Self::Int(i) => write!(f, "{i}"),
        }
    }
}

/// One member of an enum attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnumMember {
    /// The member id (`postgresql`).
    pub id: &'static str,
    /// The value written on the wire.
    pub value: EnumValue,
    /// Its own stability (a stable enum may have members in development).
    pub stability: Stability,
    /// Set when the member is deprecated.
    pub deprecated: Option<Deprecation>,
}

/// The declared type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeType {
    /// A plain value.
    Value(ValueType),
    /// `template[T]`: the id is a prefix, the key is `<id>.<suffix>`
    /// (`http.request.header.content-type`).
    Template(ValueType),
    /// An enum: the listed members are the known values. Enums are open: other
    /// values of the same type are allowed.
    Enum(&'static [EnumMember]),
}

impl AttributeType {
    /// The type of the values, for an enum that of its members (`string` or `int`).
    #[must_use]
    pub const fn value_type(self) -> ValueType {
        match self {
            Self::Value(v) | Self::Template(v) => v,
            Self::Enum(members) => match members.first() {
                Some(EnumMember {
                    value: EnumValue::Int(_),
                    ..
                }) => ValueType::Int,
                _ => ValueType::String,
            },
        }
    }

    /// Whether this is a `template[T]` type.
    #[must_use]
    pub const fn is_template(self) -> bool {
        matches!(self, Self::Template(_))
    }

    /// The members of an enum, empty for any other type.
    #[must_use]
    pub const fn members(self) -> &'static [EnumMember] {
        match self {
            Self::Enum(m) => m,
            _ => &[],
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(v) => write!(f, "{v}"),
            Self::Template(v) => write!(f, "template[{v}]"),
            Self::Enum(_) => write!(f, "enum of {}", self.value_type()),
        }
    }
}

/// Which registry an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The official OpenTelemetry registry ([`crate::SEMCONV_VERSION`]).
    Official,
    /// semtel's data-pipeline registry ([`crate::pipeline`]).
    Pipeline,
    /// A registry generated by a user with [`codegen`](crate#feature-flags).
    User,
}

/// One attribute of a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeDef {
    /// The attribute id (`db.system.name`).
    pub name: &'static str,
    /// Its type.
    pub ty: AttributeType,
    /// Its stability.
    pub stability: Stability,
    /// Set when deprecated.
    pub deprecated: Option<Deprecation>,
    /// The registry it comes from.
    pub source: Source,
}

impl AttributeDef {
    /// The members of an enum attribute, empty for any other type.
    #[must_use]
    pub const fn members(&self) -> &'static [EnumMember] {
        self.ty.members()
    }

    /// The enum member with this value (`"postgresql"`), if any.
    #[must_use]
    pub fn member(&self, value: &str) -> Option<&'static EnumMember> {
        self.members()
            .iter()
            .find(|m| matches!(m.value, EnumValue::Str(s) if s == value))
    }
}

/// The kind of instrument a metric is recorded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instrument {
    /// `counter`: monotonic sum.
    Counter,
    /// `updowncounter`: non-monotonic sum.
    UpDownCounter,
    /// `gauge`: last value.
    Gauge,
    /// `histogram`: distribution.
    Histogram,
}

impl Instrument {
    /// The registry's spelling (`counter`, `updowncounter`, `gauge`, `histogram`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::UpDownCounter => "updowncounter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The number type a metric is recorded in (`annotations.code_generation.metric_value_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// Integers (`u64`/`i64` instruments).
    Int,
    /// Floating point (`f64` instruments).
    Double,
}

/// How much an attribute is expected on a metric (or span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequirementLevel {
    /// `required`
    Required,
    /// `conditionally_required`: required when the registry's condition holds.
    ConditionallyRequired,
    /// `recommended` (the default).
    Recommended,
    /// `opt_in`: only when the user asks for it.
    OptIn,
}

impl RequirementLevel {
    /// The registry's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::ConditionallyRequired => "conditionally_required",
            Self::Recommended => "recommended",
            Self::OptIn => "opt_in",
        }
    }
}

impl fmt::Display for RequirementLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attribute of a metric, with its requirement level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricAttribute {
    /// The attribute id.
    pub name: &'static str,
    /// How much it is expected.
    pub requirement: RequirementLevel,
}

/// One metric of a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricDef {
    /// The metric name (`db.client.operation.duration`).
    pub name: &'static str,
    /// The instrument.
    pub instrument: Instrument,
    /// The UCUM unit (`s`, `By`, `{record}`).
    pub unit: &'static str,
    /// The number type, when the registry says.
    pub number: Option<NumberType>,
    /// Its stability.
    pub stability: Stability,
    /// Set when deprecated.
    pub deprecated: Option<Deprecation>,
    /// Its attributes (after `extends` and `ref` resolution), sorted by name.
    pub attributes: &'static [MetricAttribute],
    /// The registry it comes from.
    pub source: Source,
}

impl MetricDef {
    /// The attribute of this metric with this name, if any.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&'static MetricAttribute> {
        by_name(self.attributes, name, |a| a.name)
    }

    /// The names of the required attributes.
    pub fn required_attributes(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.attributes
            .iter()
            .filter(|a| a.requirement == RequirementLevel::Required)
            .map(|a| a.name)
    }
}

/// A whole generated registry: its tables sorted by name.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    /// The registry's name (`opentelemetry`, `semtel-pipeline`, ...).
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// Where it comes from.
    pub source: Source,
    /// Every attribute, deprecated and experimental ones included, sorted by name.
    pub attributes: &'static [AttributeDef],
    /// Every metric, sorted by name.
    pub metrics: &'static [MetricDef],
}

impl Registry {
    /// The attribute with exactly this id.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        by_name(self.attributes, name, |a| a.name)
    }

    /// The attribute a key belongs to: the attribute with exactly this id, or
    /// else the `template[..]` attribute whose id is a dot-separated prefix of
    /// the key (`http.request.header.content-type` gives `http.request.header`).
    #[must_use]
    pub fn attribute_for_key(&self, key: &str) -> Option<&'static AttributeDef> {
        if let Some(def) = self.attribute(key) {
            return Some(def);
        }
        let mut prefix = key;
        while let Some(dot) = prefix.rfind('.') {
            prefix = &prefix[..dot];
            if let Some(def) = self.attribute(prefix)
                && def.ty.is_template()
            {
                return Some(def);
            }
        }
        None
    }

    /// The metric with exactly this name.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<&'static MetricDef> {
        by_name(self.metrics, name, |m| m.name)
    }
}

/// An attribute key that knows the type of its values.
///
/// `T` is a marker: `String`, `i64`, `f64`, `bool`, `Vec<String>`, `Vec<i64>`,
/// `Vec<f64>`, `Vec<bool>`, [`AnyValue`] or a generated enum such as
/// [`attribute::DbSystemName`](crate::attribute::DbSystemName). Enums are open:
/// the runtime also accepts a plain string for an enum key.
pub struct AttributeKey<T: ?Sized> {
    name: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T: ?Sized> AttributeKey<T> {
    /// A key with this id.
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            _value: PhantomData,
        }
    }

    /// The attribute id.
    #[must_use]
    pub const fn name(self) -> &'static str {
        self.name
    }
}

impl<T: ?Sized> Clone for AttributeKey<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for AttributeKey<T> {}

impl<T: ?Sized> fmt::Debug for AttributeKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttributeKey({:?})", self.name)
    }
}

impl<T: ?Sized> fmt::Display for AttributeKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A `template[T]` attribute: the key is `<prefix>.<suffix>`.
pub struct AttributeTemplate<T: ?Sized> {
    prefix: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T: ?Sized> AttributeTemplate<T> {
    /// A template with this id as prefix.
    #[must_use]
    pub const fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            _value: PhantomData,
        }
    }

    /// The template's id, the prefix of its keys.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        self.prefix
    }

    /// The full key for a suffix (`content-type` gives
    /// `http.request.header.content-type`).
    #[must_use]
    pub fn key(self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }
}

impl<T: ?Sized> Clone for AttributeTemplate<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for AttributeTemplate<T> {}

impl<T: ?Sized> fmt::Debug for AttributeTemplate<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttributeTemplate({:?})", self.prefix)
    }
}

/// The value marker of `any` attributes (`feature_flag.result.value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnyValue {}

/// Implemented by every generated enum of attribute values.
pub trait AttributeEnum: Copy + 'static {
    /// The value written on the wire.
    fn value(self) -> EnumValue;
}

/// An enum whose values are strings: generated enums of `string` values,
/// and enums that derive `semtel::Telemetry`. Such a value fits a `string`
/// attribute ([`ValueFor<String>`](crate::value::ValueFor)).
///
/// ```
/// use semtel_conventions::attribute::DbSystemName;
/// use semtel_conventions::model::StringEnum;
///
/// assert_eq!(DbSystemName::Postgresql.string_value(), "postgresql");
/// ```
pub trait StringEnum {
    /// The value written on the wire.
    fn string_value(&self) -> &'static str;
}

impl<E: StringEnum + ?Sized> StringEnum for &E {
    fn string_value(&self) -> &'static str {
        (**self).string_value()
    }
}

/// A generated enum whose values are integers (`rpc.grpc.status_code`). Such
/// a value fits an `int` attribute ([`ValueFor<i64>`](crate::value::ValueFor)).
pub trait IntEnum {
    /// The value written on the wire.
    fn int_value(&self) -> i64;
}

impl<E: IntEnum + ?Sized> IntEnum for &E {
    fn int_value(&self) -> i64 {
        (**self).int_value()
    }
}

/// A metric a user can create an instrument from. The generated `metric::`
/// constants are typed ones ([`CounterDescriptor`], …) that deref to this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricDescriptor {
    /// The metric name.
    pub name: &'static str,
    /// The instrument.
    pub instrument: Instrument,
    /// The UCUM unit.
    pub unit: &'static str,
    /// The number type, when the registry says.
    pub number: Option<NumberType>,
    /// Its stability.
    pub stability: Stability,
    /// Its attributes with their requirement levels, sorted by name (the
    /// registry table's [`MetricDef::attributes`]).
    pub attributes: &'static [MetricAttribute],
}

impl MetricDescriptor {
    /// The attribute of this metric with this name, if any.
    ///
    /// ```
    /// use semtel_conventions::model::RequirementLevel;
    /// use semtel_conventions::pipeline::metric::PIPELINE_RECORDS;
    ///
    /// let a = PIPELINE_RECORDS.attribute("pipeline.stage.name").unwrap();
    /// assert_eq!(a.requirement, RequirementLevel::Required);
    /// ```
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&'static MetricAttribute> {
        by_name(self.attributes, name, |a| a.name)
    }
}

pub use crate::descriptor::{
    CounterDescriptor, GaugeDescriptor, HistogramDescriptor, UpDownCounterDescriptor, WrongKind,
    number,
};

/// The entry named `name` of `table`, sorted by name.
fn by_name<T>(table: &'static [T], name: &str, key: impl Fn(&T) -> &str) -> Option<&'static T> {
    table
        .binary_search_by(|entry| key(entry).cmp(name))
        .ok()
        .map(|i| &table[i])
}
