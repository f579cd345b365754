//! Requests decoded with opentelemetry-proto's own types.

use super::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pv;
use prost::Message as _;

#[test]
fn values_decode_as_opentelemetry_proto_reads_them() {
    let values = [
        Value::from("text"),
        Value::Bool(false),
        Value::I64(-3),
        Value::I64(0),
        Value::F64(1.5),
        Value::Array(Array::I64(vec![1, -2, 300])),
        Value::Array(Array::String(vec!["a".into(), "bc".into()])),
        Value::Array(Array::Bool(vec![true, false])),
        Value::Array(Array::F64(vec![0.25])),
    ];
    let resource = Resource::builder_empty()
        .with_attributes(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| KeyValue::new(format!("k{i}"), v.clone())),
        )
        .build();
    let encoder = Encoder::new(&resource, InstrumentationScope::builder("semtel").build());
    let decoded = ExportTraceServiceRequest::decode(encoder.request(&[]).as_slice()).unwrap();
    let attrs = &decoded.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(attrs.len(), values.len());
    for (i, v) in values.iter().enumerate() {
        let got = attrs.iter().find(|kv| kv.key == format!("k{i}")).unwrap();
        let got = got.value.as_ref().and_then(|a| a.value.clone()).unwrap();
        let expected: opentelemetry_proto::tonic::common::v1::AnyValue = v.clone().into();
        assert_eq!(Some(got), expected.value, "k{i}");
    }
    let _ = Pv::BoolValue(true);
}

#[test]
fn plain_stage_records_decode_as_root_and_child() {
    use crate::record::{SpanSite, StaticValue};
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as Pk;

    // Written in place with their length computed up front (checked by
    // a debug assertion as they are written).
    static SITE: SpanSite = SpanSite::new(
        None,
        "load",
        None,
        None,
        &[("db.system.name", StaticValue::Str("sqlite"))],
    );
    clock::start();
    let t0 = clock::now();
    let record = |span_id, parent_id| {
        SpanRecord::new(7, &SITE, span_id, parent_id, t0, t0 + 1_000, true, None)
    };
    let encoder = Encoder::new(
        &Resource::builder_empty().build(),
        crate::record::stage_scope(),
    );
    let bytes = encoder.request(&[Item::Stage(record(1, 0)), Item::Stage(record(2, 1))]);
    let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    let spans = &decoded.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    let wall = clock::UnixNanos::current();
    for (span, (id, parent)) in spans.iter().zip([(1u64, 0u64), (2, 1)]) {
        assert_eq!(span.trace_id, 7u128.to_be_bytes());
        assert_eq!(span.span_id, id.to_be_bytes());
        let expected_parent = if parent == 0 {
            Vec::new()
        } else {
            parent.to_be_bytes().to_vec()
        };
        assert_eq!(span.parent_span_id, expected_parent);
        assert_eq!(span.name, "load");
        assert_eq!(span.kind, Pk::Internal as i32);
        assert_eq!(span.start_time_unix_nano, wall.at(t0));
        assert_eq!(span.end_time_unix_nano, wall.at(t0 + 1_000));
        assert_eq!(span.flags, 0x1 | HAS_IS_REMOTE);
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["pipeline.stage.name", "db.system.name"]);
        assert!(span.status.is_none() && span.events.is_empty());
    }
}

#[test]
fn a_stage_record_decodes_with_every_field() {
    use crate::record::{SpanSite, StageKind, StaticValue};
    use opentelemetry::trace::{Event, Link, SpanContext, TraceFlags, TraceState};
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as Pk;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

    static SITE: SpanSite = SpanSite::new(
        Some("orders"),
        "consume",
        Some(StageKind::Sink),
        Some(SpanKind::Consumer),
        &[
            ("db.system.name", StaticValue::Str("sqlite")),
            ("n", StaticValue::Int(7)),
        ],
    );
    clock::start();
    let linked = SpanContext::new(
        opentelemetry::trace::TraceId::from(5u128),
        opentelemetry::trace::SpanId::from(6u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    );
    let record = SpanRecord::new(
        0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
        &SITE,
        0x1112_1314_1516_1718,
        0x2122_2324_2526_2728,
        clock::now(),
        clock::now(),
        true,
        Some(Box::new(crate::record::Extra {
            attributes: vec![KeyValue::new("error.type", "timeout")],
            events: vec![Event::new("exception", SystemTime::now(), vec![], 0)],
            links: vec![Link::with_context(linked)],
            status: Status::error("it broke"),
            trace_state: Some(std::sync::Arc::new(
                TraceState::from_key_value([("vendor", "x")]).unwrap(),
            )),
            parent_remote: true,
            error_type: Some("timeout".into()),
            run: None,
        })),
    );
    let encoder = Encoder::new(
        &Resource::builder_empty().build(),
        crate::record::stage_scope(),
    );
    let bytes = encoder.request(&[Item::Stage(record)]);
    let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    let scope_spans = &decoded.resource_spans[0].scope_spans[0];
    assert_eq!(scope_spans.scope.as_ref().unwrap().name, "semtel");
    assert_eq!(scope_spans.schema_url, semtel_conventions::SCHEMA_URL);
    let span = &scope_spans.spans[0];
    assert_eq!(
        span.trace_id,
        (0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10u128).to_be_bytes()
    );
    assert_eq!(span.span_id, 0x1112_1314_1516_1718u64.to_be_bytes());
    assert_eq!(span.parent_span_id, 0x2122_2324_2526_2728u64.to_be_bytes());
    assert_eq!(span.trace_state, "vendor=x");
    assert_eq!(span.name, "consume");
    assert_eq!(span.kind, Pk::Consumer as i32);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    assert!(span.start_time_unix_nano > 1_600_000_000_000_000_000);
    // sampled, and the parent known to be remote
    assert_eq!(span.flags, 0x1 | HAS_IS_REMOTE | IS_REMOTE);
    let attr = |k: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    assert_eq!(
        attr("pipeline.name"),
        Some(Pv::StringValue("orders".into()))
    );
    assert_eq!(
        attr("pipeline.stage.kind"),
        Some(Pv::StringValue("sink".into()))
    );
    assert_eq!(
        attr("db.system.name"),
        Some(Pv::StringValue("sqlite".into()))
    );
    assert_eq!(attr("n"), Some(Pv::IntValue(7)));
    assert_eq!(attr("error.type"), Some(Pv::StringValue("timeout".into())));
    assert_eq!(span.events[0].name, "exception");
    assert_eq!(span.links[0].span_id, 6u64.to_be_bytes());
    let status = span.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "it broke");
}

#[test]
fn values_are_cut_to_a_number_of_characters_on_a_boundary() {
    assert_eq!(cut("héllo", 2), Some("hé"));
    assert_eq!(cut("abc", 3), None);
    assert_eq!(cut("ééé", 3), None, "6 bytes but 3 characters");
    assert_eq!(cut("𝄞𝄞𝄞", 1), Some("𝄞"));
    assert_eq!(cut("abc", 0), Some(""));
    let limits = SpanLimits {
        attribute_value_length: Some(2),
        ..SpanLimits::DEFAULT
    };
    let mut limited = Limited {
        limits: &limits,
        count: 0,
    };
    let list = Value::Array(Array::String(vec!["abc".into(), "d".into()]));
    assert_eq!(
        *limited.value(&list),
        Value::Array(Array::String(vec!["ab".into(), "d".into()]))
    );
    assert_eq!(*limited.value(&Value::I64(12345)), Value::I64(12345));
    assert_eq!(limited.count, 1);
}
