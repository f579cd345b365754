//! The collector: rings that grow, panics it survives, delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::collector::*;
use super::local;
use crate::config::{BatchConfig, SamplerConfig, Signal};
use crate::export::BatchQueue;
use crate::export::tests::Calls;
use crate::record::{Item, SpanRecord, SpanSite, clock, stage_scope};

fn engine_with_one_queue() -> Arc<Engine> {
    engine_counting_exports(Arc::default())
}

/// An engine with rings of 64 records (growing to 1,024) and one
/// traces queue whose exporter adds the spans it gets to `exported`.
fn engine_counting_exports(exported: Arc<AtomicUsize>) -> Arc<Engine> {
    let config = BatchConfig {
        schedule_delay: Duration::from_secs(3600),
        export_timeout: Duration::from_secs(5),
        max_queue_size: 64,
        max_export_batch_size: 16,
    };
    let export = move |batch: Vec<Item>| {
        exported.fetch_add(batch.len(), Ordering::Relaxed);
        Ok(())
    };
    let queue = BatchQueue::start(Signal::Traces, "test".into(), config, Calls(export)).unwrap();
    Engine::start(SamplerConfig::AlwaysOn, vec![queue], config).unwrap()
}

#[test]
fn ring_limits_grow_sixteen_times_up_to_2_mib_unless_configured_larger() {
    assert_eq!(ring_limit(2), 32);
    assert_eq!(ring_limit(64), 1024);
    assert_eq!(ring_limit(2048), GROWN_RING);
    assert_eq!(ring_limit(4096), GROWN_RING);
    assert_eq!(ring_limit(GROWN_RING * 2), GROWN_RING * 2);
    assert_eq!(ring_limit(usize::MAX / 2), usize::MAX / 2);
}

/// A ring whose memory cannot be had (a queue size set in code past what
/// the configuration accepts: more than the address space, or more than
/// `isize::MAX` bytes) leaves the thread's stage spans unrecorded, each
/// dropped and counted; nothing panics or aborts.
#[test]
fn a_ring_that_cannot_be_allocated_drops_and_counts_instead_of_aborting() {
    static SITE: SpanSite = SpanSite::new(None, "huge", None, None, &[]);
    clock::start();
    // 2^58 bytes of records, then a size past `isize::MAX` bytes.
    for records in [1 << 52, usize::MAX] {
        let config = BatchConfig {
            schedule_delay: Duration::from_secs(3600),
            export_timeout: Duration::from_secs(5),
            max_queue_size: records,
            max_export_batch_size: 16,
        };
        let queue = BatchQueue::start(
            Signal::Traces,
            "test".into(),
            config,
            Calls(|_batch: Vec<Item>| Ok(())),
        )
        .unwrap();
        let engine = Engine::start(SamplerConfig::AlwaysOn, vec![queue], config).unwrap();
        let id = engine.id;
        // A thread of its own: this one may hold a ring already.
        let rejected = std::thread::spawn(move || {
            (1..=3)
                .map(|i| {
                    let t = clock::now();
                    let record = SpanRecord::new(1, &SITE, i, 0, t, t, false, None);
                    u64::from(local::end(None, id, Some(record)))
                })
                .sum::<u64>()
        })
        .join()
        .expect("the stage calls panicked");
        assert_eq!(rejected, 3, "{records} records");
        assert_eq!(engine.dropped(), 3, "{records} records");
        assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
    }
}

/// A thread whose ring passes half full before the collector drains it
/// moves to a ring twice the size, up to the limit, and only then wakes
/// the collector and drops once that ring is full; every record pushed
/// into the rings it left behind is exported, and those rings are freed.
#[test]
fn a_busy_threads_ring_doubles_up_to_its_limit_and_loses_nothing_on_the_way() {
    static SITE: SpanSite = SpanSite::new(None, "busy", None, None, &[]);
    let exported = Arc::new(AtomicUsize::new(0));
    let engine = engine_counting_exports(Arc::clone(&exported));
    assert_eq!((engine.ring_capacity, engine.ring_limit), (64, 1024));
    clock::start();
    // Rings that fill past half before the collector drains: it waits
    // for this lock before it takes anything.
    let held = lock(&engine.delivery);
    const PUSHES: u64 = 3000;
    let mut capacities = Vec::new();
    let mut rejected = 0;
    for i in 1..=PUSHES {
        let t = clock::now();
        let record = SpanRecord::new(1, &SITE, i, 0, t, t, false, None);
        rejected += u64::from(local::end(None, engine.id, Some(record)));
        let capacity = local::with(|t| t.ring_capacity()).flatten().unwrap();
        if capacities.last() != Some(&capacity) {
            capacities.push(capacity);
        }
    }
    assert_eq!(capacities, [64, 128, 256, 512, 1024]);
    // Each smaller ring was left at the first fill check (every 64
    // records) that found it past half full; the last one fills.
    let held_in_rings: u64 = 64 + 128 + 192 + 320 + 1024;
    assert_eq!(rejected, PUSHES - held_in_rings);
    assert_eq!(engine.dropped(), rejected);
    assert_eq!(lock(&engine.rings).len(), 5);
    drop(held);
    assert!(engine.flush(Instant::now() + Duration::from_secs(20)));
    assert_eq!(exported.load(Ordering::Relaxed) as u64, held_in_rings);
    assert_eq!(
        lock(&engine.rings).len(),
        1,
        "the abandoned rings are freed once drained"
    );
    assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
}

/// A panic in the collector (a bug in semtel) does not end it: the
/// flush it interrupted is done by the next round; after
/// [`COLLECTOR_PANICS`] it stops, and the shutdown returns at once
/// instead of waiting out its deadline.
#[test]
fn the_collector_survives_panics_then_stops_without_stalling_shutdown() {
    let engine = engine_with_one_queue();
    lock(&FAULTS).in_collector.push(engine.id);
    assert!(engine.flush(Instant::now() + Duration::from_secs(20)));
    assert!(lock(&FAULTS).in_collector.is_empty(), "the panic happened");
    assert!(engine.flush(Instant::now() + Duration::from_secs(20)));

    lock(&FAULTS)
        .in_collector
        .extend([engine.id; COLLECTOR_PANICS as usize]);
    let started = Instant::now();
    assert!(
        !engine.flush(Instant::now() + Duration::from_secs(20)),
        "a flush the collector gave up on is not done"
    );
    assert!(!engine.flush(Instant::now() + Duration::from_secs(20)));
    assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "returned when the collector gave up, not at the deadline"
    );
    // It gave up after two of the three: its rounds were used up.
    assert_eq!(lock(&FAULTS).in_collector.len(), 1);
}

/// A panic between the rings and the queues drops that batch, counted,
/// and the caller's thread (a flush on it) does not see it.
#[test]
fn a_panic_in_delivery_drops_the_batch_counted() {
    let engine = engine_with_one_queue();
    lock(&FAULTS).in_delivery.push(engine.id);
    let batch = (0..5)
        .map(|_| {
            Item::from(SpanData {
                span_context: SpanContext::empty_context(),
                parent_span_id: SpanId::INVALID,
                parent_span_is_remote: false,
                span_kind: SpanKind::Internal,
                name: "x".into(),
                start_time: std::time::SystemTime::UNIX_EPOCH,
                end_time: std::time::SystemTime::UNIX_EPOCH,
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: stage_scope(),
            })
        })
        .collect();
    assert_eq!(engine.record_and_deliver(vec![batch], true, None), 5);
    assert_eq!(engine.dropped(), 5);
    assert!(engine.shutdown(Instant::now() + Duration::from_secs(20)));
}
