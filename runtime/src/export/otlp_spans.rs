//! semtel's own span exporter: each batch encoded as an OTLP request
//! straight from the records ([`crate::otlp::encode`]) and handed to the
//! export runtime to send ([`crate::otlp::send`]). Stage spans never become
//! `SpanData`, and no thread waits on a send.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::batch_end::{BatchEnd, Outcome};
use super::exporter::BatchExporter;
use crate::otlp::encode::Encoder;
#[cfg(feature = "__bench")]
use crate::otlp::send::Gzip;
use crate::otlp::send::{BufferPool, Refused, Transport};
use crate::record::Item;

/// Requests one OTLP destination has on their way at once: enough to keep
/// the connection busy while the next batch is encoded.
const SENDS_IN_FLIGHT: usize = 4;

/// Encodes each batch and spawns its send on the export runtime, going on
/// to the next while up to [`SENDS_IN_FLIGHT`] are on their way.
#[derive(Debug)]
pub(crate) struct OtlpSpans {
    encoder: Arc<Encoder>,
    transport: Transport,
    /// The requests on their way and the one being encoded.
    buffers: Arc<BufferPool>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl OtlpSpans {
    pub(crate) fn new(
        encoder: Encoder,
        transport: Transport,
        runtime: tokio::runtime::Handle,
        timeout: Duration,
    ) -> Self {
        Self {
            encoder: Arc::new(encoder),
            transport,
            buffers: BufferPool::new(SENDS_IN_FLIGHT + 1),
            runtime,
            timeout,
        }
    }
}

impl BatchExporter<Item> for OtlpSpans {
    fn export(&self, batch: Vec<Item>, end: BatchEnd) {
        let mut buf = self.buffers.take();
        let limited = self.encoder.request_into(&batch, &mut buf.buf);
        let body = match self.transport.prepare(buf) {
            Ok(body) => body,
            Err(e) => return end.end(Err(e)),
        };
        let send = Sender {
            encoder: Arc::clone(&self.encoder),
            transport: self.transport.clone(),
            buffers: Arc::clone(&self.buffers),
        };
        let timeout = self.timeout;
        // Retries end at the OTLP timeout, as opentelemetry-otlp's do; the
        // processor's export timeout bounds the whole.
        let retries_for = timeout.min(self.transport.timeout());
        self.runtime.spawn(async move {
            let deadline = tokio::time::Instant::now() + retries_for;
            // Bounded again as a whole: a request that outlives its own
            // timeout (a TLS handshake that hangs) must still end.
            let mut outcome =
                match tokio::time::timeout(timeout, send.deliver(batch, body, deadline)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome {
                        failed: usize::MAX,
                        limited: 0,
                        error: Some(format!("export timed out after {timeout:?}")),
                    },
                };
            outcome.limited = limited;
            end.end_with(outcome);
        });
    }

    fn in_flight(&self) -> Option<usize> {
        Some(SENDS_IN_FLIGHT)
    }

    /// Encoding and spawning the send: any thread may do it.
    fn hands_off(&self) -> bool {
        true
    }
}

/// What a send on the export runtime needs to send a batch again in halves.
struct Sender {
    encoder: Arc<Encoder>,
    transport: Transport,
    buffers: Arc<BufferPool>,
}

impl Sender {
    /// Sends `body`, the request holding `batch`. A request the collector
    /// finds too large goes again as two, each half of the spans, down to
    /// single spans, which are dropped and counted if still too large: one
    /// oversized span must not cost the others.
    fn deliver(
        &self,
        mut batch: Vec<Item>,
        body: bytes::Bytes,
        deadline: tokio::time::Instant,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        Box::pin(async move {
            match self.transport.send(body, deadline).await {
                Ok(accepted) => Outcome {
                    failed: usize::try_from(accepted.rejected).unwrap_or(usize::MAX),
                    limited: 0,
                    error: accepted
                        .message
                        .or_else(|| {
                            (accepted.rejected > 0).then(|| "rejected by the collector".to_owned())
                        })
                        .map(|m| format!("partial success: {m}")),
                },
                Err(Refused::TooLarge(_)) if batch.len() > 1 => {
                    let second = batch.split_off(batch.len() / 2);
                    let mut total = Outcome::default();
                    for half in [batch, second] {
                        let n = half.len();
                        let mut buf = self.buffers.take();
                        // Its limits were counted with the whole batch.
                        let _ = self.encoder.request_into(&half, &mut buf.buf);
                        let outcome = match self.transport.prepare(buf) {
                            Ok(body) => self.deliver(half, body, deadline).await,
                            Err(e) => Outcome {
                                failed: n,
                                limited: 0,
                                error: Some(e),
                            },
                        };
                        total.failed += outcome.failed.min(n);
                        total.error = outcome.error.or(total.error);
                    }
                    total
                }
                Err(Refused::TooLarge(e)) => Outcome {
                    failed: batch.len(),
                    limited: 0,
                    error: Some(format!("{e}: a span alone is over the collector's limit")),
                },
                Err(Refused::Failed(e)) => Outcome {
                    failed: batch.len(),
                    limited: 0,
                    error: Some(e),
                },
            }
        })
    }
}

/// For benchmarks (the `__bench` feature): each batch is encoded as
/// [`OtlpSpans`] would send it (protobuf, gzip if configured) and dropped
/// where the send would begin, counted as exported. It measures semtel's
/// export path without the transport and the receiver, as the peers'
/// discarding exporters do theirs.
#[cfg(feature = "__bench")]
#[derive(Debug)]
pub(crate) struct DiscardEncoded {
    encoder: Encoder,
    gzip: Option<Arc<Gzip>>,
    buffers: Arc<BufferPool>,
}

#[cfg(feature = "__bench")]
impl DiscardEncoded {
    pub(crate) fn new(encoder: Encoder, gzip: Option<Arc<Gzip>>) -> Self {
        Self {
            encoder,
            gzip,
            buffers: BufferPool::new(SENDS_IN_FLIGHT + 1),
        }
    }
}

#[cfg(feature = "__bench")]
impl BatchExporter<Item> for DiscardEncoded {
    fn export(&self, batch: Vec<Item>, end: BatchEnd) {
        let mut buf = self.buffers.take();
        let _ = self.encoder.request_into(&batch, &mut buf.buf);
        let body = crate::otlp::send::prepare(self.gzip.as_deref(), buf);
        drop(batch);
        end.end(body.map(|body| drop(std::hint::black_box(body))));
    }

    fn in_flight(&self) -> Option<usize> {
        Some(SENDS_IN_FLIGHT)
    }

    fn hands_off(&self) -> bool {
        true
    }
}
