//! Exemplars on the stage metrics over OTLP (stage metrics need `init()`'s
//! global meter provider, so this binary holds a single test): the
//! duration histogram's, the failures counter's and the records counter's
//! exemplars carry the trace and span id of a stage span the receiver got
//! in the same run, the value that call measured and a time within it.

mod common;

use std::collections::HashMap;

use opentelemetry_proto::tonic::metrics::v1::{Exemplar, exemplar, metric};
use semtel_tests::{ReceivedSpan, Receiver, attr_str};

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[semtel::stage(pipeline = "exemplars", records_out = *ret)]
fn load(n: u64) -> u64 {
    n
}

#[semtel::stage(pipeline = "exemplars")]
fn refuse(n: u64) -> Result<u64, Refused> {
    if n > 0 { Err(Refused) } else { Ok(n) }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The span an exemplar points at, which must have arrived.
fn span_of<'a>(spans: &'a HashMap<String, ReceivedSpan>, e: &Exemplar) -> &'a ReceivedSpan {
    let key = format!("{}/{}", hex(&e.trace_id), hex(&e.span_id));
    spans
        .get(&key)
        .unwrap_or_else(|| panic!("exemplar {key} names no span that arrived"))
}

#[test]
fn stage_metrics_carry_exemplars_of_spans_that_were_exported() {
    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "exemplars"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .init()
    .expect("first init in this process");
    assert_eq!(
        guard.session().config().exemplar_filter,
        semtel::ExemplarFilter::TraceBased
    );

    for n in 1..=40 {
        assert_eq!(load(n), n);
    }
    assert!(refuse(0).is_ok());
    for n in 1..=3 {
        assert!(refuse(n).is_err());
    }
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(common::WAIT, "the stage spans and metrics", |s| {
        s.spans().len() >= 44 && s.metric("pipeline.stage.failures").is_some()
    });
    let spans: HashMap<String, ReceivedSpan> = snap
        .spans()
        .into_iter()
        .map(|s| (format!("{}/{}", s.trace_id(), s.span_id()), s))
        .collect();
    let metrics = snap.metrics();
    let last = |name: &str| {
        metrics
            .iter()
            .rfind(|m| m.name() == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };

    // Durations: successful calls' (deferred to the span collector) and
    // failed calls' (recorded on the calling thread).
    let duration = last("pipeline.stage.duration");
    let mut checked = 0;
    for p in duration.histogram_points() {
        let stage = attr_str(&p.attributes, "pipeline.stage.name").expect("stage");
        let failed = attr_str(&p.attributes, "error.type").is_some();
        assert!(!p.exemplars.is_empty(), "{stage} (failed: {failed}): none");
        for e in &p.exemplars {
            let span = span_of(&spans, e);
            assert_eq!(span.name(), stage);
            assert_eq!(span.attr_str("error.type").is_some(), failed);
            let Some(exemplar::Value::AsDouble(value)) = e.value else {
                panic!("a duration is a double: {e:?}");
            };
            let (start, end) = (span.span.start_time_unix_nano, span.span.end_time_unix_nano);
            #[allow(clippy::cast_precision_loss)] // nanoseconds of a short call
            let measured = (end - start) as f64 / 1e9;
            assert!(
                (value - measured).abs() < 1e-6,
                "{value} against {measured}"
            );
            // The call's end, not the export's time (one clock for both,
            // converted to wall time separately, as its rate is refined).
            assert!(
                e.time_unix_nano.abs_diff(end) < 1_000_000,
                "{e:?} against {end}"
            );
            assert!(e.filtered_attributes.is_empty());
            checked += 1;
        }
    }
    assert!(checked >= 2, "{checked} duration exemplars");

    let data_points = |name: &str| match &last(name).metric.data {
        Some(metric::Data::Sum(s)) => s.data_points.clone(),
        other => panic!("{name} is not a sum: {other:?}"),
    };
    let failures = data_points("pipeline.stage.failures");
    assert_eq!(failures.len(), 1);
    assert!(!failures[0].exemplars.is_empty());
    for e in &failures[0].exemplars {
        assert_eq!(e.value, Some(exemplar::Value::AsInt(1)));
        let span = span_of(&spans, e);
        assert_eq!(span.name(), "refuse");
        assert_eq!(span.attr_str("error.type"), Some("exemplars::Refused"));
    }

    let records = data_points("pipeline.records");
    let out = records
        .iter()
        .find(|p| {
            attr_str(&p.attributes, "pipeline.io.direction") == Some("out")
                && attr_str(&p.attributes, "pipeline.stage.name") == Some("load")
        })
        .expect("records out");
    assert!(!out.exemplars.is_empty(), "{records:?}");
    for e in &out.exemplars {
        let Some(exemplar::Value::AsInt(n)) = e.value else {
            panic!("a count is an integer: {e:?}");
        };
        assert!((1..=40).contains(&n), "{n}");
        assert_eq!(span_of(&spans, e).name(), "load");
    }
}
