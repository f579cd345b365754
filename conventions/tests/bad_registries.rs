//! The reader on hand-written bad registries: each error names file, line and
//! what is wrong, and every error is reported, not only the first.

use semtel_conventions::codegen::{Reader, RegistryError};
use std::path::Path;

fn read(files: &[(&str, &str)]) -> Result<semtel_conventions::codegen::Registry, RegistryError> {
    Reader::new().read_sources(files.iter().map(|(p, t)| (Path::new(*p), *t)))
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    read(files)
        .expect_err("expected errors")
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

const ATTRS: &str = "\
groups:
  - id: registry.shop
    type: attribute_group
    brief: Shop.
    attributes:
      - id: shop.order.id
        type: string
        stability: development
        brief: The order.
      - id: shop.order.kind
        type:
          members:
            - id: retail
              value: retail
            - id: wholesale
              value: wholesale
        brief: Kind.
";

#[test]
fn a_good_registry_reads() {
    let r = read(&[("shop/registry.yaml", ATTRS)]).unwrap();
    assert_eq!(r.attributes.len(), 2);
    assert_eq!(r.enum_count(), 1);
}

#[test]
fn bad_yaml_names_file_and_line() {
    let e = errors(&[(
        "bad.yaml",
        "groups:\n  - id: x\n    type: [attribute_group\n  - id: y\n",
    )]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("bad.yaml:4:"), "{e:?}");
    assert!(e[0].contains("invalid YAML"), "{e:?}");
}

#[test]
fn unknown_ref_names_line_and_suggests() {
    let metrics = "\
groups:
  - id: metric.shop.orders
    type: metric
    metric_name: shop.orders
    instrument: counter
    unit: '{order}'
    brief: Orders.
    attributes:
      - ref: shop.order.kind
      - ref: shop.ordr.id
";
    let e = errors(&[("registry.yaml", ATTRS), ("metrics.yaml", metrics)]);
    assert_eq!(
        e,
        [
            "metrics.yaml:10:14: unknown attribute `shop.ordr.id` in `ref` of group \
          `metric.shop.orders`, did you mean `shop.order.id`?"
        ]
    );
}

#[test]
fn duplicate_id_names_both_places() {
    let dup = "\
groups:
  - id: registry.shop.more
    type: attribute_group
    brief: More.
    attributes:
      - id: shop.order.id
        type: int
        brief: Again.
";
    let e = errors(&[("a.yaml", ATTRS), ("b.yaml", dup)]);
    assert_eq!(
        e,
        ["b.yaml:6:13: duplicate attribute id `shop.order.id`, first defined at a.yaml:6:13"]
    );
}

#[test]
fn unknown_type_and_instrument_and_missing_fields_all_reported() {
    let bad = "\
groups:
  - id: registry.bad
    type: attribute_group
    brief: Bad.
    attributes:
      - id: bad.size
        type: integer
        brief: Size.
      - id: bad.kind
        type:
          members:
            - id: a
              value: 1
            - id: b
              value: b
        brief: Mixed.
  - id: metric.bad.count
    type: metric
    metric_name: bad.count
    instrument: meter
    unit: '1'
    brief: Count.
  - id: metric.bad.nameless
    type: metric
    instrument: counter
    unit: '1'
    brief: No name.
  - id: span.bad
    type: trace
    brief: Unknown group type.
";
    let e = errors(&[("bad.yaml", bad)]);
    let expected = [
        "bad.yaml:7:15: unknown type `integer` for attribute `bad.size`",
        "bad.yaml:11:11: enum `bad.kind` mixes int and string values",
        "bad.yaml:20:17: unknown instrument `meter` in metric `metric.bad.count`",
        "bad.yaml:23:5: metric group `metric.bad.nameless` has no `metric_name`",
        "bad.yaml:29:11: unknown group type `trace` in group `span.bad`",
    ];
    assert_eq!(e.len(), expected.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expected) {
        assert!(got.starts_with(want), "got {got:?}, want {want:?}");
    }
}

#[test]
fn unknown_extends_and_duplicate_metric() {
    let m = "\
groups:
  - id: metric.a
    type: metric
    metric_name: shop.orders
    instrument: counter
    unit: '1'
    extends: attributes.nowhere
  - id: metric.b
    type: metric
    metric_name: shop.orders
    instrument: counter
    unit: '1'
";
    let e = errors(&[("m.yaml", m)]);
    assert_eq!(
        e,
        [
            "m.yaml:7:14: group `metric.a` extends unknown group `attributes.nowhere`",
            "m.yaml:8:5: duplicate metric name `shop.orders`, first defined at m.yaml:2:5",
        ]
    );
}

#[test]
fn refs_resolve_against_the_official_tables() {
    let m = "\
groups:
  - id: metric.shop.failures
    type: metric
    metric_name: shop.failures
    instrument: counter
    unit: '{failure}'
    attributes:
      - ref: error.type
        requirement_level: required
";
    let reader = Reader::new().dependency(&semtel_conventions::official::REGISTRY);
    let r = reader
        .read_sources([(Path::new("m.yaml"), m)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.metrics[0].attributes[0].0, "error.type");
    // Without the dependency, the ref is unknown.
    assert!(
        Reader::new()
            .read_sources([(Path::new("m.yaml"), m)])
            .is_err()
    );
}

#[test]
fn redefining_an_official_attribute_is_an_error() {
    let a = "\
groups:
  - id: registry.mine
    type: attribute_group
    attributes:
      - id: error.type
        type: string
";
    let reader = Reader::new().dependency(&semtel_conventions::official::REGISTRY);
    let e = reader
        .read_sources([(Path::new("a.yaml"), a)])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "a.yaml:5:13: attribute `error.type` is already defined by the `opentelemetry` \
         registry: use `ref: error.type`"
    );
}
