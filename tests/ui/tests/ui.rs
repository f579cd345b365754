//! Compile-time behaviour of `#[stage]` and `#[derive(Telemetry)]`: every form
//! that must compile, and every error the macros give, with its span.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
