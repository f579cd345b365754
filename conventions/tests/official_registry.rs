//! The reader on the official registry v1.42.0.

use semtel_conventions::codegen::{self, AttrType, MemberValue, Reader, Registry};
use semtel_conventions::model::{Instrument, RequirementLevel, Stability, ValueType};
use std::sync::OnceLock;
use std::time::Instant;

fn official() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let dir = codegen::default_model_dir();
        assert!(
            dir.is_dir(),
            "the official model is not at {} (set SEMCONV_MODEL_DIR)",
            dir.display()
        );
        let start = Instant::now();
        let r = Reader::new()
            .read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"));
        // Reported, not asserted: timings vary by machine.
        eprintln!(
            "read and resolved {} files in {:.1} ms: {} attributes ({} enums), {} metrics",
            r.files,
            start.elapsed().as_secs_f64() * 1e3,
            r.attributes.len(),
            r.enum_count(),
            r.metrics.len()
        );
        r
    })
}

#[test]
fn every_file_parses_and_counts_match() {
    let r = official();
    assert_eq!(r.files, 242, "files (240 .yaml, 2 .yml)");
    assert_eq!(r.groups.len(), 941, "groups");
    assert_eq!(r.attributes.len(), 932, "attributes");
    assert_eq!(r.enum_count(), 168, "enum attributes");
    assert_eq!(r.metrics.len(), 532, "metrics");
}

#[test]
fn attributes_carry_type_stability_and_deprecation() {
    let r = official();
    let db = r.attribute("db.system.name").unwrap();
    assert_eq!(db.stability, Stability::Stable);
    let AttrType::Enum(members) = &db.ty else {
        panic!("{:?}", db.ty)
    };
    assert!(members.iter().any(|m| m.id == "postgresql"));

    let old = r.attribute("db.system").unwrap();
    let dep = old.deprecated.as_ref().unwrap();
    assert_eq!(dep.renamed_to.as_deref(), Some("db.system.name"));

    let header = r.attribute("http.request.header").unwrap();
    assert_eq!(header.ty, AttrType::Template(ValueType::StringArray));

    let status = r.attribute("rpc.grpc.status_code").map(|a| &a.ty);
    if let Some(AttrType::Enum(m)) = status {
        assert!(matches!(m[0].value, MemberValue::Int(_)));
    }
    let error_type = r.attribute("error.type").unwrap();
    assert_eq!(error_type.location.line, 8);
    assert!(error_type.location.file.ends_with("error/registry.yaml"));
}

#[test]
fn metrics_resolve_extends_and_refs() {
    let r = official();
    let m = r.metric("http.server.request.duration").unwrap();
    assert_eq!(m.instrument, Instrument::Histogram);
    assert_eq!(m.unit, "s");
    assert_eq!(m.stability, Stability::Stable);
    let level = |id: &str| m.attributes.iter().find(|(a, _)| a == id).map(|(_, l)| *l);
    assert_eq!(
        level("http.request.method"),
        Some(RequirementLevel::Required)
    );
    assert_eq!(
        level("error.type"),
        Some(RequirementLevel::ConditionallyRequired)
    );
    // From `extends`.
    let db = r.metric("db.client.operation.duration").unwrap();
    assert!(
        db.attributes.iter().any(|(a, _)| a == "db.collection.name"),
        "{:?}",
        db.attributes
    );
    assert!(db.attributes.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
}

#[test]
fn no_official_name_uses_the_pipeline_namespace() {
    let r = official();
    let taken: Vec<&str> = r
        .attributes
        .iter()
        .map(|a| a.id.as_str())
        .chain(r.metrics.iter().map(|m| m.name.as_str()))
        .chain(r.groups.iter().map(|g| g.id.as_str()))
        .filter(|id| {
            id.starts_with("pipeline.") || id.contains(".pipeline.") && !id.contains("cicd")
        })
        .collect();
    assert_eq!(taken, Vec::<&str>::new());
}
