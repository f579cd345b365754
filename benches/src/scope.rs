//! A case set up ([`Scope`]): the loops that call its function, paced or
//! not, and the flush and shutdown that end it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use semtel::Signal;

use crate::peers::{self, DiscardSpans, RawSdk};
use crate::{Case, Paced, SemtelEnabled, poll_to_end};

#[derive(Debug)]
pub struct Scope {
    pub(crate) case: Case,
    pub(crate) state: State,
}

#[derive(Debug)]
pub(crate) enum State {
    Plain,
    Semtel,
    SemtelDisabled {
        _guard: Box<semtel::Guard>,
    },
    SemtelEnabled(&'static SemtelEnabled),
    Tracing {
        _guard: tracing::dispatcher::DefaultGuard,
    },
    TracingOtel {
        guard: tracing::dispatcher::DefaultGuard,
        tp: opentelemetry_sdk::trace::SdkTracerProvider,
        spans: DiscardSpans,
    },
    OtelSdk {
        sdk: RawSdk,
        tp: opentelemetry_sdk::trace::SdkTracerProvider,
        mp: opentelemetry_sdk::metrics::SdkMeterProvider,
        spans: DiscardSpans,
    },
    Fastrace(Arc<AtomicU64>),
    Autometrics,
}

/// What a case's pipeline delivered, after [`Scope::finish`].
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Spans that reached the exporter (or the receiver), when the case has
    /// spans.
    pub spans_exported: Option<u64>,
    /// Spans the pipeline says it lost (dropped when its queue was full,
    /// failed, unflushed), when it says.
    pub spans_dropped: Option<u64>,
}

impl Scope {
    /// The case.
    pub fn case(&self) -> Case {
        self.case
    }

    /// Calls the case's function `n` times; returns the sum of the results
    /// so the calls cannot be elided.
    #[inline(never)]
    pub fn run(&self, n: u64) -> u64 {
        let mut acc = 0u64;
        match &self.state {
            State::Plain => {
                for i in 0..n {
                    acc = acc.wrapping_add(peers::plain(i));
                }
            }
            State::Semtel | State::SemtelDisabled { .. } | State::SemtelEnabled(_) => {
                for i in 0..n {
                    acc = acc.wrapping_add(peers::load(i));
                }
            }
            State::Tracing { .. } | State::TracingOtel { .. } => {
                for i in 0..n {
                    acc = acc.wrapping_add(peers::tracing_load(i));
                }
            }
            State::OtelSdk { sdk, .. } => {
                for i in 0..n {
                    acc = acc.wrapping_add(sdk.call(i));
                }
            }
            State::Fastrace(_) => {
                for i in 0..n {
                    acc = acc.wrapping_add(peers::fastrace_call(i));
                }
            }
            State::Autometrics => {
                for i in 0..n {
                    acc = acc.wrapping_add(peers::autometrics_load(i));
                }
            }
        }
        acc
    }

    /// Calls the `async` twin of the case's function `n` times, polling each
    /// call's future `polls` times on this thread ([`poll_to_end`]); returns
    /// the sum of the results so the calls cannot be elided.
    #[inline(never)]
    pub fn run_polled(&self, n: u64, polls: u32) -> u64 {
        let mut acc = 0u64;
        match &self.state {
            State::Plain => {
                for i in 0..n {
                    acc = acc.wrapping_add(poll_to_end(peers::plain_async(i, polls)));
                }
            }
            State::Semtel | State::SemtelDisabled { .. } | State::SemtelEnabled(_) => {
                for i in 0..n {
                    acc = acc.wrapping_add(poll_to_end(peers::load_async(i, polls)));
                }
            }
            State::Tracing { .. } | State::TracingOtel { .. } => {
                for i in 0..n {
                    acc = acc.wrapping_add(poll_to_end(peers::tracing_load_async(i, polls)));
                }
            }
            State::OtelSdk { sdk, .. } => {
                for i in 0..n {
                    acc = acc.wrapping_add(poll_to_end(sdk.call_async(i, polls)));
                }
            }
            State::Fastrace(_) => {
                for i in 0..n {
                    acc = acc.wrapping_add(poll_to_end(peers::fastrace_call_async(i, polls)));
                }
            }
            State::Autometrics => {
                for i in 0..n {
                    acc = acc.wrapping_add(poll_to_end(peers::autometrics_load_async(i, polls)));
                }
            }
        }
        acc
    }

    /// Calls the case's function `n` times in chunks of `chunk` calls,
    /// exporting the case's pending spans after each chunk
    /// ([`Scope::flush_spans`]); returns the sum of the results and the wall
    /// time of the calls alone. Pacing keeps every case below its exporter's
    /// capacity, so its queues do not overflow and the calls measured are the
    /// ones that record, not the ones that drop.
    #[inline(never)]
    pub fn run_paced(&self, n: u64, chunk: u64) -> (u64, Duration) {
        let paced = self.run_paced_cpu(n, chunk);
        (paced.acc, paced.wall)
    }

    /// [`Scope::run_paced`] of [`peers::load_counted`], whatever the case:
    /// semtel's stage recording one more counter through its handle.
    #[inline(never)]
    pub fn run_counted_paced(&self, n: u64, chunk: u64) -> (u64, Duration) {
        self.run_fn_paced(n, chunk, peers::load_counted)
    }

    /// [`Scope::run_paced`] of [`peers::load_instrumented`], whatever the
    /// case: semtel's stage recording a typed instrument of a registry.
    #[inline(never)]
    pub fn run_instrumented_paced(&self, n: u64, chunk: u64) -> (u64, Duration) {
        self.run_fn_paced(n, chunk, peers::load_instrumented)
    }

    /// [`Scope::run_paced`] of [`peers::load`] inside a pipeline run
    /// (`semtel::Run`), whatever the case: each call's span carries the
    /// run's id and the run tallies the call.
    #[inline(never)]
    pub fn run_in_run_paced(&self, n: u64, chunk: u64) -> (u64, Duration) {
        let run = semtel::Run::start("bench", None);
        let _inside = run.enter();
        self.run_fn_paced(n, chunk, peers::load)
    }

    fn run_fn_paced(&self, n: u64, chunk: u64, f: fn(u64) -> u64) -> (u64, Duration) {
        let run = |k: u64| {
            let mut acc = 0u64;
            for i in 0..k {
                acc = acc.wrapping_add(f(i));
            }
            acc
        };
        let paced = self.paced(n, chunk, run, || self.flush_spans());
        (paced.acc, paced.wall)
    }

    /// [`Scope::run_paced`], also returning the calling thread's CPU time of
    /// the calls alone and each chunk's wall time.
    #[inline(never)]
    pub fn run_paced_cpu(&self, n: u64, chunk: u64) -> Paced {
        self.paced(n, chunk, |k| self.run(k), || self.flush_spans())
    }

    /// Calls the case's function `n` times in chunks of `chunk` calls with
    /// the calling thread busy for `gap` after each, as a pipeline thread
    /// doing other work between calls: nothing is flushed, so the case's
    /// background threads export while the calls run, as in a steady
    /// pipeline. Returns the sum of the results, the wall time and the
    /// calling thread's CPU time of the calls alone, each chunk's wall time,
    /// and the calling thread's CPU time in the gaps (to take off a process
    /// CPU reading).
    #[inline(never)]
    pub fn run_steady_cpu(&self, n: u64, chunk: u64, gap: Duration) -> (Paced, Duration) {
        let mut in_gaps = Duration::ZERO;
        let paced = self.paced(
            n,
            chunk,
            |k| self.run(k),
            || {
                let thread = cpu_time::ThreadTime::now();
                let started = std::time::Instant::now();
                while started.elapsed() < gap {
                    std::hint::spin_loop();
                }
                in_gaps += thread.elapsed();
            },
        );
        (paced, in_gaps)
    }

    /// [`Scope::run_paced`] of [`Scope::run_polled`]: `n` async calls whose
    /// futures are polled `polls` times each.
    #[inline(never)]
    pub fn run_polled_paced(&self, n: u64, chunk: u64, polls: u32) -> (u64, Duration) {
        let paced = self.paced(
            n,
            chunk,
            |k| self.run_polled(k, polls),
            || self.flush_spans(),
        );
        (paced.acc, paced.wall)
    }

    /// Runs `run(k)` for chunks of `k` calls adding up to `n`, and
    /// `between()` after each (exporting the pending spans, or keeping the
    /// thread busy).
    fn paced(
        &self,
        n: u64,
        chunk: u64,
        run: impl Fn(u64) -> u64,
        mut between: impl FnMut(),
    ) -> Paced {
        let chunk = chunk.max(1);
        let mut paced = Paced {
            acc: 0,
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            chunk_ns: Vec::with_capacity(usize::try_from(n / chunk + 1).unwrap_or(0)),
        };
        let mut left = n;
        while left > 0 {
            let k = left.min(chunk);
            let thread = cpu_time::ThreadTime::now();
            let started = std::time::Instant::now();
            paced.acc = paced.acc.wrapping_add(run(k));
            let wall = started.elapsed();
            paced.cpu += thread.elapsed();
            paced.wall += wall;
            #[allow(clippy::cast_precision_loss)] // a chunk's calls: far below 2^52
            paced.chunk_ns.push(wall.as_secs_f64() * 1e9 / k as f64);
            between();
            left -= k;
        }
        paced.chunk_ns.sort_by(f64::total_cmp);
        paced
    }

    /// Exports the spans pending, keeping the pipeline running.
    pub fn flush_spans(&self) {
        match &self.state {
            State::SemtelEnabled(s) => s.flush_spans(),
            State::TracingOtel { tp, .. } | State::OtelSdk { tp, .. } => {
                let _ = tp.force_flush();
            }
            State::Fastrace(_) => fastrace::flush(),
            _ => {}
        }
    }

    /// Exports what is pending, keeping the pipeline running.
    pub fn flush(&self) {
        match &self.state {
            State::SemtelEnabled(s) => s.flush(),
            State::TracingOtel { tp, .. } => {
                let _ = tp.force_flush();
            }
            State::OtelSdk { tp, mp, .. } => {
                let _ = tp.force_flush();
                let _ = mp.force_flush();
            }
            State::Fastrace(_) => fastrace::flush(),
            _ => {}
        }
    }

    /// Flushes and shuts the case's pipeline down. semtel's enabled pipeline
    /// is process-wide: it is shut down here too, so run it once per process.
    pub fn finish(self) -> Outcome {
        match self.state {
            State::SemtelEnabled(s) => {
                let report = s
                    .guard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .map(semtel::Guard::shutdown)
                    .unwrap_or_default();
                let traces = report.signal(Signal::Traces).next();
                Outcome {
                    spans_exported: traces.map(|t| t.exported),
                    spans_dropped: traces.map(semtel::SignalReport::lost),
                }
            }
            State::TracingOtel { guard, tp, spans } => {
                drop(guard);
                let _ = tp.shutdown();
                Outcome {
                    spans_exported: Some(spans.0.load(Ordering::Relaxed)),
                    ..Outcome::default()
                }
            }
            State::OtelSdk { sdk, tp, mp, spans } => {
                drop(sdk);
                let _ = tp.shutdown();
                let _ = mp.shutdown();
                Outcome {
                    spans_exported: Some(spans.0.load(Ordering::Relaxed)),
                    ..Outcome::default()
                }
            }
            State::Fastrace(count) => {
                fastrace::flush();
                Outcome {
                    spans_exported: Some(count.load(Ordering::Relaxed)),
                    ..Outcome::default()
                }
            }
            _ => Outcome::default(),
        }
    }
}
