//! semtel's own stage span engine against the in-process OTLP receiver:
//! nesting with `tracing` spans both ways, async stages across threads,
//! spans left on threads that are still alive at shutdown, and full rings
//! dropping with exact accounting.

mod common;

use std::time::Duration;

use semtel::Signal;
use semtel_tests::Receiver;
use semtel_tests::proto::tonic::trace::v1::status::StatusCode;

const WAIT: Duration = Duration::from_secs(10);

fn session(rx: &Receiver, service: &str, extra: &[(&str, &str)]) -> semtel::Session {
    common::http_session(rx, service, extra)
}

#[semtel::stage(pipeline = "engine")]
fn transform(n: u64) -> u64 {
    // A library's span inside the stage, with a log inside that.
    let span = tracing::info_span!("library call");
    span.in_scope(|| tracing::info!("in library"));
    tracing::info!("in stage");
    n + 1
}

#[semtel::stage(pipeline = "engine")]
async fn fetch(n: u64) -> u64 {
    tracing::info!("before await");
    tokio::task::yield_now().await;
    tokio::task::spawn_blocking(move || n).await.unwrap_or(0);
    tracing::info!("after await");
    n * 2
}

#[test]
fn stages_and_tracing_spans_nest_both_ways_and_logs_carry_the_innermost_ids() {
    let rx = Receiver::start();
    let s = session(&rx, "engine-nesting", &[]);
    tracing::dispatcher::with_default(s.dispatch(), || {
        tracing::info_span!("request").in_scope(|| assert_eq!(transform(1), 2));
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "3 spans and 2 logs", |s| {
        s.spans().len() >= 3 && s.logs().len() >= 2
    });
    let request = snap.span("request").expect("request span");
    let stage = snap.span("transform").expect("stage span");
    let library = snap.span("library call").expect("library span");
    assert!(stage.is_child_of(&request), "{snap}");
    assert!(library.is_child_of(&stage), "{snap}");
    let logs = snap.logs();
    let log = |body: &str| {
        logs.iter()
            .find(|l| l.body_text() == body)
            .unwrap_or_else(|| panic!("log {body:?} in {snap}"))
    };
    assert!(log("in stage").is_in(&stage));
    assert!(log("in library").is_in(&library));
}

#[derive(Debug, PartialEq, semtel::Telemetry)]
enum LoadError {
    #[telemetry(error_type = "empty_batch")]
    Empty,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// `fields` and `records_in` read what the body then changes.
#[semtel::stage(pipeline = "engine", records_in = rows.len(), fields(db.operation.name = op))]
async fn load_rows(mut rows: Vec<u32>, op: &str) -> Result<usize, LoadError> {
    if rows.is_empty() {
        return Err(LoadError::Empty);
    }
    tokio::task::yield_now().await;
    rows.push(0);
    Ok(rows.len())
}

#[test]
fn an_async_stage_records_its_fields_and_its_error_when_telemetry_is_on() {
    let rx = Receiver::start();
    let s = session(&rx, "engine-async-fields", &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ok, err) = tracing::dispatcher::with_default(s.dispatch(), || {
        rt.block_on(async {
            (
                load_rows(vec![1, 2], "insert").await,
                load_rows(vec![], "delete").await,
            )
        })
    });
    assert_eq!((ok, err), (Ok(3), Err(LoadError::Empty)));
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "2 stage spans", |s| s.spans().len() >= 2);
    let spans = snap.spans();
    let by_operation = |op: &str| {
        spans
            .iter()
            .find(|s| s.attr_str("db.operation.name") == Some(op))
            .unwrap_or_else(|| panic!("a span with db.operation.name {op} in {snap}"))
    };
    let inserted = by_operation("insert");
    assert_eq!(inserted.name(), "load_rows");
    assert_ne!(inserted.status_code(), StatusCode::Error, "{snap}");
    assert_eq!(inserted.attr_str("error.type"), None, "{snap}");
    let deleted = by_operation("delete");
    assert_eq!(deleted.status_code(), StatusCode::Error, "{snap}");
    assert_eq!(
        deleted.attr_str("error.type"),
        Some("empty_batch"),
        "{snap}"
    );
}

#[test]
fn an_async_stage_is_current_on_every_poll_across_worker_threads() {
    let rx = Receiver::start();
    let s = session(&rx, "engine-async", &[]);
    // Every runtime thread has the session as its default, as `init()`
    // would make it for the whole process; tasks move between them.
    let dispatch = s.dispatch().clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async move {
        let handles: Vec<_> = (0..4).map(|n| tokio::spawn(fetch(n))).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert_eq!(out, [0, 2, 4, 6]);
    let report = s.shutdown();
    drop(rt);
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "4 stage spans and 8 logs", |s| {
        s.spans().len() >= 4 && s.logs().len() >= 8
    });
    let spans: Vec<_> = snap
        .spans()
        .into_iter()
        .filter(|s| s.name() == "fetch")
        .collect();
    assert_eq!(spans.len(), 4, "{snap}");
    for log in snap.logs() {
        assert!(
            spans.iter().any(|s| log.is_in(s)),
            "log {:?} outside every stage span: {snap}",
            log.body_text()
        );
    }
}

#[test]
fn spans_on_a_thread_still_alive_at_shutdown_are_delivered() {
    let rx = Receiver::start();
    let s = session(&rx, "engine-idle-thread", &[]);
    let dispatch = s.dispatch().clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            for n in 0..3 {
                transform(n);
            }
        });
        done_tx.send(()).unwrap();
        // Stay alive (and idle) until the session has shut down.
        let _ = release_rx.recv();
    });
    done_rx.recv().unwrap();
    let report = s.shutdown();
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "3 stage spans", |s| {
        s.spans().iter().filter(|s| s.name() == "transform").count() >= 3
    });
    let exported: u64 = report.signal(Signal::Traces).map(|r| r.exported).sum();
    // 3 stage spans and 3 library spans.
    assert_eq!(exported, 6, "{report}");
    assert_eq!(snap.spans().len(), 6, "{snap}");
}

#[semtel::stage(pipeline = "engine")]
fn tiny(n: u64) -> u64 {
    n ^ 1
}

#[test]
fn a_full_ring_drops_and_counts_and_everything_else_arrives() {
    let rx = Receiver::start();
    // Rings and queue of 8 spans: a tight loop of 20,000 calls overruns them.
    let s = session(
        &rx,
        "engine-overflow",
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
    const CALLS: u64 = 20_000;
    tracing::dispatcher::with_default(s.dispatch(), || {
        for n in 0..CALLS {
            std::hint::black_box(tiny(n));
        }
    });
    let report = s.shutdown();
    let traces: Vec<_> = report.signal(Signal::Traces).collect();
    assert_eq!(traces.len(), 1, "{report}");
    let t = traces[0];
    assert!(t.dropped > 0, "a ring of 8 should overflow: {report}");
    assert_eq!(t.failed + t.unflushed, 0, "{report}");
    assert_eq!(t.exported + t.dropped, CALLS, "{report}");
    let expected = usize::try_from(t.exported).unwrap();
    let snap = rx.expect(WAIT, "every exported span", |s| s.spans().len() >= expected);
    assert_eq!(snap.spans().len(), expected);
}

#[semtel::stage(pipeline = "engine", span_kind = consumer)]
fn consume(n: u64) -> Vec<(String, Vec<u8>)> {
    tracing::info!("consumed");
    forward(n)
}

/// Nested in `consume`: inherits the trace state, and passes it on.
#[semtel::stage(pipeline = "engine", span_kind = producer)]
fn forward(_n: u64) -> Vec<(String, Vec<u8>)> {
    let mut headers = Vec::new();
    semtel::propagation::inject(&mut headers);
    headers
}

#[test]
fn a_stage_continues_a_remote_context_attached_around_it() {
    use opentelemetry::trace::TraceContextExt as _;

    let rx = Receiver::start();
    let s = session(&rx, "engine-remote", &[]);
    // A producer elsewhere: its traceparent and tracestate on a message.
    let headers: Vec<(String, Vec<u8>)> = vec![
        (
            "traceparent".into(),
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec(),
        ),
        ("tracestate".into(), b"vendor=x".to_vec()),
    ];
    tracing::dispatcher::with_default(s.dispatch(), || {
        let parent = semtel::propagation::extract(&headers);
        assert!(parent.span().span_context().is_remote());
        let _attached = parent.attach();
        let forwarded = consume(1);
        let header = |k: &str| {
            forwarded
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(header("tracestate").as_deref(), Some("vendor=x"));
        assert!(
            header("traceparent")
                .is_some_and(|t| t.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")),
            "{forwarded:?}"
        );
    });
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "2 spans and the log", |s| {
        s.spans().len() >= 2 && !s.logs().is_empty()
    });
    let span = snap.span("consume").expect("consume span");
    let nested = snap.span("forward").expect("forward span");
    assert!(nested.is_child_of(&span));
    assert_eq!(nested.span.trace_state, "vendor=x");
    // A local parent: sampled, parent known not to be remote.
    assert_eq!(nested.span.flags, 0x101, "{snap}");
    assert_eq!(span.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_span_id().as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(span.span.trace_state, "vendor=x");
    // Sampled, and the parent known to be remote (OTLP span flags).
    assert_eq!(span.span.flags, 0x301, "{snap}");
    assert!(snap.logs()[0].is_in(&span));
}

#[semtel::stage(pipeline = "engine")]
fn handle(n: u64) -> impl std::future::Future<Output = u64> + Send + 'static {
    async move {
        tokio::task::yield_now().await;
        n + 1
    }
}

#[semtel::stage(pipeline = "engine")]
fn dispatch_all() -> Vec<std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>>> {
    (0..2)
        .map(|n| {
            Box::pin(handle(n)) as std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>>
        })
        .collect()
}

#[test]
fn a_stage_returning_a_future_takes_its_parent_when_called_not_when_polled() {
    let rx = Receiver::start();
    let s = session(&rx, "engine-future", &[("OTEL_LOGS_EXPORTER", "none")]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sum = tracing::dispatcher::with_default(s.dispatch(), || {
        // Made inside `dispatch_all`, polled after it returned.
        let futures = dispatch_all();
        rt.block_on(async {
            let mut sum = 0;
            for f in futures {
                sum += f.await;
            }
            sum
        })
    });
    assert_eq!(sum, 3);
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "3 spans", |s| s.spans().len() >= 3);
    let parent = snap.span("dispatch_all").expect("dispatch_all span");
    let children: Vec<_> = snap
        .spans()
        .into_iter()
        .filter(|s| s.name() == "handle")
        .collect();
    assert_eq!(children.len(), 2, "{snap}");
    assert!(children.iter().all(|c| c.is_child_of(&parent)), "{snap}");
}

#[semtel::stage(pipeline = "engine", span_kind = consumer)]
fn per_message(n: u64) -> u64 {
    tracing::info!("message handled");
    n
}

#[semtel::stage(pipeline = "engine")]
fn batch(messages: &[Vec<(String, Vec<u8>)>]) -> u64 {
    let mut sum = 0;
    for headers in messages {
        // Each message continues its producer's trace, inside the batch stage.
        let _attached = semtel::propagation::extract(headers).attach();
        sum += per_message(1);
    }
    // After the attached contexts are gone, the batch stage is current again.
    sum + per_message(10)
}

#[test]
fn a_context_attached_inside_a_stage_parents_what_starts_under_it() {
    let rx = Receiver::start();
    let s = session(&rx, "engine-attach-inside", &[]);
    let message = |trace: &str, span: &str| -> Vec<(String, Vec<u8>)> {
        vec![(
            "traceparent".into(),
            format!("00-{trace}-{span}-01").into_bytes(),
        )]
    };
    let messages = [
        message("11111111111111111111111111111111", "1111111111111111"),
        message("22222222222222222222222222222222", "2222222222222222"),
    ];
    tracing::dispatcher::with_default(s.dispatch(), || assert_eq!(batch(&messages), 12));
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "4 spans and 3 logs", |s| {
        s.spans().len() >= 4 && s.logs().len() >= 3
    });
    let batch_span = snap.span("batch").expect("batch span");
    let handled: Vec<_> = snap
        .spans()
        .into_iter()
        .filter(|s| s.name() == "per_message")
        .collect();
    assert_eq!(handled.len(), 3, "{snap}");
    for (trace, parent) in [
        ("11111111111111111111111111111111", "1111111111111111"),
        ("22222222222222222222222222222222", "2222222222222222"),
    ] {
        let child = handled
            .iter()
            .find(|s| s.trace_id() == trace)
            .unwrap_or_else(|| panic!("a span in trace {trace}: {snap}"));
        assert_eq!(child.parent_span_id().as_deref(), Some(parent), "{snap}");
        assert!(snap.logs().iter().any(|l| l.is_in(child)), "{snap}");
    }
    assert!(
        handled.iter().any(|s| s.is_child_of(&batch_span)),
        "the last call nests under the batch again: {snap}"
    );
}
