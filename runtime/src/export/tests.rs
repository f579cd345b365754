//! The queue's batching, back-pressure, flushes and accounting, with
//! exporters the tests control.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::batch_end::BatchEnd;
use super::exporter::BatchExporter;
use super::handoff::{HELP_LIMIT, SLOW_HELPS};
use super::queue::{BatchQueue, QueueState};
use super::report::Reporter;
use super::runtime::{Executor, ExportRuntime};
use super::sync::lock;
use crate::config::{BatchConfig, Signal};

/// An exporter whose call is the whole export; `.0` says how it went.
pub(crate) struct Calls<F>(pub(crate) F);

impl<T, F> BatchExporter<T> for Calls<F>
where
    F: Fn(Vec<T>) -> Result<(), String> + Send + Sync + 'static,
{
    fn export(&self, batch: Vec<T>, end: BatchEnd) {
        end.end((self.0)(batch));
    }
}

/// An exporter that hands each batch and its end to `f` (which ends them
/// when it likes, as sends on the export runtime end), with up to
/// `in_flight` on their way.
struct Hands<F> {
    f: F,
    in_flight: usize,
}

impl<T, F> BatchExporter<T> for Hands<F>
where
    F: Fn(Vec<T>, BatchEnd) + Send + Sync + 'static,
{
    fn export(&self, batch: Vec<T>, end: BatchEnd) {
        (self.f)(batch, end);
    }

    fn in_flight(&self) -> Option<usize> {
        Some(self.in_flight)
    }
}

fn config(queue: usize, batch: usize) -> BatchConfig {
    BatchConfig {
        schedule_delay: Duration::from_secs(3600),
        export_timeout: Duration::from_secs(5),
        max_queue_size: queue,
        max_export_batch_size: batch,
    }
}

/// A queue whose exports each say they started, then block until
/// released: send one `()` on the first channel per export to end.
fn blocking_queue(
    config: BatchConfig,
    workers: usize,
) -> (Arc<BatchQueue<u32>>, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let q = BatchQueue::start_workers(
        Signal::Traces,
        "test".into(),
        config,
        workers,
        Calls(move |_batch: Vec<u32>| {
            let _ = lock(&started_tx).send(());
            let _ = lock(&release_rx).recv();
            Ok(())
        }),
    )
    .unwrap();
    (q, release_tx, started_rx)
}

#[test]
fn full_queue_drops_and_counts_instead_of_blocking() {
    // The exporter blocks until released, so the queue fills up.
    let (q, release_tx, started_rx) = blocking_queue(config(4, 2), 1);
    q.push(1);
    q.push(2); // a full batch: the worker takes it and blocks in export
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for i in 0..10 {
        q.push(i);
    }
    let report = q.report();
    // The batch being exported counts against the queue size too.
    assert_eq!(
        report.dropped, 8,
        "2 in flight, 2 queued, 8 dropped: {report:?}"
    );
    for _ in 0..10 {
        let _ = release_tx.send(());
    }
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    let report = q.report();
    assert_eq!(
        (report.exported, report.dropped, report.unflushed),
        (4, 8, 0)
    );
}

#[test]
fn a_producer_waiting_for_room_wakes_when_a_batch_in_flight_ends() {
    let (q, release_tx, started_rx) = blocking_queue(config(2, 2), 1);
    q.push_many(vec![vec![1, 2]], Instant::now(), true);
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // The queue is full with the batch in flight: this waits for room,
    // which only the end of that export makes.
    let (pushed_tx, pushed_rx) = mpsc::channel::<()>();
    let producer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            q.push_many(
                vec![vec![3]],
                Instant::now() + Duration::from_secs(600),
                true,
            );
            let _ = pushed_tx.send(());
        })
    };
    release_tx.send(()).unwrap();
    // Woken by the export's end, not by its 600 s give-up time.
    pushed_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the producer was not woken when the batch in flight ended");
    producer.join().unwrap();
    assert_eq!(q.report().dropped, 0, "{:?}", q.report());
    release_tx.send(()).unwrap();
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    assert_eq!(q.report().exported, 3);
}

/// Waits, boundedly, until `holds` is true of `q`'s state.
fn wait_for(q: &BatchQueue<u32>, what: &str, holds: impl Fn(&QueueState<u32>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holds(&lock(&q.state)) {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        thread::yield_now();
    }
}

/// A producer waiting for room is woken once half the queue is free
/// (or room for all it has left), not at every batch's end: each
/// wake-up is two context switches, and the worker has half a queue
/// to export meanwhile.
#[test]
fn a_waiting_producer_is_woken_once_half_the_queue_is_free() {
    let (q, release_tx, started_rx) = blocking_queue(config(8, 2), 1);
    q.push_many(vec![(0..8).collect()], Instant::now(), true);
    // One batch of 2 in flight and 6 queued: full.
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let producer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            q.push_many(
                vec![(8..20).collect()],
                Instant::now() + Duration::from_secs(600),
                true,
            );
        })
    };
    let next_export = || {
        release_tx.send(()).unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    };
    for round in 0..3 {
        wait_for(&q, "the producer to wait for 4 free", |s| {
            s.room_wanted == 4
        });
        next_export();
        assert_eq!(
            lock(&q.state).probe.producer_wake_ups,
            round,
            "2 free of 8: the producer sleeps on"
        );
        next_export();
        wait_for(&q, "the producer to fill the queue again", |s| {
            s.items.len() + s.in_flight == 8
        });
    }
    producer.join().unwrap();
    assert_eq!(
        lock(&q.state).probe.producer_wake_ups,
        3,
        "4 of 12 each time"
    );
    for _ in 0..4 {
        release_tx.send(()).unwrap();
    }
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    let report = q.report();
    assert_eq!((report.exported, report.dropped), (20, 0), "{report:?}");
}

#[test]
fn a_flush_waits_for_every_workers_batch() {
    let (q, release_tx, started_rx) = blocking_queue(config(8, 2), 2);
    for i in 0..4 {
        q.push(i);
    }
    // Both workers hold a batch.
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let flusher = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            let result = q.flush(Duration::from_secs(10));
            (result, q.report().exported)
        })
    };
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    let (result, exported) = flusher.join().unwrap();
    assert!(result.is_ok());
    assert_eq!(
        exported, 4,
        "flush returned before both batches were exported"
    );
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
}

#[test]
fn export_queued_exports_on_the_calling_thread() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let q = BatchQueue::start(
        Signal::Traces,
        "test".into(),
        config(8, 2),
        Calls(move |batch: Vec<u32>| {
            let _ = lock(&tx).send((batch, thread::current().id()));
            Ok(())
        }),
    )
    .unwrap();
    // Not waking the worker: the caller exports what it queued.
    q.push_many(vec![vec![1, 2, 3]], Instant::now(), false);
    q.export_queued();
    let me = thread::current().id();
    assert_eq!(rx.try_recv(), Ok((vec![1, 2], me)));
    assert_eq!(rx.try_recv(), Ok((vec![3], me)));
    let r = q.report();
    assert_eq!((r.exported, r.unflushed), (3, 0), "{r:?}");
    // Nothing queued or in flight: a flush has nothing to wait for.
    q.flush(Duration::ZERO).unwrap();
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
}

#[test]
fn export_queued_leaves_a_busy_exporter_alone() {
    // One batch at a time: while the worker's export runs, a thread that
    // helps must not call the exporter beside it.
    let (q, release_tx, started_rx) = blocking_queue(config(8, 2), 1);
    q.push_many(vec![vec![1, 2]], Instant::now(), true);
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    q.push_many(vec![vec![3, 4]], Instant::now(), false);
    let (done_tx, done_rx) = mpsc::channel();
    let helper = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            q.export_queued();
            let _ = done_tx.send(());
        })
    };
    // Had it called the exporter, it would block there until released.
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("export_queued called an exporter that was busy");
    helper.join().unwrap();
    assert!(started_rx.try_recv().is_err(), "a second export started");
    assert_eq!(q.report().unflushed, 4);
    // The worker takes the rest once its export ends.
    let flusher = {
        let q = Arc::clone(&q);
        thread::spawn(move || q.flush(Duration::from_secs(30)))
    };
    release_tx.send(()).unwrap();
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    release_tx.send(()).unwrap();
    flusher.join().unwrap().unwrap();
    assert_eq!(q.report().exported, 4);
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
}

#[test]
fn what_a_flush_finds_queued_after_its_sends_goes_out_without_waiting_for_the_delay() {
    // A flush is waiting for a send when a span below the batch size is
    // queued: the send's end wakes the worker for it (the schedule delay
    // is an hour here).
    // (Two slots: the worker does not wait for one, which would wake it.)
    let (q, rx) = concurrent_queue(config(8, 4), 2);
    q.push_many(vec![vec![1, 2, 3, 4]], Instant::now(), true);
    let wait = Duration::from_secs(30);
    let (first, end1) = rx.recv_timeout(wait).unwrap();
    assert_eq!(first, vec![1, 2, 3, 4]);
    let flusher = {
        let q = Arc::clone(&q);
        thread::spawn(move || q.flush(Duration::from_secs(60)))
    };
    // The flush is asked for before the span is queued.
    wait_for(&q, "the flush to be asked for", |s| s.flush_requested > 0);
    q.push(5);
    end1.end(Ok(()));
    let (second, end2) = rx
        .recv_timeout(wait)
        .expect("the worker was not woken for what the flush found queued");
    assert_eq!(second, vec![5]);
    end2.end(Ok(()));
    flusher.join().unwrap().unwrap();
    assert_eq!(q.report().exported, 5);
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + wait));
}

#[test]
fn a_slow_export_on_a_helping_thread_leaves_exports_to_the_worker() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let q = BatchQueue::start(
        Signal::Traces,
        "slow".into(),
        config(8, 1),
        Calls(move |batch: Vec<u32>| {
            // The first exports outlast the limit (spinning, not
            // sleeping: they only have to take longer).
            if batch[0] <= SLOW_HELPS {
                let start = Instant::now();
                while start.elapsed() <= HELP_LIMIT {
                    std::hint::spin_loop();
                }
            }
            let _ = lock(&tx).send((batch, thread::current().id()));
            Ok(())
        }),
    )
    .unwrap();
    let me = thread::current().id();
    for i in 1..=SLOW_HELPS {
        q.export_now(vec![vec![i]], Instant::now(), false);
        assert_eq!(rx.try_recv(), Ok((vec![i], me)));
    }
    // From now on the worker exports, woken for it.
    q.export_now(vec![vec![SLOW_HELPS + 1]], Instant::now(), false);
    let (batch, by) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(batch, vec![SLOW_HELPS + 1]);
    assert_ne!(by, me, "a helping thread exported after a slow export");
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
}

#[test]
fn a_panicking_exporter_fails_its_batch_and_the_helping_thread_goes_on() {
    let q = BatchQueue::start(
        Signal::Traces,
        "panics".into(),
        config(8, 2),
        Calls(|batch: Vec<u32>| {
            assert!(batch != [1, 2], "exporter bug");
            Ok(())
        }),
    )
    .unwrap();
    q.export_now(vec![vec![1, 2, 3]], Instant::now(), false);
    let r = q.report();
    assert_eq!((r.exported, r.failed, r.unflushed), (1, 2, 0), "{r:?}");
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
}

#[test]
fn flush_exports_a_partial_batch_before_the_schedule_delay() {
    let (tx, rx) = mpsc::channel::<usize>();
    let q = BatchQueue::start(
        Signal::Logs,
        "test".into(),
        config(100, 50),
        Calls(move |batch: Vec<u32>| {
            let _ = tx.send(batch.len());
            Ok(())
        }),
    )
    .unwrap();
    q.push(1);
    q.push(2);
    q.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn failed_exports_are_counted_with_the_error() {
    let q = BatchQueue::start(
        Signal::Metrics,
        "otlp grpc http://127.0.0.1:1".into(),
        config(10, 10),
        Calls(|_batch: Vec<u32>| Err("connection refused".to_owned())),
    )
    .unwrap();
    q.push(1);
    q.push(2);
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    let r = q.report();
    assert_eq!((r.exported, r.failed), (0, 2));
    assert_eq!(r.last_error.as_deref(), Some("connection refused"));
    let text = r.to_string();
    assert!(text.contains("2 lost"), "{text}");
    assert!(text.contains("otlp grpc http://127.0.0.1:1"), "{text}");
}

#[test]
fn shutdown_deadline_reports_unflushed_items() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let q = BatchQueue::start(
        Signal::Traces,
        "slow".into(),
        config(10, 2),
        Calls(move |_batch: Vec<u32>| {
            let _ = lock(&release_rx).recv();
            Ok(())
        }),
    )
    .unwrap();
    for i in 0..5 {
        q.push(i);
    }
    q.begin_shutdown();
    assert!(!q.wait(Instant::now() + Duration::from_millis(50)));
    assert_eq!(q.report().unflushed, 5);
    drop(release_tx); // lets the worker finish
}

type Handed = mpsc::Receiver<(Vec<u32>, BatchEnd)>;

/// A queue that hands each batch and its end to the test, which ends
/// them when it likes (as sends on the export runtime end).
fn concurrent_queue(config: BatchConfig, max_in_flight: usize) -> (Arc<BatchQueue<u32>>, Handed) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let q = BatchQueue::start_workers(
        Signal::Traces,
        "test".into(),
        config,
        1,
        Hands {
            f: move |batch: Vec<u32>, end: BatchEnd| {
                let _ = lock(&tx).send((batch, end));
            },
            in_flight: max_in_flight,
        },
    )
    .unwrap();
    (q, rx)
}

#[test]
fn what_export_now_leaves_queued_wakes_the_worker_when_asked() {
    // One slot: the first batch goes out on this thread and stays in
    // flight, the second is queued. Asked to wake it (the collector's
    // steady drains), the worker sends the second once the first ends,
    // with no flush and an hour's schedule delay.
    let (q, rx) = concurrent_queue(config(8, 2), 1);
    // Asleep (the wait releases the state's lock this sees it under),
    // so only a wake-up gets it to the queued batch.
    wait_for(&q, "the worker to sleep", |s| s.probe.idle_workers == 1);
    q.export_now(vec![vec![1, 2], vec![3, 4]], Instant::now(), true);
    let wait = Duration::from_secs(30);
    let (first, end1) = rx.try_recv().expect("exported on the calling thread");
    assert_eq!(first, vec![1, 2]);
    assert_eq!(q.report().unflushed, 4);
    end1.end(Ok(()));
    let (second, end2) = rx
        .recv_timeout(wait)
        .expect("the worker was not woken for the queued batch");
    assert_eq!(second, vec![3, 4]);
    end2.end(Ok(()));
    assert_eq!(q.report().exported, 4);
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + wait));
}

#[test]
fn concurrent_batches_stay_in_flight_until_they_end() {
    let (q, rx) = concurrent_queue(config(8, 2), 2);
    for i in 0..6 {
        q.push(i);
    }
    let wait = Duration::from_secs(10);
    let (first, end1) = rx.recv_timeout(wait).unwrap();
    let (second, end2) = rx.recv_timeout(wait).unwrap();
    assert_eq!((first, second), (vec![0, 1], vec![2, 3]));
    // Two in flight: the third waits for one of them to end.
    assert!(rx.try_recv().is_err(), "a third batch went out");
    assert_eq!(q.report().unflushed, 6);
    let flusher = {
        let q = Arc::clone(&q);
        thread::spawn(move || q.flush(Duration::from_secs(10)))
    };
    end1.end(Ok(()));
    let (third, end3) = rx.recv_timeout(wait).unwrap();
    assert_eq!(third, vec![4, 5]);
    end3.end(Ok(()));
    // The flush is not done while the second batch is on its way.
    assert!(
        !flusher.is_finished(),
        "the flush returned with a batch on its way"
    );
    end2.end(Err("refused".to_owned()));
    flusher.join().unwrap().unwrap();
    let r = q.report();
    assert_eq!((r.exported, r.failed, r.unflushed), (4, 2, 0), "{r:?}");
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + wait));
}

#[test]
fn a_batch_whose_end_is_dropped_counts_as_failed() {
    let (q, rx) = concurrent_queue(config(8, 2), 4);
    q.push(1);
    q.push(2);
    let (_batch, end) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // As when the runtime drops a send's task before it ends.
    drop(end);
    q.begin_shutdown();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    let r = q.report();
    assert_eq!((r.exported, r.failed, r.unflushed), (0, 2, 0), "{r:?}");
    assert_eq!(r.last_error.as_deref(), Some("the export was abandoned"));
}

/// Runs `body` on its own thread and fails if it has not returned within
/// `bound`: a test of a hang fails instead of hanging.
fn bounded(bound: Duration, what: &str, body: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(bound) {
        Ok(()) => runner.join().unwrap(),
        // The body panicked: its panic is the failure.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} hung for {bound:?}"),
    }
}

/// A schedule delay of zero exports each item as soon as it is queued, and
/// the worker sleeps in between: it neither spins nor holds the queue's
/// lock, so producers, a flush and the shutdown go on.
#[test]
fn a_zero_schedule_delay_exports_at_once_and_the_worker_sleeps_between() {
    bounded(Duration::from_secs(60), "a queue with no delay", || {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let mut config = config(8, 4);
        config.schedule_delay = Duration::ZERO;
        let q = BatchQueue::start(
            Signal::Logs,
            "test".into(),
            config,
            Calls(move |batch: Vec<u32>| {
                let _ = lock(&tx).send(batch);
                Ok(())
            }),
        )
        .unwrap();
        let wait = Duration::from_secs(30);
        for i in 0..5 {
            q.push(i);
            // Below the batch size, with no flush: exported at once.
            assert_eq!(rx.recv_timeout(wait), Ok(vec![i]));
            wait_for(&q, "the worker to sleep", |s| {
                s.probe.idle_workers == 1 && s.in_flight == 0
            });
        }
        // A few rounds of the worker's loop per item, not a spin.
        let rounds = lock(&q.state).probe.worker_rounds;
        assert!(rounds <= 5 * 4, "{rounds} rounds of the worker for 5 items");
        q.flush(wait).unwrap();
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + wait));
        assert_eq!(q.report().exported, 5);
    });
}

/// With no delay and one batch in flight at a time, what is queued
/// meanwhile goes out when that batch ends, though the worker was asleep
/// with nothing queued and no one woke it for the items.
#[test]
fn a_zero_schedule_delay_sends_what_waited_for_a_slot_when_it_frees() {
    bounded(Duration::from_secs(60), "a queue with no delay", || {
        let mut config = config(8, 2);
        config.schedule_delay = Duration::ZERO;
        let (q, rx) = concurrent_queue(config, 1);
        wait_for(&q, "the worker to sleep", |s| s.probe.idle_workers == 1);
        // Exported here, and in flight; the next is queued without waking
        // the worker, as the span collector queues on a flush.
        q.export_now(vec![vec![1, 2]], Instant::now(), false);
        let wait = Duration::from_secs(30);
        let (first, end1) = rx.try_recv().expect("exported on this thread");
        assert_eq!(first, vec![1, 2]);
        q.push_many(vec![vec![3]], Instant::now(), false);
        end1.end(Ok(()));
        let (second, end2) = rx
            .recv_timeout(wait)
            .expect("the queued item waited for the schedule delay");
        assert_eq!(second, vec![3]);
        end2.end(Ok(()));
        q.begin_shutdown();
        assert!(q.wait(Instant::now() + wait));
        assert_eq!(q.report().exported, 3);
    });
}

#[test]
fn executor_times_out_a_hanging_export() {
    let rt = ExportRuntime::start().unwrap();
    let ex = Executor::Tokio(rt.handle());
    let err = ex
        .run(Duration::from_millis(20), std::future::pending())
        .unwrap_err();
    assert!(err.contains("timed out"), "{err}");
}

/// Items a producer holds while it waits for room are in every report
/// made meanwhile (unsent), and once it gives up they are dropped and
/// counted under the same lock: a report never misses them, whenever it
/// is read (a report read just as the producer's wait ended lost them all).
#[test]
fn items_a_producer_holds_while_waiting_are_reported_unsent_then_dropped() {
    let (q, release_tx, started_rx) = blocking_queue(config(2, 2), 1);
    q.push_many(vec![vec![1, 2]], Instant::now(), true);
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let (give_up_tx, give_up_rx) = mpsc::channel::<()>();
    let producer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            q.push_many(
                vec![vec![3, 4, 5]],
                Instant::now() + Duration::from_secs(600),
                true,
            );
            let _ = give_up_tx.send(());
        })
    };
    wait_for(&q, "the producer waiting for room", |s| s.held == 3);
    let report = q.report();
    assert_eq!(
        (report.exported, report.dropped, report.unflushed),
        (0, 0, 2 + 3),
        "2 in flight, 3 held: {report:?}"
    );
    // Shutdown ends the wait: what is held is dropped and counted.
    q.begin_shutdown();
    give_up_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    producer.join().unwrap();
    let report = q.report();
    assert_eq!((report.dropped, report.unflushed), (3, 2), "{report:?}");
    release_tx.send(()).unwrap();
    assert!(q.wait(Instant::now() + Duration::from_secs(10)));
    let report = q.report();
    assert_eq!(
        report.exported + report.lost(),
        5,
        "every item counted once: {report:?}"
    );
}
