//! Recording from inside a stage through `semtel::stage::current()`, over
//! OTLP: counts go to the `pipeline.` metrics with the stage's labels,
//! attributes, events and a handled failure to the stage's span, in a sync
//! stage and across awaits of an async one on a multi-thread runtime.
//! Outside a stage and with telemetry off the calls do nothing; an
//! increment above `i64::MAX` is recorded as `i64::MAX` (saturated, not
//! wrapped negative). One test: stage metrics need the global meter
//! provider.

mod common;

use semtel::conventions::attribute::DB_COLLECTION_NAME;
use semtel::stage;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;
use semtel_tests::record::{NumberPoint, ReceivedMetric, Snapshot};
use semtel_tests::{Receiver, attr_str};

/// Records everything the handle offers, partly inside a `tracing` span
/// entered in the body (the handle looks past it).
#[semtel::stage(pipeline = "handle", kind = sink)]
fn load(rows: &[&str]) -> usize {
    let here = stage::current();
    for chunk in rows.chunks(2) {
        here.records_in(chunk.len());
    }
    here.bytes_in(rows.iter().map(|r| r.len()).sum::<usize>());
    {
        let _inner = tracing::info_span!("write").entered();
        here.records_out(3u32);
        here.bytes_out(40u64);
    }
    here.retry();
    here.dead_letter();
    here.set(DB_COLLECTION_NAME, "orders");
    here.event("checkpoint", &[("rows", &3i64), ("table", &"orders")]);
    here.fail("partial_write");
    semtel::lag::seconds("7", 2.5);
    semtel::lag::records("7", 120);
    semtel::lag::records("8", 0);
    rows.len()
}

#[semtel::stage(pipeline = "handle", kind = source)]
async fn fetch(n: u64) -> u64 {
    let here = stage::current();
    here.records_in(n);
    tokio::task::yield_now().await;
    here.bytes_in(10 * n);
    tokio::task::yield_now().await;
    here.retries(2u8);
    here.dead_letters(1u64);
    tokio::task::yield_now().await;
    here.set(DB_COLLECTION_NAME, "queue");
    here.event("fetched", &[("n", &n)]);
    tokio::task::yield_now().await;
    here.records_out(n);
    here.bytes_out(5 * n);
    here.fail("stale");
    semtel::lag::seconds("1", 0.25);
    here.lag_records("1", n);
    n
}

/// The stage options `bytes_in` and `bytes_out`, with the handle adding to
/// them.
#[semtel::stage(pipeline = "handle", bytes_in = body.len(), bytes_out = *ret)]
fn copy(body: &[u8]) -> Result<usize, std::io::Error> {
    stage::current().bytes_out(1u8);
    Ok(body.len() / 2)
}

/// A handled failure, then an `Err` returned: the `Err` is the failure.
#[semtel::stage(pipeline = "handle")]
fn both_failures() -> Result<(), std::fmt::Error> {
    stage::current().fail("handled_first");
    Err(std::fmt::Error)
}

#[semtel::stage(pipeline = "handle")]
fn extremes() {
    let here = stage::current();
    here.bytes_in(0u64);
    here.bytes_out(u64::MAX);
    here.records_in(-5i64); // a negative count is none
    semtel::lag::seconds("0", f64::NAN); // not recorded
    semtel::lag::records("0", u64::MAX);
}

/// Every handle call, with nothing to record into.
fn call_everything() {
    let here = stage::current();
    here.records_in(1u8);
    here.records_out(1u8);
    here.bytes_in(u64::MAX);
    here.bytes_out(0u8);
    here.retry();
    here.retries(3u8);
    here.dead_letter();
    here.dead_letters(2u8);
    here.set(DB_COLLECTION_NAME, "nowhere");
    here.event("nothing", &[]);
    here.fail("nothing");
    semtel::lag::seconds("0", 1.0);
    semtel::lag::records("0", 1);
}

/// The points of the last export of metric `name`.
fn last_points(snap: &Snapshot, name: &str) -> (ReceivedMetric, Vec<NumberPoint>) {
    let metric = snap
        .metrics()
        .into_iter()
        .rfind(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no {name}"));
    let points = metric.number_points();
    (metric, points)
}

fn value(points: &[NumberPoint], stage: &str, direction: Option<&str>) -> Option<f64> {
    let found: Vec<_> = points
        .iter()
        .filter(|p| {
            attr_str(&p.attributes, "pipeline.stage.name") == Some(stage)
                && attr_str(&p.attributes, "pipeline.io.direction") == direction
        })
        .collect();
    assert!(found.len() <= 1, "{stage} {direction:?}: {found:?}");
    found.first().map(|p| p.value)
}

#[test]
fn the_handle_records_into_the_running_stage_and_nothing_elsewhere() {
    // Telemetry off: inside and outside a stage, nothing happens.
    call_everything();
    assert_eq!(load(&["a"]), 1);

    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "stage-handle"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .init()
    .expect("first init in this process");

    call_everything(); // outside a stage
    assert_eq!(load(&["a,1", "b,22", "c,333"]), 3);
    extremes();
    assert_eq!(copy(b"0123456789").expect("copied"), 5);
    assert!(both_failures().is_err());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let sum: u64 = rt.block_on(async {
        let tasks: Vec<_> = [1, 2, 3]
            .map(|n| tokio::spawn(fetch(n)))
            .into_iter()
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.expect("task");
        }
        sum
    });
    assert_eq!(sum, 6);
    drop(rt);
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(common::WAIT, "the stages' spans and metrics", |s| {
        s.spans().iter().filter(|sp| sp.name() == "fetch").count() == 3
            && s.metric("pipeline.dead_letters").is_some()
            && s.metric("pipeline.lag").is_some()
            && s.metric("pipeline.backlog").is_some()
    });

    // Metric names, units and kinds are the registry's.
    for (name, unit, kind) in [
        ("pipeline.records", "{record}", "sum"),
        ("pipeline.bytes", "By", "sum"),
        ("pipeline.retries", "{retry}", "sum"),
        ("pipeline.dead_letters", "{record}", "sum"),
        ("pipeline.lag", "s", "gauge"),
        ("pipeline.backlog", "{record}", "gauge"),
    ] {
        let (metric, points) = last_points(&snap, name);
        assert_eq!((metric.unit(), metric.kind()), (unit, kind), "{name}");
        if kind == "sum" {
            assert_eq!(metric.is_monotonic(), Some(true), "{name}");
        }
        // Nothing recorded outside a stage: every point has a stage's labels.
        for p in &points {
            assert_eq!(
                attr_str(&p.attributes, "pipeline.name"),
                Some("handle"),
                "{name}: {p:?}"
            );
            assert!(
                attr_str(&p.attributes, "pipeline.stage.name").is_some(),
                "{name}: {p:?}"
            );
        }
    }

    let (_, records) = last_points(&snap, "pipeline.records");
    assert_eq!(value(&records, "load", Some("in")), Some(3.0));
    assert_eq!(value(&records, "load", Some("out")), Some(3.0));
    assert_eq!(value(&records, "fetch", Some("in")), Some(6.0));
    assert_eq!(value(&records, "fetch", Some("out")), Some(6.0));
    assert_eq!(value(&records, "extremes", Some("in")), Some(0.0));
    let kinds: Vec<_> = records
        .iter()
        .filter(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some("load"))
        .map(|p| attr_str(&p.attributes, "pipeline.stage.kind"))
        .collect();
    assert_eq!(kinds, [Some("sink"), Some("sink")]);

    let (_, bytes) = last_points(&snap, "pipeline.bytes");
    assert_eq!(value(&bytes, "load", Some("in")), Some(12.0));
    assert_eq!(value(&bytes, "load", Some("out")), Some(40.0));
    assert_eq!(value(&bytes, "fetch", Some("in")), Some(60.0));
    assert_eq!(value(&bytes, "fetch", Some("out")), Some(30.0));
    assert_eq!(value(&bytes, "copy", Some("in")), Some(10.0));
    assert_eq!(value(&bytes, "copy", Some("out")), Some(6.0));
    assert_eq!(value(&bytes, "extremes", Some("in")), Some(0.0));
    #[allow(clippy::cast_precision_loss)] // as the receiver reports it
    let saturated = i64::MAX as f64;
    assert_eq!(value(&bytes, "extremes", Some("out")), Some(saturated));

    let (_, retries) = last_points(&snap, "pipeline.retries");
    assert_eq!(value(&retries, "load", None), Some(1.0));
    assert_eq!(value(&retries, "fetch", None), Some(6.0));
    let (_, dead) = last_points(&snap, "pipeline.dead_letters");
    assert_eq!(value(&dead, "load", None), Some(1.0));
    assert_eq!(value(&dead, "fetch", None), Some(3.0));
    // A stage that counted only bytes has no retry or dead-letter series:
    // counting one thing does not start a zero series of the others.
    for stage in ["copy", "extremes"] {
        assert_eq!(value(&retries, stage, None), None, "{stage}");
        assert_eq!(value(&dead, stage, None), None, "{stage}");
    }

    let (_, lag) = last_points(&snap, "pipeline.lag");
    let lag_of = |stage: &str| -> Vec<_> {
        lag.iter()
            .filter(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some(stage))
            .map(|p| (attr_str(&p.attributes, "pipeline.partition"), p.value))
            .collect()
    };
    assert_eq!(lag_of("load"), [(Some("7"), 2.5)]);
    assert_eq!(lag_of("fetch"), [(Some("1"), 0.25)]);
    assert!(lag_of("extremes").is_empty(), "NaN is not recorded");
    let (_, backlog) = last_points(&snap, "pipeline.backlog");
    let backlog_of = |stage: &str| -> Vec<_> {
        let mut points: Vec<_> = backlog
            .iter()
            .filter(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some(stage))
            .map(|p| (attr_str(&p.attributes, "pipeline.partition"), p.value))
            .collect();
        points.sort_by(|a, b| a.0.cmp(&b.0));
        points
    };
    assert_eq!(backlog_of("load"), [(Some("7"), 120.0), (Some("8"), 0.0)]);
    // Three tasks set the same gauge: the last one set wins.
    let fetched = backlog_of("fetch");
    assert!(
        matches!(fetched[..], [(Some("1"), v)] if [1.0, 2.0, 3.0].contains(&v)),
        "{fetched:?}"
    );
    assert_eq!(backlog_of("extremes"), [(Some("0"), saturated)]);

    // The handled failures count as failures, by their error.type.
    let (_, failures) = last_points(&snap, "pipeline.stage.failures");
    let failed = |stage: &str, error: &str| -> f64 {
        failures
            .iter()
            .filter(|p| {
                attr_str(&p.attributes, "pipeline.stage.name") == Some(stage)
                    && attr_str(&p.attributes, "error.type") == Some(error)
            })
            .map(|p| p.value)
            .sum()
    };
    assert_eq!(failed("load", "partial_write"), 1.0);
    assert_eq!(failed("fetch", "stale"), 3.0);
    assert_eq!(failed("both_failures", "std::fmt::Error"), 1.0);
    assert_eq!(failed("both_failures", "handled_first"), 0.0);

    // The spans carry the attribute, the event and the failure.
    let spans = snap.spans();
    let load_span = snap.span("load").expect("load span");
    assert_eq!(load_span.attr_str("db.collection.name"), Some("orders"));
    assert_eq!(load_span.event_names(), ["checkpoint"]);
    let event = &load_span.span.events[0];
    assert_eq!(attr_str(&event.attributes, "table"), Some("orders"));
    assert_eq!(load_span.status_code(), StatusCode::Error);
    assert_eq!(load_span.status_message(), "partial_write");
    assert_eq!(load_span.attr_str("error.type"), Some("partial_write"));
    let fetches: Vec<_> = spans.iter().filter(|s| s.name() == "fetch").collect();
    assert_eq!(fetches.len(), 3);
    for f in fetches {
        assert_eq!(f.attr_str("db.collection.name"), Some("queue"));
        assert_eq!(f.event_names(), ["fetched"]);
        assert_eq!(f.status_code(), StatusCode::Error);
        assert_eq!(f.attr_str("error.type"), Some("stale"));
    }
    let both = snap.span("both_failures").expect("both_failures span");
    assert_eq!(both.attr_str("error.type"), Some("std::fmt::Error"));
    assert_eq!(both.event_names(), ["exception"]);
    let extremes_span = snap.span("extremes").expect("extremes span");
    assert_eq!(extremes_span.status_code(), StatusCode::Unset);
    assert!(extremes_span.span.events.is_empty());
}
