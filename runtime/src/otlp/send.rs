//! Sends encoded OTLP trace and metrics requests over HTTP (protobuf or JSON, reqwest)
//! or gRPC (tonic), with the settings opentelemetry-otlp would use: headers
//! or metadata, gzip, the timeout, TLS; and the OTLP specification's
//! retries: what a collector may answer while starting or overloaded is
//! tried again with exponential backoff and jitter, after the delay the
//! collector asks for (`Retry-After`, gRPC `RetryInfo`) when it fits in the
//! export timeout; a permanent refusal never is. A partial success's
//! rejected spans are told to the caller, and so is "message too large",
//! which the caller answers by sending the batch in halves.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use prost::Message as _;
use tokio::time::Instant;

pub(crate) use super::answer::Accepted;
use super::answer::{partial_success, retry_after, retry_info};
use crate::Error;
use crate::config::{Compression, OtlpConfig, Protocol, Signal};

/// The gRPC method of the OTLP trace service.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The gRPC method of the OTLP metrics service.
const GRPC_EXPORT_METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// Attempts per request at most, within the export timeout.
const ATTEMPTS: u32 = 5;
/// The first wait between attempts; it doubles, up to [`MAX_BACKOFF`], and
/// each wait is drawn between half and all of it (jitter).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One destination's transport, and its timeout
/// (`OTEL_EXPORTER_OTLP_TIMEOUT`), the time a request and its retries may
/// take.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    wire: Wire,
    timeout: Duration,
}

#[derive(Debug, Clone)]
enum Wire {
    Http {
        client: reqwest::Client,
        /// Parsed once: reqwest would parse a string for every request.
        url: reqwest::Url,
        headers: http::HeaderMap,
        gzip: Option<Arc<Gzip>>,
        /// OTLP/JSON instead of protobuf.
        json: bool,
    },
    Grpc {
        grpc: tonic::client::Grpc<tonic::transport::Channel>,
        metadata: tonic::metadata::MetadataMap,
        /// The service's export method (traces or metrics).
        method: &'static str,
    },
}

/// Why a request did not arrive.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The collector says the message is too large (HTTP 413, gRPC
    /// RESOURCE_EXHAUSTED without retry information): a smaller one may go.
    TooLarge(String),
    /// Anything else, after the retries it deserved.
    Failed(String),
}

/// How one attempt ended, when it did not succeed.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// May succeed if repeated, after the server's delay if it gave one.
    Retry(String, Option<Duration>),
    TooLarge(String),
    Fatal(String),
}

impl Transport {
    /// The transport of `signal` for `otlp`. Call inside the export
    /// runtime: tonic's channel spawns onto it.
    pub(crate) fn new(
        signal: Signal,
        otlp: &OtlpConfig,
        headers: http::HeaderMap,
    ) -> Result<Self, Error> {
        let gzip = otlp.compression == Compression::Gzip;
        let fail = |message: String| Error::Exporter { signal, message };
        let wire = match otlp.protocol {
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                #[cfg(feature = "tls")]
                let client = super::tls::http_client(signal, otlp)?;
                #[cfg(not(feature = "tls"))]
                let client = reqwest::Client::builder()
                    .timeout(otlp.timeout)
                    .build()
                    .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))?;
                let url = reqwest::Url::parse(&otlp.endpoint)
                    .map_err(|e| fail(format!("invalid endpoint `{}`: {e}", otlp.endpoint)))?;
                Wire::Http {
                    client,
                    url,
                    headers,
                    gzip: Gzip::when(otlp.compression),
                    json: otlp.protocol == Protocol::HttpJson,
                }
            }
            Protocol::Grpc => {
                let endpoint = tonic::transport::Endpoint::from_shared(otlp.endpoint.clone())
                    .map_err(|e| fail(format!("invalid endpoint `{}`: {e}", otlp.endpoint)))?
                    .timeout(otlp.timeout);
                #[cfg(feature = "tls")]
                let endpoint = match super::tls::grpc_config(signal, otlp)? {
                    Some(tls) => endpoint
                        .tls_config(tls)
                        .map_err(|e| fail(format!("TLS settings: {e}")))?,
                    None => endpoint,
                };
                let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy());
                if gzip {
                    grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Wire::Grpc {
                    grpc,
                    metadata: tonic::metadata::MetadataMap::from_headers(headers),
                    method: if signal == Signal::Metrics {
                        GRPC_EXPORT_METRICS
                    } else {
                        GRPC_EXPORT
                    },
                }
            }
        };
        Ok(Self {
            wire,
            timeout: otlp.timeout,
        })
    }

    /// The time a request and its retries may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// An encoded request as [`Transport::send`] takes it ([`prepare`]);
    /// turned into OTLP/JSON and gzipped here for HTTP (tonic compresses
    /// gRPC).
    pub(crate) fn prepare(&self, body: Pooled) -> Result<bytes::Bytes, String> {
        match &self.wire {
            Wire::Http {
                gzip, json: true, ..
            } => {
                let json = to_json(&body.buf)?;
                let mut out = body;
                out.buf.clear();
                out.buf.extend_from_slice(&json);
                prepare(gzip.as_deref(), out)
            }
            Wire::Http { gzip, .. } => prepare(gzip.as_deref(), body),
            Wire::Grpc { .. } => prepare(None, body),
        }
    }

    /// Whether requests go as OTLP/JSON.
    pub(crate) fn json(&self) -> bool {
        matches!(self.wire, Wire::Http { json: true, .. })
    }

    /// A request already in the wire's encoding (protobuf, or OTLP/JSON
    /// when [`Transport::json`]), gzipped for HTTP when configured.
    pub(crate) fn prepare_encoded(&self, body: Pooled) -> Result<bytes::Bytes, String> {
        match &self.wire {
            Wire::Http { gzip, .. } => prepare(gzip.as_deref(), body),
            Wire::Grpc { .. } => prepare(None, body),
        }
    }

    /// Sends one request body from [`Transport::prepare`], retrying what
    /// the specification says may be retried, until `deadline`.
    pub(crate) async fn send(
        &self,
        body: bytes::Bytes,
        deadline: Instant,
    ) -> Result<Accepted, Refused> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Refused::Failed("the export timeout passed".to_owned()));
            }
            let result = match &self.wire {
                Wire::Http {
                    client,
                    url,
                    headers,
                    gzip,
                    json,
                } => {
                    let request = HttpRequest {
                        client,
                        url,
                        headers,
                        gzip: gzip.is_some(),
                        json: *json,
                    };
                    request.once(body.clone(), left).await
                }
                // The channel's own timeout is the whole OTLP timeout: a
                // retry gets only what is left of it.
                Wire::Grpc {
                    grpc,
                    metadata,
                    method,
                } => tokio::time::timeout(
                    left,
                    grpc_once(grpc.clone(), metadata, left, method, body.clone()),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(Attempt::Retry(
                        format!("gRPC: timed out after {left:?}"),
                        None,
                    ))
                }),
            };
            let (message, delay) = match result {
                Ok(accepted) => return Ok(accepted),
                Err(Attempt::TooLarge(e)) => return Err(Refused::TooLarge(e)),
                Err(Attempt::Fatal(e)) => return Err(Refused::Failed(e)),
                Err(Attempt::Retry(e, _)) if attempt >= ATTEMPTS => {
                    return Err(Refused::Failed(format!("{e} (after {attempt} attempts)")));
                }
                Err(Attempt::Retry(e, delay)) => (e, delay),
            };
            // The server's delay when it gave one (never shorter than the
            // backoff), else the backoff with jitter.
            let wait = match delay {
                Some(d) => d.max(backoff),
                None => jitter(backoff),
            };
            if Instant::now() + wait >= deadline {
                return Err(Refused::Failed(format!(
                    "{message} (the next attempt would be after the export timeout)"
                )));
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }
}

/// A wait between half of `backoff` and all of it, so that exporters
/// refused at once do not all come back at once.
fn jitter(backoff: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let half = backoff / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_nanos(hasher.finish() % nanos)
}

/// An `ExportTraceServiceRequest` in protobuf, as OTLP/JSON.
fn to_json(protobuf: &[u8]) -> Result<Vec<u8>, String> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let request = ExportTraceServiceRequest::decode(protobuf)
        .map_err(|e| format!("OTLP/JSON: re-reading the request: {e}"))?;
    serde_json::to_vec(&request).map_err(|e| format!("OTLP/JSON: {e}"))
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

/// One HTTP request's settings.
struct HttpRequest<'a> {
    client: &'a reqwest::Client,
    url: &'a reqwest::Url,
    headers: &'a http::HeaderMap,
    gzip: bool,
    json: bool,
}

impl HttpRequest<'_> {
    async fn once(&self, body: bytes::Bytes, timeout: Duration) -> Result<Accepted, Attempt> {
        let url = self.url;
        let content_type = if self.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let mut request = self
            .client
            .post(url.clone())
            .headers(self.headers.clone())
            .header(http::header::CONTENT_TYPE, content_type)
            .timeout(timeout)
            .body(body);
        if self.gzip {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let response = match request.send().await {
            Ok(response) => response,
            // Not reached, timed out, or cut off: the collector may be
            // starting or restarting.
            Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                return Err(Attempt::Retry(format!("{url}: {e}"), None));
            }
            Err(e) => return Err(Attempt::Fatal(format!("{url}: {e}"))),
        };
        let status = response.status();
        let delay = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        // Read the body so the connection can be reused.
        let answer = response.bytes().await.unwrap_or_default();
        let message = format!("HTTP {status} from {url}");
        match status.as_u16() {
            _ if status.is_success() => Ok(partial_success(&answer, self.json)),
            413 => Err(Attempt::TooLarge(message)),
            429 | 502 | 503 | 504 => Err(Attempt::Retry(message, delay)),
            _ => Err(Attempt::Fatal(message)),
        }
    }
}

async fn grpc_once(
    mut grpc: tonic::client::Grpc<tonic::transport::Channel>,
    metadata: &tonic::metadata::MetadataMap,
    timeout: Duration,
    method: &'static str,
    body: bytes::Bytes,
) -> Result<Accepted, Attempt> {
    use tonic::Code;
    grpc.ready()
        .await
        .map_err(|e| Attempt::Retry(format!("gRPC channel: {e}"), None))?;
    let mut request = tonic::Request::new(body);
    *request.metadata_mut() = metadata.clone();
    request.set_timeout(timeout);
    let path = http::uri::PathAndQuery::from_static(method);
    let status = match grpc.unary(request, path, codec::Raw).await {
        Ok(response) => return Ok(partial_success(&response.into_inner(), false)),
        Err(status) => status,
    };
    let message = format!("gRPC {:?}: {}", status.code(), status.message());
    let delay = retry_info(status.details());
    match status.code() {
        // Without a delay to wait, RESOURCE_EXHAUSTED says the message is
        // over the server's limit (grpc-go's answer), and so does tonic's
        // OUT_OF_RANGE "message length too large".
        Code::ResourceExhausted if delay.is_none() => Err(Attempt::TooLarge(message)),
        Code::OutOfRange if status.message().contains("message length too large") => {
            Err(Attempt::TooLarge(message))
        }
        // A transport error (the connection cut off mid-request), not an
        // answer from the server: a network error, retried like HTTP's.
        Code::Unknown if std::error::Error::source(&status).is_some() => {
            Err(Attempt::Retry(message, None))
        }
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::OutOfRange
        | Code::DataLoss => Err(Attempt::Retry(message, delay)),
        _ => Err(Attempt::Fatal(message)),
    }
}

/// A tonic codec that sends bytes already encoded and hands back the
/// answer's bytes (an `ExportTraceServiceResponse`, read for its partial
/// success).
mod codec {
    use bytes::Buf as _;
    use bytes::BufMut as _;
    use tonic::Status;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Debug, Clone, Copy, Default)]
    pub(super) struct Raw;

    impl Codec for Raw {
        type Encode = bytes::Bytes;
        type Decode = bytes::Bytes;
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
        type Item = bytes::Bytes;
        type Error = Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<bytes::Bytes>, Status> {
            Ok(Some(src.copy_to_bytes(src.remaining())))
        }
    }
}

#[cfg(test)]
mod tests;
