//! An in-process OTLP receiver on loopback: gRPC and HTTP (protobuf and JSON),
//! gzip or not, decoding the official protobuf types. The end-to-end tests
//! keep what it decodes; the benchmarks count it ([`Receiver::counting`]).

mod counts;
mod faults;
mod grpc;
mod http;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::record::{
    Payload, ReceivedLog, ReceivedMetric, ReceivedRequest, ReceivedSpan, Rejected, Signal,
    Snapshot, Transport,
};
pub use counts::Counts;
use counts::{Tally, timed_runtime};
use faults::Faults;
pub use faults::{Refusal, RetryAfter};

/// How long `stop` waits for the receiver's runtime to drop its tasks.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// State shared by the servers and the test thread.
pub(crate) struct Shared {
    snapshot: Mutex<Snapshot>,
    changed: Condvar,
    /// `true` while responses are withheld.
    hold: tokio::sync::watch::Sender<bool>,
    /// Whether decoded requests are kept ([`Receiver::start`]) or only
    /// counted ([`Receiver::counting`]).
    keep: bool,
    tally: Arc<Tally>,
    faults: Mutex<Faults>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A test that panicked inside a predicate must not hide the data from the next one.
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a decoded request and wakes every waiter.
    pub(crate) fn record(
        &self,
        transport: Transport,
        gzip: bool,
        headers: Vec<(String, String)>,
        payload: Payload,
    ) {
        if let Payload::Traces(request) = &payload {
            self.tally.traces(request);
        }
        // Under the lock even when nothing is kept: a waiter either saw the
        // count or is waiting when it is woken.
        let mut snapshot = self.lock();
        if self.keep {
            snapshot.requests.push(ReceivedRequest {
                transport,
                gzip,
                headers,
                payload,
            });
        }
        drop(snapshot);
        self.changed.notify_all();
    }

    /// Keeps a request that could not be decoded, or was refused, and
    /// wakes every waiter.
    pub(crate) fn reject(&self, target: String, reason: String) {
        self.tally.reject();
        self.lock().rejected.push(Rejected {
            target,
            reason,
            at: Instant::now(),
        });
        self.changed.notify_all();
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The refusal due for this request, if any ([`Receiver::refuse`]).
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        self.faults().next_refusal()
    }

    /// Whether a request of `len` bytes (uncompressed) is over the limit
    /// ([`Receiver::max_message`]).
    pub(crate) fn too_large(&self, len: usize) -> bool {
        self.faults().max_message.is_some_and(|max| len > max)
    }

    /// Items to reject in each answer, and why ([`Receiver::partial_success`]).
    pub(crate) fn partial(&self) -> Option<(i64, String)> {
        self.faults().partial.clone()
    }

    /// Never returns while the receiver is a blackhole ([`Receiver::blackhole`]).
    pub(crate) async fn swallowed(&self) {
        if self.faults().blackhole {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves at once unless the receiver is held; then when it is released.
    /// A stop drops the future with its connection.
    pub(crate) async fn released(&self) {
        let mut rx = self.hold.subscribe();
        // Err only if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|held| !*held).await;
    }
}

/// An OTLP receiver listening on 127.0.0.1: one gRPC port and one HTTP port
/// (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`).
///
/// It runs on its own tokio runtime, so tests are plain `#[test]` functions and
/// the code under test may be sync or async. Every decoded request is kept, with
/// its transport, gzip flag and headers; [`Receiver::wait_for`] blocks on a condvar
/// until a predicate over what arrived holds, or a timeout passes.
///
/// ```no_run
/// # use std::time::Duration;
/// let rx = semtel_tests::Receiver::start();
/// // … export to rx.grpc_endpoint() or rx.http_endpoint() …
/// assert!(rx.wait_for(Duration::from_secs(10), |s| s.spans().len() >= 3));
/// ```
pub struct Receiver {
    shared: Arc<Shared>,
    grpc_port: u16,
    http_port: u16,
    /// Threads of its runtime.
    workers: usize,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .field("running", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Starts on two ephemeral ports.
    ///
    /// # Panics
    /// If loopback ports cannot be bound or the runtime cannot start.
    #[must_use]
    pub fn start() -> Self {
        Self::start_on(0, 0).expect("start the OTLP receiver on 127.0.0.1")
    }

    /// Starts on the given ports (0 picks an ephemeral one), e.g. to come back
    /// on the ports of a receiver that was stopped.
    ///
    /// # Errors
    /// If a port cannot be bound or the runtime cannot start.
    pub fn start_on(grpc_port: u16, http_port: u16) -> io::Result<Self> {
        Self::start_with(grpc_port, http_port, true, 2)
    }

    /// Starts on two ephemeral ports, decoding every request as
    /// [`Receiver::start`] does but keeping only [`Counts`], for loads that
    /// would not fit in memory (the benchmarks). It runs on one thread, whose
    /// CPU time it counts.
    ///
    /// ```no_run
    /// # use std::time::{Duration, Instant};
    /// let rx = semtel_tests::Receiver::counting()?;
    /// let before = rx.counts();
    /// // … export 1,000 spans to rx.http_endpoint() …
    /// rx.wait_for_spans(before.spans + 1_000, Instant::now() + Duration::from_secs(10));
    /// let run = rx.counts().since(before);
    /// println!("{} spans in {} requests, {} ns of receiver CPU", run.spans, run.requests, run.cpu_ns);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// If a port cannot be bound or the runtime cannot start.
    pub fn counting() -> io::Result<Self> {
        Self::start_with(0, 0, false, 1)
    }

    fn start_with(grpc_port: u16, http_port: u16, keep: bool, workers: usize) -> io::Result<Self> {
        let (hold, _) = tokio::sync::watch::channel(false);
        let mut receiver = Self {
            shared: Arc::new(Shared {
                snapshot: Mutex::new(Snapshot::default()),
                changed: Condvar::new(),
                hold,
                keep,
                tally: Arc::new(Tally::new()),
                faults: Mutex::new(Faults::default()),
            }),
            grpc_port,
            http_port,
            workers,
            runtime: None,
        };
        receiver.restart()?;
        Ok(receiver)
    }

    /// Starts listening again on the same ports after [`Receiver::stop`], keeping
    /// what was recorded so far. Does nothing if it is running.
    ///
    /// # Errors
    /// If a port cannot be bound (taken by someone else meanwhile) or the runtime cannot start.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.runtime.is_some() {
            return Ok(());
        }
        // Bind on this thread so the ports are known, and errors seen, before returning.
        let grpc = bind(self.grpc_port)?;
        let http = bind(self.http_port)?;
        self.grpc_port = grpc.local_addr()?.port();
        self.http_port = http.local_addr()?.port();

        let runtime = timed_runtime(self.workers, &self.shared.tally)?;
        let (grpc, http) = {
            let _enter = runtime.enter();
            (
                tokio::net::TcpListener::from_std(grpc)?,
                tokio::net::TcpListener::from_std(http)?,
            )
        };
        runtime.spawn(grpc::serve(grpc, Arc::clone(&self.shared)));
        runtime.spawn(http::serve(http, Arc::clone(&self.shared)));
        self.runtime = Some(runtime);
        Ok(())
    }

    /// Stops for real, like a killed collector: both listeners and every open
    /// connection are closed (withheld responses are never sent), so the ports
    /// refuse connections until [`Receiver::restart`]. Recorded data is kept; a
    /// [`Receiver::hold`] is lifted.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Drops every task, and with them the sockets, before returning. On a
            // thread of its own because tokio refuses to shut a runtime down from
            // inside another one (a `#[tokio::test]` dropping its receiver).
            let shutdown = std::thread::spawn(move || runtime.shutdown_timeout(SHUTDOWN_BOUND));
            // The thread only panics if tokio does; the sockets are gone either way.
            let _ = shutdown.join();
        }
        self.shared.hold.send_replace(false);
    }

    /// Whether it is listening.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.runtime.is_some()
    }

    /// `http://127.0.0.1:PORT` of the gRPC listener.
    #[must_use]
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// `http://127.0.0.1:PORT` of the HTTP listener: the base, without `/v1/…`.
    #[must_use]
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The gRPC port.
    #[must_use]
    pub fn grpc_port(&self) -> u16 {
        self.grpc_port
    }

    /// The HTTP port.
    #[must_use]
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The gRPC listener's address.
    #[must_use]
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.grpc_port))
    }

    /// The HTTP listener's address.
    #[must_use]
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http_port))
    }

    /// A "slow collector": requests are still accepted, decoded and recorded
    /// (waiters are woken), but their responses are withheld until
    /// [`Receiver::release`] or [`Receiver::stop`].
    pub fn hold(&self) {
        self.shared.hold.send_replace(true);
    }

    /// Sends the withheld responses and answers normally again.
    pub fn release(&self) {
        self.shared.hold.send_replace(false);
    }

    /// Refuses the next `times` export requests (any signal) with
    /// `refusal`, then answers normally. Each refusal is kept in
    /// [`Snapshot::rejected`] with the time it was given.
    pub fn refuse(&self, times: usize, refusal: Refusal) {
        self.shared.faults().refuse = (times > 0).then_some((times, refusal));
    }

    /// Answers every export with a partial success rejecting `rejected`
    /// items (`rejected_spans`, `rejected_log_records` or
    /// `rejected_data_points`) with `message`; what arrived is kept all the
    /// same. `0` answers plain success again.
    pub fn partial_success(&self, rejected: i64, message: &str) {
        self.shared.faults().partial = (rejected > 0).then(|| (rejected, message.to_owned()));
    }

    /// Refuses requests larger than `bytes` (uncompressed) with HTTP 413 or
    /// gRPC RESOURCE_EXHAUSTED without retry information, as a collector
    /// with a message size limit does; `None` lifts the limit.
    pub fn max_message(&self, bytes: Option<usize>) {
        self.shared.faults().max_message = bytes;
    }

    /// A blackhole: requests are read but never answered nor recorded, until
    /// [`Receiver::stop`] closes their connections.
    pub fn blackhole(&self) {
        self.shared.faults().blackhole = true;
    }

    /// Whether responses are being withheld.
    #[must_use]
    pub fn is_held(&self) -> bool {
        *self.shared.hold.borrow()
    }

    /// A copy of everything recorded so far.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.shared.lock().clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        *self.shared.lock() = Snapshot::default();
    }

    /// Decoded requests so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.lock().requests.clone()
    }

    /// All spans received so far.
    #[must_use]
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.lock().spans()
    }

    /// All log records received so far.
    #[must_use]
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.shared.lock().logs()
    }

    /// All metrics received so far (one entry per metric per export).
    #[must_use]
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.shared.lock().metrics()
    }

    /// How many requests came by `transport`.
    #[must_use]
    pub fn count(&self, transport: Transport) -> usize {
        self.shared.lock().count(transport)
    }

    /// How many requests carried `signal`.
    #[must_use]
    pub fn count_signal(&self, signal: Signal) -> usize {
        self.shared.lock().count_signal(signal)
    }

    /// The totals so far, kept in every mode.
    #[must_use]
    pub fn counts(&self) -> Counts {
        self.shared.tally.counts()
    }

    /// When the last span arrived, if any has.
    #[must_use]
    pub fn last_arrival(&self) -> Option<Instant> {
        self.shared.tally.last_arrival()
    }

    /// Blocks until at least `spans` spans have arrived in total, or until
    /// `deadline`; returns the total then.
    pub fn wait_for_spans(&self, spans: u64, deadline: Instant) -> u64 {
        let tally = &self.shared.tally;
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_for(left, |_| tally.counts().spans >= spans);
        tally.counts().spans
    }

    /// Blocks until `done` holds for what was recorded, or `timeout` passes.
    /// Returns whether it held. `done` is called under the lock, once at first
    /// and again after every recorded request, never in a busy loop.
    pub fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&Snapshot) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.shared.lock();
        loop {
            if done(&guard) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self
                .shared
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Like [`Receiver::wait_for`], but panics with `what` and a summary of what
    /// did arrive when `done` does not hold in time; returns the snapshot that satisfied it.
    ///
    /// # Panics
    /// When the timeout passes first.
    #[track_caller]
    pub fn expect(
        &self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&Snapshot) -> bool,
    ) -> Snapshot {
        let mut found = None;
        let ok = self.wait_for(timeout, |s| {
            let ok = done(s);
            if ok {
                found = Some(s.clone());
            }
            ok
        });
        match found {
            Some(snapshot) if ok => snapshot,
            _ => panic!(
                "timed out after {timeout:?} waiting for {what}; received: {}",
                self.snapshot()
            ),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(port: u16) -> io::Result<TcpListener> {
    // std sets SO_REUSEADDR on Unix, so a port left in TIME_WAIT by `stop` can be bound again.
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
