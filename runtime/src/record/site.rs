//! The facts of a `#[stage]` call site that its spans carry, known at
//! compile time, and the metric cells the site's calls record into.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::metrics::{BoundCounter, BoundHistogram};
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use semtel_conventions::attribute as attr;
use semtel_conventions::pipeline::attribute as pattr;

use super::clock;
use crate::metric::{Exemplar, SiteExemplars};

/// What a stage does in its pipeline (`pipeline.stage.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Reads records in (a file, a topic, a table).
    Source,
    /// Changes records.
    Transform,
    /// Writes records out.
    Sink,
}

impl StageKind {
    /// The attribute value.
    pub const fn as_str(self) -> &'static str {
        match self {
            StageKind::Source => "source",
            StageKind::Transform => "transform",
            StageKind::Sink => "sink",
        }
    }
}

/// What a call site's spans share, and what the layers below the stage
/// need of it: its span's name, kind and constant attributes (and their
/// OTLP encoding), and the metric cells the collector records successful
/// calls' durations into.
#[derive(Debug)]
pub(crate) struct SpanSite {
    pipeline: Option<&'static str>,
    stage: &'static str,
    kind: Option<StageKind>,
    span_kind: Option<SpanKind>,
    /// `fields(...)` whose values are literals, known at compile time.
    fields: &'static [(&'static str, StaticValue)],
    /// The span attributes every call of this site has, built on first use.
    span_attributes: OnceLock<Box<[KeyValue]>>,
    /// The fields every span of this site has, encoded for OTLP: name,
    /// kind and the attributes above.
    encoded_span_fields: OnceLock<Box<[u8]>>,
    /// The metric cells of this call site, bound to the meter provider that
    /// `init()` installed (tagged with its generation).
    pub(crate) cells: OnceLock<SiteCells>,
    /// The cells of what a call records from inside (`semtel::stage::current()`),
    /// bound on first use.
    pub(crate) more_cells: OnceLock<MoreCells>,
    /// Exemplars of this site's calls, for the stage metrics; allocated
    /// on the first, so the site stays small.
    exemplars: OnceLock<&'static SiteExemplars>,
}

/// The bound counters a call records into from inside its body: bytes,
/// retries and dead letters (records go into [`SiteCells`]).
pub(crate) struct MoreCells {
    pub(crate) generation: u64,
    // Each bound on its first count: a bound cell is a series from then on,
    // so binding all four at once would export zeros the stage never counted.
    pub(crate) bytes_in: OnceLock<BoundCounter<u64>>,
    pub(crate) bytes_out: OnceLock<BoundCounter<u64>>,
    pub(crate) retries: OnceLock<BoundCounter<u64>>,
    pub(crate) dead_letters: OnceLock<BoundCounter<u64>>,
}

impl fmt::Debug for MoreCells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MoreCells")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Instruments bound to one call site's attribute sets: recording into them
/// skips the SDK's per-measurement sorting and hashing of attributes.
pub(crate) struct SiteCells {
    pub(crate) generation: u64,
    pub(crate) duration: BoundHistogram<f64>,
    /// `None` for a direction the stage does not count.
    pub(crate) records_in: Option<BoundCounter<u64>>,
    pub(crate) records_out: Option<BoundCounter<u64>>,
}

impl SiteCells {
    /// Records a successful call's duration.
    pub(crate) fn record_duration(&self, start: u64, end: u64) {
        self.duration.record(clock::seconds_between(start, end));
    }
}

impl fmt::Debug for SiteCells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteCells")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl SpanSite {
    /// A call site of stage `stage`, in pipeline `pipeline` when named.
    pub(crate) const fn new(
        pipeline: Option<&'static str>,
        stage: &'static str,
        kind: Option<StageKind>,
        span_kind: Option<SpanKind>,
        fields: &'static [(&'static str, StaticValue)],
    ) -> Self {
        Self {
            pipeline,
            stage,
            kind,
            span_kind,
            fields,
            span_attributes: OnceLock::new(),
            encoded_span_fields: OnceLock::new(),
            cells: OnceLock::new(),
            more_cells: OnceLock::new(),
            exemplars: OnceLock::new(),
        }
    }

    /// This site's exemplars.
    #[inline]
    pub(crate) fn exemplars(&self) -> &'static SiteExemplars {
        // One per call site, which lives as long as the program.
        self.exemplars
            .get_or_init(|| Box::leak(Box::new(SiteExemplars::new())))
    }

    /// Offers a call's duration as an exemplar (the filter admitted it).
    pub(crate) fn duration_exemplar(&self, error_type: Option<&str>, exemplar: Exemplar) {
        self.exemplars()
            .duration(|| self.attributes(None), error_type, exemplar);
    }

    /// This site's bound cells, once a call has bound them.
    pub(crate) fn bound_cells(&self) -> Option<&SiteCells> {
        self.cells.get()
    }

    /// The stage name.
    pub(crate) const fn stage(&self) -> &'static str {
        self.stage
    }

    pub(crate) fn span_kind(&self) -> Option<SpanKind> {
        self.span_kind.clone()
    }

    /// The span name, kind and [`SpanSite::span_attributes`] encoded for
    /// OTLP by `encode`, on first use.
    pub(crate) fn encoded_span_fields(
        &self,
        encode: impl FnOnce(&str, Option<&SpanKind>, &[KeyValue]) -> Box<[u8]>,
    ) -> &[u8] {
        self.encoded_span_fields
            .get_or_init(|| encode(self.stage, self.span_kind.as_ref(), self.span_attributes()))
    }

    /// The attributes every span of this site starts with.
    pub(crate) fn span_attributes(&self) -> &[KeyValue] {
        self.span_attributes.get_or_init(|| {
            let mut attrs = self.common_attributes(None);
            attrs.extend(
                self.fields
                    .iter()
                    .map(|(k, v)| KeyValue::new(*k, v.value())),
            );
            attrs.into_boxed_slice()
        })
    }

    /// The attributes of the stage's metrics: the pipeline, stage and kind,
    /// the literal `fields(...)` the registry puts on stage metrics
    /// ([`METRIC_FIELDS`]: fixed at compile time, so low-cardinality), and
    /// `error_type`.
    pub(crate) fn attributes(&self, error_type: Option<&str>) -> Vec<KeyValue> {
        let mut attrs = self.common_attributes(error_type);
        attrs.extend(
            self.fields
                .iter()
                .filter(|(k, _)| METRIC_FIELDS.contains(k))
                .map(|(k, v)| KeyValue::new(*k, v.value())),
        );
        attrs
    }

    /// What a stage's spans and metrics both carry.
    fn common_attributes(&self, error_type: Option<&str>) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(4);
        if let Some(p) = self.pipeline {
            attrs.push(KeyValue::new(pattr::PIPELINE_NAME.name(), p));
        }
        attrs.push(KeyValue::new(pattr::PIPELINE_STAGE_NAME.name(), self.stage));
        if let Some(k) = self.kind {
            attrs.push(KeyValue::new(pattr::PIPELINE_STAGE_KIND.name(), k.as_str()));
        }
        if let Some(e) = error_type {
            attrs.push(KeyValue::new(attr::ERROR_TYPE.name(), e.to_owned()));
        }
        attrs
    }
}

/// Attributes of semtel's registry group `attributes.pipeline.stage`
/// (every stage metric) that a stage gives in `fields(...)`: conditionally
/// required or recommended there, so a literal value of one goes on the
/// stage's metrics as well as its span.
const METRIC_FIELDS: [&str; 4] = [
    attr::DB_SYSTEM_NAME.name(),
    attr::DB_COLLECTION_NAME.name(),
    attr::MESSAGING_SYSTEM.name(),
    attr::MESSAGING_DESTINATION_NAME.name(),
];

/// A `fields(...)` value known at compile time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StaticValue {
    /// A string literal.
    Str(&'static str),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Double(f64),
    /// A bool literal.
    Bool(bool),
}

impl StaticValue {
    fn value(self) -> Value {
        match self {
            StaticValue::Str(s) => Value::from(s),
            StaticValue::Int(i) => Value::I64(i),
            StaticValue::Double(d) => Value::F64(d),
            StaticValue::Bool(b) => Value::Bool(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use semtel_conventions::model::RequirementLevel;

    /// [`super::METRIC_FIELDS`] are what the registry puts on every stage
    /// metric besides semtel's own `pipeline.*` and `error.type`, opt-in
    /// ones left out.
    #[test]
    fn metric_fields_are_the_registrys_stage_metric_attributes() {
        let def = semtel_conventions::metric("pipeline.stage.duration").expect("in the registry");
        let mut registry: Vec<&str> = def
            .attributes
            .iter()
            .filter(|a| a.requirement != RequirementLevel::OptIn)
            .map(|a| a.name)
            .filter(|n| !n.starts_with("pipeline.") && *n != "error.type")
            .collect();
        registry.sort_unstable();
        let mut ours = super::METRIC_FIELDS.to_vec();
        ours.sort_unstable();
        assert_eq!(ours, registry);
    }
}
