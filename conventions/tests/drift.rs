//! The committed generated files are exactly what the generator makes from the
//! registries: the official model (`shared/semconv/model` beside the checkout,
//! or `SEMCONV_MODEL_DIR`) and `conventions/registry`.
//!
//! On a difference, regenerate with
//! `cargo run -p semtel-conventions --features codegen -- update` and review the diff.

use semtel_conventions::codegen::{self, Builder};
use std::path::Path;

fn model_dir() -> std::path::PathBuf {
    let dir = codegen::default_model_dir();
    assert!(
        dir.is_dir(),
        "the official semantic-conventions model is not at {}: put `shared/semconv/model` \
         beside the checkout or set SEMCONV_MODEL_DIR (this test must not pass without it)",
        dir.display()
    );
    dir
}

fn assert_same(generated: &str, committed: &str) {
    let old = std::fs::read_to_string(committed)
        .unwrap_or_else(|e| panic!("cannot read the committed {committed}: {e}"));
    if old == generated {
        return;
    }
    let line = old
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .map_or_else(
            || old.lines().count().min(generated.lines().count()) + 1,
            |i| i + 1,
        );
    let name = Path::new(committed)
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    panic!(
        "src/generated/{name} is out of date (first difference at line {line}): run \
         `cargo run -p semtel-conventions --features codegen -- update` and review the diff"
    );
}

#[test]
fn official_output_matches_the_registry() {
    let b = Builder::official(model_dir());
    let registry = b.read().unwrap_or_else(|e| panic!("{e}"));
    let code = b.render(&registry).unwrap_or_else(|e| panic!("{e}"));
    assert_same(&code, codegen::OFFICIAL_OUT);
}

#[test]
fn pipeline_output_matches_the_registry() {
    let b = Builder::pipeline();
    let registry = b.read().unwrap_or_else(|e| panic!("{e}"));
    let code = b.render(&registry).unwrap_or_else(|e| panic!("{e}"));
    assert_same(&code, codegen::PIPELINE_OUT);
}

#[test]
fn generated_files_name_no_machine_path() {
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in a workspace");
    for file in [codegen::OFFICIAL_OUT, codegen::PIPELINE_OUT] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains(&*checkout.to_string_lossy()), "{file}");
    }
}
