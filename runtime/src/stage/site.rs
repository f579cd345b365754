//! A `#[stage]` call site: its span's facts ([`SpanSite`]) and what its
//! metrics need (attribute sets, the in-flight count).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64};

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use semtel_conventions::pipeline::attribute as pattr;

use crate::record::{SpanSite, StageKind, StaticValue};

/// The facts of one `#[stage]` call site, known at compile time.
#[derive(Debug)]
pub struct StageSite {
    /// What its spans share (the layers below see only this).
    pub(crate) span: SpanSite,
    /// The metric attribute sets of this call site, built on first use.
    bound: OnceLock<BoundAttributes>,
    /// Calls of this site in flight (`pipeline.stage.active`), observed at
    /// collection instead of recorded per call.
    pub(super) active: AtomicI64,
    /// Whether this site is in [`SITES`](super::metrics::SITES).
    pub(super) listed: AtomicBool,
    /// The `pipeline.records` directions the stage declares (`records_in`,
    /// `records_out`): only those are bound, so a direction it does not
    /// count is not exported as a zero.
    pub(super) records: Directions,
}

/// The `pipeline.records` directions a stage counts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Directions {
    pub(super) records_in: bool,
    pub(super) records_out: bool,
}

/// Attribute sets a call site records with, built once instead of per call.
#[derive(Debug)]
pub(super) struct BoundAttributes {
    pub(super) call: Box<[KeyValue]>,
    pub(super) records_in: Box<[KeyValue]>,
    pub(super) records_out: Box<[KeyValue]>,
}

impl StageSite {
    /// A call site of stage `stage`, in pipeline `pipeline` when named.
    pub const fn new(
        pipeline: Option<&'static str>,
        stage: &'static str,
        kind: Option<StageKind>,
        span_kind: Option<SpanKind>,
        fields: &'static [(&'static str, StaticValue)],
    ) -> Self {
        Self {
            span: SpanSite::new(pipeline, stage, kind, span_kind, fields),
            active: AtomicI64::new(0),
            listed: AtomicBool::new(false),
            bound: OnceLock::new(),
            records: Directions {
                records_in: false,
                records_out: false,
            },
        }
    }

    /// This call site, counting the `pipeline.records` directions its stage
    /// declares.
    #[must_use]
    pub const fn records(mut self, records_in: bool, records_out: bool) -> Self {
        self.records = Directions {
            records_in,
            records_out,
        };
        self
    }

    pub(super) fn bound(&self) -> &BoundAttributes {
        self.bound.get_or_init(|| {
            let call = self.span.attributes(None);
            let with_direction = |direction: &'static str| {
                let mut attrs = call.clone();
                attrs.push(KeyValue::new(
                    pattr::PIPELINE_IO_DIRECTION.name(),
                    direction,
                ));
                attrs.into_boxed_slice()
            };
            BoundAttributes {
                records_in: with_direction("in"),
                records_out: with_direction("out"),
                call: call.into_boxed_slice(),
            }
        })
    }

    /// The stage name.
    pub const fn stage(&self) -> &'static str {
        self.span.stage()
    }
}
