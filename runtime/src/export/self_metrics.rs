//! semtel's own counts as metrics, under the SDK self-observability names
//! of the semantic conventions (`otel.sdk.*`): what each queue processed
//! or dropped and holds, what each exporter exported or failed. Read from
//! the same counters as the [`ShutdownReport`](super::ShutdownReport), at
//! each collection, so they cost nothing between collections.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use semtel_conventions::attribute as attr;
use semtel_conventions::metric as m;

use super::report::Reporter;
use crate::config::Signal;

/// One destination's counts as the self-telemetry reads them.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) signal: Signal,
    /// `otel.component.type` of its exporter, e.g. `otlp_http_span_exporter`.
    pub(crate) exporter: &'static str,
    /// Its queue's capacity (spans and logs; metrics have none).
    pub(crate) capacity: Option<u64>,
}

/// `error.type` of items a full queue dropped.
const QUEUE_FULL: &str = "queue_full";
/// `error.type` of items in exports that failed or timed out.
const EXPORT_FAILED: &str = "export_failed";

/// Stage spans the threads' rings dropped (each traces destination
/// misses them, as in the shutdown report).
pub(crate) type RingDrops = Box<dyn Fn() -> u64 + Send + Sync>;

/// Registers the observable instruments on `meter`.
pub(crate) fn register(meter: &Meter, components: Vec<Component>, ring_drops: RingDrops) {
    let components: Arc<[Named]> = name(components).into();
    let ring_drops: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::from(ring_drops);
    for signal in [Signal::Traces, Signal::Logs] {
        let (processed, size, capacity, exported) = match signal {
            Signal::Traces => (
                m::OTEL_SDK_PROCESSOR_SPAN_PROCESSED,
                m::OTEL_SDK_PROCESSOR_SPAN_QUEUE_SIZE,
                m::OTEL_SDK_PROCESSOR_SPAN_QUEUE_CAPACITY,
                m::OTEL_SDK_EXPORTER_SPAN_EXPORTED,
            ),
            _ => (
                m::OTEL_SDK_PROCESSOR_LOG_PROCESSED,
                m::OTEL_SDK_PROCESSOR_LOG_QUEUE_SIZE,
                m::OTEL_SDK_PROCESSOR_LOG_QUEUE_CAPACITY,
                m::OTEL_SDK_EXPORTER_LOG_EXPORTED,
            ),
        };
        let c = Arc::clone(&components);
        let rings = Arc::clone(&ring_drops);
        meter
            .u64_observable_counter(processed.name)
            .with_unit(processed.unit)
            .with_callback(move |o| {
                let in_rings = if signal == Signal::Traces { rings() } else { 0 };
                for n in c.iter().filter(|n| n.signal == signal) {
                    let r = n.reporter.report();
                    o.observe(r.exported + r.failed, &n.processor);
                    let dropped = r.dropped + in_rings;
                    if dropped > 0 {
                        o.observe(dropped, &with_error(&n.processor, QUEUE_FULL));
                    }
                }
            })
            .build();
        let c = Arc::clone(&components);
        meter
            .i64_observable_up_down_counter(size.name)
            .with_unit(size.unit)
            .with_callback(move |o| {
                for n in c.iter().filter(|n| n.signal == signal) {
                    let held = i64::try_from(n.reporter.report().unflushed).unwrap_or(i64::MAX);
                    o.observe(held, &n.processor);
                }
            })
            .build();
        let c = Arc::clone(&components);
        meter
            .i64_observable_up_down_counter(capacity.name)
            .with_unit(capacity.unit)
            .with_callback(move |o| {
                for n in c.iter().filter(|n| n.signal == signal) {
                    if let Some(cap) = n.capacity {
                        o.observe(i64::try_from(cap).unwrap_or(i64::MAX), &n.processor);
                    }
                }
            })
            .build();
        exported_counter(meter, exported, signal, &components);
    }
    exported_counter(
        meter,
        m::OTEL_SDK_EXPORTER_METRIC_DATA_POINT_EXPORTED,
        Signal::Metrics,
        &components,
    );
}

fn exported_counter(
    meter: &Meter,
    def: semtel_conventions::model::CounterDescriptor<semtel_conventions::model::number::Int>,
    signal: Signal,
    components: &Arc<[Named]>,
) {
    let c = Arc::clone(components);
    meter
        .u64_observable_counter(def.name)
        .with_unit(def.unit)
        .with_callback(move |o| {
            for n in c.iter().filter(|n| n.signal == signal) {
                let r = n.reporter.report();
                o.observe(r.exported, &n.exporter);
                if r.failed > 0 {
                    o.observe(r.failed, &with_error(&n.exporter, EXPORT_FAILED));
                }
            }
        })
        .build();
}

/// A component with its attribute sets.
#[derive(Debug)]
struct Named {
    reporter: Arc<dyn Reporter>,
    signal: Signal,
    capacity: Option<u64>,
    processor: Vec<KeyValue>,
    exporter: Vec<KeyValue>,
}

/// `otel.component.name`s: the type and its index among components of that
/// type, as the conventions suggest (`batching_span_processor/0`).
fn name(components: Vec<Component>) -> Vec<Named> {
    let mut seen: Vec<&'static str> = Vec::new();
    let mut index = |ty: &'static str| {
        let i = seen.iter().filter(|t| **t == ty).count();
        seen.push(ty);
        format!("{ty}/{i}")
    };
    let set = |ty: &'static str, name: String| {
        vec![
            KeyValue::new(attr::OTEL_COMPONENT_TYPE.name(), ty),
            KeyValue::new(attr::OTEL_COMPONENT_NAME.name(), name),
        ]
    };
    components
        .into_iter()
        .map(|c| {
            let processor_type = match c.signal {
                Signal::Traces => "batching_span_processor",
                Signal::Logs => "batching_log_processor",
                Signal::Metrics => "periodic_metric_reader",
            };
            let processor = set(processor_type, index(processor_type));
            let exporter = set(c.exporter, index(c.exporter));
            Named {
                reporter: c.reporter,
                signal: c.signal,
                capacity: c.capacity,
                processor,
                exporter,
            }
        })
        .collect()
}

fn with_error(attrs: &[KeyValue], error_type: &'static str) -> Vec<KeyValue> {
    let mut out = attrs.to_vec();
    out.push(KeyValue::new(attr::ERROR_TYPE.name(), error_type));
    out
}
