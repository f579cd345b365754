//! Stages called while their thread exits, from another thread-local's
//! destructor (a per-thread buffer that writes itself out at thread end),
//! after semtel's and OpenTelemetry's own thread-locals are gone: the calls
//! run and return their values, a failed one included (whose error event
//! the log bridge would read the gone context for), and their spans are
//! counted as dropped; never a panic, which would abort the process from a
//! thread-local destructor.
//! After `init`, so stages find the engine without the `tracing`
//! dispatcher: one test in this binary.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc;

use semtel::Signal;

#[semtel::stage(pipeline = "exit")]
fn write_out(rows: u64) -> u64 {
    tracing::info!(rows, "writing out");
    rows * 2
}

#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection is closed")
    }
}

#[semtel::stage(pipeline = "exit")]
fn commit() -> Result<(), Closed> {
    Err(Closed)
}

/// Writes its rows out when the thread's thread-locals are destroyed.
struct Buffer {
    rows: u64,
    done: mpsc::Sender<u64>,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let written = write_out(self.rows);
        let _ = self.done.send(written);
        let _ = self.done.send(u64::from(commit().is_err()));
    }
}

thread_local! {
    static BUFFER: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

#[test]
fn a_stage_in_a_thread_local_destructor_runs_and_its_span_is_counted() {
    let vars: HashMap<&str, &str> = [
        ("OTEL_SERVICE_NAME", "thread-exit"),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "console"),
    ]
    .into_iter()
    .collect();
    let guard = semtel::builder()
        .env(move |k| vars.get(k).map(|v| (*v).to_owned()))
        .console_writer(std::io::sink())
        .init()
        .expect("valid configuration");
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        // Registered first, so destroyed after the thread-locals that the
        // stage below makes semtel and OpenTelemetry register.
        BUFFER.with_borrow_mut(|b| *b = Some(Buffer { rows: 21, done: tx }));
        write_out(1)
    });
    assert_eq!(worker.join().expect("the thread ended without a panic"), 2);
    assert_eq!(rx.recv().expect("the destructor's stage returned"), 42);
    assert_eq!(rx.recv().expect("the failing stage returned"), 1);
    let report = guard.shutdown();
    let traces: Vec<_> = report.signal(Signal::Traces).collect();
    // The call inside the thread's life was exported; the two in the
    // destructor were counted, not lost silently.
    assert_eq!(traces.len(), 1, "{report}");
    assert_eq!((traces[0].exported, traces[0].lost()), (1, 2), "{report}");
}
