//! How the receiver misbehaves on request, as collectors do when they start,
//! are overloaded or are given too much: a status answered a number of
//! times (with `Retry-After` or gRPC `RetryInfo`), partial success, a
//! message size limit, and a blackhole that accepts and never answers.

use std::time::{Duration, SystemTime};

use prost::Message as _;

/// An answer that refuses an export, in HTTP and gRPC terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (e.g. 503).
    pub http_status: u16,
    /// The gRPC status code, as `tonic::Code` numbers it (e.g. 14, UNAVAILABLE).
    pub grpc_code: i32,
    /// The delay the server asks for: a `Retry-After` header (HTTP) or a
    /// `google.rpc.RetryInfo` detail (gRPC).
    pub retry_after: Option<RetryAfter>,
}

/// How a server says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>` (gRPC: a `RetryInfo` of this many seconds).
    Seconds(u64),
    /// `Retry-After: <HTTP-date>`, this far from the moment of the answer
    /// (gRPC: a `RetryInfo` of the same delay).
    Date(Duration),
}

impl Refusal {
    /// 503 / UNAVAILABLE, without a delay: retryable.
    #[must_use]
    pub fn unavailable() -> Self {
        Self {
            http_status: 503,
            grpc_code: tonic::Code::Unavailable as i32,
            retry_after: None,
        }
    }

    /// 429 / RESOURCE_EXHAUSTED: retryable over gRPC only with a delay
    /// ([`Refusal::retry_after`]).
    #[must_use]
    pub fn throttled() -> Self {
        Self {
            http_status: 429,
            grpc_code: tonic::Code::ResourceExhausted as i32,
            retry_after: None,
        }
    }

    /// 400 / INVALID_ARGUMENT: permanent, never retried.
    #[must_use]
    pub fn bad_request() -> Self {
        Self {
            http_status: 400,
            grpc_code: tonic::Code::InvalidArgument as i32,
            retry_after: None,
        }
    }

    /// The same answer, asking the client to wait `after`.
    #[must_use]
    pub fn retry_after(mut self, after: RetryAfter) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The `Retry-After` header value, if any.
    pub(crate) fn retry_after_header(&self) -> Option<String> {
        Some(match self.retry_after? {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::Date(d) => httpdate::fmt_http_date(SystemTime::now() + d),
        })
    }

    /// The gRPC status: with a `RetryInfo` detail when a delay is asked for.
    pub(crate) fn grpc_status(&self) -> tonic::Status {
        let code = tonic::Code::from_i32(self.grpc_code);
        let message = format!("refused by the test receiver ({code:?})");
        let Some(after) = self.retry_after else {
            return tonic::Status::new(code, message);
        };
        let delay = match after {
            RetryAfter::Seconds(s) => Duration::from_secs(s),
            RetryAfter::Date(d) => d,
        };
        let retry_info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        let status = RpcStatus {
            code: self.grpc_code,
            message: message.clone(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
                value: retry_info.encode_to_vec(),
            }],
        };
        tonic::Status::with_details(code, message, status.encode_to_vec().into())
    }
}

/// The faults set on a receiver ([`crate::Receiver::refuse`] and the rest).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Requests still to refuse, and how.
    pub(crate) refuse: Option<(usize, Refusal)>,
    /// Items each successful answer rejects (partial success), and the
    /// message it gives.
    pub(crate) partial: Option<(i64, String)>,
    /// Largest request accepted, uncompressed; larger ones are answered
    /// 413 / RESOURCE_EXHAUSTED (what a Go collector answers).
    pub(crate) max_message: Option<usize>,
    /// Whether requests are accepted and never answered.
    pub(crate) blackhole: bool,
}

impl Faults {
    /// The refusal for this request, if one is due.
    pub(crate) fn next_refusal(&mut self) -> Option<Refusal> {
        let (left, refusal) = self.refuse.as_mut()?;
        let answer = refusal.clone();
        *left -= 1;
        if *left == 0 {
            self.refuse = None;
        }
        Some(answer)
    }
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}
