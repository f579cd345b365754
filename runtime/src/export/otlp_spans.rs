//! semtel's own span exporter: each batch encoded as an OTLP request
//! straight from the records ([`crate::otlp::encode`]) and handed to the
//! export runtime to send ([`crate::otlp::send`]). Stage spans never become
//! `SpanData`, and no thread waits on a send.

use std::sync::Arc;
use std::time::Duration;

use super::batch_end::BatchEnd;
use super::exporter::BatchExporter;
use crate::otlp::encode::Encoder;
#[cfg(feature = "__bench")]
use crate::otlp::send::Gzip;
use crate::otlp::send::{BufferPool, Transport};
use crate::record::Item;

/// Requests one OTLP destination has on their way at once: enough to keep
/// the connection busy while the next batch is encoded.
const SENDS_IN_FLIGHT: usize = 4;

/// Encodes each batch and spawns its send on the export runtime, going on
/// to the next while up to [`SENDS_IN_FLIGHT`] are on their way.
#[derive(Debug)]
pub(crate) struct OtlpSpans {
    encoder: Encoder,
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
            encoder,
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
        self.encoder.request_into(&batch, &mut buf.buf);
        let body = match self.transport.prepare(buf) {
            Ok(body) => body,
            Err(e) => return end.end(Err(e)),
        };
        drop(batch);
        let transport = self.transport.clone();
        let timeout = self.timeout;
        self.runtime.spawn(async move {
            let result = match tokio::time::timeout(timeout, transport.send(body)).await {
                Ok(result) => result,
                Err(_) => Err(format!("export timed out after {timeout:?}")),
            };
            end.end(result);
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
        self.encoder.request_into(&batch, &mut buf.buf);
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
