//! Sends encoded OTLP trace and metrics requests over HTTP/protobuf (reqwest) or gRPC
//! (tonic), with the settings opentelemetry-otlp would use: headers or
//! metadata, gzip, the timeout, TLS; and retries of what a collector may
//! answer while starting or overloaded.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::Error;
use crate::config::{Compression, OtlpConfig, Protocol, Signal};

/// The gRPC method of the OTLP trace service.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The gRPC method of the OTLP metrics service.
const GRPC_EXPORT_METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// Attempts per request; retried only on answers that say "try again".
const ATTEMPTS: u32 = 4;
/// The first wait between attempts; it doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// One destination's transport.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    Http {
        client: reqwest::Client,
        /// Parsed once: reqwest would parse a string for every request.
        url: reqwest::Url,
        headers: http::HeaderMap,
        gzip: Option<Arc<Gzip>>,
    },
    Grpc {
        grpc: tonic::client::Grpc<tonic::transport::Channel>,
        metadata: tonic::metadata::MetadataMap,
        timeout: Duration,
        /// The service's export method (traces or metrics).
        method: &'static str,
    },
}

/// Whether a failed attempt may succeed if repeated.
enum Failure {
    Retry(String),
    Fatal(String),
}

impl Transport {
    /// The transport for `otlp`, or `None` for a protocol this path does not
    /// carry (HTTP/JSON goes through opentelemetry-otlp). Call inside the
    /// export runtime: tonic's channel spawns onto it.
    pub(crate) fn new(
        signal: Signal,
        otlp: &OtlpConfig,
        headers: http::HeaderMap,
    ) -> Result<Option<Self>, Error> {
        let gzip = otlp.compression == Compression::Gzip;
        let fail = |message: String| Error::Exporter { signal, message };
        Ok(Some(match otlp.protocol {
            Protocol::HttpJson => return Ok(None),
            Protocol::HttpProtobuf => {
                #[cfg(feature = "tls")]
                let client = super::tls::http_client(signal, otlp)?;
                #[cfg(not(feature = "tls"))]
                let client = reqwest::Client::builder()
                    .timeout(otlp.timeout)
                    .build()
                    .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))?;
                let url = reqwest::Url::parse(&otlp.endpoint)
                    .map_err(|e| fail(format!("invalid endpoint `{}`: {e}", otlp.endpoint)))?;
                Transport::Http {
                    client,
                    url,
                    headers,
                    gzip: Gzip::when(otlp.compression),
                }
            }
            Protocol::Grpc => {
                let mut endpoint = tonic::transport::Endpoint::from_shared(otlp.endpoint.clone())
                    .map_err(|e| fail(format!("invalid endpoint `{}`: {e}", otlp.endpoint)))?
                    .timeout(otlp.timeout);
                #[cfg(feature = "tls")]
                if let Some(tls) = super::tls::grpc_config(signal, otlp)? {
                    endpoint = endpoint
                        .tls_config(tls)
                        .map_err(|e| fail(format!("TLS settings: {e}")))?;
                }
                let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy());
                if gzip {
                    grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Transport::Grpc {
                    grpc,
                    metadata: tonic::metadata::MetadataMap::from_headers(headers),
                    timeout: otlp.timeout,
                    method: if signal == Signal::Metrics {
                        GRPC_EXPORT_METRICS
                    } else {
                        GRPC_EXPORT
                    },
                }
            }
        }))
    }

    /// An encoded request as [`Transport::send`] takes it ([`prepare`]);
    /// gzipped here for HTTP (tonic compresses gRPC).
    pub(crate) fn prepare(&self, body: Pooled) -> Result<bytes::Bytes, String> {
        match self {
            Transport::Http { gzip, .. } => prepare(gzip.as_deref(), body),
            Transport::Grpc { .. } => prepare(None, body),
        }
    }

    /// Sends one request body from [`Transport::prepare`], retrying
    /// transient failures.
    pub(crate) async fn send(&self, body: bytes::Bytes) -> Result<(), String> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = match self {
                Transport::Http {
                    client,
                    url,
                    headers,
                    gzip,
                } => http_once(client, url, headers, gzip.is_some(), body.clone()).await,
                Transport::Grpc {
                    grpc,
                    metadata,
                    timeout,
                    method,
                } => grpc_once(grpc.clone(), metadata, *timeout, method, body.clone()).await,
            };
            match result {
                Ok(()) => return Ok(()),
                Err(Failure::Retry(e)) if attempt < ATTEMPTS => {
                    let _ = e;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                Err(Failure::Retry(e) | Failure::Fatal(e)) => return Err(e),
            }
        }
    }
}

/// An encoded request as a send takes it: gzipped with `gzip` (on the
/// caller's thread, not the export runtime's), and shared, not copied, by
/// each attempt. The buffer goes back to its pool once the last attempt is
/// done with it; when compressed, at once, and the compressed body is in a
/// buffer of the same pool.
pub(crate) fn prepare(gzip: Option<&Gzip>, body: Pooled) -> Result<bytes::Bytes, String> {
    let Some(gzip) = gzip else {
        return Ok(bytes::Bytes::from_owner(body));
    };
    let mut compressed = body.pool.take();
    gzip.compress(&body.buf, &mut compressed.buf)?;
    drop(body);
    Ok(bytes::Bytes::from_owner(compressed))
}

/// Request buffers kept for the next requests. A fresh buffer of a request's
/// size (about 100 KB for 512 spans) is, with glibc, fresh pages from the
/// kernel each time (the heap is trimmed when it is freed): page faults
/// that cost more than encoding the spans did.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    /// Buffers kept at most (the requests that can be on their way, and
    /// the one being encoded).
    keep: usize,
}

/// A buffer taken from a [`BufferPool`], returned to it when dropped.
#[derive(Debug)]
pub(crate) struct Pooled {
    pub(crate) buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

/// A buffer that grew past this (a batch of spans with large attributes)
/// is freed rather than kept.
const KEEP_AT_MOST: usize = 4 << 20;

impl BufferPool {
    pub(crate) fn new(keep: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// A buffer from the pool, or a new one.
    pub(crate) fn take(self: &Arc<Self>) -> Pooled {
        let buf = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        Pooled {
            buf,
            pool: Arc::clone(self),
        }
    }
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.buf.capacity() > KEEP_AT_MOST {
            return;
        }
        let mut free = self
            .pool
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.pool.keep {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            free.push(buf);
        }
    }
}

/// gzip for request bodies, at the fastest level, with the deflate state
/// kept for the next request.
///
/// * The state is a few hundred KB. Made anew for each request, as
///   `GzEncoder` does, it was fresh pages from the kernel each time.
/// * Level 1, not the default 6: OTLP spans are mostly random ids and
///   repeated names, which level 1 compresses nearly as well. On a request
///   of 512 stage spans, 29 % of its size against 27 %, in a quarter of
///   the time.
#[derive(Debug, Default)]
pub(crate) struct Gzip {
    free: Mutex<Vec<flate2::Compress>>,
}

/// Deflate states kept: the requests being compressed at once (the queue's
/// worker, and the span collector or a flushing thread).
const GZIP_KEEP: usize = 2;

/// A gzip member header: deflate, no name or time, "fastest" (XFL 4), OS
/// unknown (RFC 1952).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];

impl Gzip {
    /// A compressor when `compression` asks for gzip.
    pub(crate) fn when(compression: Compression) -> Option<Arc<Self>> {
        (compression == Compression::Gzip).then(Arc::default)
    }

    /// Writes `input` gzipped into `out` (emptied first).
    pub(crate) fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        use flate2::{FlushCompress, Status};

        let mut deflate = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| flate2::Compress::new(flate2::Compression::fast(), false));
        out.clear();
        out.extend_from_slice(&GZIP_HEADER);
        // Room for a third of the input first (OTLP spans compress to
        // about that), then as much again each round: deflate never grows
        // its input by more than a few bytes per block, so a few rounds end
        // it.
        let mut result = Err("gzip: the compressed body did not fit".to_owned());
        for _ in 0..8 {
            out.reserve(input.len() / 3 + 64);
            let done =
                usize::try_from(deflate.total_in()).map_or(input.len(), |n| n.min(input.len()));
            match deflate.compress_vec(&input[done..], out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => {
                    result = Ok(());
                    break;
                }
                Ok(Status::Ok | Status::BufError) => {}
                Err(e) => {
                    result = Err(format!("gzip: {e}"));
                    break;
                }
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(input);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE: the input's length modulo 2^32.
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
        deflate.reset();
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < GZIP_KEEP {
            free.push(deflate);
        }
        result
    }
}

async fn http_once(
    client: &reqwest::Client,
    url: &reqwest::Url,
    headers: &http::HeaderMap,
    gzip: bool,
    body: bytes::Bytes,
) -> Result<(), Failure> {
    let mut request = client
        .post(url.clone())
        .headers(headers.clone())
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(body);
    if gzip {
        request = request.header(http::header::CONTENT_ENCODING, "gzip");
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            // Read the body so the connection can be reused.
            let _ = response.bytes().await;
            if status.is_success() {
                Ok(())
            } else if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
                Err(Failure::Retry(format!("HTTP {status} from {url}")))
            } else {
                Err(Failure::Fatal(format!("HTTP {status} from {url}")))
            }
        }
        Err(e) if e.is_connect() => Err(Failure::Retry(format!("{url}: {e}"))),
        Err(e) => Err(Failure::Fatal(format!("{url}: {e}"))),
    }
}

async fn grpc_once(
    mut grpc: tonic::client::Grpc<tonic::transport::Channel>,
    metadata: &tonic::metadata::MetadataMap,
    timeout: Duration,
    method: &'static str,
    body: bytes::Bytes,
) -> Result<(), Failure> {
    use tonic::Code;
    grpc.ready()
        .await
        .map_err(|e| Failure::Retry(format!("gRPC channel: {e}")))?;
    let mut request = tonic::Request::new(body);
    *request.metadata_mut() = metadata.clone();
    request.set_timeout(timeout);
    let path = http::uri::PathAndQuery::from_static(method);
    match grpc.unary(request, path, codec::Raw).await {
        Ok(_) => Ok(()),
        Err(status) => {
            let message = format!("gRPC {:?}: {}", status.code(), status.message());
            match status.code() {
                Code::Unavailable
                | Code::ResourceExhausted
                | Code::Aborted
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::OutOfRange
                | Code::DataLoss => Err(Failure::Retry(message)),
                _ => Err(Failure::Fatal(message)),
            }
        }
    }
}

/// A tonic codec that sends bytes already encoded and ignores the answer
/// (an `ExportTraceServiceResponse`; its partial-success counts are not
/// acted on, as opentelemetry-otlp does not act on them either).
mod codec {
    use bytes::{Buf as _, BufMut as _};
    use tonic::Status;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Debug, Clone, Copy, Default)]
    pub(super) struct Raw;

    impl Codec for Raw {
        type Encode = bytes::Bytes;
        type Decode = ();
        type Encoder = Raw;
        type Decoder = Raw;

        fn encoder(&mut self) -> Raw {
            Raw
        }

        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    impl Encoder for Raw {
        type Item = bytes::Bytes;
        type Error = Status;

        fn encode(&mut self, item: bytes::Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Raw {
        type Item = ();
        type Error = Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
            src.advance(src.remaining());
            Ok(Some(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_buffers_are_reused_up_to_the_pool_size() {
        let pool = BufferPool::new(1);
        let mut a = pool.take();
        a.buf.extend_from_slice(&[7; 1000]);
        let body = prepare(None, a).unwrap();
        assert_eq!(body.len(), 1000);
        // Still in use by the request body: a new buffer is handed out.
        let b = pool.take();
        assert_eq!(b.buf.capacity(), 0);
        drop(body);
        // Back in the pool, emptied, its capacity kept.
        let c = pool.take();
        assert!(c.buf.is_empty() && c.buf.capacity() >= 1000);
        // One kept at most: the second returned is freed.
        drop(c);
        drop(b);
        assert_eq!(pool.free.lock().unwrap().len(), 1);
    }

    /// gzip as a receiver reads it (the trailer's CRC and length checked),
    /// for inputs that compress well, not at all (random bytes need more
    /// room than first reserved), and not at all in size; a kept deflate
    /// state gives the same output again.
    #[test]
    fn gzip_bodies_decode_and_reused_state_starts_afresh() {
        use std::io::Read as _;

        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let repeated = b"pipeline.stage.name".repeat(5_000);
        let gzip = Gzip::default();
        for input in [&random[..], &repeated[..], &[][..], &random[..10]] {
            let mut first = Vec::new();
            gzip.compress(input, &mut first).unwrap();
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&first[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, input);
            let mut again = vec![1, 2, 3];
            gzip.compress(input, &mut again).unwrap();
            assert_eq!(again, first);
        }
        assert!(gzip.free.lock().unwrap().len() <= GZIP_KEEP);
    }

    #[test]
    fn a_compressed_request_returns_its_buffer_at_once() {
        let pool = BufferPool::new(2);
        let mut a = pool.take();
        a.buf.extend_from_slice(&[1; 4096]);
        let body = prepare(Gzip::when(Compression::Gzip).as_deref(), a).unwrap();
        assert!(body.len() < 4096, "gzip of repeated bytes is smaller");
        assert_eq!(pool.free.lock().unwrap().len(), 1);
    }
}
