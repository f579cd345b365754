//! semtel as a layer in a subscriber the user assembles
//! (`Builder::build_layer`): stages, `tracing` spans and log records reach
//! the in-process receiver over OTLP with their parents, the user's own
//! layer sees every event, semtel's filter decides only what is exported,
//! and the guard's shutdown flushes. The layer's session installs process
//! globals, so this binary holds a single test.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use semtel_tests::{ReceivedSpan, Receiver, Snapshot};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const WAIT: Duration = Duration::from_secs(20);

/// What the user's `fmt` layer writes.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn builder(rx: &Receiver, service: &str) -> semtel::Builder {
    let vars: HashMap<String, String> = [
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_endpoint().as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    semtel::builder().env(move |k| vars.get(k).cloned())
}

#[semtel::stage(pipeline = "users")]
fn load(rows: u64) -> u64 {
    tracing::info_span!("query").in_scope(|| {
        tracing::info!(rows, "loaded");
        tracing::debug!("row detail");
    });
    rows
}

fn one(snap: &Snapshot, name: &str) -> ReceivedSpan {
    snap.only_span(name)
}

#[test]
fn semtel_layer_exports_from_a_users_subscriber_next_to_the_users_layer() {
    let rx = Receiver::start();
    let (guard, semtel_layer) = builder(&rx, "users")
        .build_layer()
        .expect("valid configuration");
    let seen = Buffer::default();
    let writer = seen.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(semtel_layer)
        .try_init()
        .expect("the user's subscriber is the first global one");

    // On another thread: the global subscriber, no set_default.
    std::thread::spawn(|| tracing::info_span!("batch").in_scope(|| load(3)))
        .join()
        .expect("instrumented thread");

    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the stage, the spans and the log", |s| {
        s.spans().len() >= 3 && !s.logs().is_empty()
    });

    let batch = one(&snap, "batch");
    let stage = one(&snap, "load");
    let query = one(&snap, "query");
    assert!(stage.is_child_of(&batch), "{stage:#?} under {batch:#?}");
    assert!(query.is_child_of(&stage), "{query:#?} under {stage:#?}");
    assert_eq!(stage.attr_str("pipeline.name"), Some("users"));
    assert_eq!(stage.resource_str("service.name"), Some("users"));

    // semtel's filter (`RUST_LOG=info`) exports the info event only...
    let logs = snap.logs();
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert_eq!(logs[0].body_str(), Some("loaded"));
    assert!(
        logs[0].is_in(&query),
        "the log carries the query span's ids"
    );
    assert_eq!(logs[0].attr_i64("rows"), Some(3));
    // ...and the user's layer, unfiltered, sees both events.
    let text = seen.text();
    assert!(text.contains("loaded"), "{text}");
    assert!(text.contains("row detail"), "{text}");
    assert!(
        text.contains("query"),
        "the user's layer sees the spans: {text}"
    );

    // A second session's layer in a scoped subscriber of the user's: its
    // stages find its engine through the current dispatcher, not the
    // process-wide one the first installed.
    let rx2 = Receiver::start();
    let (guard2, layer2) = builder(&rx2, "scoped")
        .build_layer()
        .expect("valid configuration");
    let counted = Buffer::default();
    let writer = counted.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(layer2);
    tracing::subscriber::with_default(subscriber, || load(5));
    let report = guard2.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx2.expect(WAIT, "the scoped stage and log", |s| {
        s.spans().len() >= 2 && !s.logs().is_empty()
    });
    let stage = one(&snap, "load");
    assert!(one(&snap, "query").is_child_of(&stage));
    assert_eq!(stage.resource_str("service.name"), Some("scoped"));
    assert_eq!(snap.logs()[0].attr_i64("rows"), Some(5));
    assert!(counted.text().contains("row detail"));
}
