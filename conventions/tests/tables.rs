//! The built-in tables and typed items, with default features only (what
//! `semtel-macros` sees).

use semtel_conventions::model::{
    AttributeType, EnumValue, Instrument, NumberType, RequirementLevel, Source, Stability,
    ValueType,
};
use semtel_conventions::{self as conv, attribute, metric, official, pipeline};

#[test]
fn tables_are_sorted_for_binary_search() {
    for r in conv::REGISTRIES {
        assert!(
            r.attributes.windows(2).all(|w| w[0].name < w[1].name),
            "{}",
            r.name
        );
        assert!(
            r.metrics.windows(2).all(|w| w[0].name < w[1].name),
            "{}",
            r.name
        );
        for m in r.metrics {
            assert!(
                m.attributes.windows(2).all(|w| w[0].name < w[1].name),
                "{}",
                m.name
            );
        }
    }
}

#[test]
fn official_counts() {
    assert_eq!(official::ATTRIBUTES.len(), 932);
    assert_eq!(official::METRICS.len(), 532);
    let enums = official::ATTRIBUTES
        .iter()
        .filter(|a| matches!(a.ty, AttributeType::Enum(_)))
        .count();
    assert_eq!(enums, 168);
    assert_eq!(official::REGISTRY.version, conv::SEMCONV_VERSION);
    assert!(conv::SCHEMA_URL.ends_with(conv::SEMCONV_VERSION));
}

#[test]
fn lookup_attribute() {
    let a = conv::attribute("db.system.name").unwrap();
    assert_eq!(a.source, Source::Official);
    assert_eq!(a.stability, Stability::Stable);
    assert_eq!(a.ty.value_type(), ValueType::String);
    let pg = a.member("postgresql").unwrap();
    assert_eq!(pg.value, EnumValue::Str("postgresql"));
    let old = conv::attribute("db.system").unwrap();
    assert_eq!(old.deprecated.unwrap().renamed_to, Some("db.system.name"));
    assert!(conv::attribute("db.sytem").is_none());
    assert_eq!(
        conv::attribute("pipeline.stage.kind").unwrap().source,
        Source::Pipeline
    );
}

#[test]
fn template_keys_find_their_template() {
    let a = conv::attribute_for_key("http.request.header.content-type").unwrap();
    assert_eq!(a.name, "http.request.header");
    assert!(a.ty.is_template());
    assert!(conv::attribute_for_key("http.request.nothing.here").is_none());
}

#[test]
fn lookup_metric() {
    let m = conv::metric("http.server.request.duration").unwrap();
    assert_eq!(
        (m.instrument, m.unit, m.stability),
        (Instrument::Histogram, "s", Stability::Stable)
    );
    assert_eq!(
        m.attribute("http.request.method").unwrap().requirement,
        RequirementLevel::Required
    );
    assert!(m.required_attributes().any(|a| a == "url.scheme"));
    assert_eq!(conv::metrics().count(), 532 + pipeline::METRICS.len());
    assert_eq!(conv::attributes().count(), 932 + pipeline::ATTRIBUTES.len());
}

#[test]
fn did_you_mean() {
    assert_eq!(
        conv::suggest_attribute("db.sytem.name"),
        Some("db.system.name")
    );
    // Closest is the deprecated `db.system`: its replacement is suggested.
    assert_eq!(conv::suggest_attribute("db.sytem"), Some("db.system.name"));
    assert_eq!(
        conv::suggest_metric("pipeline.stage.durations"),
        Some("pipeline.stage.duration")
    );
    assert_eq!(conv::suggest_attribute("completely.unrelated.thing"), None);
}

#[test]
fn typed_items_know_their_types() {
    let k: conv::model::AttributeKey<attribute::ErrorType> = attribute::ERROR_TYPE;
    assert_eq!(k.name(), "error.type");
    assert_eq!(attribute::ErrorType::Other.as_str(), "_OTHER");
    let _: conv::model::AttributeKey<String> = attribute::URL_SCHEME;
    let _: conv::model::AttributeKey<i64> = attribute::SERVER_PORT;
    let t: conv::model::AttributeTemplate<Vec<String>> = attribute::HTTP_REQUEST_HEADER;
    assert_eq!(t.key("x-id"), "http.request.header.x-id");
    let m = metric::HTTP_SERVER_REQUEST_DURATION;
    assert_eq!(
        (m.name, m.unit, m.number),
        (
            "http.server.request.duration",
            "s",
            Some(NumberType::Double)
        )
    );
}

#[test]
fn pipeline_registry() {
    assert!(
        pipeline::ATTRIBUTES
            .iter()
            .all(|a| a.name.starts_with("pipeline."))
    );
    assert!(
        pipeline::METRICS
            .iter()
            .all(|m| m.name.starts_with("pipeline."))
    );
    for (name, instrument, unit) in [
        ("pipeline.stage.duration", Instrument::Histogram, "s"),
        ("pipeline.records", Instrument::Counter, "{record}"),
        ("pipeline.bytes", Instrument::Counter, "By"),
        ("pipeline.stage.failures", Instrument::Counter, "{failure}"),
        (
            "pipeline.stage.active",
            Instrument::UpDownCounter,
            "{execution}",
        ),
        ("pipeline.lag", Instrument::Gauge, "s"),
        ("pipeline.retries", Instrument::Counter, "{retry}"),
        ("pipeline.dead_letters", Instrument::Counter, "{record}"),
    ] {
        let m = pipeline::REGISTRY
            .metric(name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!((m.instrument, m.unit), (instrument, unit), "{name}");
        assert_eq!(
            m.attribute("pipeline.name").unwrap().requirement,
            RequirementLevel::Required
        );
        // Reused attributes are official ones.
        for a in m
            .attributes
            .iter()
            .filter(|a| !a.name.starts_with("pipeline."))
        {
            assert_eq!(
                conv::attribute(a.name).unwrap().source,
                Source::Official,
                "{}",
                a.name
            );
        }
    }
    let failures = pipeline::REGISTRY
        .metric("pipeline.stage.failures")
        .unwrap();
    assert_eq!(
        failures.attribute("error.type").unwrap().requirement,
        RequirementLevel::Required
    );
    assert!(failures.attribute("messaging.destination.name").is_some());
    assert!(failures.attribute("db.system.name").is_some());
    assert_eq!(
        pipeline::attribute::PipelineStageKind::Transform.as_str(),
        "transform"
    );
    assert_eq!(pipeline::metric::PIPELINE_STAGE_DURATION.unit, "s");
}

#[test]
fn no_official_name_uses_the_pipeline_namespace() {
    let clash: Vec<&str> = official::ATTRIBUTES
        .iter()
        .map(|a| a.name)
        .chain(official::METRICS.iter().map(|m| m.name))
        .filter(|n| n.starts_with("pipeline.") || *n == "pipeline")
        .collect();
    assert_eq!(clash, Vec::<&str>::new());
}
