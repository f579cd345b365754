//! [`Capture`]: a session whose spans and log records stay in memory, and
//! the process's stage metrics read from an in-memory reader.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, HistogramDataPoint, NumberDataPoint, metric::Data,
};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use prost::Message as _;

use super::snapshot::Snapshot;
use crate::config::Signal;
use crate::export::MemorySink;
use crate::metric::shared_reader::SharedReader;
use crate::{Builder, Error, Session};

/// Captures what the code under test emits, in memory: stage and `tracing`
/// spans and log records of the thread that started it, and the metrics
/// recorded meanwhile. See the [module docs](super) for an example and for
/// what parallel tests share.
#[must_use = "the capture ends when dropped"]
pub struct Capture {
    // Dropped first: the thread stops using the session before it ends.
    _default: tracing::dispatcher::DefaultGuard,
    session: Session,
    sink: MemorySink,
    metrics: Option<&'static SharedMetrics>,
    baseline: ExportMetricsServiceRequest,
    started: u64,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").finish_non_exhaustive()
    }
}

impl Capture {
    /// Starts capturing on this thread, with default settings and no
    /// environment variable read.
    ///
    /// # Panics
    /// When a thread of semtel's cannot start (as
    /// [`Capture::with_builder`]'s errors).
    pub fn start() -> Self {
        let builder = crate::builder().env(|_| None);
        Self::with_builder(builder).unwrap_or_else(|e| panic!("semtel::testing::Capture: {e}"))
    }

    /// Starts capturing on this thread with `builder`'s settings (a log
    /// filter, a sampler, span limits, resource attributes); its exporters
    /// are replaced by the capture.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn with_builder(builder: Builder) -> Result<Self, Error> {
        let sink = MemorySink::default();
        let session = builder
            .exporters(Signal::Traces, &[])
            .exporters(Signal::Metrics, &[])
            .exporters(Signal::Logs, &[])
            .self_metrics(false)
            .memory(sink.clone())
            .build()?;
        let metrics = (!session.config().disabled).then(|| shared_metrics(&session));
        let baseline = metrics.map(SharedMetrics::collect).unwrap_or_default();
        let default = tracing::dispatcher::set_default(session.dispatch());
        Ok(Self {
            _default: default,
            session,
            sink,
            metrics,
            baseline,
            started: now(),
        })
    }

    /// Flushes, then returns everything captured since the start.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.session.flush();
        let stored = self.sink.stored();
        let traces: Vec<ExportTraceServiceRequest> = (stored.traces.iter())
            .filter_map(|bytes| ExportTraceServiceRequest::decode(bytes.as_slice()).ok())
            .collect();
        // Stage metrics are the process's: keep those of the stages this
        // capture saw run.
        let mut stages = HashSet::new();
        for rs in traces.iter().flat_map(|r| &r.resource_spans) {
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                if let Some(stage) = stage_of(&span.attributes) {
                    stages.insert(stage);
                }
            }
        }
        let own = |attrs: &[KeyValue]| stage_of(attrs).is_none_or(|s| stages.contains(&s));
        let metrics = self
            .metrics
            .map(|m| since(&self.baseline, m.collect(), self.started, own))
            .filter(|r| !r.resource_metrics.is_empty());
        Snapshot::from_otlp(traces, metrics.into_iter().collect(), stored.logs)
    }

    /// The capture's `tracing` dispatcher: set it on another thread
    /// (`tracing::dispatcher::with_default`) or task
    /// (`tracing::instrument::WithSubscriber`) to capture there too.
    pub fn dispatch(&self) -> &tracing::Dispatch {
        self.session.dispatch()
    }

    /// The capture's session.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// The process's meter provider while captures run: stage metrics come
/// from the global one, so all captures share it.
struct SharedMetrics {
    /// Also the global meter provider; kept for as long as the process.
    _provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
}

impl SharedMetrics {
    fn collect(&self) -> ExportMetricsServiceRequest {
        let mut rm = ResourceMetrics::default();
        if self.reader.collect(&mut rm).is_err() {
            return ExportMetricsServiceRequest::default();
        }
        let mut request = ExportMetricsServiceRequest::from(&rm);
        crate::otlp::metrics::attach(&mut request, &crate::metric::exemplar::snapshot());
        request
    }
}

fn shared_metrics(session: &Session) -> &'static SharedMetrics {
    static SHARED: OnceLock<SharedMetrics> = OnceLock::new();
    SHARED.get_or_init(|| {
        let reader = Arc::new(ManualReader::builder().build());
        let provider = SdkMeterProvider::builder()
            .with_resource(crate::resource::build(session.config()))
            .with_reader(SharedReader(Arc::clone(&reader)))
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        crate::stage::meter_provider_changed(session.config().exemplar_filter);
        SharedMetrics {
            _provider: provider,
            reader,
        }
    })
}

/// The pipeline and stage a span or metric point belongs to, if any.
fn stage_of(attrs: &[KeyValue]) -> Option<(String, String)> {
    let text = |key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match &kv.value {
                Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }) => Some(s.clone()),
                _ => None,
            })
    };
    Some((text("pipeline.name")?, text("pipeline.stage.name")?))
}

/// What changed from `baseline` to `now` in the points `own` accepts:
/// counters and histograms less their baseline, other points only when new
/// or changed, exemplars only from `started` on; series that did not
/// change are left out.
fn since(
    baseline: &ExportMetricsServiceRequest,
    mut now: ExportMetricsServiceRequest,
    started: u64,
    own: impl Fn(&[KeyValue]) -> bool,
) -> ExportMetricsServiceRequest {
    let mut numbers: HashMap<(&str, String), &NumberDataPoint> = HashMap::new();
    let mut histograms: HashMap<(&str, String), &HistogramDataPoint> = HashMap::new();
    for rm in &baseline.resource_metrics {
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let name = metric.name.as_str();
            let points = match &metric.data {
                Some(Data::Sum(s)) => &s.data_points,
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Histogram(h)) => {
                    for p in &h.data_points {
                        histograms.insert((name, key(&p.attributes)), p);
                    }
                    continue;
                }
                _ => continue,
            };
            for p in points {
                numbers.insert((name, key(&p.attributes)), p);
            }
        }
    }
    let fresh = |e: &mut Vec<Exemplar>| e.retain(|e| e.time_unix_nano >= started);
    for rm in &mut now.resource_metrics {
        for sm in &mut rm.scope_metrics {
            for metric in &mut sm.metrics {
                let name = metric.name.as_str();
                let (points, monotonic) = match &mut metric.data {
                    Some(Data::Sum(sum)) => (&mut sum.data_points, sum.is_monotonic),
                    Some(Data::Gauge(gauge)) => (&mut gauge.data_points, false),
                    Some(Data::Histogram(h)) => {
                        h.data_points.retain_mut(|p| {
                            if !own(&p.attributes) {
                                return false;
                            }
                            fresh(&mut p.exemplars);
                            let Some(b) = histograms.get(&(name, key(&p.attributes))) else {
                                return true;
                            };
                            p.count -= b.count.min(p.count);
                            p.sum = p.sum.zip(b.sum).map(|(n, o)| n - o);
                            for (n, o) in p.bucket_counts.iter_mut().zip(&b.bucket_counts) {
                                *n -= (*o).min(*n);
                            }
                            // The extremes of the calls since cannot be told.
                            p.min = None;
                            p.max = None;
                            p.count > 0
                        });
                        continue;
                    }
                    _ => continue,
                };
                points.retain_mut(|p| {
                    if !own(&p.attributes) {
                        return false;
                    }
                    fresh(&mut p.exemplars);
                    let Some(b) = numbers.get(&(name, key(&p.attributes))) else {
                        return true;
                    };
                    if !monotonic {
                        return b.value != p.value;
                    }
                    p.value = match (p.value, b.value) {
                        (Some(Number::AsInt(n)), Some(Number::AsInt(o))) => {
                            Some(Number::AsInt(n - o))
                        }
                        (Some(Number::AsDouble(n)), Some(Number::AsDouble(o))) => {
                            Some(Number::AsDouble(n - o))
                        }
                        (v, _) => v,
                    };
                    b.value != p.value
                });
            }
            sm.metrics.retain(|m| match &m.data {
                Some(Data::Sum(s)) => !s.data_points.is_empty(),
                Some(Data::Gauge(g)) => !g.data_points.is_empty(),
                Some(Data::Histogram(h)) => !h.data_points.is_empty(),
                _ => true,
            });
        }
        rm.scope_metrics.retain(|s| !s.metrics.is_empty());
    }
    now.resource_metrics.retain(|r| !r.scope_metrics.is_empty());
    now
}

/// An attribute set, whatever its order.
fn key(attrs: &[KeyValue]) -> String {
    let mut pairs: Vec<String> = attrs
        .iter()
        .map(|kv| format!("{}={:?}", kv.key, kv.value))
        .collect();
    pairs.sort_unstable();
    pairs.join("\u{1f}")
}

fn now() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
