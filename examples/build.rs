//! Generates the orders pipeline's convention constants from `registry/`.

fn main() {
    println!("cargo::rerun-if-changed=registry");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("conventions.rs");
    semtel_conventions::codegen::Builder::new()
        .registry("registry")
        .crate_path("::semtel::conventions")
        .out(out)
        .generate()
        .unwrap_or_else(|e| panic!("{e}"));
}
