//! Where exports run: semtel's own tokio runtime for network exporters, or
//! the calling thread for exporters that never wait.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

/// Runs exporter futures: on semtel's tokio runtime for network exporters,
/// or on the calling thread for exporters that never wait (the console).
#[derive(Clone, Debug)]
pub(crate) enum Executor {
    Tokio(tokio::runtime::Handle),
    Local,
}

impl Executor {
    /// Runs `fut` to completion, giving up after `timeout`.
    pub(crate) fn run<F>(&self, timeout: Duration, fut: F) -> Result<(), String>
    where
        F: Future<Output = OTelSdkResult>,
    {
        let result = match self {
            Executor::Tokio(handle) => {
                handle.block_on(async { tokio::time::timeout(timeout, fut).await })
            }
            Executor::Local => Ok(park_block_on(fut)),
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("export timed out after {timeout:?}")),
        }
    }
}

fn describe(e: &OTelSdkError) -> String {
    match e {
        OTelSdkError::InternalFailure(m) => m.clone(),
        OTelSdkError::Timeout(d) => format!("timed out after {d:?}"),
        other => other.to_string(),
    }
}

/// Polls a future on this thread, parking between wake-ups.
fn park_block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// semtel's own tokio runtime, on one thread named `semtel-export`, where
/// gRPC and HTTP exporters do their I/O.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl ExportRuntime {
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("semtel-export")
            .on_thread_start(suppress_telemetry_on_this_thread)
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime is only taken in drop"),
        }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        // Never blocks, so it is safe inside the caller's async context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Telemetry that the exporters themselves produce (tonic, hyper, the SDK's
/// internal logs) must not be exported again, or a failing collector would
/// feed itself. Called once on every thread semtel owns.
pub(crate) fn suppress_telemetry_on_this_thread() {
    // The guard resets the thread's context when dropped; these threads keep
    // the suppressed context for life, so it is deliberately never dropped.
    std::mem::forget(Context::enter_telemetry_suppressed_scope());
}
