//! End to end against an out-of-process collector, rotel-agent: the same
//! instrumented pipeline over gRPC and HTTP, checked on what rotel printed.
//! Fails (does not skip) when rotel-agent is missing: `python3 -m pip install rotel`.

mod common;

use common::{Emitted, WAIT, run_pipeline, telemetry};
use semtel_tests::rotel_debug::{printed_attr, unwrap_str};
use semtel_tests::{Rotel, RotelDebug};

fn start_rotel() -> Rotel {
    Rotel::start().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the pipeline into `rotel` with `protocol`, waits until rotel printed
/// both spans, both logs and the counter, and returns what it printed.
fn export(rotel: &Rotel, protocol: &str, gzip: bool) -> (Emitted, RotelDebug) {
    let endpoint = if protocol == "grpc" {
        rotel.grpc_endpoint()
    } else {
        rotel.http_endpoint()
    };
    let t = telemetry(&[
        ("OTEL_SERVICE_NAME", "e2e-rotel"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=data"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        (
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            if gzip { "gzip" } else { "none" },
        ),
    ]);
    let emitted = run_pipeline(&t);
    let report = t.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    // rotel prints what it receives over several writes, an item's lines
    // too: wait for every item the assertions read, down to the last line
    // of each that they read (a metric's data type follows its name).
    let output = rotel.expect_output(WAIT, "2 spans, 2 logs and 2 metrics", |out| {
        let parsed = RotelDebug::parse(out);
        let typed = |name| parsed.metric(name).is_some_and(|m| !m.data_type.is_empty());
        let has = |attributes, key| printed_attr(attributes, key).is_some();
        parsed.span("pipeline").is_some()
            && parsed
                .span("stage")
                .is_some_and(|s| has(&s.attributes, "pipeline.stage.name"))
            && parsed
                .log("loaded")
                .is_some_and(|l| has(&l.attributes, "records") && has(&l.attributes, "table"))
            && parsed
                .log("slow batch")
                .is_some_and(|l| !l.severity_number.is_empty())
            && typed("pipeline.records")
            && typed("pipeline.stage.duration")
    });
    (emitted, RotelDebug::parse(&output))
}

fn assert_printed(printed: &RotelDebug, emitted: &Emitted, json: bool) {
    let pipeline = printed.span("pipeline").expect("pipeline span");
    let stage = printed.span("stage").expect("stage span");
    assert_eq!(pipeline.trace_id, emitted.trace_id);
    assert_eq!(pipeline.span_id, emitted.pipeline_span_id);
    assert_eq!(pipeline.parent_id, "", "pipeline is a root span");
    assert_eq!(stage.trace_id, emitted.trace_id);
    assert_eq!(stage.span_id, emitted.stage_span_id);
    assert_eq!(
        stage.parent_id, pipeline.span_id,
        "stage is pipeline's child"
    );
    assert_eq!(stage.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(
        printed_attr(&stage.attributes, "pipeline.stage.name"),
        Some("load")
    );

    let loaded = printed.log("loaded").expect("log `loaded`");
    assert_eq!(loaded.trace_id, emitted.trace_id);
    assert_eq!(loaded.span_id, emitted.stage_span_id);
    assert!(loaded.severity_number.contains("(9)"), "{loaded:?}");
    assert_eq!(printed_attr(&loaded.attributes, "records"), Some("Int(3)"));
    assert_eq!(printed_attr(&loaded.attributes, "table"), Some("orders"));
    let slow = printed.log("slow batch").expect("log `slow batch`");
    assert_eq!(slow.span_id, emitted.pipeline_span_id);
    assert!(slow.severity_number.contains("(13)"), "{slow:?}");

    let counter = printed
        .metric("pipeline.records")
        .expect("pipeline.records");
    assert_eq!(counter.data_type, "Sum");
    assert_eq!(counter.unit, "{record}");
    let histogram = printed
        .metric("pipeline.stage.duration")
        .expect("pipeline.stage.duration");
    if json {
        // rotel-agent 0.0.1-alpha10 decodes an OTLP/JSON histogram point that has
        // `sum` as no data at all ("DataType: Empty"); protobuf is unaffected.
        assert!(
            ["Histogram", "Empty"].contains(&histogram.data_type.as_str()),
            "{histogram:?}"
        );
    } else {
        assert_eq!(histogram.data_type, "Histogram", "{histogram:?}");
    }

    // The resource, as printed for every signal.
    let resources = printed
        .spans
        .iter()
        .map(|s| &s.resource)
        .chain(printed.logs.iter().map(|l| &l.resource))
        .chain(printed.metrics.iter().map(|m| &m.resource));
    for resource in resources {
        assert_eq!(
            printed_attr(resource, "service.name"),
            Some("e2e-rotel"),
            "{resource:?}"
        );
        assert_eq!(printed_attr(resource, "team"), Some("data"));
        assert_eq!(
            printed_attr(resource, "telemetry.sdk.language"),
            Some("rust")
        );
    }
    assert_eq!(unwrap_str(&loaded.body), "loaded");
}

#[test]
fn rotel_receives_the_pipeline_over_grpc() {
    let rotel = start_rotel();
    let (emitted, printed) = export(&rotel, "grpc", false);
    assert_printed(&printed, &emitted, false);
    // The raw text a person reads, too.
    let output = rotel.output();
    assert!(
        output.contains(&format!("Trace ID       : {}", emitted.trace_id)),
        "{output}"
    );
    assert!(output.contains("Name           : stage"));
    assert!(output.contains("Body: Str(loaded)"));
    assert!(output.contains("-> Name: pipeline.records"));
}

#[test]
fn rotel_receives_the_pipeline_over_grpc_gzip() {
    let rotel = start_rotel();
    let (emitted, printed) = export(&rotel, "grpc", true);
    assert_printed(&printed, &emitted, false);
}

#[test]
fn rotel_receives_the_pipeline_over_http_protobuf() {
    let rotel = start_rotel();
    let (emitted, printed) = export(&rotel, "http/protobuf", false);
    assert_printed(&printed, &emitted, false);
}

#[test]
fn rotel_receives_the_pipeline_over_http_json_gzip() {
    let rotel = start_rotel();
    let (emitted, printed) = export(&rotel, "http/json", true);
    assert_printed(&printed, &emitted, true);
}
