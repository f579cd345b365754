//! semtel's Prometheus endpoint scraped by a real Prometheus (Debian's 2.42,
//! exemplar storage on, loopback, ended by its PID), with the rules semtel
//! generates (failure window shortened to test size through the objectives
//! file) while a pipeline runs and its spans go over OTLP to the in-process
//! receiver. Through Prometheus's HTTP API: every PromQL expression of the
//! generated dashboards returns data, the exemplars Prometheus stored name
//! spans the receiver got, a burst of failures makes
//! `PipelineStageFailureRatioHigh` fire and recovery resolves it, and
//! telemetry lost while the receiver is away shows in semtel's own
//! `otel.sdk.*` metrics and fires `SemtelTelemetryLost`.
//!
//! Stage metrics need `init()`'s global meter provider: one test here.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use semtel_conventions::codegen::{Monitoring, Objectives};
use semtel_tests::client::http_get;
use semtel_tests::prometheus::{self, Server};
use semtel_tests::{Receiver, grafana};

/// Bound of every wait on Prometheus (scrapes and evaluations run every
/// second; the alert's window and `for` are 10 s each).
const PROMETHEUS_WAIT: Duration = Duration::from_secs(120);

static FAILING: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
struct Invalid;

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid")
    }
}

impl semtel::ErrorType for Invalid {
    fn error_type(&self) -> &'static str {
        "invalid"
    }
}

#[semtel::stage(pipeline = "e2e", kind = source, records_out = *ret)]
fn read(n: u64) -> u64 {
    n % 5 + 1
}

#[semtel::stage(pipeline = "e2e", kind = transform, records_in = n)]
fn validate(n: u64) -> Result<u64, Invalid> {
    if FAILING.load(Ordering::Relaxed) {
        Err(Invalid)
    } else {
        Ok(n)
    }
}

#[semtel::stage(pipeline = "e2e", kind = sink, records_out = *ret)]
fn load(n: u64) -> u64 {
    n
}

/// What the dashboards also draw and no stage records: the `pipeline.`
/// metrics beside the stage's, and the example registry's, recorded
/// through semtel's meter.
struct Others {
    bytes: opentelemetry::metrics::Counter<u64>,
    retries: opentelemetry::metrics::Counter<u64>,
    dead_letters: opentelemetry::metrics::Counter<u64>,
    lag: opentelemetry::metrics::Gauge<f64>,
    validated: opentelemetry::metrics::Counter<u64>,
    commit: opentelemetry::metrics::Histogram<f64>,
    backlog: opentelemetry::metrics::UpDownCounter<i64>,
}

impl Others {
    fn new() -> Self {
        use semtel_conventions::pipeline::metric as m;
        let meter = semtel::meter("e2e-prometheus");
        Others {
            bytes: meter
                .u64_counter(m::PIPELINE_BYTES.name)
                .with_unit(m::PIPELINE_BYTES.unit)
                .build(),
            retries: meter
                .u64_counter(m::PIPELINE_RETRIES.name)
                .with_unit(m::PIPELINE_RETRIES.unit)
                .build(),
            dead_letters: meter
                .u64_counter(m::PIPELINE_DEAD_LETTERS.name)
                .with_unit(m::PIPELINE_DEAD_LETTERS.unit)
                .build(),
            lag: meter
                .f64_gauge(m::PIPELINE_LAG.name)
                .with_unit(m::PIPELINE_LAG.unit)
                .build(),
            validated: meter
                .u64_counter("orders.validated")
                .with_unit("{order}")
                .build(),
            commit: meter
                .f64_histogram("orders.commit.duration")
                .with_unit("s")
                .build(),
            backlog: meter
                .i64_up_down_counter("orders.backlog")
                .with_unit("{message}")
                .build(),
        }
    }

    fn record(&self, n: u64) {
        let stage = |s: &'static str| {
            vec![
                KeyValue::new("pipeline.name", "e2e"),
                KeyValue::new("pipeline.stage.name", s),
            ]
        };
        let mut out = stage("load");
        out.push(KeyValue::new("pipeline.io.direction", "out"));
        self.bytes.add(n * 100, &out);
        let mut retried = stage("load");
        retried.push(KeyValue::new("error.type", "timeout"));
        self.retries.add(1, &retried);
        self.dead_letters.add(1, &retried);
        #[allow(clippy::cast_precision_loss)] // small
        self.lag.record((n % 7) as f64, &stage("read"));
        self.validated.add(1, &stage("validate"));
        self.commit.record(
            0.01,
            &[
                KeyValue::new("pipeline.name", "e2e"),
                KeyValue::new("db.system.name", "sqlite"),
            ],
        );
        self.backlog
            .add(1, &[KeyValue::new("messaging.destination.name", "orders")]);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The dashboards' PromQL, each with where it is from, `$pipeline` set to
/// this test's pipeline and every other variable to "all".
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = root().join("deploy/grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dashboards")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let d = grafana::load(&f);
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for q in grafana::queries(&d)
            .into_iter()
            .filter(|q| q.kind == grafana::Kind::Prometheus)
        {
            let expr =
                grafana::substitute(&q.expr, &[("pipeline", "e2e"), ("__rate_interval", "30s")]);
            out.push((format!("{name}: `{}` {}", q.panel, q.ref_id), expr));
        }
    }
    out
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Polls `f` until it gives `Some`, or panics with `what` and Prometheus's
/// log after `PROMETHEUS_WAIT`.
fn wait_for<T>(prom: &Server, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PROMETHEUS_WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {PROMETHEUS_WAIT:?}\nprometheus log:\n{}",
            prom.log()
        );
        std::thread::park_timeout(Duration::from_millis(250));
    }
}

fn firing(prom: &Server) -> Vec<serde_json::Value> {
    prom.query(
        r#"ALERTS{alertstate="firing", alertname="PipelineStageFailureRatioHigh", pipeline_name="e2e"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn prometheus_scrapes_exemplars_dashboards_get_data_and_the_failure_alert_fires_and_resolves() {
    let Some(prometheus_bin) = prometheus::require("prometheus") else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    // The rules as generated, with a test-sized failure window.
    let objectives = Objectives::parse("defaults:\n  failure_window: 10s\n", "objectives.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    Monitoring::new()
        .registry(root().join("examples/registry"))
        .objectives(objectives)
        .out(&dir)
        .generate()
        .unwrap_or_else(|e| panic!("{e}"));

    let mut rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "e2e-prometheus"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        // Pulled by Prometheus and pushed to the receiver: semtel's own
        // counts of both show on the dashboard.
        ("OTEL_METRICS_EXPORTER", "prometheus,otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        // Small rings (64 records, growing to 1024), so that the burst
        // below overflows them.
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
    ])
    .init()
    .expect("first init in this process");
    let target = guard
        .session()
        .prometheus_addr()
        .expect("the endpoint listens");

    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let others = Others::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let records = read(n);
                if let Ok(valid) = validate(records) {
                    load(valid);
                }
                others.record(n);
                if n.is_multiple_of(50) {
                    tracing::info!(n, "a batch went through");
                }
                // Pacing, not timing: a few hundred calls a second.
                std::thread::park_timeout(Duration::from_millis(5));
            }
        })
    };

    // The endpoint itself, in both formats.
    let scrape = |accept: &str| {
        let r = http_get(target, "/metrics", &[("Accept", accept)]).expect("scrape");
        assert_eq!(r.status, 200);
        let content_type = r
            .headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.clone());
        (
            content_type.unwrap_or_default(),
            String::from_utf8(r.body).expect("UTF-8"),
        )
    };
    let (om_type, om) = wait_for_text(|| {
        let s = scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
        s.1.contains("# {trace_id=\"").then_some(s)
    });
    assert!(
        om_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{om_type}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(om.starts_with("# TYPE target info\n"), "{om}");
    assert!(om.contains("# TYPE pipeline_stage_duration_seconds histogram\n# UNIT pipeline_stage_duration_seconds seconds\n"), "{om}");
    assert!(om.contains("# TYPE pipeline_records counter\n"), "{om}");
    assert!(
        om.lines().any(
            |l| l.starts_with("target_info{") && l.contains(",service_name=\"e2e-prometheus\"")
        ),
        "{om}"
    );
    let (classic_type, classic) = scrape("text/plain");
    assert!(
        classic_type.starts_with("text/plain; version=0.0.4"),
        "{classic_type}"
    );
    assert!(
        classic.contains("# TYPE pipeline_records_total counter\n"),
        "{classic}"
    );
    assert!(!classic.contains("trace_id") && !classic.contains("# EOF"));

    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - prometheus/rules/*.rules.yml\nscrape_configs:\n  - job_name: semtel\n    static_configs:\n      - targets: ['{target}']\n"
    );
    let prom = Server::start(&prometheus_bin, &dir, &config, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    let started = unix_now();

    // Exemplars: each names a span the receiver got.
    let exemplars = wait_for(&prom, "exemplars of the stage durations", || {
        let data = prom
            .api(
                "query_exemplars",
                &[
                    (
                        "query",
                        r#"pipeline_stage_duration_seconds_bucket{pipeline_name="e2e"}"#,
                    ),
                    ("start", &format!("{}", started - 60.0)),
                    ("end", &format!("{}", unix_now() + 60.0)),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let found: Vec<(String, String, String, f64)> = data
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| {
                let stage = series["seriesLabels"]["pipeline_stage_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                series["exemplars"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |e| {
                        (
                            stage.clone(),
                            e["labels"]["trace_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            e["labels"]["span_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            e["value"]
                                .as_str()
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(f64::NAN),
                        )
                    })
            })
            .collect();
        (found.len() >= 3).then_some(found)
    });
    guard.session().flush();
    let arrived = |s: &semtel_tests::Snapshot| {
        let ids: std::collections::HashSet<(String, String)> = s
            .spans()
            .into_iter()
            .map(|s| (s.trace_id(), s.span_id()))
            .collect();
        exemplars
            .iter()
            .all(|(_, t, sp, _)| ids.contains(&(t.clone(), sp.clone())))
    };
    let snap = rx.expect(common::WAIT, "the exemplars' spans", arrived);
    let spans: HashMap<(String, String), semtel_tests::ReceivedSpan> = snap
        .spans()
        .into_iter()
        .map(|s| ((s.trace_id(), s.span_id()), s))
        .collect();
    for (stage, trace_id, span_id, value) in &exemplars {
        let span = spans
            .get(&(trace_id.clone(), span_id.clone()))
            .unwrap_or_else(|| {
                panic!("exemplar {trace_id}/{span_id} of {stage}: no such span arrived")
            });
        assert_eq!(span.name(), stage);
        #[allow(clippy::cast_precision_loss)]
        let measured = (span.span.end_time_unix_nano - span.span.start_time_unix_nano) as f64 / 1e9;
        assert!(
            (value - measured).abs() < 1e-6,
            "{value} against {measured}"
        );
    }
    let (stage, trace_id, span_id, value) = &exemplars[0];
    println!(
        "exemplar of stage `{stage}`: trace_id={trace_id} span_id={span_id} value={value}s \
         = span `{}` the receiver got ({} exemplars checked)",
        spans[&(trace_id.clone(), span_id.clone())].name(),
        exemplars.len()
    );

    // The resource, as Prometheus's OTLP receiver would keep it.
    let target_info = prom
        .query(r#"target_info{job="semtel"}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(target_info.len(), 1, "{target_info:?}");
    assert_eq!(target_info[0]["metric"]["service_name"], "e2e-prometheus");

    // A burst of failures: the failure-ratio alert fires.
    assert!(firing(&prom).is_empty(), "firing before the burst");
    FAILING.store(true, Ordering::Relaxed);
    let alert = wait_for(&prom, "PipelineStageFailureRatioHigh firing", || {
        firing(&prom).into_iter().next()
    });
    println!("alert fired: {}", alert["metric"]);
    assert_eq!(alert["metric"]["pipeline_stage_name"], "validate");
    assert_eq!(alert["metric"]["severity"], "warning");

    // Every dashboard expression returns data (failures and the firing
    // alert included), but those of semtel's own loss, which come below.
    let no_loss_here = ["Telemetry lost"];
    let mut empty: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .filter(|(at, _)| !no_loss_here.iter().any(|p| at.contains(p)))
        .collect();
    let checked = empty.len();
    let deadline = Instant::now() + PROMETHEUS_WAIT;
    while !empty.is_empty() && Instant::now() < deadline {
        empty.retain(|(_, expr)| {
            prom.query(expr)
                .unwrap_or_else(|e| panic!("{expr}: {e}"))
                .is_empty()
        });
        if !empty.is_empty() {
            std::thread::park_timeout(Duration::from_millis(500));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{empty:#?}"
    );
    println!("{checked} dashboard expressions returned data");

    // Recovery resolves it.
    FAILING.store(false, Ordering::Relaxed);
    wait_for(&prom, "PipelineStageFailureRatioHigh resolved", || {
        firing(&prom).is_empty().then_some(())
    });

    // Loss: the receiver goes away while a burst fills the queues. The
    // panels of semtel's own loss get their data.
    rx.stop();
    for n in 0..20_000 {
        read(n);
        tracing::info!(n, "a burst while the collector is away");
    }
    let mut lost: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .filter(|(at, _)| at.contains("Telemetry lost"))
        .collect();
    assert_eq!(lost.len(), 5, "{lost:#?}");
    let deadline = Instant::now() + PROMETHEUS_WAIT;
    while !lost.is_empty() && Instant::now() < deadline {
        lost.retain(|(_, expr)| {
            prom.query(expr)
                .unwrap_or_else(|e| panic!("{expr}: {e}"))
                .is_empty()
        });
        if !lost.is_empty() {
            std::thread::park_timeout(Duration::from_millis(500));
        }
    }
    assert!(lost.is_empty(), "loss panels without data:\n{lost:#?}");
    println!("the 5 loss expressions returned data too");
    // And the generated alert on semtel's own loss fires.
    let lost_alert = wait_for(&prom, "SemtelTelemetryLost firing", || {
        prom.query(r#"ALERTS{alertname="SemtelTelemetryLost", alertstate="firing"}"#)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .next()
    });
    println!("alert fired: {}", lost_alert["metric"]);

    stop.store(true, Ordering::Relaxed);
    running.join().expect("pipeline thread");
    let report = guard.shutdown();
    assert!(report.lost() > 0, "{report}");
    // The endpoint is closed with the session.
    assert!(
        http_get(target, "/metrics", &[]).is_err(),
        "still serving after shutdown"
    );
}

/// Polls the endpoint until `f` accepts a scrape (the first exemplars
/// reach the histogram when the collector drains the first calls).
fn wait_for_text(mut f: impl FnMut() -> Option<(String, String)>) -> (String, String) {
    let deadline = Instant::now() + common::WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "no exemplar on the endpoint");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}
