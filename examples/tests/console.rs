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

    // The run at the root, with its id and tally; the stages in it, each
    // with the run's id; a nested stage with a tracing span inside, errors
    // with their error.type.
    let root = line(&err, "run orders pipeline.name=orders pipeline.run.id=");
    assert!(root.contains("pipeline.run.failures=4"), "{root}");
    let trace = &root[root.find("[trace=").expect("trace id on the root") + 7..][..8];
    let run_id = &root[root.find("pipeline.run.id=").expect("run id") + 16..][..32];
    let extract = line(&err, "extract pipeline.name=orders");
    assert!(extract.contains("pipeline.stage.kind=source"), "{extract}");
    assert!(
        extract.contains(&format!("pipeline.run.id={run_id}")),
        "{extract}"
    );
    assert!(err.contains("├─ validate pipeline.name=orders"), "{err}");
    assert!(err.contains("│  └─ parse row"), "{err}");
    let failed = line(&err, "validate ✗ error: the row is malformed");
    assert!(failed.contains("error.type=malformed"), "{failed}");
    assert_eq!(failed.matches("error.type=").count(), 1, "{failed}");
    assert!(line(&err, "consume consumer").contains("messaging.batch.message_count=8"));
    let retried = line(&err, "send failed, retrying");
    assert!(retried.contains("error.type=transient"), "{retried}");

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

    // What the stages recorded as they went: bytes, a retry, dead letters
    // and lag; the run id is no metric label.
    let after = |header: &str| {
        &summary[summary
            .find(header)
            .unwrap_or_else(|| panic!("{header} in {summary}"))..]
    };
    let records = after("pipeline.records ({record}) counter");
    let extract = line(records, "pipeline.stage.name=extract ");
    assert!(extract.ends_with("total=12"), "{summary}");
    let bytes = after("pipeline.bytes (By) counter");
    let read = line(
        bytes,
        "pipeline.io.direction=in pipeline.name=orders pipeline.stage.kind=source pipeline.stage.name=extract",
    );
    assert!(!read.ends_with("total=0"), "{read}");
    let sent = line(
        bytes,
        "pipeline.io.direction=out pipeline.name=orders pipeline.stage.name=publish",
    );
    assert!(!sent.ends_with("total=0"), "{sent}");
    let retries = line(
        after("pipeline.retries ({retry}) counter"),
        "pipeline.stage.name=publish",
    );
    assert!(retries.ends_with("total=1"), "{retries}");
    let dead = line(
        after("pipeline.dead_letters ({record}) counter"),
        "pipeline.stage.name=transform",
    );
    assert!(dead.ends_with("total=4"), "{dead}");
    let lag = line(
        after("pipeline.lag (s) gauge"),
        "pipeline.partition=orders.csv",
    );
    assert!(lag.contains("pipeline.stage.name=extract"), "{lag}");
    let backlog = line(
        after("pipeline.backlog ({record}) gauge"),
        "pipeline.stage.name=consume",
    );
    assert!(backlog.ends_with("last=0"), "{backlog}");
    // Metric lines, up to the first span line (which starts with a duration).
    let series = (summary.lines().skip(1))
        .take_while(|l| l.starts_with("  ") && l.trim_start().starts_with(char::is_alphabetic));
    assert!(series.clone().count() > 20, "{summary}");
    assert!(
        series.clone().all(|l| !l.contains("pipeline.run.id")),
        "{summary}"
    );

    // Nothing was lost, so no loss report.
    assert!(!err.contains("lost"), "{err}");
}
