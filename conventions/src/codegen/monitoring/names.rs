//! The Prometheus names of semtel's pipeline metrics and of the SDK
//! self-observability metrics, taken from the registries' tables.

use super::Error;
use crate::model::MetricDef;
use crate::pipeline::{attribute as pattr, metric as pmetric};
use crate::prometheus::{MetricType, label_name, metric_name};

/// Prometheus metric and label names the rules and dashboards use.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub duration: String,
    pub records: String,
    pub failures: String,
    pub active: String,
    pub lag: String,
    pub bytes: String,
    pub retries: String,
    pub dead_letters: String,
    pub pipeline: String,
    pub stage: String,
    pub direction: String,
    pub error_type: String,
    /// `(signal, processor's processed counter or None, exporter's exported counter)`.
    pub sdk: Vec<SdkSignal>,
    pub component_type: String,
    pub component_name: String,
}

/// The self-observability metrics of one signal.
#[derive(Debug, Clone)]
pub(crate) struct SdkSignal {
    /// `spans`, `logs`, `metric points`: the `signal` label the rules add.
    pub signal: &'static str,
    pub processed: Option<String>,
    pub exported: String,
    pub queue_size: Option<String>,
    pub queue_capacity: Option<String>,
}

fn descriptor(d: impl Into<crate::model::MetricDescriptor>) -> String {
    let d = d.into();
    metric_name(d.name, d.unit, MetricType::of(d.instrument))
}

/// A metric of the official registry, by name: an error when the tables lack it.
fn official(name: &str) -> Result<String, Error> {
    let def: &MetricDef = crate::official::REGISTRY
        .metric(name)
        .ok_or_else(|| Error::Names(format!("the official registry has no metric `{name}`")))?;
    Ok(crate::prometheus::metric_name_of(def))
}

fn label(attr: &str) -> String {
    label_name(attr).unwrap_or_else(|| attr.replace('.', "_"))
}

impl Names {
    pub(crate) fn new() -> Result<Self, Error> {
        let mut sdk = Vec::new();
        for (signal, short) in [("spans", "span"), ("logs", "log")] {
            sdk.push(SdkSignal {
                signal,
                processed: Some(official(&format!("otel.sdk.processor.{short}.processed"))?),
                exported: official(&format!("otel.sdk.exporter.{short}.exported"))?,
                queue_size: Some(official(&format!("otel.sdk.processor.{short}.queue.size"))?),
                queue_capacity: Some(official(&format!(
                    "otel.sdk.processor.{short}.queue.capacity"
                ))?),
            });
        }
        sdk.push(SdkSignal {
            signal: "metric points",
            processed: None,
            exported: official("otel.sdk.exporter.metric_data_point.exported")?,
            queue_size: None,
            queue_capacity: None,
        });
        for attr in ["otel.component.type", "otel.component.name"] {
            if crate::official::REGISTRY.attribute(attr).is_none() {
                return Err(Error::Names(format!(
                    "the official registry has no attribute `{attr}`"
                )));
            }
        }
        Ok(Self {
            duration: descriptor(pmetric::PIPELINE_STAGE_DURATION),
            records: descriptor(pmetric::PIPELINE_RECORDS),
            failures: descriptor(pmetric::PIPELINE_STAGE_FAILURES),
            active: descriptor(pmetric::PIPELINE_STAGE_ACTIVE),
            lag: descriptor(pmetric::PIPELINE_LAG),
            bytes: descriptor(pmetric::PIPELINE_BYTES),
            retries: descriptor(pmetric::PIPELINE_RETRIES),
            dead_letters: descriptor(pmetric::PIPELINE_DEAD_LETTERS),
            pipeline: label(pattr::PIPELINE_NAME.name()),
            stage: label(pattr::PIPELINE_STAGE_NAME.name()),
            direction: label(pattr::PIPELINE_IO_DIRECTION.name()),
            error_type: label(crate::attribute::ERROR_TYPE.name()),
            sdk,
            component_type: label("otel.component.type"),
            component_name: label("otel.component.name"),
        })
    }

    /// `pipeline_name, pipeline_stage_name`.
    pub(crate) fn by_stage(&self) -> String {
        format!("{}, {}", self.pipeline, self.stage)
    }

    /// The `_count` series of the duration histogram: one per stage call.
    pub(crate) fn calls(&self) -> String {
        format!("{}_count", self.duration)
    }
}
