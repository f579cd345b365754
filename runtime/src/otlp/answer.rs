//! What a collector answers, read as the OTLP specification asks: the
//! delay it asks for (`Retry-After`, gRPC `RetryInfo`) and the items a
//! partial success rejected.

use std::time::{Duration, SystemTime};

use prost::Message as _;

/// A request the collector took: the items it says it rejected (partial
/// success), and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) rejected: u64,
    pub(crate) message: Option<String>,
}

/// A `Retry-After` value: seconds, or an HTTP-date (RFC 9110).
pub(super) fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The rejected items of an `Export*ServiceResponse`, protobuf or JSON
/// (where the count's name is the signal's); an answer that cannot be read
/// counts as full success, as the collector said 2xx.
pub(super) fn partial_success(body: &[u8], json: bool) -> Accepted {
    let partial = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let p = v.get("partialSuccess")?;
                let count = ["rejectedSpans", "rejectedDataPoints", "rejectedLogRecords"]
                    .iter()
                    .find_map(|k| p.get(k));
                let rejected = match count {
                    Some(serde_json::Value::String(s)) => s.parse().ok()?,
                    Some(n) => n.as_i64()?,
                    None => 0,
                };
                let message = p.get("errorMessage").and_then(|m| m.as_str());
                Some((rejected, message.unwrap_or_default().to_owned()))
            })
    } else {
        wire::Response::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected, p.error_message))
    };
    match partial {
        Some((rejected, message)) if rejected > 0 || !message.is_empty() => Accepted {
            rejected: u64::try_from(rejected).unwrap_or(0),
            message: (!message.is_empty()).then_some(message),
        },
        _ => Accepted::default(),
    }
}

/// The delay of a `google.rpc.RetryInfo` among a gRPC status's details
/// (`grpc-status-details-bin`, a `google.rpc.Status`).
pub(super) fn retry_info(details: &[u8]) -> Option<Duration> {
    const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
    let status = wire::RpcStatus::decode(details).ok()?;
    let info = status.details.iter().find(|d| d.type_url == RETRY_INFO)?;
    let delay = wire::RetryInfo::decode(&info.value[..]).ok()?.retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).unwrap_or(0);
    Some(Duration::new(seconds, nanos.min(999_999_999)))
}

/// The few messages read from a collector's answers.
pub(super) mod wire {
    /// `Export{Trace,Logs,Metrics}ServiceResponse`: their partial success
    /// is field 1, its rejected count field 1 and message field 2.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Response {
        #[prost(message, optional, tag = "1")]
        pub(crate) partial_success: Option<PartialSuccess>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct PartialSuccess {
        #[prost(int64, tag = "1")]
        pub(crate) rejected: i64,
        #[prost(string, tag = "2")]
        pub(crate) error_message: String,
    }

    /// `google.rpc.Status`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct RpcStatus {
        #[prost(int32, tag = "1")]
        pub(crate) code: i32,
        #[prost(string, tag = "2")]
        pub(crate) message: String,
        #[prost(message, repeated, tag = "3")]
        pub(crate) details: Vec<Any>,
    }

    /// `google.protobuf.Any`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Any {
        #[prost(string, tag = "1")]
        pub(crate) type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub(crate) value: Vec<u8>,
    }

    /// `google.rpc.RetryInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        pub(crate) retry_delay: Option<Duration>,
    }

    /// `google.protobuf.Duration`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Duration {
        #[prost(int64, tag = "1")]
        pub(crate) seconds: i64,
        #[prost(int32, tag = "2")]
        pub(crate) nanos: i32,
    }
}
