//! Header values and the credentials of an endpoint URL reach the
//! collector and nothing else: no `Debug`, `Display`, error, report or
//! console output shows them, and a `main` returning semtel's error prints
//! it readably. Each test greps everything shown for a marker.

mod common;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::{WAIT, builder, closed_port};
use semtel_tests::Receiver;

/// The marker every secret carries.
const SECRET: &str = "s3cr3t-m4rker";
/// `base64("user:s3cr3t-m4rker")`: the credentials of [`endpoint`]'s URL.
const BASIC: &str = "Basic dXNlcjpzM2NyM3QtbTRya2Vy";
const BOUND: Duration = Duration::from_secs(5);

/// `base` (`http://127.0.0.1:port`) with `user:SECRET` as user information.
fn with_credentials(base: &str) -> String {
    base.replacen("://", &format!("://user:{SECRET}@"), 1)
}

/// Variables carrying the secret in every place one can be given.
fn secret_vars(endpoint: &str, protocol: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_SERVICE_NAME", "secrets".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", with_credentials(endpoint)),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("x-api-key={SECRET},x-tenant=blue"),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            format!("x-traces-key=Bearer%20{SECRET}"),
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".to_owned()),
    ]
}

fn refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[semtel::stage(pipeline = "secrets")]
fn guarded(rows: u32) -> u32 {
    tracing::warn!(rows, "guarded");
    rows
}

/// Console output kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} showed the secret:\n{text}");
}

/// Against a closed port (every export fails, so the report carries the
/// transports' errors) with the console beside OTLP: the builder's,
/// session's and configuration's `Debug`, the report's `Display` and
/// `Debug`, and the console output show no secret.
fn nothing_shows_a_secret(protocol: &'static str) {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let mut vars = secret_vars(&endpoint, protocol);
    for signal in ["TRACES", "LOGS", "METRICS"] {
        vars.push((
            match signal {
                "TRACES" => "OTEL_TRACES_EXPORTER",
                "LOGS" => "OTEL_LOGS_EXPORTER",
                _ => "OTEL_METRICS_EXPORTER",
            },
            "otlp,console".to_owned(),
        ));
    }
    let console = Captured::default();
    let b = builder(&refs(&vars))
        .header("x-code-key", SECRET)
        .console_writer(console.clone())
        .shutdown_timeout(BOUND);
    let mut shown = vec![("Builder Debug", format!("{b:?} {b:#?}"))];
    let session = b.build().expect("valid configuration");
    shown.push(("Session Debug", format!("{session:?} {session:#?}")));
    shown.push(("Config Debug", format!("{:?}", session.config())));
    common::run_pipeline(&session);
    tracing::dispatcher::with_default(session.dispatch(), || guarded(2));
    let report = session.shutdown();
    let traces = report
        .signal(semtel::Signal::Traces)
        .next()
        .expect("traces");
    // The errors are there to be shown: the secrets are not.
    assert!(traces.lost() > 0 && traces.last_error.is_some(), "{report}");
    assert!(traces.destination.contains(&endpoint), "{report}");
    shown.push(("ShutdownReport", format!("{report} {report:?}")));
    let console = String::from_utf8_lossy(&console.0.lock().unwrap()).into_owned();
    assert!(
        console.contains("guarded"),
        "the console rendered: {console}"
    );
    shown.push(("console output", console));
    for (what, text) in shown {
        assert_no_secret(what, &text);
    }
}

#[test]
fn nothing_shows_a_secret_over_grpc() {
    nothing_shows_a_secret("grpc");
}

#[test]
fn nothing_shows_a_secret_over_http_protobuf() {
    nothing_shows_a_secret("http/protobuf");
}

#[test]
fn nothing_shows_a_secret_over_http_json() {
    nothing_shows_a_secret("http/json");
}

/// The secrets still reach the collector: every request carries the
/// headers, and the URL's credentials as `Authorization: Basic`.
fn credentials_reach_the_collector(protocol: &'static str) {
    let rx = Receiver::start();
    let endpoint = if protocol == "grpc" {
        rx.grpc_endpoint()
    } else {
        rx.http_endpoint()
    };
    let session = builder(&refs(&secret_vars(&endpoint, protocol)))
        .shutdown_timeout(BOUND)
        .build()
        .expect("valid configuration");
    assert!(
        !session.config().traces.otlp.endpoint.contains('@'),
        "{:?}",
        session.config()
    );
    common::run_pipeline(&session);
    tracing::dispatcher::with_default(session.dispatch(), || guarded(3));
    let report = session.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    assert_no_secret("ShutdownReport", &format!("{report} {report:?}"));
    let snapshot = rx.expect(WAIT, "traces, logs and metrics", |s| {
        s.spans().len() >= 3 && s.logs().len() >= 3 && s.metric("pipeline.records").is_some()
    });
    for request in &snapshot.requests {
        let signal = request.signal();
        assert_eq!(request.header("authorization"), Some(BASIC), "{signal:?}");
        assert_eq!(request.header("x-api-key"), Some(SECRET), "{signal:?}");
        assert_eq!(request.header("x-tenant"), Some("blue"), "{signal:?}");
        let traces_key =
            (signal == semtel_tests::Signal::Traces).then(|| format!("Bearer {SECRET}"));
        assert_eq!(
            request.header("x-traces-key"),
            traces_key.as_deref(),
            "{signal:?}"
        );
    }
}

#[test]
fn credentials_reach_the_collector_over_grpc() {
    credentials_reach_the_collector("grpc");
}

#[test]
fn credentials_reach_the_collector_over_http_protobuf() {
    credentials_reach_the_collector("http/protobuf");
}

#[test]
fn credentials_reach_the_collector_over_http_json() {
    credentials_reach_the_collector("http/json");
}

/// A process that uses `init()`: the guard's `Debug`, the report the guard
/// prints to standard error when telemetry was lost, and a configuration
/// error with a malformed header list show no secret.
#[test]
fn a_process_with_secrets_prints_none() {
    let out = common::child::run("guard_child", &[], WAIT * 2);
    assert!(out.success, "{out}");
    let all = out.all();
    assert!(all.contains("Guard {"), "{out}");
    assert!(all.contains("telemetry items lost"), "{out}");
    assert!(
        all.contains("OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=[redacted],[redacted]\""),
        "{out}"
    );
    assert_no_secret("the process's output", &all);
}

#[test]
fn guard_child() {
    if !common::child::is_child() {
        return;
    }
    // A header list whose second item is malformed (a pasted credential).
    let bad = common::builder(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        &format!("Authorization=Basic%20{SECRET},Bearer {SECRET}"),
    )])
    .init()
    .expect_err("a malformed header list");
    eprintln!("{bad}\n{bad:?}");

    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let guard = common::builder(&refs(&secret_vars(&endpoint, "http/protobuf")))
        .shutdown_timeout(BOUND)
        .init()
        .expect("the only init in this process");
    println!("{guard:?}");
    println!("{guard:#?}");
    guarded(4);
    tracing::error!("with a guard");
    // Dropped: the guard prints what was lost to standard error.
    drop(guard);
}

/// With the README's `fn main() -> Result<(), Box<dyn Error>>`, a
/// configuration error prints readably: one invalid setting a line, not
/// `Config([ConfigError { .. }])`.
#[test]
fn a_main_returning_the_error_prints_it_readably() {
    let out = common::child::run("main_child", &[], WAIT);
    assert!(!out.success, "the child's main returned Ok: {out}");
    let all = out.all();
    for line in [
        "Error: invalid telemetry configuration:\n  - ",
        "\n  - OTEL_BSP_MAX_QUEUE_SIZE=\"0\" is not valid: expected a whole number from 1 to \
         1048576\n",
        "\n  - OTEL_EXPORTER_OTLP_HEADERS=\"x-key=[redacted],[redacted]\" is not valid: expected \
         comma-separated key=value pairs",
    ] {
        assert!(all.contains(line), "no `{line}` in {out}");
    }
    assert!(!all.contains("ConfigError {"), "{out}");
    assert_no_secret("main's error", &all);
}

/// What a `main` returning the error does; run by the test above (the test
/// harness prints an `Err` as `main` does: `Error: {err:?}`).
#[test]
fn main_child() -> Result<(), Box<dyn std::error::Error>> {
    if !common::child::is_child() {
        return Ok(());
    }
    let _telemetry = common::builder(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("x-key={SECRET},oops"),
        ),
    ])
    .init()?;
    Ok(())
}
