//! The per-call part of the typed instruments of [`crate::instrument`]: one
//! SDK instrument per meter provider (rebuilt when `init()` installs a new
//! one, as the stage instruments are), and per stage call site a bound
//! instrument with that stage's labels.

use std::sync::atomic::Ordering;
use std::sync::{OnceLock, PoisonError, RwLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    BoundCounter, BoundGauge, BoundHistogram, BoundUpDownCounter, Counter, Gauge, Histogram, Meter,
    UpDownCounter,
};
use semtel_conventions::model::{MetricDescriptor, RequirementLevel};

use super::counters::MAX_INCREMENT;
use super::handle::running;
use super::metrics::{GENERATION, METRICS_ON, instruments};
use crate::metric::exemplar::DURATION_BOUNDS;
use crate::record::SpanSite;

/// Not public API: how one SDK instrument of one number type is built,
/// bound and recorded (the value types of [`crate::instrument`] name it).
#[doc(hidden)]
pub trait Kind: Send + Sync + Sized + 'static {
    /// The number recorded.
    type Value: Copy;
    /// The instrument bound to one attribute set.
    type Bound: Send + Sync;
    /// The instrument of `d` from `meter`.
    fn build(meter: &Meter, d: &MetricDescriptor) -> Self;
    /// This instrument bound to `attributes`.
    fn bind_to(&self, attributes: &[KeyValue]) -> Self::Bound;
    /// Records `value` with `attributes`.
    fn measure(&self, value: Self::Value, attributes: &[KeyValue]);
    /// Records `value` into `bound`.
    fn measure_bound(bound: &Self::Bound, value: Self::Value);
    /// The value as recorded, `None` to record nothing.
    fn admit(value: Self::Value) -> Option<Self::Value>;
}

macro_rules! kind {
    ($ty:ident, $bound:ident, $value:ty, $build:ident, $method:ident, |$v:ident| $admit:expr) => {
        impl Kind for $ty<$value> {
            type Value = $value;
            type Bound = $bound<$value>;

            fn build(meter: &Meter, d: &MetricDescriptor) -> Self {
                kind!(@build $ty, meter.$build(d.name).with_unit(d.unit), d)
            }

            fn bind_to(&self, attributes: &[KeyValue]) -> Self::Bound {
                self.bind(attributes)
            }

            fn measure(&self, value: $value, attributes: &[KeyValue]) {
                self.$method(value, attributes);
            }

            fn measure_bound(bound: &Self::Bound, value: $value) {
                bound.$method(value);
            }

            fn admit($v: $value) -> Option<$value> {
                $admit
            }
        }
    };
    // A histogram in seconds gets the stage duration's buckets (the SDK's
    // default ones are for milliseconds).
    (@build Histogram, $builder:expr, $d:ident) => {
        if $d.unit == "s" {
            $builder.with_boundaries(DURATION_BOUNDS.to_vec()).build()
        } else {
            $builder.build()
        }
    };
    (@build $ty:ident, $builder:expr, $d:ident) => {
        $builder.build()
    };
}

// OTLP's integer points are signed: a larger `u64` would arrive negative.
kind!(Counter, BoundCounter, u64, u64_counter, add, |v| Some(
    v.min(MAX_INCREMENT)
));
kind!(Counter, BoundCounter, f64, f64_counter, add, |v| (v
    .is_finite()
    && v >= 0.0)
    .then_some(v));
kind!(
    UpDownCounter,
    BoundUpDownCounter,
    i64,
    i64_up_down_counter,
    add,
    |v| Some(v)
);
kind!(
    UpDownCounter,
    BoundUpDownCounter,
    f64,
    f64_up_down_counter,
    add,
    |v| v.is_finite().then_some(v)
);
kind!(Gauge, BoundGauge, u64, u64_gauge, record, |v| Some(
    v.min(MAX_INCREMENT)
));
kind!(Gauge, BoundGauge, i64, i64_gauge, record, |v| Some(v));
kind!(Gauge, BoundGauge, f64, f64_gauge, record, |v| v
    .is_finite()
    .then_some(v));
kind!(Histogram, BoundHistogram, u64, u64_histogram, record, |v| {
    Some(v.min(MAX_INCREMENT))
});
kind!(Histogram, BoundHistogram, f64, f64_histogram, record, |v| v
    .is_finite()
    .then_some(v));

/// Bound instruments read without a lock: an instrument is mostly recorded
/// in a few stages. More go to [`Built::sites`].
const SLOTS: usize = 8;

/// One typed instrument: its descriptor, and its SDK instrument with the
/// bound instruments of the call sites it was recorded in, for the meter
/// provider of one generation.
pub(crate) struct Cells<I: Kind> {
    descriptor: MetricDescriptor,
    /// Filled in order under `built`'s write lock, never emptied: a slot of
    /// an earlier meter provider stays, unused.
    slots: [OnceLock<Slot<I::Bound>>; SLOTS],
    built: RwLock<Option<Built<I>>>,
}

struct Slot<B> {
    generation: u64,
    /// A call site's address (0: outside a stage, no labels).
    key: usize,
    bound: B,
}

struct Built<I: Kind> {
    generation: u64,
    instrument: I,
    /// Bound to a call site's labels, by the site's address, beyond the
    /// slots.
    sites: Vec<(usize, I::Bound)>,
}

impl<I: Kind> Cells<I> {
    pub(crate) const fn new(descriptor: MetricDescriptor) -> Self {
        Self {
            descriptor,
            slots: [const { OnceLock::new() }; SLOTS],
            built: RwLock::new(None),
        }
    }

    pub(crate) fn descriptor(&self) -> MetricDescriptor {
        self.descriptor
    }

    /// Records `value` with the running stage's labels (those the metric's
    /// registry entry lists) and `attributes`, which win over a label of
    /// the same key.
    pub(crate) fn record<'a>(
        &self,
        value: I::Value,
        attributes: impl Iterator<Item = &'a KeyValue> + Clone,
    ) {
        if !METRICS_ON.load(Ordering::Relaxed) {
            return;
        }
        let Some(value) = I::admit(value) else {
            return;
        };
        let site = running().map(|r| r.site);
        let generation = GENERATION.load(Ordering::Acquire);
        if attributes.clone().next().is_none() {
            let key = site.map_or(0, |s| std::ptr::from_ref(s) as usize);
            match self.slot(generation, key) {
                Some(bound) => I::measure_bound(bound, value),
                None => self.bind_and_record(generation, key, site, value),
            }
        } else {
            let mut labels = site.map_or_else(Vec::new, |s| self.labels(s));
            labels.retain(|kv| !attributes.clone().any(|a| a.key == kv.key));
            labels.extend(attributes.cloned());
            self.with_instrument(generation, |i| i.measure(value, &labels));
        }
    }

    /// The bound instrument of `key` in a slot, if one is there.
    #[inline]
    fn slot(&self, generation: u64, key: usize) -> Option<&I::Bound> {
        for slot in &self.slots {
            let s = slot.get()?;
            if s.key == key && s.generation == generation {
                return Some(&s.bound);
            }
        }
        None
    }

    #[cold]
    fn bind_and_record(
        &self,
        generation: u64,
        key: usize,
        site: Option<&'static SpanSite>,
        value: I::Value,
    ) {
        {
            let built = self.built.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(b) = built.as_ref().filter(|b| b.generation == generation)
                && let Some((_, bound)) = b.sites.iter().find(|(k, _)| *k == key)
            {
                I::measure_bound(bound, value);
                return;
            }
        }
        let mut built = self.current(generation);
        // Bound by another thread meanwhile.
        if let Some(bound) = self.slot(generation, key) {
            I::measure_bound(bound, value);
            return;
        }
        let Some(b) = built.as_mut() else {
            return;
        };
        if let Some((_, bound)) = b.sites.iter().find(|(k, _)| *k == key) {
            I::measure_bound(bound, value);
            return;
        }
        let labels = site.map_or_else(Vec::new, |s| self.labels(s));
        let bound = b.instrument.bind_to(&labels);
        I::measure_bound(&bound, value);
        let free = self.slots.iter().find(|s| s.get().is_none());
        match free {
            // Under the write lock: no other thread fills it.
            Some(slot) => {
                let _ = slot.set(Slot {
                    generation,
                    key,
                    bound,
                });
            }
            None => b.sites.push((key, bound)),
        }
    }

    /// Runs `f` with the instrument of the meter provider of `generation`.
    fn with_instrument(&self, generation: u64, f: impl FnOnce(&I)) {
        {
            let built = self.built.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(b) = built.as_ref().filter(|b| b.generation == generation) {
                f(&b.instrument);
                return;
            }
        }
        if let Some(b) = self.current(generation).as_ref() {
            f(&b.instrument);
        }
    }

    /// The instrument of the meter provider of `generation`, built when the
    /// one held is from an earlier provider.
    fn current(&self, generation: u64) -> std::sync::RwLockWriteGuard<'_, Option<Built<I>>> {
        let mut built = self.built.write().unwrap_or_else(PoisonError::into_inner);
        if built.as_ref().is_none_or(|b| b.generation != generation) {
            *built = Some(Built {
                generation,
                instrument: I::build(&instruments().meter, &self.descriptor),
                sites: Vec::new(),
            });
        }
        built
    }

    /// The stage labels of `site` that the metric's registry entry lists
    /// (and does not leave to the user, as opt-in).
    fn labels(&self, site: &SpanSite) -> Vec<KeyValue> {
        let mut labels = site.attributes(None);
        labels.retain(|kv| {
            self.descriptor
                .attribute(kv.key.as_str())
                .is_some_and(|a| a.requirement != RequirementLevel::OptIn)
        });
        labels
    }
}
