//! Carry the current trace into tasks, threads and closures.
//!
//! A stage's span, an entered `tracing` span and an attached [`Context`] are
//! current on one thread only. A future spawned onto a runtime, a closure
//! run on another thread and a pool's job start with no current span, so
//! the stages, `tracing` spans and log records inside them start new traces.
//! These adapters take a context along and make it current wherever the
//! future is polled or the closure runs:
//!
//! | what | the context current where it is made | a given context |
//! |---|---|---|
//! | a future | [`fut.in_current_context()`](WithContext::in_current_context) | [`fut.with_context(cx)`](WithContext::with_context) |
//! | a closure run once | [`wrap(f)`](wrap) | [`wrap_with(cx, f)`](wrap_with) |
//! | code run now | | [`in_scope(&cx, f)`](in_scope) |
//!
//! Inside, the carried context is the parent of what starts: a stage, a
//! `tracing` span, a log record's trace and span ids, and what
//! [`propagation::inject`](crate::propagation::inject) writes. It is the
//! parent also when the future is polled or the closure runs on a thread
//! where a stage is running (a pool running a job inline), as an attached
//! context is. A context without a span (one [`extract`]ed from a message
//! that carried none) makes what starts inside a root.
//!
//! [`Context`] is `Send + Sync + Clone`: [`current`] and [`extract`] give a
//! value to move into a task. The crate docs' "Async and threads" section
//! shows `tokio::spawn`, `spawn_blocking`, pools and a consumer.
//!
//! [`extract`]: crate::propagation::extract

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::engine::current::Attached;

/// An OpenTelemetry context: the span a trace continues from, and baggage.
/// Cheap to clone, `Send + Sync`.
///
/// Get the current one with [`current`] (not `Context::current()`, which
/// does not see a running `#[stage]`), or one from a message with
/// [`propagation::extract`](crate::propagation::extract).
pub use opentelemetry::Context;

/// The context of the innermost span on this thread: a `#[stage]` call, a
/// context carried here by this module's adapters, the current `tracing`
/// span, or else the current OpenTelemetry context.
pub fn current() -> Context {
    if let Some(cx) = crate::engine::current::stage_context() {
        return cx;
    }
    if !crate::engine::current::otel_context_innermost() {
        let span = tracing::Span::current();
        if !span.is_none() {
            return tracing_opentelemetry::OpenTelemetrySpanExt::context(&span);
        }
    }
    // An empty context at thread exit, when the current one is gone.
    crate::engine::context::map_otel_context(Context::clone).unwrap_or_default()
}

/// Runs `f` now with `cx` as the current context (see the module docs).
/// For a closure called many times, such as `rayon`'s
/// `par_iter().for_each(..)`: take the context once outside, enter it in
/// each call.
///
/// ```
/// let cx = semtel::context::current();
/// let lens: Vec<usize> = std::thread::scope(|s| {
///     let handles: Vec<_> = ["a", "bb"]
///         .iter()
///         .map(|item| s.spawn(|| semtel::context::in_scope(&cx, || item.len())))
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(lens, [1, 2]);
/// ```
pub fn in_scope<R>(cx: &Context, f: impl FnOnce() -> R) -> R {
    let _attached = Attached::new(cx);
    f()
}

/// `f`, to run later with the context current now as its current context:
/// for `spawn_blocking`, `std::thread::spawn` and pools' `spawn`/`execute`.
///
/// ```
/// # #[tokio::main] async fn main() {
/// #[semtel::stage(pipeline = "orders")]
/// fn compress(data: Vec<u8>) -> usize {
///     data.len()
/// }
///
/// #[semtel::stage(pipeline = "orders")]
/// async fn store(data: Vec<u8>) -> usize {
///     // `compress` is a child of `store`.
///     tokio::task::spawn_blocking(semtel::context::wrap(move || compress(data)))
///         .await
///         .unwrap()
/// }
/// # assert_eq!(store(vec![1, 2]).await, 2);
/// # }
/// ```
pub fn wrap<F: FnOnce() -> R, R>(f: F) -> impl FnOnce() -> R {
    wrap_with(current(), f)
}

/// `f`, to run later with `cx` as its current context.
pub fn wrap_with<F: FnOnce() -> R, R>(cx: Context, f: F) -> impl FnOnce() -> R {
    move || in_scope(&cx, f)
}

/// Futures that carry a context: implemented for every [`Future`].
///
/// ```
/// use semtel::WithContext as _;
///
/// #[semtel::stage(pipeline = "orders")]
/// async fn enrich(order: u64) -> u64 {
///     order + 1
/// }
///
/// #[semtel::stage(pipeline = "orders")]
/// async fn fan_out(orders: Vec<u64>) -> u64 {
///     let mut tasks = tokio::task::JoinSet::new();
///     for order in orders {
///         // Each `enrich` is a child of this `fan_out` call.
///         tasks.spawn(enrich(order).in_current_context());
///     }
///     tasks.join_all().await.into_iter().sum()
/// }
/// # #[tokio::main] async fn main() { assert_eq!(fan_out(vec![1, 2]).await, 5); }
/// ```
pub trait WithContext: Future + Sized {
    /// This future with the context current now ([`current`]) as its
    /// current context each time it is polled.
    fn in_current_context(self) -> InContext<Self> {
        self.with_context(current())
    }

    /// This future with `cx` as its current context each time it is polled.
    fn with_context(self, cx: Context) -> InContext<Self> {
        InContext { inner: self, cx }
    }
}

impl<F: Future> WithContext for F {}

pin_project_lite::pin_project! {
    /// A future polled with a context current ([`WithContext`]).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct InContext<F> {
        #[pin]
        inner: F,
        cx: Context,
    }
}

impl<F> InContext<F> {
    /// The context this future carries.
    pub fn context(&self) -> &Context {
        &self.cx
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _attached = Attached::new(this.cx);
        this.inner.poll(task)
    }
}
