//! The traces queue: spans from the engine and from the SDK, to one
//! exporter.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

use super::batch_end::BatchEnd;
use super::queue::BatchQueue;
use super::runtime::Executor;
use crate::config::{BatchConfig, Signal};
use crate::otlp::encode::Encoder;
use crate::otlp::send::{BufferPool, Transport};
use crate::record::{Item, clock, stage_scope};

/// Feeds ended, sampled spans into a [`BatchQueue`] of [`Item`]s, which
/// its worker turns into `SpanData` for an SDK exporter, or encodes itself
/// as OTLP.
#[derive(Debug)]
pub(crate) struct SpanQueueProcessor(pub(crate) Arc<BatchQueue<Item>>);

impl SpanQueueProcessor {
    /// A queue whose worker hands each batch to an SDK `exporter`.
    pub(crate) fn start<E: SpanExporter + 'static>(
        mut exporter: E,
        resource: &Resource,
        destination: String,
        config: BatchConfig,
        executor: Executor,
    ) -> std::io::Result<Self> {
        exporter.set_resource(resource);
        let exporter = Arc::new(exporter);
        let finisher = Arc::clone(&exporter);
        let timeout = config.export_timeout;
        let stage_scope = stage_scope();
        let queue = BatchQueue::start(
            Signal::Traces,
            destination,
            config,
            move |batch: Vec<Item>| {
                let wall = clock::UnixNanos::current();
                let mut spans = Vec::with_capacity(batch.len());
                spans.extend(
                    batch
                        .into_iter()
                        .map(|item| item.into_span_data(&stage_scope, &wall)),
                );
                let batch = spans;
                executor.run(timeout, exporter.export(batch))
            },
            move || {
                let _ = finisher.shutdown_with_timeout(timeout);
            },
        )?;
        Ok(Self(queue))
    }

    /// A queue whose worker encodes each batch itself and hands the request
    /// to `runtime` to send with `transport`, going on to the next batch
    /// while up to [`SENDS_IN_FLIGHT`] are on their way: stage spans never
    /// become `SpanData`, and no thread waits on a send.
    pub(crate) fn start_direct(
        transport: Transport,
        encoder: Encoder,
        destination: String,
        config: BatchConfig,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<Self> {
        let timeout = config.export_timeout;
        // The requests on their way and the one being encoded.
        let buffers = BufferPool::new(SENDS_IN_FLIGHT + 1);
        let queue = BatchQueue::start_concurrent(
            Signal::Traces,
            destination,
            config,
            1,
            SENDS_IN_FLIGHT,
            move |batch: Vec<Item>, end: BatchEnd| {
                let mut buf = buffers.take();
                encoder.request_into(&batch, &mut buf.buf);
                let body = match transport.prepare(buf) {
                    Ok(body) => body,
                    Err(e) => return end.end(Err(e)),
                };
                drop(batch);
                if let Transport::Discard { .. } = transport {
                    // Dropped where the send would begin: the export
                    // runtime, the transport and the receiver are left out.
                    drop(std::hint::black_box(body));
                    return end.end(Ok(()));
                }
                let transport = transport.clone();
                runtime.spawn(async move {
                    let result = match tokio::time::timeout(timeout, transport.send(body)).await {
                        Ok(result) => result,
                        Err(_) => Err(format!("export timed out after {timeout:?}")),
                    };
                    end.end(result);
                });
            },
            || {},
        )?;
        // Encoding and spawning the send: any thread may do it.
        queue.non_blocking.store(true, Ordering::Relaxed);
        Ok(Self(queue))
    }
}

/// Requests one OTLP destination has on their way at once: enough to keep
/// the connection busy while the worker encodes the next batch.
const SENDS_IN_FLIGHT: usize = 4;

impl SpanProcessor for SpanQueueProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, mut span: SpanData) {
        if span.span_context.is_sampled() {
            // tracing-opentelemetry adds `code.module.name`, which is not a
            // semantic-convention attribute (the module is part of
            // `code.function.name` where that is known).
            span.attributes
                .retain(|kv| kv.key.as_str() != "code.module.name");
            self.0.push(Item::from(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.flush(self.0.config.export_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_within(timeout)
    }
}
