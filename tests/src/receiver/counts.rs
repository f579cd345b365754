//! Totals the receiver keeps in every mode, cheap enough for load: spans,
//! requests, bytes and attributes of trace requests decoded, requests
//! rejected, when the last span arrived, and the CPU time of the
//! receiver's threads.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// A snapshot of the receiver's totals ([`crate::Receiver::counts`]). Take one
/// before and one after a run and subtract ([`Counts::since`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Spans decoded.
    pub spans: u64,
    /// Trace requests decoded.
    pub requests: u64,
    /// Protobuf size of the trace requests decoded (before HTTP or gRPC
    /// framing and compression).
    pub bytes: u64,
    /// Span attributes decoded (not counting resource or scope attributes).
    pub attributes: u64,
    /// Requests answered with an error (wrong path or type, undecodable).
    pub rejected: u64,
    /// CPU time of the receiver's threads while awake, in nanoseconds.
    pub cpu_ns: u64,
}

impl Counts {
    /// What happened between `before` and `self`.
    #[must_use]
    pub fn since(self, before: Counts) -> Counts {
        Counts {
            spans: self.spans - before.spans,
            requests: self.requests - before.requests,
            bytes: self.bytes - before.bytes,
            attributes: self.attributes - before.attributes,
            rejected: self.rejected - before.rejected,
            cpu_ns: self.cpu_ns - before.cpu_ns,
        }
    }
}

/// The live totals behind [`Counts`].
#[derive(Debug)]
pub(crate) struct Tally {
    spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    attributes: AtomicU64,
    rejected: AtomicU64,
    cpu_ns: AtomicU64,
    /// When the last span arrived, in nanoseconds since `epoch` (0: none yet).
    last_arrival_ns: AtomicU64,
    epoch: Instant,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            spans: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            attributes: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            last_arrival_ns: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts {
            spans: self.spans.load(Ordering::Acquire),
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            attributes: self.attributes.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            cpu_ns: self.cpu_ns.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn last_arrival(&self) -> Option<Instant> {
        match self.last_arrival_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    /// Counts one decoded trace request.
    pub(crate) fn traces(&self, request: &ExportTraceServiceRequest) {
        let (spans, attributes) = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .fold((0u64, 0u64), |(n, a), span| {
                (n + 1, a + span.attributes.len() as u64)
            });
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(request.encoded_len() as u64, Ordering::Relaxed);
        self.attributes.fetch_add(attributes, Ordering::Relaxed);
        if spans > 0 {
            let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            // Never 0, which means "nothing yet".
            self.last_arrival_ns.fetch_max(now.max(1), Ordering::AcqRel);
        }
        self.spans.fetch_add(spans, Ordering::Release);
    }

    pub(crate) fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// When this runtime worker last woke up.
    static AWAKE_SINCE: Cell<Option<ThreadTime>> = const { Cell::new(None) };
}

/// A runtime builder whose worker threads add their CPU time between waking
/// and parking to `tally` (the time spent inside `epoll_wait` collecting I/O
/// events is not counted; it is small next to HTTP and gRPC framing and
/// decoding).
pub(crate) fn timed_runtime(
    workers: usize,
    tally: &Arc<Tally>,
) -> std::io::Result<tokio::runtime::Runtime> {
    fn woke() {
        AWAKE_SINCE.with(|t| t.set(Some(ThreadTime::now())));
    }
    let parked = Arc::clone(tally);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("otlp-receiver")
        .enable_all()
        .on_thread_start(woke)
        .on_thread_unpark(woke)
        .on_thread_park(move || {
            if let Some(since) = AWAKE_SINCE.with(Cell::take) {
                let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
                parked.cpu_ns.fetch_add(ns, Ordering::Relaxed);
            }
        })
        .build()
}
