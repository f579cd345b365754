//! Instruments of your registry's metrics: a [`Counter`], [`UpDownCounter`],
//! [`Gauge`] or [`Histogram`] made from a generated descriptor takes its
//! name, unit and instrument from the registry, and an instrument of the
//! wrong kind does not compile.
//!
//! `semtel_conventions::codegen::Builder` turns a registry (Weaver's YAML)
//! into typed constants, in a build script: each `metric::` constant is a
//! [`CounterDescriptor`], [`HistogramDescriptor`], … of the registry's number
//! type (`int`, `double`), which picks the Rust type recorded: `u64`
//! counters, `f64` histograms. A counter of the registry makes a
//! [`Counter`], not a [`Histogram`]; an `int` counter records `u64`, not
//! `f64`.
//!
//! Recorded inside a `#[stage]` call (sync or async, on any thread), a value
//! carries the stage's labels that the metric's registry entry lists:
//! `pipeline.name`, `pipeline.stage.name`, `pipeline.stage.kind` and the
//! literal `db.*`/`messaging.*` fields the stage metrics get (a metric
//! that `extends: attributes.pipeline.stage` lists them all). The
//! attributes given with the value ([`Attribute`]) come on top and win
//! over a label of the same key. Outside a stage it carries those
//! attributes only.
//!
//! The values go to the meter provider [`init`](crate::init) installs, as
//! the stage metrics do: before it, after its shutdown and with
//! `OTEL_SDK_DISABLED=true` recording does nothing. Each instrument is
//! built once per meter provider, and bound once per stage call site, so
//! recording without attributes inside a stage costs about what a count
//! through [`stage::current()`](crate::stage::current) does (finding the
//! running stage, a look-up without a lock for the first 8 call sites, one
//! atomic add); a value given attributes of its own is recorded unbound,
//! its attribute set built for the call. Points carry no exemplars (the
//! stage metrics' do). A `u64` above `i64::MAX` (OTLP's integer points are signed)
//! is recorded as `i64::MAX`; a NaN or infinite `f64`, or a negative one
//! added to a counter, is not recorded. Histograms in seconds get the
//! buckets of `pipeline.stage.duration` (0.5 ms to 300 s).
//!
//! ```
//! use semtel::conventions::attribute::ERROR_TYPE;
//! use semtel::instrument::{Attribute, Counter, Histogram};
//! # mod registry { pub mod metric {
//! #     use semtel::conventions::model::*;
//! #     const STAGE: &[MetricAttribute] = &[
//! #         MetricAttribute { name: "error.type", requirement: RequirementLevel::ConditionallyRequired },
//! #         MetricAttribute { name: "pipeline.name", requirement: RequirementLevel::Required },
//! #         MetricAttribute { name: "pipeline.stage.name", requirement: RequirementLevel::Required },
//! #     ];
//! #     const fn d(name: &'static str, instrument: Instrument, unit: &'static str, number: NumberType) -> MetricDescriptor {
//! #         MetricDescriptor { name, instrument, unit, number: Some(number), stability: Stability::Development, attributes: STAGE }
//! #     }
//! #     pub const ORDERS_VALIDATED: CounterDescriptor<number::Int> =
//! #         match CounterDescriptor::new(d("orders.validated", Instrument::Counter, "{order}", NumberType::Int)) { Ok(d) => d, Err(_) => panic!() };
//! #     pub const ORDERS_AMOUNT: HistogramDescriptor<number::Double> =
//! #         match HistogramDescriptor::new(d("orders.amount", Instrument::Histogram, "{EUR}", NumberType::Double)) { Ok(d) => d, Err(_) => panic!() };
//! # } }
//! // `registry` is what `semtel_conventions::codegen::Builder` generated
//! // from your registry (e.g. `include!(concat!(env!("OUT_DIR"), "/conventions.rs"))`).
//! use registry::metric::{ORDERS_AMOUNT, ORDERS_VALIDATED};
//!
//! static VALIDATED: Counter<u64> = Counter::new(ORDERS_VALIDATED);
//! static AMOUNT: Histogram<f64> = Histogram::new(ORDERS_AMOUNT);
//!
//! #[semtel::stage(pipeline = "orders", kind = transform)]
//! fn validate(amounts: &[f64]) -> usize {
//!     let mut valid = 0;
//!     for &amount in amounts {
//!         if amount > 0.0 {
//!             VALIDATED.add(1, &[]); // pipeline.name=orders, pipeline.stage.name=validate
//!             AMOUNT.record(amount, &[]);
//!             valid += 1;
//!         } else {
//!             VALIDATED.add(1, &[Attribute::new(ERROR_TYPE, "invalid_amount")]);
//!         }
//!     }
//!     valid
//! }
//!
//! assert_eq!(validate(&[12.5, -1.0]), 1);
//! ```
//!
//! A descriptor of another kind is a compile error:
//!
//! ```compile_fail
//! use semtel::conventions::metric::HTTP_CLIENT_REQUEST_DURATION; // a histogram
//! static REQUESTS: semtel::instrument::Counter<u64> =
//!     semtel::instrument::Counter::new(HTTP_CLIENT_REQUEST_DURATION);
//! ```

use std::fmt;

use opentelemetry::{Key, KeyValue};
use semtel_conventions::model::number::{Double, Int, Unspecified};
use semtel_conventions::model::{
    AttributeKey, CounterDescriptor, GaugeDescriptor, HistogramDescriptor, MetricDescriptor,
    UpDownCounterDescriptor,
};
use semtel_conventions::value::ValueFor;

use crate::stage::{Cells, Kind};

/// An attribute given with one measurement: a key of a registry and a value
/// that fits it.
///
/// ```
/// use semtel::conventions::attribute::ERROR_TYPE;
/// use semtel::instrument::Attribute;
///
/// let rejected = Attribute::new(ERROR_TYPE, "invalid_amount");
/// let none = Attribute::new(ERROR_TYPE, &None::<&str>); // left out
/// # let _ = (rejected, none);
/// ```
#[derive(Clone)]
pub struct Attribute(Option<KeyValue>);

impl Attribute {
    /// The attribute `key` = `value`; compiles only when the value's type
    /// fits the key's, and is left out when the value gives none (`None`).
    ///
    /// ```
    /// use semtel::conventions::attribute::{DB_SYSTEM_NAME, DbSystemName, SERVER_PORT};
    /// use semtel::instrument::Attribute;
    ///
    /// let system = Attribute::new(DB_SYSTEM_NAME, &DbSystemName::Postgresql);
    /// let also = Attribute::new(DB_SYSTEM_NAME, "postgresql"); // enums are open
    /// let port = Attribute::new(SERVER_PORT, &5432_i64);
    /// # let _ = (system, also, port);
    /// ```
    ///
    /// ```compile_fail
    /// // `server.port` is an `int`.
    /// let port = semtel::instrument::Attribute::new(semtel::conventions::attribute::SERVER_PORT, "5432");
    /// ```
    pub fn new<T: ?Sized, V: ValueFor<T> + ?Sized>(key: AttributeKey<T>, value: &V) -> Self {
        Self(key.value(value).map(|v| {
            KeyValue::new(
                Key::from_static_str(key.name()),
                crate::telemetry::otel_value(v),
            )
        }))
    }
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(kv) => write!(f, "Attribute({}={})", kv.key, kv.value),
            None => f.write_str("Attribute(none)"),
        }
    }
}

/// The Rust number types a metric of number type `N` records: `u64` and
/// `i64` for [`Int`], `f64` for [`Double`], any for [`Unspecified`]
/// (the registry does not say).
///
/// ```
/// use semtel::conventions::pipeline::metric::PIPELINE_BACKLOG; // a gauge of int
/// use semtel::instrument::Gauge;
///
/// static UNSIGNED: Gauge<u64> = Gauge::new(PIPELINE_BACKLOG);
/// static SIGNED: Gauge<i64> = Gauge::new(PIPELINE_BACKLOG);
/// ```
///
/// ```compile_fail
/// use semtel::conventions::pipeline::metric::PIPELINE_BACKLOG;
/// static FRACTIONAL: semtel::instrument::Gauge<f64> = semtel::instrument::Gauge::new(PIPELINE_BACKLOG);
/// ```
#[diagnostic::on_unimplemented(
    message = "a metric of number type `{N}` does not record `{Self}`",
    label = "the registry's `metric_value_type` decides the number type"
)]
pub trait NumberFor<N>: sealed::Sealed {}

impl NumberFor<Int> for u64 {}
impl NumberFor<Int> for i64 {}
impl NumberFor<Double> for f64 {}
impl NumberFor<Unspecified> for u64 {}
impl NumberFor<Unspecified> for i64 {}
impl NumberFor<Unspecified> for f64 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

macro_rules! value_trait {
    ($(#[$doc:meta])* $trait:ident, $instrument:ident, $message:literal, $label:literal, $($ty:ty),+) => {
        $(#[$doc])*
        ///
        /// ```
        #[doc = concat!("fn records<T: semtel::instrument::", stringify!($trait), ">() {}")]
        $(#[doc = concat!("records::<", stringify!($ty), ">();")])+
        /// ```
        #[diagnostic::on_unimplemented(message = $message, label = $label)]
        pub trait $trait: sealed::Sealed + Copy + Send + Sync + 'static {
            /// Not public API: the SDK instrument.
            #[doc(hidden)]
            type Sdk: Kind<Value = Self>;
        }
        $(impl $trait for $ty {
            type Sdk = opentelemetry::metrics::$instrument<$ty>;
        })+
    };
}

value_trait!(
    /// What a [`Counter`] records: `u64` or `f64`.
    CounterValue, Counter,
    "a counter does not record `{Self}`", "a counter records `u64` or `f64`",
    u64, f64
);
value_trait!(
    /// What an [`UpDownCounter`] records: `i64` or `f64`.
    UpDownCounterValue, UpDownCounter,
    "an up-down counter does not record `{Self}`", "an up-down counter records `i64` or `f64`",
    i64, f64
);
value_trait!(
    /// What a [`Gauge`] records: `u64`, `i64` or `f64`.
    GaugeValue, Gauge,
    "a gauge does not record `{Self}`", "a gauge records `u64`, `i64` or `f64`",
    u64, i64, f64
);
value_trait!(
    /// What a [`Histogram`] records: `u64` or `f64`.
    HistogramValue, Histogram,
    "a histogram does not record `{Self}`", "a histogram records `u64` or `f64`",
    u64, f64
);

/// A counter of a registry (a monotonic sum), recording `T`; see the
/// [module docs](self).
///
/// ```
/// # mod registry { pub mod metric {
/// #     use semtel::conventions::model::*;
/// #     pub const ORDERS_LOADED: CounterDescriptor<number::Int> = match CounterDescriptor::new(MetricDescriptor {
/// #         name: "orders.loaded", instrument: Instrument::Counter, unit: "{order}", number: Some(NumberType::Int),
/// #         stability: Stability::Development,
/// #         attributes: &[MetricAttribute { name: "pipeline.name", requirement: RequirementLevel::Required }],
/// #     }) { Ok(d) => d, Err(_) => panic!() };
/// # } }
/// use semtel::instrument::Counter;
///
/// static LOADED: Counter<u64> = Counter::new(registry::metric::ORDERS_LOADED);
///
/// #[semtel::stage(pipeline = "orders", kind = sink)]
/// fn load(rows: &[&str]) {
///     LOADED.add(rows.len() as u64, &[]);
/// }
///
/// load(&["a", "b"]);
/// assert_eq!(LOADED.descriptor().unit, "{order}");
/// ```
pub struct Counter<T: CounterValue> {
    cells: Cells<T::Sdk>,
}

/// A counter that goes up and down (an `updowncounter` of a registry),
/// recording `T`; see the [module docs](self).
///
/// ```
/// # mod registry { pub mod metric {
/// #     use semtel::conventions::model::*;
/// #     pub const ORDERS_BACKLOG: UpDownCounterDescriptor<number::Int> = match UpDownCounterDescriptor::new(MetricDescriptor {
/// #         name: "orders.backlog", instrument: Instrument::UpDownCounter, unit: "{message}", number: Some(NumberType::Int),
/// #         stability: Stability::Development, attributes: &[],
/// #     }) { Ok(d) => d, Err(_) => panic!() };
/// # } }
/// use semtel::instrument::UpDownCounter;
///
/// static BACKLOG: UpDownCounter<i64> = UpDownCounter::new(registry::metric::ORDERS_BACKLOG);
///
/// fn publish(messages: usize) {
///     BACKLOG.add(messages as i64, &[]);
/// }
/// fn consume(messages: usize) {
///     BACKLOG.add(-(messages as i64), &[]);
/// }
///
/// publish(3);
/// consume(2);
/// ```
pub struct UpDownCounter<T: UpDownCounterValue> {
    cells: Cells<T::Sdk>,
}

/// A gauge of a registry (the last value set), recording `T`; see the
/// [module docs](self).
///
/// ```
/// # mod registry { pub mod metric {
/// #     use semtel::conventions::model::*;
/// #     pub const ORDERS_QUEUE_DEPTH: GaugeDescriptor<number::Int> = match GaugeDescriptor::new(MetricDescriptor {
/// #         name: "orders.queue.depth", instrument: Instrument::Gauge, unit: "{order}", number: Some(NumberType::Int),
/// #         stability: Stability::Development, attributes: &[],
/// #     }) { Ok(d) => d, Err(_) => panic!() };
/// # } }
/// use semtel::instrument::Gauge;
///
/// static DEPTH: Gauge<u64> = Gauge::new(registry::metric::ORDERS_QUEUE_DEPTH);
///
/// #[semtel::stage(pipeline = "orders", kind = source)]
/// fn poll(queue: &[u32]) {
///     DEPTH.record(queue.len() as u64, &[]);
/// }
///
/// poll(&[1, 2, 3]);
/// ```
pub struct Gauge<T: GaugeValue> {
    cells: Cells<T::Sdk>,
}

/// A histogram of a registry (a distribution), recording `T`; see the
/// [module docs](self).
///
/// ```
/// use semtel::conventions::attribute::{DB_SYSTEM_NAME, DbSystemName};
/// use semtel::conventions::metric::DB_CLIENT_OPERATION_DURATION;
/// use semtel::instrument::{Attribute, Histogram};
///
/// static COMMIT: Histogram<f64> = Histogram::new(DB_CLIENT_OPERATION_DURATION);
///
/// #[semtel::stage(pipeline = "orders", kind = sink)]
/// fn load(rows: &[&str]) {
///     let start = std::time::Instant::now();
///     // ... write and commit the rows ...
///     let system = Attribute::new(DB_SYSTEM_NAME, &DbSystemName::Sqlite);
///     COMMIT.record(start.elapsed().as_secs_f64(), &[system]);
/// }
///
/// load(&["a"]);
/// ```
pub struct Histogram<T: HistogramValue> {
    cells: Cells<T::Sdk>,
}

macro_rules! instrument {
    ($name:ident, $value:ident, $descriptor:ident, $what:literal, $example:literal, $value_type:literal) => {
        impl<T: $value> $name<T> {
            #[doc = concat!(
                "The ", $what, " of `descriptor`, a generated constant of the same kind whose ",
                "number type `T` fits; `const`, for a `static`.\n\n",
                "```\n",
                "use semtel::conventions::pipeline::metric::", $example, ";\n",
                "use semtel::instrument::", stringify!($name), ";\n\n",
                "static M: ", stringify!($name), "<", $value_type, "> = ", stringify!($name), "::new(", $example, ");\n",
                "let local = ", stringify!($name), "::<", $value_type, ">::new(", $example, ");\n",
                "assert_eq!(M.descriptor(), local.descriptor());\n",
                "```"
            )]
            #[must_use]
            pub const fn new<N>(descriptor: $descriptor<N>) -> Self
            where
                T: NumberFor<N>,
            {
                Self {
                    cells: Cells::new(descriptor.descriptor()),
                }
            }

            #[doc = concat!(
                "The metric's descriptor: name, instrument, unit, attributes.\n\n",
                "```\n",
                "use semtel::conventions::pipeline::metric::", $example, ";\n",
                "use semtel::instrument::", stringify!($name), ";\n\n",
                "static M: ", stringify!($name), "<", $value_type, "> = ", stringify!($name), "::new(", $example, ");\n",
                "assert_eq!(M.descriptor().name, ", $example, ".name);\n",
                "```"
            )]
            #[must_use]
            pub fn descriptor(&self) -> MetricDescriptor {
                self.cells.descriptor()
            }
        }

        impl<T: $value> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.cells.descriptor().name)
                    .finish_non_exhaustive()
            }
        }
    };
}

instrument!(
    Counter,
    CounterValue,
    CounterDescriptor,
    "counter",
    "PIPELINE_RETRIES",
    "u64"
);
instrument!(
    UpDownCounter,
    UpDownCounterValue,
    UpDownCounterDescriptor,
    "up-down counter",
    "PIPELINE_STAGE_ACTIVE",
    "i64"
);
instrument!(
    Gauge,
    GaugeValue,
    GaugeDescriptor,
    "gauge",
    "PIPELINE_LAG",
    "f64"
);
instrument!(
    Histogram,
    HistogramValue,
    HistogramDescriptor,
    "histogram",
    "PIPELINE_STAGE_DURATION",
    "f64"
);

impl<T: CounterValue> Counter<T> {
    /// Adds `value` (see the [module docs](self) for the labels and values
    /// recorded).
    ///
    /// ```
    /// # mod registry { pub mod metric {
    /// #     use semtel::conventions::model::*;
    /// #     pub const ORDERS_REJECTED: CounterDescriptor<number::Int> = match CounterDescriptor::new(MetricDescriptor {
    /// #         name: "orders.rejected", instrument: Instrument::Counter, unit: "{order}", number: Some(NumberType::Int),
    /// #         stability: Stability::Development, attributes: &[],
    /// #     }) { Ok(d) => d, Err(_) => panic!() };
    /// # } }
    /// use semtel::conventions::attribute::ERROR_TYPE;
    /// use semtel::instrument::{Attribute, Counter};
    ///
    /// static REJECTED: Counter<u64> = Counter::new(registry::metric::ORDERS_REJECTED);
    /// REJECTED.add(1, &[Attribute::new(ERROR_TYPE, "invalid_amount")]);
    /// ```
    pub fn add(&self, value: T, attributes: &[Attribute]) {
        self.cells.record(value, values(attributes));
    }
}

impl<T: UpDownCounterValue> UpDownCounter<T> {
    /// Adds `value`, which may be negative (see the [module docs](self)).
    ///
    /// ```
    /// # mod registry { pub mod metric {
    /// #     use semtel::conventions::model::*;
    /// #     pub const ORDERS_OPEN: UpDownCounterDescriptor<number::Unspecified> = match UpDownCounterDescriptor::new(MetricDescriptor {
    /// #         name: "orders.open", instrument: Instrument::UpDownCounter, unit: "{order}", number: None,
    /// #         stability: Stability::Development, attributes: &[],
    /// #     }) { Ok(d) => d, Err(_) => panic!() };
    /// # } }
    /// use semtel::instrument::UpDownCounter;
    ///
    /// // The registry leaves the number type open: the Rust type picks it.
    /// static OPEN: UpDownCounter<f64> = UpDownCounter::new(registry::metric::ORDERS_OPEN);
    /// OPEN.add(2.0, &[]);
    /// OPEN.add(-1.0, &[]);
    /// ```
    pub fn add(&self, value: T, attributes: &[Attribute]) {
        self.cells.record(value, values(attributes));
    }
}

impl<T: GaugeValue> Gauge<T> {
    /// Sets the gauge to `value` (see the [module docs](self)).
    ///
    /// ```
    /// # mod registry { pub mod metric {
    /// #     use semtel::conventions::model::*;
    /// #     pub const ORDERS_WATERMARK: GaugeDescriptor<number::Double> = match GaugeDescriptor::new(MetricDescriptor {
    /// #         name: "orders.watermark", instrument: Instrument::Gauge, unit: "s", number: Some(NumberType::Double),
    /// #         stability: Stability::Development, attributes: &[],
    /// #     }) { Ok(d) => d, Err(_) => panic!() };
    /// # } }
    /// use semtel::instrument::Gauge;
    ///
    /// static WATERMARK: Gauge<f64> = Gauge::new(registry::metric::ORDERS_WATERMARK);
    /// WATERMARK.record(1_700_000_000.0, &[]);
    /// ```
    pub fn record(&self, value: T, attributes: &[Attribute]) {
        self.cells.record(value, values(attributes));
    }
}

impl<T: HistogramValue> Histogram<T> {
    /// Records `value` in the distribution (see the [module docs](self)).
    ///
    /// ```
    /// use semtel::conventions::metric::HTTP_CLIENT_REQUEST_DURATION;
    /// use semtel::instrument::Histogram;
    ///
    /// static REQUESTS: Histogram<f64> = Histogram::new(HTTP_CLIENT_REQUEST_DURATION);
    /// REQUESTS.record(0.042, &[]);
    /// ```
    pub fn record(&self, value: T, attributes: &[Attribute]) {
        self.cells.record(value, values(attributes));
    }
}

/// The attributes that have a value.
fn values(attributes: &[Attribute]) -> impl Iterator<Item = &KeyValue> + Clone {
    attributes.iter().filter_map(|a| a.0.as_ref())
}
