//! The consumers' lag as `pipeline.backlog`: an observable gauge that
//! reports, at each collection, the partitions each consumer holds now.
//! A synchronous gauge would repeat a revoked partition's last value for
//! the session's life; this one forgets a partition once it is removed
//! (revoked, unassigned) and a consumer's partitions once its context is
//! dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use opentelemetry::InstrumentationScope;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{MeterProvider as _, ObservableGauge};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use semtel_conventions::attribute;
use semtel_conventions::pipeline::attribute as pattr;
use semtel_conventions::pipeline::metric::PIPELINE_BACKLOG;

/// The instrumentation scope of the gauge: the stages' `pipeline.backlog`
/// (scope `semtel`) is a synchronous gauge, and one scope cannot hold two
/// instruments of one name.
const SCOPE: &str = "semtel.integrations.kafka";

/// The lag of one consumer's partitions, with the labels of its stage.
#[derive(Debug)]
pub(crate) struct Backlogs {
    labels: Arc<[KeyValue]>,
    /// By topic and partition.
    values: Mutex<BTreeMap<(String, i32), u64>>,
}

impl Backlogs {
    fn values(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, i32), u64>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the lag of `partition` of `topic`.
    pub(crate) fn set(&self, topic: &str, partition: i32, lag: u64) {
        let lag = lag.min(i64::MAX as u64);
        let mut values = self.values();
        match values.get_mut(&(topic.to_owned(), partition)) {
            Some(v) => *v = lag,
            None => {
                values.insert((topic.to_owned(), partition), lag);
            }
        }
    }

    /// Stops reporting `partition` of `topic`.
    pub(crate) fn remove(&self, topic: &str, partition: i32) {
        self.values().remove(&(topic.to_owned(), partition));
    }

    /// Keeps reporting only the partitions `keep` says.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&str, i32) -> bool) {
        self.values().retain(|(t, p), _| keep(t, *p));
    }
}

/// The session's gauge and the consumers' series it observes.
pub(crate) struct BacklogGauge {
    provider: SdkMeterProvider,
    series: Arc<Mutex<Vec<Weak<Backlogs>>>>,
    /// Built with the first series: a session without a lagging consumer
    /// registers no callback.
    gauge: OnceLock<ObservableGauge<u64>>,
}

impl BacklogGauge {
    pub(crate) fn new(provider: &SdkMeterProvider) -> Self {
        Self {
            provider: provider.clone(),
            series: Arc::default(),
            gauge: OnceLock::new(),
        }
    }

    /// A new set of series with `labels`, observed until it is dropped.
    pub(crate) fn series(&self, labels: Arc<[KeyValue]>) -> Arc<Backlogs> {
        let backlogs = Arc::new(Backlogs {
            labels,
            values: Mutex::default(),
        });
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&backlogs));
        self.gauge.get_or_init(|| {
            let series = Arc::clone(&self.series);
            let scope = InstrumentationScope::builder(SCOPE)
                .with_version(env!("CARGO_PKG_VERSION"))
                .with_schema_url(semtel_conventions::SCHEMA_URL)
                .build();
            self.provider
                .meter_with_scope(scope)
                .u64_observable_gauge(PIPELINE_BACKLOG.name)
                .with_unit(PIPELINE_BACKLOG.unit)
                .with_description(crate::stage::BACKLOG_DESCRIPTION)
                .with_callback(move |observer| {
                    let mut series = series.lock().unwrap_or_else(PoisonError::into_inner);
                    series.retain(|s| s.strong_count() > 0);
                    for backlogs in series.iter().filter_map(Weak::upgrade) {
                        for ((topic, partition), lag) in backlogs.values().iter() {
                            observer
                                .observe(*lag, &attributes(&backlogs.labels, topic, *partition));
                        }
                    }
                })
                .build()
        });
        backlogs
    }
}

/// The attributes of one partition's point.
fn attributes(labels: &[KeyValue], topic: &str, partition: i32) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(labels.len() + 2);
    attributes.extend(labels.iter().cloned());
    attributes.push(KeyValue::new(
        pattr::PIPELINE_PARTITION.name(),
        partition.to_string(),
    ));
    attributes.push(KeyValue::new(
        attribute::MESSAGING_DESTINATION_NAME.name(),
        topic.to_owned(),
    ));
    attributes
}
