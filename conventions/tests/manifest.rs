//! The registry manifest in both of the forms Weaver reads: `manifest.yaml`
//! with a `schema_url`, and the legacy `registry_manifest.yaml` with
//! `semconv_version`; and semtel's own registries in the current form.

use semtel_conventions::codegen::{Dependency, Reader, Registry, RegistryError};
use std::path::Path;

const GROUPS: &str = "\
groups:
  - id: registry.shop
    type: attribute_group
    brief: Shop.
    attributes:
      - id: shop.order.id
        type: string
        stability: development
        brief: The order.
";

fn read(files: &[(&str, &str)]) -> Result<Registry, RegistryError> {
    Reader::new()
        .name("given")
        .version("9.9.9")
        .read_sources(files.iter().map(|(p, t)| (Path::new(*p), *t)))
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    read(files)
        .expect_err("expected errors")
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn manifest_yaml_with_schema_url_gives_name_version_and_dependencies() {
    let manifest = "\
description: The shop's conventions.
schema_url: https://acme.example/schemas/shop/1.2.0
dependencies:
  - schema_url: https://opentelemetry.io/schemas/1.42.0
    registry_path: https://github.com/open-telemetry/semantic-conventions@v1.42.0[model]
";
    let r = read(&[
        ("shop/manifest.yaml", manifest),
        ("shop/registry.yaml", GROUPS),
    ])
    .unwrap();
    // Without `name`, the name is the schema URL's, as Weaver derives it.
    assert_eq!(r.name, "acme.example/schemas/shop");
    assert_eq!(r.version, "1.2.0");
    assert_eq!(
        r.schema_url.as_deref(),
        Some("https://acme.example/schemas/shop/1.2.0")
    );
    assert_eq!(
        r.dependencies,
        [Dependency {
            schema_url: Some("https://opentelemetry.io/schemas/1.42.0".into()),
            name: None,
            registry_path: Some(
                "https://github.com/open-telemetry/semantic-conventions@v1.42.0[model]".into()
            ),
        }]
    );
    // The manifest is not read as a group file.
    assert_eq!(r.attributes.len(), 1);
    assert_eq!(r.files, 2);

    let named = format!("name: shop\n{manifest}");
    let r = read(&[
        ("shop/manifest.yaml", &named),
        ("shop/registry.yaml", GROUPS),
    ])
    .unwrap();
    assert_eq!((r.name.as_str(), r.version.as_str()), ("shop", "1.2.0"));
}

#[test]
fn legacy_registry_manifest_yaml_is_still_read() {
    let manifest = "\
name: shop
semconv_version: 0.3.0
dependencies:
  - name: opentelemetry
";
    let r = read(&[
        ("shop/registry_manifest.yaml", manifest),
        ("shop/registry.yaml", GROUPS),
    ])
    .unwrap();
    assert_eq!((r.name.as_str(), r.version.as_str()), ("shop", "0.3.0"));
    assert_eq!(r.schema_url, None);
    assert_eq!(r.dependencies.len(), 1);
    assert_eq!(r.dependencies[0].name.as_deref(), Some("opentelemetry"));
    assert_eq!(r.attributes.len(), 1);

    // With `schema_base_url`, the legacy form names its schema URL too.
    let based = format!("{manifest}schema_base_url: https://acme.example/schemas/shop/\n");
    let r = read(&[("shop/registry_manifest.yaml", &based)]).unwrap();
    assert_eq!(
        r.schema_url.as_deref(),
        Some("https://acme.example/schemas/shop/0.3.0")
    );
}

#[test]
fn without_a_manifest_the_reader_settings_apply() {
    let r = read(&[("shop/registry.yaml", GROUPS)]).unwrap();
    assert_eq!((r.name.as_str(), r.version.as_str()), ("given", "9.9.9"));
    assert_eq!(r.schema_url, None);
    assert!(r.dependencies.is_empty());
}

#[test]
fn manifest_yaml_wins_over_the_legacy_name() {
    let r = read(&[
        (
            "shop/manifest.yaml",
            "schema_url: https://acme.example/shop/2.0.0\n",
        ),
        (
            "shop/registry_manifest.yaml",
            "name: old\nsemconv_version: 1.0.0\n",
        ),
        ("shop/registry.yaml", GROUPS),
    ])
    .unwrap();
    assert_eq!(
        (r.name.as_str(), r.version.as_str()),
        ("acme.example/shop", "2.0.0")
    );
}

#[test]
fn bad_manifests_are_reported_where_they_are_wrong() {
    let e = errors(&[(
        "shop/manifest.yaml",
        "\
schema_url: acme/1.0.0
dependencies:
  - registry_path: ../other
  - schema_url: https://opentelemetry.io
  - just a string
",
    )]);
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(
        e[0].starts_with("shop/manifest.yaml:1:13: `schema_url` `acme/1.0.0` is not a schema URL"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("shop/manifest.yaml:3:5: a dependency needs a `schema_url`"),
        "{e:#?}"
    );
    assert!(e[2].starts_with("shop/manifest.yaml:4:17: `schema_url` `https://opentelemetry.io`"));
    assert_eq!(
        e[3],
        "shop/manifest.yaml:5:5: a dependency must be a mapping"
    );

    let e = errors(&[("shop/manifest.yaml", "name: [a]\ndependencies: {}\n")]);
    assert_eq!(
        e,
        [
            "shop/manifest.yaml:1:7: `name` must be a string",
            "shop/manifest.yaml:2:15: `dependencies` must be a list",
        ]
    );
}

/// semtel's registries use the current form, which Weaver loads without the
/// legacy warnings (that `--future` turns into errors).
#[test]
fn semtel_registries_use_the_current_manifest_form() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let official = Reader::new().dependency(&semtel_conventions::official::REGISTRY);
    let user = official
        .clone()
        .dependency(&semtel_conventions::pipeline::REGISTRY);
    for (dir, reader) in [
        ("conventions/registry", &official),
        ("examples/registry", &user),
    ] {
        let dir = root.join(dir);
        assert!(dir.join("manifest.yaml").is_file(), "{}", dir.display());
        assert!(
            !dir.join("registry_manifest.yaml").exists(),
            "{}",
            dir.display()
        );
        let r = reader.read_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let url = r.schema_url.as_deref().expect("a schema_url");
        assert!(url.ends_with(&format!("/{}", r.version)), "{url}");
        for d in &r.dependencies {
            // Weaver needs a versioned schema URL and a place to load it from.
            assert!(d.schema_url.is_some() && d.registry_path.is_some(), "{d:?}");
        }
    }
    let pipeline = official
        .read_dir(root.join("conventions/registry"))
        .unwrap();
    assert_eq!(pipeline.name, "semtel-pipeline");
    assert_eq!(
        pipeline.version,
        semtel_conventions::pipeline::REGISTRY.version
    );
    let official = format!(
        "https://opentelemetry.io/schemas/{}",
        semtel_conventions::SEMCONV_VERSION
    );
    assert_eq!(
        pipeline.dependencies[0].schema_url.as_deref(),
        Some(official.as_str())
    );
}
