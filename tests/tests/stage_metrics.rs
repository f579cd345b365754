//! The stage metrics recorded by semtel's engine, after `init` (stage metrics
//! need the global meter provider, so this binary holds a single test): the
//! in-flight gauge counts a call while it runs and returns to zero, and every
//! call's duration is counted once, with `error.type` when it failed, whether
//! the calling thread or the span collector recorded it; `pipeline.records`
//! has a series only for the directions a stage declares, over OTLP and in
//! the console summary (which also renders an export holding an empty
//! histogram).

mod common;

use std::sync::{Arc, Mutex};

use semtel_tests::{Receiver, attr_str};

/// The console output, shared with the test.
#[derive(Clone, Default)]
struct Console(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[semtel::stage(pipeline = "metrics")]
fn ok(n: u64) -> u64 {
    n + 1
}

#[semtel::stage(pipeline = "metrics")]
fn refuse(n: u64) -> Result<u64, Refused> {
    if n > 0 { Err(Refused) } else { Ok(n) }
}

/// Exports the metrics while it runs.
#[semtel::stage(pipeline = "metrics")]
fn flush_inside(session: &semtel::Session) {
    session.flush();
}

#[semtel::stage(pipeline = "metrics", records_in = rows.len())]
fn read_rows(rows: &[u32]) -> usize {
    rows.len()
}

#[semtel::stage(pipeline = "metrics", records_out = *ret)]
fn write_rows(n: u64) -> u64 {
    n
}

/// A database stage: the registry's stage-metric attributes it gives as
/// literals go on its metrics too; others (`server.port`) stay on the span.
#[semtel::stage(
    pipeline = "metrics",
    fields(db.system.name = "postgresql", db.collection.name = "orders", server.port = 5432)
)]
fn store(n: u64) -> u64 {
    n
}

/// No `pipeline = ..`: the crate's name is its pipeline.
#[semtel::stage]
fn unnamed() {}

#[semtel::stage(pipeline = "metrics")]
async fn fetch(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

fn stage_points(
    metric: &semtel_tests::record::ReceivedMetric,
    stage: &str,
) -> Vec<semtel_tests::record::NumberPoint> {
    metric
        .number_points()
        .into_iter()
        .filter(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some(stage))
        .collect()
}

#[test]
fn the_in_flight_gauge_returns_to_zero_and_every_duration_is_counted_once() {
    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let console = Console::default();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "stage-metrics"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_METRICS_EXPORTER", "otlp,console"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .console_writer(console.clone())
    .init()
    .expect("first init in this process");

    for n in 0..5 {
        assert_eq!(ok(n), n + 1);
    }
    assert!(refuse(0).is_ok());
    assert!(refuse(1).is_err());
    assert!(refuse(2).is_err());
    flush_inside(guard.session());
    assert_eq!(read_rows(&[1, 2, 3]), 3);
    assert_eq!(store(1), 1);
    unnamed();
    assert_eq!(write_rows(2), 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let sum: u64 = rt.block_on(async {
        let tasks: Vec<_> = (0..4).map(|n| tokio::spawn(fetch(n))).collect();
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

    let snap = rx.expect(common::WAIT, "two metric exports", |s| {
        s.metrics()
            .iter()
            .filter(|m| m.name() == "pipeline.stage.active")
            .count()
            >= 2
    });
    let active: Vec<_> = snap
        .metrics()
        .into_iter()
        .filter(|m| m.name() == "pipeline.stage.active")
        .collect();
    // The export made inside `flush_inside` saw that call in flight.
    let during = &active[0];
    let flushing: Vec<_> = stage_points(during, "flush_inside")
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(flushing, [1.0], "{:?}", during.number_points());
    assert!(stage_points(during, "ok").iter().all(|p| p.value == 0.0));
    // At shutdown nothing is.
    let last = active.last().expect("a last export");
    for stage in ["ok", "refuse", "flush_inside", "fetch"] {
        let values: Vec<_> = stage_points(last, stage).iter().map(|p| p.value).collect();
        assert_eq!(values, [0.0], "{stage}: {:?}", last.number_points());
    }

    let duration = snap.metric("pipeline.stage.duration").expect("durations");
    let count = |stage: &str, error: Option<&str>| duration.stage_count(stage, error);
    assert_eq!(count("ok", None), 5);
    let unnamed_point = duration
        .histogram_points()
        .iter()
        .find(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some("unnamed"))
        .expect("the unnamed stage's durations");
    assert_eq!(
        attr_str(&unnamed_point.attributes, "pipeline.name"),
        Some("semtel-tests")
    );
    let store_point = duration
        .histogram_points()
        .iter()
        .find(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some("store"))
        .expect("the store stage's durations");
    assert_eq!(
        attr_str(&store_point.attributes, "db.system.name"),
        Some("postgresql")
    );
    assert_eq!(
        attr_str(&store_point.attributes, "db.collection.name"),
        Some("orders")
    );
    assert!(
        !store_point
            .attributes
            .iter()
            .any(|kv| kv.key == "server.port"),
        "{:?}",
        store_point.attributes
    );
    assert_eq!(count("refuse", None), 1);
    assert_eq!(count("refuse", Some("stage_metrics::Refused")), 2);
    assert_eq!(count("flush_inside", None), 1);
    assert_eq!(count("fetch", None), 4);
    let failures = snap.metric("pipeline.stage.failures").expect("failures");
    assert_eq!(failures.total(), 2.0);

    // `pipeline.records`: only the directions declared.
    let records = snap.metric("pipeline.records").expect("record counts");
    let mut series: Vec<(String, String, f64)> = records
        .number_points()
        .iter()
        .map(|p| {
            let attr = |k| attr_str(&p.attributes, k).unwrap_or_default().to_owned();
            (
                attr("pipeline.stage.name"),
                attr("pipeline.io.direction"),
                p.value,
            )
        })
        .collect();
    series.sort_by(|a, b| a.partial_cmp(b).unwrap());
    series.dedup();
    assert_eq!(
        series,
        [
            ("read_rows".to_owned(), "in".to_owned(), 3.0),
            ("write_rows".to_owned(), "out".to_owned(), 2.0),
        ]
    );
    let console = String::from_utf8(console.0.lock().unwrap().clone()).expect("utf-8");
    let rows: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("pipeline.io.direction"))
        .collect();
    assert_eq!(rows.len(), 2, "{console}");
    assert!(
        rows[0].contains("direction=in") && rows[0].contains("stage.name=read_rows"),
        "{console}"
    );
    assert!(
        rows[1].contains("direction=out") && rows[1].contains("stage.name=write_rows"),
        "{console}"
    );
}
