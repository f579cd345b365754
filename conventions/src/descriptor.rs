//! Metric descriptors that carry their instrument and number type in their
//! Rust type, so an instrument made from one of the wrong kind does not
//! compile (re-exported by [`model`](crate::model)).
//!
//! Every generated `metric::` constant is one of these: a counter of the
//! registry is a [`CounterDescriptor`], with the registry's number type as
//! its parameter ([`number::Int`], [`number::Double`], or
//! [`number::Unspecified`] when the registry says neither). Each derefs to its
//! [`MetricDescriptor`], so `metric::X.name` and `metric::X.unit` read as
//! before.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use crate::model::{Instrument, MetricDescriptor, NumberType};

/// The number types of the registry (`annotations.code_generation.metric_value_type`)
/// as types: the parameter of a typed descriptor.
///
/// ```
/// use semtel_conventions::model::{HistogramDescriptor, number::Double};
/// use semtel_conventions::pipeline::metric::PIPELINE_STAGE_DURATION;
///
/// // `metric_value_type: double` in semtel's registry.
/// let _: HistogramDescriptor<Double> = PIPELINE_STAGE_DURATION;
/// ```
pub mod number {
    use crate::model::NumberType;

    /// A metric of integers (`metric_value_type: int`).
    ///
    /// ```
    /// use semtel_conventions::model::{CounterDescriptor, number::Int};
    /// let _: CounterDescriptor<Int> = semtel_conventions::pipeline::metric::PIPELINE_RECORDS;
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Int {}

    /// A metric of floating-point numbers (`metric_value_type: double`).
    ///
    /// ```
    /// use semtel_conventions::model::{GaugeDescriptor, number::Double};
    /// let _: GaugeDescriptor<Double> = semtel_conventions::pipeline::metric::PIPELINE_LAG;
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Double {}

    /// A metric whose registry entry does not say its number type: either
    /// fits.
    ///
    /// ```
    /// use semtel_conventions::model::{CounterDescriptor, MetricDescriptor, number::Unspecified};
    /// use semtel_conventions::model::{Instrument, Stability};
    ///
    /// let d = MetricDescriptor {
    ///     name: "shop.visits",
    ///     instrument: Instrument::Counter,
    ///     unit: "{visit}",
    ///     number: None,
    ///     stability: Stability::Development,
    ///     attributes: &[],
    /// };
    /// assert!(CounterDescriptor::<Unspecified>::new(d).is_ok());
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Unspecified {}

    /// One of [`Int`], [`Double`], [`Unspecified`].
    ///
    /// ```
    /// use semtel_conventions::model::NumberType;
    /// use semtel_conventions::model::number::{Int, Number, Unspecified};
    ///
    /// assert_eq!(Int::NUMBER, Some(NumberType::Int));
    /// assert_eq!(Unspecified::NUMBER, None);
    /// ```
    pub trait Number: sealed::Sealed + 'static {
        /// The number type a descriptor of this marker has.
        const NUMBER: Option<NumberType>;
    }

    impl Number for Int {
        const NUMBER: Option<NumberType> = Some(NumberType::Int);
    }
    impl Number for Double {
        const NUMBER: Option<NumberType> = Some(NumberType::Double);
    }
    impl Number for Unspecified {
        const NUMBER: Option<NumberType> = None;
    }

    mod sealed {
        pub trait Sealed {}
        impl Sealed for super::Int {}
        impl Sealed for super::Double {}
        impl Sealed for super::Unspecified {}
    }
}

use number::Number;

/// A [`MetricDescriptor`] whose instrument or number type is not the one
/// asked for.
///
/// ```
/// use semtel_conventions::model::{CounterDescriptor, number::Int};
/// use semtel_conventions::pipeline::metric::PIPELINE_STAGE_DURATION;
///
/// let err = CounterDescriptor::<Int>::try_from(PIPELINE_STAGE_DURATION.descriptor()).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "metric `pipeline.stage.duration` is a histogram of double, not a counter of int"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongKind {
    /// The descriptor's metric.
    pub name: &'static str,
    /// The instrument it has.
    pub instrument: Instrument,
    /// Its number type.
    pub number: Option<NumberType>,
    /// The instrument asked for.
    pub expected: Instrument,
    /// The number type asked for (`None`: unspecified).
    pub expected_number: Option<NumberType>,
}

impl fmt::Display for WrongKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |n: Option<NumberType>| match n {
            Some(NumberType::Int) => "int",
            Some(NumberType::Double) => "double",
            None => "unspecified",
        };
        write!(
            f,
            "metric `{}` is a {} of {}, not a {} of {}",
            self.name,
            self.instrument,
            n(self.number),
            self.expected,
            n(self.expected_number)
        )
    }
}

impl std::error::Error for WrongKind {}

/// Whether `d` is of `instrument` and number type `number`.
const fn is_kind(d: &MetricDescriptor, instrument: Instrument, number: Option<NumberType>) -> bool {
    let same_instrument = matches!(
        (d.instrument, instrument),
        (Instrument::Counter, Instrument::Counter)
            | (Instrument::UpDownCounter, Instrument::UpDownCounter)
            | (Instrument::Gauge, Instrument::Gauge)
            | (Instrument::Histogram, Instrument::Histogram)
    );
    let same_number = matches!(
        (d.number, number),
        (Some(NumberType::Int), Some(NumberType::Int))
            | (Some(NumberType::Double), Some(NumberType::Double))
            | (None, None)
    );
    same_instrument && same_number
}

macro_rules! typed_descriptor {
    ($(#[$doc:meta])* $name:ident, $instrument:ident, $example:literal, $constant:ident) => {
        $(#[$doc])*
        ///
        /// ```
        #[doc = concat!("use semtel_conventions::model::{", stringify!($name), ", Instrument};")]
        #[doc = concat!("use semtel_conventions::pipeline::metric::", stringify!($constant), ";")]
        ///
        #[doc = concat!("let typed: ", stringify!($name), "<_> = ", stringify!($constant), ";")]
        #[doc = concat!("assert_eq!(typed.instrument, Instrument::", stringify!($instrument), ");")]
        /// ```
        pub struct $name<N> {
            descriptor: MetricDescriptor,
            _number: PhantomData<fn() -> N>,
        }

        impl<N: Number> $name<N> {
            #[doc = concat!(
                "The typed descriptor of `descriptor`, or [`WrongKind`] when it is not a ",
                $example, " of number type `N`.\n\n",
                "```\n",
                "use semtel_conventions::model::{", stringify!($name), ", number::Unspecified};\n",
                "use semtel_conventions::model::{Instrument, MetricDescriptor, Stability};\n\n",
                "let d = MetricDescriptor {\n",
                "    name: \"shop.orders\",\n",
                "    instrument: Instrument::", stringify!($instrument), ",\n",
                "    unit: \"{order}\",\n",
                "    number: None,\n",
                "    stability: Stability::Development,\n",
                "    attributes: &[],\n",
                "};\n",
                "let typed = ", stringify!($name), "::<Unspecified>::new(d).unwrap();\n",
                "assert_eq!(typed.name, \"shop.orders\");\n",
                "```"
            )]
            pub const fn new(descriptor: MetricDescriptor) -> Result<Self, WrongKind> {
                if is_kind(&descriptor, Instrument::$instrument, N::NUMBER) {
                    Ok(Self {
                        descriptor,
                        _number: PhantomData,
                    })
                } else {
                    Err(WrongKind {
                        name: descriptor.name,
                        instrument: descriptor.instrument,
                        number: descriptor.number,
                        expected: Instrument::$instrument,
                        expected_number: N::NUMBER,
                    })
                }
            }

            /// Not public API: the constructor of generated constants, where a
            /// wrong kind stops the build (a panic in const evaluation).
            #[doc(hidden)]
            #[must_use]
            pub const fn generated(descriptor: MetricDescriptor) -> Self {
                match Self::new(descriptor) {
                    Ok(typed) => typed,
                    Err(_) => panic!("a generated descriptor of the wrong kind"),
                }
            }
        }

        impl<N> $name<N> {
            /// The untyped descriptor.
            ///
            /// ```
            #[doc = concat!("use semtel_conventions::pipeline::metric::", stringify!($constant), ";")]
            ///
            #[doc = concat!("let d = ", stringify!($constant), ".descriptor();")]
            #[doc = concat!("assert_eq!(d.name, ", stringify!($constant), ".name);")]
            /// ```
            #[must_use]
            pub const fn descriptor(self) -> MetricDescriptor {
                self.descriptor
            }
        }

        impl<N> Deref for $name<N> {
            type Target = MetricDescriptor;

            fn deref(&self) -> &MetricDescriptor {
                &self.descriptor
            }
        }

        impl<N> From<$name<N>> for MetricDescriptor {
            fn from(typed: $name<N>) -> MetricDescriptor {
                typed.descriptor
            }
        }

        impl<N: Number> TryFrom<MetricDescriptor> for $name<N> {
            type Error = WrongKind;

            fn try_from(descriptor: MetricDescriptor) -> Result<Self, WrongKind> {
                Self::new(descriptor)
            }
        }

        impl<N> Clone for $name<N> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<N> Copy for $name<N> {}

        impl<N> PartialEq for $name<N> {
            fn eq(&self, other: &Self) -> bool {
                self.descriptor == other.descriptor
            }
        }

        impl<N> Eq for $name<N> {}

        impl<N> core::hash::Hash for $name<N> {
            fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
                self.descriptor.hash(state);
            }
        }

        impl<N> fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.descriptor).finish()
            }
        }
    };
}

typed_descriptor!(
    /// A `counter` of a registry (a monotonic sum), of number type `N`.
    CounterDescriptor,
    Counter,
    "counter",
    PIPELINE_RECORDS
);
typed_descriptor!(
    /// An `updowncounter` of a registry (a sum that goes up and down), of
    /// number type `N`.
    UpDownCounterDescriptor,
    UpDownCounter,
    "up-down counter",
    PIPELINE_STAGE_ACTIVE
);
typed_descriptor!(
    /// A `gauge` of a registry (the last value), of number type `N`.
    GaugeDescriptor,
    Gauge,
    "gauge",
    PIPELINE_LAG
);
typed_descriptor!(
    /// A `histogram` of a registry (a distribution), of number type `N`.
    HistogramDescriptor,
    Histogram,
    "histogram",
    PIPELINE_STAGE_DURATION
);

#[cfg(test)]
mod tests {
    use super::number::{Double, Int, Unspecified};
    use super::*;
    use crate::model::Stability;

    const fn d(instrument: Instrument, number: Option<NumberType>) -> MetricDescriptor {
        MetricDescriptor {
            name: "m",
            instrument,
            unit: "1",
            number,
            stability: Stability::Development,
            attributes: &[],
        }
    }

    #[test]
    fn a_descriptor_of_another_kind_is_a_typed_error() {
        let counter = d(Instrument::Counter, Some(NumberType::Int));
        assert!(CounterDescriptor::<Int>::new(counter).is_ok());
        let err = HistogramDescriptor::<Int>::new(counter).unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric `m` is a counter of int, not a histogram of int"
        );
        let err = CounterDescriptor::<Double>::new(counter).unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric `m` is a counter of int, not a counter of double"
        );
        assert!(CounterDescriptor::<Unspecified>::new(counter).is_err());
        let unspecified = d(Instrument::Gauge, None);
        assert!(GaugeDescriptor::<Unspecified>::try_from(unspecified).is_ok());
        assert!(GaugeDescriptor::<Double>::try_from(unspecified).is_err());
    }
}
