//! A panic inside a stage: caught around the body, recorded on the call as
//! a failure, and resumed unchanged.
//!
//! Catching around the body (rather than reading the message in a panic
//! hook) sees the payload of every panic, also one resumed from another
//! thread (`resume_unwind`, as rayon does) and one raised while a program's
//! own hook is installed. On the path without a panic it costs nothing that
//! the per-call benchmarks can see.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// `error.type` of a call ended by a panic.
pub(super) const PANIC: &str = "panic";

/// The message of a panic payload: `panic!`'s formatted message or literal.
pub(super) fn message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Runs a sync stage's body, its panic caught.
#[inline(always)]
pub(super) fn catch<R>(body: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(body))
}

pin_project_lite::pin_project! {
    /// An async stage's body, each poll's panic caught: the output is the
    /// body's, or the panic's payload.
    #[derive(Debug)]
    pub struct CatchPanic<F> {
        #[pin]
        inner: F,
    }
}

impl<F> CatchPanic<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = std::thread::Result<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
