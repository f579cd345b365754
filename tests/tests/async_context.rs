//! Traces continue across tasks, threads and pool jobs when the context is
//! carried (`semtel::context`, `#[stage(parent = ..)]`), and start anew when
//! it is not, as the crate docs say: stages, `tracing` spans and log records
//! in the spawned code, exported over OTLP to the in-process receiver, on a
//! multi-thread tokio runtime.

mod common;

use std::sync::mpsc;
use std::thread::{self, ThreadId};
use std::time::Duration;

use semtel::WithContext as _;
use semtel_tests::{ReceivedSpan, Receiver, Snapshot};

const WAIT: Duration = Duration::from_secs(20);

// A context moves into a task and is shared between threads.
const _: () = {
    const fn movable<T: Send + Sync + Clone + 'static>() {}
    movable::<semtel::Context>();
};

fn session(rx: &Receiver, service: &str) -> semtel::Session {
    common::http_session(rx, service, &[])
}

/// Runs `f` with the session's dispatcher on this thread, shuts the session
/// down and waits for `spans` spans and `logs` logs.
fn run<R>(
    s: semtel::Session,
    rx: &Receiver,
    spans: usize,
    logs: usize,
    f: impl FnOnce() -> R,
) -> (R, Snapshot) {
    let out = tracing::dispatcher::with_default(s.dispatch(), f);
    let report = s.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    let snap = rx.expect(WAIT, "the spans and logs", |snap| {
        snap.spans().len() >= spans && snap.logs().len() >= logs
    });
    (out, snap)
}

fn named(snap: &Snapshot, name: &str) -> Vec<ReceivedSpan> {
    snap.spans()
        .into_iter()
        .filter(|s| s.name() == name)
        .collect()
}

fn one(snap: &Snapshot, name: &str) -> ReceivedSpan {
    let spans = named(snap, name);
    assert_eq!(spans.len(), 1, "one `{name}` span in {snap}");
    spans.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// A log record by its body.
fn log_in(snap: &Snapshot, body: &str, span: &ReceivedSpan) -> bool {
    snap.logs()
        .iter()
        .find(|l| l.body_text() == body)
        .unwrap_or_else(|| panic!("log {body:?} in {snap}"))
        .is_in(span)
}

#[semtel::stage(pipeline = "async")]
async fn child(n: u64) -> (u64, ThreadId) {
    tokio::task::yield_now().await;
    (n + 1, thread::current().id())
}

#[semtel::stage(pipeline = "async")]
async fn fan_out(carry: bool) -> Vec<ThreadId> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..2 {
        // Plain `tracing` code in the task too, outside any stage.
        let task = async move {
            tracing::info_span!("spawned work").in_scope(|| tracing::info!("in spawned span"));
            tracing::info!("in spawned task");
            child(n).await
        };
        if carry {
            tasks.spawn(task.in_current_context());
        } else {
            tasks.spawn(task);
        }
    }
    let done = tasks.join_all().await;
    assert_eq!(done.iter().map(|(n, _)| n).sum::<u64>(), 3);
    done.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn tasks_spawned_in_a_stage_continue_its_trace_with_in_current_context() {
    let rx = Receiver::start();
    let s = session(&rx, "async-spawn");
    let rt = common::session_runtime(&s);
    let (threads, snap) = run(s, &rx, 5, 4, || rt.block_on(fan_out(true)));
    // The tasks ran on the runtime's workers, not on the stage's thread.
    assert!(threads.iter().all(|t| *t != thread::current().id()));
    let parent = one(&snap, "fan_out");
    let children = named(&snap, "child");
    assert_eq!(children.len(), 2, "{snap}");
    for c in &children {
        assert_eq!(c.trace_id(), parent.trace_id(), "{snap}");
        assert_eq!(c.parent_span_id(), Some(parent.span_id()), "{snap}");
    }
    // `tracing` spans and log records in the task: under the stage too.
    let work = named(&snap, "spawned work");
    assert_eq!(work.len(), 2, "{snap}");
    assert!(work.iter().all(|w| w.is_child_of(&parent)), "{snap}");
    assert!(log_in(&snap, "in spawned task", &parent), "{snap}");
    assert!(
        work.iter().any(|w| log_in(&snap, "in spawned span", w)),
        "{snap}"
    );
}

#[test]
fn tasks_spawned_in_a_stage_without_an_adapter_start_new_traces() {
    let rx = Receiver::start();
    let s = session(&rx, "async-spawn-bare");
    let rt = common::session_runtime(&s);
    let (_, snap) = run(s, &rx, 5, 4, || rt.block_on(fan_out(false)));
    let parent = one(&snap, "fan_out");
    let children = named(&snap, "child");
    assert_eq!(children.len(), 2, "{snap}");
    for c in children.iter().chain(&named(&snap, "spawned work")) {
        assert_ne!(c.trace_id(), parent.trace_id(), "{snap}");
        assert_eq!(c.parent_span_id(), None, "a root: {snap}");
    }
    let log = snap
        .logs()
        .into_iter()
        .find(|l| l.body_text() == "in spawned task")
        .expect("the task's log");
    assert_eq!(log.span_id(), None, "{snap}");
}

#[semtel::stage(pipeline = "async")]
fn compress(data: Vec<u8>) -> (usize, ThreadId) {
    (data.len(), thread::current().id())
}

#[semtel::stage(pipeline = "async", fields(unchecked("test.carry") = carry))]
async fn store(data: Vec<u8>, carry: bool) -> (usize, ThreadId) {
    let job = move || {
        tracing::info!("in blocking closure");
        compress(data)
    };
    let handle = if carry {
        tokio::task::spawn_blocking(semtel::context::wrap(job))
    } else {
        tokio::task::spawn_blocking(job)
    };
    handle.await.expect("the blocking job")
}

#[test]
fn spawn_blocking_continues_the_stage_with_wrap_and_not_without() {
    let rx = Receiver::start();
    let s = session(&rx, "async-blocking");
    let rt = common::session_runtime(&s);
    let ((carried, bare), snap) = run(s, &rx, 4, 2, || {
        rt.block_on(async {
            let carried = store(vec![1, 2, 3], true).await;
            let bare = store(vec![1], false).await;
            (carried, bare)
        })
    });
    assert_ne!(carried.1, thread::current().id());
    assert_eq!(bare.0, 1);
    let stores = named(&snap, "store");
    let compressed = named(&snap, "compress");
    assert_eq!((stores.len(), compressed.len()), (2, 2), "{snap}");
    let store_of = |carry| {
        stores
            .iter()
            .find(|st| st.attr_bool("test.carry") == Some(carry))
            .unwrap_or_else(|| panic!("store(carry = {carry}) in {snap}"))
    };
    let (carrying, not_carrying) = (store_of(true), store_of(false));
    assert!(compressed.iter().any(|c| c.is_child_of(carrying)), "{snap}");
    let root = compressed
        .iter()
        .find(|c| !c.is_child_of(carrying))
        .expect("the other compress");
    assert_eq!(root.parent_span_id(), None, "{snap}");
    assert_ne!(root.trace_id(), not_carrying.trace_id(), "{snap}");
    let logs: Vec<_> = snap
        .logs()
        .into_iter()
        .filter(|l| l.body_text() == "in blocking closure")
        .collect();
    assert_eq!(logs.len(), 2, "{snap}");
    assert!(logs.iter().any(|l| l.is_in(carrying)), "{snap}");
    assert!(logs.iter().any(|l| l.span_id().is_none()), "{snap}");
}

type Job = Box<dyn FnOnce() + Send>;

/// A one-thread pool running boxed jobs, as `threadpool`'s `execute` or
/// `rayon::spawn` do; the thread uses the session's dispatcher.
fn pool(s: &semtel::Session) -> (mpsc::Sender<Job>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Job>();
    let dispatch = s.dispatch().clone();
    let worker = thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            for job in rx {
                job();
            }
        });
    });
    (tx, worker)
}

#[semtel::stage(pipeline = "async")]
fn pooled(_n: u64) -> ThreadId {
    thread::current().id()
}

#[semtel::stage(pipeline = "async")]
fn submit(pool: &mpsc::Sender<Job>, done: &mpsc::Sender<ThreadId>) -> Vec<ThreadId> {
    // A job for the pool, run later on its thread.
    let done = done.clone();
    let job = semtel::context::wrap(move || {
        tracing::info_span!("pool work").in_scope(|| tracing::info!("in pool job"));
        let _ = done.send(pooled(1));
    });
    pool.send(Box::new(job)).expect("the pool runs");
    // A closure run on several threads at once (rayon's `par_iter` shape):
    // the context taken once, entered in each call.
    let cx = semtel::context::current();
    // (New threads: the scoped session's dispatcher is set on each.)
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    thread::scope(|scope| {
        let jobs: Vec<_> = (2..4)
            .map(|n| {
                let (cx, dispatch) = (&cx, &dispatch);
                scope.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        semtel::context::in_scope(cx, || pooled(n))
                    })
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("scoped job"))
            .collect()
    })
}

#[test]
fn pool_jobs_and_scoped_threads_continue_the_stage() {
    let rx = Receiver::start();
    let s = session(&rx, "async-pool");
    let (jobs, worker) = pool(&s);
    let (done_tx, done_rx) = mpsc::channel();
    let (threads, snap) = run(s, &rx, 5, 1, || {
        let mut threads = submit(&jobs, &done_tx);
        threads.push(done_rx.recv_timeout(WAIT).expect("the pool job ran"));
        drop(jobs);
        worker.join().expect("the pool's thread");
        threads
    });
    assert!(threads.iter().all(|t| *t != thread::current().id()));
    let parent = one(&snap, "submit");
    let children = named(&snap, "pooled");
    assert_eq!(children.len(), 3, "{snap}");
    assert!(children.iter().all(|c| c.is_child_of(&parent)), "{snap}");
    let work = one(&snap, "pool work");
    assert!(work.is_child_of(&parent), "{snap}");
    assert!(log_in(&snap, "in pool job", &work), "{snap}");
}

type Headers = Vec<(String, Vec<u8>)>;

#[semtel::stage(pipeline = "async", span_kind = producer)]
fn produce() -> Headers {
    let mut headers = Vec::new();
    semtel::propagation::inject(&mut headers);
    headers
}

#[semtel::stage(
    pipeline = "async",
    span_kind = consumer,
    parent = semtel::propagation::extract(&headers),
)]
async fn consume_extracted(headers: Headers) {
    tokio::task::yield_now().await;
    tracing::info!("consumed extracted");
}

#[semtel::stage(pipeline = "async", span_kind = consumer, parent = cx)]
async fn consume_given(cx: semtel::Context) {
    tokio::task::yield_now().await;
}

/// Starts when called (not when polled), under `cx`.
#[semtel::stage(pipeline = "async", span_kind = consumer, parent = cx)]
fn consume_tail(cx: semtel::Context) -> impl Future<Output = ()> + Send + 'static {
    async move { tokio::task::yield_now().await }
}

#[semtel::stage(pipeline = "async", span_kind = consumer, parent = cx)]
fn consume_sync(cx: &semtel::Context) -> bool {
    opentelemetry::trace::TraceContextExt::has_active_span(cx)
}

/// Not a stage: `tracing` only, and a stage inside.
async fn consume_plain() {
    tracing::info_span!("plain consume").in_scope(|| tracing::info!("consumed plain"));
    tokio::task::yield_now().await;
    child(7).await;
}

#[test]
fn an_extracted_context_moved_into_spawned_tasks_continues_the_producers_trace() {
    use opentelemetry::trace::TraceContextExt as _;

    let rx = Receiver::start();
    let s = session(&rx, "async-consumer");
    let rt = common::session_runtime(&s);
    let (_, snap) = run(s, &rx, 7, 2, || {
        let headers = produce();
        rt.block_on(async move {
            let cx = semtel::propagation::extract(&headers);
            assert!(cx.span().span_context().is_remote());
            let mut tasks = tokio::task::JoinSet::new();
            tasks.spawn(consume_extracted(headers));
            tasks.spawn(consume_given(cx.clone()));
            tasks.spawn(consume_tail(cx.clone()));
            let moved = cx.clone();
            tasks.spawn(async move {
                tokio::task::yield_now().await;
                assert!(consume_sync(&moved));
            });
            tasks.spawn(consume_plain().with_context(cx));
            tasks.join_all().await;
        });
    });
    let producer = one(&snap, "produce");
    for name in [
        "consume_extracted",
        "consume_given",
        "consume_tail",
        "consume_sync",
    ] {
        let consumer = one(&snap, name);
        assert!(consumer.is_child_of(&producer), "{name}: {snap}");
        // OTLP span flags: sampled, the parent known to be remote.
        assert_eq!(consumer.span.flags, 0x301, "{name}: {snap}");
    }
    let plain = one(&snap, "plain consume");
    assert!(plain.is_child_of(&producer), "{snap}");
    assert!(one(&snap, "child").is_child_of(&producer), "{snap}");
    assert!(log_in(&snap, "consumed plain", &plain), "{snap}");
    assert!(
        log_in(
            &snap,
            "consumed extracted",
            &one(&snap, "consume_extracted")
        ),
        "{snap}"
    );
}

#[semtel::stage(pipeline = "async")]
fn inner(_n: u64) {}

#[semtel::stage(pipeline = "async", parent = cx)]
fn consume_logged(cx: &semtel::Context) {
    tracing::info!("consumed under a span");
}

#[semtel::stage(pipeline = "async")]
fn outer(elsewhere: semtel::Context) {
    // A `parent` stage inside a `tracing` span: its log record is its own.
    tracing::info_span!("around").in_scope(|| consume_logged(&elsewhere));
    // Run inline on this stage's thread, as a pool may run a job: the
    // carried context is the parent, not the stage running here...
    semtel::context::wrap_with(elsewhere.clone(), || inner(1))();
    // ...also an empty one: what starts inside is a root.
    semtel::context::in_scope(&semtel::Context::new(), || inner(2));
    // A `parent` without a span leaves the parent as it is: this stage.
    consume_sync(&semtel::Context::new());
    // After the carried contexts, this stage is current again.
    inner(3);
    // A context attached inside the stage (under a `tracing` span) is the
    // current one.
    let trace = |cx: &semtel::Context| {
        use opentelemetry::trace::TraceContextExt as _;
        cx.span().span_context().trace_id()
    };
    let _attached = elsewhere.clone().attach();
    assert_eq!(trace(&semtel::context::current()), trace(&elsewhere));
}

#[test]
fn a_carried_context_wins_over_the_stage_running_on_the_thread() {
    let rx = Receiver::start();
    let s = session(&rx, "async-inline");
    let (_, snap) = run(s, &rx, 9, 1, || {
        let elsewhere = produce();
        tracing::info_span!("request").in_scope(|| outer(semtel::propagation::extract(&elsewhere)));
    });
    let producer = one(&snap, "produce");
    let outer = one(&snap, "outer");
    assert!(outer.is_child_of(&one(&snap, "request")), "{snap}");
    assert_ne!(outer.trace_id(), producer.trace_id(), "{snap}");
    let inner = named(&snap, "inner");
    assert_eq!(inner.len(), 3, "{snap}");
    let carried = inner.iter().filter(|s| s.is_child_of(&producer)).count();
    let roots: Vec<_> = inner
        .iter()
        .filter(|s| s.parent_span_id().is_none())
        .collect();
    let under_outer = inner.iter().filter(|s| s.is_child_of(&outer)).count();
    assert_eq!((carried, roots.len(), under_outer), (1, 1, 1), "{snap}");
    assert_ne!(roots[0].trace_id(), outer.trace_id(), "{snap}");
    assert!(one(&snap, "consume_sync").is_child_of(&outer), "{snap}");
    let logged = one(&snap, "consume_logged");
    assert!(logged.is_child_of(&producer), "{snap}");
    assert!(one(&snap, "around").is_child_of(&outer), "{snap}");
    assert!(log_in(&snap, "consumed under a span", &logged), "{snap}");
}
