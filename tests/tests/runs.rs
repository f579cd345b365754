//! Pipeline runs (`semtel::Run`) over OTLP to the in-process receiver: the
//! stages (sync, and async across `tokio::spawn` with the context adapter),
//! `tracing` spans and log records inside a run are in its trace, under its
//! root span, and carry `pipeline.run.id` with no baggage allow-list; no
//! metric point and no resource has the run id; the run span has the
//! outcome and sums up the stage calls inside: how many, how many failed,
//! and the records they read and wrote (by stage options and through the
//! handle, in a sync stage inside a `tracing` span and in an async one
//! across `tokio::spawn`); a failed run's has status error.

use std::collections::HashMap;
use std::time::Duration;

use semtel::WithContext as _;
use semtel::run::Outcome;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::{ReceivedSpan, Receiver, Snapshot};

const WAIT: Duration = Duration::from_secs(20);
const KEY: &str = "pipeline.run.id";

/// Stage metrics need `init`'s global session: one per test process.
fn init(rx: &Receiver) -> semtel::Guard {
    let vars: HashMap<String, String> = [
        ("OTEL_SERVICE_NAME", "runs"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.http_endpoint().as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .init()
        .expect("first init in this process")
}

fn one(snap: &Snapshot, name: &str) -> ReceivedSpan {
    snap.only_span(name)
}

/// Whether `span` is below `ancestor`, following parents among `spans`.
fn is_under(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let mut current = span.clone();
    for _ in 0..spans.len() {
        if current.is_child_of(ancestor) {
            return true;
        }
        let Some(parent) = spans.iter().find(|p| current.is_child_of(p)) else {
            return false;
        };
        current = parent.clone();
    }
    false
}

/// Reads 4 lines (counted through the handle), writes 3 orders.
#[semtel::stage(pipeline = "runs", records_out = ret.len())]
fn extract() -> Vec<u64> {
    tracing::info_span!("read batch").in_scope(|| {
        tracing::info!("batch read");
        semtel::stage::current().records_in(4u64);
    });
    vec![1, 2, 3]
}

/// Reads and writes its orders (3).
#[semtel::stage(pipeline = "runs", records_out = *ret)]
async fn load(orders: Vec<u64>) -> usize {
    tokio::task::yield_now().await;
    semtel::stage::current().records_in(orders.len());
    tracing::info!(orders = orders.len(), "loaded");
    orders.len()
}

#[semtel::stage(pipeline = "runs")]
fn reject() -> Result<(), std::fmt::Error> {
    Err(std::fmt::Error)
}

#[test]
fn a_run_is_on_its_stages_spans_and_logs_and_not_on_metrics() {
    let rx = Receiver::start();
    let guard = init(&rx);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let run = semtel::Run::start("runs", Some("run-42".into()));
    assert_eq!(run.id(), "run-42");
    let orders = run.in_scope(extract);
    {
        let _inside = run.enter();
        tracing::info!("between stages");
    }
    let task = load(orders).with_context(run.context());
    let loaded = runtime
        .block_on(async { tokio::spawn(task).await })
        .expect("the task ends");
    assert_eq!(loaded, 3);
    run.finish(Outcome::Success);
    drop(runtime);

    let failed = semtel::Run::start("failing", None);
    let failed_id = failed.id().to_owned();
    assert_eq!(failed_id.len(), 32, "a random id: {failed_id}");
    assert!(
        failed_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{failed_id}"
    );
    failed.in_scope(extract);
    assert!(failed.in_scope(reject).is_err());
    // A run inside a run: its own id, under the outer run's span.
    failed
        .in_scope(|| semtel::Run::start("inner", Some("inner-1".into())).finish(Outcome::Success));
    failed.finish(Outcome::failure("timeout"));

    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the spans, logs and stage metrics", |snap| {
        snap.spans().len() >= 9
            && snap.logs().len() >= 4
            && snap.metric("pipeline.stage.duration").is_some()
    });
    assert_ok_run(&snap);
    assert_failed_run(&snap, &failed_id);
    assert_no_run_id_on_metrics(&snap);
}

fn assert_ok_run(snap: &Snapshot) {
    let run = one(snap, "run runs");
    let spans: Vec<_> = (snap.spans().into_iter())
        .filter(|s| s.trace_id() == run.trace_id())
        .collect();
    assert_eq!(spans.len(), 4, "the run's trace: {spans:#?}");
    assert_eq!(run.parent_span_id(), None, "a root: {run:#?}");
    assert_eq!(run.attr_str(KEY), Some("run-42"));
    assert_eq!(run.attr_str("pipeline.name"), Some("runs"));
    assert_eq!(run.status_code(), StatusCode::Ok, "the outcome: {run:#?}");
    assert_eq!(run.attr_i64("pipeline.run.stages"), Some(2), "{run:#?}");
    assert_eq!(run.attr_i64("pipeline.run.failures"), Some(0), "{run:#?}");
    assert_eq!(
        run.attr_i64("pipeline.run.records_in"),
        Some(4 + 3),
        "{run:#?}"
    );
    assert_eq!(
        run.attr_i64("pipeline.run.records_out"),
        Some(3 + 3),
        "{run:#?}"
    );
    let by_name = |name: &str| {
        let found: Vec<_> = spans.iter().filter(|s| s.name() == name).collect();
        assert_eq!(found.len(), 1, "one {name:?} in the run: {spans:#?}");
        found[0].clone()
    };
    let extract = by_name("extract");
    let read = by_name("read batch");
    let load = by_name("load");
    assert!(extract.is_child_of(&run));
    assert!(load.is_child_of(&run), "across tokio::spawn: {load:#?}");
    assert!(is_under(&spans, &read, &run));
    for span in &spans {
        assert_eq!(span.attr_str(KEY), Some("run-42"), "{span:#?}");
        assert_eq!(span.resource_str(KEY), None, "{span:#?}");
    }

    let logs: Vec<_> = (snap.logs().into_iter())
        .filter(|l| l.trace_id().as_deref() == Some(run.trace_id().as_str()))
        .collect();
    assert_eq!(logs.len(), 3, "{:#?}", snap.logs());
    for log in &logs {
        assert_eq!(log.attr_str(KEY), Some("run-42"), "{log:#?}");
        assert_eq!(log.resource_str(KEY), None, "{log:#?}");
    }
}

fn assert_failed_run(snap: &Snapshot, id: &str) {
    let run = one(snap, "run failing");
    assert_eq!(run.status_code(), StatusCode::Error, "{run:#?}");
    assert_eq!(run.status_message(), "timeout");
    assert_eq!(run.attr_str("error.type"), Some("timeout"));
    // `extract` and the failed `reject`; the inner run is not a stage.
    assert_eq!(run.attr_i64("pipeline.run.stages"), Some(2), "{run:#?}");
    assert_eq!(run.attr_i64("pipeline.run.failures"), Some(1), "{run:#?}");
    assert_eq!(run.attr_i64("pipeline.run.records_in"), Some(4), "{run:#?}");
    assert_eq!(
        run.attr_i64("pipeline.run.records_out"),
        Some(3),
        "{run:#?}"
    );
    assert_eq!(run.attr_str(KEY), Some(id));
    let inside: Vec<_> = (snap.spans().into_iter())
        .filter(|s| s.trace_id() == run.trace_id() && s.name() == "extract")
        .collect();
    assert_eq!(inside.len(), 1, "{inside:#?}");
    assert!(inside[0].is_child_of(&run));
    assert_eq!(inside[0].attr_str(KEY), Some(id));
    let inner = one(snap, "run inner");
    assert!(inner.is_child_of(&run));
    let ids: Vec<_> = (inner.span.attributes.iter())
        .filter(|kv| kv.key == KEY)
        .collect();
    assert_eq!(ids.len(), 1, "only the inner run's id: {inner:#?}");
    assert_eq!(inner.attr_str(KEY), Some("inner-1"));
    assert_eq!(inner.attr_i64("pipeline.run.stages"), Some(0));
    assert_eq!(inner.attr_i64("pipeline.run.records_in"), Some(0));
}

/// High cardinality: never a metric label, nor an exemplar's attribute.
fn assert_no_run_id_on_metrics(snap: &Snapshot) {
    let metrics = snap.metrics();
    for m in &metrics {
        assert_eq!(m.resource_str(KEY), None, "{m:#?}");
        let numbers = m.number_points().into_iter().map(|p| p.attributes);
        let histograms = m.histogram_points().iter().flat_map(|p| {
            let exemplars = p.exemplars.iter().map(|e| e.filtered_attributes.clone());
            std::iter::once(p.attributes.clone()).chain(exemplars)
        });
        for attributes in numbers.chain(histograms) {
            assert!(
                attributes.iter().all(|kv| kv.key != KEY),
                "{}: {attributes:?}",
                m.name()
            );
        }
    }
}
