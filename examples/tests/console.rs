//! The README's run command: with no collector configured, the orders
//! pipeline renders its telemetry for a person on standard error.

use std::process::Command;

fn line<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{text}"))
}

#[test]
fn orders_pipeline_renders_to_the_console_without_a_collector() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orders"));
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().expect("the example runs");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "orders: 12 read, 4 rejected, 8 loaded");
    let err = String::from_utf8_lossy(&out.stderr);

    // Said once: how to point at a collector.
    assert_eq!(
        err.matches("no OTLP endpoint configured").count(),
        1,
        "{err}"
    );
    assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");

    // The span tree: the run at the root, stages nested, a tracing span in a
    // nested stage, errors with their error.type.
    let root = line(&err, "orders run pipeline.name=orders");
    let trace = &root[root.find("[trace=").expect("trace id on the root") + 7..][..8];
    assert!(line(&err, "├─ extract").contains("pipeline.stage.kind=source"));
    assert!(err.contains("│  ├─ validate pipeline.name=orders"), "{err}");
    assert!(err.contains("│  │  └─ parse amount"), "{err}");
    let failed = line(&err, "validate ✗ error: the row is malformed");
    assert!(failed.contains("error.type=malformed"), "{failed}");
    assert_eq!(failed.matches("error.type=").count(), 1, "{failed}");
    assert!(line(&err, "└─ consume consumer").contains("messaging.batch.message_count=8"));

    // The client span carries the order's attributes, redacted where asked.
    let store = line(&err, "store client");
    assert!(store.contains("db.system.name=sqlite"), "{store}");
    assert!(
        store.contains("orders.customer.email=[redacted]"),
        "{store}"
    );
    assert!(store.contains("orders.customer.id=h:"), "{store}");
    assert!(!err.contains("@example.com"), "no e-mail address is shown");
    assert!(!err.contains("gift wrap"), "skipped fields are not shown");

    // Log lines carry the ids of the span they were written in, and the
    // error.type of the rejection.
    let rejected: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("order rejected"))
        .collect();
    assert_eq!(rejected.len(), 4, "{err}");
    assert!(
        rejected
            .iter()
            .all(|l| l.contains("WARN") && l.contains(&format!("[trace={trace} span=")))
    );
    assert_eq!(
        rejected
            .iter()
            .filter(|l| l.contains("error.type=not_positive"))
            .count(),
        3
    );

    // The metrics summary at shutdown, with the pipeline registry's names.
    let summary = &err[err
        .find("semtel metrics summary")
        .expect("a metrics summary")..];
    assert!(
        summary.contains("pipeline.stage.duration (s) histogram"),
        "{summary}"
    );
    assert!(
        summary.contains("pipeline.records ({record}) counter"),
        "{summary}"
    );
    let failures = line(
        summary,
        "error.type=not_positive pipeline.name=orders pipeline.stage.kind=transform pipeline.stage.name=validate  total=",
    );
    assert!(failures.ends_with("total=3"), "{failures}");
    let extract = line(summary, "pipeline.stage.name=extract ");
    assert!(extract.ends_with("total=12"), "{summary}");

    // Nothing was lost, so no loss report.
    assert!(!err.contains("lost"), "{err}");
}
