//! The README's run command: with no collector configured, the orders
//! pipeline renders its telemetry for a person on standard error.

use std::process::Command;

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
    let err = String::from_utf8_lossy(&out.stderr);

    // Said once: how to point at a collector.
    assert_eq!(
        err.matches("no OTLP endpoint configured").count(),
        1,
        "{err}"
    );
    assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");

    // The producer's tree: root with trace id, nested stages with attributes.
    let root = err
        .lines()
        .find(|l| l.contains("pipeline.run") && l.contains("[trace="))
        .unwrap_or_else(|| panic!("no root line in:\n{err}"));
    assert!(root.contains("pipeline.name=orders"), "{root}");
    assert!(err.lines().any(|l| l.contains("├─ extract")), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("└─ orders publish producer")),
        "{err}"
    );

    // The consumer continues the producer's trace from the message headers.
    let trace = &root[root.find("[trace=").unwrap() + 7..][..8];
    let consumer = err
        .lines()
        .find(|l| l.contains("orders process consumer"))
        .unwrap_or_else(|| panic!("no consumer span in:\n{err}"));
    assert!(
        consumer.contains(&format!("[trace={trace} parent=")),
        "{consumer}"
    );
    assert!(consumer.contains("(remote)"), "{consumer}");
    assert!(
        err.contains("└─ INSERT orders client db.system.name=sqlite"),
        "{err}"
    );

    // Log lines carry the ids of the span they were written in.
    let rejected: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("order rejected"))
        .collect();
    assert_eq!(rejected.len(), 2, "{err}");
    assert!(
        rejected
            .iter()
            .all(|l| l.contains("WARN") && l.contains(&format!("[trace={trace} span=")))
    );

    // The metrics summary at shutdown.
    let summary = &err[err
        .find("semtel metrics summary")
        .expect("a metrics summary")..];
    assert!(
        summary.contains("pipeline.records ({record}) counter"),
        "{summary}"
    );
    assert!(
        summary.contains("pipeline.stage.name=extract    total=12"),
        "{summary}"
    );
    assert!(
        summary.contains("error.type=invalid_order pipeline.stage.name=transform  total=2"),
        "{summary}"
    );
    assert!(
        summary.contains("pipeline.stage.duration (s) histogram"),
        "{summary}"
    );

    // Nothing was lost, so no loss report.
    assert!(!err.contains("lost"), "{err}");
}
