//! semtel's own span engine for `#[stage]` calls.
//!
//! On the calling thread a stage call touches one thread-local block
//! ([`local::Thread`]: the current-span stack, the id generator and the
//! thread's ring) once when it starts and once when it ends, reads the clock
//! twice (`rdtsc`, [`clock`](crate::record::clock)) and records its span into
//! a fixed-size [`SpanRecord`](crate::record::SpanRecord) (no allocation
//! unless it carries dynamic attributes, events, links or a trace state). The
//! record goes into a ring owned by the calling thread: a single-producer
//! single-consumer queue, so the push is a slot write and one release store.
//!
//! The collector thread drains every thread's ring in batches of the export
//! batch size, records the successful calls' durations into their sites'
//! bound histogram cells, and hands the batches to each traces exporter's
//! queue, which keeps them whole. Semtel's own OTLP encoder ([`crate::otlp`])
//! hands each batch off without blocking (encode, then spawn the send), so
//! the collector runs those exports itself rather than wake the queue's
//! worker, which takes over only while the sends in flight fill their slots.
//! For an SDK exporter (the console, OTLP/HTTP JSON,
//! [`crate::Builder::span_exporter`]) the worker turns each batch into the
//! SDK's `SpanData`. Batching, back-pressure and loss accounting are semtel's
//! export queues' ([`crate::export`]), and nothing of it runs on the calling
//! thread.
//!
//! A flush wakes the collector alone: it drains the rings, exports what it
//! moved on its own thread as the queues' workers would, and waits for what
//! is in flight, whose end wakes it. On a VM, waking a thread on another CPU
//! costs tens of microseconds of CPU, more than a thousand stage calls, so
//! every hop saved counts.
//!
//! A thread's ring starts at the configured queue size
//! (`OTEL_BSP_MAX_QUEUE_SIZE`). A ring that passes half full before the
//! collector's timed drain (a thread running more than ~10,000 stages a
//! second at the default size) is swapped for one twice the size, up to
//! [`RING_GROWTH`](collector::RING_GROWTH) times the first but not past
//! [`GROWN_RING`](collector::GROWN_RING) records (2 MiB) unless the queue
//! size is larger already; the collector drains the ring left behind and
//! frees it. Only at that limit does a filling ring wake the collector:
//! each wake-up costs the calling thread microseconds, and the calls made
//! while the collector drains run slower, so a busy thread pays that once
//! per 16,384 records instead of once per 1,024.
//!
//! A full ring drops the record and counts it; the count is reported with the
//! traces exporters' losses at shutdown. Memory is bounded: each thread's
//! ring holds at most the limit above.
//!
//! The engine `init()` installed is used directly; scoped sessions (tests,
//! [`crate::Builder::build`]) are found through the current `tracing`
//! dispatcher (see [`layer::SemtelLayer`]), so each routes its stages to its
//! own exporters.
//!
//! The per-call code is written for the CPU as much as for the reader: the
//! guard is made in place and filled through `&mut`, its state is plain
//! values, and records are built before an atomic that lets their stores
//! drain. Moving a freshly written struct makes the CPU reload it with
//! wider loads than it was stored with, and such store-forwarding stalls
//! would cost more than the rest of the call.

mod collector;
pub(crate) mod context;
pub(crate) mod current;
mod ids;
mod layer;
pub(crate) mod local;
mod log_bridge;
mod sampler;
mod span;
#[cfg(test)]
mod tests;
mod unsigned;

pub use collector::active;
pub(crate) use collector::{Engine, activate, deactivate};
pub use current::Instrumented;
pub(crate) use layer::SemtelLayer;
pub(crate) use log_bridge::BridgeProvider;
pub(crate) use span::{Begun, SpanRef};
