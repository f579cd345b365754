//! Generation for a user's registry, `tests/fixtures/shop`, which `ref`s the
//! official (`error.type`) and pipeline (`pipeline.stage.name`) registries.
//! The committed output is compiled here, as a build script's output would be.

use semtel_conventions::codegen::Builder;
use semtel_conventions::model::{AttributeEnum, EnumValue, Instrument, RequirementLevel, Source};

const REGISTRY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/shop");
const OUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/shop_generated.rs"
);

#[allow(dead_code)]
mod shop {
    include!("fixtures/shop_generated.rs");
}

#[test]
fn generated_code_matches_the_registry() {
    let b = Builder::new().registry(REGISTRY);
    let registry = b.read().unwrap_or_else(|e| panic!("{e}"));
    let code = b.render(&registry).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("SEMTEL_BLESS").is_some() {
        std::fs::write(OUT, &code).unwrap();
    }
    let committed = std::fs::read_to_string(OUT).unwrap();
    assert!(
        committed == code,
        "tests/fixtures/shop_generated.rs is out of date: rerun with SEMTEL_BLESS=1"
    );
}

#[test]
fn generated_typed_items_work() {
    assert_eq!(shop::attribute::SHOP_ORDER_ID.name(), "shop.order.id");
    assert_eq!(shop::attribute::ShopOrderKind::Retail.as_str(), "retail");
    assert_eq!(
        shop::attribute::ShopOrderKind::Wholesale.value(),
        EnumValue::Str("wholesale")
    );
    let orders = shop::metric::SHOP_ORDERS;
    assert_eq!(
        (orders.name, orders.unit, orders.instrument),
        ("shop.orders", "{order}", Instrument::Counter)
    );
    // Typed by instrument, and sharing the table's attributes.
    let _: semtel_conventions::model::CounterDescriptor<_> = orders;
    let table = shop::REGISTRY.metric("shop.orders").unwrap();
    assert_eq!(orders.attributes, table.attributes);
    assert!(orders.attributes.iter().any(|a| a.name == "error.type"));
}

#[test]
fn generated_tables_work() {
    assert_eq!(shop::REGISTRY.source, Source::User);
    let m = shop::REGISTRY.metric("shop.orders").unwrap();
    assert_eq!(
        m.attribute("error.type").unwrap().requirement,
        RequirementLevel::ConditionallyRequired
    );
    assert_eq!(
        m.attribute("pipeline.stage.name").unwrap().requirement,
        RequirementLevel::Recommended
    );
    assert!(
        shop::REGISTRY
            .attribute("shop.order.customer")
            .unwrap()
            .deprecated
            .is_some()
    );
}

#[test]
fn briefs_become_doc_comments() {
    let committed = std::fs::read_to_string(OUT).unwrap();
    assert!(committed.contains("    /// The identifier of an order.\n"));
    assert!(committed.contains("#[deprecated(note = \"obsoleted\")]"));
}
